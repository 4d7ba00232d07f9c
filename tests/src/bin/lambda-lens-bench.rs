//! `lambda-lens-bench`: measures the real `lambda-lens` layer with the sample function in the
//! local sandbox and prints a Markdown table (`make bench` runs it).
//!
//! Per run: ready time (from `platform.initStart` to the extension's `platform.extension`
//! record, both stamped by the sandbox: spawn, register, subscribe, first `/event/next`), idle
//! resident memory, resident memory under a bounded flood of 1 MiB batches POSTed straight to
//! the extension's telemetry listener (127.0.0.1, during a long invocation so the environment
//! is not frozen), the post-runtime duration of each invocation (report `durationMs` −
//! runtimeDone `durationMs`), and the exit latency after SHUTDOWN. The same invocations run
//! without the layer, for comparison.
//!
//! usage: lambda-lens-bench --bootstrap PATH --layer DIR [--runs N] [--invocations N]
//!        [--flood-batches N] [--env NAME=VALUE]...
//!
//! `--env` passes a variable to the extension (e.g. `LAMBDA_LENS_METRICS=-resources`), to
//! compare configurations.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::indexing_slicing,
    reason = "a command-line benchmark: the table and its errors are its output"
)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use lambda_sandbox::rng::Rng;
use lambda_sandbox::{Config, Sandbox, SandboxError, ShutdownReason, Source, TelemetryRecord};
use serde_json::json;

const EXTENSION: &str = "lambda-lens";
/// What lambda-lens accepts per POST when told `maxBytes` is 1 MiB (Lambda's largest).
const MAX_BYTES_VAR: (&str, &str) = ("LAMBDA_LENS_BUFFER_MAX_BYTES", "1048576");
const FLOOD_BATCH_BYTES: usize = 1 << 20;
/// The function sleeps while the flood runs, so the environment stays thawed: this long per
/// batch (a flood at 4 MB/s still ends in time), at least `FLOOD_INVOCATION_MIN_MS`.
const FLOOD_MS_PER_BATCH: u64 = 250;
const FLOOD_INVOCATION_MIN_MS: u64 = 2_500;
const POST_TIMEOUT: Duration = Duration::from_secs(2);

struct Args {
    bootstrap: PathBuf,
    layer: PathBuf,
    runs: usize,
    invocations: usize,
    flood_batches: usize,
    env: Vec<(String, String)>,
}

fn parse_args() -> Option<Args> {
    let mut bootstrap = None;
    let mut layer = None;
    let (mut runs, mut invocations, mut flood_batches) = (5, 20, 32);
    let mut env = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = || {
            args.next()
                .and_then(|v| v.parse::<usize>().ok())
                .filter(|n| *n > 0)
        };
        match arg.as_str() {
            "--bootstrap" => bootstrap = args.next().map(PathBuf::from),
            "--layer" => layer = args.next().map(PathBuf::from),
            "--runs" => runs = number()?,
            "--invocations" => invocations = number()?,
            "--flood-batches" => flood_batches = number()?,
            "--env" => {
                let pair = args.next()?;
                let (name, value) = pair.split_once('=')?;
                env.push((name.to_owned(), value.to_owned()));
            }
            _ => return None,
        }
    }
    Some(Args {
        bootstrap: bootstrap?,
        layer: layer?,
        runs,
        invocations,
        flood_batches,
        env,
    })
}

/// One process's memory, from `/proc/<pid>/status`, in kB.
#[derive(Debug, Default, Clone, Copy)]
struct Memory {
    rss: u64,
    hwm: u64,
    anon: u64,
    file: u64,
}

fn memory(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status.lines().find_map(|l| {
            let rest = l.strip_prefix(name)?.strip_prefix(':')?;
            rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok()
        })
    };
    Some(Memory {
        rss: field("VmRSS")?,
        hwm: field("VmHWM")?,
        anon: field("RssAnon").unwrap_or(0),
        file: field("RssFile").unwrap_or(0),
    })
}

/// The pid of our child process running `exe` (the sandbox spawns from this process).
fn child_running(exe: &Path) -> Option<u32> {
    let exe = std::fs::canonicalize(exe).ok()?;
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|c| {
            c.split_whitespace()
                .filter_map(|p| p.parse::<u32>().ok())
                .collect::<Vec<_>>()
        })
        .find(|pid| std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|p| p == exe))
}

/// Ready time: the sandbox stamps `platform.initStart` just before it spawns the processes and
/// `platform.extension` when the extension first calls `/event/next`.
fn ready_ms(telemetry: &[TelemetryRecord]) -> Option<f64> {
    let start = telemetry.iter().find(|r| r.kind == "platform.initStart")?.time;
    let ready = telemetry
        .iter()
        .find(|r| {
            r.kind == "platform.extension" && r.record.get("name").and_then(|n| n.as_str()) == Some(EXTENSION)
        })?
        .time;
    (ready - start).num_microseconds().map(|us| us as f64 / 1000.0)
}

/// A ~1 MiB batch of complete invocations (start, runtimeDone with spans, report), with fresh
/// request ids so that the extension joins and reports every one.
fn flood_batch(rng: &mut Rng) -> (Bytes, usize) {
    let now = chrono::Utc::now();
    let t = lambda_sandbox::records::format_time(now);
    let mut out = String::with_capacity(FLOOD_BATCH_BYTES + 4096);
    out.push('[');
    let mut invocations = 0;
    while out.len() < FLOOD_BATCH_BYTES - 2048 {
        let id = rng.uuid();
        let (mut span, mut root) = (String::new(), String::new());
        rng.hex(&mut span, 16);
        rng.hex(&mut root, 24);
        let tracing = format!(
            r#""tracing":{{"spanId":"{span}","type":"X-Amzn-Trace-Id","value":"Root=1-6745{}-{root};Parent={span};Sampled=1"}}"#,
            &span[..4]
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
    (Bytes::from(out), invocations)
}

/// What the flood measured.
struct Flood {
    peak: Memory,
    after: Memory,
    accepted: usize,
    sent: usize,
    mb_per_s: f64,
}

/// POSTs `batches` (one at a time, as Lambda does) to `target`, sampling the extension's RSS.
async fn flood(target: &str, pid: u32, batches: &[Bytes]) -> Flood {
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    // The peak is read from VmHWM after a reset (`5` to clear_refs, Linux >= 4.0); a 1 ms
    // sampler backs it up where clear_refs is not writable.
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
    let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let sampling = std::sync::Arc::clone(&sampling);
        tokio::spawn(async move {
            let mut max = 0;
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                max = memory(pid).map_or(max, |m| m.rss.max(max));
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            max
        })
    };
    let started = Instant::now();
    let (mut accepted, mut bytes) = (0, 0);
    for body in batches {
        let Ok(req) = http::Request::post(target)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(body.clone()))
        else {
            continue;
        };
        match tokio::time::timeout(POST_TIMEOUT, client.request(req)).await {
            Ok(Ok(resp)) if resp.status().is_success() => {
                accepted += 1;
                bytes += body.len();
            }
            Ok(Ok(resp)) => eprintln!("flood: the extension answered {}", resp.status()),
            Ok(Err(err)) => eprintln!("flood: {err}"),
            Err(_) => eprintln!("flood: no answer within {POST_TIMEOUT:?}"),
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    // Let the pipeline finish the last batch before reading the memory after the flood.
    tokio::time::sleep(Duration::from_millis(100)).await;
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let sampled_max = sampler.await.unwrap_or(0);
    let after = memory(pid).unwrap_or_default();
    let mut peak = after;
    peak.hwm = peak.hwm.max(sampled_max);
    Flood {
        peak,
        after,
        accepted,
        sent: batches.len(),
        mb_per_s: bytes as f64 / elapsed / 1e6,
    }
}

/// One run with the layer.
#[derive(Default)]
struct LayerRun {
    ready_ms: Option<f64>,
    ready_given_host_ms: Option<f64>,
    idle: Option<Memory>,
    idle_after_invocations: Option<Memory>,
    flood_peak: Option<Memory>,
    flood_after: Option<Memory>,
    flood_mb_per_s: Option<f64>,
    flood_ok: (usize, usize),
    /// The flood ended after the invocation did (the environment froze under it).
    flood_outlasted: bool,
    post_runtime_ms: Vec<f64>,
    exit_ms: Option<f64>,
    exit_killed: bool,
    emf_lines: usize,
}

fn flood_invocation_ms(args: &Args) -> u64 {
    (FLOOD_MS_PER_BATCH * args.flood_batches as u64).max(FLOOD_INVOCATION_MIN_MS)
}

fn config(args: &Args, with_layer: bool) -> Config {
    let mut c = Config::new(&args.bootstrap);
    if with_layer {
        c.layer_dir = Some(args.layer.clone());
        c.env
            .push((MAX_BYTES_VAR.0.to_owned(), MAX_BYTES_VAR.1.to_owned()));
        c.env.extend(args.env.iter().cloned());
    }
    c.timeout = Duration::from_millis(flood_invocation_ms(args) + 2_500);
    c
}

/// Post-runtime duration of each invocation: report durationMs − runtimeDone durationMs.
async fn invocations(sandbox: &mut Sandbox, n: usize) -> Result<Vec<f64>, BenchError> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let o = sandbox.invoke(json!({})).await?;
        if let Some(runtime) = o.runtime_duration_ms {
            out.push(o.duration_ms - runtime);
        }
    }
    Ok(out)
}

async fn layer_run(args: &Args, rng: &mut Rng) -> Result<LayerRun, BenchError> {
    let mut run = LayerRun::default();
    let extension = args.layer.join("extensions").join(EXTENSION);

    // Ready time with the listener host given (no `sandbox.localdomain` lookup).
    let mut c = config(args, true);
    c.env
        .push(("LAMBDA_LENS_LISTENER_HOST".to_owned(), "127.0.0.1".to_owned()));
    let mut sandbox = Sandbox::start(c).await?;
    run.ready_given_host_ms = ready_ms(&sandbox.telemetry());
    sandbox.shutdown(ShutdownReason::Spindown).await?;
    drop(sandbox);

    let mut sandbox = Sandbox::start(config(args, true)).await?;
    run.ready_ms = ready_ms(&sandbox.telemetry());
    let pid = child_running(&extension).ok_or_else(|| BenchError::NoProcess(extension.clone()))?;
    run.idle = memory(pid);
    run.post_runtime_ms = invocations(&mut sandbox, args.invocations).await?;
    run.idle_after_invocations = memory(pid);

    let target = sandbox
        .subscriptions()
        .into_iter()
        .find(|s| s.extension_name == EXTENSION)
        .map(|s| s.target)
        .ok_or(BenchError::NotSubscribed)?;
    let batches: Vec<Bytes> = (0..args.flood_batches).map(|_| flood_batch(rng).0).collect();
    let invoke = async {
        let outcome = sandbox
            .invoke(json!({"sleep_ms": flood_invocation_ms(args)}))
            .await;
        (outcome, Instant::now())
    };
    let flooding = async {
        // The invoke thaws the environment first.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let f = flood(&target, pid, &batches).await;
        (f, Instant::now())
    };
    let ((outcome, invoke_end), (f, flood_end)) = tokio::join!(invoke, flooding);
    outcome?;
    run.flood_outlasted = flood_end > invoke_end;
    drop(batches);
    run.flood_peak = Some(f.peak);
    run.flood_after = Some(f.after);
    run.flood_mb_per_s = Some(f.mb_per_s);
    run.flood_ok = (f.accepted, f.sent);

    let shutdown = sandbox.shutdown(ShutdownReason::Spindown).await?;
    if let Some(p) = shutdown.of(&Source::Extension(EXTENSION.to_owned())) {
        run.exit_ms = p.exited_after_shutdown.map(|d| d.as_secs_f64() * 1000.0);
        run.exit_killed = p.killed;
    }
    run.emf_lines = sandbox
        .output_of(&Source::Extension(EXTENSION.to_owned()))
        .iter()
        .filter(|l| l.stream == lambda_sandbox::Stream::Stdout)
        .count();
    Ok(run)
}

async fn baseline_run(args: &Args) -> Result<Vec<f64>, BenchError> {
    let mut sandbox = Sandbox::start(config(args, false)).await?;
    let out = invocations(&mut sandbox, args.invocations).await?;
    sandbox.shutdown(ShutdownReason::Spindown).await?;
    Ok(out)
}

/// Median, min, max.
fn stats(mut v: Vec<f64>) -> Option<(f64, f64, f64)> {
    v.retain(|x| x.is_finite());
    v.sort_by(f64::total_cmp);
    Some((*v.get(v.len() / 2)?, *v.first()?, *v.last()?))
}

fn percentile(v: &[f64], p: f64) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v.get(i).copied()
}

fn row(out: &mut String, what: &str, values: Vec<f64>, unit: &str, target: &str, limit: Option<f64>) {
    let Some((median, min, max)) = stats(values) else {
        let _ = writeln!(out, "| {what} | n/a | | {target} | not measured |");
        return;
    };
    let met = match limit {
        Some(l) if median <= l => "yes",
        Some(_) => "**no**",
        None => "—",
    };
    let _ = writeln!(
        out,
        "| {what} | {median:.2} {unit} | {min:.2}–{max:.2} | {target} | {met} |"
    );
}

/// Why a bench run stopped.
#[derive(Debug, thiserror::Error)]
enum BenchError {
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error("no running child process is {}", .0.display())]
    NoProcess(PathBuf),
    #[error("lambda-lens did not subscribe to telemetry")]
    NotSubscribed,
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

async fn bench(args: &Args) -> Result<String, BenchError> {
    let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15);
    let mut runs = Vec::new();
    let mut baseline: Vec<f64> = Vec::new();
    for i in 0..args.runs {
        eprintln!("lambda-lens-bench: run {} of {}", i + 1, args.runs);
        runs.push(layer_run(args, &mut rng).await?);
        baseline.extend(baseline_run(args).await?);
    }
    let collect = |f: &dyn Fn(&LayerRun) -> Option<f64>| runs.iter().filter_map(f).collect::<Vec<_>>();
    let post: Vec<f64> = runs
        .iter()
        .flat_map(|r| r.post_runtime_ms.iter().copied())
        .collect();

    let mut out = String::new();
    let extra: Vec<String> = args.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let _ = writeln!(
        out,
        "### lambda-lens in the local sandbox ({} runs; {} invocations per run with and without the layer; flood: {} × 1 MiB batches per run{}{})\n",
        args.runs,
        args.invocations,
        args.flood_batches,
        if extra.is_empty() { "" } else { "; extension env: " },
        extra.join(" ")
    );
    let _ = writeln!(out, "| measurement | median | min–max | target | met (median) |");
    let _ = writeln!(out, "|---|---:|---:|---|---|");
    row(
        &mut out,
        "ready: initStart → first /event/next (default: looks up sandbox.localdomain)",
        collect(&|r| r.ready_ms),
        "ms",
        "≤ 5 ms",
        Some(5.0),
    );
    row(
        &mut out,
        "ready, LAMBDA_LENS_LISTENER_HOST=127.0.0.1 (no lookup)",
        collect(&|r| r.ready_given_host_ms),
        "ms",
        "≤ 5 ms",
        Some(5.0),
    );
    row(
        &mut out,
        "idle RSS after init (VmRSS)",
        collect(&|r| r.idle.map(|m| mb(m.rss))),
        "MiB",
        "≤ 3 MB",
        Some(3.0),
    );
    row(
        &mut out,
        &format!("idle RSS after {} invocations", args.invocations),
        collect(&|r| r.idle_after_invocations.map(|m| mb(m.rss))),
        "MiB",
        "≤ 3 MB",
        Some(3.0),
    );
    row(
        &mut out,
        "peak RSS under the 1 MiB flood (VmHWM)",
        collect(&|r| r.flood_peak.map(|m| mb(m.hwm))),
        "MiB",
        "≤ 6 MB",
        Some(6.0),
    );
    row(
        &mut out,
        "RSS 100 ms after the flood",
        collect(&|r| r.flood_after.map(|m| mb(m.rss))),
        "MiB",
        "—",
        None,
    );
    row(
        &mut out,
        "flood intake over HTTP (decode, join, EMF to stdout)",
        collect(&|r| r.flood_mb_per_s),
        "MB/s",
        "—",
        None,
    );
    row(
        &mut out,
        "exit after SHUTDOWN",
        collect(&|r| r.exit_ms),
        "ms",
        "≤ 50 ms",
        Some(50.0),
    );
    row(
        &mut out,
        "post-runtime duration per invocation, with the layer",
        post.clone(),
        "ms",
        "≤ 1 ms",
        Some(1.0),
    );
    row(
        &mut out,
        "post-runtime duration per invocation, without the layer",
        baseline.clone(),
        "ms",
        "(sandbox floor)",
        None,
    );
    let _ = writeln!(out);
    let pct = |v: &[f64], p: f64| percentile(v, p).map_or("n/a".to_owned(), |x| format!("{x:.3} ms"));
    // The tail is what a function pays for: the share of invocations held more than 0.5 ms
    // after the response.
    let delayed = |v: &[f64]| {
        let n = v.iter().filter(|d| **d > 0.5).count();
        format!(
            "{n} of {} ({:.1} %)",
            v.len(),
            100.0 * n as f64 / v.len().max(1) as f64
        )
    };
    let _ = writeln!(
        out,
        "Post-runtime p95 / p99: {} / {} with the layer, {} / {} without; held more than 0.5 ms: {} with the layer, {} without.",
        pct(&post, 0.95),
        pct(&post, 0.99),
        pct(&baseline, 0.95),
        pct(&baseline, 0.99),
        delayed(&post),
        delayed(&baseline)
    );
    if let Some(r) = runs.first()
        && let (Some(idle), Some(peak)) = (r.idle, r.flood_peak)
    {
        let _ = writeln!(
            out,
            "Run 1 memory split: idle RssAnon {} kB + RssFile {} kB; after the flood RssAnon {} kB + RssFile {} kB.",
            idle.anon, idle.file, peak.anon, peak.file
        );
    }
    let accepted: usize = runs.iter().map(|r| r.flood_ok.0).sum();
    let sent: usize = runs.iter().map(|r| r.flood_ok.1).sum();
    let killed = runs.iter().filter(|r| r.exit_killed).count();
    let outlasted = runs.iter().filter(|r| r.flood_outlasted).count();
    let emf: usize = runs.iter().map(|r| r.emf_lines).sum();
    let _ = writeln!(
        out,
        "Flood batches accepted (HTTP 2xx): {accepted} of {sent}; EMF lines printed by the extension: {emf}; extensions SIGKILLed at shutdown: {killed}; runs whose flood outlasted its invocation (invalid flood numbers): {outlasted}."
    );
    Ok(out)
}

fn main() -> ExitCode {
    let Some(args) = parse_args() else {
        eprintln!(
            "usage: lambda-lens-bench --bootstrap PATH --layer DIR [--runs N] [--invocations N] [--flood-batches N] [--env NAME=VALUE]..."
        );
        return ExitCode::from(2);
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("lambda-lens-bench: could not start tokio: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(bench(&args)) {
        Ok(table) => {
            print!("{table}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("lambda-lens-bench: {err}");
            ExitCode::FAILURE
        }
    }
}
