//! Converts a Telemetry API batch into the model: the `lambda-lens-telemetry` crate decodes it
//! into typed records that borrow from the body (built for speed; a record of an unknown type,
//! or one that does not match its type's schema, is counted and skipped there), and each record
//! lambda-lens measures becomes one owned [`TelemetryEvent`].
//!
//! A delivered body is read as the pipeline works it ([`Delivery`], [`Reading`]): one record at
//! a time, each joined before the next is decoded, so a 1 MiB batch never has all its events in
//! memory beside the body (they were a large part of the flood's peak). [`Batch`] is a body decoded
//! up front, for tests and the decode benchmark.

use std::borrow::Cow;
use std::sync::Arc;

use lambda_lens_telemetry::wire::DurationMetrics;
use lambda_lens_telemetry::{Cursor, DecodeStats, Item, Record, records_in};
use tokio::sync::OwnedSemaphorePermit;

use crate::kept::KeptBuffer;
use crate::text::clip;

use crate::model::{
    EventKind, LogsDropped, Phase, Report, RequestId, RuntimeDone, Start, Status, TelemetryEvent,
};

/// Request ids are UUIDs (36 bytes); a longer one is not Lambda's, and the record is refused.
const MAX_REQUEST_ID_BYTES: usize = 128;
/// Other text (error types, versions, trace ids, reasons) is cut to this many bytes.
const MAX_TEXT_BYTES: usize = 256;
/// CloudWatch takes data points up to 14 days old and 2 hours ahead; an event time outside
/// these (with a margin) is replaced by the time the batch arrived.
const MAX_AGE_MS: i64 = 13 * 24 * 3_600_000;
const MAX_AHEAD_MS: i64 = 90 * 60_000;

/// One delivered batch, converted: its events and what decoding counted. It holds the
/// listener's reading slot (see the listener) until the pipeline has worked every event of it:
/// the slot goes back when the batch, or the [`ReadSlot`] taken from it, is dropped.
#[derive(Debug, Default)]
pub struct Batch {
    pub(crate) events: Vec<TelemetryEvent>,
    pub(crate) stats: DecodeStats,
    pub(crate) checks: Checks,
    slot: ReadSlot,
}

/// What the checks of a batch's values changed: each costs that value, never the record.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Checks {
    /// Numbers that were not finite, negative, or beyond any sense (see the telemetry crate's
    /// `wire::bounds`), dropped.
    pub(crate) values_dropped: u64,
    /// Texts longer than [`MAX_TEXT_BYTES`], cut.
    pub(crate) texts_cut: u64,
    /// Batches with bytes that are not UTF-8, each such sequence replaced by U+FFFD (the
    /// records were used).
    pub(crate) not_utf8: u64,
    /// Event times CloudWatch would refuse, replaced by the batch's arrival time.
    pub(crate) times_replaced: u64,
    /// The first change, for the log line.
    pub(crate) first: Option<String>,
}

/// The function version last read, kept from batch to batch by the pipeline: every invocation
/// of an environment has the same version, so it is one allocation per environment, not one
/// per invocation.
#[derive(Debug, Default)]
pub(crate) struct Versions {
    last: Option<Arc<str>>,
}

impl Versions {
    /// `text` as a shared version, checked as [`Checks::text`] checks text.
    fn read(&mut self, text: Option<Cow<'_, str>>, c: &mut Checks) -> Option<Arc<str>> {
        let text = text?;
        if let Some(last) = self.last.as_ref().filter(|v| ***v == *text) {
            return Some(Arc::clone(last));
        }
        let version: Arc<str> = Arc::from(c.text(Some(text))?);
        self.last = Some(Arc::clone(&version));
        Some(version)
    }
}

impl Checks {
    fn note(&mut self, text: impl FnOnce() -> String) {
        if self.first.is_none() {
            self.first = Some(text());
        }
    }

    /// Whether any value was changed.
    pub(crate) fn any(&self) -> bool {
        self.values_dropped + self.texts_cut + self.times_replaced + self.not_utf8 > 0
    }

    /// Text cut to [`MAX_TEXT_BYTES`] at a character boundary.
    fn text(&mut self, text: Option<Cow<'_, str>>) -> Option<String> {
        let text = text?;
        if text.len() <= MAX_TEXT_BYTES {
            return Some(text.into_owned());
        }
        let mut end = MAX_TEXT_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        self.texts_cut += 1;
        self.note(|| format!("a text of {} bytes was cut to {end}", text.len()));
        text.get(..end).map(str::to_owned)
    }

    /// Counts a batch whose bytes that are not UTF-8 were replaced.
    fn replaced_bad_utf8(&mut self) {
        self.not_utf8 += 1;
        self.note(|| "a batch had bytes that are not UTF-8; they were replaced by U+FFFD".to_owned());
    }

    /// Counts a value the telemetry crate's range checks refused.
    fn refused(&mut self, field: &'static str, value: f64) {
        self.values_dropped += 1;
        self.note(|| format!("{field} = {value} is out of range; the value was dropped"));
    }
}

/// A body buffer kept for the next batch is at most this large. A busy environment's batches at
/// the default buffering are a few tens of KiB; Lambda's largest (`maxBytes`, up to 1 MiB) are
/// rare bursts, whose buffer is let go.
pub(crate) const KEPT_BODY_MAX_BYTES: usize = 64 * 1024;

/// The listener's permission to read the next batch, given back when dropped, and where the
/// batch's body buffer goes back to.
#[derive(Debug, Default)]
pub(crate) struct ReadSlot {
    _permit: Option<OwnedSemaphorePermit>,
    kept: Option<Arc<KeptBuffer>>,
}

impl ReadSlot {
    /// Gives `body`'s buffer back for the next batch (before the slot is let go, so the next
    /// batch finds it).
    fn give_back(&self, body: String) {
        if let Some(kept) = &self.kept {
            kept.keep(body.into_bytes());
        }
    }
}

impl Batch {
    /// What decoding counted: records found, used, ignored, of unknown types, malformed.
    pub fn stats(&self) -> &DecodeStats {
        &self.stats
    }

    /// Decodes one POSTed body that arrived at `received_ms` (epoch milliseconds) up front.
    /// Never fails: problems are counted in the stats, changed values in the checks.
    pub fn decode(body: &[u8], received_ms: i64) -> Self {
        let mut converter = Converter::new(received_ms);
        let mut versions = Versions::default();
        let mut events = Vec::with_capacity(records_in(body));
        let mut cursor = Cursor::default();
        let mut stats = DecodeStats::default();
        // As a delivered body is read (see `text`), without a copy when it is UTF-8.
        let text = lossy(body, &mut converter.checks);
        while let Some(item) = cursor.next_in_text(&text, &mut stats) {
            events.extend(converter.convert(item, &mut versions));
        }
        let (stats, checks) = converter.finish(stats);
        Self {
            events,
            stats,
            checks,
            slot: ReadSlot::default(),
        }
    }

    /// Holds `slot` until the batch is dropped (tests).
    #[cfg(test)]
    pub(crate) fn holding(mut self, slot: OwnedSemaphorePermit) -> Self {
        self.slot = ReadSlot {
            _permit: Some(slot),
            kept: None,
        };
        self
    }
}

/// A delivered body, not yet decoded, with the time it arrived and the listener's reading slot.
#[derive(Debug)]
pub(crate) struct Delivery {
    body: Vec<u8>,
    received_ms: i64,
    slot: ReadSlot,
}

impl Delivery {
    /// `body` with no reading slot (benchmarks, tests).
    pub(crate) fn unheld(body: Vec<u8>, received_ms: i64) -> Self {
        Self {
            body,
            received_ms,
            slot: ReadSlot::default(),
        }
    }

    /// `body`, which arrived at `received_ms` (epoch milliseconds), holding `slot` until it has
    /// been read; its buffer then goes back to `kept`, where there is one.
    pub(crate) fn new(
        body: Vec<u8>,
        received_ms: i64,
        slot: OwnedSemaphorePermit,
        kept: Option<Arc<KeptBuffer>>,
    ) -> Self {
        Self {
            body,
            received_ms,
            slot: ReadSlot {
                _permit: Some(slot),
                kept,
            },
        }
    }
}

/// A batch being worked: its events come out one at a time ([`Reading::next_event`]); what was
/// counted comes with [`Reading::finish`], which gives the listener's slot back.
#[derive(Debug)]
pub(crate) struct Reading {
    source: Source,
    slot: ReadSlot,
}

#[derive(Debug)]
enum Source {
    /// A body decoded record by record as events are asked for.
    Body {
        body: String,
        cursor: Cursor,
        stats: DecodeStats,
        converter: Converter,
    },
    /// A batch decoded up front.
    Events {
        events: std::vec::IntoIter<TelemetryEvent>,
        stats: DecodeStats,
        checks: Checks,
    },
}

/// A delivered body as text. Lambda's JSON is UTF-8; a body that is not has each bad sequence
/// replaced by U+FFFD (counted in `checks`, and logged), so its records are still used and the
/// decoder reads only text: serde_json's `str` reader, which checks no string again (the
/// whole body is checked here in one pass), and one instantiation of the decoder in the binary
/// (a second, for bytes, made the binary larger). Without a copy.
fn text(body: Vec<u8>, checks: &mut Checks) -> String {
    String::from_utf8(body).unwrap_or_else(|err| lossy(err.as_bytes(), checks).into_owned())
}

/// `body` as text, each sequence that is not UTF-8 replaced by U+FFFD and the batch counted in
/// `checks`; borrowed when there is none.
fn lossy<'b>(body: &'b [u8], checks: &mut Checks) -> Cow<'b, str> {
    let text = String::from_utf8_lossy(body);
    if matches!(text, Cow::Owned(_)) {
        checks.replaced_bad_utf8();
    }
    text
}

impl From<Delivery> for Reading {
    fn from(d: Delivery) -> Self {
        let mut converter = Converter::new(d.received_ms);
        Self {
            source: Source::Body {
                body: text(d.body, &mut converter.checks),
                cursor: Cursor::default(),
                stats: DecodeStats::default(),
                converter,
            },
            slot: d.slot,
        }
    }
}

impl From<Batch> for Reading {
    fn from(b: Batch) -> Self {
        Self {
            source: Source::Events {
                events: b.events.into_iter(),
                stats: b.stats,
                checks: b.checks,
            },
            slot: b.slot,
        }
    }
}

impl Reading {
    /// The next event of the batch; `None` at its end. `versions` is the pipeline's, kept from
    /// batch to batch.
    pub(crate) fn next_event(&mut self, versions: &mut Versions) -> Option<TelemetryEvent> {
        match &mut self.source {
            Source::Body {
                body,
                cursor,
                stats,
                converter,
            } => loop {
                let item = cursor.next_in_text(body, stats)?;
                if let Some(event) = converter.convert(item, versions) {
                    return Some(event);
                }
            },
            Source::Events { events, .. } => events.next(),
        }
    }

    /// What decoding counted and what the checks changed; the body's buffer is given back and
    /// the listener's slot let go. Logs the batch's problems, once.
    pub(crate) fn finish(self) -> (DecodeStats, Checks) {
        let Self { source, slot } = self;
        let (stats, checks) = match source {
            Source::Body {
                body,
                stats,
                converter,
                ..
            } => {
                slot.give_back(body);
                converter.finish(stats)
            }
            Source::Events { stats, checks, .. } => (stats, checks),
        };
        drop(slot);
        log_problems(&stats, &checks);
        (stats, checks)
    }
}

/// One warning per batch for what it skipped, one for what it changed.
fn log_problems(s: &DecodeStats, c: &Checks) {
    if s.malformed > 0 {
        tracing::warn!(
            records = s.records,
            used = s.used,
            malformed = s.malformed,
            problem = %clip(s.first_problem.as_deref().unwrap_or_default()),
            "skipped malformed telemetry records; the rest of the batch was used"
        );
    }
    if c.any() {
        tracing::warn!(
            values_dropped = c.values_dropped,
            texts_cut = c.texts_cut,
            not_utf8 = c.not_utf8,
            times_replaced = c.times_replaced,
            first = %clip(c.first.as_deref().unwrap_or_default()),
            "changed telemetry values that cannot be right; the records were used"
        );
    }
}

/// Turns each decoded record into an event, counting what it used, refused and changed.
#[derive(Debug)]
struct Converter {
    used: u64,
    malformed: u64,
    problem: Option<String>,
    checks: Checks,
    received_ms: i64,
    accepted: std::ops::RangeInclusive<i64>,
}

impl Converter {
    fn new(received_ms: i64) -> Self {
        Self {
            used: 0,
            malformed: 0,
            problem: None,
            checks: Checks::default(),
            received_ms,
            accepted: received_ms.saturating_sub(MAX_AGE_MS)..=received_ms.saturating_add(MAX_AHEAD_MS),
        }
    }

    /// The decoder's `stats` with the conversion's counts added (the decoder's problem comes
    /// first in the log line, then the conversion's), and the checks.
    fn finish(self, mut stats: DecodeStats) -> (DecodeStats, Checks) {
        stats.used += self.used;
        stats.malformed += self.malformed;
        if let Some(problem) = self.problem {
            stats.problem(|| problem);
        }
        (stats, self.checks)
    }

    /// The event a record becomes, if it carries anything lambda-lens measures.
    fn convert(&mut self, item: Item<'_>, versions: &mut Versions) -> Option<TelemetryEvent> {
        let time_ms = match super::time::epoch_ms(&item.time) {
            Ok(t) => t,
            Err(err) => {
                if !matches!(item.record, Record::Ignored | Record::Unknown) {
                    self.malformed += 1;
                    self.problem.get_or_insert_with(|| {
                        format!(
                            "a {} record whose time {:?} is not RFC 3339: {err}",
                            clip(&item.kind),
                            clip(&item.time)
                        )
                    });
                }
                return None;
            }
        };
        let time_ms = if self.accepted.contains(&time_ms) {
            time_ms
        } else {
            self.checks.times_replaced += 1;
            self.checks.note(|| {
                format!(
                    "a {} record's time {} is too far from now for CloudWatch; the arrival time is used",
                    clip(&item.kind),
                    clip(&item.time)
                )
            });
            self.received_ms
        };
        match event(item.record, &mut self.checks, versions) {
            Ok(Some(kind)) => {
                self.used += 1;
                Some(TelemetryEvent { time_ms, kind })
            }
            Ok(None) => None,
            Err(problem) => {
                self.malformed += 1;
                self.problem
                    .get_or_insert_with(|| format!("a {} record {problem}", clip(&item.kind)));
                None
            }
        }
    }
}

#[cfg(test)]
impl Batch {
    /// When test batches arrive: 2026-11-25T10:00:00Z, the time of their records.
    pub(crate) const TEST_ARRIVAL: i64 = 1_795_600_800_000;

    /// A batch of `(type, record)` pairs, each stamped 2026-11-25T10:00:00Z (tests).
    pub(crate) fn of_records(records: &[(&str, &str)]) -> Self {
        let body: Vec<String> = records
            .iter()
            .map(|(kind, record)| {
                format!(r#"{{"time":"2026-11-25T10:00:00.000Z","type":"{kind}","record":{record}}}"#)
            })
            .collect();
        Self::decode(format!("[{}]", body.join(",")).as_bytes(), Self::TEST_ARRIVAL)
    }
}

fn status(text: Option<&str>) -> Option<Status> {
    text.map(Status::parse)
}

fn request_id(id: Cow<'_, str>) -> Result<RequestId, String> {
    if id.len() > MAX_REQUEST_ID_BYTES {
        return Err(format!(
            "has a request id of {} bytes (more than {MAX_REQUEST_ID_BYTES})",
            id.len()
        ));
    }
    Ok(RequestId::new(&id))
}

/// What the model keeps of a record, every value checked; `Ok(None)` for records without
/// measurements, `Err` for a record that cannot be Lambda's.
fn event(record: Record<'_>, c: &mut Checks, versions: &mut Versions) -> Result<Option<EventKind>, String> {
    let event = match record {
        Record::InitStart(r) => EventKind::InitStart(Phase {
            init_type: c.text(r.initialization_type),
            phase: c.text(r.phase),
            runtime_version: c.text(r.runtime_version).map(Arc::from),
            ..Phase::default()
        }),
        Record::InitRuntimeDone(r) => EventKind::InitRuntimeDone(Phase {
            init_type: c.text(r.initialization_type),
            phase: c.text(r.phase),
            status: status(r.status.as_deref()),
            error_type: c.text(r.error_type),
            ..Phase::default()
        }),
        Record::InitReport(r) => EventKind::InitReport(Phase {
            init_type: c.text(r.initialization_type),
            phase: c.text(r.phase),
            status: status(r.status.as_deref()),
            error_type: c.text(r.error_type),
            duration_ms: checked_duration(r.metrics, c),
            ..Phase::default()
        }),
        Record::RestoreStart(_) => EventKind::RestoreStart,
        Record::RestoreRuntimeDone(r) => EventKind::RestoreRuntimeDone(Phase {
            status: status(r.status.as_deref()),
            error_type: c.text(r.error_type),
            ..Phase::default()
        }),
        Record::RestoreReport(r) => EventKind::RestoreReport(Phase {
            status: status(r.status.as_deref()),
            error_type: c.text(r.error_type),
            duration_ms: checked_duration(r.metrics, c),
            ..Phase::default()
        }),
        Record::Start(r) => EventKind::Start(Start {
            request_id: request_id(r.request_id)?,
            version: versions.read(r.version, c),
            trace_id: c.text(r.tracing.and_then(|t| t.value)),
            tenant_id: c.text(r.tenant_id),
        }),
        Record::RuntimeDone(mut r) => {
            if let Some(m) = r.metrics.as_mut() {
                m.check(&mut |field, value| c.refused(field, value));
            }
            r.spans.check(&mut |field, value| c.refused(field, value));
            EventKind::RuntimeDone(
                request_id(r.request_id)?,
                RuntimeDone {
                    status: status(r.status.as_deref()),
                    error_type: c.text(r.error_type),
                    metrics: r.metrics,
                    spans: r.spans,
                    tenant_id: c.text(r.tenant_id),
                },
            )
        }
        Record::Report(mut r) => {
            r.metrics.check(&mut |field, value| c.refused(field, value));
            r.spans.check(&mut |field, value| c.refused(field, value));
            EventKind::Report(
                request_id(r.request_id)?,
                Report {
                    status: status(r.status.as_deref()),
                    error_type: c.text(r.error_type),
                    metrics: r.metrics,
                    spans: r.spans,
                    tenant_id: c.text(r.tenant_id),
                },
            )
        }
        Record::LogsDropped(mut r) => {
            r.check(&mut |field, value| c.refused(field, value));
            EventKind::LogsDropped(LogsDropped {
                reason: c.text(r.reason),
                records: r.dropped_records,
                bytes: r.dropped_bytes,
            })
        }
        Record::Ignored | Record::Unknown => return Ok(None),
    };
    Ok(Some(event))
}

/// The duration of an init or restore report, checked (a refused one is absent).
fn checked_duration(metrics: Option<DurationMetrics>, c: &mut Checks) -> Option<f64> {
    let mut metrics = metrics?;
    metrics.check(&mut |field, value| c.refused(field, value));
    Some(metrics.duration_ms).filter(|d| d.is_finite())
}

#[cfg(test)]
mod tests;
