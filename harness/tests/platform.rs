//! The platform's newer behaviours, end to end: the real `lambda-lens` layer and sample function
//! in the sandbox, which reproduces them (a proactive initialisation long before the first
//! invoke, tenant isolation mode, an init re-run inside an invoke that fails). Each asserts what
//! the extension wrote against what the sandbox did.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly"
)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use lambda_sandbox::{Config, InvokeOptions, Sandbox, ShutdownReason, Source, Status, Stream};
use serde_json::{Map, Value, json};

mod binaries;

/// A sandbox of the built function and layer, every invocation in a document of its own.
fn config(bootstrap: PathBuf) -> Config {
    let (_, layer) = lambda_lens_harness::built::paths();
    let mut c = Config::new(bootstrap);
    c.layer_dir = Some(layer);
    c.echo_output = std::env::var_os("SANDBOX_ECHO").is_some();
    c.env = vec![
        ("LAMBDA_LENS_OUTPUT".into(), "per-invocation".into()),
        ("LAMBDA_LENS_METRICS".into(), "all".into()),
    ];
    c
}

/// Every EMF document the extension printed.
fn documents(sb: &Sandbox) -> Vec<Map<String, Value>> {
    sb.output_of(&Source::Extension("lambda-lens".into()))
        .into_iter()
        .filter(|l| l.stream == Stream::Stdout)
        .map(|l| match serde_json::from_str(&l.text) {
            Ok(Value::Object(doc)) if doc.contains_key("_aws") => doc,
            _ => panic!("not an EMF document on stdout: {}", l.text),
        })
        .collect()
}

/// The document about one invocation.
fn invocation<'a>(docs: &'a [Map<String, Value>], request_id: &str) -> &'a Map<String, Value> {
    let found: Vec<_> = docs
        .iter()
        .filter(|d| d.get("RequestId").and_then(Value::as_str) == Some(request_id))
        .collect();
    assert_eq!(found.len(), 1, "{request_id}: {docs:#?}");
    found[0]
}

/// The environment's record of its init phase.
fn init_record(docs: &[Map<String, Value>]) -> &Map<String, Value> {
    docs.iter()
        .find(|d| d.get("Phase").and_then(Value::as_str) == Some("init"))
        .unwrap_or_else(|| panic!("no init record: {docs:#?}"))
}

fn number(doc: &Map<String, Value>, name: &str) -> Option<f64> {
    doc.get(name).and_then(Value::as_f64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built layer (make layer): make test runs it"]
async fn an_init_long_before_the_first_invoke_is_proactive_not_a_cold_start() {
    // Lambda's rule as lambda-lens reads it: 10 s or more between the init's end and the first
    // platform.start. One run just past it, one with no gap at all.
    for (gap, proactive) in [(Duration::from_millis(10_500), true), (Duration::ZERO, false)] {
        let mut c = config(lambda_lens_harness::built::bootstrap());
        c.init_gap = gap;
        let mut sb = Sandbox::start(c).await.unwrap();
        let first = sb.invoke(json!({})).await.unwrap();
        let second = sb.invoke(json!({})).await.unwrap();
        sb.shutdown(ShutdownReason::Spindown).await.unwrap();
        assert_eq!((first.status, second.status), (Status::Success, Status::Success));

        let docs = documents(&sb);
        let what = format!("gap {gap:?}");
        let first_doc = invocation(&docs, &first.request_id);
        let cold = if proactive { "false" } else { "true" };
        assert_eq!(
            first_doc.get("ColdStart"),
            Some(&json!(cold)),
            "{what}: {first_doc:?}"
        );
        assert_eq!(
            number(first_doc, "ColdStarts"),
            Some(if proactive { 0.0 } else { 1.0 }),
            "{what}"
        );
        let second_doc = invocation(&docs, &second.request_id);
        assert_eq!(number(second_doc, "ColdStarts"), Some(0.0), "{what}");

        let init = init_record(&docs);
        assert_eq!(
            init.get("Proactive"),
            Some(&json!(proactive.to_string())),
            "{what}: {init:?}"
        );
        // The init phase is measured either way: on the environment's record when nobody waited
        // for it, on the first invocation's (which waited) otherwise.
        let measured_on = if proactive { init } else { first_doc };
        assert!(
            number(measured_on, "InitDuration").is_some_and(|d| d > 0.0),
            "{what}: {measured_on:?}"
        );
        assert!(docs.iter().all(|d| !d.contains_key("TenantId")), "{what}");
        let after = number(init, "FirstInvokeAfterMs").unwrap_or_else(|| panic!("{what}: {init:?}"));
        let gap_ms = gap.as_secs_f64() * 1000.0;
        assert!(after >= gap_ms && after < gap_ms + 5_000.0, "{what}: {after} ms");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built layer (make layer): make test runs it"]
async fn a_tenant_id_is_a_property_of_its_invocation_and_no_dimension() {
    // Lambda runs each tenant in environments of its own.
    let mut sb = Sandbox::start(config(lambda_lens_harness::built::bootstrap()))
        .await
        .unwrap();
    let ok = sb
        .invoke_with(json!({}), InvokeOptions::tenant("blue"))
        .await
        .unwrap();
    let failed = sb
        .invoke_with(json!({"fail": true}), InvokeOptions::tenant("blue"))
        .await
        .unwrap();
    sb.shutdown(ShutdownReason::Spindown).await.unwrap();
    assert_eq!((ok.status, failed.status), (Status::Success, Status::Error));

    let docs = documents(&sb);
    for out in [&ok, &failed] {
        let doc = invocation(&docs, &out.request_id);
        assert_eq!(doc.get("TenantId"), Some(&json!("blue")), "{doc:?}");
    }
    assert_eq!(number(invocation(&docs, &failed.request_id), "Errors"), Some(1.0));
    // Never a dimension unless asked for: each tenant would be billed custom metrics.
    for doc in &docs {
        let directives = doc["_aws"]["CloudWatchMetrics"].as_array().unwrap();
        for d in directives {
            let keys: Vec<&Value> = d["Dimensions"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|s| s.as_array().unwrap())
                .collect();
            assert!(!keys.contains(&&json!("TenantId")), "{doc:?}");
        }
    }
}

/// A `bootstrap` that runs the sample function, or exits while `fail_file` exists (an init that
/// fails). The failing init takes half a second, as a runtime's init takes some time: a script that fails
/// at once can end the init phase before the extension, started beside it, has subscribed to
/// the Telemetry API, which is then refused (subscriptions are taken during the init phase only),
/// and the test measured that race instead of what lambda-lens makes of the failed invocation.
fn failing_init_bootstrap(dir: &Path, fail_file: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let real = lambda_lens_harness::built::bootstrap();
    let script = dir.join("bootstrap");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nif [ -e '{}' ]; then sleep 0.5; echo 'init fails on purpose' >&2; exit 3; fi\nexec '{}'\n",
            fail_file.display(),
            real.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built layer (make layer): make test runs it"]
async fn an_invoke_whose_inline_init_fails_is_counted_as_a_failed_invocation() {
    // Under the workspace's target/, not /tmp, which a private /tmp would hide.
    let dir = lambda_lens_harness::built::workspace()
        .join("target/tmp")
        .join(format!("platform-inline-init-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let fail_file = dir.join("fail-init");
    let mut c = config(failing_init_bootstrap(&dir, &fail_file));
    c.timeout = Duration::from_millis(2_000);
    let mut sb = Sandbox::start(c).await.unwrap();

    let crash = sb.invoke(json!({"exit": 2})).await.unwrap();
    assert!(crash.reset.is_some(), "{crash:?}");
    std::fs::write(&fail_file, "").unwrap();
    let failed = sb.invoke(json!({})).await.unwrap();
    std::fs::remove_file(&fail_file).unwrap();
    let fine = sb.invoke(json!({})).await.unwrap();
    sb.shutdown(ShutdownReason::Spindown).await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);

    let init = failed.init.as_ref().expect("an init inside the invoke");
    assert_eq!(init.phase, "invoke");
    assert_eq!(
        (failed.status, failed.error_type.as_deref()),
        (Status::Error, Some("Runtime.ExitError"))
    );
    assert_eq!(fine.status, Status::Success);

    let docs = documents(&sb);
    let doc = invocation(&docs, &failed.request_id);
    assert_eq!(number(doc, "Invocations"), Some(1.0), "{doc:?}");
    assert_eq!(number(doc, "Errors"), Some(1.0), "{doc:?}");
    assert_eq!(doc.get("Status"), Some(&json!("error")), "{doc:?}");
    // Every invocation the platform ran is counted once.
    let total: f64 = docs.iter().filter_map(|d| number(d, "Invocations")).sum();
    assert_eq!(total, 3.0, "{docs:#?}");
}
