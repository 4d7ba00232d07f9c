//! A reader made for the records Lambda sends with every invocation (`platform.start`,
//! `platform.runtimeDone`, `platform.report`) and the types that are skipped, tried before
//! serde on a body that is text.
//!
//! Why by hand: with serde_json these records cost more than half of everything the extension
//! does with a delivered body (BENCHMARKS.md, "CPU levers"): its visitor
//! machinery per key and value, and a full parse of the fields lambda-lens skips (tracing
//! objects, span start times). This reader knows the keys it wants and skips the rest by their
//! quotes and brackets.
//!
//! It answers only where its answer is serde's: it gives up (`None`) at anything it was not
//! made for (an escape or a control character in a string, a negative number, an exponent, more
//! than 15 digits, a duplicate key, a `record` before its `type`, a value of another JSON type
//! than the schema's, JSON that is not well-formed, nesting deeper than 64), and the caller
//! reads that record with serde as before. Numbers are made with serde_json's own arithmetic
//! (the digits as an integer, divided by a power of ten), so the values are the same bits. Its
//! tests (`fast/tests.rs`) hold every answer it gives to serde's, and its key lists to the wire
//! model's fields: a field serde reads and this reader skips fails them.

use std::borrow::Cow;

use crate::record::{Item, Kind, Record};
use crate::wire::{Report, ReportMetrics, RuntimeDone, RuntimeDoneMetrics, SpanSlots, Start, Text, Tracing};

/// The element of a batch that starts at `at` in `text` and where it ends, or `None` where
/// serde must read it.
pub(crate) fn item(text: &str, at: usize) -> Option<(Item<'_>, usize)> {
    let mut scan = Scan { text, at };
    let item = scan.item()?;
    Some((item, scan.at))
}

/// Deeper than this, serde reads the record (serde_json's own limit is 128).
const MAX_DEPTH: u32 = 64;

/// Most digits a number may have here: below 2^53, so the integer of its digits is exact.
const MAX_DIGITS: u32 = 15;

/// The powers of ten a fraction of at most [`MAX_DIGITS`] digits is divided by; exact in an
/// `f64`, as in serde_json's table.
const POW10: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// Sets `slot` once: a key seen twice is left to serde (which refuses it in a record, and keeps
/// the last in the envelope).
fn once<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(value);
    Some(())
}

/// Where the first `"`, `\\` or control character of `bytes` is: eight bytes at a time (the
/// bit trick serde_json's reader uses too: a byte that matches sets its high bit in the mask,
/// and the lowest set bit is the first match).
fn string_end(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = ONES << 7;
    let chunks = bytes.chunks_exact(8);
    let tail = chunks.remainder();
    let mut at = 0;
    for chunk in chunks {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        let quote = x ^ (ONES * u64::from(b'"'));
        let slash = x ^ (ONES * u64::from(b'\\'));
        let mask = ((quote.wrapping_sub(ONES) & !quote)
            | (slash.wrapping_sub(ONES) & !slash)
            | (x.wrapping_sub(ONES * 0x20) & !x))
            & HIGH;
        if mask != 0 {
            return Some(at + (mask.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    tail.iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .map(|i| at + i)
}

/// What [`Scan::outcome`] reads.
struct Outcome<'a, M, S> {
    request_id: &'a str,
    tenant_id: Text<'a>,
    status: Text<'a>,
    error_type: Text<'a>,
    metrics: Option<M>,
    spans: S,
}

struct Scan<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Scan<'a> {
    fn byte(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    /// Moves past JSON whitespace; the byte there.
    fn space(&mut self) -> Option<u8> {
        while let Some(b) = self.byte() {
            if !matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                return Some(b);
            }
            self.at += 1;
        }
        None
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.space()? == byte).then(|| self.at += 1)
    }

    fn literal(&mut self, word: &str) -> Option<()> {
        self.space()?;
        let end = self.at + word.len();
        (self.text.as_bytes().get(self.at..end)? == word.as_bytes()).then(|| self.at = end)
    }

    /// A string with no escape and no control character, borrowed from the body.
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.at;
        let rest = self.text.as_bytes().get(start..)?;
        let len = string_end(rest)?;
        if rest.get(len) != Some(&b'"') {
            return None;
        }
        self.at = start + len + 1;
        self.text.get(start..start + len)
    }

    /// `null` (`None`) or a string.
    fn text(&mut self) -> Option<Text<'a>> {
        self.nullable(|scan| scan.string().map(Cow::Borrowed))
    }

    /// `null` (`None`) or what `read` reads.
    fn nullable<T>(&mut self, read: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        if self.space()? == b'n' {
            self.literal("null")?;
            return Some(None);
        }
        read(self).map(Some)
    }

    /// At least one digit, appended to `value` (`count` digits so far): the value and the
    /// count. For an integer part (`leading`), a `0` may not be followed by a digit.
    fn digits(&mut self, mut value: u64, mut count: u32, leading: bool) -> Option<(u64, u32)> {
        let first = count;
        while let Some(b @ b'0'..=b'9') = self.byte() {
            if leading && count > first && value == 0 {
                return None; // a leading zero: not JSON
            }
            value = value * 10 + u64::from(b - b'0');
            count += 1;
            if count > MAX_DIGITS {
                return None;
            }
            self.at += 1;
        }
        (count > first).then_some((value, count))
    }

    /// A number as serde_json makes an `f64` of it: an integer is converted, a decimal is its
    /// digits divided by ten to the number of its fraction digits.
    fn number(&mut self) -> Option<f64> {
        self.space()?;
        let (whole, count) = self.digits(0, 0, true)?;
        let mut value = whole;
        let mut fraction = 0;
        if self.byte() == Some(b'.') {
            self.at += 1;
            let (all, total) = self.digits(value, count, false)?;
            (value, fraction) = (all, total - count);
        }
        if matches!(self.byte(), Some(b'e' | b'E')) {
            return None;
        }
        let value = value as f64; // at most 15 digits: exact
        if fraction == 0 {
            return Some(value);
        }
        Some(value / POW10.get(fraction as usize)?)
    }

    /// `null` (`None`) or a number.
    fn optional_number(&mut self) -> Option<Option<f64>> {
        self.nullable(Self::number)
    }

    /// Any JSON value, checked and skipped.
    fn skip(&mut self, depth: u32) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.space()? {
            b'"' => self.string().map(drop),
            b'{' => self.object(|scan, _| scan.skip(depth + 1)),
            b'[' => self.array(|scan| scan.skip(depth + 1)),
            b't' => self.literal("true"),
            b'f' => self.literal("false"),
            b'n' => self.literal("null"),
            b'-' => {
                self.at += 1;
                self.skip_number()
            }
            _ => self.skip_number(),
        }
    }

    /// An unsigned number of any form JSON allows.
    fn skip_number(&mut self) -> Option<()> {
        match self.byte()? {
            b'0' => self.at += 1,
            b'1'..=b'9' => {
                while self.byte().is_some_and(|b| b.is_ascii_digit()) {
                    self.at += 1;
                }
            }
            _ => return None,
        }
        if self.byte() == Some(b'.') {
            self.at += 1;
            self.some_digits()?;
        }
        if matches!(self.byte(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.byte(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            self.some_digits()?;
        }
        Some(())
    }

    fn some_digits(&mut self) -> Option<()> {
        let start = self.at;
        while self.byte().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
        (self.at > start).then_some(())
    }

    /// An object: `member` reads the value of each key.
    fn object(&mut self, mut member: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.list(b'{', b'}', |scan| {
            let key = scan.string()?;
            scan.eat(b':')?;
            member(scan, key)
        })
    }

    /// An array: `element` reads each element.
    fn array(&mut self, element: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.list(b'[', b']', element)
    }

    /// `open`, what `each` reads separated by commas (no comma after the last), `close`.
    fn list(&mut self, open: u8, close: u8, mut each: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.eat(open)?;
        if self.space()? == close {
            self.at += 1;
            return Some(());
        }
        loop {
            each(self)?;
            match self.space()? {
                b',' => self.at += 1,
                b if b == close => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// `{"time", "type", "record"}`, the type before the record.
    fn item(&mut self) -> Option<Item<'a>> {
        let (mut time, mut kind, mut record) = (None, None, None);
        self.object(|scan, key| match key {
            "time" => once(&mut time, scan.string()?),
            "type" => once(&mut kind, scan.string()?),
            "record" => once(&mut record, scan.record(kind?)?),
            _ => scan.skip(1),
        })?;
        Some(Item {
            time: Cow::Borrowed(time?),
            kind: Cow::Borrowed(kind?),
            record: record?,
        })
    }

    fn record(&mut self, kind: &str) -> Option<Record<'a>> {
        Some(match Kind::of(kind) {
            Kind::Start => Record::Start(self.start()?),
            Kind::RuntimeDone => Record::RuntimeDone(self.runtime_done()?),
            Kind::Report => Record::Report(self.report()?),
            Kind::Ignored => {
                self.skip(1)?;
                Record::Ignored
            }
            Kind::Unknown => {
                self.skip(1)?;
                Record::Unknown
            }
            // Rare (once per environment or never): serde's.
            Kind::InitStart
            | Kind::InitRuntimeDone
            | Kind::InitReport
            | Kind::RestoreStart
            | Kind::RestoreRuntimeDone
            | Kind::RestoreReport
            | Kind::LogsDropped => return None,
        })
    }

    fn start(&mut self) -> Option<Start<'a>> {
        let (mut id, mut tenant, mut version, mut tracing) = (None, None, None, None);
        self.object(|scan, key| match key {
            "requestId" => once(&mut id, scan.string()?),
            "tenantId" => once(&mut tenant, scan.text()?),
            "version" => once(&mut version, scan.text()?),
            "tracing" => once(&mut tracing, scan.nullable(Self::tracing)?),
            _ => scan.skip(2),
        })?;
        Some(Start {
            request_id: Cow::Borrowed(id?),
            tenant_id: tenant.flatten(),
            version: version.flatten(),
            tracing: tracing.flatten(),
        })
    }

    fn tracing(&mut self) -> Option<Tracing<'a>> {
        let (mut span_id, mut kind, mut value) = (None, None, None);
        self.object(|scan, key| match key {
            "spanId" => once(&mut span_id, scan.text()?),
            "type" => once(&mut kind, scan.text()?),
            "value" => once(&mut value, scan.text()?),
            _ => scan.skip(3),
        })?;
        Some(Tracing {
            span_id: span_id.flatten(),
            kind: kind.flatten(),
            value: value.flatten(),
        })
    }

    fn runtime_done(&mut self) -> Option<RuntimeDone<'a>> {
        let done = self.outcome(|scan| scan.nullable(Self::runtime_done_metrics))?;
        Some(RuntimeDone {
            request_id: Cow::Borrowed(done.request_id),
            tenant_id: done.tenant_id,
            status: done.status,
            error_type: done.error_type,
            metrics: done.metrics.flatten(),
            spans: done.spans,
        })
    }

    fn runtime_done_metrics(&mut self) -> Option<RuntimeDoneMetrics> {
        let (mut duration, mut produced) = (None, None);
        self.object(|scan, key| match key {
            "durationMs" => once(&mut duration, scan.number()?),
            "producedBytes" => once(&mut produced, scan.optional_number()?),
            _ => scan.skip(3),
        })?;
        Some(RuntimeDoneMetrics {
            duration_ms: duration?,
            produced_bytes: produced.flatten(),
        })
    }

    fn report(&mut self) -> Option<Report<'a>> {
        let report = self.outcome(Self::report_metrics)?;
        Some(Report {
            request_id: Cow::Borrowed(report.request_id),
            tenant_id: report.tenant_id,
            status: report.status,
            error_type: report.error_type,
            metrics: report.metrics?,
            spans: report.spans,
        })
    }

    /// The members `platform.runtimeDone` and `platform.report` share (the request id, tenant,
    /// status, error type, spans) and their metrics, read by `metrics` (`None` when left out).
    fn outcome<M, S: SpanSlots>(
        &mut self,
        mut metrics: impl FnMut(&mut Self) -> Option<M>,
    ) -> Option<Outcome<'a, M, S>> {
        let (mut id, mut tenant, mut status, mut error_type) = (None, None, None, None);
        let (mut read, mut spans) = (None, None);
        self.object(|scan, key| match key {
            "requestId" => once(&mut id, scan.string()?),
            "tenantId" => once(&mut tenant, scan.text()?),
            "status" => once(&mut status, scan.text()?),
            "errorType" => once(&mut error_type, scan.text()?),
            "metrics" => once(&mut read, metrics(scan)?),
            "spans" => once(&mut spans, scan.spans::<S>()?),
            _ => scan.skip(2),
        })?;
        Some(Outcome {
            request_id: id?,
            tenant_id: tenant.flatten(),
            status: status.flatten(),
            error_type: error_type.flatten(),
            metrics: read,
            spans: spans.unwrap_or_default(),
        })
    }

    fn report_metrics(&mut self) -> Option<ReportMetrics> {
        let mut duration = None;
        let [mut billed, mut size, mut used, mut init, mut restore] = [None; 5];
        self.object(|scan, key| match key {
            "durationMs" => once(&mut duration, scan.number()?),
            "billedDurationMs" => once(&mut billed, scan.optional_number()?),
            "memorySizeMB" => once(&mut size, scan.optional_number()?),
            "maxMemoryUsedMB" => once(&mut used, scan.optional_number()?),
            "initDurationMs" => once(&mut init, scan.optional_number()?),
            "restoreDurationMs" => once(&mut restore, scan.optional_number()?),
            _ => scan.skip(3),
        })?;
        Some(ReportMetrics {
            duration_ms: duration?,
            billed_duration_ms: billed.flatten(),
            memory_size_mb: size.flatten(),
            max_memory_used_mb: used.flatten(),
            init_duration_ms: init.flatten(),
            restore_duration_ms: restore.flatten(),
        })
    }

    /// `null` (no spans) or a list of `{"name", "durationMs"}`, each kept where `S` has a
    /// slot for its name (a later span of the same name replaces an earlier one, as in serde's
    /// reading).
    fn spans<S: SpanSlots>(&mut self) -> Option<S> {
        let mut spans = S::default();
        if self.space()? == b'n' {
            self.literal("null")?;
            return Some(spans);
        }
        self.array(|scan| {
            let (name, duration) = scan.span()?;
            if let Some(slot) = spans.place(name) {
                *slot = duration;
            }
            Some(())
        })?;
        Some(spans)
    }

    fn span(&mut self) -> Option<(&'a str, Option<f64>)> {
        let (mut name, mut duration) = (None, None);
        self.object(|scan, key| match key {
            "name" => once(&mut name, scan.string()?),
            "durationMs" => once(&mut duration, scan.optional_number()?),
            _ => scan.skip(4),
        })?;
        Some((name?, duration.flatten()))
    }
}

#[cfg(test)]
mod tests;
