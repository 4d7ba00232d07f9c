//! A window's series as an OTLP `ExportMetricsServiceRequest`: the binary protobuf encoding
//! (`http/protobuf`) and the OTLP JSON mapping (`http/json`) of the same message.
//!
//! The protobuf is written by hand, field by field, from `opentelemetry/proto/metrics/v1/
//! metrics.proto`, `common/v1/common.proto`, `resource/v1/resource.proto` and
//! `collector/metrics/v1/metrics_service.proto` (opentelemetry-proto 1.x): the few messages
//! written here need a varint, a length prefix and little-endian 64-bit numbers. The
//! `opentelemetry-proto` crate was measured (BENCHMARKS.md, "The OTLP sink"): its prost types
//! cost little in the binary, but bring `prost` and the OpenTelemetry API and SDK crates into
//! the layer's build and licence checks for the same bytes; prost with hand-declared messages
//! (not measured) is the same runtime with fewer types. Neither checks the encoding
//! better than independent readers do: the unit tests decode what is written here with
//! `opentelemetry-proto`'s own types, and the end-to-end suite's receiver with the project's
//! .proto files.

use serde_json::{Map, Value as Json, json};

use super::aggregate::{INSTRUMENTS, Instrument, Kind, Point, Series, Value};

/// A resource attribute's value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AnyValue {
    Text(String),
    Int(i64),
}

/// What one request carries.
pub(crate) struct Export<'a> {
    pub(crate) resource: &'a [(String, AnyValue)],
    pub(crate) series: &'a [&'a Series],
    pub(crate) start_ns: u64,
    pub(crate) time_ns: u64,
    pub(crate) cumulative: bool,
}

/// `AggregationTemporality`.
const DELTA: u64 = 1;
const CUMULATIVE: u64 = 2;
const SCOPE: &str = "lambda-lens";

impl Export<'_> {
    fn temporality(&self) -> u64 {
        if self.cumulative { CUMULATIVE } else { DELTA }
    }

    /// The series grouped by instrument, in the instruments' order.
    fn metrics(&self) -> impl Iterator<Item = (&'static Instrument, Vec<&Series>)> + '_ {
        INSTRUMENTS.iter().filter_map(|i| {
            let points: Vec<&Series> = self
                .series
                .iter()
                .copied()
                .filter(|s| std::ptr::eq(s.instrument, i))
                .collect();
            (!points.is_empty()).then_some((i, points))
        })
    }
}

// ---- protobuf ----

/// Wire types.
const VARINT: u64 = 0;
const FIXED64: u64 = 1;
const LEN: u64 = 2;

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn tag(out: &mut Vec<u8>, field: u64, wire: u64) {
    varint(out, field << 3 | wire);
}

fn bytes_field(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    tag(out, field, LEN);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn string_field(out: &mut Vec<u8>, field: u64, text: &str) {
    bytes_field(out, field, text.as_bytes());
}

fn fixed64_field(out: &mut Vec<u8>, field: u64, v: u64) {
    tag(out, field, FIXED64);
    out.extend_from_slice(&v.to_le_bytes());
}

fn double_field(out: &mut Vec<u8>, field: u64, v: f64) {
    tag(out, field, FIXED64);
    out.extend_from_slice(&v.to_le_bytes());
}

fn varint_field(out: &mut Vec<u8>, field: u64, v: u64) {
    tag(out, field, VARINT);
    varint(out, v);
}

/// A nested message: written into a buffer of its own, then length-prefixed.
fn message(out: &mut Vec<u8>, field: u64, write: impl FnOnce(&mut Vec<u8>)) {
    let mut inner = Vec::new();
    write(&mut inner);
    bytes_field(out, field, &inner);
}

/// `KeyValue { string key = 1; AnyValue value = 2; }`, `AnyValue { string_value = 1;
/// bool_value = 2; int_value = 3; }`.
fn key_value(out: &mut Vec<u8>, field: u64, key: &str, value: &Attr<'_>) {
    message(out, field, |kv| {
        string_field(kv, 1, key);
        message(kv, 2, |v| match value {
            Attr::Text(t) => string_field(v, 1, t),
            Attr::Bool(b) => varint_field(v, 2, u64::from(*b)),
            Attr::Int(i) => varint_field(v, 3, *i as u64),
        });
    });
}

enum Attr<'a> {
    Text(&'a str),
    Bool(bool),
    Int(i64),
}

impl<'a> From<&'a AnyValue> for Attr<'a> {
    fn from(v: &'a AnyValue) -> Self {
        match v {
            AnyValue::Text(t) => Attr::Text(t),
            AnyValue::Int(i) => Attr::Int(*i),
        }
    }
}

impl<'a> From<&'a Value> for Attr<'a> {
    fn from(v: &'a Value) -> Self {
        match v {
            Value::Text(t) => Attr::Text(t),
            Value::Bool(b) => Attr::Bool(*b),
        }
    }
}

/// `ExportMetricsServiceRequest { repeated ResourceMetrics resource_metrics = 1; }`.
pub(crate) fn protobuf(e: &Export<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    // ResourceMetrics { Resource resource = 1; repeated ScopeMetrics scope_metrics = 2; }
    message(&mut out, 1, |rm| {
        // Resource { repeated KeyValue attributes = 1; }
        message(rm, 1, |r| {
            for (k, v) in e.resource {
                key_value(r, 1, k, &v.into());
            }
        });
        // ScopeMetrics { InstrumentationScope scope = 1; repeated Metric metrics = 2; }
        message(rm, 2, |sm| {
            message(sm, 1, |scope| {
                string_field(scope, 1, SCOPE);
                string_field(scope, 2, env!("CARGO_PKG_VERSION"));
            });
            for (i, points) in e.metrics() {
                message(sm, 2, |m| metric(m, e, i, &points));
            }
        });
    });
    out
}

/// `Metric { name = 1; description = 2; unit = 3; Gauge gauge = 5; Sum sum = 7; Histogram
/// histogram = 9; }`.
fn metric(m: &mut Vec<u8>, e: &Export<'_>, instrument: &Instrument, points: &[&Series]) {
    string_field(m, 1, instrument.name);
    string_field(m, 2, instrument.description);
    string_field(m, 3, instrument.unit);
    match instrument.kind {
        // Gauge { repeated NumberDataPoint data_points = 1; }
        Kind::Gauge => message(m, 5, |g| {
            for s in points {
                message(g, 1, |dp| number_point(dp, e, s, false));
            }
        }),
        // Sum { data_points = 1; aggregation_temporality = 2; is_monotonic = 3; }
        Kind::Count | Kind::Total => message(m, 7, |sum| {
            for s in points {
                message(sum, 1, |dp| {
                    number_point(dp, e, s, instrument.kind == Kind::Count)
                });
            }
            varint_field(sum, 2, e.temporality());
            varint_field(sum, 3, 1);
        }),
        // Histogram { data_points = 1; aggregation_temporality = 2; }
        Kind::Histogram(bounds) => message(m, 9, |h| {
            for s in points {
                message(h, 1, |dp| histogram_point(dp, e, s, bounds));
            }
            varint_field(h, 2, e.temporality());
        }),
    }
}

/// `NumberDataPoint { attributes = 7; fixed64 start_time_unix_nano = 2; fixed64
/// time_unix_nano = 3; double as_double = 4; sfixed64 as_int = 6; }`. A gauge has no start.
fn number_point(dp: &mut Vec<u8>, e: &Export<'_>, s: &Series, int: bool) {
    let value = match s.point {
        Point::Sum(v) | Point::Gauge(v) => v,
        Point::Histogram { .. } => 0.0,
    };
    if !matches!(s.point, Point::Gauge(_)) {
        fixed64_field(dp, 2, e.start_ns);
    }
    fixed64_field(dp, 3, e.time_ns);
    if int {
        // sfixed64: the two's complement, little-endian.
        tag(dp, 6, FIXED64);
        dp.extend_from_slice(&(value.round() as i64).to_le_bytes());
    } else {
        double_field(dp, 4, value);
    }
    for (k, v) in &s.attributes {
        key_value(dp, 7, k, &v.into());
    }
}

/// `HistogramDataPoint { start_time_unix_nano = 2; time_unix_nano = 3; fixed64 count = 4;
/// double sum = 5; repeated fixed64 bucket_counts = 6 [packed]; repeated double
/// explicit_bounds = 7 [packed]; attributes = 9; double min = 11; double max = 12; }`.
fn histogram_point(dp: &mut Vec<u8>, e: &Export<'_>, s: &Series, bounds: &[f64]) {
    let Point::Histogram {
        count,
        sum,
        min,
        max,
        buckets,
    } = &s.point
    else {
        return;
    };
    fixed64_field(dp, 2, e.start_ns);
    fixed64_field(dp, 3, e.time_ns);
    fixed64_field(dp, 4, *count);
    double_field(dp, 5, *sum);
    let mut packed = Vec::with_capacity(buckets.len() * 8);
    for b in buckets {
        packed.extend_from_slice(&b.to_le_bytes());
    }
    bytes_field(dp, 6, &packed);
    packed.clear();
    for b in bounds {
        packed.extend_from_slice(&b.to_le_bytes());
    }
    bytes_field(dp, 7, &packed);
    for (k, v) in &s.attributes {
        key_value(dp, 9, k, &v.into());
    }
    if *count > 0 {
        double_field(dp, 11, *min);
        double_field(dp, 12, *max);
    }
}

// ---- JSON (the OTLP JSON mapping: lowerCamelCase names, enums as numbers, 64-bit integers as
// strings) ----

fn json_attr(key: &str, value: &Attr<'_>) -> Json {
    let value = match value {
        Attr::Text(t) => json!({ "stringValue": t }),
        Attr::Bool(b) => json!({ "boolValue": b }),
        Attr::Int(i) => json!({ "intValue": i.to_string() }),
    };
    json!({ "key": key, "value": value })
}

fn json_attrs(series: &Series) -> Vec<Json> {
    series
        .attributes
        .iter()
        .map(|(k, v)| json_attr(k, &v.into()))
        .collect()
}

/// The same message in the OTLP JSON mapping.
pub(crate) fn json(e: &Export<'_>) -> Vec<u8> {
    let metrics: Vec<Json> = e
        .metrics()
        .map(|(i, points)| json_metric(e, i, &points))
        .collect();
    let resource: Vec<Json> = e.resource.iter().map(|(k, v)| json_attr(k, &v.into())).collect();
    let request = json!({
        "resourceMetrics": [{
            "resource": { "attributes": resource },
            "scopeMetrics": [{
                "scope": { "name": SCOPE, "version": env!("CARGO_PKG_VERSION") },
                "metrics": metrics,
            }],
        }],
    });
    serde_json::to_vec(&request).unwrap_or_default()
}

fn json_number(e: &Export<'_>, s: &Series, int: bool) -> Json {
    let mut dp = Map::new();
    dp.insert("attributes".into(), json_attrs(s).into());
    let value = match s.point {
        Point::Gauge(v) => v,
        Point::Sum(v) => {
            dp.insert("startTimeUnixNano".into(), e.start_ns.to_string().into());
            v
        }
        Point::Histogram { .. } => 0.0,
    };
    dp.insert("timeUnixNano".into(), e.time_ns.to_string().into());
    if int {
        dp.insert("asInt".into(), (value.round() as i64).to_string().into());
    } else {
        dp.insert("asDouble".into(), value.into());
    }
    dp.into()
}

fn json_histogram(e: &Export<'_>, s: &Series, bounds: &[f64]) -> Option<Json> {
    let Point::Histogram {
        count,
        sum,
        min,
        max,
        buckets,
    } = &s.point
    else {
        return None;
    };
    let mut dp = Map::new();
    dp.insert("attributes".into(), json_attrs(s).into());
    dp.insert("startTimeUnixNano".into(), e.start_ns.to_string().into());
    dp.insert("timeUnixNano".into(), e.time_ns.to_string().into());
    dp.insert("count".into(), count.to_string().into());
    dp.insert("sum".into(), (*sum).into());
    dp.insert(
        "bucketCounts".into(),
        buckets.iter().map(u64::to_string).collect::<Vec<_>>().into(),
    );
    dp.insert("explicitBounds".into(), bounds.to_vec().into());
    if *count > 0 {
        dp.insert("min".into(), (*min).into());
        dp.insert("max".into(), (*max).into());
    }
    Some(dp.into())
}

fn json_metric(e: &Export<'_>, instrument: &Instrument, points: &[&Series]) -> Json {
    let mut metric = Map::new();
    metric.insert("name".into(), instrument.name.into());
    metric.insert("description".into(), instrument.description.into());
    metric.insert("unit".into(), instrument.unit.into());
    match instrument.kind {
        Kind::Gauge => {
            let points: Vec<Json> = points.iter().map(|s| json_number(e, s, false)).collect();
            metric.insert("gauge".into(), json!({ "dataPoints": points }));
        }
        Kind::Count | Kind::Total => {
            let int = instrument.kind == Kind::Count;
            let points: Vec<Json> = points.iter().map(|s| json_number(e, s, int)).collect();
            metric.insert(
                "sum".into(),
                json!({
                    "dataPoints": points,
                    "aggregationTemporality": e.temporality(),
                    "isMonotonic": true,
                }),
            );
        }
        Kind::Histogram(bounds) => {
            let points: Vec<Json> = points
                .iter()
                .filter_map(|s| json_histogram(e, s, bounds))
                .collect();
            metric.insert(
                "histogram".into(),
                json!({
                    "dataPoints": points,
                    "aggregationTemporality": e.temporality(),
                }),
            );
        }
    }
    metric.into()
}

/// What an `ExportMetricsServiceResponse` says was rejected:
/// `partial_success = 1 { int64 rejected_data_points = 1; string error_message = 2; }`.
/// `None` when the body says nothing (an empty body is full success).
pub(crate) fn partial_success(body: &[u8], json: bool) -> Option<(i64, String)> {
    if body.is_empty() {
        return None;
    }
    if json {
        let v: Json = serde_json::from_slice(body).ok()?;
        let p = v.get("partialSuccess")?;
        let rejected = match p.get("rejectedDataPoints") {
            Some(Json::String(s)) => s.parse().ok()?,
            Some(n) => n.as_i64()?,
            None => 0,
        };
        let message = p.get("errorMessage").and_then(|m| m.as_str()).unwrap_or_default();
        return Some((rejected, message.to_owned()));
    }
    let partial = field(body, 1)?;
    let mut rejected = 0;
    let mut message = String::new();
    let mut rest = partial;
    while let Some((number, wire, value, tail)) = next_field(rest) {
        match (number, wire, value) {
            (1, VARINT, Field::Varint(v)) => rejected = v as i64,
            (2, LEN, Field::Bytes(b)) => message = String::from_utf8_lossy(b).into_owned(),
            _ => {}
        }
        rest = tail;
    }
    Some((rejected, message))
}

enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

fn read_varint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut v = 0u64;
    for (i, b) in bytes.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((v, bytes.get(i + 1..)?));
        }
    }
    None
}

fn next_field(bytes: &[u8]) -> Option<(u64, u64, Field<'_>, &[u8])> {
    let (key, rest) = read_varint(bytes)?;
    let (number, wire) = (key >> 3, key & 7);
    match wire {
        VARINT => {
            let (v, rest) = read_varint(rest)?;
            Some((number, wire, Field::Varint(v), rest))
        }
        FIXED64 => Some((number, wire, Field::Fixed, rest.get(8..)?)),
        LEN => {
            let (len, rest) = read_varint(rest)?;
            let len = usize::try_from(len).ok()?;
            Some((number, wire, Field::Bytes(rest.get(..len)?), rest.get(len..)?))
        }
        5 => Some((number, wire, Field::Fixed, rest.get(4..)?)),
        _ => None,
    }
}

/// The bytes of the first length-delimited field `number` of a message.
fn field(bytes: &[u8], number: u64) -> Option<&[u8]> {
    let mut rest = bytes;
    while let Some((n, _, value, tail)) = next_field(rest) {
        if let (true, Field::Bytes(b)) = (n == number, value) {
            return Some(b);
        }
        rest = tail;
    }
    None
}
