//! The tee: any subset of the sinks, each networked sink writing its own fallback only when
//! stdout is not in the tee.
#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

use super::*;

#[test]
fn emf_alone_observes_nothing_and_reports_no_network_health() {
    let sink = OutputSink::emf();
    assert!(!sink.observes());
    assert_eq!(sink.health(), Health::default());
}

#[cfg(feature = "otlp")]
fn otlp_settings() -> OtlpSettings {
    OtlpSettings {
        endpoint: Some("http://127.0.0.1:9/v1/metrics".into()),
        headers: vec![],
        json: false,
        gzip: true,
        timeout: Duration::from_millis(200),
        cumulative: false,
        sigv4: false,
        region: None,
        resource: vec![],
        labels: super::super::OtlpLabels {
            cold_start: true,
            error_type: true,
            tenant: false,
        },
        flush_interval: Duration::ZERO,
        fallback: true,
    }
}

/// With emf, stdout has every document: the OTLP sink writes no fallback of its own; without
/// it, it does (nothing lost).
#[cfg(feature = "otlp")]
#[test]
fn otlp_writes_its_own_fallback_only_without_emf() {
    let with_emf = OutputSink::tee(true).with_otlp(otlp_settings());
    assert!(with_emf.stdout.is_some() && with_emf.observes());
    assert!(!with_emf.otlp.as_ref().unwrap().fallback_on());
    let alone = OutputSink::tee(false).with_otlp(otlp_settings());
    assert!(alone.stdout.is_none() && alone.observes());
    assert!(alone.otlp.as_ref().unwrap().fallback_on());
    assert!(alone.health().otlp.is_some() && alone.health().put_metric_data.is_none());
}

#[cfg(all(feature = "otlp", feature = "put-metric-data"))]
#[test]
fn put_metric_data_and_otlp_compose_each_with_its_fallback() {
    let settings = PutMetricDataSettings {
        region: Some("eu-west-1".into()),
        endpoint_url: None,
        fallback: false,
        namespace: "LambdaLens".into(),
    };
    let mut both = OutputSink::tee(false)
        .with_put_metric_data(settings.clone())
        .with_otlp(otlp_settings());
    assert!(both.put_metric_data.as_ref().unwrap().fallback_on());
    assert!(both.otlp.as_ref().unwrap().fallback_on());
    // A document goes to PutMetricData (OTLP takes records, not documents).
    both.accept("{}".into());
    assert_eq!(both.put_metric_data.as_ref().unwrap().queued_documents(), 1);
    let health = both.health();
    assert!(health.put_metric_data.is_some() && health.otlp.is_some());
    let all = OutputSink::tee(true)
        .with_put_metric_data(settings)
        .with_otlp(otlp_settings());
    assert!(!all.put_metric_data.as_ref().unwrap().fallback_on());
    assert!(!all.otlp.as_ref().unwrap().fallback_on());
}
