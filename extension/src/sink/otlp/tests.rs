//! The OTLP sink: its encoding read back by the OpenTelemetry project's own types (not by this
//! encoder), a golden JSON, CloudWatch's limits, SigV4, and exports against a local HTTP
//! server (stored, partial success, retried, refused, unreachable), with no secret in a log.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail loudly"
)]

use std::io::Read as _;
use std::sync::Mutex;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point};
use prost::Message as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::aggregate::{MAX_SERIES, OTHER, SECONDS};
use super::*;

/// A record as the pipeline's view gives it.
struct Rec {
    invocation: bool,
    ts: i64,
    values: Vec<(&'static str, f64)>,
    texts: Vec<(&'static str, String)>,
}

impl Observed for Rec {
    fn is_invocation(&self) -> bool {
        self.invocation
    }
    fn timestamp_ms(&self) -> i64 {
        self.ts
    }
    fn each_value(&self, each: &mut dyn FnMut(&'static str, f64)) {
        for (n, v) in &self.values {
            each(n, *v);
        }
    }
    fn text(&self, key: &str) -> Option<&str> {
        self.texts
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }
}

fn invocation(cold: bool, status: &str, duration_ms: f64) -> Rec {
    let error = status == "error";
    let timeout = status == "timeout";
    let mut texts = vec![
        ("ColdStart", cold.to_string()),
        ("Status", status.to_owned()),
        ("TenantId", "tenant-a".to_owned()),
    ];
    if error {
        texts.push(("ErrorType", "Runtime.ExitError".to_owned()));
    }
    Rec {
        invocation: true,
        ts: 1_700_000_000_000,
        values: vec![
            ("Invocations", 1.0),
            ("Errors", f64::from(u8::from(error))),
            ("Timeouts", f64::from(u8::from(timeout))),
            ("ColdStarts", f64::from(u8::from(cold))),
            ("Duration", duration_ms),
            ("MaxMemoryUsed", 100.0),
            ("EstimatedCost", 0.000_002),
            ("NetworkRxBytes", 1000.0),
            ("NetworkTxBytes", 500.0),
            ("Shutdowns", f64::NAN),
        ],
        texts,
    }
}

const LABELS: OtlpLabels = OtlpLabels {
    cold_start: true,
    error_type: true,
    tenant: false,
};

fn settings(endpoint: &str) -> OtlpSettings {
    OtlpSettings {
        endpoint: Some(endpoint.to_owned()),
        headers: vec![("x-api-key".into(), "header-secret-value".into())],
        json: false,
        gzip: true,
        timeout: Duration::from_millis(500),
        cumulative: false,
        sigv4: false,
        region: Some("eu-west-1".into()),
        resource: resource(
            &FunctionFacts {
                name: "checkout",
                version: "7",
                memory_mb: Some(512),
                region: Some("eu-west-1"),
                instance: Some("2026/12/07/[7]abc"),
            },
            &[("deployment.environment".into(), "prod".into())],
            None,
        ),
        labels: LABELS,
        flush_interval: Duration::ZERO,
        fallback: true,
    }
}

fn window(records: &[Rec]) -> Window {
    let mut w = Window::default();
    for r in records {
        w.observe(r, &LABELS);
    }
    w
}

fn export_bytes(w: &Window, json: bool) -> Vec<u8> {
    let s = settings("http://127.0.0.1:1/v1/metrics");
    let series: Vec<&Series> = w.series.iter().collect();
    let e = encode::Export {
        resource: &s.resource,
        series: &series,
        start_ns: 1_700_000_000_000_000_000,
        time_ns: 1_700_000_010_000_000_000,
        cumulative: false,
    };
    if json {
        encode::json(&e)
    } else {
        encode::protobuf(&e)
    }
}

fn three() -> Vec<Rec> {
    vec![
        invocation(true, "success", 120.0),
        invocation(false, "success", 8.0),
        invocation(false, "error", 2_000.0),
    ]
}

fn attr<'a>(
    attrs: &'a [opentelemetry_proto::tonic::common::v1::KeyValue],
    key: &str,
) -> Option<&'a any_value::Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

#[test]
fn the_protobuf_decodes_with_the_opentelemetry_projects_types() {
    let bytes = export_bytes(&window(&three()), false);
    let request = ExportMetricsServiceRequest::decode(bytes.as_slice()).unwrap();
    let rm = &request.resource_metrics[0];
    let res = &rm.resource.as_ref().unwrap().attributes;
    let text = |k: &str| match attr(res, k) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        other => panic!("{k}: {other:?}"),
    };
    assert_eq!(
        (
            text("cloud.provider"),
            text("cloud.platform"),
            text("cloud.region")
        ),
        ("aws".into(), "aws_lambda".into(), "eu-west-1".into())
    );
    assert_eq!(
        (text("faas.name"), text("faas.version"), text("service.name")),
        ("checkout".into(), "7".into(), "checkout".into())
    );
    assert_eq!(text("faas.instance"), "2026/12/07/[7]abc");
    assert_eq!(text("deployment.environment"), "prod");
    assert_eq!(
        attr(res, "faas.max_memory"),
        Some(&any_value::Value::IntValue(512 * 1024 * 1024))
    );
    let scope = &rm.scope_metrics[0];
    assert_eq!(scope.scope.as_ref().unwrap().name, "lambda-lens");
    let metric = |name: &str| {
        scope
            .metrics
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("{name}"))
    };

    // Every invocation once: successes, errors, timeouts.
    let sum = |name: &str| -> i64 {
        let Some(Data::Sum(s)) = &metric(name).data else {
            panic!("{name}")
        };
        assert_eq!(
            (s.aggregation_temporality, s.is_monotonic),
            (1, true),
            "{name}: delta, monotonic"
        );
        s.data_points
            .iter()
            .map(|p| match p.value {
                Some(number_data_point::Value::AsInt(v)) => v,
                ref other => panic!("{name}: {other:?}"),
            })
            .sum()
    };
    assert_eq!(
        (
            sum("faas.invocations"),
            sum("faas.errors"),
            sum("faas.timeouts"),
            sum("faas.coldstarts")
        ),
        (2, 1, 0, 1)
    );
    assert_eq!(metric("faas.invocations").unit, "{invocation}");
    // error.type on the error's point only; faas.coldstart as a boolean.
    let Some(Data::Sum(errors)) = &metric("faas.errors").data else {
        panic!()
    };
    let failed = errors
        .data_points
        .iter()
        .find(|p| p.value == Some(number_data_point::Value::AsInt(1)))
        .unwrap();
    assert_eq!(
        attr(&failed.attributes, "error.type"),
        Some(&any_value::Value::StringValue("Runtime.ExitError".into()))
    );
    assert_eq!(
        attr(&failed.attributes, "faas.coldstart"),
        Some(&any_value::Value::BoolValue(false))
    );

    // The duration histogram: seconds, counts and sums equal to the records.
    let m = metric("faas.invoke_duration");
    assert_eq!(m.unit, "s");
    let Some(Data::Histogram(h)) = &m.data else {
        panic!()
    };
    assert_eq!(h.aggregation_temporality, 1);
    let count: u64 = h.data_points.iter().map(|p| p.count).sum();
    let total: f64 = h.data_points.iter().map(|p| p.sum.unwrap()).sum();
    assert_eq!(count, 3);
    assert!((total - 2.128).abs() < 1e-9, "{total}");
    for p in &h.data_points {
        assert_eq!(p.explicit_bounds, SECONDS);
        assert_eq!(p.bucket_counts.len(), SECONDS.len() + 1);
        assert_eq!(p.bucket_counts.iter().sum::<u64>(), p.count);
        assert_eq!(
            (p.start_time_unix_nano, p.time_unix_nano),
            (1_700_000_000_000_000_000, 1_700_000_010_000_000_000)
        );
    }
    let cold = h
        .data_points
        .iter()
        .find(|p| attr(&p.attributes, "faas.coldstart") == Some(&any_value::Value::BoolValue(true)))
        .unwrap();
    assert_eq!((cold.count, cold.min, cold.max), (1, Some(0.12), Some(0.12)));
    // Memory in bytes, network in and out together.
    let Some(Data::Histogram(mem)) = &metric("faas.mem_usage").data else {
        panic!()
    };
    assert_eq!(
        mem.data_points.iter().map(|p| p.sum.unwrap()).sum::<f64>(),
        3.0 * 100.0 * 1024.0 * 1024.0
    );
    let Some(Data::Histogram(net)) = &metric("faas.net_io").data else {
        panic!()
    };
    assert_eq!(
        net.data_points.iter().map(|p| p.sum.unwrap()).sum::<f64>(),
        4500.0
    );
    let Some(Data::Sum(cost)) = &metric("lambda_lens.estimated_cost").data else {
        panic!()
    };
    assert!(matches!(
        cost.data_points[0].value,
        Some(number_data_point::Value::AsDouble(_))
    ));
    // A value that is not finite is left out, not written.
    assert!(scope.metrics.iter().all(|m| m.name != "lambda_lens.shutdowns"));
}

/// The JSON equals a golden file, and reads, through the OpenTelemetry project's serde types,
/// as the very message the protobuf is.
#[test]
fn the_json_matches_its_golden_and_is_the_same_message_as_the_protobuf() {
    let w = window(&three());
    let json = export_bytes(&w, true);
    let got: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/sink/otlp/golden.json");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(path, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
    }
    let mut golden: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    // The scope's version is the crate's.
    golden["resourceMetrics"][0]["scopeMetrics"][0]["scope"]["version"] = env!("CARGO_PKG_VERSION").into();
    assert_eq!(got, golden, "UPDATE_GOLDEN=1 rewrites it: review the diff");
    // opentelemetry-proto's serde reads `asInt` only as a JSON number, while the OTLP JSON
    // mapping writes 64-bit integers as strings (and the protobuf JSON mapping lets a reader
    // take both): the oracle is given numbers there, everything else as written.
    fn as_int_numbers(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    if k == "asInt"
                        && let Some(n) = v.as_str().and_then(|s| s.parse::<i64>().ok())
                    {
                        *v = n.into();
                    } else {
                        as_int_numbers(v);
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(as_int_numbers),
            _ => {}
        }
    }
    let mut numbers = got.clone();
    as_int_numbers(&mut numbers);
    let from_json: ExportMetricsServiceRequest = serde_json::from_value(numbers).unwrap();
    let from_proto = ExportMetricsServiceRequest::decode(export_bytes(&w, false).as_slice()).unwrap();
    assert_eq!(from_json, from_proto);
}

#[test]
fn partial_success_is_read_from_either_encoding() {
    let response = opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse {
        partial_success: Some(
            opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsPartialSuccess {
                rejected_data_points: 3,
                error_message: "too old".into(),
            },
        ),
    };
    assert_eq!(
        encode::partial_success(&response.encode_to_vec(), false),
        Some((3, "too old".into()))
    );
    let json = br#"{"partialSuccess":{"rejectedDataPoints":"4","errorMessage":"labels"}}"#;
    assert_eq!(encode::partial_success(json, true), Some((4, "labels".into())));
    assert_eq!(encode::partial_success(b"", false), None);
    assert_eq!(encode::partial_success(b"{}", true), None);
}

#[test]
fn times_stay_inside_cloudwatchs_window() {
    let now = 1_800_000_000_000;
    // A window that began before the 14 days starts inside them; an end ahead of now is now.
    let (start, end) = window_times(now - MAX_AGE_MS - 5_000, now + 3_600_000, now);
    assert!(
        start > now - MAX_AGE_MS && start < end && end == now,
        "{start} {end}"
    );
    // An ordinary window is kept as it is.
    assert_eq!(window_times(now - 10_000, now - 1, now), (now - 10_000, now - 1));
    // Start never at or after the end.
    let (s, e) = window_times(now, now, now);
    assert!(s < e);
}

#[test]
fn a_large_window_is_split_into_requests_under_the_size_limit_with_every_series() {
    let mut s = settings("http://127.0.0.1:1/v1/metrics");
    s.labels.tenant = true;
    let mut w = Window::default();
    let labels = OtlpLabels {
        tenant: true,
        ..LABELS
    };
    for i in 0..MAX_SERIES {
        let mut r = invocation(false, "success", 5.0);
        r.texts.retain(|(k, _)| *k != "TenantId");
        r.texts.push(("TenantId", format!("{i:0>200}")));
        w.observe(&r, &labels);
    }
    let batch = Batch {
        series: w.series.clone(),
        start_ms: 1_700_000_000_000,
        end_ms: 1_700_000_001_000,
        fallback: vec![],
        records: w.records,
    };
    let series: Vec<&Series> = batch.series.iter().collect();
    let mut whole = Vec::new();
    split(
        &s,
        &series,
        batch.start_ms,
        batch.end_ms,
        MAX_REQUEST_BYTES,
        &mut whole,
    );
    assert!(whole.iter().all(|(b, _)| b.len() <= MAX_REQUEST_BYTES));
    // A limit the window is over (the real one is far above what one window holds).
    let limit = 64 * 1024;
    let mut bodies = Vec::new();
    split(&s, &series, batch.start_ms, batch.end_ms, limit, &mut bodies);
    assert!(bodies.len() > 1, "{}", bodies.len());
    assert!(bodies.iter().all(|(b, _)| b.len() <= limit));
    let points: u64 = bodies.iter().map(|(_, n)| n).sum();
    assert_eq!(points, batch.series.len() as u64);
    // Each body is a whole request with the resource.
    for (b, _) in &bodies {
        let r = ExportMetricsServiceRequest::decode(b.as_slice()).unwrap();
        assert!(
            attr(
                &r.resource_metrics[0].resource.as_ref().unwrap().attributes,
                "faas.name"
            )
            .is_some()
        );
    }
}

#[test]
fn series_beyond_the_bound_merge_into_other_and_nothing_is_dropped() {
    let labels = OtlpLabels {
        tenant: true,
        ..LABELS
    };
    let mut w = Window::default();
    let n = MAX_SERIES + 50;
    for i in 0..n {
        let mut r = invocation(false, "success", 5.0);
        r.texts.retain(|(k, _)| *k != "TenantId");
        r.texts.push(("TenantId", format!("t{i}")));
        w.observe(&r, &labels);
    }
    assert!(w.series.len() <= MAX_SERIES + aggregate::INSTRUMENTS.len());
    let invocations: f64 = w
        .series
        .iter()
        .filter(|s| s.instrument.name == "faas.invocations")
        .map(|s| match s.point {
            aggregate::Point::Sum(v) => v,
            _ => 0.0,
        })
        .sum();
    assert_eq!(invocations, n as f64);
    assert!(w.series.iter().any(|s| {
        s.attributes
            .iter()
            .any(|(_, v)| *v == aggregate::Value::Text(OTHER.into()))
    }));
}

#[test]
fn resource_attributes_stay_within_the_label_limit_and_each_key_once() {
    let user: Vec<(String, String)> = (0..200).map(|i| (format!("k{i}"), "v".to_owned())).collect();
    let facts = FunctionFacts {
        name: "f",
        version: "1",
        memory_mb: None,
        region: None,
        instance: None,
    };
    let attrs = resource(&facts, &user, Some("svc"));
    assert!(attrs.len() + 2 + 3 <= MAX_LABELS, "{}", attrs.len());
    let with_service = resource(
        &facts,
        &[
            ("service.name".into(), "from-attributes".into()),
            ("faas.name".into(), "renamed".into()),
        ],
        None,
    );
    let get = |a: &[(String, AnyValue)], k: &str| {
        a.iter()
            .filter(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        get(&with_service, "service.name"),
        [AnyValue::Text("from-attributes".into())]
    );
    assert_eq!(
        get(&with_service, "faas.name"),
        [AnyValue::Text("renamed".into())]
    );
    // OTEL_SERVICE_NAME wins over the attributes' service.name.
    let named = resource(&facts, &[("service.name".into(), "x".into())], Some("svc"));
    assert_eq!(get(&named, "service.name"), [AnyValue::Text("svc".into())]);
}

#[test]
fn sigv4_signs_the_gzipped_bytes_sent_with_the_monitoring_service() {
    let mut s = settings("https://monitoring.eu-west-1.amazonaws.com/v1/metrics");
    s.sigv4 = true;
    let lookup = |k: &str| match k {
        "AWS_ACCESS_KEY_ID" => Some("AKIDEXAMPLE".to_owned()),
        "AWS_SECRET_ACCESS_KEY" => Some("secret-key-value".to_owned()),
        "AWS_SESSION_TOKEN" => Some("session-token-value".to_owned()),
        _ => None,
    };
    let client = client::Client::new(&s, &Deadline::new(), &Written::default(), &lookup).unwrap();
    let body = export_bytes(&window(&three()), false);
    let request = client.request(&body, std::time::SystemTime::now()).unwrap();
    let h = request.headers();
    let auth = h["authorization"].to_str().unwrap();
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"),
        "{auth}"
    );
    assert!(auth.contains("/eu-west-1/monitoring/aws4_request"), "{auth}");
    for signed in ["content-encoding", "content-type", "host", "x-amz-date"] {
        assert!(auth.contains(signed), "{signed} not signed: {auth}");
    }
    assert_eq!(h["x-amz-security-token"], "session-token-value");
    assert_eq!(h["content-encoding"], "gzip");
    assert_eq!(h["content-type"], "application/x-protobuf");
    assert_eq!(h["x-api-key"], "header-secret-value");
    assert!(h["authorization"].is_sensitive() && h["x-api-key"].is_sensitive());
    let sent = http_body_util::BodyExt::collect(request.into_body());
    let sent = futures_executor(sent).to_bytes();
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(sent.as_ref())
        .read_to_end(&mut plain)
        .unwrap();
    assert_eq!(plain, body);
    // Without credentials there is no client, said plainly.
    let none = |_: &str| None;
    assert_eq!(
        client::Client::new(&s, &Deadline::new(), &Written::default(), &none).err(),
        Some(client::ClientError::NoCredentials)
    );
}

fn futures_executor<F: std::future::Future>(f: F) -> <F::Output as Unwrap>::Out
where
    F::Output: Unwrap,
{
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
        .unwrap_it()
}

trait Unwrap {
    type Out;
    fn unwrap_it(self) -> Self::Out;
}

impl<T, E: std::fmt::Debug> Unwrap for Result<T, E> {
    type Out = T;
    fn unwrap_it(self) -> T {
        self.unwrap()
    }
}

/// What the local server got: each request's headers and body (gunzipped).
#[derive(Debug, Clone)]
struct Got {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// A local OTLP endpoint answering each request with the next of `answers` (the last one
/// repeated).
async fn server(answers: Vec<&'static [u8]>) -> (String, Arc<Mutex<Vec<Got>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/metrics", listener.local_addr().unwrap());
    let got = Arc::new(Mutex::new(Vec::new()));
    let seen = got.clone();
    tokio::spawn(async move {
        let mut n = 0;
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 8192];
            let (head, body_at) = loop {
                let read = socket.read(&mut chunk).await.unwrap_or(0);
                if read == 0 {
                    break (String::new(), 0);
                }
                buf.extend_from_slice(&chunk[..read]);
                if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break (String::from_utf8_lossy(&buf[..at]).into_owned(), at + 4);
                }
            };
            let headers: Vec<(String, String)> = head
                .lines()
                .skip(1)
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                .collect();
            let len: usize = headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .map_or(0, |(_, v)| v.parse().unwrap());
            while buf.len() < body_at + len {
                let read = socket.read(&mut chunk).await.unwrap_or(0);
                if read == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..read]);
            }
            let raw = &buf[body_at..(body_at + len).min(buf.len())];
            let mut body = Vec::new();
            if flate2::read::GzDecoder::new(raw).read_to_end(&mut body).is_err() {
                body = raw.to_vec();
            }
            seen.lock().unwrap().push(Got { headers, body });
            let answer = answers[n.min(answers.len() - 1)];
            n += 1;
            let _ = socket.write_all(answer).await;
            let _ = socket.shutdown().await;
        }
    });
    (url, got)
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
const UNAVAILABLE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n";
const THROTTLED: &[u8] = b"HTTP/1.1 429 Too Many Requests\r\nretry-after: 0\r\ncontent-length: 0\r\n\r\n";
const DENIED: &[u8] = b"HTTP/1.1 403 Forbidden\r\ncontent-length: 13\r\n\r\naccess denied";

fn sink(url: &str) -> OtlpSink {
    let lookup: Lookup = Arc::new(|k: &str| match k {
        "AWS_ACCESS_KEY_ID" => Some("AKIDEXAMPLE".into()),
        "AWS_SECRET_ACCESS_KEY" => Some("secret-key-value".into()),
        "AWS_SESSION_TOKEN" => Some("session-token-value".into()),
        _ => None,
    });
    let mut s = settings(url);
    // Signed even to a local endpoint (LAMBDA_LENS_OTLP_AUTH=sigv4): the log must not show it.
    s.sigv4 = true;
    OtlpSink::with_lookup(s, lookup)
}

/// Observes the three records (with a fallback document each) and closes.
async fn run(sink: &mut OtlpSink) -> bool {
    for r in three() {
        sink.observe(&r, &mut |out| out.push(format!("{{\"doc\":{}}}", r.values[4].1)));
    }
    sink.flush().await.unwrap();
    sink.close(Duration::from_secs(3)).await
}

/// Log lines written while `f` runs.
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture() -> (tracing::subscriber::DefaultGuard, Arc<Mutex<Vec<u8>>>) {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || Logs(writer.clone()))
        .finish();
    (tracing::subscriber::set_default(subscriber), buf)
}

fn no_secret(logs: &Arc<Mutex<Vec<u8>>>) -> String {
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    for secret in [
        "secret-key-value",
        "session-token-value",
        "header-secret-value",
        "Signature=",
    ] {
        assert!(!text.contains(secret), "{secret} in a log line:\n{text}");
    }
    text
}

#[tokio::test(flavor = "current_thread")]
async fn an_export_is_stored_once_signed_and_counted() {
    let (logs_guard, logs) = capture();
    let (url, got) = server(vec![OK]).await;
    let mut sink = sink(&url);
    assert!(run(&mut sink).await);
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "one request for the window");
    let h = |k: &str| {
        got[0]
            .headers
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    };
    assert!(h("authorization").unwrap().contains("/monitoring/aws4_request"));
    assert_eq!(h("x-api-key").as_deref(), Some("header-secret-value"));
    let request = ExportMetricsServiceRequest::decode(got[0].body.as_slice()).unwrap();
    assert!(!request.resource_metrics[0].scope_metrics[0].metrics.is_empty());
    let health = sink.health().otlp.unwrap();
    assert_eq!(
        (health.requests, health.retries, health.data_points_fallback),
        (1, 0, 0)
    );
    assert!(health.data_points_sent > 0);
    drop(logs_guard);
    no_secret(&logs);
}

#[tokio::test(flavor = "current_thread")]
async fn a_throttled_export_is_retried_after_the_time_asked_and_stored() {
    let (url, got) = server(vec![THROTTLED, OK]).await;
    let mut sink = sink(&url);
    assert!(run(&mut sink).await);
    assert_eq!(got.lock().unwrap().len(), 2);
    let health = sink.health().otlp.unwrap();
    assert_eq!(
        (health.requests, health.retries, health.data_points_fallback),
        (2, 1, 0)
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_partial_success_is_counted_and_logged_once() {
    let (logs_guard, logs) = capture();
    // partial_success { rejected_data_points: 2, error_message: "old" }
    const PARTIAL: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 9\r\n\r\n\x0a\x07\x08\x02\x12\x03old";
    let (url, _) = server(vec![PARTIAL]).await;
    let mut sink = sink(&url);
    assert!(run(&mut sink).await);
    let health = sink.health().otlp.unwrap();
    assert_eq!((health.data_points_rejected, health.data_points_fallback), (2, 0));
    drop(logs_guard);
    let text = no_secret(&logs);
    assert_eq!(text.matches("rejected 2 data points").count(), 1, "{text}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_refused_or_unreachable_export_falls_back_to_emf_with_one_line_naming_the_fix() {
    for (answers, fix) in [
        (vec![DENIED], "cloudwatch:PutMetricData"),
        (vec![UNAVAILABLE], "network path"),
    ] {
        let (logs_guard, logs) = capture();
        let (url, _) = server(answers).await;
        let mut sink = sink(&url);
        run(&mut sink).await;
        let health = sink.health().otlp.unwrap();
        assert_eq!(
            health.data_points_fallback, 3,
            "{fix}: every record written as EMF"
        );
        assert_eq!(health.data_points_sent, 0);
        drop(logs_guard);
        let text = no_secret(&logs);
        assert_eq!(text.matches("Remedy").count(), 1, "{text}");
        assert!(text.contains(fix), "{fix}: {text}");
    }
    // Nothing listening: not sent, retried, then the fallback.
    let mut sink = sink("http://127.0.0.1:9/v1/metrics");
    run(&mut sink).await;
    assert_eq!(sink.health().otlp.unwrap().data_points_fallback, 3);
}

#[tokio::test(flavor = "current_thread")]
async fn a_window_is_exported_once_it_is_due_not_at_every_flush() {
    let (url, got) = server(vec![OK]).await;
    let mut sink = sink(&url);
    Arc::get_mut(&mut sink.settings).unwrap().flush_interval = Duration::from_secs(60);
    for r in three() {
        sink.observe(&r, &mut |_| {});
        sink.flush().await.unwrap();
    }
    tokio::task::yield_now().await;
    assert_eq!(got.lock().unwrap().len(), 0, "not due yet");
    assert!(sink.close(Duration::from_secs(3)).await);
    assert_eq!(got.lock().unwrap().len(), 1, "the window at SHUTDOWN");
}

/// A server that reads the request and never answers: the export was sent, its outcome is
/// unknown; it counts as sent, at most once, and is neither retried nor written as EMF.
#[tokio::test(flavor = "current_thread")]
async fn an_export_sent_without_an_answer_by_the_deadline_counts_as_sent_once() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/metrics", listener.local_addr().unwrap());
    let accepted = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut socket, _)) = listener.accept().await {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut buf = vec![0; 65536];
            let _ = socket.read(&mut buf).await;
            held.push(socket);
        }
    });
    let mut sink = sink(&url);
    for r in three() {
        sink.observe(&r, &mut |out| out.push("{}".into()));
    }
    // SHUTDOWN's deadline caps the attempt.
    assert!(sink.close(Duration::from_millis(600)).await);
    let health = sink.health().otlp.unwrap();
    assert_eq!(
        (
            health.requests,
            health.unknown_outcomes,
            health.data_points_fallback,
            health.retries
        ),
        (1, 1, 0, 0)
    );
    assert!(health.data_points_sent > 0);
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
}

/// A `Retry-After` longer than what is left of the deadline is not waited for: the window
/// falls back at once.
#[tokio::test(flavor = "current_thread")]
async fn a_retry_after_beyond_the_deadline_falls_back_without_waiting() {
    const LATER: &[u8] =
        b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 3600\r\ncontent-length: 0\r\n\r\n";
    let (url, got) = server(vec![LATER]).await;
    let mut sink = sink(&url);
    let started = std::time::Instant::now();
    run(&mut sink).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(got.lock().unwrap().len(), 1);
    assert_eq!(sink.health().otlp.unwrap().data_points_fallback, 3);
}

/// `http/json`: the body is the JSON mapping, with its content type, and a JSON partial
/// success is read.
#[tokio::test(flavor = "current_thread")]
async fn the_json_protocol_sends_json_and_reads_a_json_answer() {
    const PARTIAL: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 64\r\n\r\n{\"partialSuccess\":{\"rejectedDataPoints\":\"1\",\"errorMessage\":\"x\"}}";
    let (url, got) = server(vec![PARTIAL]).await;
    let mut sink = sink(&url);
    Arc::get_mut(&mut sink.settings).unwrap().json = true;
    assert!(run(&mut sink).await);
    let got = got.lock().unwrap().clone();
    let h = |k: &str| {
        got[0]
            .headers
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(h("content-type").as_deref(), Some("application/json"));
    let body: serde_json::Value = serde_json::from_slice(&got[0].body).unwrap();
    assert!(body["resourceMetrics"][0]["scopeMetrics"][0]["metrics"].is_array());
    assert_eq!(sink.health().otlp.unwrap().data_points_rejected, 1);
}

/// Cumulative temporality: each export carries the totals since the start, from the start.
#[test]
fn cumulative_exports_carry_the_totals_since_the_start() {
    let mut s = settings("http://127.0.0.1:1/v1/metrics");
    s.cumulative = true;
    let mut sink = OtlpSink::with_lookup(s, Arc::new(|_: &str| None));
    let successes = |b: &Batch| -> f64 {
        b.series
            .iter()
            .filter(|s| s.instrument.name == "faas.invocations")
            .map(|s| match s.point {
                aggregate::Point::Sum(v) => v,
                _ => 0.0,
            })
            .sum()
    };
    sink.observe(&invocation(false, "success", 5.0), &mut |_| {});
    let first = sink.take_batch();
    sink.observe(&invocation(false, "success", 5.0), &mut |_| {});
    let second = sink.take_batch();
    assert_eq!((successes(&first), successes(&second)), (1.0, 2.0));
    assert_eq!(second.start_ms, first.start_ms, "from the start");
    assert_eq!(
        (first.records, second.records),
        (1, 1),
        "the fallback is each window's own"
    );
}

/// Delta: an export carries only what moved in its window (the OpenTelemetry SDKs' rule for
/// delta: a series with no measurement in the interval is not exported); no zero sums.
#[test]
fn a_delta_export_leaves_out_the_series_that_did_not_move() {
    let mut sink = OtlpSink::with_lookup(
        settings("http://127.0.0.1:1/v1/metrics"),
        Arc::new(|_: &str| None),
    );
    sink.observe(&invocation(false, "success", 5.0), &mut |_| {});
    let batch = sink.take_batch();
    let names: Vec<&str> = batch.series.iter().map(|s| s.instrument.name).collect();
    for gone in ["faas.errors", "faas.timeouts", "faas.coldstarts"] {
        assert!(!names.contains(&gone), "{gone} (zero) sent: {names:?}");
    }
    assert!(names.contains(&"faas.invocations"), "{names:?}");
    assert!(names.contains(&"faas.invoke_duration"), "{names:?}");
    assert!(batch.series.iter().all(|s| match &s.point {
        aggregate::Point::Sum(v) => *v != 0.0,
        aggregate::Point::Histogram { count, .. } => *count > 0,
        aggregate::Point::Gauge(_) => true,
    }));
}

/// Cumulative keeps every series it has seen, zero or not (its totals are the state).
#[test]
fn a_cumulative_export_keeps_the_series_that_did_not_move() {
    let mut s = settings("http://127.0.0.1:1/v1/metrics");
    s.cumulative = true;
    let mut sink = OtlpSink::with_lookup(s, Arc::new(|_: &str| None));
    sink.observe(&invocation(false, "success", 5.0), &mut |_| {});
    let _ = sink.take_batch();
    sink.observe(&invocation(false, "success", 5.0), &mut |_| {});
    let second = sink.take_batch();
    let names: Vec<&str> = second.series.iter().map(|s| s.instrument.name).collect();
    assert!(names.contains(&"faas.errors"), "{names:?}");
}

/// Exporters identify themselves (the OTLP specification: a `User-Agent` SHOULD be sent).
#[tokio::test(flavor = "current_thread")]
async fn an_export_says_who_sent_it() {
    let (url, got) = server(vec![OK]).await;
    let mut sink = sink(&url);
    assert!(run(&mut sink).await);
    let got = got.lock().unwrap().clone();
    let agent = got[0]
        .headers
        .iter()
        .find(|(k, _)| k == "user-agent")
        .map(|(_, v)| v.clone());
    assert_eq!(agent, Some(format!("lambda-lens/{}", env!("CARGO_PKG_VERSION"))));
}

/// The resource is billed on every data point: only the attributes the semantic conventions
/// give a Lambda function (as OpenTelemetry's own Lambda resource detectors set them) and
/// `service.name`; anything else only when `OTEL_RESOURCE_ATTRIBUTES` asks.
#[test]
fn the_resource_has_only_the_conventions_attributes_for_a_function() {
    let attrs = resource(
        &FunctionFacts {
            name: "checkout",
            version: "7",
            memory_mb: Some(512),
            region: Some("eu-west-1"),
            instance: Some("2026/12/07/[7]abc"),
        },
        &[],
        None,
    );
    let keys: Vec<&str> = attrs.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "cloud.provider",
            "cloud.platform",
            "cloud.region",
            "faas.name",
            "faas.version",
            "faas.max_memory",
            "faas.instance",
            "service.name"
        ]
    );
}

/// No redundant label: `faas.coldstarts` counts cold starts, so `faas.coldstart` (always true
/// there) is not on its points; the other invocation metrics keep it.
#[test]
fn the_coldstart_counter_does_not_carry_the_coldstart_label() {
    let w = window(&[invocation(true, "success", 120.0)]);
    let labels = |name: &str| {
        w.series
            .iter()
            .find(|s| s.instrument.name == name)
            .map(|s| s.attributes.iter().map(|(k, _)| *k).collect::<Vec<_>>())
            .unwrap()
    };
    assert!(!labels("faas.coldstarts").contains(&"faas.coldstart"));
    assert!(labels("faas.invoke_duration").contains(&"faas.coldstart"));
}
