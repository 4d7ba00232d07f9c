//! The OTLP test receiver (`harness/otlp-receiver/receiver.py`) as a child process: an OTLP/HTTP
//! metrics endpoint on 127.0.0.1 that decodes with the OpenTelemetry project's own protobuf
//! definitions, verifies SigV4 with botocore's signer, records every data point, and can be
//! scripted into faults. It runs from the virtualenv with `requirements-cloudwatch.txt` (the
//! local CloudWatch's, [`local_cloudwatch::venv`]), which `make test` installs.
//!
//! Written apart from the extension's encoder and signer on purpose: two independent readings of
//! OTLP and SigV4 catch each other's mistakes.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

#[derive(Debug, thiserror::Error)]
pub enum ReceiverError {
    #[error(
        "{0} is missing: install it with `make cloudwatch-venv` (make test does), or set LAMBDA_LENS_CLOUDWATCH_VENV to a virtualenv with requirements-cloudwatch.txt"
    )]
    NotInstalled(PathBuf),
    #[error("the OTLP receiver: {0}")]
    Io(#[from] std::io::Error),
    #[error("the OTLP receiver answered {0:?}")]
    Protocol(String),
}

/// Credentials the receiver checks SigV4 against (service `monitoring`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sigv4 {
    pub region: String,
    pub access_key: String,
    pub secret_key: String,
    pub session_token: Option<String>,
}

impl Sigv4 {
    /// Test credentials, distinctive enough to look for in a log.
    pub fn test() -> Self {
        Self {
            region: "us-east-1".to_owned(),
            access_key: "AKIDLAMBDALENSOTLPTEST".to_owned(),
            secret_key: "lambda-lens/otlp-secret-key/EXAMPLEKEY".to_owned(),
            session_token: Some("lambda-lens-otlp-session-token-EXAMPLE".to_owned()),
        }
    }

    /// The variables Lambda gives a function for these credentials.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("AWS_REGION".to_owned(), self.region.clone()),
            ("AWS_ACCESS_KEY_ID".to_owned(), self.access_key.clone()),
            ("AWS_SECRET_ACCESS_KEY".to_owned(), self.secret_key.clone()),
        ];
        if let Some(token) = &self.session_token {
            env.push(("AWS_SESSION_TOKEN".to_owned(), token.clone()));
        }
        env
    }
}

/// How the receiver is started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReceiverOptions {
    /// Require and verify SigV4 with these credentials (403 otherwise).
    pub sigv4: Option<Sigv4>,
    /// Answer 401 unless each of these headers has this value.
    pub require_headers: Vec<(String, String)>,
}

/// What the next requests meet.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// 200, everything stored.
    Ok,
    /// This status (5xx, 429...), with `Retry-After` if given; nothing stored.
    Status {
        status: u16,
        retry_after: Option<String>,
        times: Option<u32>,
    },
    /// Stored at once, answered this much later.
    Slow(Duration),
    /// 200 with a partial success: the first `reject` points of each request refused.
    Partial {
        reject: u32,
        message: String,
        times: Option<u32>,
    },
    /// Stored at once, answered when [`OtlpReceiver::release`] is called.
    Hold,
    /// Nothing listens on the port (connections refused) until another fault is set.
    Down,
}

impl Fault {
    fn to_json(&self) -> Value {
        match self {
            Self::Ok => json!({"mode": "ok"}),
            Self::Status {
                status,
                retry_after,
                times,
            } => {
                let mut f = Map::new();
                f.insert("mode".to_owned(), json!("status"));
                f.insert("status".to_owned(), json!(status));
                f.insert("times".to_owned(), json!(times));
                if let Some(r) = retry_after {
                    f.insert("retry_after".to_owned(), json!(r));
                }
                Value::Object(f)
            }
            Self::Slow(d) => json!({"mode": "slow", "ms": d.as_millis() as u64}),
            Self::Partial {
                reject,
                message,
                times,
            } => json!({"mode": "partial", "reject": reject, "message": message, "times": times}),
            Self::Hold => json!({"mode": "hold"}),
            Self::Down => json!({"mode": "down"}),
        }
    }
}

/// The receiver's script, `harness/otlp-receiver/receiver.py`.
pub fn script() -> PathBuf {
    crate::built::workspace().join("harness/otlp-receiver/receiver.py")
}

/// A running receiver; stopped when dropped.
#[derive(Debug)]
pub struct OtlpReceiver {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    port: u16,
    records: PathBuf,
}

impl OtlpReceiver {
    /// Starts the receiver on a free port of 127.0.0.1.
    pub fn start(options: &ReceiverOptions) -> Result<Self, ReceiverError> {
        let python = local_cloudwatch::venv().join("bin/python");
        if !python.is_file() {
            return Err(ReceiverError::NotInstalled(python));
        }
        let records = std::env::temp_dir().join(format!(
            "lambda-lens-otlp-{}-{}.jsonl",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        ));
        let mut command = Command::new(&python);
        command.arg("-u").arg(script()).arg("--records").arg(&records);
        if let Some(s) = &options.sigv4 {
            command.args(["--sigv4", "--region", &s.region]).args([
                "--access-key",
                &s.access_key,
                "--secret-key",
                &s.secret_key,
            ]);
            if let Some(token) = &s.session_token {
                command.args(["--session-token", token]);
            }
        }
        for (name, value) in &options.require_headers {
            command.args(["--require-header", name, value]);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdin = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| ReceiverError::Protocol("no stdout".to_owned()))?;
        let mut receiver = Self {
            child,
            stdin,
            stdout: BufReader::new(stdout),
            port: 0,
            records,
        };
        let first = receiver.read_line()?;
        receiver.port = first
            .get("port")
            .and_then(Value::as_u64)
            .and_then(|p| u16::try_from(p).ok())
            .ok_or_else(|| ReceiverError::Protocol(first.to_string()))?;
        Ok(receiver)
    }

    fn read_line(&mut self) -> Result<Value, ReceiverError> {
        let mut line = String::new();
        if self.stdout.read_line(&mut line)? == 0 {
            return Err(ReceiverError::Protocol("it exited".to_owned()));
        }
        serde_json::from_str(&line).map_err(|_| ReceiverError::Protocol(line))
    }

    fn tell(&mut self, command: Value) -> Result<Value, ReceiverError> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| ReceiverError::Protocol("stdin closed".to_owned()))?;
        writeln!(stdin, "{command}")?;
        stdin.flush()?;
        self.read_line()
    }

    fn told_ok(&mut self, command: Value) -> Result<bool, ReceiverError> {
        Ok(self.tell(command)?.get("ok") == Some(&Value::Bool(true)))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`: an `OTEL_EXPORTER_OTLP_ENDPOINT` (the exporter appends
    /// `/v1/metrics`).
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The fault the next requests meet.
    pub fn set(&mut self, fault: &Fault) -> Result<(), ReceiverError> {
        let answer = self.tell(json!({"fault": fault.to_json()}))?;
        if answer.get("ok") != Some(&Value::Bool(true)) {
            return Err(ReceiverError::Protocol(answer.to_string()));
        }
        Ok(())
    }

    /// Answers every request held by [`Fault::Hold`].
    pub fn release(&mut self) -> Result<(), ReceiverError> {
        self.told_ok(json!({"release": true})).map(|_| ())
    }

    /// Whether `n` requests were held within `timeout`.
    pub fn wait_held(&mut self, n: usize, timeout: Duration) -> Result<bool, ReceiverError> {
        self.told_ok(json!({"wait_held": n, "timeout_ms": timeout.as_millis() as u64}))
    }

    /// Whether `n` requests arrived (in all) within `timeout`.
    pub fn wait_requests(&mut self, n: usize, timeout: Duration) -> Result<bool, ReceiverError> {
        self.told_ok(json!({"wait_requests": n, "timeout_ms": timeout.as_millis() as u64}))
    }

    /// Whether every request in progress was answered within `timeout`.
    pub fn wait_idle(&mut self, timeout: Duration) -> Result<bool, ReceiverError> {
        self.told_ok(json!({"wait_idle": true, "timeout_ms": timeout.as_millis() as u64}))
    }

    /// Every line recorded so far: requests (`"kind": "request"`), data points (`"point"`),
    /// requests whose client left before the answer (`"unanswered"`).
    pub fn records(&self) -> Vec<Map<String, Value>> {
        std::fs::read_to_string(&self.records)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The recorded lines of one kind.
    pub fn of_kind(&self, kind: &str) -> Vec<Map<String, Value>> {
        self.records()
            .into_iter()
            .filter(|r| r.get("kind").and_then(Value::as_str) == Some(kind))
            .collect()
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        // The end of its stdin ends it; then make sure.
        drop(self.stdin.take());
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                let _ = std::fs::remove_file(&self.records);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.records);
    }
}
