//! The default output, end to end: the real extension and sample function in the sandbox, in
//! the adaptive mode with the default metrics, and what that costs against the other modes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly"
)]

mod binaries;

use lambda_lens_harness::cost;
use lambda_lens_harness::demo::{self, DemoConfig, DemoReport, Step};
use serde_json::Value;

fn config(env: &[(&str, &str)]) -> DemoConfig {
    binaries::demo_config(env)
}

async fn run(c: &DemoConfig, steps: &[Step]) -> DemoReport {
    let report = demo::run(c, steps).await.expect("sandbox run");
    assert!(report.invalid.is_empty(), "invalid EMF: {:?}", report.invalid);
    assert!(report.stray_stdout.is_empty(), "{:?}", report.stray_stdout);
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built layer (make layer): make test runs it"]
async fn adaptive_output_finds_every_notable_invocation_and_counts_each_once() {
    // The default, plus `Invocations` as a metric so the count can be read from every document.
    let report = run(
        &config(&[("LAMBDA_LENS_METRICS", "default,Invocations")]),
        &demo::scenario(),
    )
    .await;
    for label in [
        "cold start",
        "error",
        "timeout",
        "after timeout",
        "out of memory",
        "after OOM",
    ] {
        let step = report.steps.iter().find(|s| s.label == label).unwrap();
        assert_eq!(
            step.reported.len(),
            1,
            "{label}: one document of its own, found by request id"
        );
    }
    assert!(report.steps.iter().all(|s| s.reported.len() <= 1));
    let docs = report.documents();
    let counted: f64 = docs.iter().filter_map(|d| demo::metric(d, "Invocations")).sum();
    assert_eq!(
        counted,
        report.steps.len() as f64,
        "every invocation counted once"
    );
    let timeouts: f64 = docs.iter().filter_map(|d| demo::metric(d, "Timeouts")).sum();
    let oom: f64 = docs.iter().filter_map(|d| demo::metric(d, "OutOfMemory")).sum();
    let cold: f64 = docs.iter().filter_map(|d| demo::metric(d, "ColdStarts")).sum();
    assert_eq!((timeouts, oom, cold), (1.0, 1.0, 3.0));
    // The values of metrics that are not selected stay in the notable documents as properties.
    let error = &report.steps.iter().find(|s| s.label == "error").unwrap().reported[0];
    assert!(error.get("Duration").is_some_and(Value::is_number), "{error:?}");
    assert!(error.get("Errors").is_some_and(Value::is_number));
    let names: Vec<&str> = error["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Name"].as_str().unwrap())
        .collect();
    assert!(
        !names.contains(&"Duration") && !names.contains(&"Errors"),
        "{names:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built layer (make layer): make test runs it"]
async fn the_default_costs_at_most_8_custom_metrics_and_150_bytes_per_ordinary_invocation() {
    let n = 50;
    // One flush window however slow the machine, so the run writes what `make cost` prices.
    let window = ("LAMBDA_LENS_FLUSH_INTERVAL_MS", "900000");
    let adaptive = run(&config(&[window]), &demo::volume_scenario(n)).await;
    let per_invocation = run(
        &config(&[window, ("LAMBDA_LENS_OUTPUT", "per-invocation")]),
        &demo::volume_scenario(n),
    )
    .await;
    let a = cost::measure(&adaptive.emf_lines, n);
    let p = cost::measure(&per_invocation.emf_lines, n);
    assert!(a.custom_metrics <= 8, "{a:?}");
    assert_eq!(
        a.custom_metrics, p.custom_metrics,
        "the same metrics, whatever the mode"
    );
    assert_eq!(
        a.aggregated_invocations + a.single_documents as u64,
        n as u64,
        "{a:?}"
    );
    // The notable invocations (the cold start; any other only if the machine was so slow that
    // the sandbox saw it fail) and the 3 slowest have documents of their own.
    let notable = adaptive
        .steps
        .iter()
        .filter(|s| {
            s.outcome.init_duration_ms.is_some()
                || s.outcome.init.is_some()
                || s.outcome.status != lambda_sandbox::Status::Success
        })
        .count();
    assert_eq!(a.single_documents, notable + 3, "{a:?}");
    let ordinary = a.aggregated_bytes_per_invocation.unwrap();
    assert!(ordinary <= 150.0, "{ordinary} bytes per ordinary invocation");
    assert!(
        a.bytes_per_invocation * 5.0 < p.bytes_per_invocation,
        "adaptive {} vs per-invocation {} bytes per invocation",
        a.bytes_per_invocation,
        p.bytes_per_invocation
    );
}
