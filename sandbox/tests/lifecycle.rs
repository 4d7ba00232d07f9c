//! Init, invoke, late delivery and shutdown against real Python processes.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "integration tests fail loudly"
)]

mod common;

use common::{Fixture, kinds, of_kind, position};
use lambda_sandbox::{ExitKind, Sandbox, ShutdownReason, Source, Status};
use serde_json::json;

#[tokio::test]
async fn init_events_order_and_environment() {
    let fx = Fixture::new(&["ext-a"]);
    let mut config = fx.config();
    config.function_name = "my-fn".into();
    config.env.push(("EXTRA_VAR".into(), "1".into()));
    let mut sb = Sandbox::start(config).await.unwrap();
    assert_eq!(sb.init_outcomes()[0].status, Status::Success);
    let out = sb.invoke(json!({"env": true})).await.unwrap();
    assert_eq!(out.status, Status::Success);
    let shutdown = sb.shutdown(ShutdownReason::Spindown).await.unwrap();

    assert!(shutdown.processes.len() == 2);
    // The runtime's environment, as it printed it.
    let lines = sb.output_of(&Source::Function);
    let env: serde_json::Value = lines
        .iter()
        .find_map(|l| {
            serde_json::from_str(&l.text)
                .ok()
                .filter(|v: &serde_json::Value| v.get("TZ").is_some())
        })
        .unwrap();
    let port = sb.api_addr().port();
    assert_eq!(env["AWS_LAMBDA_RUNTIME_API"], format!("127.0.0.1:{port}"));
    assert_eq!(env["AWS_LAMBDA_FUNCTION_NAME"], "my-fn");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "128");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_VERSION"], "$LATEST");
    assert_eq!(env["AWS_REGION"], "us-east-1");
    assert_eq!(env["AWS_DEFAULT_REGION"], "us-east-1");
    assert_eq!(env["AWS_LAMBDA_LOG_GROUP_NAME"], "/aws/lambda/my-fn");
    assert!(
        env["AWS_LAMBDA_LOG_STREAM_NAME"]
            .as_str()
            .unwrap()
            .contains("[$LATEST]")
    );
    assert_eq!(env["AWS_LAMBDA_INITIALIZATION_TYPE"], "on-demand");
    assert_eq!(env["AWS_EXECUTION_ENV"], "AWS_Lambda_provided.al2023");
    assert_eq!(env["TZ"], ":UTC");
    assert_eq!(env["EXTRA_VAR"], "1");
    // Lambda sets the format in both formats, the level only with JSON.
    assert_eq!(env["AWS_LAMBDA_LOG_FORMAT"], "Text");
    assert!(env.get("AWS_LAMBDA_LOG_LEVEL").is_none());
    assert!(env["LAMBDA_TASK_ROOT"].as_str().unwrap().ends_with("/function"));
    // The extension's: the shared variables, the function's own, not the runtime-only ones.
    let ext_env = &fx.ext_entries("ext-a", "env")[0];
    assert_eq!(ext_env["AWS_LAMBDA_FUNCTION_NAME"], "my-fn");
    assert_eq!(ext_env["AWS_LAMBDA_RUNTIME_API"], env["AWS_LAMBDA_RUNTIME_API"]);
    assert_eq!(ext_env["EXTRA_VAR"], "1");
    for runtime_only in [
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "LAMBDA_TASK_ROOT",
        "_HANDLER",
    ] {
        assert!(env.get(runtime_only).is_some(), "{runtime_only}");
        assert!(ext_env.get(runtime_only).is_none(), "{runtime_only}: {ext_env}");
    }
    let headers: serde_json::Value = lines
        .iter()
        .find_map(|l| {
            serde_json::from_str(&l.text)
                .ok()
                .filter(|v: &serde_json::Value| v.get("headers").is_some())
        })
        .unwrap();
    assert_eq!(
        headers["headers"]["lambda-runtime-aws-request-id"],
        out.request_id.as_str()
    );
    assert!(
        headers["headers"]["lambda-runtime-invoked-function-arn"]
            .as_str()
            .unwrap()
            .ends_with(":function:my-fn")
    );
    assert!(
        headers["headers"]["lambda-runtime-deadline-ms"]
            .as_str()
            .unwrap()
            .parse::<i64>()
            .unwrap()
            > 0
    );
    let trace = headers["headers"]["lambda-runtime-trace-id"].as_str().unwrap();
    assert!(
        trace.starts_with("Root=1-") && trace.ends_with(";Sampled=0"),
        "{trace}"
    );
    // Extension output is tagged with the extension's name.
    let ext_lines = sb.output_of(&Source::Extension("ext-a".into()));
    assert!(ext_lines.iter().any(|l| l.text == "ext-a ready"));
    let lines: Vec<String> = fx
        .ext_log("ext-a")
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect();
    assert!(lines.contains(&"subscribed".to_owned()), "{lines:?}");
    let reg = &fx.ext_entries("ext-a", "registered")[0];
    assert_eq!(reg["status"], 200);
    assert_eq!(reg["body"]["functionName"], "my-fn");
    assert_eq!(reg["body"]["functionVersion"], "$LATEST");
    assert_eq!(reg["body"]["accountId"], "123456789012");
    assert_eq!(fx.ext_entries("ext-a", "subscribed")[0]["body"], "OK");
    // The extension receives the init events generated before it subscribed.
    let received = fx.received("ext-a");
    assert_eq!(received[0]["type"], "platform.initStart");
    assert_eq!(received[0]["record"]["phase"], "init");
    assert_eq!(received[0]["record"]["initializationType"], "on-demand");
    assert_eq!(received[0]["record"]["functionName"], "my-fn");
    let time = received[0]["time"].as_str().unwrap();
    assert!(time.ends_with('Z') && time.len() == 24, "{time}");
}

#[tokio::test]
async fn the_runtime_starts_only_after_every_extension_registered() {
    let fx = Fixture::new(&["ext-a", "ext-b"]);
    let mut config = fx.config();
    config.env.push(("EXT_REGISTER_DELAY_MS".into(), "300".into()));
    let mut sb = Sandbox::start(config).await.unwrap();
    assert_eq!(sb.init_outcomes()[0].status, Status::Success);
    sb.shutdown(ShutdownReason::Spindown).await.unwrap();
    let runtime_started = sb
        .output_of(&Source::Function)
        .iter()
        .find(|l| l.text == "runtime started")
        .map(|l| l.time.timestamp_micros() as f64 / 1e6)
        .unwrap();
    for name in ["ext-a", "ext-b"] {
        let registered = fx
            .ext_log(name)
            .into_iter()
            .find(|e| e["kind"] == "registering")
            .map(|e| e["t"].as_f64().unwrap())
            .unwrap();
        assert!(
            registered < runtime_started,
            "{name} asked to register at {registered}, the runtime started at {runtime_started}"
        );
    }
}

#[tokio::test]
async fn platform_events_in_lambda_order() {
    let fx = Fixture::new(&["ext-a", "ext-b"]);
    let mut sb = Sandbox::start(fx.config()).await.unwrap();
    let first = sb.invoke(json!({"env": true})).await.unwrap();
    let second = sb.invoke(json!({"response": {"n": 2}})).await.unwrap();
    let records = sb.telemetry();
    let shutdown = sb.shutdown(ShutdownReason::Spindown).await.unwrap();
    let k = kinds(&records);

    // Init: initStart first, two extensions Ready, two subscriptions, runtime done, report last.
    assert_eq!(k[0], "platform.initStart");
    assert_eq!(of_kind(&records, "platform.extension").len(), 2);
    assert_eq!(of_kind(&records, "platform.telemetrySubscription").len(), 2);
    let init_report = position(&records, "platform.initReport");
    assert!(position(&records, "platform.initRuntimeDone") < init_report);
    for (i, r) in records.iter().enumerate() {
        if r.kind == "platform.extension" || r.kind == "platform.telemetrySubscription" {
            assert!(i < init_report, "{k:?}");
        }
    }
    let ext = of_kind(&records, "platform.extension")[0];
    assert_eq!(ext.record["state"], "Ready");
    assert_eq!(ext.record["events"], json!(["INVOKE", "SHUTDOWN"]));
    let sub = of_kind(&records, "platform.telemetrySubscription")[0];
    assert_eq!(sub.record["types"], json!(["platform", "function", "extension"]));
    assert_eq!(
        of_kind(&records, "platform.initReport")[0].record["status"],
        "success"
    );

    // Invoke: start, runtimeDone, report per request, in that order.
    for out in [&first, &second] {
        let id = out.request_id.as_str();
        let pos = |kind: &str| {
            records
                .iter()
                .position(|r| r.kind == kind && r.request_id() == Some(id))
                .unwrap()
        };
        assert!(pos("platform.start") < pos("platform.runtimeDone"));
        assert!(pos("platform.runtimeDone") < pos("platform.report"));
        let start = &records[pos("platform.start")].record;
        assert_eq!(start["version"], "$LATEST");
        assert_eq!(start["tracing"]["type"], "X-Amzn-Trace-Id");
        assert_eq!(start["tracing"]["value"], out.trace_id.as_str());
        let done = &records[pos("platform.runtimeDone")].record;
        assert_eq!(done["status"], "success");
        let spans: Vec<&str> = done["spans"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        assert_eq!(spans, ["responseLatency", "responseDuration", "runtimeOverhead"]);
        assert_eq!(done["metrics"]["producedBytes"], out.response.len() as u64);
        let report = &records[pos("platform.report")].record;
        assert_eq!(report["status"], "success");
        assert_eq!(report["metrics"]["memorySizeMB"], 128);
        assert!(report["metrics"]["maxMemoryUsedMB"].as_u64().unwrap() > 5);
        assert_eq!(report["metrics"]["durationMs"], out.duration_ms);
        assert!(out.billed_duration_ms as f64 >= out.duration_ms);
        // With extensions, the report carries the time they took after the runtime's next.
        let overhead = &report["spans"][0];
        assert_eq!(overhead["name"], "extensionOverhead");
        let d = overhead["durationMs"].as_f64().unwrap();
        assert!(d >= 0.0 && d <= out.duration_ms, "{overhead}");
        assert_eq!(report["spans"].as_array().unwrap().len(), 1);
    }
    let report1 = records
        .iter()
        .find(|r| r.kind == "platform.report" && r.request_id() == Some(&first.request_id));
    let m1 = &report1.unwrap().record["metrics"];
    assert!(m1["initDurationMs"].as_f64().unwrap() > 0.0);
    assert!(first.init_duration_ms.is_some() && second.init_duration_ms.is_none());
    // Billed duration includes the init duration on a cold start.
    assert!(m1["billedDurationMs"].as_f64().unwrap() >= first.duration_ms + first.init_duration_ms.unwrap());
    assert_eq!(&second.response[..], br#"{"n": 2}"#);

    // Processes: the runtime gets SIGTERM (this one says so and exits 0), extensions exit by
    // themselves within the deadline.
    let rt = shutdown.of(&Source::Function).unwrap();
    assert_eq!(rt.exit, ExitKind::Code(0));
    assert!(!rt.killed);
    assert!(
        sb.output_of(&Source::Function)
            .iter()
            .any(|l| l.text == "runtime got SIGTERM")
    );
    for name in ["ext-a", "ext-b"] {
        let p = shutdown.of(&Source::Extension(name.into())).unwrap();
        assert_eq!(p.exit, ExitKind::Code(0), "{name}");
        assert!(!p.killed);
        assert!(p.exited_after_shutdown.unwrap() < common::SECOND * 2);
        // Each extension got both INVOKEs and a SHUTDOWN, and the last report before exiting.
        let events = fx.ext_entries(name, "event");
        assert_eq!(events.len(), 3);
        assert_eq!(events[0]["eventType"], "INVOKE");
        assert_eq!(events[0]["requestId"], first.request_id.as_str());
        assert_eq!(events[0]["tracing"]["value"], first.trace_id.as_str());
        assert!(
            events[0]["invokedFunctionArn"]
                .as_str()
                .unwrap()
                .starts_with("arn:aws:lambda:us-east-1:")
        );
        assert!(events[0]["deadlineMs"].as_i64().unwrap() > 1_600_000_000_000);
        assert_eq!(events[2]["eventType"], "SHUTDOWN");
        assert_eq!(events[2]["shutdownReason"], "spindown");
        assert_eq!(fx.ext_entries(name, "exit")[0]["missing_reports"], json!([]));
    }
}

#[tokio::test]
async fn report_arrives_during_the_next_invocation() {
    let fx = Fixture::new(&["ext-a"]);
    let mut sb = Sandbox::start(fx.config()).await.unwrap();
    let first = sb.invoke(json!({})).await.unwrap();
    // Frozen between invocations: the report of the first one has not been delivered.
    let delivered = |sb: &Sandbox, id: &str| {
        sb.deliveries().into_iter().find(|d| {
            d.outcome == Ok(200)
                && d.records
                    .iter()
                    .any(|(k, r)| k == "platform.report" && r.as_deref() == Some(id))
        })
    };
    assert!(delivered(&sb, &first.request_id).is_none());
    // The second invocation lasts long enough for the delivery (subscriber timeoutMs: 25).
    let second = sb.invoke(json!({"sleep_ms": 200})).await.unwrap();
    let records = sb.telemetry();
    let start2 = records
        .iter()
        .find(|r| r.kind == "platform.start" && r.request_id() == Some(&second.request_id))
        .unwrap()
        .time;
    let d = delivered(&sb, &first.request_id).expect("report 1 delivered during invoke 2");
    assert!(
        d.at >= start2,
        "report 1 delivered at {} before invoke 2 started at {start2}",
        d.at
    );
    // The last report reaches the extension only after SHUTDOWN.
    assert!(delivered(&sb, &second.request_id).is_none());
    sb.shutdown(ShutdownReason::Spindown).await.unwrap();
    let got: Vec<_> = fx
        .received("ext-a")
        .into_iter()
        .filter(|r| r["type"] == "platform.report")
        .map(|r| r["record"]["requestId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(got, [first.request_id, second.request_id]);
}

#[tokio::test]
async fn output_reaches_subscribers_as_function_and_extension_records() {
    let fx = Fixture::new(&["ext-a"]);
    let mut sb = Sandbox::start(fx.config()).await.unwrap();
    let out = sb.invoke(json!({})).await.unwrap();
    sb.shutdown(ShutdownReason::Spindown).await.unwrap();
    let received = fx.received("ext-a");
    let line = format!("invoked {}", out.request_id);
    assert!(
        received
            .iter()
            .any(|r| r["type"] == "function" && r["record"] == line.as_str())
    );
    assert!(
        received
            .iter()
            .any(|r| r["type"] == "extension" && r["record"] == "ext-a ready")
    );
    let all = sb.output();
    assert!(all.iter().any(|l| l.source == Source::Function && l.text == line));
}

#[tokio::test]
async fn json_log_format_delivers_objects() {
    let fx = Fixture::new(&["ext-a", "ext-b"]);
    let mut config = fx.config();
    config.env.push(("EXT_SCHEMA_EXT_B".into(), "2022-07-01".into()));
    config.logging.format = lambda_sandbox::LogFormat::Json;
    config.logging.application_level = Some(lambda_sandbox::LogLevel::Debug);
    let mut sb = Sandbox::start(config).await.unwrap();
    sb.invoke(json!({"env": true, "print": ["{\"level\":\"INFO\",\"message\":\"hi\"}", "plain"]}))
        .await
        .unwrap();
    sb.shutdown(ShutdownReason::Spindown).await.unwrap();
    let received = fx.received("ext-a");
    assert!(
        received
            .iter()
            .any(|r| r["type"] == "function" && r["record"] == json!({"level": "INFO", "message": "hi"}))
    );
    assert!(
        received
            .iter()
            .any(|r| r["type"] == "function" && r["record"] == "plain")
    );
    // Below schema 2022-12-13 a function record is always a string: the line as written.
    let old = fx.received("ext-b");
    let line = old
        .iter()
        .find(|r| r["type"] == "function" && r["record"].as_str().is_some_and(|s| s.contains("\"hi\"")))
        .unwrap_or_else(|| panic!("{old:?}"));
    let parsed: serde_json::Value = serde_json::from_str(line["record"].as_str().unwrap()).unwrap();
    assert_eq!(parsed, json!({"level": "INFO", "message": "hi"}));
    assert!(
        old.iter()
            .all(|r| r["type"] != "function" || r["record"].is_string())
    );
    let env: serde_json::Value = sb
        .output_of(&Source::Function)
        .iter()
        .find_map(|l| {
            serde_json::from_str(&l.text)
                .ok()
                .filter(|v: &serde_json::Value| v.get("TZ").is_some())
        })
        .unwrap();
    assert_eq!(env["AWS_LAMBDA_LOG_FORMAT"], "JSON");
    assert_eq!(env["AWS_LAMBDA_LOG_LEVEL"], "DEBUG");
}

#[tokio::test]
async fn managed_instances_rules() {
    let fx = Fixture::new(&["ext-a"]);
    let mut config = fx.config();
    config.initialization_type = lambda_sandbox::InitializationType::LambdaManagedInstances;
    config.env.extend([
        ("EXT_PROBE_INVOKE".into(), "1".into()),
        ("EXT_EVENTS".into(), "SHUTDOWN".into()),
        ("EXT_SCHEMA".into(), "2025-01-29".into()),
    ]);
    let mut sb = Sandbox::start(config).await.unwrap();
    let out = sb.invoke(json!({})).await.unwrap();
    assert_eq!(out.status, Status::Success);
    sb.shutdown(ShutdownReason::Spindown).await.unwrap();
    // rapid's Managed Instances answer: 403 Extension.InvalidEventType.
    let probe = &fx.ext_entries("ext-a", "probe-invoke")[0];
    assert_eq!(probe["status"], 403);
    assert_eq!(probe["body"]["errorType"], "Extension.InvalidEventType");
    assert_eq!(fx.ext_entries("ext-a", "subscribed")[0]["status"], 200);
    let events = fx.ext_entries("ext-a", "event");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["eventType"], "SHUTDOWN");
    let records = sb.telemetry();
    assert_eq!(
        records[0].record["initializationType"],
        "lambda-managed-instances"
    );
    let report = records.iter().find(|r| r.kind == "platform.report").unwrap();
    assert_eq!(
        report.record["metrics"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["durationMs"]
    );
}
