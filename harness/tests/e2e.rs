//! End to end: the real `lambda-lens` extension (from the layer `make layer` assembles) and the
//! real sample function `bootstrap`, as processes in the sandbox. Asserts the EMF the extension
//! printed against what the sandbox did and measured.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly"
)]

use std::collections::HashMap;
use std::time::Duration;

use lambda_lens_harness::demo::{self, DemoConfig, DemoReport, Step, StepResult, reported};
use lambda_sandbox::{ExitKind, Source, Status};
use serde_json::{Value, json};

fn config() -> DemoConfig {
    let (bootstrap, layer) = lambda_lens_harness::built::paths();
    let mut c = DemoConfig::new(bootstrap, layer);
    c.echo_output = std::env::var_os("SANDBOX_ECHO").is_some();
    c.env = vec![
        ("LAMBDA_LENS_METRICS".into(), "all".into()),
        // Every invocation's own document, to compare with what the sandbox did.
        ("LAMBDA_LENS_OUTPUT".into(), "per-invocation".into()),
    ];
    c
}

async fn run(steps: &[Step]) -> DemoReport {
    let report = demo::run(&config(), steps).await.expect("sandbox run");
    assert!(report.invalid.is_empty(), "invalid EMF: {:?}", report.invalid);
    assert!(
        report.stray_stdout.is_empty(),
        "non-EMF on stdout: {:?}",
        report.stray_stdout
    );
    report
}

/// Whether this test runs as root (the effective uid in `/proc/self/status`).
fn root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            == Some("0")
    })
}

fn property<'a>(step: &'a StepResult, name: &str) -> Option<&'a Value> {
    step.reported.iter().find_map(|d| d.get(name))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built layer (make layer): make test runs it"]
async fn the_demo_scenario_is_reported_invocation_by_invocation() {
    let report = run(&demo::scenario()).await;
    let by_label: HashMap<&str, &StepResult> = report.steps.iter().map(|s| (s.label, s)).collect();

    // Exactly one Invocations per invocation run, each under its own request id.
    for step in &report.steps {
        assert_eq!(
            reported(step, "Invocations"),
            Some(1.0),
            "{}: {:?}",
            step.label,
            step.reported
        );
        assert_eq!(
            property(step, "Ending"),
            Some(&json!("complete")),
            "{}",
            step.label
        );
    }
    let total: f64 = report
        .emf_lines
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Map<String, Value>>(l).unwrap())
        .filter_map(|d| demo::metric(&d, "Invocations"))
        .sum();
    assert_eq!(total, report.steps.len() as f64, "no invocation counted twice");

    // The extension's view matches what the sandbox did.
    for step in &report.steps {
        let expected = step.outcome.status;
        assert_eq!(
            property(step, "Status"),
            Some(&json!(expected.as_str())),
            "{}",
            step.label
        );
        let is_error = matches!(expected, Status::Error | Status::Failure);
        assert_eq!(
            reported(step, "Errors"),
            Some(f64::from(u8::from(is_error))),
            "{}",
            step.label
        );
        assert_eq!(
            reported(step, "Timeouts"),
            Some(f64::from(u8::from(expected == Status::Timeout))),
            "{}",
            step.label
        );
        assert_eq!(reported(step, "MemorySize"), Some(128.0));
        let duration = reported(step, "Duration").unwrap();
        assert!(
            (duration - step.outcome.duration_ms).abs() < 0.01,
            "{}: {duration}",
            step.label
        );
    }

    let error = by_label["error"];
    assert_eq!(error.outcome.status, Status::Error);
    // lambda_runtime sends the generic "Unhandled" in Lambda-Runtime-Function-Error-Type,
    // which Lambda (rapid) reports as Runtime.Unknown: the name in the error body is the
    // function's business.
    assert_eq!(property(error, "ErrorType"), Some(&json!("Runtime.Unknown")));

    let timeout = by_label["timeout"];
    assert_eq!(timeout.outcome.status, Status::Timeout);
    assert_eq!(reported(timeout, "Timeouts"), Some(1.0));
    assert!(reported(timeout, "Duration").unwrap() >= 1000.0);

    let oom = by_label["out of memory"];
    assert_eq!(property(oom, "ErrorType"), Some(&json!("Runtime.OutOfMemory")));
    assert_eq!(reported(oom, "OutOfMemory"), Some(1.0));
    assert_eq!(reported(oom, "Errors"), Some(1.0));

    // MaxMemoryUsed follows the real allocation, and falls back after it.
    let big = reported(by_label["allocate 64 MB"], "MaxMemoryUsed").unwrap();
    assert!(big >= 64.0, "64 MB allocation reported {big} MB");
    let small = reported(by_label["warm"], "MaxMemoryUsed").unwrap();
    assert!(small < 32.0, "a plain invocation reported {small} MB");
    assert_eq!(big, by_label["allocate 64 MB"].outcome.max_memory_used_mb as f64);

    // The demo gives the function its own /tmp (its ephemeral storage) where the sandbox can
    // make one, as root can: TmpUsed is then the function's own files (the 4 MiB the leak step
    // leaves behind), not the host disk's use.
    if root() {
        assert_eq!(report.tmp, Ok(512), "{}", report.isolation);
    }
    if report.tmp.is_ok() {
        let leak = reported(by_label["leak fds, threads"], "TmpUsed").unwrap();
        assert!((4_194_304.0..8_388_608.0).contains(&leak), "TmpUsed {leak} bytes");
        for step in &report.steps {
            let used = reported(step, "TmpUsed").unwrap_or(0.0);
            assert!(used < 8_388_608.0, "{}: TmpUsed {used} bytes", step.label);
        }
    }

    // Cold starts: the first invocation, and the first after each reset (timeout, OOM).
    let cold: Vec<&str> = report
        .steps
        .iter()
        .filter(|s| reported(s, "ColdStarts") == Some(1.0))
        .map(|s| s.label)
        .collect();
    assert_eq!(cold, ["cold start", "after timeout", "after OOM"]);
    for step in &report.steps {
        let init = reported(step, "InitDuration");
        if cold.contains(&step.label) {
            // The first init's duration is in the report; an init re-run inside an invoke
            // after a reset is not (Lambda's suppressed init), and lambda-lens reads it from
            // the init's own platform.initReport.
            let expected = step
                .outcome
                .init_duration_ms
                .or(step.outcome.init.as_ref().map(|i| i.duration_ms))
                .unwrap();
            assert!((init.unwrap() - expected).abs() < 0.01, "{}", step.label);
        } else {
            assert_eq!(init, None, "{}: InitDuration on a warm invocation", step.label);
        }
    }

    // _aws.Timestamp is the platform.start time of the invocation, not the time of writing.
    let starts: HashMap<&str, i64> = report
        .telemetry
        .iter()
        .filter(|r| r.kind == "platform.start")
        .map(|r| (r.request_id().unwrap(), r.time.timestamp_millis()))
        .collect();
    for step in &report.steps {
        let ts = step.reported[0]["_aws"]["Timestamp"].as_i64().unwrap();
        assert_eq!(ts, starts[step.outcome.request_id.as_str()], "{}", step.label);
        assert_eq!(step.reported[0]["RequestId"], json!(step.outcome.request_id));
        assert_eq!(step.reported[0]["FunctionName"], json!("lambda-lens-demo"));
    }

    // The extension drains and exits by itself, well inside the shutdown deadline.
    let ext = report
        .shutdown
        .of(&Source::Extension(demo::EXTENSION_NAME.into()))
        .expect("extension process");
    assert_eq!(ext.exit, ExitKind::Code(0));
    assert!(!ext.killed);
    assert!(ext.exited_after_shutdown.unwrap() < Duration::from_millis(1500));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built layer (make layer): make test runs it"]
async fn the_last_report_arrives_only_after_shutdown_and_is_not_lost() {
    let steps = [Step {
        label: "only",
        payload: json!({"sleep_ms": 5}),
    }];
    let report = run(&steps).await;
    let step = &report.steps[0];
    assert_eq!(reported(step, "Invocations"), Some(1.0));
    assert!(
        reported(step, "Duration").is_some(),
        "the report's duration was waited for"
    );
    assert_eq!(reported(step, "ColdStarts"), Some(1.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built layer (make layer): make test runs it"]
async fn a_crash_is_a_failure_and_the_next_invocation_is_cold_again() {
    let steps = [
        Step {
            label: "warm-up",
            payload: json!({}),
        },
        Step {
            label: "exit",
            payload: json!({"exit": 3}),
        },
        Step {
            label: "panic",
            payload: json!({"panic": "boom"}),
        },
    ];
    let report = run(&steps).await;
    let exit = &report.steps[1];
    // A crash is `error` with Runtime.ExitError (the documentation's REPORT example).
    assert_eq!(property(exit, "Status"), Some(&json!("error")));
    assert_eq!(property(exit, "ErrorType"), Some(&json!("Runtime.ExitError")));
    assert_eq!(reported(exit, "Errors"), Some(1.0));
    let panic = &report.steps[2];
    assert_eq!(reported(panic, "Errors"), Some(1.0));
    assert_eq!(
        reported(panic, "ColdStarts"),
        Some(1.0),
        "re-initialised after the crash"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built layer (make layer): make test runs it"]
async fn a_bad_setting_does_not_hurt_the_function() {
    let mut c = config();
    c.env = vec![
        ("LAMBDA_LENS_BUFFER_TIMEOUT_MS".into(), "fast".into()),
        ("LAMBDA_LENS_PORT".into(), "9001".into()),
        ("LAMBDA_LENS_NAMESPACE".into(), "AWS/Nope".into()),
    ];
    let steps = [Step {
        label: "one",
        payload: json!({}),
    }];
    let report = demo::run(&c, &steps).await.unwrap();
    assert_eq!(report.steps[0].outcome.status, Status::Success);
    assert_eq!(reported(&report.steps[0], "Invocations"), Some(1.0));
    let doc = &report.steps[0].reported[0];
    assert_eq!(
        doc["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        json!("LambdaLens")
    );
}
