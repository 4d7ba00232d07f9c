//! The invocation handler: parse the payload, run the asked-for behaviours in a fixed order
//! while holding their resources, build the response, then release everything.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lambda_runtime::LambdaEvent;
use serde_json::Value;

use crate::error::SampleError;
use crate::order::Order;
use crate::payload::Payload;
use crate::response::Response;
use crate::work::{
    cpu, files, logs,
    memory::{Ballast, MIB},
    network,
    threads::ParkedThreads,
};

/// What the handler reads from the environment once, at startup.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// Where `write_tmp_bytes` and `open_files` put their files (`std::env::temp_dir()`:
    /// `TMPDIR`, else `/tmp`).
    pub tmp_dir: PathBuf,
}

impl Settings {
    pub(crate) fn from_env() -> Self {
        Self {
            tmp_dir: std::env::temp_dir(),
        }
    }
}

/// Resources that must stay alive until the response is built.
#[derive(Default)]
pub(crate) struct Held {
    ballast: Option<Ballast>,
    handles: Vec<std::fs::File>,
    threads: Option<ParkedThreads>,
}

/// The `lambda_runtime` entry point.
pub(crate) async fn handle(
    event: LambdaEvent<Value>,
    settings: Arc<Settings>,
) -> Result<Response, SampleError> {
    let (value, context) = event.into_parts();
    let payload = Payload::parse(&value)?;
    run(&payload, &context.request_id, &settings).await
}

/// Runs the behaviours in this order: wait, log lines, /tmp file, open files, threads, memory,
/// network, CPU, sleep; then `timeout`, `exit`, `panic`, `fail` (in that precedence)
/// with every resource still held; then the response.
pub(crate) async fn run(
    payload: &Payload,
    request_id: &str,
    settings: &Settings,
) -> Result<Response, SampleError> {
    let order = payload.order.clone().unwrap_or_else(Order::sample);
    let summary = order.summarize()?;
    let mut response = Response {
        message: summary.greeting(),
        request_id: request_id.to_owned(),
        order_id: summary.order_id.clone(),
        order_items: summary.items,
        order_total_cents: summary.total_cents,
        order_checksum: summary.checksum.clone(),
        ..Response::default()
    };
    let mut held = Held::default();

    if let Some(ms) = payload.wait_ms {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if let Some(count) = payload.log_lines {
        response.lines = logs::write_to_stdout(count, request_id)
            .map_err(|error| SampleError::resource("writing log lines to stdout", error))?;
    }
    if let Some(bytes) = payload.write_tmp_bytes {
        let path = files::write_tmp(&settings.tmp_dir, bytes)?;
        response.tmp_file = Some(path.display().to_string());
        response.tmp_bytes = bytes;
    }
    if let Some(count) = payload.open_files {
        held.handles = files::open_handles(&settings.tmp_dir, count)?;
        response.open_files = held.handles.len() as u64;
    }
    if let Some(count) = payload.threads {
        let parked = ParkedThreads::spawn(count)?;
        response.threads = parked.len() as u64;
        held.threads = Some(parked);
    }
    if let Some(mb) = payload.allocate_mb {
        let ballast = Ballast::allocate(mb)?;
        response.allocated_mb = (ballast.len() / MIB) as u64;
        response.pages_touched = ballast.pages_touched();
        held.ballast = Some(ballast);
    }
    if let Some(bytes) = payload.network_bytes {
        let echo = match payload.network_peer {
            Some(peer) => network::peer_echo(peer, bytes).await?,
            None => network::loopback_echo(bytes).await?,
        };
        response.network_bytes_sent = echo.sent;
        response.network_bytes_received = echo.received;
    }
    if let Some(ms) = payload.cpu_ms {
        let burn = cpu::burn(ms);
        response.cpu_ms = millis(burn.spent);
        response.cpu_clock = Some(burn.clock.name());
        tracing::debug!(result = burn.result, "cpu burn done");
    }
    if let Some(ms) = payload.sleep_ms {
        let start = Instant::now();
        tokio::time::sleep(Duration::from_millis(ms)).await;
        response.slept_ms = millis(start.elapsed());
    }

    if payload.timeout {
        tracing::info!(
            request_id,
            "timeout requested: waiting until Lambda stops the sandbox"
        );
        std::future::pending::<()>().await;
    }
    if let Some(code) = payload.exit {
        tracing::info!(request_id, code, "exit requested: exiting the process");
        std::process::exit(code);
    }
    if let Some(message) = &payload.panic {
        deliberate_panic(message);
    }
    if let Some(message) = &payload.fail {
        return Err(SampleError::RequestedFailure(message.clone()));
    }

    if let Some(target) = payload.response_bytes {
        response = response.pad_to(target)?;
    }
    if payload.leak {
        leak(held);
    } else {
        drop(held);
    }
    Ok(response)
}

/// What leaked invocations left behind: it lives as long as the process, like a real leak.
static LEAKED: std::sync::Mutex<Vec<Held>> = std::sync::Mutex::new(Vec::new());

/// Keeps the invocation's open files and threads (memory is still freed, so a later
/// allocation's peak is not hidden by an old one).
fn leak(mut held: Held) {
    held.ballast = None;
    if let Ok(mut leaked) = LEAKED.lock() {
        leaked.push(held);
    }
}

#[allow(clippy::panic, reason = "the payload's `panic` field asks for exactly this")]
fn deliberate_panic(message: &str) -> ! {
    panic!("{message}");
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use serde_json::json;

    use super::*;

    /// Runs one invocation with its own scratch directory, removed afterwards.
    fn invoke(payload: Value) -> Result<Response, SampleError> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let payload = Payload::parse(&payload)?;
        let tmp_dir = std::env::temp_dir().join(format!(
            "sample-function-handler-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&tmp_dir).unwrap();
        let scratch = Scratch(Settings { tmp_dir });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(run(&payload, "req-42", &scratch.0))
    }

    /// Removes the scratch directory even when the invocation panics.
    struct Scratch(Settings);

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0.tmp_dir);
        }
    }

    #[test]
    fn default_work_answers_with_a_greeting_and_the_request_id() {
        let response = invoke(json!({})).unwrap();
        assert_eq!(response.request_id, "req-42");
        assert_eq!(
            response.message,
            "Hello, Ada! Order ord-1001 (3 items) totals 52.97 USD."
        );
        assert_eq!(response.order_total_cents, 5_297);
        assert_eq!(response.slept_ms, 0);
        assert!(response.padding.is_empty());
    }

    #[test]
    fn combined_behaviours_are_reported() {
        let response = invoke(json!({
            "sleep_ms": 5, "allocate_mb": 2, "cpu_ms": 5, "write_tmp_bytes": 1000,
            "open_files": 3, "threads": 2, "network_bytes": 5000, "response_bytes": 2000
        }))
        .unwrap();
        assert!(response.slept_ms >= 5);
        assert_eq!(response.allocated_mb, 2);
        assert_eq!(response.pages_touched, 512);
        assert!(response.cpu_ms >= 5);
        assert_eq!(response.tmp_bytes, 1000);
        assert_eq!(response.open_files, 3);
        assert_eq!(response.threads, 2);
        assert_eq!(response.network_bytes_received, 5000);
        assert_eq!(serde_json::to_vec(&response).unwrap().len(), 2000);
    }

    #[test]
    fn fail_returns_the_requested_failure() {
        let error = invoke(json!({"fail": "card declined"})).unwrap_err();
        assert!(matches!(&error, SampleError::RequestedFailure(message) if message == "card declined"));
        assert_eq!(error.error_type(), crate::error::REQUESTED_FAILURE);
    }

    #[test]
    #[should_panic(expected = "kaboom")]
    fn panic_panics_with_the_message() {
        let _ = invoke(json!({"panic": "kaboom"}));
    }

    #[test]
    fn a_bad_order_is_an_invalid_payload() {
        let error = invoke(json!({"order": {"order_id": "o", "customer": "c", "items": []}})).unwrap_err();
        assert_eq!(error.error_type(), crate::error::INVALID_PAYLOAD);
    }
}
