//! Start-up and configuration faults, against the `lambda-lens` binary and a control
//! plane this test drives by hand (a small Extensions and Telemetry API on 127.0.0.1 that can
//! stay silent, refuse, or answer). Each case must end as the start-up rule of
//! `docs/reliability.md` says: a clear line, and the function either unaffected (no metrics)
//! or, before registration is possible, a prompt exit; never a hang, a panic or a silent exit 0.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly"
)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Answer {
    Yes,
    Never,
    Refuse,
    /// What the Runtime Interface Emulator (and so `sam local invoke`) answers a subscription.
    NotSupported,
}

/// What the control plane saw, in order: "register", "subscribe <destination>", "next".
#[derive(Debug, Default)]
struct Seen {
    calls: Vec<(Instant, String)>,
}

#[derive(Clone)]
struct Plane {
    register: Answer,
    subscribe: Answer,
    /// Invocations whose telemetry is POSTed to the subscriber before SHUTDOWN.
    flood: usize,
    /// Bodies POSTed as they are, before SHUTDOWN.
    bodies: Arc<Vec<String>>,
    destination: Arc<Mutex<Option<String>>>,
    seen: Arc<Mutex<Seen>>,
}

impl Plane {
    fn saw(&self, call: String) {
        self.seen.lock().unwrap().calls.push((Instant::now(), call));
    }

    fn calls(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .calls
            .iter()
            .map(|(_, c)| c.clone())
            .collect()
    }

    fn first(&self, prefix: &str) -> Option<Instant> {
        let seen = self.seen.lock().unwrap();
        seen.calls
            .iter()
            .find(|(_, c)| c.starts_with(prefix))
            .map(|(at, _)| *at)
    }
}

fn reply(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_owned())));
    *response.status_mut() = status;
    response
}

async fn handle(plane: Plane, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let body = String::from_utf8_lossy(&body).into_owned();
    if path.ends_with("/extension/register") {
        plane.saw("register".into());
        match plane.register {
            Answer::Never => std::future::pending::<()>().await,
            Answer::Refuse | Answer::NotSupported => {
                return Ok(reply(
                    StatusCode::FORBIDDEN,
                    r#"{"errorType":"Extension.Refused"}"#,
                ));
            }
            Answer::Yes => {}
        }
        let mut r = reply(
            StatusCode::OK,
            r#"{"functionName":"f","functionVersion":"$LATEST","handler":"bootstrap"}"#,
        );
        r.headers_mut()
            .insert("Lambda-Extension-Identifier", "ext-1".parse().unwrap());
        return Ok(r);
    }
    if path.ends_with("/telemetry") {
        let destination = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["destination"]["URI"].as_str().map(str::to_owned))
            .unwrap_or_default();
        plane.saw(format!("subscribe {destination}"));
        *plane.destination.lock().unwrap() = Some(destination.clone());
        return Ok(match plane.subscribe {
            Answer::Never => std::future::pending().await,
            Answer::Refuse => reply(StatusCode::BAD_REQUEST, r#"{"errorType":"ValidationError"}"#),
            Answer::NotSupported => reply(
                StatusCode::ACCEPTED,
                r#"{"errorMessage":"Telemetry API is not supported","errorType":"Telemetry.NotSupported"}"#,
            ),
            Answer::Yes => reply(StatusCode::OK, "OK"),
        });
    }
    if path.ends_with("/extension/event/next") {
        plane.saw("next".into());
        let destination = plane.destination.lock().unwrap().clone();
        if let Some(destination) = destination {
            if plane.flood > 0 {
                deliver(&destination, plane.flood).await;
            }
            for body in plane.bodies.iter() {
                post(&destination, body.clone()).await;
            }
        }
        // The environment is done at once: SHUTDOWN with two seconds to go.
        let deadline = chrono::Utc::now().timestamp_millis() + 2_000;
        let body =
            format!(r#"{{"eventType":"SHUTDOWN","shutdownReason":"spindown","deadlineMs":{deadline}}}"#);
        return Ok(reply(StatusCode::OK, &body));
    }
    Ok(reply(StatusCode::NOT_FOUND, ""))
}

/// POSTs one body and expects it taken.
async fn post(destination: &str, body: String) {
    use hyper_util::client::legacy::Client;
    let client = Client::builder(hyper_util::rt::TokioExecutor::new()).build_http::<Full<Bytes>>();
    let request = Request::post(destination)
        .header("Content-Type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let answer = client.request(request).await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
}

/// The telemetry of `count` complete invocations from `first`, as one body; with `padding`, each
/// start carries a version of that many bytes (to make batches large).
fn invocations_body(first: usize, count: usize, padding: usize) -> String {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let version = if padding > 0 {
        format!(r#","version":"{}""#, "x".repeat(padding))
    } else {
        String::new()
    };
    let records: Vec<String> = (first..first + count)
        .flat_map(|i| {
            [
                format!(r#"{{"time":"{now}","type":"platform.start","record":{{"requestId":"req-{i:08}"{version}}}}}"#),
                format!(r#"{{"time":"{now}","type":"platform.runtimeDone","record":{{"requestId":"req-{i:08}","status":"success","metrics":{{"durationMs":1.5}}}}}}"#),
                format!(r#"{{"time":"{now}","type":"platform.report","record":{{"requestId":"req-{i:08}","status":"success","metrics":{{"durationMs":2.5,"billedDurationMs":3,"memorySizeMB":128,"maxMemoryUsedMB":40}}}}}}"#),
            ]
        })
        .collect();
    format!("[{}]", records.join(","))
}

/// POSTs the telemetry of `invocations` complete invocations, in batches of 200.
async fn deliver(destination: &str, invocations: usize) {
    for first in (0..invocations).step_by(200) {
        post(
            destination,
            invocations_body(first, 200.min(invocations - first), 0),
        )
        .await;
    }
}

async fn start(register: Answer, subscribe: Answer) -> (SocketAddr, Plane) {
    start_flooding(register, subscribe, 0).await
}

async fn start_flooding(register: Answer, subscribe: Answer, flood: usize) -> (SocketAddr, Plane) {
    start_with(register, subscribe, flood, Vec::new()).await
}

async fn start_with(
    register: Answer,
    subscribe: Answer,
    flood: usize,
    bodies: Vec<String>,
) -> (SocketAddr, Plane) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let plane = Plane {
        register,
        subscribe,
        flood,
        bodies: Arc::new(bodies),
        destination: Arc::default(),
        seen: Arc::default(),
    };
    let serving = plane.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let plane = serving.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| handle(plane.clone(), req));
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, plane)
}

/// `command` with only the environment every case needs: the control plane at `runtime_api`,
/// and the listener on loopback.
fn lambda_environment<'c>(command: &'c mut Command, runtime_api: &str) -> &'c mut Command {
    command
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
        .env("LAMBDA_LENS_LISTENER_HOST", "127.0.0.1")
}

/// The extension, in the environment every case needs.
fn extension(runtime_api: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lambda-lens"));
    lambda_environment(&mut command, runtime_api);
    command
}

struct Run {
    code: Option<i32>,
    stderr: String,
    took: Duration,
}

/// Runs the extension with only `env` (and `AWS_LAMBDA_RUNTIME_API=runtime_api`), killed after
/// `limit` if it has not exited by then.
async fn run_extension(runtime_api: &str, env: &[(&str, &str)], limit: Duration) -> Run {
    let mut command = extension(runtime_api);
    command
        .env("AWS_LAMBDA_FUNCTION_NAME", "f")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    let started = Instant::now();
    let child = command.spawn().unwrap();
    let pid = child.id();
    let waited = tokio::time::timeout(
        limit,
        tokio::task::spawn_blocking(move || child.wait_with_output()),
    )
    .await;
    let took = started.elapsed();
    match waited {
        Ok(output) => {
            let output = output.unwrap().unwrap();
            Run {
                code: output.status.code(),
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
                took,
            }
        }
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            Run {
                code: None,
                stderr: String::new(),
                took,
            }
        }
    }
}

#[tokio::test]
async fn a_registration_that_is_never_answered_ends_promptly_with_a_clear_line() {
    let (addr, _plane) = start(Answer::Never, Answer::Yes).await;
    let run = run_extension(&addr.to_string(), &[], Duration::from_secs(20)).await;
    assert_eq!(
        run.code,
        Some(1),
        "exits with a failure, not a hang: {run:?}",
        run = run.stderr
    );
    assert!(run.took < Duration::from_secs(10), "{:?}", run.took);
    assert!(
        run.stderr.contains("did not answer the registration"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn a_refused_registration_ends_with_a_clear_line() {
    let (addr, _plane) = start(Answer::Refuse, Answer::Yes).await;
    let run = run_extension(&addr.to_string(), &[], Duration::from_secs(20)).await;
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("could not register"), "{}", run.stderr);
}

#[tokio::test]
async fn a_subscription_that_hangs_delays_readiness_by_its_deadline_only() {
    let (addr, plane) = start(Answer::Yes, Answer::Never).await;
    let started = Instant::now();
    let run = run_extension(&addr.to_string(), &[], Duration::from_secs(20)).await;
    assert_eq!(run.code, Some(0), "the function is not affected: {}", run.stderr);
    let ready = plane.first("next").expect("the extension reached /event/next") - started;
    // The subscription gives up after 1.5 s (it used to take up to about 12 s); the margin is
    // for a loaded machine.
    assert!(ready < Duration::from_secs(4), "ready after {ready:?}");
    assert!(run.stderr.contains("no telemetry subscription"), "{}", run.stderr);
}

#[tokio::test]
async fn a_refused_subscription_leaves_the_function_working_without_metrics() {
    let (addr, plane) = start(Answer::Yes, Answer::Refuse).await;
    let run = run_extension(&addr.to_string(), &[], Duration::from_secs(20)).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stderr.contains("no telemetry subscription"), "{}", run.stderr);
    let calls = plane.calls();
    assert_eq!(calls.first().map(String::as_str), Some("register"));
    assert_eq!(calls.last().map(String::as_str), Some("next"));
}

#[tokio::test]
async fn a_runtime_api_the_client_cannot_use_is_refused_without_a_panic() {
    for value in ["*", "user@host:1", "host:0", "host"] {
        let run = run_extension(value, &[], Duration::from_secs(20)).await;
        assert_eq!(run.code, Some(1), "{value}: {}", run.stderr);
        assert!(
            run.stderr.contains("AWS_LAMBDA_RUNTIME_API"),
            "{value}: {}",
            run.stderr
        );
        assert!(!run.stderr.contains("panicked"), "{value}: {}", run.stderr);
    }
}

#[tokio::test]
async fn a_taken_port_is_named_and_left_for_a_free_one() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let (addr, plane) = start(Answer::Yes, Answer::Yes).await;
    let run = run_extension(
        &addr.to_string(),
        &[("LAMBDA_LENS_PORT", &port)],
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("port {port} (LAMBDA_LENS_PORT) is taken")),
        "{}",
        run.stderr
    );
    let subscribed = plane
        .calls()
        .into_iter()
        .find(|c| c.starts_with("subscribe"))
        .unwrap();
    assert!(
        subscribed.starts_with("subscribe http://127.0.0.1:"),
        "{subscribed}"
    );
    assert!(!subscribed.contains(&format!(":{port}/")), "{subscribed}");
}

#[tokio::test]
async fn every_variable_set_to_garbage_is_named_and_the_extension_works() {
    let (addr, plane) = start(Answer::Yes, Answer::Yes).await;
    let garbage: Vec<(&str, &str)> = lambda_lens_vars().iter().map(|v| (*v, "%%garbage%%")).collect();
    let run = run_extension(&addr.to_string(), &garbage, Duration::from_secs(20)).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        plane.calls().iter().any(|c| c.starts_with("subscribe")),
        "{:?}",
        plane.calls()
    );
    for (var, _) in &garbage {
        // Each one is named in a warning (the log level variables too: their own warning is
        // printed at the default level).
        assert!(run.stderr.contains(var), "{var} is not named:\n{}", run.stderr);
    }
}

#[tokio::test]
async fn a_rust_log_that_is_not_a_level_does_not_silence_the_extension() {
    let (addr, _plane) = start(Answer::Yes, Answer::Refuse).await;
    let run = run_extension(
        &addr.to_string(),
        &[("RUST_LOG", "garbage")],
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stderr.contains("RUST_LOG"),
        "the refusal is logged: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("no telemetry subscription"),
        "errors still show: {}",
        run.stderr
    );
}

#[tokio::test]
async fn empty_and_non_utf8_values_are_named() {
    use std::os::unix::ffi::OsStrExt;
    let (addr, _plane) = start(Answer::Yes, Answer::Yes).await;
    let mut command = extension(&addr.to_string());
    command
        .env("LAMBDA_LENS_NAMESPACE", "")
        .env("LAMBDA_LENS_OUTPUT", std::ffi::OsStr::from_bytes(b"batch\xffed"))
        .stdout(Stdio::null());
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("LAMBDA_LENS_NAMESPACE") && stderr.contains("empty"),
        "{stderr}"
    );
    assert!(
        stderr.contains("LAMBDA_LENS_OUTPUT") && stderr.contains("UTF-8"),
        "{stderr}"
    );
}

/// lambda-lens's own variables, from its configuration.
fn lambda_lens_vars() -> Vec<&'static str> {
    lambda_lens::vars::USER_SETTABLE
        .iter()
        .copied()
        .filter(|v| v.starts_with("LAMBDA_LENS_"))
        .collect()
}

/// Everything per invocation, so that a flood makes megabytes of EMF.
const VERBOSE: [(&str, &str); 2] = [
    ("LAMBDA_LENS_METRICS", "all"),
    ("LAMBDA_LENS_OUTPUT", "per-invocation"),
];

#[tokio::test]
async fn a_closed_stdout_costs_the_metrics_and_nothing_else() {
    let (addr, _plane) = start_flooding(Answer::Yes, Answer::Yes, 600).await;
    let mut command = Command::new("sh");
    command.args(["-c", "exec \"$0\" >&-", env!("CARGO_BIN_EXE_lambda-lens")]);
    lambda_environment(&mut command, &addr.to_string()).envs(VERBOSE);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    // Rust's runtime points a closed descriptor 1 at /dev/null before main, so the EMF goes
    // nowhere (never into a socket that took descriptor 1) and nothing fails.
    assert!(
        stderr.contains("invocations=600"),
        "every invocation was still worked: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test]
async fn a_stdout_nobody_reads_does_not_hold_the_extension_past_the_shutdown_deadline() {
    let (addr, plane) = start_flooding(Answer::Yes, Answer::Yes, 2_000).await;
    let mut child = extension(&addr.to_string())
        .envs(VERBOSE)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Held, never read: the pipe fills after 64 KiB.
    let _stdout = child.stdout.take();
    let waited = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return Some((status, started.elapsed()));
            }
            if started.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    })
    .await
    .unwrap();
    let (status, _) = waited.expect("the extension exited by itself");
    let shutdown = plane.first("next").unwrap();
    // SHUTDOWN came with a 2 s deadline (after the flood was delivered).
    assert!(shutdown.elapsed() < Duration::from_secs(30));
    assert!(
        status.code().is_some(),
        "it exited, it was not killed: {status:?}"
    );
}

#[tokio::test]
async fn a_malformed_value_is_never_echoed_whole_into_the_log() {
    let huge = "v".repeat(400 * 1024);
    let body = format!(
        r#"[{{"time":"2026-11-25T10:00:00Z","type":"platform.report","record":{{"requestId":"r1","metrics":{{"durationMs":"{huge}"}}}}}}]"#
    );
    let (addr, _plane) = start_with(Answer::Yes, Answer::Yes, 0, vec![body]).await;
    let run = run_extension(
        &addr.to_string(),
        &[("LAMBDA_LENS_BUFFER_MAX_BYTES", "1048576")],
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stderr.contains("skipped malformed telemetry records"),
        "{}",
        &run.stderr[..2000.min(run.stderr.len())]
    );
    let longest = run.stderr.lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 2_000, "a log line of {longest} bytes");
}

/// The extension's peak memory (`ExtensionMemory`, MiB) after `batches` bodies of about 1 MiB.
async fn peak_after(batches: usize) -> f64 {
    let bodies = (0..batches)
        .map(|b| invocations_body(b * 1_000, 1_000, 500))
        .collect();
    let (addr, _plane) = start_with(Answer::Yes, Answer::Yes, 0, bodies).await;
    let mut command = extension(&addr.to_string());
    command
        .env("LAMBDA_LENS_BUFFER_MAX_BYTES", "1048576")
        .env("LAMBDA_LENS_METRICS", "default,extension");
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|d| d["ExtensionMemory"].as_f64())
        .fold(0.0, f64::max)
}

#[tokio::test]
async fn memory_stays_flat_under_a_stream_of_maximum_size_batches() {
    let after_5 = peak_after(5).await;
    let after_25 = peak_after(25).await;
    assert!(after_5 > 0.0, "the extension reported its memory");
    assert!(after_25 < 16.0, "{after_25} MiB after 25 MiB of telemetry");
    assert!(
        after_25 - after_5 < 1.5,
        "memory grew from {after_5} to {after_25} MiB with 5 times the telemetry"
    );
}

/// Eight ~1 MiB batches in per-invocation output of every metric (~2 KB of EMF per invocation,
/// ~18 MB in all), stdout read 64 KiB at a time with `pause` between reads: the extension's
/// peak memory (MiB), the invocations written, and its log.
async fn verbose_flood(pause: Duration) -> (f64, usize, String) {
    let bodies = (0..8).map(|b| invocations_body(b * 1_000, 1_000, 500)).collect();
    let (addr, _plane) = start_with(Answer::Yes, Answer::Yes, 0, bodies).await;
    let mut child = extension(&addr.to_string())
        .env("LAMBDA_LENS_BUFFER_MAX_BYTES", "1048576")
        .envs(VERBOSE)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut text).unwrap();
        text
    });
    let read = tokio::task::spawn_blocking(move || {
        let mut all = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let n = std::io::Read::read(&mut stdout, &mut chunk).unwrap();
            if n == 0 {
                return all;
            }
            all.extend_from_slice(&chunk[..n]);
            std::thread::sleep(pause);
        }
    })
    .await
    .unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    let stderr = errors.join().unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    let docs: Vec<serde_json::Value> = String::from_utf8_lossy(&read)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let invocations = docs.iter().filter(|d| d.get("RequestId").is_some()).count();
    let peak = docs
        .iter()
        .filter_map(|d| d["ExtensionMemory"].as_f64())
        .fold(0.0, f64::max);
    assert!(peak > 0.0, "the extension reported its memory");
    (peak, invocations, stderr)
}

#[tokio::test]
async fn a_slow_stdout_holds_a_flood_back_instead_of_buffering_or_dropping_it() {
    let (fast, _, _) = verbose_flood(Duration::ZERO).await;
    // A log pipe slower than the extension makes EMF: 64 KiB every 5 ms (~13 MB/s).
    let (slow, invocations, stderr) = verbose_flood(Duration::from_millis(5)).await;
    assert!(
        !stderr.contains("documents beyond the limit are dropped"),
        "{stderr}"
    );
    assert_eq!(invocations, 8_000, "every invocation's document was written");
    // What waits for the pipe is bounded by the sink's backpressure (~1 MiB), not by its drop
    // limit (4 MiB, and the writer's queue behind it).
    assert!(
        slow - fast < 3.0,
        "{slow} MiB with a slow stdout against {fast} MiB with a fast one: the EMF piled up"
    );
}

#[tokio::test]
async fn under_sam_local_one_line_says_telemetry_is_not_available_and_where_to_look() {
    let (addr, plane) = start(Answer::Yes, Answer::NotSupported).await;
    let run = run_extension(&addr.to_string(), &[], Duration::from_secs(20)).await;
    assert_eq!(run.code, Some(0), "the function is not affected: {}", run.stderr);
    assert_eq!(
        run.stderr.matches("Telemetry.NotSupported").count(),
        1,
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("lambda-lens's sandbox"),
        "points to the alternative: {}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("ERROR"),
        "expected locally, not an error: {}",
        run.stderr
    );
    assert_eq!(plane.calls().last().map(String::as_str), Some("next"));
}

/// The level Lambda's JSON log format gives a line (documented: a JSON object's valid `"level"`,
/// any case; any other line INFO), as a rank from TRACE (0) to FATAL (5).
fn lambda_level_of(line: &str) -> usize {
    const LEVELS: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];
    serde_json::from_str::<serde_json::Value>(line)
        .ok()
        .and_then(|v| v.get("level")?.as_str().map(str::to_ascii_uppercase))
        .and_then(|l| LEVELS.iter().position(|x| *x == l))
        .unwrap_or(2)
}

#[tokio::test]
async fn under_json_at_warn_and_above_every_emf_line_and_the_start_up_line_pass_lambdas_filter() {
    for (level, rank) in [("WARN", 3), ("error", 4), ("FATAL", 5)] {
        let (addr, _plane) = start_with(Answer::Yes, Answer::Yes, 0, vec![invocations_body(0, 5, 0)]).await;
        let mut command = extension(&addr.to_string());
        command
            .env("AWS_LAMBDA_FUNCTION_NAME", "f")
            .env("AWS_LAMBDA_LOG_FORMAT", "json")
            .env("AWS_LAMBDA_LOG_LEVEL", level)
            .envs(VERBOSE);
        let output = tokio::time::timeout(
            Duration::from_secs(20),
            tokio::task::spawn_blocking(move || command.output()),
        )
        .await
        .unwrap()
        .unwrap()
        .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{level}: {stderr}");
        let emf: Vec<&str> = stdout.lines().collect();
        assert!(
            emf.len() >= 5,
            "{level}: one document per invocation at least:\n{stdout}"
        );
        for line in &emf {
            assert!(line.len() <= 32 * 1024, "{level}: {} bytes", line.len());
            assert!(line.contains("\"_aws\""), "{level}: {line}");
            assert_eq!(
                lambda_level_of(line),
                rank,
                "{level}: Lambda would drop it: {line}"
            );
        }
        let kept: Vec<&str> = stderr.lines().filter(|l| lambda_level_of(l) >= rank).collect();
        assert!(
            kept.iter().any(|l| l.contains("LAMBDA_LENS_SINK=put-metric-data")
                && l.contains(&format!("\\\"level\\\":\\\"{}\\\"", level.to_ascii_uppercase()))),
            "{level}: the start-up line passes the filter and names the level: {stderr}"
        );
    }
}
