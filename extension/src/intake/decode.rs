//! Decodes a Telemetry API batch record by record.
//!
//! The batch is first split into raw records (borrowed slices of the body), then each record is
//! decoded on its own according to its `type`. A record of an unknown type, or one that does not
//! match its type's schema, is counted and skipped; the rest of the batch is used. Even a body
//! that breaks off in the middle keeps the records before the break.

use std::fmt;

use serde::de::{DeserializeSeed, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use super::event::{EventKind, PhaseInfo, RuntimeSpans, Status, TelemetryEvent};
use super::wire;

/// What one batch held.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DecodeStats {
    /// Records found in the batch.
    pub records: u64,
    /// Records turned into events.
    pub used: u64,
    /// Known record types that carry nothing lambda-lens measures (function and extension logs,
    /// `platform.extension`, `platform.telemetrySubscription`, ...).
    pub ignored: u64,
    /// Record types this version does not know.
    pub unknown: u64,
    /// Records that did not match their type's schema, or bodies that are not a JSON array.
    pub malformed: u64,
    /// The first problem seen, for the log line.
    pub first_problem: Option<String>,
}

impl DecodeStats {
    fn problem(&mut self, text: impl FnOnce() -> String) {
        if self.first_problem.is_none() {
            self.first_problem = Some(text());
        }
    }
}

#[derive(Debug, Default)]
pub struct Decoded {
    pub events: Vec<TelemetryEvent>,
    pub stats: DecodeStats,
}

/// Decodes one POSTed batch. Never fails: problems are counted in the stats.
pub fn decode_batch(body: &[u8]) -> Decoded {
    let mut out = Decoded::default();
    let mut raw: Vec<&RawValue> = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(body);
    let split = RawRecords(&mut raw).deserialize(&mut de).and_then(|()| de.end());
    if let Err(err) = split {
        out.stats.malformed += 1;
        out.stats.problem(|| {
            format!("the batch is not a complete JSON array ({err}); kept the records before the error")
        });
    }
    out.stats.records += raw.len() as u64;
    out.events.reserve(raw.len());
    for record in raw {
        decode_record(record, &mut out);
    }
    out
}

/// Collects the elements of the top-level array as raw slices, keeping what was read before an
/// error (a `DeserializeSeed` writing into a caller's vector, so a failure keeps the prefix).
struct RawRecords<'v, 'a>(&'v mut Vec<&'a RawValue>);

impl<'de: 'a, 'a> DeserializeSeed<'de> for RawRecords<'_, 'a> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for RawRecords<'_, 'a> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of telemetry records")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(record) = seq.next_element::<&'de RawValue>()? {
            self.0.push(record);
        }
        Ok(())
    }
}

fn decode_record(raw: &RawValue, out: &mut Decoded) {
    let envelope: wire::Envelope<'_> = match serde_json::from_str(raw.get()) {
        Ok(e) => e,
        Err(err) => {
            out.stats.malformed += 1;
            out.stats
                .problem(|| format!("a record without a valid time/type envelope: {err}"));
            return;
        }
    };
    let time_ms = match chrono::DateTime::parse_from_rfc3339(&envelope.time) {
        Ok(t) => t.timestamp_millis(),
        Err(err) => {
            out.stats.malformed += 1;
            out.stats.problem(|| {
                format!(
                    "a {} record whose time {:?} is not RFC 3339: {err}",
                    envelope.kind, envelope.time
                )
            });
            return;
        }
    };
    match decode_kind(&envelope.kind, envelope.record) {
        Ok(Some(kind)) => {
            out.stats.used += 1;
            out.events.push(TelemetryEvent { time_ms, kind });
        }
        Ok(None) => out.stats.ignored += 1,
        Err(Problem::Unknown) => {
            out.stats.unknown += 1;
            tracing::debug!(record_type = %envelope.kind, "skipped a telemetry record of an unknown type");
        }
        Err(Problem::Malformed(err)) => {
            out.stats.malformed += 1;
            out.stats
                .problem(|| format!("a {} record does not match its schema: {err}", envelope.kind));
        }
    }
}

enum Problem {
    Unknown,
    Malformed(String),
}

fn parse<'a, T: Deserialize<'a>>(record: Option<&'a RawValue>) -> Result<T, Problem> {
    let record = record.ok_or_else(|| Problem::Malformed("the record is missing".to_owned()))?;
    serde_json::from_str(record.get()).map_err(|e| Problem::Malformed(e.to_string()))
}

fn owned(text: Option<std::borrow::Cow<'_, str>>) -> Option<String> {
    text.map(|t| t.into_owned())
}

fn status(text: &Option<std::borrow::Cow<'_, str>>) -> Option<Status> {
    text.as_deref().map(Status::parse)
}

fn phase_info(
    init_type: Option<std::borrow::Cow<'_, str>>,
    phase: Option<std::borrow::Cow<'_, str>>,
) -> PhaseInfo {
    PhaseInfo {
        init_type: owned(init_type),
        phase: owned(phase),
    }
}

fn decode_kind(kind: &str, record: Option<&RawValue>) -> Result<Option<EventKind>, Problem> {
    let event = match kind {
        "platform.initStart" => {
            let r: wire::InitStart<'_> = parse(record)?;
            EventKind::InitStart {
                info: phase_info(r.initialization_type, r.phase),
                runtime_version: owned(r.runtime_version),
            }
        }
        "platform.initRuntimeDone" => {
            let r: wire::PhaseDone<'_> = parse(record)?;
            EventKind::InitRuntimeDone {
                status: status(&r.status),
                error_type: owned(r.error_type),
                info: phase_info(r.initialization_type, r.phase),
            }
        }
        "platform.initReport" => {
            let r: wire::PhaseReport<'_> = parse(record)?;
            EventKind::InitReport {
                status: status(&r.status),
                error_type: owned(r.error_type),
                duration_ms: r.metrics.map(|m| m.duration_ms),
                info: phase_info(r.initialization_type, r.phase),
            }
        }
        "platform.restoreStart" => {
            let _: wire::InitStart<'_> = parse(record)?;
            EventKind::RestoreStart
        }
        "platform.restoreRuntimeDone" => {
            let r: wire::PhaseDone<'_> = parse(record)?;
            EventKind::RestoreRuntimeDone {
                status: status(&r.status),
                error_type: owned(r.error_type),
            }
        }
        "platform.restoreReport" => {
            let r: wire::PhaseReport<'_> = parse(record)?;
            EventKind::RestoreReport {
                status: status(&r.status),
                error_type: owned(r.error_type),
                duration_ms: r.metrics.map(|m| m.duration_ms),
            }
        }
        "platform.start" => {
            let r: wire::Start<'_> = parse(record)?;
            EventKind::Start {
                request_id: r.request_id.into_owned(),
                version: owned(r.version),
                trace_id: r.tracing.and_then(|t| owned(t.value)),
            }
        }
        "platform.runtimeDone" => {
            let r: wire::RuntimeDone<'_> = parse(record)?;
            let mut spans = RuntimeSpans::default();
            for span in &r.spans {
                let slot = match span.name.as_ref() {
                    "responseLatency" => &mut spans.response_latency_ms,
                    "responseDuration" => &mut spans.response_duration_ms,
                    "runtimeOverhead" => &mut spans.runtime_overhead_ms,
                    _ => continue,
                };
                *slot = span.duration_ms;
            }
            EventKind::RuntimeDone {
                request_id: r.request_id.into_owned(),
                status: status(&r.status),
                error_type: owned(r.error_type),
                duration_ms: r.metrics.as_ref().map(|m| m.duration_ms),
                produced_bytes: r.metrics.and_then(|m| m.produced_bytes),
                spans,
            }
        }
        "platform.report" => {
            let r: wire::Report<'_> = parse(record)?;
            let m = r.metrics;
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
        "platform.logsDropped" => {
            let r: wire::LogsDropped<'_> = parse(record)?;
            EventKind::LogsDropped {
                reason: owned(r.reason),
                records: r.dropped_records,
                bytes: r.dropped_bytes,
            }
        }
        // Known, and nothing in them is measured. Function and extension log records may be a
        // string or a JSON object (JSON log format): neither is looked at.
        "platform.extension"
        | "platform.telemetrySubscription"
        | "platform.logsSubscription"
        | "platform.fault"
        | "function"
        | "extension" => return Ok(None),
        _ => return Err(Problem::Unknown),
    };
    Ok(Some(event))
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;
