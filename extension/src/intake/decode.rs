//! Converts a Telemetry API batch into the model: the `lambda-lens-telemetry` crate decodes it
//! into typed records that borrow from the body (built for speed; a record of an unknown type,
//! or one that does not match its type's schema, is counted and skipped there), and each record
//! lambda-lens measures becomes one owned [`TelemetryEvent`].

use std::borrow::Cow;

use lambda_lens_telemetry::{DecodeStats, Record, decode_records};
use tokio::sync::OwnedSemaphorePermit;

use crate::model::{EventKind, LogsDropped, Phase, Report, RuntimeDone, Start, Status, TelemetryEvent};

/// One delivered batch, converted: its events and what decoding counted. It holds the
/// listener's reading slot (see the listener) until the pipeline has worked every event of it:
/// the slot goes back when the batch, or the [`ReadSlot`] taken from it, is dropped.
#[derive(Debug, Default)]
pub struct Batch {
    pub(crate) events: Vec<TelemetryEvent>,
    pub(crate) stats: DecodeStats,
    slot: ReadSlot,
}

/// The listener's permission to read the next batch, given back when dropped.
#[derive(Debug, Default)]
pub(crate) struct ReadSlot {
    _permit: Option<OwnedSemaphorePermit>,
}

impl Batch {
    /// What decoding counted: records found, used, ignored, of unknown types, malformed.
    pub fn stats(&self) -> &DecodeStats {
        &self.stats
    }

    /// The events, and the slot to drop once they have been worked.
    pub(crate) fn into_parts(self) -> (Vec<TelemetryEvent>, DecodeStats, ReadSlot) {
        (self.events, self.stats, self.slot)
    }

    /// Decodes one POSTed body. Never fails: problems are counted in the stats.
    pub fn decode(body: &[u8]) -> Self {
        let (items, mut stats) = decode_records(body);
        let mut events = Vec::with_capacity(items.len());
        for item in items {
            let time_ms = match chrono::DateTime::parse_from_rfc3339(&item.time) {
                Ok(t) => t.timestamp_millis(),
                Err(err) => {
                    if !matches!(item.record, Record::Ignored | Record::Unknown) {
                        stats.malformed += 1;
                        stats.problem(|| {
                            format!(
                                "a {} record whose time {:?} is not RFC 3339: {err}",
                                item.kind, item.time
                            )
                        });
                    }
                    continue;
                }
            };
            if let Some(kind) = event(item.record) {
                stats.used += 1;
                events.push(TelemetryEvent { time_ms, kind });
            }
        }
        Self {
            events,
            stats,
            slot: ReadSlot::default(),
        }
    }

    /// Holds `slot` until the batch is dropped.
    pub(crate) fn holding(mut self, slot: OwnedSemaphorePermit) -> Self {
        self.slot = ReadSlot { _permit: Some(slot) };
        self
    }
}

fn owned(text: Option<Cow<'_, str>>) -> Option<String> {
    text.map(Cow::into_owned)
}

fn status(text: Option<&str>) -> Option<Status> {
    text.map(Status::parse)
}

/// What the model keeps of a record; `None` for records without measurements.
fn event(record: Record<'_>) -> Option<EventKind> {
    let event = match record {
        Record::InitStart(r) => EventKind::InitStart(Phase {
            init_type: owned(r.initialization_type),
            phase: owned(r.phase),
            runtime_version: owned(r.runtime_version),
            ..Phase::default()
        }),
        Record::InitRuntimeDone(r) => EventKind::InitRuntimeDone(Phase {
            init_type: owned(r.initialization_type),
            phase: owned(r.phase),
            status: status(r.status.as_deref()),
            error_type: owned(r.error_type),
            ..Phase::default()
        }),
        Record::InitReport(r) => EventKind::InitReport(Phase {
            init_type: owned(r.initialization_type),
            phase: owned(r.phase),
            status: status(r.status.as_deref()),
            error_type: owned(r.error_type),
            duration_ms: r.metrics.map(|m| m.duration_ms),
            ..Phase::default()
        }),
        Record::RestoreStart(_) => EventKind::RestoreStart,
        Record::RestoreRuntimeDone(r) => EventKind::RestoreRuntimeDone(Phase {
            status: status(r.status.as_deref()),
            error_type: owned(r.error_type),
            ..Phase::default()
        }),
        Record::RestoreReport(r) => EventKind::RestoreReport(Phase {
            status: status(r.status.as_deref()),
            error_type: owned(r.error_type),
            duration_ms: r.metrics.map(|m| m.duration_ms),
            ..Phase::default()
        }),
        Record::Start(r) => EventKind::Start(Start {
            request_id: r.request_id.into_owned(),
            version: owned(r.version),
            trace_id: r.tracing.and_then(|t| owned(t.value)),
        }),
        Record::RuntimeDone(r) => EventKind::RuntimeDone(RuntimeDone {
            request_id: r.request_id.into_owned(),
            status: status(r.status.as_deref()),
            error_type: owned(r.error_type),
            metrics: r.metrics,
            spans: r.spans,
        }),
        Record::Report(r) => EventKind::Report(Report {
            request_id: r.request_id.into_owned(),
            status: status(r.status.as_deref()),
            error_type: owned(r.error_type),
            metrics: r.metrics,
        }),
        Record::LogsDropped(r) => EventKind::LogsDropped(LogsDropped {
            reason: owned(r.reason),
            records: r.dropped_records,
            bytes: r.dropped_bytes,
        }),
        Record::Ignored | Record::Unknown => return None,
    };
    Some(event)
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;
