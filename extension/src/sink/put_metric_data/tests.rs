//! The sender against a real local endpoint: ministack behind the fault injector of
//! `local_cloudwatch` (`make cloudwatch-venv` installs it).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::time::Duration;

use local_cloudwatch::{Fault, FaultProxy, LocalCloudWatch, MetricQuery, env_for};
use serde_json::json;

use super::*;

const NAMESPACE: &str = "SinkUnit";

fn document(function: &str, duration: f64) -> String {
    let now = chrono::Utc::now().timestamp_millis();
    json!({
        "_aws": {"Timestamp": now, "CloudWatchMetrics": [{"Namespace": NAMESPACE, "Dimensions": [["FunctionName"]],
            "Metrics": [{"Name": "Invocations", "Unit": "Count"}, {"Name": "Duration", "Unit": "Milliseconds"}]}]},
        "FunctionName": function, "Invocations": 1, "Duration": duration,
    })
    .to_string()
}

fn sink(endpoint: &str, credentials: bool) -> PutMetricDataSink {
    let env = env_for(endpoint);
    let settings = PutMetricDataSettings {
        region: Some("us-east-1".to_owned()),
        endpoint_url: Some(endpoint.to_owned()),
        fallback: true,
        namespace: NAMESPACE.to_owned(),
    };
    let lookup: Lookup = Arc::new(move |name: &str| {
        let found = env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        found.filter(|_| credentials)
    });
    PutMetricDataSink::with_lookup(settings, lookup)
}

/// Accepts `n` documents, flushes, closes within `within`; the sink's health after.
async fn send(sink: &mut PutMetricDataSink, function: &str, n: usize, within: Duration) -> SinkHealth {
    for i in 0..n {
        sink.accept(document(function, 10.0 + i as f64));
    }
    sink.flush().await.unwrap();
    sink.close(within).await;
    sink.health().put_metric_data.unwrap()
}

fn stored(cloudwatch: &LocalCloudWatch, function: &str) -> Option<f64> {
    let q = MetricQuery::new(NAMESPACE, "Invocations", "Sum").dimension("FunctionName", function);
    cloudwatch.get_metric_data(&[q]).unwrap()[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the local CloudWatch (.venv-cloudwatch): make test runs it"]
async fn sent_stored_refused_and_unknown_each_end_in_one_place() {
    let cloudwatch = LocalCloudWatch::start().expect("local CloudWatch (make cloudwatch-venv)");
    let proxy = FaultProxy::start(cloudwatch.addr(), Fault::Pass).await.unwrap();

    // Through: every data point stored, one request.
    let h = send(
        &mut sink(&proxy.endpoint_url(), true),
        "through",
        5,
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(
        (
            h.requests,
            h.data_points_sent,
            h.retries,
            h.data_points_fallback,
            h.unknown_outcomes
        ),
        (1, 10, 0, 0, 0)
    );
    assert_eq!(stored(&cloudwatch, "through"), Some(5.0));

    // Access denied: not retried; the fallback has them, CloudWatch none.
    proxy.set(Fault::Deny);
    let before = proxy.requests();
    let h = send(
        &mut sink(&proxy.endpoint_url(), true),
        "denied",
        5,
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(
        (h.requests, h.retries, h.data_points_fallback, h.data_points_sent),
        (1, 0, 10, 0)
    );
    assert_eq!(proxy.requests() - before, 1);
    assert_eq!(stored(&cloudwatch, "denied"), None);

    // No credentials: no request at all, the fallback has them.
    let before = proxy.requests();
    let h = send(
        &mut sink(&proxy.endpoint_url(), false),
        "anonymous",
        3,
        Duration::from_secs(2),
    )
    .await;
    assert_eq!((h.requests, h.data_points_fallback), (0, 6));
    assert_eq!(proxy.requests(), before);

    // 5xx twice, then through: two retries, all stored.
    proxy.set(Fault::First(2, Box::new(Fault::Status(503))));
    let h = send(
        &mut sink(&proxy.endpoint_url(), true),
        "retried",
        4,
        Duration::from_secs(3),
    )
    .await;
    assert_eq!(
        (h.requests, h.retries, h.data_points_sent, h.data_points_fallback),
        (3, 2, 8, 0)
    );
    assert_eq!(stored(&cloudwatch, "retried"), Some(4.0));

    // The answer comes after the close's deadline: the request reached CloudWatch, the outcome
    // is unknown; counted as sent, neither retried nor written as EMF. The close keeps to its
    // deadline.
    proxy.set(Fault::AnswerLate(Duration::from_secs(3)));
    let started = std::time::Instant::now();
    let h = send(
        &mut sink(&proxy.endpoint_url(), true),
        "late",
        4,
        Duration::from_millis(800),
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_millis(1_500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        (
            h.requests,
            h.unknown_outcomes,
            h.data_points_sent,
            h.data_points_fallback,
            h.retries
        ),
        (1, 1, 8, 0, 0)
    );
    assert_eq!(stored(&cloudwatch, "late"), Some(4.0));
}

#[tokio::test]
async fn an_endpoint_that_is_down_gets_three_attempts_then_the_fallback() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut sink = sink(&format!("http://{closed}"), true);
    let h = send(&mut sink, "down", 3, Duration::from_secs(3)).await;
    assert_eq!(
        (h.requests, h.retries, h.data_points_fallback, h.data_points_sent),
        (3, 2, 6, 0)
    );
}
