//! The same `lambda-lens` binary under a third-party Lambda emulator, the `lambda-simulator`
//! crate, so the extension is not only checked against our own sandbox's reading of the APIs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly"
)]

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lambda_simulator::{InvocationStatus, ShutdownReason, Simulator};
use serde_json::{Map, Value, json};

fn spawn(path: &std::path::Path, env: &HashMap<String, String>) -> Child {
    Command::new(path)
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(if std::env::var_os("SANDBOX_ECHO").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", path.display()))
}

fn wait_exit(child: &mut Child, within: Duration) -> Option<std::process::ExitStatus> {
    let until = Instant::now() + within;
    while Instant::now() < until {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built layer (make layer): make test runs it"]
async fn lambda_lens_reports_every_invocation_under_lambda_simulator() {
    let (bootstrap, _) = lambda_lens_harness::built::paths();
    let simulator = Simulator::builder()
        .function_name("simulated")
        .memory_size_mb(256)
        .shutdown_timeout(Duration::from_millis(2_000))
        .build()
        .await
        .unwrap();
    simulator.enable_telemetry_capture().await;
    let mut env = simulator.lambda_env_vars();
    env.insert("AWS_LAMBDA_LOG_LEVEL".into(), "debug".into());

    let mut extension = spawn(&lambda_lens_harness::built::extension(), &env);
    // The extension subscribes before its first /next: wait for that poll, then start the runtime.
    simulator
        .wait_for(
            || async {
                for ext in simulator.get_registered_extensions().await {
                    if simulator.first_next_poll_at(ext.id.as_str()).await.is_some() {
                        return true;
                    }
                }
                false
            },
            Duration::from_secs(5),
        )
        .await
        .expect("lambda-lens registered, subscribed and polled /next");
    let mut runtime = spawn(&bootstrap, &env);

    let payloads = [json!({}), json!({"fail": "nope"}), json!({"sleep_ms": 20})];
    let mut ids = Vec::new();
    for payload in payloads {
        let id = simulator.enqueue_payload(payload).await;
        let state = simulator
            .wait_for_invocation_complete(&id, Duration::from_secs(10))
            .await
            .unwrap();
        assert_ne!(state.status, InvocationStatus::Pending);
        simulator
            .wait_for_extensions_ready(&id, Duration::from_secs(5))
            .await
            .unwrap();
        ids.push((id, state.status));
    }
    // lambda-simulator writes an invocation's report once the next one starts, so the last has
    // none: lambda-lens must still report it, from what it knows, after a bounded wait.
    let reported: HashSet<String> = simulator
        .get_telemetry_events_by_type("platform.report")
        .await
        .iter()
        .filter_map(|e| {
            e.record
                .get("requestId")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect();
    simulator.graceful_shutdown(ShutdownReason::Spindown).await;

    let status = wait_exit(&mut extension, Duration::from_secs(3));
    let _ = runtime.kill();
    let _ = runtime.wait();
    assert!(status.is_some_and(|s| s.success()), "extension exit: {status:?}");

    let mut stdout = String::new();
    extension
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let mut docs: HashMap<String, Map<String, Value>> = HashMap::new();
    for line in stdout.lines() {
        let doc = emf_spec::check_line(line).unwrap_or_else(|p| panic!("invalid EMF {p:?}: {line}"));
        // Documents about the environment (its init) carry no request id.
        let Some(id) = doc.get("RequestId").and_then(Value::as_str).map(str::to_owned) else {
            assert!(doc.contains_key("InitErrors"), "{line}");
            continue;
        };
        assert!(docs.insert(id, doc).is_none(), "an invocation reported twice");
    }
    assert_eq!(docs.len(), ids.len(), "{stdout}");
    assert!(reported.len() >= 2, "the simulator reported {reported:?}");
    assert_eq!(docs[&ids[0].0]["ColdStart"], json!("true"));
    for (id, status) in &ids {
        let doc = docs
            .get(id)
            .unwrap_or_else(|| panic!("{id} not reported; got {:?}", docs.keys().collect::<Vec<_>>()));
        assert_eq!(doc["Invocations"], json!(1.0));
        assert_eq!(doc["FunctionName"], json!("simulated"));
        if reported.contains(id) {
            assert!(
                doc.get("Duration").is_some_and(Value::is_number),
                "report joined: {doc:?}"
            );
            assert_eq!(doc["Ending"], json!("complete"));
        } else {
            // The simulator may still write this report while it shuts down: then it is joined,
            // else lambda-lens reports the invocation from what it knew.
            let complete = doc["Ending"] == json!("complete") && doc.contains_key("Duration");
            let partial = doc["Ending"] == json!("shutdown") && !doc.contains_key("Duration");
            assert!(complete || partial, "{doc:?}");
        }
        let failed = *status != InvocationStatus::Success;
        assert_eq!(doc["Errors"], json!(if failed { 1.0 } else { 0.0 }), "{doc:?}");
    }
}
