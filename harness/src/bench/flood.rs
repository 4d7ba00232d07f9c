//! The flood: ~1 MiB telemetry batches of complete invocations POSTed straight to an
//! extension's telemetry listener, one at a time as Lambda sends them, while the extension's
//! memory is sampled and its CPU time read before and after.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use lambda_sandbox::ids::{Seeded, Source};
use lambda_sandbox::procfs::{self, Memory};

/// Lambda's largest `maxBytes`; a batch is just under it.
pub(crate) const BATCH_BYTES: usize = 1 << 20;
/// Longest one POST may take before the flood counts it as failed.
const POST_TIMEOUT: Duration = Duration::from_secs(5);
/// After the last batch, the extension gets this long to finish it before memory and CPU are
/// read.
const SETTLE: Duration = Duration::from_millis(100);

/// A batch and the number of invocations in it.
pub(crate) struct Batch {
    pub(crate) body: Bytes,
    pub(crate) invocations: usize,
}

/// A ~1 MiB batch of complete invocations (start, runtimeDone with spans, report), with fresh
/// request ids so that an extension joins and reports every one.
pub(crate) fn batch(rng: &mut Seeded) -> Batch {
    let t = lambda_sandbox::records::format_time(chrono::Utc::now());
    let mut out = String::with_capacity(BATCH_BYTES + 4096);
    out.push('[');
    let mut invocations = 0;
    while out.len() < BATCH_BYTES - 2048 {
        let id = rng.uuid();
        let (span, root) = (rng.hex(8), rng.hex(12));
        let tracing = format!(
            r#""tracing":{{"spanId":"{span}","type":"X-Amzn-Trace-Id","value":"Root=1-6745{}-{root};Parent={span};Sampled=1"}}"#,
            span.get(..4).unwrap_or("0000")
        );
        if invocations > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            r#"{{"time":"{t}","type":"platform.start","record":{{"requestId":"{id}","version":"$LATEST",{tracing}}}}},{{"time":"{t}","type":"platform.runtimeDone","record":{{"requestId":"{id}","status":"success","metrics":{{"durationMs":12.345,"producedBytes":52}},"spans":[{{"name":"responseLatency","start":"{t}","durationMs":11.2}},{{"name":"responseDuration","start":"{t}","durationMs":0.1}},{{"name":"runtimeOverhead","start":"{t}","durationMs":1.045}}],{tracing}}}}},{{"time":"{t}","type":"platform.report","record":{{"requestId":"{id}","status":"success","metrics":{{"durationMs":12.9,"billedDurationMs":13,"memorySizeMB":128,"maxMemoryUsedMB":31}},{tracing}}}}}"#
        );
        invocations += 1;
    }
    out.push(']');
    Batch {
        body: Bytes::from(out),
        invocations,
    }
}

/// `n` batches.
pub(crate) fn batches(n: usize, rng: &mut Seeded) -> Vec<Batch> {
    (0..n).map(|_| batch(rng)).collect()
}

/// What a flood measured.
#[derive(Debug, Clone, Copy, Default)]
pub struct Flood {
    /// Memory at the peak (`hwm`: `VmHWM` after a reset, or the 1 ms sampler's highest RSS).
    pub peak: Memory,
    /// Batches the extension answered with 2xx.
    pub accepted: usize,
    /// Invocations in the accepted batches.
    pub invocations: usize,
    /// Body megabytes (10^6) per second, first POST to last answer.
    pub mb_per_s: f64,
    /// The extension's CPU time over the flood and the settle time after it, in ns.
    pub cpu_ns: Option<u64>,
}

/// A client that sends each request's bytes at once (Nagle off), so the bench's own socket
/// adds no delayed-ACK wait to what it times.
pub(crate) fn client() -> Client<HttpConnector, Full<Bytes>> {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new()).build(connector)
}

/// POSTs `batches` to `target` one at a time, sampling the memory of `pid`.
pub(crate) async fn run(target: &str, pid: u32, batches: &[Batch]) -> Flood {
    let client = client();
    procfs::reset_peak(pid);
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let sampling = Arc::clone(&sampling);
        tokio::spawn(async move {
            let mut max = 0;
            while sampling.load(Ordering::Relaxed) {
                max = procfs::memory(pid).map_or(max, |m| m.rss.max(max));
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            max
        })
    };
    let cpu_before = procfs::cpu_ns(pid);
    let started = Instant::now();
    let mut flood = Flood::default();
    let mut bytes = 0;
    for batch in batches {
        let Ok(req) = http::Request::post(target)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(batch.body.clone()))
        else {
            continue;
        };
        match tokio::time::timeout(POST_TIMEOUT, client.request(req)).await {
            Ok(Ok(resp)) if resp.status().is_success() => {
                flood.accepted += 1;
                flood.invocations += batch.invocations;
                bytes += batch.body.len();
            }
            Ok(Ok(resp)) => tracing::warn!(status = %resp.status(), "flood: batch refused"),
            Ok(Err(err)) => tracing::warn!(error = %err, "flood: POST failed"),
            Err(_) => tracing::warn!("flood: no answer within {POST_TIMEOUT:?}"),
        }
    }
    flood.mb_per_s = bytes as f64 / started.elapsed().as_secs_f64() / 1e6;
    tokio::time::sleep(SETTLE).await;
    flood.cpu_ns = cpu_before
        .zip(procfs::cpu_ns(pid))
        .map(|(a, b)| b.saturating_sub(a));
    sampling.store(false, Ordering::Relaxed);
    let sampled_max = sampler.await.unwrap_or(0);
    flood.peak = procfs::memory(pid).unwrap_or_default();
    flood.peak.hwm = flood.peak.hwm.max(sampled_max);
    flood
}
