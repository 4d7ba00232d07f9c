//! Decodes a Telemetry API batch record by record: first into typed records that borrow from
//! the body ([`decode_records`], in the `lambda-lens-telemetry` crate, built for speed), then
//! into the small owned events the join keeps ([`decode_batch`]). A record of an unknown type,
//! or one that does not match its type's schema, is counted and skipped; the rest of the batch
//! is used.

use std::borrow::Cow;

pub use lambda_lens_telemetry::decode::{DecodeStats, decode_records};
use lambda_lens_telemetry::record::Record;
use lambda_lens_telemetry::wire;

use super::event::{EventKind, PhaseInfo, RuntimeSpans, Status, TelemetryEvent};

#[derive(Debug, Default)]
pub struct Decoded {
    pub events: Vec<TelemetryEvent>,
    pub stats: DecodeStats,
}

/// Decodes one POSTed batch into owned events. Never fails: problems are counted in the stats.
pub fn decode_batch(body: &[u8]) -> Decoded {
    let (items, stats) = decode_records(body);
    let mut out = Decoded {
        events: Vec::with_capacity(items.len()),
        stats,
    };
    for item in items {
        let time_ms = match chrono::DateTime::parse_from_rfc3339(&item.time) {
            Ok(t) => t.timestamp_millis(),
            Err(err) => {
                if !matches!(item.record, Record::Ignored | Record::Unknown) {
                    out.stats.malformed += 1;
                    out.stats.problem(|| {
                        format!(
                            "a {} record whose time {:?} is not RFC 3339: {err}",
                            item.kind, item.time
                        )
                    });
                }
                continue;
            }
        };
        if let Some(kind) = owned_event(item.record) {
            out.stats.used += 1;
            out.events.push(TelemetryEvent { time_ms, kind });
        }
    }
    out
}

fn owned(text: Option<Cow<'_, str>>) -> Option<String> {
    text.map(Cow::into_owned)
}

fn status(text: &Option<Cow<'_, str>>) -> Option<Status> {
    text.as_deref().map(Status::parse)
}

fn phase_info(init_type: Option<Cow<'_, str>>, phase: Option<Cow<'_, str>>) -> PhaseInfo {
    PhaseInfo {
        init_type: owned(init_type),
        phase: owned(phase),
    }
}

/// What the join keeps of a record; `None` for records without measurements.
fn owned_event(record: Record<'_>) -> Option<EventKind> {
    let event = match record {
        Record::InitStart(r) => EventKind::InitStart {
            info: phase_info(r.initialization_type, r.phase),
            runtime_version: owned(r.runtime_version),
        },
        Record::InitRuntimeDone(r) => EventKind::InitRuntimeDone {
            status: status(&r.status),
            error_type: owned(r.error_type),
            info: phase_info(r.initialization_type, r.phase),
        },
        Record::InitReport(r) => EventKind::InitReport {
            status: status(&r.status),
            error_type: owned(r.error_type),
            duration_ms: r.metrics.map(|m| m.duration_ms),
            info: phase_info(r.initialization_type, r.phase),
        },
        Record::RestoreStart(_) => EventKind::RestoreStart,
        Record::RestoreRuntimeDone(r) => EventKind::RestoreRuntimeDone {
            status: status(&r.status),
            error_type: owned(r.error_type),
        },
        Record::RestoreReport(r) => EventKind::RestoreReport {
            status: status(&r.status),
            error_type: owned(r.error_type),
            duration_ms: r.metrics.map(|m| m.duration_ms),
        },
        Record::Start(r) => EventKind::Start {
            request_id: r.request_id.into_owned(),
            version: owned(r.version),
            trace_id: r.tracing.and_then(|t| owned(t.value)),
        },
        Record::RuntimeDone(r) => {
            let spans = RuntimeSpans {
                response_latency_ms: r.spans.response_latency_ms,
                response_duration_ms: r.spans.response_duration_ms,
                runtime_overhead_ms: r.spans.runtime_overhead_ms,
            };
            EventKind::RuntimeDone {
                request_id: r.request_id.into_owned(),
                status: status(&r.status),
                error_type: owned(r.error_type),
                duration_ms: r.metrics.as_ref().map(|m| m.duration_ms),
                produced_bytes: r.metrics.and_then(|m| m.produced_bytes),
                spans,
            }
        }
        Record::Report(r) => {
            let m: wire::ReportMetrics = r.metrics;
            EventKind::Report {
                request_id: r.request_id.into_owned(),
                status: status(&r.status),
                error_type: owned(r.error_type),
                duration_ms: m.duration_ms,
                billed_duration_ms: m.billed_duration_ms,
                memory_size_mb: m.memory_size_mb,
                max_memory_used_mb: m.max_memory_used_mb,
                init_duration_ms: m.init_duration_ms,
                restore_duration_ms: m.restore_duration_ms,
            }
        }
        Record::LogsDropped(r) => EventKind::LogsDropped {
            reason: owned(r.reason),
            records: r.dropped_records,
            bytes: r.dropped_bytes,
        },
        Record::Ignored | Record::Unknown => return None,
    };
    Some(event)
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;
