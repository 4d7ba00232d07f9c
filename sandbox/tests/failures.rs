//! Timeouts, crashes, out-of-memory kills, init errors, resets and the shutdown deadline.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "integration tests fail loudly"
)]

mod common;

use std::time::{Duration, Instant};

use common::Fixture;
use lambda_sandbox::{ExitKind, Sandbox, ShutdownReason, Source, Status};
use serde_json::json;

fn report_of<'a>(
    records: &'a [lambda_sandbox::TelemetryRecord],
    kind: &str,
    id: &str,
) -> &'a serde_json::Value {
    &records
        .iter()
        .find(|r| r.kind == kind && r.request_id() == Some(id))
        .unwrap()
        .record
}

#[tokio::test]
async fn timeout_resets_and_next_invoke_reinitialises() {
    let fx = Fixture::new(&["ext-a"]);
    let mut config = fx.config();
    // The re-init of the next invoke runs within this budget too: room for two Python
    // processes to start on a loaded machine.
    config.timeout = Duration::from_millis(1500);
    let mut sb = Sandbox::start(config).await.unwrap();
    let slow = sb.invoke(json!({"sleep_ms": 5000})).await.unwrap();
    assert_eq!(slow.status, Status::Timeout);
    // errorType is "present only when status is failure or error".
    assert_eq!(slow.error_type, None);
    assert!(
        slow.duration_ms >= 1500.0 && slow.duration_ms < 2500.0,
        "{}",
        slow.duration_ms
    );
    let reset = slow.reset.as_ref().expect("a timeout resets the environment");
    assert_eq!(reset.reason, ShutdownReason::Timeout);
    // A reset sends the runtime SIGTERM first, as a shutdown does (this one exits on it).
    let runtime = reset.of(&Source::Function).unwrap();
    assert_eq!((&runtime.exit, runtime.killed), (&ExitKind::Code(0), false));
    assert!(
        sb.output_of(&Source::Function)
            .iter()
            .any(|l| l.text == "runtime got SIGTERM")
    );
    assert_eq!(
        reset.of(&Source::Extension("ext-a".into())).unwrap().exit,
        ExitKind::Code(0)
    );

    let next = sb.invoke(json!({})).await.unwrap();
    assert_eq!(next.status, Status::Success);
    let init = next.init.as_ref().expect("re-init inside the invoke");
    assert_eq!((init.phase.as_str(), init.status), ("invoke", Status::Success));
    // A suppressed init: not reported separately; the invocation's duration includes it.
    assert!(next.init_duration_ms.is_none());
    assert!(next.duration_ms >= init.duration_ms, "{next:?}");
    sb.shutdown(ShutdownReason::Spindown).await.unwrap();

    let records = sb.telemetry();
    let done = report_of(&records, "platform.runtimeDone", &slow.request_id);
    assert_eq!(done["status"], "timeout");
    let report = report_of(&records, "platform.report", &slow.request_id);
    assert_eq!(report["status"], "timeout");
    assert!(report.get("errorType").is_none() && done.get("errorType").is_none());
    let init_starts: Vec<_> = records
        .iter()
        .filter(|r| r.kind == "platform.initStart")
        .collect();
    assert_eq!(init_starts.len(), 2);
    assert_eq!(init_starts[1].record["phase"], "invoke");
    let init_reports: Vec<_> = records
        .iter()
        .filter(|r| r.kind == "platform.initReport")
        .collect();
    assert_eq!(init_reports[1].record["phase"], "invoke");
    let report2 = report_of(&records, "platform.report", &next.request_id);
    assert!(report2["metrics"].get("initDurationMs").is_none(), "{report2}");
    // Lambda order for a suppressed init: the init's events, then platform.start.
    let pos = |kind: &str, f: &dyn Fn(&serde_json::Value) -> bool| {
        records
            .iter()
            .position(|r| r.kind == kind && f(&r.record))
            .unwrap()
    };
    assert!(
        pos("platform.initReport", &|r| r["phase"] == "invoke")
            < pos("platform.start", &|r| r["requestId"] == next.request_id.as_str())
    );

    // The first extension process got SHUTDOWN(timeout) and, while draining, the timed-out
    // invocation's report; the second process registered anew.
    let events = fx.ext_entries("ext-a", "event");
    let shutdowns: Vec<_> = events.iter().filter(|e| e["eventType"] == "SHUTDOWN").collect();
    assert_eq!(shutdowns[0]["shutdownReason"], "timeout");
    assert_eq!(shutdowns[1]["shutdownReason"], "spindown");
    assert_eq!(fx.ext_entries("ext-a", "registered").len(), 2);
    let exits = fx.ext_entries("ext-a", "exit");
    assert_eq!(exits[0]["missing_reports"], json!([]));
    assert!(fx.received("ext-a").iter().any(|r| r["type"] == "platform.report"
        && r["record"]["requestId"] == slow.request_id.as_str()
        && r["record"]["status"] == "timeout"));
}

#[tokio::test]
async fn runtime_exit_is_a_failure_and_resets() {
    let fx = Fixture::new(&["ext-a"]);
    let mut sb = Sandbox::start(fx.config()).await.unwrap();
    let out = sb.invoke(json!({"exit": 3})).await.unwrap();
    assert_eq!(out.status, Status::Error);
    assert_eq!(out.error_type.as_deref(), Some("Runtime.ExitError"));
    let reset = out.reset.as_ref().unwrap();
    assert_eq!(reset.reason, ShutdownReason::Failure);
    assert_eq!(reset.of(&Source::Function).unwrap().exit, ExitKind::Code(3));
    let again = sb.invoke(json!({})).await.unwrap();
    assert_eq!(again.status, Status::Success);
    sb.shutdown(ShutdownReason::Spindown).await.unwrap();
    let events = fx.ext_entries("ext-a", "event");
    assert!(
        events
            .iter()
            .any(|e| e["eventType"] == "SHUTDOWN" && e["shutdownReason"] == "failure")
    );
    let records = sb.telemetry();
    assert_eq!(
        report_of(&records, "platform.runtimeDone", &out.request_id)["status"],
        "error"
    );
}

#[tokio::test]
async fn function_error_is_reported_without_reset() {
    let fx = Fixture::new(&[]);
    let mut sb = Sandbox::start(fx.config()).await.unwrap();
    let out = sb.invoke(json!({"error": "boom"})).await.unwrap();
    assert_eq!(out.status, Status::Error);
    // The runtime's header says "Unhandled" (the body says Function.TestError): Lambda keeps
    // only a Runtime.X or Function.X header, else reports Runtime.Unknown.
    assert_eq!(out.error_type.as_deref(), Some("Runtime.Unknown"));
    assert!(out.reset.is_none());
    let body: serde_json::Value = serde_json::from_slice(&out.response).unwrap();
    assert_eq!(body["errorMessage"], "boom");
    let ok = sb.invoke(json!({})).await.unwrap();
    assert_eq!(ok.status, Status::Success);
    assert!(ok.init.is_none());
    sb.shutdown(ShutdownReason::Spindown).await.unwrap();
    let records = sb.telemetry();
    let done = report_of(&records, "platform.runtimeDone", &out.request_id);
    assert_eq!(
        (done["status"].as_str(), done["errorType"].as_str()),
        (Some("error"), Some("Runtime.Unknown"))
    );
}

#[tokio::test]
async fn a_runtime_or_function_error_type_header_is_kept() {
    let fx = Fixture::new(&[]);
    let mut sb = Sandbox::start(fx.config()).await.unwrap();
    for (header, reported) in [
        ("Function.TestError", "Function.TestError"),
        ("Runtime.HandlerNotFound", "Runtime.HandlerNotFound"),
        ("Function.x", "Function.Unknown"),
        ("", "Runtime.Unknown"),
    ] {
        let out = sb
            .invoke(json!({"error": "boom", "error_header": header}))
            .await
            .unwrap();
        assert_eq!(out.error_type.as_deref(), Some(reported), "{header:?}");
    }
    sb.shutdown(ShutdownReason::Spindown).await.unwrap();
}

#[tokio::test]
async fn out_of_memory_kills_the_runtime() {
    // With the environment's cgroup (root here and in CI) the kernel's OOM killer ends the
    // runtime at the limit; with the fallback the sandbox's sampler does. Either way the
    // report says out of memory and never more than the memory size.
    for cgroups in [true, false] {
        let fx = Fixture::new(&["ext-a"]);
        let mut config = fx.config();
        config.cgroups = cgroups;
        let mut sb = Sandbox::start(config).await.unwrap();
        let expected = if cgroups && lambda_sandbox::cgroups_available() {
            "cgroup"
        } else {
            "/proc"
        };
        assert!(
            sb.isolation().memory.starts_with(expected),
            "{:?}",
            sb.isolation()
        );
        let out = sb
            .invoke(json!({"alloc_mb": 200, "sleep_ms": 2000}))
            .await
            .unwrap();
        assert_eq!(out.status, Status::Error, "{cgroups}");
        assert_eq!(out.error_type.as_deref(), Some("Runtime.OutOfMemory"));
        assert!(
            out.max_memory_used_mb > 100 && out.max_memory_used_mb <= 128,
            "{cgroups}: {}",
            out.max_memory_used_mb
        );
        assert!(
            out.duration_ms < 1500.0,
            "killed, not timed out: {}",
            out.duration_ms
        );
        assert_eq!(
            out.reset.as_ref().unwrap().of(&Source::Function).unwrap().exit,
            ExitKind::Signal(9)
        );
        let next = sb.invoke(json!({})).await.unwrap();
        assert_eq!(next.status, Status::Success);
        sb.shutdown(ShutdownReason::Spindown).await.unwrap();
        let records = sb.telemetry();
        let report = report_of(&records, "platform.report", &out.request_id);
        assert_eq!(report["status"], "error");
        assert_eq!(report["errorType"], "Runtime.OutOfMemory");
        assert_eq!(report["metrics"]["maxMemoryUsedMB"], out.max_memory_used_mb);
    }
}

#[tokio::test]
async fn max_memory_follows_a_real_allocation() {
    let fx = Fixture::new(&["ext-a"]);
    let mut config = fx.config();
    config.memory_mb = 512;
    let mut sb = Sandbox::start(config).await.unwrap();
    let idle = sb.invoke(json!({})).await.unwrap();
    let big = sb.invoke(json!({"alloc_mb": 64})).await.unwrap();
    let after = sb.invoke(json!({})).await.unwrap();
    sb.shutdown(ShutdownReason::Spindown).await.unwrap();
    assert_eq!(big.status, Status::Success);
    assert!(big.max_memory_used_mb >= 64, "{}", big.max_memory_used_mb);
    assert!(
        big.max_memory_used_mb >= idle.max_memory_used_mb + 60,
        "{} vs {}",
        big.max_memory_used_mb,
        idle.max_memory_used_mb
    );
    // The peak is per invocation: it falls back once the allocation is freed.
    assert!(
        after.max_memory_used_mb + 40 < big.max_memory_used_mb,
        "{} vs {}",
        after.max_memory_used_mb,
        big.max_memory_used_mb
    );
}

#[tokio::test]
async fn init_error_is_retried_inside_the_first_invoke() {
    let fx = Fixture::new(&["ext-a"]);
    let flag = fx.dir.join("fail-init-once");
    std::fs::write(&flag, "").unwrap();
    let mut config = fx.config();
    config
        .env
        .push(("RUNTIME_INIT_FAIL_FLAG".into(), flag.display().to_string()));
    let mut sb = Sandbox::start(config).await.unwrap();
    let init = &sb.init_outcomes()[0];
    assert_eq!(init.status, Status::Error);
    assert_eq!(init.error_type.as_deref(), Some("Runtime.TestInitError"));
    let out = sb.invoke(json!({})).await.unwrap();
    assert_eq!(out.status, Status::Success);
    assert_eq!(out.init.as_ref().unwrap().phase, "invoke");
    sb.shutdown(ShutdownReason::Spindown).await.unwrap();
    let records = sb.telemetry();
    let rd = records
        .iter()
        .find(|r| r.kind == "platform.initRuntimeDone")
        .unwrap();
    assert_eq!(rd.record["status"], "error");
    assert_eq!(rd.record["errorType"], "Runtime.TestInitError");
    // The extension process of the failed init was shut down (or killed, if it had not
    // registered for SHUTDOWN yet); the new one got the invocation.
    let events = fx.ext_entries("ext-a", "event");
    let invoke = events.iter().find(|e| e["eventType"] == "INVOKE").unwrap();
    assert_eq!(invoke["requestId"], out.request_id.as_str());
}

#[tokio::test]
async fn shutdown_deadline_kills_a_stuck_extension() {
    let fx = Fixture::new(&["good", "stuck"]);
    // Same script; the stuck one ignores SHUTDOWN (the variable is read by both, so make the
    // good one's copy a wrapper that unsets it).
    let good = fx.dir.join("layer/extensions/good");
    std::fs::write(
        &good,
        common::EXTENSION.replace("ENV(\"EXT_IGNORE_SHUTDOWN\")", "False"),
    )
    .unwrap();
    let mut config = fx.config();
    config.env.push(("EXT_IGNORE_SHUTDOWN".into(), "1".into()));
    config.shutdown_deadline = Duration::from_millis(600);
    let mut sb = Sandbox::start(config).await.unwrap();
    sb.invoke(json!({})).await.unwrap();
    let t0 = Instant::now();
    let out = sb.shutdown(ShutdownReason::Spindown).await.unwrap();
    assert!(t0.elapsed() < Duration::from_millis(1500), "{:?}", t0.elapsed());
    let stuck = out.of(&Source::Extension("stuck".into())).unwrap();
    assert!(stuck.killed);
    assert_eq!(stuck.exit, ExitKind::Signal(9));
    assert!(stuck.exited_after_shutdown.unwrap() >= Duration::from_millis(500));
    let good = out.of(&Source::Extension("good".into())).unwrap();
    assert!(!good.killed);
    assert_eq!(good.exit, ExitKind::Code(0));
    assert!(good.exited_after_shutdown.unwrap() < Duration::from_millis(500));
    assert!(sb.invoke(json!({})).await.is_err());
}

// Multi-threaded: the raw requests below block their thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_refusals() {
    let fx = Fixture::new(&["ext-a"]);
    let mut config = fx.config();
    config.env.push(("EXT_PROBE".into(), "1".into()));
    let mut sb = Sandbox::start(config).await.unwrap();
    // After init: registration is refused, unknown identifiers too.
    let addr = sb.api_addr();
    let (status, body) = raw(
        addr,
        "POST",
        "/2020-01-01/extension/register",
        &[("Lambda-Extension-Name", "ext-a")],
        "{\"events\":[]}",
    );
    assert_eq!(status, 403, "{body}");
    let (status, _) = raw(
        addr,
        "GET",
        "/2020-01-01/extension/event/next",
        &[("Lambda-Extension-Identifier", "x")],
        "",
    );
    assert_eq!(status, 403);
    let (status, _) = raw(
        addr,
        "POST",
        "/2018-06-01/runtime/invocation/nope/response",
        &[],
        "{}",
    );
    assert_eq!(status, 400);
    sb.shutdown(ShutdownReason::Spindown).await.unwrap();
    let wrong = &fx.ext_entries("ext-a", "probe-wrong-name")[0];
    assert_eq!(wrong["status"], 403);
    let bad = &fx.ext_entries("ext-a", "probe-bad-buffering")[0];
    assert_eq!(bad["status"], 400);
    assert!(bad["body"]["errorMessage"].as_str().unwrap().contains("maxItems"));
    assert_eq!(fx.ext_entries("ext-a", "probe-unknown-id")[0]["status"], 403);
}

/// A one-shot HTTP/1.1 request; returns the status and body.
fn raw(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, out)
}

#[tokio::test]
async fn init_past_its_limit_times_out() {
    let fx = Fixture::new(&[]);
    let mut config = fx.config();
    config.init_timeout = Duration::from_millis(300);
    config.env.push(("RUNTIME_INIT_SLEEP_MS".into(), "5000".into()));
    let mut sb = Sandbox::start(config).await.unwrap();
    let init = &sb.init_outcomes()[0];
    assert_eq!(init.status, Status::Timeout);
    assert!(init.duration_ms >= 300.0 && init.duration_ms < 1000.0);
    // The re-run inside the invoke times out as well: the invoke reports the init's error.
    let out = sb.invoke(json!({})).await.unwrap();
    assert_eq!(out.status, Status::Timeout);
    assert_eq!(out.error_type, None);
    sb.shutdown(ShutdownReason::Spindown).await.unwrap();
    let records = sb.telemetry();
    let reports: Vec<_> = records
        .iter()
        .filter(|r| r.kind == "platform.initReport")
        .collect();
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[0].record["status"], "timeout");
    assert_eq!(reports[1].record["phase"], "invoke");
}

#[tokio::test]
async fn a_suppressed_init_runs_within_the_functions_timeout_and_can_time_the_invoke_out() {
    let fx = Fixture::new(&["ext-a"]);
    let slow = fx.dir.join("slow-init");
    let mut config = fx.config();
    config.timeout = Duration::from_millis(2000);
    config
        .env
        .push(("RUNTIME_SLOW_INIT_FILE".into(), slow.display().to_string()));
    let mut sb = Sandbox::start(config).await.unwrap();
    let crash = sb.invoke(json!({"exit": 2})).await.unwrap();
    assert!(crash.reset.is_some());
    // The re-init now takes longer than the whole timeout (Lambda's init limit of 10 s does
    // not apply inside an invoke): it is cut at 2 s and the invocation times out.
    std::fs::write(&slow, "4000").unwrap();
    let out = sb.invoke(json!({})).await.unwrap();
    let init = out.init.as_ref().expect("the init ran inside the invoke");
    assert_eq!((init.phase.as_str(), init.status), ("invoke", Status::Timeout));
    assert!(
        init.duration_ms >= 2000.0 && init.duration_ms < 3500.0,
        "{init:?}"
    );
    assert_eq!((out.status, out.error_type.as_deref()), (Status::Timeout, None));
    assert!(
        out.duration_ms >= 2000.0 && out.init_duration_ms.is_none(),
        "{out:?}"
    );
    // A re-init that leaves part of the budget: the invocation gets what is left.
    std::fs::write(&slow, "1200").unwrap();
    let out = sb.invoke(json!({"sleep_ms": 1200})).await.unwrap();
    let init = out.init.as_ref().expect("the init ran inside the invoke");
    assert_eq!(init.status, Status::Success);
    assert_eq!(out.status, Status::Timeout, "1.2 s of init + 1.2 s of work > 2 s");
    assert!(out.duration_ms >= 2000.0 && out.duration_ms < 3500.0, "{out:?}");
    sb.shutdown(ShutdownReason::Spindown).await.unwrap();
}
