//! Records about the environment rather than one invocation: init and restore phases, dropped
//! telemetry, shutdown, and the extension's own health.

use super::catalogue as m;
use super::{MetricRecord, PropertyValue, RecordKind, Text};
use crate::model::{LogsDropped, Phase, Status};

/// Which phase a [`phase_record`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PhaseKind {
    Init,
    /// A SnapStart restore.
    Restore,
}

/// An init or restore phase ended: `InitErrors` is 1 when its status is not `success`. An init
/// that no invocation waited for (provisioned concurrency, Managed Instances, a proactive
/// on-demand init) carries its `InitDuration` here, as there is no cold-start invocation to
/// carry it. An on-demand init says what the first invocation found: `Proactive` (`"true"` or
/// `"false"`) and `FirstInvokeAfterMs`, from the init's end to that invocation's start.
pub(crate) fn phase_record(time_ms: i64, kind: PhaseKind, phase: &Phase) -> MetricRecord {
    let mut r = MetricRecord::new(RecordKind::Environment, time_ms);
    let failed = phase.status.is_some_and(|s| s != Status::Success);
    r.value(&m::INIT_ERRORS, if failed { 1.0 } else { 0.0 });
    let proactive = phase.first_invoke.is_some_and(|f| f.proactive);
    if kind == PhaseKind::Init && (phase.is_ahead_of_traffic() || proactive) {
        r.maybe(&m::INIT_DURATION, phase.duration_ms);
    }
    let name = match kind {
        PhaseKind::Init => "init",
        PhaseKind::Restore => "restore",
    };
    r.text("Phase", Some(name));
    r.text("Status", phase.status.map(Status::as_str));
    r.text("ErrorType", phase.error_type.as_deref());
    if kind == PhaseKind::Init {
        r.text("InitType", phase.init_type.as_deref());
        r.text("InitPhase", phase.phase.as_deref());
        if let Some(first) = phase.first_invoke {
            let flag = if first.proactive { "true" } else { "false" };
            r.text_as("Proactive", Some(Text::Static(flag)));
            r.properties
                .push(("FirstInvokeAfterMs", PropertyValue::Number(first.after_ms as f64)));
        }
    }
    r
}

pub(crate) fn logs_dropped_record(time_ms: i64, dropped: &LogsDropped) -> MetricRecord {
    let mut r = MetricRecord::new(RecordKind::Environment, time_ms);
    r.value(&m::LOGS_DROPPED_RECORDS, dropped.records);
    r.value(&m::LOGS_DROPPED_BYTES, dropped.bytes);
    r.text("Reason", dropped.reason.as_deref());
    r
}

/// The extension's own figures since its previous report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ExtensionFacts {
    /// Its peak resident memory so far (`VmHWM`), when it could be read.
    pub(crate) peak_rss_bytes: Option<u64>,
    pub(crate) records_rejected: u64,
    pub(crate) documents_written: u64,
    /// The PutMetricData sink's figures, when it is on.
    pub(crate) put_metric_data: Option<PutMetricDataFacts>,
    /// The OTLP sink's figures, when it is on.
    pub(crate) otlp: Option<PutMetricDataFacts>,
}

/// What a networked sink (PutMetricData, OTLP) did since the previous report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PutMetricDataFacts {
    pub(crate) requests: u64,
    pub(crate) data_points_sent: u64,
    pub(crate) retries: u64,
    /// PutMetricData: data points; OTLP: records.
    pub(crate) fallback_data_points: u64,
    pub(crate) unknown_outcomes: u64,
    /// OTLP's partial success.
    pub(crate) rejected_data_points: u64,
}

pub(crate) fn extension_record(time_ms: i64, facts: ExtensionFacts) -> MetricRecord {
    let mut r = MetricRecord::new(RecordKind::Environment, time_ms);
    r.maybe(
        &m::EXTENSION_MEMORY,
        facts.peak_rss_bytes.map(|b| b as f64 / (1024.0 * 1024.0)),
    );
    r.value(&m::TELEMETRY_RECORDS_REJECTED, facts.records_rejected as f64);
    r.value(&m::EMF_DOCUMENTS_WRITTEN, facts.documents_written as f64);
    if let Some(put) = facts.put_metric_data {
        r.value(&m::API_REQUESTS, put.requests as f64);
        r.value(&m::API_DATA_POINTS_SENT, put.data_points_sent as f64);
        r.value(&m::API_RETRIES, put.retries as f64);
        r.value(&m::API_FALLBACK_DATA_POINTS, put.fallback_data_points as f64);
        r.value(&m::API_UNKNOWN_OUTCOMES, put.unknown_outcomes as f64);
    }
    if let Some(otlp) = facts.otlp {
        r.value(&m::OTLP_REQUESTS, otlp.requests as f64);
        r.value(&m::OTLP_DATA_POINTS_SENT, otlp.data_points_sent as f64);
        r.value(&m::OTLP_RETRIES, otlp.retries as f64);
        r.value(&m::OTLP_FALLBACK_RECORDS, otlp.fallback_data_points as f64);
        r.value(&m::OTLP_UNKNOWN_OUTCOMES, otlp.unknown_outcomes as f64);
        r.value(&m::OTLP_REJECTED_DATA_POINTS, otlp.rejected_data_points as f64);
    }
    r.properties.push((
        "Extension",
        PropertyValue::Text(Text::Static(env!("CARGO_PKG_VERSION"))),
    ));
    r
}

pub(crate) fn shutdown_record(time_ms: i64, reason: &str, facts: ExtensionFacts) -> MetricRecord {
    let mut r = extension_record(time_ms, facts);
    r.values.insert(0, (&m::SHUTDOWNS, 1.0));
    r.text("ShutdownReason", Some(&reason.to_ascii_lowercase()));
    r
}
