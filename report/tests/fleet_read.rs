//! How `lambda-lens-report` reads CloudWatch, against ministack behind the suites' proxy
//! (`common::proxy`), which plays what ministack does not (pages, partial and failed results,
//! throttled pages) and times ministack's answers: discovery paged by function and skipped for
//! named functions, lambda-lens's stand-ins for a function without `AWS/Lambda` data, no row for
//! a function with only `AWS/Lambda` data, every page of `GetMetricData` followed and what it
//! says beside the figures reported, a throttled page retried within the run's budget, the
//! periods of old windows, and the scale: 2,000 functions, the report's own time and its peak
//! memory.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly"
)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use common::ministack::Ministack;
use common::proxy::{Cbor, Play, Proxy};
use common::{env_refs, report, stderr, stdout};

fn datum(metric: &str, function: &str, at: i64, pairs: &[(f64, usize)]) -> Value {
    let pairs: Vec<&(f64, usize)> = pairs.iter().filter(|(_, c)| *c > 0).collect();
    json!({"metric": metric, "function": function, "timestamp": at,
           "values": pairs.iter().map(|(v, _)| *v).collect::<Vec<_>>(),
           "counts": pairs.iter().map(|(_, c)| *c as f64).collect::<Vec<_>>()})
}

/// lambda-lens's default metrics of `n` invocations of a 256 MB function, `cold` of them cold.
fn lens(name: &str, at: i64, n: usize, cold: usize, out: &mut Vec<Value>) {
    out.push(datum("ColdStarts", name, at, &[(1.0, cold), (0.0, n - cold)]));
    out.push(datum("Timeouts", name, at, &[(0.0, n)]));
    out.push(datum("OutOfMemory", name, at, &[(0.0, n)]));
    out.push(datum("MaxMemoryUsed", name, at, &[(100.0, n)]));
    out.push(datum(
        "MemoryUtilization",
        name,
        at,
        &[(100.0 / 256.0 * 100.0, n)],
    ));
    out.push(datum("EstimatedCost", name, at, &[(1e-6, n)]));
}

/// `AWS/Lambda`'s figures of `n` invocations, `errors` of them failed, each `ms` long.
fn lambda(name: &str, at: i64, n: usize, errors: usize, ms: f64, out: &mut Vec<Value>) {
    out.push(datum("Invocations", name, at, &[(1.0, n)]));
    out.push(datum("Errors", name, at, &[(1.0, errors), (0.0, n - errors)]));
    out.push(datum("Duration", name, at, &[(ms, n)]));
}

/// The hour before the last whole minute.
fn window() -> (i64, i64) {
    let end = chrono::Utc::now().timestamp() / 60 * 60;
    (end - 3600, end)
}

fn rfc(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0).unwrap().to_rfc3339()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

fn run(url: &str, (start, end): (i64, i64), args: &[&str]) -> std::process::Output {
    let env = local_cloudwatch::env_for(url);
    let (start, end) = (rfc(start), rfc(end));
    let mut all: Vec<&str> = vec!["--start", &start, "--end", &end];
    all.extend_from_slice(args);
    report(&all, &env_refs(&env))
}

fn json_of(out: &std::process::Output) -> Value {
    assert!(out.status.success(), "{}{}", stderr(out), stdout(out));
    serde_json::from_str(&stdout(out)).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
}

fn names(out: &Value) -> Vec<String> {
    out["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["function"].as_str().unwrap().to_owned())
        .collect()
}

fn row<'a>(out: &'a Value, name: &str) -> &'a Value {
    out["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["function"] == name)
        .unwrap_or_else(|| panic!("no row {name}: {out:#}"))
}

fn notes(out: &Value) -> Vec<String> {
    out["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_owned())
        .collect()
}

/// Twelve functions with six lambda-lens metrics each: 72 metrics, 12 of them ColdStarts.
/// ListMetrics in pages of 5 takes 3 pages when it lists ColdStarts (one metric a function),
/// 15 when it lists every metric; named functions take none.
#[test]
#[ignore = "needs the local CloudWatch (.venv-cloudwatch): make test runs it"]
fn discovery_pages_by_function_and_named_functions_skip_it() {
    let ms = Ministack::start();
    let w = window();
    let (mut aws, mut ll) = (Vec::new(), Vec::new());
    let all: Vec<String> = (0..12).map(|i| format!("page-{i:02}")).collect();
    for name in &all {
        lens(name, w.0 + 600, 10, 1, &mut ll);
        lambda(name, w.0 + 600, 10, 0, 20.0, &mut aws);
    }
    ms.seed(&[], &json!({"AWS/Lambda": aws, "LambdaLens": ll}));
    let rt = runtime();
    let proxy = rt.block_on(Proxy::start(
        ms.addr(),
        Play {
            list_metrics_page: Some(5),
            ..Play::default()
        },
    ));
    let out = json_of(&run(
        &proxy.endpoint_url(),
        w,
        &["--all", "--json", "--sort", "name"],
    ));
    assert_eq!(names(&out), all, "every page followed");
    assert_eq!(out["requests"]["listMetrics"], 3, "{:#}", out["requests"]);
    assert_eq!(proxy.requests("ListMetrics"), 3);
    let asked = proxy.bodies("ListMetrics");
    assert!(
        asked
            .iter()
            .all(|b| b.get("MetricName").and_then(Cbor::text) == Some("ColdStarts")),
        "{asked:?}"
    );
    let out = json_of(&run(
        &proxy.endpoint_url(),
        w,
        &["--all", "--json", "--functions", "page-03,page-07"],
    ));
    assert_eq!(names(&out).len(), 2);
    assert_eq!(
        out["requests"]["listMetrics"], 0,
        "named functions are not looked for"
    );
    assert_eq!(proxy.requests("ListMetrics"), 3);
}

/// A function lambda-lens reports on but AWS/Lambda has nothing for: its invocations are the
/// ColdStarts samples, its errors lambda-lens's Errors + Timeouts, its p99 lambda-lens's
/// Duration, and a note says so. A function with only AWS/Lambda data in the window (its
/// lambda-lens data is two days older) gets no row.
#[test]
#[ignore = "needs the local CloudWatch (.venv-cloudwatch): make test runs it"]
fn lambda_lens_stands_in_for_aws_lambda_and_aws_lambda_alone_makes_no_row() {
    let ms = Ministack::start();
    let w = window();
    let at = w.0 + 900;
    let (mut aws, mut ll) = (Vec::new(), Vec::new());
    lens("both", at, 10, 1, &mut ll);
    lambda("both", at, 10, 1, 30.0, &mut aws);
    // lens-only: 20 invocations, 2 cold, 3 errors and 1 timeout, durations 10..200 ms.
    lens("lens-only", at, 20, 2, &mut ll);
    ll.retain(|d| !(d["function"] == "lens-only" && d["metric"] == "Timeouts"));
    ll.push(datum("Timeouts", "lens-only", at, &[(1.0, 1), (0.0, 19)]));
    ll.push(datum("Errors", "lens-only", at, &[(1.0, 3), (0.0, 17)]));
    let durations: Vec<f64> = (1..=20).map(|i| f64::from(i) * 10.0).collect();
    ll.push(
        json!({"metric": "Duration", "function": "lens-only", "timestamp": at,
                   "values": durations, "counts": vec![1.0; 20]}),
    );
    // aws-only: lambda-lens two days before the window, AWS/Lambda in it.
    lens("aws-only", w.0 - 2 * 86_400, 5, 1, &mut ll);
    lambda("aws-only", at, 50, 5, 40.0, &mut aws);
    ms.seed(&[], &json!({"AWS/Lambda": aws, "LambdaLens": ll}));

    let out = json_of(&run(&ms.url(), w, &["--all", "--json", "--sort", "name"]));
    assert_eq!(names(&out), ["both", "lens-only"], "{:#}", out["notes"]);
    let r = row(&out, "lens-only");
    assert_eq!(r["invocations"], 20, "{r:#}");
    assert_eq!(r["errors"], 4, "lambda-lens's errors and timeouts: {r:#}");
    assert_eq!(r["errorRatePercent"], 20.0);
    assert_eq!(r["coldStartPercent"], 10.0);
    // p99 of 10, 20 .. 200 ms, interpolated between the two nearest ranks.
    let p99 = 190.0 + 0.81 * 10.0;
    assert!((r["p99DurationMs"].as_f64().unwrap() - p99).abs() < 1e-6, "{r:#}");
    let said = notes(&out);
    assert!(
        said.iter()
            .any(|n| n.starts_with("lens-only: AWS/Lambda has no data")
                && n.contains("ColdStarts samples")
                && n.contains("LambdaLens Errors + Timeouts")
                && n.contains("duration: LambdaLens Duration")),
        "{said:#?}"
    );
    assert!(!said.iter().any(|n| n.starts_with("both:")), "{said:#?}");

    let out = json_of(&run(
        &ms.url(),
        w,
        &["--all", "--json", "--functions", "aws-only,both"],
    ));
    assert_eq!(names(&out), ["both"]);
    assert!(
        notes(&out)
            .iter()
            .any(|n| n.starts_with("aws-only: no lambda-lens data in the window")),
        "{:#}",
        out["notes"]
    );
}

/// Three functions with data in several minutes of the window.
fn three(ms: &Ministack, w: (i64, i64)) {
    let (mut aws, mut ll) = (Vec::new(), Vec::new());
    for (i, name) in ["st-a", "st-b", "st-c"].iter().enumerate() {
        for minute in 0..5 {
            let at = w.0 + 600 + 60 * minute;
            lens(name, at, 4 + i, 1, &mut ll);
            lambda(name, at, 4 + i, i, 10.0 * (minute + 1) as f64, &mut aws);
        }
    }
    ms.seed(&[], &json!({"AWS/Lambda": aws, "LambdaLens": ll}));
}

/// GetMetricData answers over pages (values spread, PartialData until the last) read whole by
/// the fleet and the single report; a result CloudWatch could not compute, a message, and
/// PartialData on the last page are said in the notes.
#[test]
#[ignore = "needs the local CloudWatch (.venv-cloudwatch): make test runs it"]
fn get_metric_data_pages_are_followed_and_what_they_say_is_reported() {
    let ms = Ministack::start();
    let w = window();
    three(&ms, w);
    let rt = runtime();
    let direct = json_of(&run(&ms.url(), w, &["--all", "--json"]));
    let single = json_of(&run(&ms.url(), w, &["--function", "st-b", "--json"]));
    let proxy = rt.block_on(Proxy::start(
        ms.addr(),
        Play {
            get_metric_data_pages: Some(3),
            ..Play::default()
        },
    ));
    let paged = json_of(&run(&proxy.endpoint_url(), w, &["--all", "--json"]));
    assert_eq!(paged["rows"], direct["rows"]);
    assert_eq!(paged["requests"]["getMetricData"], 3, "one call, three pages");
    assert!(notes(&paged).is_empty(), "{:#}", paged["notes"]);
    let single_paged = json_of(&run(&proxy.endpoint_url(), w, &["--function", "st-b", "--json"]));
    for member in [
        "invocations",
        "errors",
        "duration",
        "memory",
        "init",
        "cost",
        "series",
    ] {
        assert_eq!(single_paged[member], single[member], "{member}");
    }

    proxy.set(Play {
        internal_error_id: Some("f0k0".into()),
        message: Some(("MaxQueryTimeRangeExceed".into(), "the query took too long".into())),
        ..Play::default()
    });
    let out = json_of(&run(&proxy.endpoint_url(), w, &["--all", "--json"]));
    let said = notes(&out);
    assert!(
        said.iter().any(|n| n.starts_with(
            "st-a: AWS/Lambda Invocations Sum: CloudWatch could not compute it (InternalError)"
        )),
        "{said:#?}"
    );
    assert!(
        said.iter()
            .any(|n| n.starts_with("GetMetricData said MaxQueryTimeRangeExceed: the query took too long")),
        "{said:#?}"
    );
    proxy.set(Play {
        internal_error_id: Some("s0".into()),
        ..Play::default()
    });
    let out = json_of(&run(&proxy.endpoint_url(), w, &["--function", "st-a", "--json"]));
    let said: Vec<&str> = out["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(
        said.iter()
            .any(|n| n.starts_with("AWS/Lambda Invocations Sum: CloudWatch could not compute it")),
        "{said:#?}"
    );
    proxy.set(Play {
        partial_without_token: true,
        ..Play::default()
    });
    let out = json_of(&run(&proxy.endpoint_url(), w, &["--all", "--json"]));
    assert!(
        notes(&out)
            .iter()
            .any(|n| n.contains("(PartialData) and no next page")),
        "{:#}",
        out["notes"]
    );
}

/// A throttled GetMetricData page is asked for again (not the call from its first page), and
/// the run's budget of 20 retries ends a run throttled page after page.
#[test]
#[ignore = "needs the local CloudWatch (.venv-cloudwatch): make test runs it"]
fn a_throttled_page_is_retried_and_the_run_budget_ends_a_throttled_run() {
    let ms = Ministack::start();
    let w = window();
    three(&ms, w);
    let direct = json_of(&run(&ms.url(), w, &["--all", "--json"]));
    let rt = runtime();
    // Every other GetMetricData request throttled: each of the three pages once.
    let proxy = rt.block_on(Proxy::start(
        ms.addr(),
        Play {
            get_metric_data_pages: Some(3),
            throttle: Some(("GetMetricData".into(), 1, 1)),
            ..Play::default()
        },
    ));
    let out = json_of(&run(&proxy.endpoint_url(), w, &["--all", "--json"]));
    assert_eq!(out["rows"], direct["rows"]);
    assert_eq!(out["requests"]["throttledRetries"], 3);
    assert_eq!(proxy.throttled("GetMetricData"), 3);
    assert_eq!(proxy.requests("GetMetricData"), 6);
    let tokens: Vec<Option<String>> = proxy
        .bodies("GetMetricData")
        .iter()
        .map(|b| b.get("NextToken").and_then(Cbor::text).map(str::to_owned))
        .collect();
    assert_eq!(tokens[2], tokens[3], "the throttled page is asked for again");
    assert!(tokens[2].is_some());

    // 25 pages, each throttled once: 20 retries, then the budget is spent.
    proxy.set(Play {
        get_metric_data_pages: Some(25),
        throttle: Some(("GetMetricData".into(), 1, 1)),
        ..Play::default()
    });
    let out = run(&proxy.endpoint_url(), w, &["--all"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("GetMetricData stayed throttled after 20 retries"),
        "{}",
        stderr(&out)
    );
}

/// The periods of every GetMetricData query of a window, as the proxy saw them.
fn periods(proxy: &Proxy) -> Vec<u64> {
    proxy
        .bodies("GetMetricData")
        .iter()
        .flat_map(|b| {
            b.get("MetricDataQueries")
                .map(|q| q.items().to_vec())
                .unwrap_or_default()
        })
        .filter_map(|q| match q.get("MetricStat")?.get("Period")? {
            Cbor::U(n) => Some(*n),
            _ => None,
        })
        .collect()
}

/// A window starting 20 days back is read in multiples of 5 minutes, 70 days back of an hour
/// (CloudWatch answers shorter periods there with no data point), by both reports.
#[test]
#[ignore = "needs the local CloudWatch (.venv-cloudwatch): make test runs it"]
fn old_windows_are_read_in_the_periods_cloudwatch_keeps() {
    let ms = Ministack::start();
    let rt = runtime();
    let now = chrono::Utc::now().timestamp() / 60 * 60;
    for (days, multiple) in [(20, 300), (70, 3600)] {
        let proxy = rt.block_on(Proxy::start(ms.addr(), Play::default()));
        let start = now - days * 86_400;
        // 91 minutes: a whole-window period of 5,460 s is a multiple of neither.
        let w = (start, start + 91 * 60);
        let _ = run(&proxy.endpoint_url(), w, &["--function", "gone"]);
        let _ = run(&proxy.endpoint_url(), w, &["--all", "--functions", "gone"]);
        let seen = periods(&proxy);
        assert!(seen.len() > 12, "{seen:?}");
        assert!(
            seen.iter().all(|p| p % multiple == 0),
            "{days} days back: {seen:?}"
        );
    }
}

/// Runs the report under `python`, which waits for it and writes the report's peak resident
/// memory (its rusage, KiB) to `rss_file`.
const RUSAGE: &str = "import resource, subprocess, sys\n\
r = subprocess.run(sys.argv[2:])\n\
open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n\
sys.exit(r.returncode)\n";

/// What a run of the report took: its output, its peak resident memory (KiB) and wall time.
fn measured(args: &[&str], url: &str) -> (std::process::Output, i64, Duration) {
    let env = local_cloudwatch::env_for(url);
    let rss_file = common::scratch("fleet-rss").join("rss");
    let mut cmd = Command::new(local_cloudwatch::venv().join("bin/python"));
    cmd.arg("-c")
        .arg(RUSAGE)
        .arg(&rss_file)
        .arg(env!("CARGO_BIN_EXE_lambda-lens-report"))
        .args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    let home = common::workspace().join("target/report-tests/empty-home");
    std::fs::create_dir_all(&home).unwrap();
    cmd.env("HOME", &home)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", home.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("credentials"));
    for (k, v) in &env {
        cmd.env(k, v);
    }
    let began = Instant::now();
    let output = cmd.output().unwrap();
    let took = began.elapsed();
    let rss = std::fs::read_to_string(&rss_file)
        .unwrap_or_else(|e| panic!("{e}: {}", stderr(&output)))
        .trim()
        .parse()
        .unwrap();
    (output, rss, took)
}

/// A fleet of `n` functions, each with `points` data points a metric in the window.
fn seed_bulk(ms: &Ministack, w: (i64, i64), n: usize, points: usize) {
    let (mut aws, mut ll) = (Vec::new(), Vec::new());
    for i in 0..n {
        let name = format!("bulk-{i:04}");
        for p in 0..points {
            let at = w.0 + 60 * (p as i64 % 60);
            aws.push(datum("Invocations", &name, at, &[(1.0, 10 + i % 50)]));
            ll.push(datum("ColdStarts", &name, at, &[(1.0, 1), (0.0, 9 + i % 50)]));
        }
    }
    ms.seed(&[], &json!({"AWS/Lambda": aws, "LambdaLens": ll}));
}

/// The fleet report of `n` functions through the timing proxy: (requests, total, upstream,
/// own time, peak RSS KiB).
fn bulk_run(n: usize, points: usize) -> (u64, Duration, Duration, Duration, i64) {
    let ms = Ministack::start();
    let w = window();
    seed_bulk(&ms, w, n, points);
    let rt = runtime();
    let proxy = rt.block_on(Proxy::start(ms.addr(), Play::default()));
    let (start, end) = (rfc(w.0), rfc(w.1));
    let (out, rss, took) = measured(
        &["--all", "--json", "--start", &start, "--end", &end],
        &proxy.endpoint_url(),
    );
    let out = json_of(&out);
    assert_eq!(out["totals"]["functions"], n);
    let invocations: usize = (0..n).map(|i| (10 + i % 50) * points).sum();
    assert_eq!(out["totals"]["invocations"], invocations);
    let calls = n.div_ceil(500 / 12);
    assert_eq!(out["requests"]["getMetricData"], calls);
    assert_eq!(out["requests"]["listMetrics"], 1, "ministack lists in one page");
    assert_eq!(
        proxy.all_requests(),
        1 + calls as u64,
        "the requests the proxy saw"
    );
    let upstream = proxy.upstream();
    (
        proxy.all_requests(),
        took,
        upstream,
        took.saturating_sub(upstream),
        rss,
    )
}

/// 2,000 functions in ⌈2000 ÷ 41⌉ = 49 GetMetricData calls and one ListMetrics, the report's
/// own time (the run's, less the time ministack took to answer: it scans every metric it holds
/// for each query, which CloudWatch does not) under a minute; the peak memory grows with the
/// functions, not with their data points (200 functions with 1 and with 30 points a metric).
#[test]
#[ignore = "needs the local CloudWatch (.venv-cloudwatch): make test runs it"]
fn two_thousand_functions_in_a_bounded_number_of_requests_and_time() {
    let mut lines = Vec::new();
    let mut rss = Vec::new();
    for (n, points) in [(200, 1), (200, 30), (2000, 1)] {
        let (requests, total, upstream, own, peak) = bulk_run(n, points);
        let line = format!(
            "{n} functions, {points} point(s) a metric: {requests} requests, {:.1} s in all, {:.1} s waiting on \
             the local CloudWatch, {:.1} s the report's own, peak RSS {:.1} MiB",
            total.as_secs_f64(),
            upstream.as_secs_f64(),
            own.as_secs_f64(),
            peak as f64 / 1024.0
        );
        println!("{line}");
        assert!(own < Duration::from_secs(60), "{line}");
        lines.push(line);
        rss.push(peak);
    }
    // Thirty times the data points: the same memory (within 10 %), each query one value.
    assert!(
        (rss[1] as f64) < rss[0] as f64 * 1.1,
        "memory grew with the data points: {lines:#?}"
    );
    let dir = common::workspace().join("target/report-tests");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("fleet-scale.txt"), lines.join("\n") + "\n").unwrap();
}
