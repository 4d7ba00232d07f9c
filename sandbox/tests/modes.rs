//! Initialization types: SnapStart restore, provisioned concurrency, and concurrent invocations
//! on Lambda Managed Instances, against the Python fixtures.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "integration tests fail loudly"
)]

mod common;

use std::time::{Duration, Instant};

use common::{Fixture, kinds, of_kind, position};
use lambda_sandbox::{Config, InitializationType, Sandbox, ShutdownReason, Source, Status, TelemetryRecord};
use serde_json::{Value, json};

fn env_of(sb: &Sandbox) -> Value {
    sb.output_of(&Source::Function)
        .iter()
        .find_map(|l| {
            serde_json::from_str::<Value>(&l.text)
                .ok()
                .filter(|v| v.get("TZ").is_some())
        })
        .unwrap()
}

fn metric_keys(r: &TelemetryRecord) -> Vec<String> {
    let mut k: Vec<String> = r.record["metrics"].as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

fn snap_start(fx: &Fixture, extra: &[(&str, &str)]) -> Config {
    let mut c = fx.config();
    c.set_initialization_type(InitializationType::SnapStart);
    c.env
        .extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    c
}

#[tokio::test]
async fn snap_start_restores_on_the_first_invoke() {
    let fx = Fixture::new(&["ext-a"]);
    let mut sb = Sandbox::start(snap_start(&fx, &[("RUNTIME_RESTORE_SLEEP_MS", "60")]))
        .await
        .unwrap();
    assert_eq!(sb.init_outcomes()[0].status, Status::Success);
    let first = sb.invoke(json!({"env": true})).await.unwrap();
    let second = sb.invoke(json!({})).await.unwrap();
    sb.shutdown(ShutdownReason::Spindown).await.unwrap();

    assert_eq!(first.status, Status::Success);
    let restore = first.restore.clone().unwrap();
    assert_eq!(restore.status, Status::Success);
    assert!(restore.duration_ms >= 60.0, "{restore:?}");
    assert_eq!(first.restore_duration_ms, Some(restore.duration_ms));
    assert_eq!(first.init_duration_ms, None);
    // The restore is not in the billed duration (REPORT shows it apart).
    assert_eq!(first.billed_duration_ms, first.duration_ms.ceil() as u64);
    assert!(second.restore.is_none() && second.restore_duration_ms.is_none());

    let records = sb.telemetry();
    let k = kinds(&records);
    let order = [
        "platform.initStart",
        "platform.initRuntimeDone",
        "platform.initReport",
        "platform.restoreStart",
        "platform.restoreRuntimeDone",
        "platform.restoreReport",
        "platform.start",
    ];
    let at: Vec<usize> = order.iter().map(|o| position(&records, o)).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{k:?}");
    let init_start = &records[at[0]].record;
    assert_eq!(init_start["initializationType"], "snap-start");
    assert_eq!(init_start["phase"], "init");
    let rs = &records[at[3]].record;
    assert_eq!(rs["functionName"], "sandbox-function");
    assert_eq!(rs["functionVersion"], "$LATEST");
    assert!(rs["runtimeVersion"].is_string() && rs["runtimeVersionArn"].is_string());
    assert_eq!(records[at[4]].record["status"], "success");
    let report = &records[at[5]].record;
    assert_eq!(report["status"], "success");
    assert_eq!(report["metrics"]["durationMs"], restore.duration_ms);

    let reports = of_kind(&records, "platform.report");
    assert_eq!(reports.len(), 2);
    assert_eq!(
        reports[0].record["metrics"]["restoreDurationMs"],
        restore.duration_ms
    );
    assert!(reports[0].record["metrics"].get("initDurationMs").is_none());
    assert!(reports[1].record["metrics"].get("restoreDurationMs").is_none());
    assert_eq!(of_kind(&records, "platform.restoreStart").len(), 1);

    // The extension saw the snapshot's init events and the restore through its subscription,
    // and an INVOKE for each invocation.
    let received: Vec<String> = fx
        .received("ext-a")
        .iter()
        .map(|r| r["type"].as_str().unwrap().to_owned())
        .collect();
    for t in ["platform.initStart", "platform.restoreReport", "platform.report"] {
        assert!(received.iter().any(|r| r == t), "{t} not in {received:?}");
    }
    let invokes = fx
        .ext_entries("ext-a", "event")
        .into_iter()
        .filter(|e| e["eventType"] == "INVOKE")
        .count();
    assert_eq!(invokes, 2);

    let env = env_of(&sb);
    assert_eq!(env["AWS_LAMBDA_INITIALIZATION_TYPE"], "snap-start");
    assert!(env.get("AWS_LAMBDA_LOG_GROUP_NAME").is_none());
    assert!(env.get("AWS_LAMBDA_LOG_STREAM_NAME").is_none());
    let lines: Vec<String> = sb
        .output_of(&Source::Function)
        .into_iter()
        .map(|l| l.text)
        .collect();
    assert!(lines.iter().any(|l| l == "runtime restored"), "{lines:?}");
}

#[tokio::test]
async fn snap_start_without_restore_hooks() {
    let fx = Fixture::new(&[]);
    let mut sb = Sandbox::start(snap_start(&fx, &[("RUNTIME_SKIP_RESTORE_NEXT", "1")]))
        .await
        .unwrap();
    let out = sb.invoke(json!({})).await.unwrap();
    sb.shutdown(ShutdownReason::Spindown).await.unwrap();
    assert_eq!(out.status, Status::Success);
    assert_eq!(out.restore.as_ref().unwrap().status, Status::Success);
    assert!(out.restore_duration_ms.is_some());
}

#[tokio::test]
async fn snap_start_restore_failure_resets_the_environment() {
    let fx = Fixture::new(&["ext-a"]);
    let mut sb = Sandbox::start(snap_start(&fx, &[("RUNTIME_RESTORE_FAIL", "1")]))
        .await
        .unwrap();
    let out = sb.invoke(json!({})).await.unwrap();
    assert_eq!(out.status, Status::Error);
    assert_eq!(out.error_type.as_deref(), Some("Runtime.AfterRestoreError"));
    let restore = out.restore.clone().unwrap();
    assert_eq!(restore.status, Status::Error);
    assert_eq!(out.reset.as_ref().unwrap().reason, ShutdownReason::Failure);
    let records = sb.telemetry();
    let done = &of_kind(&records, "platform.restoreRuntimeDone")[0].record;
    assert_eq!(done["status"], "error");
    assert_eq!(done["errorType"], "Runtime.AfterRestoreError");
    let report = &of_kind(&records, "platform.restoreReport")[0].record;
    assert_eq!(report["errorType"], "Runtime.AfterRestoreError");
    let inv = &of_kind(&records, "platform.report")[0].record;
    assert_eq!(inv["status"], "error");
    assert!(position(&records, "platform.restoreReport") < position(&records, "platform.start"));
    // The next invoke gets a new environment: a new snapshot, then a restore.
    let again = sb.invoke(json!({})).await.unwrap();
    assert_eq!(again.init.as_ref().unwrap().phase, "init");
    assert!(again.restore.is_some());
    sb.shutdown(ShutdownReason::Spindown).await.unwrap();
}

#[tokio::test]
async fn provisioned_concurrency_reports_no_init_duration() {
    let fx = Fixture::new(&["ext-a"]);
    let mut config = fx.config();
    config.set_initialization_type(InitializationType::ProvisionedConcurrency);
    let mut sb = Sandbox::start(config).await.unwrap();
    let out = sb.invoke(json!({})).await.unwrap();
    sb.shutdown(ShutdownReason::Spindown).await.unwrap();
    assert_eq!(out.status, Status::Success);
    assert_eq!(out.init_duration_ms, None);
    assert_eq!(out.billed_duration_ms, out.duration_ms.ceil() as u64);
    let records = sb.telemetry();
    for kind in [
        "platform.initStart",
        "platform.initRuntimeDone",
        "platform.initReport",
    ] {
        let r = &of_kind(&records, kind)[0].record;
        assert_eq!(r["initializationType"], "provisioned-concurrency", "{kind}");
        assert_eq!(r["phase"], "init", "{kind}");
    }
    let report = &of_kind(&records, "platform.report")[0];
    assert_eq!(
        metric_keys(report),
        [
            "billedDurationMs",
            "durationMs",
            "maxMemoryUsedMB",
            "memorySizeMB"
        ]
    );
}

fn delivered_reports(sb: &Sandbox) -> usize {
    sb.deliveries()
        .iter()
        .filter(|d| matches!(d.outcome, Ok(c) if (200..300).contains(&c)))
        .flat_map(|d| d.records.iter())
        .filter(|(t, _)| t == "platform.report")
        .count()
}

fn managed(fx: &Fixture, max_concurrency: u32) -> Config {
    let mut c = fx.config();
    c.set_initialization_type(InitializationType::LambdaManagedInstances);
    c.max_concurrency = max_concurrency;
    c.env.extend([
        ("EXT_EVENTS".into(), "SHUTDOWN".into()),
        ("EXT_SCHEMA".into(), "2025-01-29".into()),
    ]);
    c
}

#[tokio::test]
async fn managed_instances_run_invocations_concurrently() {
    let fx = Fixture::new(&["ext-a"]);
    let mut sb = Sandbox::start(managed(&fx, 3)).await.unwrap();
    let outs = sb
        .invoke_concurrent(vec![
            json!({"sleep_ms": 400, "env": true}),
            json!({"sleep_ms": 400}),
            json!({"sleep_ms": 400, "error": "boom"}),
        ])
        .await
        .unwrap();
    // The fixture extension has no INVOKE ids to drain for at SHUTDOWN: wait for the reports.
    let end = Instant::now() + Duration::from_secs(3);
    while delivered_reports(&sb) < 3 && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sb.shutdown(ShutdownReason::Spindown).await.unwrap();
    assert_eq!(outs.len(), 3);
    assert_eq!(outs[0].status, Status::Success);
    assert_eq!(outs[1].status, Status::Success);
    assert_eq!(outs[2].status, Status::Error);
    assert_eq!(outs[2].error_type.as_deref(), Some("Runtime.Unknown"));
    for o in &outs {
        assert!(o.duration_ms >= 400.0, "{o:?}");
        assert!(o.reset.is_none());
    }
    let body: Value = serde_json::from_slice(&outs[1].response).unwrap();
    assert_eq!(body["requestId"], outs[1].request_id.as_str());

    let records = sb.telemetry();
    assert!(of_kind(&records, "platform.runtimeDone").is_empty());
    // Every start comes before the first report: the invocations overlap.
    let last_start = records.iter().rposition(|r| r.kind == "platform.start").unwrap();
    assert!(
        last_start < position(&records, "platform.report"),
        "{:?}",
        kinds(&records)
    );
    let reports = of_kind(&records, "platform.report");
    assert_eq!(reports.len(), 3);
    for r in &reports {
        assert_eq!(metric_keys(r), ["durationMs"]);
        let spans: Vec<&str> = r.record["spans"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        assert_eq!(spans, ["responseLatency", "responseDuration"]);
    }
    let env = env_of(&sb);
    assert_eq!(env["AWS_LAMBDA_MAX_CONCURRENCY"], "3");
    assert_eq!(env["AWS_LAMBDA_INITIALIZATION_TYPE"], "lambda-managed-instances");
    // No INVOKE for the extension, and it received the reports.
    let events = fx.ext_entries("ext-a", "event");
    assert!(events.iter().all(|e| e["eventType"] == "SHUTDOWN"), "{events:?}");
    let reported = fx
        .received("ext-a")
        .iter()
        .filter(|r| r["type"] == "platform.report")
        .count();
    assert_eq!(reported, 3);
}

#[tokio::test]
async fn managed_instances_queue_beyond_the_limit() {
    let fx = Fixture::new(&[]);
    let mut sb = Sandbox::start(managed(&fx, 2)).await.unwrap();
    let t0 = Instant::now();
    let outs = sb
        .invoke_concurrent(vec![json!({"sleep_ms": 250}); 3])
        .await
        .unwrap();
    let wall = t0.elapsed();
    sb.shutdown(ShutdownReason::Spindown).await.unwrap();
    assert!(outs.iter().all(|o| o.status == Status::Success), "{outs:?}");
    assert!(
        wall >= Duration::from_millis(500),
        "two workers cannot run three at once: {wall:?}"
    );
    // The queued one waited for a worker: its duration includes the wait.
    let longest = outs.iter().map(|o| o.duration_ms).fold(0.0, f64::max);
    assert!(longest >= 500.0, "{outs:?}");
}

#[tokio::test]
async fn managed_instances_timeout_keeps_the_environment() {
    let fx = Fixture::new(&[]);
    let mut config = managed(&fx, 2);
    config.timeout = Duration::from_millis(300);
    let mut sb = Sandbox::start(config).await.unwrap();
    let outs = sb
        .invoke_concurrent(vec![json!({"sleep_ms": 800}), json!({})])
        .await
        .unwrap();
    assert_eq!(outs[0].status, Status::Timeout);
    assert_eq!(outs[0].error_type.as_deref(), Some("Sandbox.Timedout"));
    assert_eq!(outs[1].status, Status::Success);
    assert!(outs.iter().all(|o| o.reset.is_none()));
    // The environment keeps serving.
    let next = sb.invoke(json!({})).await.unwrap();
    assert_eq!(next.status, Status::Success);
    assert!(next.init.is_none());
    sb.shutdown(ShutdownReason::Spindown).await.unwrap();
}

#[tokio::test]
async fn managed_instances_runtime_exit_fails_every_invocation_in_flight() {
    let fx = Fixture::new(&["ext-a"]);
    let mut sb = Sandbox::start(managed(&fx, 2)).await.unwrap();
    let outs = sb
        .invoke_concurrent(vec![
            json!({"sleep_ms": 1000}),
            json!({"sleep_ms": 100, "exit": 1}),
        ])
        .await
        .unwrap();
    for o in &outs {
        assert_eq!(o.status, Status::Failure, "{o:?}");
        assert_eq!(o.error_type.as_deref(), Some("Runtime.ExitError"));
        assert_eq!(o.reset.as_ref().unwrap().reason, ShutdownReason::Failure);
    }
    let shutdowns = fx
        .ext_entries("ext-a", "event")
        .into_iter()
        .filter(|e| e["shutdownReason"] == "failure")
        .count();
    assert_eq!(shutdowns, 1);
    let again = sb.invoke(json!({})).await.unwrap();
    assert_eq!(again.status, Status::Success);
    assert_eq!(again.init.as_ref().unwrap().phase, "invoke");
    sb.shutdown(ShutdownReason::Spindown).await.unwrap();
}
