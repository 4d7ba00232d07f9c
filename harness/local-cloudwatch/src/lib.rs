//! A local CloudWatch for tests: `ministack` (PyPI, pinned in `requirements-cloudwatch.txt`,
//! installed into the project's `.venv-cloudwatch` by `make test`) started on 127.0.0.1 on a free port,
//! stopped when dropped; and `GetMetricData` (and `PutMetricData`, to seed data) against it with
//! botocore, an AWS client of its own (rpc-v2-cbor, as the Rust SDK speaks).
//!
//! ```no_run
//! # fn demo() -> Result<(), local_cloudwatch::CloudWatchError> {
//! use local_cloudwatch::{LocalCloudWatch, MetricQuery};
//! let cloudwatch = LocalCloudWatch::start()?;
//! // Point a client (or the extension) at it:
//! let env = cloudwatch.client_env();
//! // ... send metrics ...
//! let sums = cloudwatch.get_metric_data(&[MetricQuery::new("LambdaLens", "Invocations", "Sum")
//!     .dimension("FunctionName", "shop")])?;
//! # let _ = (env, sums); Ok(()) }
//! ```
//! [`FaultProxy`] stands in front of it to inject faults (errors, throttling, slowness).

mod fault;

use std::io::Read as _;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};

pub use fault::{Fault, FaultProxy};

/// The region the local endpoint and its clients use.
pub const REGION: &str = "us-east-1";
/// How long ministack may take to answer after it was started.
const READY_WITHIN: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum CloudWatchError {
    #[error(
        "{0} is missing: install the local CloudWatch with `make cloudwatch-venv` (make test does), or set LAMBDA_LENS_CLOUDWATCH_VENV to a virtualenv with requirements-cloudwatch.txt"
    )]
    NotInstalled(PathBuf),
    #[error("could not start ministack: {0}")]
    Start(#[source] std::io::Error),
    #[error("ministack did not answer on {addr} within {} s{}", READY_WITHIN.as_secs(), if .log.is_empty() { String::new() } else { format!(": {}", .log) })]
    NotReady { addr: SocketAddr, log: String },
    #[error("GetMetricData failed: {0}")]
    Query(String),
}

/// A running ministack serving CloudWatch on 127.0.0.1.
#[derive(Debug)]
pub struct LocalCloudWatch {
    child: Child,
    addr: SocketAddr,
    python: PathBuf,
}

/// The virtualenv with ministack: `LAMBDA_LENS_CLOUDWATCH_VENV`, else `.venv-cloudwatch` at the
/// workspace root (`make cloudwatch-venv`).
pub fn venv() -> PathBuf {
    std::env::var_os("LAMBDA_LENS_CLOUDWATCH_VENV").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv-cloudwatch"),
        PathBuf::from,
    )
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port())
}

impl LocalCloudWatch {
    /// Starts ministack from [`venv`].
    pub fn start() -> Result<Self, CloudWatchError> {
        Self::start_in(&venv())
    }

    /// Starts ministack from [`venv`] checking every request's credentials (`AUTH=true`): only
    /// the test credentials of [`Self::client_env`] are accepted.
    pub fn start_authenticating() -> Result<Self, CloudWatchError> {
        Self::spawn(&venv(), true)
    }

    /// Starts ministack from the virtualenv `venv`, on a free port, and waits until it answers.
    pub fn start_in(venv: &Path) -> Result<Self, CloudWatchError> {
        Self::spawn(venv, false)
    }

    fn spawn(venv: &Path, authenticate: bool) -> Result<Self, CloudWatchError> {
        let bin = venv.join("bin");
        let (ministack, python) = (bin.join("ministack"), bin.join("python"));
        for path in [&ministack, &python] {
            if !path.is_file() {
                return Err(CloudWatchError::NotInstalled(path.clone()));
            }
        }
        let port = free_port().map_err(CloudWatchError::Start)?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let log = std::env::temp_dir().join(format!("lambda-sandbox-ministack-{port}.log"));
        let log_file = std::fs::File::create(&log).map_err(CloudWatchError::Start)?;
        let stderr = log_file.try_clone().map_err(CloudWatchError::Start)?;
        let child = Command::new(&ministack)
            .env("GATEWAY_PORT", port.to_string())
            .env("BIND_HOST", "127.0.0.1")
            .env("SERVICES", "cloudwatch")
            .env("AUTH", if authenticate { "true" } else { "false" })
            .env("LOG_LEVEL", "WARNING")
            .env("MINISTACK_REGION", REGION)
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(stderr)
            .spawn()
            .map_err(CloudWatchError::Start)?;
        let mut cloudwatch = Self { child, addr, python };
        let started = Instant::now();
        while started.elapsed() < READY_WITHIN {
            if cloudwatch.answers() {
                return Ok(cloudwatch);
            }
            if let Ok(Some(_)) = cloudwatch.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: String = text.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
        Err(CloudWatchError::NotReady { addr, log: tail })
    }

    /// Whether its health page answers.
    fn answers(&self) -> bool {
        use std::io::Write as _;
        let Ok(mut stream) = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let request = format!(
            "GET /_ministack/health HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        );
        if stream.write_all(request.as_bytes()).is_err() {
            return false;
        }
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer.starts_with("HTTP/1.1 200") && answer.contains("monitoring")
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The variables that point an AWS client (or the extension's PutMetricData sink) at this
    /// endpoint, with test credentials.
    pub fn client_env(&self) -> Vec<(String, String)> {
        env_for(&self.endpoint_url())
    }

    /// `GetMetricData` for each query over the last hour (and the next minute); one value per
    /// query: its statistic over the whole window (`None`: no data).
    pub fn get_metric_data(&self, queries: &[MetricQuery]) -> Result<Vec<Option<f64>>, CloudWatchError> {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let series = self.get_metric_data_between(queries, now.saturating_sub(3_600), now + 60)?;
        Ok(queries
            .iter()
            .zip(series)
            .map(|(q, points)| combine(&q.stat, &points))
            .collect())
    }

    /// `GetMetricData` for each query between two epoch seconds: each query's values, one per
    /// period with data.
    pub fn get_metric_data_between(
        &self,
        queries: &[MetricQuery],
        start: u64,
        end: u64,
    ) -> Result<Vec<Vec<f64>>, CloudWatchError> {
        let request = json!({
            "endpoint": self.endpoint_url(),
            "region": REGION,
            "start": start,
            "end": end,
            "queries": queries.iter().enumerate().map(|(i, q)| json!({
                "id": format!("q{i}"),
                "namespace": q.namespace,
                "metric": q.metric,
                "dimensions": q.dimensions.iter().cloned().collect::<serde_json::Map<String, Value>>(),
                "stat": q.stat,
                "period": q.period,
            })).collect::<Vec<_>>(),
        });
        let answer = run_python(&self.python, GET_METRIC_DATA, &request.to_string())?;
        let answer: Value =
            serde_json::from_str(&answer).map_err(|e| CloudWatchError::Query(e.to_string()))?;
        Ok((0..queries.len())
            .map(|i| {
                answer
                    .get("results")
                    .and_then(|r| r.get(format!("q{i}")))
                    .and_then(|q| q.get("values"))
                    .and_then(Value::as_array)
                    .map(|v| v.iter().filter_map(Value::as_f64).collect())
                    .unwrap_or_default()
            })
            .collect())
    }
}

impl LocalCloudWatch {
    /// Seeds data with `PutMetricData` (botocore), e.g. `AWS/Lambda`'s own metrics.
    pub fn put_metric_data(&self, namespace: &str, data: &[SeedDatum]) -> Result<(), CloudWatchError> {
        let request = json!({
            "endpoint": self.endpoint_url(),
            "region": REGION,
            "namespace": namespace,
            "data": data.iter().map(|d| json!({
                "metric": d.metric,
                "dimensions": d.dimensions.iter().map(|(k, v)| (k.clone(), Value::from(v.as_str()))).collect::<serde_json::Map<String, Value>>(),
                "timestamp": d.timestamp,
                "values": d.values,
                "counts": d.counts,
                "unit": d.unit,
            })).collect::<Vec<_>>(),
        });
        run_python(&self.python, PUT_METRIC_DATA, &request.to_string()).map(|_| ())
    }
}

/// One metric datum to seed: distinct values with their counts, at an epoch second.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedDatum {
    pub metric: String,
    pub dimensions: Vec<(String, String)>,
    pub timestamp: u64,
    pub values: Vec<f64>,
    pub counts: Vec<f64>,
    /// A CloudWatch unit (`Count`, `Milliseconds`, ...).
    pub unit: String,
}

const PUT_METRIC_DATA: &str = include_str!("put_metric_data.py");

/// The variables that point an AWS client at `endpoint_url`, with test credentials.
pub fn env_for(endpoint_url: &str) -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", endpoint_url),
        ("AWS_REGION", REGION),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_SESSION_TOKEN", "test"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// One statistic of periods to the statistic of the window: sums and counts add up, minimum
/// and maximum are taken over the periods; other statistics only with a single period.
fn combine(stat: &str, points: &[f64]) -> Option<f64> {
    if points.is_empty() {
        return None;
    }
    match stat {
        "Sum" | "SampleCount" => Some(points.iter().sum()),
        "Minimum" => points.iter().copied().reduce(f64::min),
        "Maximum" => points.iter().copied().reduce(f64::max),
        _ if points.len() == 1 => points.first().copied(),
        _ => None,
    }
}

const GET_METRIC_DATA: &str = include_str!("get_metric_data.py");

fn run_python(python: &Path, script: &str, input: &str) -> Result<String, CloudWatchError> {
    use std::io::Write as _;
    let mut child = Command::new(python)
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| CloudWatchError::Query(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .map_err(|e| CloudWatchError::Query(e.to_string()))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| CloudWatchError::Query(e.to_string()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().last().unwrap_or_default().to_owned();
        return Err(CloudWatchError::Query(last));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Drop for LocalCloudWatch {
    fn drop(&mut self) {
        // SIGTERM lets it remove its pid file; then make sure.
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM);
        }
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One `GetMetricData` query: a metric with its dimensions and a statistic (`Sum`,
/// `SampleCount`, `Average`, `Minimum`, `Maximum`, `p99`, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct MetricQuery {
    pub namespace: String,
    pub metric: String,
    pub dimensions: Vec<(String, Value)>,
    pub stat: String,
    /// Seconds; 60 unless set.
    pub period: u32,
}

impl MetricQuery {
    pub fn new(namespace: &str, metric: &str, stat: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            metric: metric.to_owned(),
            dimensions: Vec::new(),
            stat: stat.to_owned(),
            period: 60,
        }
    }

    pub fn dimension(mut self, name: &str, value: &str) -> Self {
        self.dimensions.push((name.to_owned(), Value::from(value)));
        self
    }

    /// One period over the whole window asked for (for statistics that do not add up, such
    /// as percentiles).
    pub fn period(mut self, seconds: u32) -> Self {
        self.period = seconds;
        self
    }
}
