//! A Python function under `awslambdaric`, AWS's own runtime interface client (pinned in
//! requirements-test.txt, installed into `.venv` by `make test`), with the built lambda-lens
//! layer as its extension, in the sandbox: success, error, timeout, crash, out of memory,
//! SnapStart and Managed Instances, each asserted on the EMF lambda-lens wrote. A client AWS
//! wrote checks that the sandbox's Runtime API is the one real runtimes speak.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly"
)]

mod binaries;

use binaries::{python, scratch};

use std::path::PathBuf;
use std::time::Duration;

use lambda_sandbox::{Config, InitializationType, Sandbox, ShutdownReason, Source, Status};
use serde_json::{Map, Value, json};

/// A sandbox configuration for the fixture function under awslambdaric.
fn config(dir: &std::path::Path) -> Config {
    let (_, layer) = lambda_lens_harness::built::paths();
    let code = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/awslambdaric");
    let bootstrap = dir.join("bootstrap");
    std::fs::write(
        &bootstrap,
        format!(
            "#!/bin/sh\nexec '{}' -m awslambdaric \"$_HANDLER\"\n",
            python().display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&bootstrap, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut c = Config::new(&bootstrap);
    c.layer_dir = Some(layer);
    c.task_root = Some(code.clone());
    c.handler = "app.handler".into();
    c.runtime = "python3.12".into();
    c.function_name = "ric-function".into();
    c.memory_mb = 256;
    c.timeout = Duration::from_secs(3);
    // Python's start-up is sized for a whole core here; the CPU share has its own test.
    c.cpu_limit = false;
    c.env = vec![
        ("PYTHONPATH".into(), code.display().to_string()),
        ("LAMBDA_LENS_OUTPUT".into(), "per-invocation".into()),
    ];
    c
}

/// lambda-lens's documents, by request id.
fn documents(sb: &Sandbox) -> Vec<Map<String, Value>> {
    sb.output_of(&Source::Extension("lambda-lens".into()))
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(&l.text).ok())
        .filter_map(|v| match v {
            Value::Object(m) if m.contains_key("_aws") => Some(m),
            _ => None,
        })
        .collect()
}

fn document<'a>(docs: &'a [Map<String, Value>], request_id: &str) -> &'a Map<String, Value> {
    docs.iter()
        .find(|d| d.get("RequestId").and_then(Value::as_str) == Some(request_id))
        .unwrap_or_else(|| panic!("no document for {request_id}: {docs:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built layer and awslambdaric in .venv: make test runs it"]
async fn every_ending_of_an_awslambdaric_function_is_reported() {
    let dir = scratch("endings");
    let mut sb = Sandbox::start(config(&dir)).await.unwrap();
    let mut outs = Vec::new();
    for event in [
        json!({"action": "ok"}),
        json!({"action": "error"}),
        json!({"action": "timeout"}),
        json!({"action": "ok"}),
        json!({"action": "crash"}),
        json!({"action": "oom", "mb": 400}),
        json!({"action": "ok"}),
    ] {
        outs.push(sb.invoke(event).await.unwrap());
    }
    sb.shutdown(ShutdownReason::Spindown).await.unwrap();
    let docs = documents(&sb);
    let doc = |i: usize| document(&docs, &outs[i].request_id);

    // Success, and the cold start.
    assert_eq!(outs[0].status, Status::Success);
    assert_eq!(doc(0)["ColdStarts"], 1.0);
    assert_eq!(doc(0)["Errors"], 0.0);
    // The init's runtime version names the function's runtime, in Lambda's shape.
    assert_eq!(doc(0)["RuntimeVersion"], "python:3.12.sandbox");
    let response: Value = serde_json::from_slice(&outs[0].response).unwrap();
    assert_eq!(response["request_id"], outs[0].request_id.as_str());
    // An exception: awslambdaric's error header is not a Runtime.X or Function.X value, so
    // Lambda reports Runtime.Unknown.
    assert_eq!(outs[1].status, Status::Error);
    assert_eq!(doc(1)["Errors"], 1.0);
    assert_eq!(doc(1)["Status"], "error");
    assert_eq!(doc(1)["ColdStarts"], 0.0);
    // A timeout: status timeout, no error type; the environment is reset.
    assert_eq!(
        (outs[2].status, outs[2].error_type.as_deref()),
        (Status::Timeout, None)
    );
    assert_eq!(doc(2)["Timeouts"], 1.0);
    assert!(doc(2).get("ErrorType").is_none(), "{:?}", doc(2));
    // After the reset: a cold start again, its init inside the invoke.
    assert_eq!(outs[3].status, Status::Success);
    assert!(outs[3].init.is_some());
    assert_eq!(doc(3)["ColdStarts"], 1.0);
    assert!(doc(3)["InitDuration"].as_f64().unwrap() > 0.0);
    // A crash: status error, Runtime.ExitError.
    assert_eq!(
        (outs[4].status, outs[4].error_type.as_deref()),
        (Status::Error, Some("Runtime.ExitError"))
    );
    assert_eq!(doc(4)["ErrorType"], "Runtime.ExitError");
    assert_eq!(doc(4)["Errors"], 1.0);
    // Out of memory: the kernel (or the fallback's sampler) ends it at 256 MB.
    assert_eq!(outs[5].error_type.as_deref(), Some("Runtime.OutOfMemory"));
    assert_eq!(doc(5)["OutOfMemory"], 1.0);
    assert!(doc(5)["MaxMemoryUsed"].as_f64().unwrap() <= 256.0);
    assert_eq!(outs[6].status, Status::Success);
    assert_eq!(doc(6)["ColdStarts"], 1.0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built layer and awslambdaric in .venv: make test runs it"]
async fn an_awslambdaric_snapstart_function_is_restored_and_reported() {
    let dir = scratch("snapstart");
    let mut c = config(&dir);
    c.set_initialization_type(InitializationType::SnapStart);
    let mut sb = Sandbox::start(c).await.unwrap();
    let first = sb.invoke(json!({"action": "ok"})).await.unwrap();
    let second = sb.invoke(json!({"action": "ok"})).await.unwrap();
    sb.shutdown(ShutdownReason::Spindown).await.unwrap();
    // awslambdaric called restore/next after init, so the first invoke restored the snapshot.
    let restore = first.restore.as_ref().expect("the first invoke restores");
    assert_eq!(restore.status, Status::Success);
    assert!(first.restore_duration_ms.is_some());
    let docs = documents(&sb);
    let doc = document(&docs, &first.request_id);
    // lambda-lens counts a restore as a restore, not a cold start (docs/metrics.md: ColdStarts).
    assert_eq!(doc["ColdStarts"], 0.0);
    assert!(doc["RestoreDuration"].as_f64().unwrap() > 0.0, "{doc:?}");
    assert!(doc.get("InitDuration").is_none(), "{doc:?}");
    assert_eq!(document(&docs, &second.request_id)["ColdStarts"], 0.0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built layer and awslambdaric in .venv: make test runs it"]
async fn awslambdaric_on_managed_instances_serves_invocations_at_once() {
    let dir = scratch("managed");
    let mut c = config(&dir);
    c.set_initialization_type(InitializationType::LambdaManagedInstances);
    c.max_concurrency = 2;
    let mut sb = Sandbox::start(c).await.unwrap();
    let outs = sb
        .invoke_concurrent(vec![
            json!({"action": "sleep", "ms": 300}),
            json!({"action": "sleep", "ms": 300}),
            json!({"action": "error"}),
        ])
        .await
        .unwrap();
    sb.shutdown(ShutdownReason::Spindown).await.unwrap();
    assert_eq!(outs.len(), 3);
    assert_eq!(outs[0].status, Status::Success);
    assert_eq!(outs[1].status, Status::Success);
    assert_eq!(outs[2].status, Status::Error);
    let docs = documents(&sb);
    for o in &outs {
        let doc = document(&docs, &o.request_id);
        assert_eq!(doc["InitType"], "lambda-managed-instances");
        assert_eq!(doc["Errors"], if o.status == Status::Error { 1.0 } else { 0.0 });
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
