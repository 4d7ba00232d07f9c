//! Telemetry records as the Telemetry API delivers them: `{"time", "type", "record"}`.
//!
//! Written from the AWS "Telemetry API Event schema reference", independently of the extension's
//! own types (see STYLE.md: two readings of the schema catch each other's mistakes).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

/// Category a subscriber chooses in `types`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    /// `platform.*` events.
    Platform,
    /// Lines the function (runtime process) wrote.
    Function,
    /// Lines the extensions wrote.
    Extension,
}

impl Category {
    /// Parses the wire value of `types`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "platform" => Some(Self::Platform),
            "function" => Some(Self::Function),
            "extension" => Some(Self::Extension),
            _ => None,
        }
    }

    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Platform => "platform",
            Self::Function => "function",
            Self::Extension => "extension",
        }
    }
}

/// One generated telemetry record.
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetryRecord {
    /// When the platform generated it.
    pub time: DateTime<Utc>,
    /// `platform.start`, `function`, ...
    pub kind: String,
    /// The `record` member.
    pub record: Value,
}

impl TelemetryRecord {
    /// A record of type `kind` generated at `time`.
    pub fn new(time: DateTime<Utc>, kind: &str, record: Value) -> Self {
        Self {
            time,
            kind: kind.to_owned(),
            record,
        }
    }

    /// The category the record belongs to.
    pub fn category(&self) -> Category {
        match self.kind.as_str() {
            "function" => Category::Function,
            "extension" => Category::Extension,
            _ => Category::Platform,
        }
    }

    /// The wire form.
    pub fn to_json(&self) -> Value {
        json!({"time": format_time(self.time), "type": self.kind, "record": self.record})
    }

    /// The record as a subscriber of `schema_version` receives it: below `2022-12-13` (the
    /// schema that brought JSON log objects), a `function` or `extension` record is always the
    /// line as a string, even when the JSON log format made it an object.
    pub fn to_json_for(&self, schema_version: &str) -> Value {
        let logs = self.kind == "function" || self.kind == "extension";
        match &self.record {
            Value::Object(_) if logs && schema_version < "2022-12-13" => json!({
                "time": format_time(self.time),
                "type": self.kind,
                "record": self.record.to_string(),
            }),
            _ => self.to_json(),
        }
    }

    /// `record.requestId`, when present.
    pub fn request_id(&self) -> Option<&str> {
        self.record.get("requestId").and_then(Value::as_str)
    }
}

/// RFC 3339 with milliseconds and `Z`, as Lambda writes `time`.
pub fn format_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Milliseconds rounded to 3 decimals (Lambda reports durations as decimals of ms).
pub fn ms(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// Inserts `errorType` when there is one.
fn with_error(mut v: Value, error_type: Option<&str>) -> Value {
    if let (Some(e), Some(obj)) = (error_type, v.as_object_mut()) {
        obj.insert("errorType".to_owned(), Value::String(e.to_owned()));
    }
    v
}

/// Fields shared by the init events.
pub struct InitInfo<'a> {
    /// `initializationType`.
    pub initialization_type: &'a str,
    /// `phase`: `init`, or `invoke` for an init re-run inside an invoke.
    pub phase: &'a str,
}

/// The runtime version in Lambda's shape (`python:3.12.v38`, `provided:al2023.v30`, from the
/// runtime identifier `python3.12`, `provided.al2023`), with `sandbox` for the release: no real
/// Lambda runtime release is involved locally.
pub(crate) fn runtime_version(runtime: &str) -> String {
    let split = runtime
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(runtime.len());
    let (family, rest) = runtime.split_at(split);
    let rest = rest.trim_start_matches('.');
    let rest = rest.strip_suffix(".x").unwrap_or(rest);
    if rest.is_empty() {
        format!("{family}.sandbox")
    } else {
        format!("{family}:{rest}.sandbox")
    }
}

fn runtime_version_arn(region: &str) -> String {
    format!("arn:aws:lambda:{region}::runtime:lambda-sandbox")
}

/// `platform.initStart`. The runtime version (Lambda's shape, `python:3.12.sandbox`) and ARN
/// are the sandbox's own names: no real Lambda runtime release is involved locally.
pub fn init_start(
    i: &InitInfo<'_>,
    runtime: &str,
    function_name: &str,
    version: &str,
    region: &str,
) -> Value {
    json!({
        "initializationType": i.initialization_type,
        "phase": i.phase,
        "runtimeVersion": runtime_version(runtime),
        "runtimeVersionArn": runtime_version_arn(region),
        "functionName": function_name,
        "functionVersion": version,
    })
}

/// `platform.initRuntimeDone`.
pub fn init_runtime_done(i: &InitInfo<'_>, status: &str, error_type: Option<&str>) -> Value {
    with_error(
        json!({"initializationType": i.initialization_type, "phase": i.phase, "status": status, "spans": []}),
        error_type,
    )
}

/// `platform.initReport`.
pub fn init_report(i: &InitInfo<'_>, status: &str, error_type: Option<&str>, duration_ms: f64) -> Value {
    with_error(
        json!({
            "initializationType": i.initialization_type,
            "phase": i.phase,
            "status": status,
            "metrics": {"durationMs": duration_ms},
            "spans": [],
        }),
        error_type,
    )
}

/// `platform.extension`.
pub fn extension(name: &str, events: &[String]) -> Value {
    json!({"name": name, "state": "Ready", "events": events})
}

/// `platform.telemetrySubscription`.
pub fn telemetry_subscription(name: &str, types: &[Category]) -> Value {
    let types: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
    json!({"name": name, "state": "Subscribed", "types": types})
}

/// The `tracing` object of start, runtimeDone and report.
pub fn tracing(span_id: &str, value: &str) -> Value {
    json!({"spanId": span_id, "type": "X-Amzn-Trace-Id", "value": value})
}

/// `platform.start`.
pub fn start(request_id: &str, version: &str, tracing: &Value) -> Value {
    json!({"requestId": request_id, "version": version, "tracing": tracing})
}

/// One span of `platform.runtimeDone`.
pub fn span(name: &str, start: DateTime<Utc>, duration_ms: f64) -> Value {
    json!({"name": name, "start": format_time(start), "durationMs": duration_ms})
}

/// `platform.runtimeDone`.
pub fn runtime_done(
    request_id: &str,
    status: &str,
    error_type: Option<&str>,
    duration_ms: f64,
    produced_bytes: Option<u64>,
    spans: Vec<Value>,
    tracing: &Value,
) -> Value {
    let mut metrics = Map::new();
    metrics.insert("durationMs".to_owned(), json!(duration_ms));
    if let Some(b) = produced_bytes {
        metrics.insert("producedBytes".to_owned(), json!(b));
    }
    with_error(
        json!({
            "requestId": request_id,
            "status": status,
            "metrics": metrics,
            "spans": spans,
            "tracing": tracing,
        }),
        error_type,
    )
}

/// Adds `tenantId` to a `platform.start`, `platform.runtimeDone` or `platform.report` record
/// when the invoke has one (tenant isolation mode): rapid's `InvokeStartData`,
/// `InvokeRuntimeDoneData` and `ReportData` carry it as `tenantId,omitempty` (b,
/// `internal/lambda/interop/events_api.go`), so it is absent without a tenant.
pub fn with_tenant(mut v: Value, tenant_id: Option<&str>) -> Value {
    if let (Some(t), Some(obj)) = (tenant_id, v.as_object_mut()) {
        obj.insert("tenantId".to_owned(), Value::String(t.to_owned()));
    }
    v
}

/// `platform.runtimeDone` of an invoke whose init, re-run inside it, failed or timed out: rapid
/// sends it at the reset (`handleReset`) for an invocation whose runtime was never released
/// (its start time is unset), so the metrics are zero (`GetRuntimeDoneInvokeMetrics`), there
/// are no spans (`spans,omitempty`), and, unlike the runtimeDone of a finished invocation,
/// no `tenantId` (handleReset does not fill it) (b).
pub fn runtime_done_at_reset(
    request_id: &str,
    status: &str,
    error_type: Option<&str>,
    tracing: &Value,
) -> Value {
    with_error(
        json!({
            "requestId": request_id,
            "status": status,
            "metrics": {"durationMs": 0.0, "producedBytes": 0},
            "tracing": tracing,
        }),
        error_type,
    )
}

/// Metrics of `platform.report`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReportMetrics {
    /// `durationMs`.
    pub duration_ms: f64,
    /// `billedDurationMs`.
    pub billed_duration_ms: u64,
    /// `memorySizeMB`.
    pub memory_size_mb: u32,
    /// `maxMemoryUsedMB`.
    pub max_memory_used_mb: u64,
    /// `initDurationMs`, on the first invoke after an on-demand init.
    pub init_duration_ms: Option<f64>,
    /// `restoreDurationMs`, on the first invoke after a SnapStart restore.
    pub restore_duration_ms: Option<f64>,
}

/// `platform.report`.
/// `spans`: `extensionOverhead` (from the runtime's next after its result until every
/// extension's next) when the environment has extensions, as rapid sends it; empty otherwise.
pub fn report(
    request_id: &str,
    status: &str,
    error_type: Option<&str>,
    m: &ReportMetrics,
    spans: Vec<Value>,
    tracing: &Value,
) -> Value {
    let mut metrics = Map::new();
    metrics.insert("durationMs".to_owned(), json!(m.duration_ms));
    metrics.insert("billedDurationMs".to_owned(), json!(m.billed_duration_ms));
    metrics.insert("memorySizeMB".to_owned(), json!(m.memory_size_mb));
    metrics.insert("maxMemoryUsedMB".to_owned(), json!(m.max_memory_used_mb));
    if let Some(i) = m.init_duration_ms {
        metrics.insert("initDurationMs".to_owned(), json!(i));
    }
    if let Some(r) = m.restore_duration_ms {
        metrics.insert("restoreDurationMs".to_owned(), json!(r));
    }
    let mut record =
        json!({"requestId": request_id, "status": status, "metrics": metrics, "tracing": tracing});
    if !spans.is_empty()
        && let Some(obj) = record.as_object_mut()
    {
        obj.insert("spans".to_owned(), Value::Array(spans));
    }
    with_error(record, error_type)
}

/// `platform.report` of Lambda Managed Instances: only `durationMs` in `metrics`, and the
/// `responseLatency` and `responseDuration` spans that `platform.runtimeDone` carries elsewhere
/// (Managed Instances have no `platform.runtimeDone`).
pub fn report_managed(
    request_id: &str,
    status: &str,
    error_type: Option<&str>,
    duration_ms: f64,
    spans: Vec<Value>,
    tracing: &Value,
) -> Value {
    with_error(
        json!({
            "requestId": request_id,
            "status": status,
            "metrics": {"durationMs": duration_ms},
            "spans": spans,
            "tracing": tracing,
        }),
        error_type,
    )
}

/// `platform.restoreStart` (SnapStart), with the runtime names of `platform.initStart`.
pub fn restore_start(runtime: &str, function_name: &str, version: &str, region: &str) -> Value {
    json!({
        "runtimeVersion": runtime_version(runtime),
        "runtimeVersionArn": runtime_version_arn(region),
        "functionName": function_name,
        "functionVersion": version,
    })
}

/// `platform.restoreRuntimeDone` (SnapStart).
pub fn restore_runtime_done(status: &str, error_type: Option<&str>) -> Value {
    with_error(json!({"status": status, "spans": []}), error_type)
}

/// `platform.restoreReport` (SnapStart).
pub fn restore_report(status: &str, error_type: Option<&str>, duration_ms: f64) -> Value {
    with_error(
        json!({"status": status, "metrics": {"durationMs": duration_ms}, "spans": []}),
        error_type,
    )
}

/// `platform.logsDropped`.
pub fn logs_dropped(records: u64, bytes: u64) -> Value {
    json!({
        "reason": "Some logs were dropped because the downstream consumer is slower than the logs production rate",
        "droppedRecords": records,
        "droppedBytes": bytes,
    })
}

/// Billed duration: the duration rounded up to the next millisecond, plus the init duration on
/// a cold start. AWS bills the init phase of on-demand functions since 1 August 2025 (before
/// that, init was free for managed runtimes); the sandbox follows the current rule. A SnapStart
/// restore is not added: its REPORT line shows it apart (`Billed Restore Duration`, which
/// leaves out the snapshot restore itself) and the telemetry schema has no field for it.
pub fn billed_duration_ms(duration_ms: f64, init_duration_ms: Option<f64>) -> u64 {
    let total = duration_ms + init_duration_ms.unwrap_or(0.0);
    // Durations are non-negative and far below u64::MAX ms.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "non-negative, small"
    )]
    let billed = total.max(0.0).ceil() as u64;
    billed.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn runtime_versions_have_lambdas_shape() {
        for (runtime, version) in [
            ("provided.al2023", "provided:al2023.sandbox"),
            ("provided.al2", "provided:al2.sandbox"),
            ("python3.12", "python:3.12.sandbox"),
            ("nodejs20.x", "nodejs:20.sandbox"),
            ("java21", "java:21.sandbox"),
            ("provided", "provided.sandbox"),
        ] {
            assert_eq!(runtime_version(runtime), version, "{runtime}");
        }
    }

    #[test]
    fn time_is_rfc3339_ms_z() {
        let t = Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).unwrap() + chrono::Duration::milliseconds(67);
        assert_eq!(format_time(t), "2025-01-02T03:04:05.067Z");
    }

    #[test]
    fn record_wire_form() {
        let t = Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).unwrap();
        let r = TelemetryRecord::new(t, "function", json!("hello"));
        assert_eq!(r.category(), Category::Function);
        assert_eq!(
            r.to_json(),
            json!({"time": "2025-01-02T03:04:05.000Z", "type": "function", "record": "hello"})
        );
    }

    #[test]
    fn billed_adds_init_and_rounds_up() {
        assert_eq!(billed_duration_ms(10.2, None), 11);
        assert_eq!(billed_duration_ms(10.2, Some(100.5)), 111);
        assert_eq!(billed_duration_ms(0.0, None), 1);
    }

    #[test]
    fn report_has_optional_fields() {
        let m = ReportMetrics {
            duration_ms: 1.5,
            billed_duration_ms: 2,
            memory_size_mb: 128,
            max_memory_used_mb: 30,
            init_duration_ms: None,
            restore_duration_ms: Some(12.5),
        };
        let r = report(
            "id",
            "error",
            Some("Runtime.ExitError"),
            &m,
            Vec::new(),
            &json!({}),
        );
        assert_eq!(r["errorType"], "Runtime.ExitError");
        assert!(r.get("spans").is_none());
        assert!(r["metrics"].get("initDurationMs").is_none());
        assert_eq!(r["metrics"]["restoreDurationMs"], 12.5);
        assert_eq!(r["metrics"]["memorySizeMB"], 128);
    }
}
