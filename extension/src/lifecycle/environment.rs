//! Records about the environment rather than one invocation: init and restore phases, dropped
//! telemetry, shutdown, and the extension's own health.

use crate::intake::event::{PhaseInfo, Status};
use crate::metrics::catalogue as m;
use crate::metrics::{MetricRecord, PropertyValue};
use crate::resources::own_peak_rss_bytes;

/// An init or restore phase ended: `InitErrors` is 1 when its status is not `success`. An init
/// that no invocation waited for (provisioned concurrency, Managed Instances) carries its
/// `InitDuration` here, as there is no cold-start invocation to carry it.
pub fn phase_record(
    time_ms: i64,
    restore: bool,
    info: Option<&PhaseInfo>,
    status: Option<Status>,
    error_type: Option<&str>,
    duration_ms: Option<f64>,
) -> MetricRecord {
    let mut r = MetricRecord::new(time_ms);
    let failed = status.is_some_and(|s| s != Status::Success);
    r.value(&m::INIT_ERRORS, if failed { 1.0 } else { 0.0 });
    let ahead_of_traffic = info.is_some_and(|i| {
        matches!(
            i.init_type.as_deref(),
            Some("provisioned-concurrency" | "lambda-managed-instances")
        ) && i.phase.as_deref() != Some("invoke")
    });
    if ahead_of_traffic {
        r.maybe(&m::INIT_DURATION, duration_ms);
    }
    r.text("Phase", Some(if restore { "restore" } else { "init" }));
    r.text("Status", status.map(Status::as_str));
    r.text("ErrorType", error_type);
    if let Some(info) = info {
        r.text("InitType", info.init_type.as_deref());
        r.text("InitPhase", info.phase.as_deref());
    }
    r
}

pub fn logs_dropped_record(time_ms: i64, records: f64, bytes: f64, reason: Option<&str>) -> MetricRecord {
    let mut r = MetricRecord::new(time_ms);
    r.value(&m::LOGS_DROPPED_RECORDS, records);
    r.value(&m::LOGS_DROPPED_BYTES, bytes);
    r.text("Reason", reason);
    r
}

/// Counters of the extension's own work since its previous report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExtensionFacts {
    pub records_rejected: u64,
    pub documents_written: u64,
}

pub fn extension_record(time_ms: i64, facts: ExtensionFacts) -> MetricRecord {
    let mut r = MetricRecord::new(time_ms);
    r.maybe(
        &m::EXTENSION_MEMORY,
        own_peak_rss_bytes().map(|b| b as f64 / (1024.0 * 1024.0)),
    );
    r.value(&m::TELEMETRY_RECORDS_REJECTED, facts.records_rejected as f64);
    r.value(&m::EMF_DOCUMENTS_WRITTEN, facts.documents_written as f64);
    r.properties.push((
        "Extension",
        PropertyValue::Text(env!("CARGO_PKG_VERSION").to_owned()),
    ));
    r
}

pub fn shutdown_record(time_ms: i64, reason: &str, facts: ExtensionFacts) -> MetricRecord {
    let mut r = extension_record(time_ms, facts);
    r.values.insert(0, (&m::SHUTDOWNS, 1.0));
    r.text("ShutdownReason", Some(&reason.to_ascii_lowercase()));
    r
}
