//! Telemetry delivery: buffering limits, types, retries, drops.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "integration tests fail loudly"
)]

mod common;

use common::Fixture;
use lambda_sandbox::{Sandbox, ShutdownReason, Status};
use serde_json::json;

/// Extension copies that read their own settings from variables prefixed by their name.
fn with_settings(fx: &Fixture, name: &str, settings: &[(&str, &str)]) {
    let mut script = common::EXTENSION.to_owned();
    let mut header = String::from("import os\n");
    for (k, v) in settings {
        header.push_str(&format!("os.environ[{k:?}] = {v:?}\n"));
    }
    script = script.replacen(
        "import http.client\n",
        &format!("{header}import http.client\n"),
        1,
    );
    std::fs::write(fx.dir.join("layer/extensions").join(name), script).unwrap();
}

#[tokio::test]
async fn batches_respect_max_items_and_max_bytes() {
    let fx = Fixture::new(&["items", "bytes", "platform-only"]);
    with_settings(
        &fx,
        "items",
        &[
            ("EXT_MAX_ITEMS", "1000"),
            ("EXT_TIMEOUT_MS", "30000"),
            ("EXT_TYPES", "function"),
        ],
    );
    with_settings(
        &fx,
        "bytes",
        &[
            ("EXT_MAX_ITEMS", "10000"),
            ("EXT_MAX_BYTES", "262144"),
            ("EXT_TIMEOUT_MS", "30000"),
            ("EXT_TYPES", "function"),
        ],
    );
    with_settings(&fx, "platform-only", &[("EXT_TYPES", "platform")]);
    let mut sb = Sandbox::start(fx.config()).await.unwrap();
    let many = sb.invoke(json!({"print_many": 2500})).await.unwrap();
    let wide = sb
        .invoke(json!({"print_many": 600, "line_width": 1000}))
        .await
        .unwrap();
    assert_eq!((many.status, wide.status), (Status::Success, Status::Success));
    sb.shutdown(ShutdownReason::Spindown).await.unwrap();

    let deliveries = sb.deliveries();
    let of = |name: &str| {
        deliveries
            .iter()
            .filter(|d| d.subscriber == name && d.outcome == Ok(200))
            .collect::<Vec<_>>()
    };
    let items = of("items");
    assert!(items.iter().all(|d| d.records.len() <= 1000));
    // With a 30 s timeout, only maxItems (or the shutdown flush) can have sent the first batches.
    assert!(
        items.iter().filter(|d| d.records.len() == 1000).count() >= 2,
        "{:?}",
        items.iter().map(|d| d.records.len()).collect::<Vec<_>>()
    );
    let bytes = of("bytes");
    assert!(bytes.len() >= 3);
    assert!(
        bytes.iter().all(|d| d.bytes <= 262_144 + 2),
        "{:?}",
        bytes.iter().map(|d| d.bytes).collect::<Vec<_>>()
    );
    // Nothing lost, and only the subscribed types.
    for name in ["items", "bytes"] {
        let got = fx.received(name);
        assert!(got.iter().all(|r| r["type"] == "function"));
        let lines = got
            .iter()
            .filter(|r| r["record"].as_str().unwrap().starts_with("line "))
            .count();
        assert_eq!(lines, 2500 + 600, "{name}");
    }
    let platform = fx.received("platform-only");
    assert!(
        platform
            .iter()
            .all(|r| r["type"].as_str().unwrap().starts_with("platform."))
    );
    assert!(platform.iter().any(|r| r["type"] == "platform.report"));
}

#[tokio::test]
async fn failed_delivery_is_retried_with_the_same_batch() {
    let fx = Fixture::new(&["flaky"]);
    with_settings(&fx, "flaky", &[("EXT_FAIL_FIRST", "2")]);
    let mut sb = Sandbox::start(fx.config()).await.unwrap();
    let out = sb.invoke(json!({})).await.unwrap();
    sb.shutdown(ShutdownReason::Spindown).await.unwrap();
    let d = sb.deliveries();
    assert_eq!(d[0].outcome, Ok(500));
    assert_eq!(d[1].outcome, Ok(500));
    assert_eq!(d[2].outcome, Ok(200));
    assert_eq!((d[0].attempt, d[1].attempt, d[2].attempt), (1, 2, 3));
    assert_eq!(d[0].records, d[2].records);
    assert!(d[1].at_instant.duration_since(d[0].at_instant) >= std::time::Duration::from_millis(40));
    assert_eq!(fx.ext_entries("flaky", "rejected").len(), 2);
    let received = fx.received("flaky");
    assert_eq!(
        received
            .iter()
            .filter(|r| r["type"] == "platform.initStart")
            .count(),
        1
    );
    assert!(
        received
            .iter()
            .any(|r| r["type"] == "platform.report" && r["record"]["requestId"] == out.request_id.as_str())
    );
}

#[tokio::test]
async fn slow_subscriber_gets_logs_dropped() {
    let fx = Fixture::new(&["slow"]);
    with_settings(
        &fx,
        "slow",
        &[
            ("EXT_SLOW_MS", "150"),
            ("EXT_MAX_ITEMS", "1000"),
            ("EXT_TYPES", "platform,function"),
        ],
    );
    let mut config = fx.config();
    config.telemetry_queue_limit = 1500;
    let mut sb = Sandbox::start(config).await.unwrap();
    sb.invoke(json!({"print_many": 6000})).await.unwrap();
    sb.shutdown(ShutdownReason::Spindown).await.unwrap();
    let records = sb.telemetry();
    let dropped: Vec<_> = records
        .iter()
        .filter(|r| r.kind == "platform.logsDropped")
        .collect();
    assert!(!dropped.is_empty());
    let n: u64 = dropped
        .iter()
        .map(|r| r.record["droppedRecords"].as_u64().unwrap())
        .sum();
    assert!(n >= 6000 - 1500 - 1000 - 100, "{n}");
    assert!(dropped[0].record["droppedBytes"].as_u64().unwrap() > 0);
    assert!(dropped[0].record["reason"].as_str().unwrap().contains("dropped"));
    let received = fx.received("slow");
    assert!(received.iter().any(|r| r["type"] == "platform.logsDropped"));
    let lines = received.iter().filter(|r| r["type"] == "function").count() as u64;
    assert!(lines < 6000);
}
