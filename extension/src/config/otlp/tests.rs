#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests fail loudly")]

use super::*;
use crate::config::{Config, ConfigWarning};

/// The OTLP settings `vars` give in eu-west-1 (read as `Config` reads them when the sink is
/// chosen, whether or not this binary has it).
fn otlp(vars: &[(&str, &str)]) -> (OtlpConfig, Vec<ConfigWarning>) {
    let lookup = |name: &str| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    };
    let mut r = Reader {
        lookup: &lookup,
        warnings: Vec::new(),
    };
    let config = read(&mut r, Some("eu-west-1"));
    (config, r.warnings)
}

struct SinkKindOtlp;
impl SinkKindOtlp {
    const BUILT_IN: bool = cfg!(feature = "otlp");
}

#[test]
fn defaults_send_to_the_regions_cloudwatch_endpoint_signed_gzipped_delta() {
    let (c, w) = otlp(&[]);
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(
        c,
        OtlpConfig {
            endpoint: Some("https://monitoring.eu-west-1.amazonaws.com/v1/metrics".into()),
            headers: vec![],
            protocol: Protocol::Protobuf,
            gzip: true,
            timeout: Duration::from_secs(10),
            temporality: Temporality::Delta,
            auth: Auth::SigV4,
            resource_attributes: vec![],
            service_name: None,
            labels: vec![Label::ColdStart, Label::ErrorType],
            export_interval: Duration::from_secs(60),
        }
    );
    // Not read at all when the sink is not chosen.
    assert_eq!(
        Config::from_pairs(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")])
            .0
            .otlp,
        None
    );
    if SinkKindOtlp::BUILT_IN {
        let (c, _) = Config::from_pairs(&[("LAMBDA_LENS_SINK", "otlp")]);
        // No region, no endpoint: none (the sink says so and writes EMF).
        assert_eq!(c.otlp.unwrap().endpoint, None);
    }
}

#[test]
fn the_generic_endpoint_gets_the_signals_path_and_the_metrics_one_is_used_as_is() {
    let (c, w) = otlp(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318/")]);
    assert!(w.is_empty());
    assert_eq!(c.endpoint.as_deref(), Some("http://127.0.0.1:4318/v1/metrics"));
    assert_eq!(c.auth, Auth::None, "not CloudWatch: no SigV4 by default");
    let (c, _) = otlp(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
        (
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
            "http://collector:9000/custom",
        ),
    ]);
    assert_eq!(c.endpoint.as_deref(), Some("http://collector:9000/custom"));
    let (c, _) = otlp(&[(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "https://monitoring.us-east-1.amazonaws.com",
    )]);
    assert_eq!(c.auth, Auth::SigV4);
    let (c, w) = otlp(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")]);
    assert_eq!(
        c.endpoint.as_deref(),
        Some("https://monitoring.eu-west-1.amazonaws.com/v1/metrics")
    );
    assert_eq!(w[0].variable, "OTEL_EXPORTER_OTLP_ENDPOINT");
    assert!(
        w[0].to_string().contains("an http:// or https:// URL"),
        "{}",
        w[0]
    );
}

#[test]
fn auth_is_sigv4_for_cloudwatch_hosts_unless_set() {
    for (host, cloudwatch) in [
        ("monitoring.us-east-1.amazonaws.com", true),
        ("monitoring-fips.us-gov-west-1.amazonaws.com", true),
        ("monitoring.cn-north-1.amazonaws.com.cn", true),
        ("otlp.example.com", false),
        ("monitoring.example.com", false),
    ] {
        assert_eq!(is_cloudwatch_host(host), cloudwatch, "{host}");
    }
    let (c, _) = otlp(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
        ("LAMBDA_LENS_OTLP_AUTH", "SigV4"),
    ]);
    assert_eq!(c.auth, Auth::SigV4);
    let (c, _) = otlp(&[("LAMBDA_LENS_OTLP_AUTH", "none")]);
    assert_eq!(c.auth, Auth::None);
    let (c, w) = otlp(&[("LAMBDA_LENS_OTLP_AUTH", "iam")]);
    assert_eq!(c.auth, Auth::SigV4);
    assert!(
        w[0].to_string()
            .starts_with("LAMBDA_LENS_OTLP_AUTH=\"iam\" is not accepted: expected sigv4 or none"),
        "{}",
        w[0]
    );
}

#[test]
fn headers_are_decoded_the_metrics_form_wins_and_a_bad_list_hides_its_values() {
    let (c, w) = otlp(&[("OTEL_EXPORTER_OTLP_HEADERS", "api-key=s%3Dcret%20x, x-team = a")]);
    assert!(w.is_empty());
    assert_eq!(
        c.headers,
        [
            ("api-key".to_owned(), "s=cret x".to_owned()),
            ("x-team".to_owned(), "a".to_owned())
        ]
    );
    let (c, _) = otlp(&[
        ("OTEL_EXPORTER_OTLP_HEADERS", "a=1"),
        ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "b=2"),
    ]);
    assert_eq!(c.headers, [("b".to_owned(), "2".to_owned())]);
    for bad in ["api-key", "api key=topsecret", "k=%zz-topsecret", "=topsecret"] {
        let (c, w) = otlp(&[("OTEL_EXPORTER_OTLP_METRICS_HEADERS", bad)]);
        assert!(c.headers.is_empty(), "{bad}");
        let text = w[0].to_string();
        assert!(text.starts_with("OTEL_EXPORTER_OTLP_METRICS_HEADERS="), "{text}");
        assert!(
            !text.contains("topsecret"),
            "a header's value in a warning: {text}"
        );
    }
}

#[test]
fn protocol_compression_timeout_and_temporality_take_their_values_and_warn_on_others() {
    let (c, w) = otlp(&[
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "none"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
        ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "Cumulative"),
    ]);
    assert!(w.is_empty());
    assert_eq!(
        (c.protocol, c.gzip, c.timeout, c.temporality),
        (
            Protocol::Json,
            false,
            Duration::from_millis(2500),
            Temporality::Cumulative
        )
    );
    // The metrics-specific form wins.
    let (c, _) = otlp(&[
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/protobuf"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "none"),
        ("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "gzip"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
        ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "300"),
    ]);
    assert_eq!(
        (c.protocol, c.gzip, c.timeout),
        (Protocol::Protobuf, true, Duration::from_millis(300))
    );
    let (c, _) = otlp(&[("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "lowmemory")]);
    assert_eq!(c.temporality, Temporality::Delta);
    for (var, bad, accepted) in [
        (
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "grpc",
            "http/protobuf or http/json",
        ),
        (
            "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
            "json",
            "http/protobuf or http/json",
        ),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd", "gzip or none"),
        (
            "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT",
            "10s",
            "an integer from 100 to 60000",
        ),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "0", "an integer from 100 to 60000"),
        (
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
            "both",
            "delta, cumulative or lowmemory",
        ),
        ("OTEL_RESOURCE_ATTRIBUTES", "team", "key=value pairs"),
        (
            "LAMBDA_LENS_OTLP_ATTRIBUTES",
            "faas.coldstart,colour",
            "faas.coldstart, error.type, lambda_lens.tenant_id",
        ),
        (
            "LAMBDA_LENS_OTLP_ATTRIBUTES",
            "error.type,error.type",
            "faas.coldstart, error.type, lambda_lens.tenant_id",
        ),
    ] {
        let (c, w) = otlp(&[(var, bad)]);
        assert_eq!(w.len(), 1, "{var}={bad}: {w:?}");
        let text = w[0].to_string();
        assert!(
            text.starts_with(&format!("{var}={bad:?} is not accepted: expected")) && text.contains(accepted),
            "{text}"
        );
        assert_eq!(
            (c.protocol, c.gzip, c.timeout, c.temporality, c.labels.clone()),
            (
                Protocol::Protobuf,
                true,
                Duration::from_secs(10),
                Temporality::Delta,
                Label::DEFAULT.to_vec()
            ),
            "{var}={bad}: the default"
        );
    }
}

#[test]
fn resource_attributes_service_name_and_labels() {
    let (c, w) = otlp(&[
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment=prod,team=pay%2Cments",
        ),
        ("OTEL_SERVICE_NAME", "checkout"),
        (
            "LAMBDA_LENS_OTLP_ATTRIBUTES",
            "lambda_lens.tenant_id, faas.coldstart",
        ),
    ]);
    assert!(w.is_empty());
    assert_eq!(
        c.resource_attributes,
        [
            ("deployment.environment".to_owned(), "prod".to_owned()),
            ("team".to_owned(), "pay,ments".to_owned())
        ]
    );
    assert_eq!(c.service_name.as_deref(), Some("checkout"));
    assert_eq!(c.labels, [Label::TenantId, Label::ColdStart]);
    let (c, _) = otlp(&[("LAMBDA_LENS_OTLP_ATTRIBUTES", "none")]);
    assert!(c.labels.is_empty());
}

/// The export interval: the OpenTelemetry SDKs' `OTEL_METRIC_EXPORT_INTERVAL` (milliseconds,
/// 60 s by default), not the EMF flush window.
#[test]
fn the_export_interval_is_otel_metric_export_interval_60_s_by_default() {
    let (c, w) = otlp(&[("LAMBDA_LENS_FLUSH_INTERVAL_MS", "1000")]);
    assert!(w.is_empty());
    assert_eq!(c.export_interval, Duration::from_secs(60));
    let (c, w) = otlp(&[("OTEL_METRIC_EXPORT_INTERVAL", "250")]);
    assert!(w.is_empty());
    assert_eq!(c.export_interval, Duration::from_millis(250));
    for bad in ["60s", "0", "900001"] {
        let (c, w) = otlp(&[("OTEL_METRIC_EXPORT_INTERVAL", bad)]);
        assert_eq!(w.len(), 1, "{bad}: {w:?}");
        assert!(
            w[0].to_string().contains("an integer from 100 to 900000"),
            "{}",
            w[0]
        );
        assert_eq!(c.export_interval, Duration::from_secs(60), "{bad}");
    }
}
