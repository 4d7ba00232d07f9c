//! Telemetry decoding throughput (and the join + EMF encode path behind it), measured with
//! `std::time` only: `cargo bench -p lambda-lens --bench decode` (`make bench` runs it).
//!
//! The batches are generated here, shaped like what the Telemetry API delivers to a
//! platform-only subscriber: `platform.start` / `platform.runtimeDone` (metrics, three spans,
//! tracing) / `platform.report` per invocation, with an init trio and the extension and
//! subscription records of a cold start now and then, random v4 request ids and X-Ray trace ids.
//! One batch puts escapes in its strings (error types, versions), which the decoder has to
//! unescape into owned strings instead of borrowing.
//!
//! Each case: a warm-up, then `REPEATS` timed repeats of enough iterations to last about
//! `REPEAT_TARGET`; the table gives the median and the min/max over the repeats. MB are 10^6
//! bytes of request body. A counting allocator (on only while the heap columns are measured)
//! gives the bytes a batch needs on the heap: the peak during the call and what the result holds.
//!
//! "join+metrics+EMF" is the work behind the decoder alone, as CPU time of the benchmark's thread
//! (`CLOCK_THREAD_CPUTIME_ID`, so other processes on a shared machine do not count): batches
//! are decoded and pipelines built before the clock starts, then each batch is joined, turned
//! into metric records and encoded, and the pipeline finished (every open aggregate written).
//!
//! `LAMBDA_LENS_BENCH_CALLGRIND=N` skips the timing: it decodes the 1 MiB mix (the escaped batch
//! with `LAMBDA_LENS_BENCH_ESCAPED=1`) N times and runs [`join_metrics_emf`] on each, for
//! `valgrind --tool=callgrind --toggle-collect='*join_metrics_emf*'` (instruction counts,
//! repeatable on a busy machine), and reads the same body as the extension does, record by
//! record into the join and EMF ([`body_to_emf`]: `--toggle-collect='*body_to_emf*'`). With
//! `LAMBDA_LENS_BENCH_DENSE=1` it works N bodies of one invocation each instead, as a steady
//! stream delivers them ([`dense_stream`]).

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::indexing_slicing,
    reason = "a benchmark binary: its table is its output"
)]

use std::fmt::Write as _;
use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// When the test batches arrive: 2026-11-25T10:00:00Z, the time of their records.
const ARRIVED: i64 = 1_795_600_800_000;

use lambda_lens::{Batch, Config, Pipeline, Sink};
use lambda_lens_telemetry::decode_records;

/// Counts requested heap bytes while `ENABLED`; delegates to the system allocator.
#[allow(unsafe_code, reason = "a GlobalAlloc wrapper must implement an unsafe trait")]
mod heap {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering::Relaxed};

    pub(crate) struct Counting;

    static ENABLED: AtomicBool = AtomicBool::new(false);
    static CURRENT: AtomicIsize = AtomicIsize::new(0);
    static PEAK: AtomicIsize = AtomicIsize::new(0);

    fn add(delta: isize) {
        if ENABLED.load(Relaxed) {
            let now = CURRENT.fetch_add(delta, Relaxed) + delta;
            PEAK.fetch_max(now, Relaxed);
        }
    }

    // SAFETY: every call is passed unchanged to the system allocator.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: same contract as the caller's.
            let p = unsafe { System.alloc(layout) };
            if !p.is_null() {
                add(layout.size() as isize);
            }
            p
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: same contract as the caller's.
            unsafe { System.dealloc(ptr, layout) };
            add(-(layout.size() as isize));
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            // SAFETY: same contract as the caller's.
            let p = unsafe { System.realloc(ptr, layout, new_size) };
            if !p.is_null() {
                add(new_size as isize - layout.size() as isize);
            }
            p
        }
    }

    /// Runs `f` with counting on; returns its result, the peak bytes allocated above the
    /// start during the call, and the bytes still allocated when it returned.
    pub(crate) fn measure<T>(f: impl FnOnce() -> T) -> (T, usize, usize) {
        CURRENT.store(0, Relaxed);
        PEAK.store(0, Relaxed);
        ENABLED.store(true, Relaxed);
        let out = f();
        ENABLED.store(false, Relaxed);
        let held = CURRENT.load(Relaxed).max(0) as usize;
        (out, PEAK.load(Relaxed).max(0) as usize, held)
    }
}

#[global_allocator]
static ALLOCATOR: heap::Counting = heap::Counting;

const REPEATS: usize = 15;
const REPEAT_TARGET: Duration = Duration::from_millis(120);
const WARM_UP: Duration = Duration::from_millis(300);

/// xorshift64*: reproducible batches without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn hex(&mut self, out: &mut String, digits: usize) {
        for _ in 0..digits {
            let d = (self.next() >> 60) as u32;
            out.push(char::from_digit(d, 16).unwrap_or('0'));
        }
    }

    fn uuid_v4(&mut self) -> String {
        let mut s = String::with_capacity(36);
        self.hex(&mut s, 8);
        s.push('-');
        self.hex(&mut s, 4);
        s.push_str("-4");
        self.hex(&mut s, 3);
        s.push('-');
        s.push(['8', '9', 'a', 'b'][(self.next() >> 62) as usize]);
        self.hex(&mut s, 3);
        s.push('-');
        self.hex(&mut s, 12);
        s
    }

    /// `(spanId, X-Amzn-Trace-Id value)`.
    fn trace(&mut self) -> (String, String) {
        let mut span = String::with_capacity(16);
        self.hex(&mut span, 16);
        let mut value = String::from("Root=1-");
        self.hex(&mut value, 8);
        value.push('-');
        self.hex(&mut value, 24);
        let _ = write!(value, ";Parent={span};Sampled=1");
        (span, value)
    }

    /// A duration in ms with Lambda's three decimals, in `lo..hi`.
    fn ms(&mut self, lo: f64, hi: f64) -> f64 {
        let unit = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        ((lo + unit * (hi - lo)) * 1000.0).round() / 1000.0
    }
}

/// Writes `time` as Lambda does (`2026-11-25T10:00:00.123Z`), from ms since 10:00:00.
fn time(out: &mut String, ms: u64) {
    let (h, rest) = (ms / 3_600_000, ms % 3_600_000);
    let (m, rest) = (rest / 60_000, rest % 60_000);
    let (s, milli) = (rest / 1000, rest % 1000);
    let _ = write!(out, "2026-11-25T{:02}:{m:02}:{s:02}.{milli:03}Z", 10 + h);
}

struct Shape {
    /// Put escapes in error types and versions.
    escaped: bool,
}

struct Generated {
    body: Vec<u8>,
    records: u64,
    invocations: u64,
}

fn record(out: &mut String, clock: u64, kind: &str, body: &str) {
    out.push_str(if out.len() > 1 { ",\n" } else { "" });
    out.push_str("{\"time\":\"");
    time(out, clock);
    let _ = write!(out, "\",\"type\":\"{kind}\",\"record\":{body}}}");
}

fn cold_start(out: &mut String, clock: u64, rng: &mut Rng) -> u64 {
    let init_ms = rng.ms(80.0, 400.0);
    let info = r#""initializationType":"on-demand","phase":"init""#;
    record(
        out,
        clock,
        "platform.initStart",
        &format!(
            r#"{{{info},"runtimeVersion":"provided:al2023.v1","runtimeVersionArn":"arn:aws:lambda:us-east-1::runtime:0cdcfbdefbc5e7d3343f73c2e2dd3cba17d61dea0686b404502a0c9ce83931b9","functionName":"checkout-service","functionVersion":"$LATEST","instanceId":"2026/11/25/[$LATEST]{}","instanceMaxMemory":134217728}}"#,
            rng.uuid_v4().replace('-', "")
        ),
    );
    record(
        out,
        clock + 2,
        "platform.extension",
        r#"{"name":"lambda-lens","state":"Ready","events":["INVOKE","SHUTDOWN"]}"#,
    );
    record(
        out,
        clock + 3,
        "platform.telemetrySubscription",
        r#"{"name":"lambda-lens","state":"Subscribed","types":["platform"]}"#,
    );
    record(
        out,
        clock + 120,
        "platform.initRuntimeDone",
        &format!(r#"{{{info},"status":"success"}}"#),
    );
    record(
        out,
        clock + 121,
        "platform.initReport",
        &format!(r#"{{{info},"status":"success","metrics":{{"durationMs":{init_ms}}}}}"#),
    );
    clock + 125
}

fn invocation(out: &mut String, clock: u64, rng: &mut Rng, shape: &Shape, n: u64) -> u64 {
    let id = rng.uuid_v4();
    let (span, trace) = rng.trace();
    let tracing = format!(r#""tracing":{{"spanId":"{span}","type":"X-Amzn-Trace-Id","value":"{trace}"}}"#);
    let failed = shape.escaped || n % 20 == 7;
    let (status, error) = match (failed, shape.escaped) {
        (false, _) => ("success", String::new()),
        (true, false) => ("error", r#","errorType":"Runtime.HandlerError""#.to_owned()),
        (true, true) => (
            "error",
            r#","errorType":"Function.\"CardDeclined\"\\Payment\u00e9\/v2""#.to_owned(),
        ),
    };
    let version = if shape.escaped {
        r#"v\u00e9rsion-\"42\""#
    } else {
        "$LATEST"
    };
    let latency = rng.ms(0.5, 900.0);
    let response = rng.ms(0.05, 2.0);
    let overhead = rng.ms(0.2, 3.0);
    let runtime = ((latency + response + overhead) * 1000.0).round() / 1000.0;
    let total = ((runtime + rng.ms(0.05, 1.5)) * 1000.0).round() / 1000.0;
    let billed = total.ceil();
    let lat = latency as u64;

    record(
        out,
        clock,
        "platform.start",
        &format!(r#"{{"requestId":"{id}","version":"{version}",{tracing}}}"#),
    );
    let mut spans = String::new();
    let (mut t, mut span_start) = (clock, String::new());
    for (name, d) in [
        ("responseLatency", latency),
        ("responseDuration", response),
        ("runtimeOverhead", overhead),
    ] {
        span_start.clear();
        time(&mut span_start, t);
        let _ = write!(
            spans,
            r#"{}{{"name":"{name}","start":"{span_start}","durationMs":{d}}}"#,
            if spans.is_empty() { "" } else { "," }
        );
        t += d as u64;
    }
    record(
        out,
        clock + lat + 2,
        "platform.runtimeDone",
        &format!(
            r#"{{"requestId":"{id}","status":"{status}"{error},"metrics":{{"durationMs":{runtime},"producedBytes":{}}},"spans":[{spans}],{tracing}}}"#,
            rng.next() % 6000
        ),
    );
    let init = if n == 0 {
        format!(r#","initDurationMs":{}"#, rng.ms(80.0, 400.0))
    } else {
        String::new()
    };
    record(
        out,
        clock + lat + 3,
        "platform.report",
        &format!(
            r#"{{"requestId":"{id}","status":"{status}"{error},"metrics":{{"durationMs":{total},"billedDurationMs":{billed},"memorySizeMB":512,"maxMemoryUsedMB":{}{init}}},{tracing}}}"#,
            60 + rng.next() % 200
        ),
    );
    clock + lat + 5
}

/// A batch of about `target` bytes.
fn generate(target: usize, seed: u64, shape: &Shape) -> Generated {
    let mut rng = Rng(seed | 1);
    let mut out = String::with_capacity(target + 4096);
    out.push('[');
    let (mut clock, mut records, mut invocations) = (0u64, 0u64, 0u64);
    while out.len() < target.saturating_sub(2048) {
        if invocations % 64 == 0 {
            clock = cold_start(&mut out, clock, &mut rng);
            records += 5;
        }
        clock = invocation(&mut out, clock, &mut rng, shape, invocations % 64);
        records += 3;
        invocations += 1;
    }
    out.push(']');
    Generated {
        body: out.into_bytes(),
        records,
        invocations,
    }
}

/// Median, min and max of the repeats.
struct Spread {
    median: f64,
    min: f64,
    max: f64,
}

fn spread(mut v: Vec<f64>) -> Spread {
    v.sort_by(f64::total_cmp);
    let median = if v.is_empty() { 0.0 } else { v[v.len() / 2] };
    Spread {
        median,
        min: v.first().copied().unwrap_or(0.0),
        max: v.last().copied().unwrap_or(0.0),
    }
}

/// Runs `f` for the warm-up, then `REPEATS` repeats; returns seconds per iteration of each.
fn measure(mut f: impl FnMut()) -> Vec<f64> {
    let start = Instant::now();
    let mut warm = 0u32;
    while start.elapsed() < WARM_UP || warm < 3 {
        f();
        warm += 1;
    }
    let per = start.elapsed().as_secs_f64() / f64::from(warm);
    let iterations = ((REPEAT_TARGET.as_secs_f64() / per).ceil() as u32).max(3);
    (0..REPEATS)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iterations {
                f();
            }
            t.elapsed().as_secs_f64() / f64::from(iterations)
        })
        .collect()
}

/// Buffers documents as the stdout sink does (one line each, written on flush), without
/// writing them anywhere: the encode path and its output buffer, without the I/O.
#[derive(Default)]
struct BufferSink {
    documents: u64,
    buffer: Vec<u8>,
}

impl Sink for BufferSink {
    fn accept(&mut self, document: String) {
        self.documents += 1;
        self.buffer.extend_from_slice(document.as_bytes());
        self.buffer.push(b'\n');
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        self.buffer.clear();
        Ok(())
    }
}

fn pipeline() -> Pipeline<BufferSink> {
    let (config, _) = Config::from_lookup(&|name| {
        (name == "AWS_LAMBDA_FUNCTION_NAME").then(|| "checkout-service".to_owned())
    });
    Pipeline::from_config(&config, BufferSink::default())
}

/// CPU time of this thread so far, in nanoseconds (`CLOCK_THREAD_CPUTIME_ID`, exact: the
/// running thread's `/proc/thread-self/schedstat` lags by up to a scheduler tick, which made
/// short repeats come out in whole ticks).
fn thread_cpu_ns() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map(|t| u64::try_from(std::time::Duration::from(t).as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Batches per timed repeat of join+metrics+EMF (each decoded beforehand).
const PIPELINE_BATCHES: usize = 8;

/// Join, metric records and EMF for one decoded batch, then the pipeline's end (every open
/// aggregate and window written): what an invocation costs behind the decoder.
#[inline(never)]
fn join_metrics_emf(mut p: Pipeline<BufferSink>, batch: Batch) -> Pipeline<BufferSink> {
    p.on_batch(batch, 0);
    p.finish("spindown", ARRIVED, 0);
    p
}

/// A delivered body read, joined and written, then the pipeline's end: the extension's whole
/// path for one batch (for `--toggle-collect='*body_to_emf*'`).
#[inline(never)]
fn body_to_emf(mut p: Pipeline<BufferSink>, body: Vec<u8>) -> Pipeline<BufferSink> {
    p.on_body(body, ARRIVED, 0);
    p.finish("spindown", ARRIVED, 0);
    p
}

/// CPU seconds per batch of join+metrics+EMF, one figure per repeat.
fn measure_pipeline(body: &[u8]) -> Vec<f64> {
    let run = |n: usize| {
        let work: Vec<_> = (0..n)
            .map(|_| (pipeline(), Batch::decode(body, ARRIVED)))
            .collect();
        let start = thread_cpu_ns();
        let done: Vec<_> = work
            .into_iter()
            .map(|(p, b)| join_metrics_emf(black_box(p), b))
            .collect();
        let cpu = thread_cpu_ns().saturating_sub(start);
        black_box(done.iter().map(|p| p.sink().documents).sum::<u64>());
        cpu as f64 / 1e9 / n as f64
    };
    run(3);
    (0..REPEATS).map(|_| run(PIPELINE_BATCHES)).collect()
}

/// Bodies of one invocation each (its start, runtimeDone and report), as Lambda delivers them
/// under a steady stream of short invocations at 25 ms buffering.
fn dense_bodies(count: usize) -> Vec<Vec<u8>> {
    let mut rng = Rng(0x5eed_d005);
    let mut clock = 0;
    (0..count as u64)
        .map(|n| {
            let mut out = String::from("[");
            if n == 0 {
                clock = cold_start(&mut out, clock, &mut rng);
            }
            clock = invocation(&mut out, clock, &mut rng, &Shape { escaped: false }, n);
            out.push(']');
            out.into_bytes()
        })
        .collect()
}

/// Each body delivered and worked on its own, in turn, by one pipeline, then its end (for
/// `--toggle-collect='*dense_stream*'`).
#[inline(never)]
fn dense_stream(mut p: Pipeline<BufferSink>, bodies: Vec<Vec<u8>>) -> Pipeline<BufferSink> {
    for body in bodies {
        p.on_body(body, ARRIVED, 0);
    }
    p.finish("spindown", ARRIVED, 0);
    p
}

fn callgrind(runs: usize) -> ExitCode {
    if std::env::var_os("LAMBDA_LENS_BENCH_DENSE").is_some() {
        let bodies = dense_bodies(runs);
        let p = dense_stream(pipeline(), bodies);
        println!(
            "{runs} bodies of one invocation: {} documents",
            p.sink().documents
        );
        return ExitCode::SUCCESS;
    }
    let escaped = std::env::var_os("LAMBDA_LENS_BENCH_ESCAPED").is_some();
    let g = generate(1 << 20, 0x5eed_0000, &Shape { escaped });
    let mut documents = 0;
    for _ in 0..runs {
        let (p, b) = (pipeline(), Batch::decode(&g.body, ARRIVED));
        documents += join_metrics_emf(p, b).sink().documents;
        let delivered = g.body.clone();
        documents += body_to_emf(pipeline(), delivered).sink().documents;
    }
    let batch = if escaped { "escaped" } else { "mix" };
    println!(
        "{runs} × 1 MiB {batch}: {} invocations each, {documents} documents in all",
        g.invocations
    );
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    if let Some(runs) = std::env::var("LAMBDA_LENS_BENCH_CALLGRIND")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        return callgrind(runs);
    }
    let cases = [
        ("1 MiB, platform mix", 1 << 20, Shape { escaped: false }),
        ("256 KiB, platform mix", 256 << 10, Shape { escaped: false }),
        ("1 MiB, escaped strings", 1 << 20, Shape { escaped: true }),
    ];
    let profile = std::env::var("LAMBDA_LENS_BENCH_PROFILE").unwrap_or_else(|_| "bench profile".to_owned());
    println!("### Telemetry decoding throughput ({profile})\n");
    println!(
        "{REPEATS} repeats of ~{} ms after a {} ms warm-up; MB = 10^6 bytes of request body.\n",
        REPEAT_TARGET.as_millis(),
        WARM_UP.as_millis()
    );
    println!(
        "| batch | bytes | records | decode into borrowing structs MB/s median (min–max) | decode to owned events MB/s median (min–max) | records/s median (owned) | decode+join+EMF MB/s median (min–max; a delivered body read record by record, as the extension does) | µs per invocation (decode+join+EMF) | **join+metrics+EMF CPU µs per invocation** median (min–max) | heap: decode peak / result held / decode+join+EMF peak (KiB) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut failed = false;
    for (i, (label, size, shape)) in cases.iter().enumerate() {
        let g = generate(*size, 0x5eed_0000 + i as u64, shape);
        let check = Batch::decode(&g.body, ARRIVED);
        let stats = check.stats();
        if stats.records != g.records || stats.used + stats.ignored != g.records {
            eprintln!("{label}: the generated batch did not decode cleanly: {stats:?}");
            failed = true;
            continue;
        }
        let mut p = pipeline();
        p.on_batch(check, 0);
        if p.stats().invocations != g.invocations {
            eprintln!(
                "{label}: {} invocations generated, {} emitted",
                g.invocations,
                p.stats().invocations
            );
            failed = true;
        }

        let (decoded, decode_peak, decode_held) = heap::measure(|| Batch::decode(&g.body, ARRIVED));
        drop(decoded);
        // The extension's own path: the delivered body read record by record as it is joined.
        // A body of its own buffer, as the listener's joined frames are (the pipeline then keeps
        // it as text without a copy); made before the heap is counted.
        let delivered = g.body.clone();
        let ((), full_peak, _) = heap::measure(move || {
            let mut p = pipeline();
            p.on_body(delivered, ARRIVED, 0);
            black_box(p.sink().documents);
        });

        let bytes = g.body.len() as f64;
        let borrowed = measure(|| {
            black_box(decode_records(black_box(&g.body)));
        });
        let decode = measure(|| {
            black_box(Batch::decode(black_box(&g.body), ARRIVED));
        });
        let full = measure(|| {
            // A new pipeline per batch: the join remembers request ids and would drop a
            // redelivered batch as duplicates.
            // (The copy of the body is counted with it.)
            let mut p = pipeline();
            p.on_body(black_box(g.body.clone()), ARRIVED, 0);
            black_box(p.sink().documents);
        });
        let behind = spread(
            measure_pipeline(&g.body)
                .iter()
                .map(|s| s * 1e6 / g.invocations as f64)
                .collect(),
        );
        let mbs = |v: &[f64]| spread(v.iter().map(|s| bytes / s / 1e6).collect());
        let b = mbs(&borrowed);
        let d = mbs(&decode);
        let f = mbs(&full);
        let records_per_s = g.records as f64 / spread(decode.clone()).median;
        let us_per_invocation = spread(full).median * 1e6 / g.invocations as f64;
        println!(
            "| {label} | {} | {} | **{:.0}** ({:.0}–{:.0}) | {:.0} ({:.0}–{:.0}) | {:.2} M | {:.0} ({:.0}–{:.0}) | {:.2} | **{:.2}** ({:.2}–{:.2}) | {} / {} / {} |",
            g.body.len(),
            g.records,
            b.median,
            b.min,
            b.max,
            d.median,
            d.min,
            d.max,
            records_per_s / 1e6,
            f.median,
            f.min,
            f.max,
            us_per_invocation,
            behind.median,
            behind.min,
            behind.max,
            decode_peak / 1024,
            decode_held / 1024,
            full_peak / 1024,
        );
    }
    println!();
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
