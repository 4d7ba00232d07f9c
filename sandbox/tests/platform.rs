//! Newer behaviours of the platform: an init re-run inside an invoke that fails or times out
//! (reported as rapid reports it), the on-demand init's whole vCPU, proactive initialisation (a
//! gap between the init and the first invoke) and tenant isolation mode (a tenant id per
//! invoke).
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "integration tests fail loudly"
)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Fixture, RUNTIME};
use lambda_sandbox::{
    Config, InitializationType, InvokeOptions, Sandbox, SandboxError, ShutdownReason, Source, Status,
    TelemetryRecord,
};
use serde_json::{Value, json};

const PROBE: &str = include_str!("fixtures/platform_probe.py");
const DRAINING_EXTENSION: &str = include_str!("fixtures/draining_extension.py");

fn write_exec(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// The fixture runtime behind the init probe (`bootstrap`), with the draining extension
/// `drain` when `extension`, and the probe's mode file (absent: every init succeeds).
fn probe_fixture(extension: bool) -> (Fixture, Config, PathBuf) {
    let fx = Fixture::new(&[]);
    write_exec(&fx.dir.join("function/runtime.py"), RUNTIME);
    write_exec(&fx.dir.join("function/bootstrap"), PROBE);
    if extension {
        write_exec(&fx.dir.join("layer/extensions/drain"), DRAINING_EXTENSION);
    }
    let mode = fx.dir.join("probe-mode");
    let mut config = fx.config();
    config
        .env
        .push(("PROBE_MODE_FILE".into(), mode.display().to_string()));
    (fx, config, mode)
}

/// The probe's lines, one per init.
fn probe_lines(sb: &Sandbox) -> Vec<Value> {
    sb.output_of(&Source::Function)
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(&l.text).ok())
        .filter(|v| v["probe"] == "init")
        .collect()
}

/// The one record of `kind` for `request_id`.
fn record<'a>(records: &'a [TelemetryRecord], kind: &str, request_id: &str) -> &'a TelemetryRecord {
    let found: Vec<_> = records
        .iter()
        .filter(|r| r.kind == kind && r.request_id() == Some(request_id))
        .collect();
    assert_eq!(found.len(), 1, "{kind} of {request_id}: {records:#?}");
    found[0]
}

fn position(records: &[TelemetryRecord], f: impl Fn(&TelemetryRecord) -> bool) -> usize {
    records.iter().position(f).unwrap()
}

/// What the draining extension received: its records (of every process), and its events.
fn drained(fx: &Fixture, kind: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(fx.dir.join("out/drain.jsonl")).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["kind"] == kind)
        .map(|e| e["data"].clone())
        .collect()
}

#[tokio::test]
async fn an_init_that_fails_inside_an_invoke_is_reported_as_rapid_reports_it() {
    let (fx, mut config, mode) = probe_fixture(true);
    // Room for the re-init of two Python processes on a loaded machine.
    config.timeout = Duration::from_millis(1500);
    let mut sb = Sandbox::start(config).await.unwrap();
    let crash = sb.invoke(json!({"exit": 2})).await.unwrap();
    assert!(crash.reset.is_some());

    // The re-init inside the next invoke: the runtime exits (rapid's first fatal error is
    // Runtime.ExitError: status error); it reports init/error and keeps running (no fatal
    // error: Sandbox.Failure, status failure); it never becomes ready (status timeout, no
    // errorType, and a reset for a timeout).
    let cases = [
        (
            "exit",
            Status::Error,
            Some("Runtime.ExitError"),
            ShutdownReason::Failure,
        ),
        (
            "init-error",
            Status::Failure,
            Some("Sandbox.Failure"),
            ShutdownReason::Failure,
        ),
        ("hang", Status::Timeout, None, ShutdownReason::Timeout),
    ];
    let mut ids = Vec::new();
    for (what, status, error_type, reason) in cases {
        std::fs::write(&mode, what).unwrap();
        let out = sb.invoke(json!({})).await.unwrap();
        let init = out.init.as_ref().expect("an init inside the invoke");
        assert_eq!(init.phase, "invoke", "{what}");
        assert_ne!(init.status, Status::Success, "{what}");
        assert_eq!(
            (out.status, out.error_type.as_deref()),
            (status, error_type),
            "{what}"
        );
        let reset = out.reset.as_ref().unwrap_or_else(|| panic!("{what}: no reset"));
        assert_eq!(reset.reason, reason, "{what}");
        ids.push((what, out.request_id.clone(), status, error_type));
    }
    std::fs::remove_file(&mode).unwrap();
    let fine = sb.invoke(json!({})).await.unwrap();
    assert_eq!(fine.status, Status::Success);
    sb.shutdown(ShutdownReason::Spindown).await.unwrap();

    let records = sb.telemetry();
    let received = drained(&fx, "record");
    for (what, id, status, error_type) in &ids {
        let id = id.as_str();
        // rapid's doInvoke: the inline init's events, then platform.start; handleReset:
        // platform.runtimeDone; then the platform's report.
        let start = position(&records, |r| {
            r.kind == "platform.start" && r.request_id() == Some(id)
        });
        let before = &records[start - 1];
        assert_eq!(
            (before.kind.as_str(), &before.record["phase"]),
            ("platform.initReport", &json!("invoke")),
            "{what}"
        );
        let done = position(&records, |r| {
            r.kind == "platform.runtimeDone" && r.request_id() == Some(id)
        });
        let report = position(&records, |r| {
            r.kind == "platform.report" && r.request_id() == Some(id)
        });
        assert!(start < done && done < report, "{what}: {records:#?}");
        let done = &record(&records, "platform.runtimeDone", id).record;
        assert_eq!(done["status"], status.as_str(), "{what}");
        assert_eq!(
            done.get("errorType").and_then(Value::as_str),
            *error_type,
            "{what}"
        );
        // The runtime was never released for this request: zero metrics and no spans.
        assert_eq!(
            done["metrics"],
            json!({"durationMs": 0.0, "producedBytes": 0}),
            "{what}"
        );
        assert!(done.get("spans").is_none() && done["tracing"]["type"] == "X-Amzn-Trace-Id");
        let report = &record(&records, "platform.report", id).record;
        assert_eq!(report["status"], status.as_str(), "{what}");
        assert_eq!(
            report.get("errorType").and_then(Value::as_str),
            *error_type,
            "{what}"
        );
        assert!(
            report["metrics"].get("initDurationMs").is_none(),
            "{what}: {report}"
        );
        // The extension of the failed init, still subscribed, received all three before it
        // was shut down.
        for kind in ["platform.start", "platform.runtimeDone", "platform.report"] {
            assert!(
                received
                    .iter()
                    .any(|r| r["type"] == kind && r["record"]["requestId"] == id),
                "{what}: the extension missed {kind}: {}",
                std::fs::read_to_string(fx.dir.join("out/drain.jsonl"))
                    .unwrap_or_default()
                    .lines()
                    .map(|l| {
                        let v: Value = serde_json::from_str(l).unwrap();
                        format!(
                            "{} {} {}\n",
                            v["data"]["type"], v["data"]["eventType"], v["data"]["record"]["requestId"]
                        )
                    })
                    .collect::<String>()
            );
        }
    }
    // SHUTDOWN for each reset: the crash, the three failed re-inits, then the spindown.
    let reasons: Vec<Value> = drained(&fx, "event")
        .into_iter()
        .filter(|e| e["eventType"] == "SHUTDOWN")
        .map(|e| e["shutdownReason"].clone())
        .collect();
    assert_eq!(
        reasons,
        ["failure", "failure", "failure", "timeout", "spindown"].map(Value::from),
    );
}

fn cgroups() -> bool {
    let available = lambda_sandbox::cgroups_available();
    if std::env::var_os("CI").is_some() {
        assert!(available, "CI runs as root with cgroups");
    }
    available
}

/// The CPU quota in `file` as a share of one core.
fn cores(file: &str) -> f64 {
    let text = std::fs::read_to_string(file).unwrap();
    let mut parts = text.split_whitespace();
    let quota: f64 = parts.next().unwrap().parse().unwrap();
    let period: f64 = match parts.next() {
        Some(p) => p.parse().unwrap(),
        None => std::fs::read_to_string(file.replace("cfs_quota_us", "cfs_period_us"))
            .unwrap()
            .trim()
            .parse()
            .unwrap(),
    };
    quota / period
}

#[tokio::test]
async fn an_on_demand_init_has_a_whole_vcpu_and_a_provisioned_one_its_share() {
    if !cgroups() {
        eprintln!("no cgroup here: the init's CPU is not tested on this machine");
        return;
    }
    let share = 128.0 / lambda_sandbox::MB_PER_VCPU;
    let (_fx, mut config, _) = probe_fixture(false);
    config.cpu_limit = true;
    config.timeout = Duration::from_secs(10);
    // 300 ms of CPU: about 4 s at 128 MB's share, a fraction of a second on a whole core.
    config.env.push(("PROBE_INIT_CPU_MS".into(), "300".into()));
    let mut sb = Sandbox::start(config).await.unwrap();
    assert_eq!(sb.init_outcomes()[0].status, Status::Success);
    let init = probe_lines(&sb)[0].clone();
    assert!(init["cores"].as_f64().unwrap() >= 0.999, "{init}");
    assert!(init["wall_ms"].as_f64().unwrap() < 2000.0, "{init}");
    assert!(sb.init_outcomes()[0].duration_ms < 3000.0);
    // Once the init is over, the memory size's share.
    let file = init["cpu_file"].as_str().unwrap().to_owned();
    assert!((cores(&file) - share).abs() < 0.001, "{}", cores(&file));
    // An init re-run inside an invoke is part of the invocation: the share.
    let crash = sb.invoke(json!({"exit": 2})).await.unwrap();
    assert!(crash.reset.is_some());
    let again = sb.invoke(json!({})).await.unwrap();
    assert_eq!(again.status, Status::Success);
    let reinit = probe_lines(&sb)[1].clone();
    assert!(
        (reinit["cores"].as_f64().unwrap() - share).abs() < 0.001,
        "{reinit}"
    );
    sb.shutdown(ShutdownReason::Spindown).await.unwrap();

    // Provisioned concurrency: no burst.
    let (_fx, mut config, _) = probe_fixture(false);
    config.cpu_limit = true;
    config.set_initialization_type(InitializationType::ProvisionedConcurrency);
    let mut sb = Sandbox::start(config).await.unwrap();
    let init = probe_lines(&sb)[0].clone();
    assert!((init["cores"].as_f64().unwrap() - share).abs() < 0.001, "{init}");
    sb.shutdown(ShutdownReason::Spindown).await.unwrap();
}

#[tokio::test]
async fn a_proactive_init_ends_long_before_the_first_invoke() {
    let (fx, mut config, _) = probe_fixture(true);
    config.init_gap = Duration::from_millis(1500);
    let started = std::time::Instant::now();
    let mut sb = Sandbox::start(config).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "start does not wait for the gap"
    );
    assert!(sb.is_frozen());
    let out = sb.invoke(json!({})).await.unwrap();
    assert_eq!(out.status, Status::Success);
    assert!(started.elapsed() >= Duration::from_millis(1500));
    // The gap is not the invocation's: its duration is its own.
    assert!(out.duration_ms < 1000.0, "{out:?}");
    let second = sb.invoke(json!({})).await.unwrap();
    assert_eq!(second.status, Status::Success);
    sb.shutdown(ShutdownReason::Spindown).await.unwrap();

    let records = sb.telemetry();
    let init_report = records.iter().find(|r| r.kind == "platform.initReport").unwrap();
    let start = record(&records, "platform.start", &out.request_id);
    let gap = (start.time - init_report.time).num_milliseconds();
    assert!(
        gap >= 1450,
        "initReport at {}, start at {}",
        init_report.time,
        start.time
    );
    // Frozen during the gap: no telemetry delivered once the freeze's wait for POSTs under way
    // is over; the init's records reach the extension all the same.
    let quiet_from = init_report.time + chrono::Duration::milliseconds(700);
    let during: Vec<_> = sb
        .deliveries()
        .into_iter()
        .filter(|d| d.at > quiet_from && d.at < start.time)
        .collect();
    assert!(during.is_empty(), "{during:#?}");
    let received = drained(&fx, "record");
    assert!(received.iter().any(|r| r["type"] == "platform.initReport"));
    let second_start = record(&records, "platform.start", &second.request_id);
    assert!((second_start.time - start.time).num_milliseconds() < 1000);
}

/// The runtime's `invocation/next` headers of each invoke (the fixture prints them on `env`).
fn next_headers(sb: &Sandbox) -> Vec<Value> {
    sb.output_of(&Source::Function)
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(&l.text).ok())
        .filter_map(|v| v.get("headers").cloned())
        .collect()
}

#[tokio::test]
async fn a_tenant_id_reaches_the_runtime_and_the_platform_events() {
    let (_fx, mut config, _) = probe_fixture(true);
    config.timeout = Duration::from_millis(1000);
    let mut sb = Sandbox::start(config).await.unwrap();
    let blue = InvokeOptions::tenant("blue");
    let out = sb.invoke_with(json!({"env": true}), blue.clone()).await.unwrap();
    assert_eq!(out.status, Status::Success);
    // A timeout: rapid's runtimeDone at the reset has no tenantId; the report has it.
    let late = sb
        .invoke_with(json!({"sleep_ms": 3000}), blue.clone())
        .await
        .unwrap();
    assert_eq!(late.status, Status::Timeout);
    // One environment, one tenant.
    let other = sb.invoke_with(json!({}), InvokeOptions::tenant("green")).await;
    assert!(matches!(other, Err(SandboxError::Config(_))), "{other:?}");
    assert!(matches!(sb.invoke(json!({})).await, Err(SandboxError::Config(_))));
    sb.shutdown(ShutdownReason::Spindown).await.unwrap();

    let headers = next_headers(&sb);
    assert_eq!(headers[0]["lambda-runtime-aws-tenant-id"], "blue", "{headers:?}");
    let records = sb.telemetry();
    for kind in ["platform.start", "platform.runtimeDone", "platform.report"] {
        assert_eq!(
            record(&records, kind, &out.request_id).record["tenantId"],
            "blue",
            "{kind}"
        );
    }
    assert_eq!(
        record(&records, "platform.start", &late.request_id).record["tenantId"],
        "blue"
    );
    assert!(
        record(&records, "platform.runtimeDone", &late.request_id)
            .record
            .get("tenantId")
            .is_none()
    );
    assert_eq!(
        record(&records, "platform.report", &late.request_id).record["tenantId"],
        "blue"
    );

    // Without a tenant: no header, no tenantId.
    let (_fx, config, _) = probe_fixture(false);
    let mut sb = Sandbox::start(config).await.unwrap();
    let plain = sb.invoke(json!({"env": true})).await.unwrap();
    sb.shutdown(ShutdownReason::Spindown).await.unwrap();
    assert!(next_headers(&sb)[0].get("lambda-runtime-aws-tenant-id").is_none());
    let records = sb.telemetry();
    for kind in ["platform.start", "platform.runtimeDone", "platform.report"] {
        assert!(
            record(&records, kind, &plain.request_id)
                .record
                .get("tenantId")
                .is_none()
        );
    }

    // Tenant isolation is for on-demand functions only.
    let (_fx, mut config, _) = probe_fixture(false);
    config.set_initialization_type(InitializationType::ProvisionedConcurrency);
    let mut sb = Sandbox::start(config).await.unwrap();
    let refused = sb.invoke_with(json!({}), InvokeOptions::tenant("blue")).await;
    assert!(
        matches!(refused, Err(SandboxError::Unsupported(_))),
        "{refused:?}"
    );
    sb.shutdown(ShutdownReason::Spindown).await.unwrap();
}

#[test]
fn the_command_line_sets_the_gap_and_the_tenant() {
    let (fx, _, _) = probe_fixture(false);
    let telemetry = fx.dir.join("telemetry.jsonl");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lambda-sandbox"))
        .args(["--bootstrap", fx.dir.join("function/bootstrap").to_str().unwrap()])
        .args(["--no-cpu-limit", "--init-gap-ms", "800", "--tenant-id", "blue"])
        .args(["--telemetry", telemetry.to_str().unwrap()])
        .args(["{}", "{}"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let records: Vec<Value> = std::fs::read_to_string(&telemetry)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let time = |r: &Value| chrono::DateTime::parse_from_rfc3339(r["time"].as_str().unwrap()).unwrap();
    let init_report = records
        .iter()
        .find(|r| r["type"] == "platform.initReport")
        .unwrap();
    let starts: Vec<&Value> = records.iter().filter(|r| r["type"] == "platform.start").collect();
    assert_eq!(starts.len(), 2);
    assert!((time(starts[0]) - time(init_report)).num_milliseconds() >= 750);
    assert!(starts.iter().all(|s| s["record"]["tenantId"] == "blue"));
    let usage = std::process::Command::new(env!("CARGO_BIN_EXE_lambda-sandbox"))
        .args([
            "--bootstrap",
            "/b",
            "--init-type",
            "lambda-managed-instances",
            "--tenant-id",
            "x",
        ])
        .output()
        .unwrap();
    assert_eq!(usage.status.code(), Some(2));
}
