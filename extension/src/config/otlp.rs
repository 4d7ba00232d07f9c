//! The OTLP sink's settings: the OpenTelemetry exporter variables as the specification defines
//! them (each `OTEL_EXPORTER_OTLP_*` in its generic form and its `OTEL_EXPORTER_OTLP_METRICS_*`
//! form; the metrics form wins), `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_SERVICE_NAME`, and
//! lambda-lens's own `LAMBDA_LENS_OTLP_AUTH` and `LAMBDA_LENS_OTLP_ATTRIBUTES`. Read only when
//! `LAMBDA_LENS_SINK` names `otlp`. A bad value warns, naming the variable and what it
//! accepts, and the default is used; a header's value (often a secret) never appears in a
//! warning.

use std::time::Duration;

use super::{Reader, vars};

/// How the request body is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// `http/protobuf`: the binary protobuf encoding of `ExportMetricsServiceRequest`.
    Protobuf,
    /// `http/json`: the OTLP JSON mapping of the same message.
    Json,
}

/// Which temporality sums and histograms are written with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Temporality {
    /// What changed since the previous export (the default: the environment is frozen and
    /// may end any time, so nothing but the last window is held; CloudWatch stores what it is
    /// given, and a delta loses nothing when an environment ends).
    Delta,
    /// Totals since the environment started, for backends that need it (a Prometheus store).
    Cumulative,
}

/// How requests are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Auth {
    /// AWS Signature Version 4, service `monitoring`, with the function role's credentials.
    SigV4,
    /// None but the headers configured.
    None,
}

/// A data-point label lambda-lens can put on its metrics (`LAMBDA_LENS_OTLP_ATTRIBUTES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Label {
    /// `faas.coldstart` (semantic conventions' boolean) on the invocation metrics.
    ColdStart,
    /// `error.type` on `faas.errors`: the platform's `errorType`, else the status.
    ErrorType,
    /// `lambda_lens.tenant_id` (tenant isolation mode) on the invocation metrics: opt-in,
    /// one series per tenant.
    TenantId,
}

impl Label {
    pub(crate) const ALL: [Self; 3] = [Self::ColdStart, Self::ErrorType, Self::TenantId];
    pub(crate) const DEFAULT: [Self; 2] = [Self::ColdStart, Self::ErrorType];

    pub(crate) fn key(self) -> &'static str {
        match self {
            Self::ColdStart => "faas.coldstart",
            Self::ErrorType => "error.type",
            Self::TenantId => "lambda_lens.tenant_id",
        }
    }
}

/// The OTLP sink's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OtlpConfig {
    /// The whole URL requests go to (`.../v1/metrics`); `None` when no endpoint is set and the
    /// region is unknown (the sink then writes EMF and says why).
    pub(crate) endpoint: Option<String>,
    /// Extra request headers. Their values are never logged.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) protocol: Protocol,
    /// gzip the body (the default here; the specification's default is none, but every byte
    /// is billed at CloudWatch and the endpoint takes gzip).
    pub(crate) gzip: bool,
    /// The longest one request may take.
    pub(crate) timeout: Duration,
    pub(crate) temporality: Temporality,
    pub(crate) auth: Auth,
    /// `OTEL_RESOURCE_ATTRIBUTES`, decoded, in order.
    pub(crate) resource_attributes: Vec<(String, String)>,
    pub(crate) service_name: Option<String>,
    pub(crate) labels: Vec<Label>,
    /// How long values wait before they are exported (`OTEL_METRIC_EXPORT_INTERVAL`).
    pub(crate) export_interval: Duration,
}

/// The specification's default timeout (10 s).
const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// The specification's default export interval (60 s): every data point is billed, so the
/// fewer exports the fewer points; the OTLP rows of `make cost` show what it saves.
const DEFAULT_EXPORT_INTERVAL_MS: u64 = 60_000;

/// Reads the OTLP settings; `region` is the function's (`AWS_REGION`).
pub(crate) fn read(r: &mut Reader<'_>, region: Option<&str>) -> OtlpConfig {
    let default_endpoint = region.map(cloudwatch_endpoint);
    let endpoint = read_endpoint(r, default_endpoint.clone());
    let auth = read_auth(r, endpoint.as_deref());
    let headers = read_headers(r);
    let protocol = match pick(r, vars::OTLP_METRICS_PROTOCOL, vars::OTLP_PROTOCOL) {
        None => Protocol::Protobuf,
        Some((name, raw)) => match raw.to_ascii_lowercase().as_str() {
            "http/protobuf" => Protocol::Protobuf,
            "http/json" => Protocol::Json,
            _ => {
                r.warn(
                    name,
                    raw,
                    "http/protobuf or http/json (gRPC is not supported: CloudWatch's endpoint is OTLP/HTTP)",
                    "http/protobuf",
                );
                Protocol::Protobuf
            }
        },
    };
    let gzip = match pick(r, vars::OTLP_METRICS_COMPRESSION, vars::OTLP_COMPRESSION) {
        None => true,
        Some((name, raw)) => match raw.to_ascii_lowercase().as_str() {
            "gzip" => true,
            "none" => false,
            _ => {
                r.warn(name, raw, "gzip or none", "gzip");
                true
            }
        },
    };
    let timeout = match pick(r, vars::OTLP_METRICS_TIMEOUT, vars::OTLP_TIMEOUT) {
        None => Duration::from_millis(DEFAULT_TIMEOUT_MS),
        Some((name, raw)) => match raw.parse::<u64>() {
            Ok(ms) if (100..=60_000).contains(&ms) => Duration::from_millis(ms),
            _ => {
                r.warn(
                    name,
                    raw,
                    "milliseconds, an integer from 100 to 60000",
                    DEFAULT_TIMEOUT_MS,
                );
                Duration::from_millis(DEFAULT_TIMEOUT_MS)
            }
        },
    };
    let temporality = match r.get(vars::OTLP_TEMPORALITY) {
        None => Temporality::Delta,
        Some(raw) => match raw.to_ascii_lowercase().as_str() {
            // The specification's `lowmemory` is delta for counters and histograms, the only
            // instruments written here.
            "delta" | "lowmemory" => Temporality::Delta,
            "cumulative" => Temporality::Cumulative,
            _ => {
                r.warn(
                    vars::OTLP_TEMPORALITY,
                    raw,
                    "delta, cumulative or lowmemory",
                    "delta",
                );
                Temporality::Delta
            }
        },
    };
    let resource_attributes = match r.get(vars::OTEL_RESOURCE_ATTRIBUTES) {
        None => Vec::new(),
        Some(raw) => match pairs(&raw) {
            Some(pairs) => pairs,
            None => {
                r.warn(
                    vars::OTEL_RESOURCE_ATTRIBUTES,
                    raw,
                    "key=value pairs separated by commas (values percent-encoded)",
                    "none",
                );
                Vec::new()
            }
        },
    };
    let service_name = r.get(vars::OTEL_SERVICE_NAME);
    let labels = read_labels(r);
    let export_interval = Duration::from_millis(r.int_in(
        vars::OTEL_METRIC_EXPORT_INTERVAL,
        100,
        900_000,
        DEFAULT_EXPORT_INTERVAL_MS,
    ));
    OtlpConfig {
        endpoint,
        headers,
        protocol,
        gzip,
        timeout,
        temporality,
        auth,
        resource_attributes,
        service_name,
        labels,
        export_interval,
    }
}

/// Without the OTLP sink, lambda-lens's own OTLP variables are still checked, so a bad value is
/// named (the OpenTelemetry ones are left alone: the function's own SDK may read them).
pub(crate) fn check_unused(r: &mut Reader<'_>) {
    let _ = read_auth(r, None);
    let _ = read_labels(r);
}

/// CloudWatch's OTLP metrics endpoint in `region` (class a, "OTLP Endpoints").
pub(crate) fn cloudwatch_endpoint(region: &str) -> String {
    format!("https://monitoring.{region}.amazonaws.com/v1/metrics")
}

/// Whether `host` is a CloudWatch monitoring host (`monitoring.<region>.amazonaws.com`, the
/// `.com.cn` of the China regions, and their FIPS forms): SigV4 is needed there.
pub(crate) fn is_cloudwatch_host(host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    (host.starts_with("monitoring.") || host.starts_with("monitoring-fips."))
        && (host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn"))
}

/// The first of the metrics-specific and the generic variable that is set.
fn pick(r: &mut Reader<'_>, specific: &'static str, generic: &'static str) -> Option<(&'static str, String)> {
    if let Some(v) = r.get(specific) {
        return Some((specific, v));
    }
    r.get(generic).map(|v| (generic, v))
}

/// The host of a URL, if it is an `http` or `https` URL with one.
pub(crate) fn url_host(url: &str) -> Option<String> {
    let uri = url.parse::<http::Uri>().ok()?;
    matches!(uri.scheme_str(), Some("http" | "https")).then_some(())?;
    uri.host().filter(|h| !h.is_empty()).map(str::to_owned)
}

fn read_endpoint(r: &mut Reader<'_>, default: Option<String>) -> Option<String> {
    let used = default.clone().unwrap_or_else(|| {
        "CloudWatch's endpoint in AWS_REGION (unset: none, metrics written as EMF)".to_owned()
    });
    if let Some(raw) = r.get(vars::OTLP_METRICS_ENDPOINT) {
        // Used as it is (the specification).
        if url_host(&raw).is_some() {
            return Some(raw);
        }
        r.warn(
            vars::OTLP_METRICS_ENDPOINT,
            raw,
            "an http:// or https:// URL",
            used,
        );
        return default;
    }
    if let Some(raw) = r.get(vars::OTLP_ENDPOINT) {
        // A base URL: the signal's path is appended (the specification).
        if url_host(&raw).is_some() {
            return Some(format!("{}/v1/metrics", raw.trim_end_matches('/')));
        }
        r.warn(vars::OTLP_ENDPOINT, raw, "an http:// or https:// URL", used);
        return default;
    }
    default
}

fn read_auth(r: &mut Reader<'_>, endpoint: Option<&str>) -> Auth {
    let cloudwatch = endpoint.and_then(url_host).is_none_or(|h| is_cloudwatch_host(&h));
    let default = if cloudwatch { Auth::SigV4 } else { Auth::None };
    let Some(raw) = r.get(vars::OTLP_AUTH) else {
        return default;
    };
    match raw.to_ascii_lowercase().as_str() {
        "sigv4" => Auth::SigV4,
        "none" => Auth::None,
        _ => {
            let used = if cloudwatch {
                "sigv4 (the endpoint is CloudWatch's)"
            } else {
                "none (the endpoint is not CloudWatch's)"
            };
            r.warn(vars::OTLP_AUTH, raw, "sigv4 or none", used);
            default
        }
    }
}

/// `..._HEADERS`: `key=value` pairs, values percent-decoded. A bad list is refused whole, and
/// the warning shows the keys only.
fn read_headers(r: &mut Reader<'_>) -> Vec<(String, String)> {
    let Some((name, raw)) = pick(r, vars::OTLP_METRICS_HEADERS, vars::OTLP_HEADERS) else {
        return Vec::new();
    };
    let valid = pairs(&raw).filter(|pairs| {
        pairs.iter().all(|(k, v)| {
            http::HeaderName::from_bytes(k.as_bytes()).is_ok() && http::HeaderValue::from_str(v).is_ok()
        })
    });
    match valid {
        Some(pairs) => pairs,
        None => {
            r.warn(
                name,
                hidden_values(&raw),
                "key=value pairs separated by commas: header names, values percent-encoded",
                "no headers",
            );
            Vec::new()
        }
    }
}

/// `raw` with every value replaced, for a warning: the keys alone.
fn hidden_values(raw: &str) -> String {
    raw.split(',')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) => format!("{}=(hidden)", k.trim()),
            None => "(hidden)".to_owned(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn read_labels(r: &mut Reader<'_>) -> Vec<Label> {
    let Some(raw) = r.get(vars::OTLP_ATTRIBUTES) else {
        return Label::DEFAULT.to_vec();
    };
    if raw.eq_ignore_ascii_case("none") {
        return Vec::new();
    }
    let mut labels = Vec::new();
    for word in raw.split(',').map(str::trim) {
        match Label::ALL
            .into_iter()
            .find(|l| l.key().eq_ignore_ascii_case(word))
        {
            Some(label) if !labels.contains(&label) => labels.push(label),
            _ => {
                r.warn(
                    vars::OTLP_ATTRIBUTES,
                    raw,
                    "none, or a comma list of faas.coldstart, error.type, lambda_lens.tenant_id",
                    "faas.coldstart,error.type",
                );
                return Label::DEFAULT.to_vec();
            }
        }
    }
    labels
}

/// `k=v,k=v` with percent-decoded values and trimmed keys (the W3C Baggage form the
/// specification uses for both variables); `None` when a pair has no `=` or an empty key.
fn pairs(raw: &str) -> Option<Vec<(String, String)>> {
    raw.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=')?;
            let k = k.trim();
            (!k.is_empty()).then_some(())?;
            Some((k.to_owned(), percent_decode(v.trim())?))
        })
        .collect()
}

/// `%XX` decoded (UTF-8); `None` for a bad escape or bytes that are not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        if byte == b'%' {
            let hex = tail.get(..2).and_then(|h| std::str::from_utf8(h).ok())?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            rest = tail.get(2..)?;
        } else {
            out.push(byte);
            rest = tail;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests;
