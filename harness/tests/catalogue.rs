//! End to end, the full metric catalogue: the real extension and sample function in the
//! sandbox, on-demand, SnapStart and Managed Instances, per-invocation and batched output.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly"
)]

mod binaries;

use std::collections::{HashMap, HashSet};

use lambda_lens_harness::demo::{self, DemoConfig, DemoReport, Step, StepResult, reported};

use lambda_sandbox::{InitializationType, Status};
use serde_json::{Map, Value, json};

/// The catalogue written out by hand (a reading independent of the extension's code).
const EVERY_METRIC: &[&str] = &[
    "Invocations",
    "Errors",
    "Timeouts",
    "OutOfMemory",
    "ColdStarts",
    "ConcurrentInvocations",
    "Duration",
    "BilledDuration",
    "RuntimeDuration",
    "PostRuntimeDuration",
    "ResponseLatency",
    "ResponseDuration",
    "RuntimeOverhead",
    "ProducedBytes",
    "InitDuration",
    "RestoreDuration",
    "InitErrors",
    "MemorySize",
    "MaxMemoryUsed",
    "MemoryUtilization",
    "EstimatedCost",
    "CpuUserTime",
    "CpuSystemTime",
    "CpuTotalTime",
    "NetworkRxBytes",
    "NetworkTxBytes",
    "TmpUsed",
    "FileDescriptors",
    "Threads",
    "Shutdowns",
    "LogsDroppedRecords",
    "LogsDroppedBytes",
    "ExtensionMemory",
    "TelemetryRecordsRejected",
    "EmfDocumentsWritten",
];

/// The run's configuration: `env`, one document per invocation unless `env` says otherwise
/// (these suites look at every invocation's document).
fn config(env: &[(&str, &str)]) -> DemoConfig {
    let mut c = binaries::demo_config(env);
    if !env.iter().any(|(k, _)| *k == "LAMBDA_LENS_OUTPUT") {
        c.env
            .push(("LAMBDA_LENS_OUTPUT".to_owned(), "per-invocation".to_owned()));
    }
    c
}

/// One sandbox at a time in this suite. The sandbox's processes are all children of this test
/// process, and lambda-lens measures "the function's processes" as the descendants of its
/// parent: a parallel test's leaking function would be counted in another test's resource
/// metrics. (A per-environment parent process in the sandbox would isolate them; until then the
/// suite runs its sandboxes one after the other.)
static ONE_SANDBOX: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn run(c: &DemoConfig, steps: &[Step]) -> DemoReport {
    let _alone = ONE_SANDBOX.lock().await;
    let report = demo::run(c, steps).await.expect("sandbox run");
    assert!(report.invalid.is_empty(), "invalid EMF: {:?}", report.invalid);
    assert!(report.stray_stdout.is_empty(), "{:?}", report.stray_stdout);
    report
}

fn docs(report: &DemoReport) -> Vec<Map<String, Value>> {
    report
        .emf_lines
        .iter()
        .map(|l| emf_spec::check_line(l).unwrap_or_else(|p| panic!("{p:?}: {l}")))
        .collect()
}

/// Documents without a request id: the environment's own (init, shutdown, dropped logs).
fn environment_docs(report: &DemoReport) -> Vec<Map<String, Value>> {
    docs(report)
        .into_iter()
        .filter(|d| !d.contains_key("RequestId"))
        .collect()
}

fn step<'a>(report: &'a DemoReport, label: &str) -> &'a StepResult {
    report.steps.iter().find(|s| s.label == label).unwrap()
}

fn value(step: &StepResult, name: &str) -> f64 {
    reported(step, name).unwrap_or_else(|| panic!("{}: no {name} in {:?}", step.label, step.reported))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built layer (make layer): make test runs it"]
async fn every_metric_is_emitted_with_a_plausible_value() {
    let all = [("LAMBDA_LENS_METRICS", "all")];
    let mut private = config(&all);
    private.private_network = true;
    let main = run(&private, &demo::scenario()).await;
    let mut snap = config(&all);
    snap.init_type = InitializationType::SnapStart;
    let snap = run(&snap, &demo::snapstart_scenario()).await;
    let mut managed = config(&all);
    managed.init_type = InitializationType::LambdaManagedInstances;
    managed.concurrent = true;
    let managed = run(&managed, &demo::managed_instances_scenario()).await;
    // Managed Instances have no platform.runtimeDone: the response's spans come from the
    // report, and each invocation sleeps 200 ms before it answers.
    for s in &managed.steps {
        assert!(
            value(s, "ResponseLatency") >= 200.0,
            "{}: {:?}",
            s.label,
            s.reported
        );
        assert!(
            value(s, "ResponseDuration") >= 0.0,
            "{}: {:?}",
            s.label,
            s.reported
        );
        assert!(value(s, "ResponseLatency") <= value(s, "Duration"), "{}", s.label);
    }

    // A small telemetry queue, so Lambda (the sandbox) drops records and says so.
    let mut dropping = config(&all);
    dropping.telemetry_queue_limit = Some(3);
    let dropped = run(&dropping, &demo::volume_scenario(4)).await;

    let lines: Vec<&String> = [&main, &snap, &managed, &dropped]
        .into_iter()
        .flat_map(|r| &r.emf_lines)
        .collect();
    let summary = demo::summarize(lines);
    let seen: HashSet<&str> = summary.iter().map(|m| m.name.as_str()).collect();
    let missing: Vec<&&str> = EVERY_METRIC.iter().filter(|m| !seen.contains(**m)).collect();
    assert!(missing.is_empty(), "never emitted: {missing:?}");
    let extra: Vec<&str> = seen
        .iter()
        .filter(|m| !EVERY_METRIC.contains(m))
        .copied()
        .collect();
    assert!(extra.is_empty(), "not in the catalogue: {extra:?}");

    // Durations and memory follow what the sandbox measured.
    for s in &main.steps {
        let duration = value(s, "Duration");
        let runtime = value(s, "RuntimeDuration");
        // Derived values are rounded: to the microsecond, and to 0.01 percent.
        // PostRuntimeDuration is the report's extensionOverhead span (from the runtime's next
        // to the last extension's), which the sandbox measures as duration − runtime: equal
        // but for each figure's rounding to the microsecond.
        let post = value(s, "PostRuntimeDuration");
        assert!(
            (post - (duration - runtime).max(0.0)).abs() <= 0.0015 + 1e-9,
            "{}: {post} vs {duration} - {runtime}",
            s.label
        );
        let utilization = value(s, "MaxMemoryUsed") / value(s, "MemorySize") * 100.0;
        assert!((value(s, "MemoryUtilization") - utilization).abs() <= 0.005 + 1e-9);
        // us-east-1 x86_64: 0.0000166667 per GB-second, 0.20 per million requests.
        let cost = value(s, "BilledDuration") / 1000.0 * 128.0 / 1024.0 * 0.000_016_666_7 + 0.000_000_2;
        assert!((value(s, "EstimatedCost") - cost).abs() < 1e-12, "{}", s.label);
        assert_eq!(value(s, "ConcurrentInvocations"), 1.0);
    }
    let cpu = step(&main, "cpu 60 ms");
    assert!(value(cpu, "CpuTotalTime") >= 30.0, "{:?}", cpu.reported);
    assert_eq!(
        value(cpu, "CpuTotalTime"),
        value(cpu, "CpuUserTime") + value(cpu, "CpuSystemTime")
    );
    // The step's 1 MiB went out through the sandbox's echo peer and came back: the counters of
    // the environment's interface saw both (plus TCP/IP headers). Without a private network
    // (not root; the environment suite fails when root cannot make one) the counters are the
    // host's, whatever else it sends.
    if main.isolation.contains("private network:") {
        let (tx, rx) = (value(cpu, "NetworkTxBytes"), value(cpu, "NetworkRxBytes"));
        assert!((1_048_576.0..1_200_000.0).contains(&tx), "{tx}");
        assert!((1_048_576.0..1_200_000.0).contains(&rx), "{rx}");
    }
    let leak = step(&main, "leak fds, threads");
    assert!(value(leak, "FileDescriptors") >= 32.0);
    assert!(value(leak, "Threads") >= 9.0);
    assert!(value(leak, "TmpUsed") >= 4_194_304.0);
    let warm = step(&main, "warm");
    assert!(
        value(warm, "FileDescriptors") < 32.0 && value(warm, "Threads") < 8.0,
        "{:?}",
        warm.reported
    );
    assert!(value(step(&main, "warm, logs"), "ProducedBytes") >= 2048.0);

    // Environment documents: one shutdown per environment (a timeout and an out-of-memory
    // reset it), with its reason; dropped records reported.
    let env = environment_docs(&main);
    let mut reasons: Vec<&str> = env
        .iter()
        .filter(|d| d.contains_key("Shutdowns"))
        .map(|d| d["ShutdownReason"].as_str().unwrap())
        .collect();
    reasons.sort_unstable();
    assert_eq!(reasons, ["failure", "spindown", "timeout"]);
    let lost: f64 = environment_docs(&dropped)
        .iter()
        .filter_map(|d| demo::metric(d, "LogsDroppedRecords"))
        .sum();
    assert!(lost > 0.0, "the sandbox dropped records");
    // Dropped records cost those invocations some metrics, never the invocation itself.
    for s in &dropped.steps {
        assert_eq!(value(s, "Invocations"), 1.0, "{}", s.label);
        assert_eq!(value(s, "Timeouts"), 0.0, "a lost record is not a timeout");
    }
    for d in env.iter().filter(|d| d.contains_key("ExtensionMemory")) {
        let mb = d["ExtensionMemory"].as_f64().unwrap();
        assert!(mb > 0.5 && mb < 16.0, "{mb}");
        assert!(d["EmfDocumentsWritten"].as_f64().unwrap() >= 1.0);
    }
    let inits: Vec<&Map<String, Value>> = env.iter().filter(|d| d.contains_key("InitErrors")).collect();
    assert_eq!(inits.len(), 3, "three init phases");
    assert!(inits.iter().all(|d| d["InitErrors"] == json!(0.0)));

    // SnapStart: the restored invocation is not a cold start and carries the restore.
    let restored = step(&snap, "restored");
    assert_eq!(value(restored, "ColdStarts"), 0.0);
    assert!(value(restored, "RestoreDuration") > 0.0);
    assert_eq!(reported(restored, "InitDuration"), None);
    assert_eq!(reported(step(&snap, "warm"), "RestoreDuration"), None);

    // Managed Instances: overlap, every invocation complete without platform.runtimeDone, no
    // cold start (the environment was initialised ahead of traffic), InitDuration in the init
    // document instead.
    let most = managed
        .steps
        .iter()
        .map(|s| value(s, "ConcurrentInvocations"))
        .fold(0.0, f64::max);
    assert!(most >= 2.0, "overlapping invocations: {most}");
    for s in &managed.steps {
        assert_eq!(s.reported[0]["Ending"], json!("complete"), "{:?}", s.reported);
        assert_eq!(value(s, "ColdStarts"), 0.0);
        assert_eq!(value(s, "Invocations"), 1.0);
    }
    let init = environment_docs(&managed)
        .into_iter()
        .find(|d| d.contains_key("InitErrors"))
        .unwrap();
    assert!(init["InitDuration"].as_f64().unwrap() > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built layer (make layer): make test runs it"]
async fn batched_output_carries_every_invocation_within_the_limits() {
    for compact in ["false", "true"] {
        let c = config(&[
            ("LAMBDA_LENS_OUTPUT", "batched"),
            ("LAMBDA_LENS_COMPACT_VALUES", compact),
        ]);
        let n = 150;
        let report = run(&c, &demo::volume_scenario(n)).await;
        let docs = docs(&report);
        let mut invocations = 0.0;
        let mut ids = HashSet::new();
        for d in &docs {
            if let Some(v) = demo::metric(d, "Invocations") {
                invocations += v;
            }
            for id in d
                .get("RequestIds")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                assert!(
                    ids.insert(id.as_str().unwrap().to_owned()),
                    "an id in two batches"
                );
            }
            if compact == "true"
                && let Some(Value::Object(o)) = d.get("Duration")
            {
                assert_eq!(
                    o["Values"].as_array().unwrap().len(),
                    o["Counts"].as_array().unwrap().len()
                );
            }
        }
        assert_eq!(invocations, n as f64, "compact={compact}");
        let expected: HashSet<String> = report
            .steps
            .iter()
            .map(|s| s.outcome.request_id.clone())
            .collect();
        if compact == "false" {
            assert_eq!(ids, expected, "every request id listed once");
            assert!(docs.len() >= 3, "150 invocations need at least two batches");
        } else {
            assert!(ids.is_subset(&expected));
        }
        assert!(docs.len() < n / 10, "batching cuts documents: {}", docs.len());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built layer (make layer): make test runs it"]
async fn dimensions_static_dimensions_and_high_resolution() {
    let c = config(&[
        (
            "LAMBDA_LENS_DIMENSIONS",
            "FunctionName;FunctionName,ColdStart;Service,Architecture",
        ),
        ("LAMBDA_LENS_STATIC_DIMENSIONS", "Service=checkout"),
        ("LAMBDA_LENS_HIGH_RESOLUTION", "true"),
        ("LAMBDA_LENS_NAMESPACE", "Shop/Lambda"),
        ("LAMBDA_LENS_METRICS", "default,InitErrors"),
    ]);
    let steps = [
        Step {
            label: "one",
            payload: json!({}),
        },
        Step {
            label: "two",
            payload: json!({}),
        },
    ];
    let report = run(&c, &steps).await;
    let invocation = &report.steps[0].reported[0];
    let directive = &invocation["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], json!("Shop/Lambda"));
    assert_eq!(
        directive["Dimensions"],
        json!([
            ["FunctionName"],
            ["FunctionName", "ColdStart"],
            ["Service", "Architecture"]
        ])
    );
    assert_eq!(invocation["Service"], json!("checkout"));
    assert_eq!(invocation["ColdStart"], json!("true"));
    assert_eq!(report.steps[1].reported[0]["ColdStart"], json!("false"));
    assert!(["x86_64", "arm64"].contains(&invocation["Architecture"].as_str().unwrap()));
    assert!(
        directive["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["StorageResolution"] == json!(1))
    );
    // No request id, trace id or anything from a payload is ever a dimension.
    for d in docs(&report) {
        for set in d["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
            .as_array()
            .unwrap()
        {
            for key in set.as_array().unwrap() {
                assert!(
                    ["FunctionName", "ColdStart", "Service", "Architecture"].contains(&key.as_str().unwrap()),
                    "{key}"
                );
            }
        }
    }
    // The environment's documents use the sets without ColdStart.
    let shutdown = environment_docs(&report)
        .into_iter()
        .find(|d| d.contains_key("Shutdowns"));
    assert!(
        shutdown.is_none(),
        "Shutdowns is in the extension group, off by default"
    );
    let init = environment_docs(&report).into_iter().next().unwrap();
    assert_eq!(
        init["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["FunctionName"], ["Service", "Architecture"]])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built layer (make layer): make test runs it"]
async fn metrics_can_be_switched_off_by_group_and_name() {
    let c = config(&[("LAMBDA_LENS_METRICS", "core,-ProducedBytes,-InitErrors")]);
    let steps = [Step {
        label: "one",
        payload: json!({"cpu_ms": 5}),
    }];
    let report = run(&c, &steps).await;
    let names: HashSet<String> = demo::summarize(&report.emf_lines)
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert!(names.contains("Duration") && names.contains("ColdStarts"));
    for off in [
        "ProducedBytes",
        "InitErrors",
        "CpuTotalTime",
        "EstimatedCost",
        "Shutdowns",
    ] {
        assert!(!names.contains(off), "{off} is off");
    }
    assert_eq!(report.steps[0].outcome.status, Status::Success);
    let by_id: HashMap<&str, usize> = report
        .steps
        .iter()
        .map(|s| (s.outcome.request_id.as_str(), s.reported.len()))
        .collect();
    assert!(by_id.values().all(|n| *n == 1));
}
