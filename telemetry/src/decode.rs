//! Decodes a Telemetry API batch into typed records that borrow from the body, one record at a
//! time ([`Cursor`]), so one bad record costs that record only and a body that breaks off in
//! the middle keeps the records before the break; a caller may stop between records and go on
//! later.

use serde_json::StreamDeserializer;
use serde_json::de::{SliceRead, StrRead};
use serde_json::value::RawValue;

use crate::fast;
use crate::record::{Item, Record};
use crate::wire;

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
    /// Keeps `text` as the first problem, if none was kept yet.
    pub fn problem(&mut self, text: impl FnOnce() -> String) {
        if self.first_problem.is_none() {
            self.first_problem = Some(text());
        }
    }
}

/// Where [`decode_each`] hands the records of a batch, one at a time as they are read.
pub trait Records<'a> {
    /// The next record.
    fn record(&mut self, item: Item<'a>);
}

impl<'a> Records<'a> for Vec<Item<'a>> {
    fn record(&mut self, item: Item<'a>) {
        self.push(item);
    }
}

/// Decodes a batch into records that borrow from `body`, counting what it cannot use.
pub fn decode_records(body: &[u8]) -> (Vec<Item<'_>>, DecodeStats) {
    let mut items = Vec::with_capacity(records_in(body));
    let stats = decode_each(body, &mut items);
    (items, stats)
}

/// Decodes a batch and hands each record to `out` as it is read, so no vector of the whole
/// batch's records is held (memory that grows with the batch); counts what it cannot use.
pub fn decode_each<'a, R: Records<'a>>(body: &'a [u8], out: &mut R) -> DecodeStats {
    let mut stats = DecodeStats::default();
    let mut cursor = Cursor::default();
    match std::str::from_utf8(body) {
        Ok(text) => {
            while let Some(item) = cursor.next_in_text(text, &mut stats) {
                out.record(item);
            }
        }
        Err(_) => {
            while let Some(item) = cursor.next(body, &mut stats) {
                out.record(item);
            }
        }
    }
    stats
}

/// About how many records `body` holds, to size a vector of them up front so that it is not
/// copied as it grows.
pub fn records_in(body: &[u8]) -> usize {
    body.len() / TYPICAL_RECORD_BYTES
}

/// About the size of a platform record on the wire.
const TYPICAL_RECORD_BYTES: usize = 384;

/// Where the reading of a batch stands: a batch can be read a few records at a time, the body
/// held by the caller between the calls (so a large batch is worked in slices, and no record
/// is decoded before it is wanted).
///
/// Each record is decoded on its own, straight into its type. One that does not match its
/// type's schema (but is well-formed JSON) is counted as malformed and skipped; the rest of
/// the batch is read. One that is not JSON (a syntax error inside it) is skipped up to the
/// next place a record begins (see [`Cursor::resync`]), counted as one malformed record, and
/// the records after it are read. Where the body breaks off with no record after the break,
/// the records before it are kept and the batch ends there.
#[derive(Debug, Default, Clone)]
pub struct Cursor {
    /// Bytes of the body read so far.
    at: usize,
    state: State,
    /// Bytes the searches for a next record have read (as far as a candidate's end, or the
    /// body's end for a candidate that is not JSON), against [`RESYNC_SCAN_BODIES`] bodies.
    resync_scanned: usize,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing read: the body must open with `[`.
    #[default]
    Opening,
    /// Inside the array, before an element (or the closing `]` of an empty array).
    First,
    /// After an element: a `,` or the closing `]`.
    Between,
    Done,
}

impl Cursor {
    /// The next record of `body` (the same body at every call), counting what is skipped in
    /// `stats`; `None` once the batch has been read. Each string is checked to be UTF-8 as it
    /// is read: for a body known to be text, [`Cursor::next_in_text`] is faster.
    pub fn next<'a>(&mut self, body: &'a [u8], stats: &mut DecodeStats) -> Option<Item<'a>> {
        self.read(body, None, stats, |at| body.get(at..).map(SliceRead::new))
    }

    /// [`Cursor::next`] for a body already checked to be UTF-8 as a whole (one fast pass over
    /// it costs less than a check of each string as it is read). The same body at every call.
    ///
    /// The records Lambda sends with every invocation are read by a reader made for them
    /// (`fast`), which leaves anything else to serde.
    pub fn next_in_text<'a>(&mut self, body: &'a str, stats: &mut DecodeStats) -> Option<Item<'a>> {
        self.read(body.as_bytes(), Some(body), stats, |at| {
            body.get(at..).map(StrRead::new)
        })
    }

    /// Reads `body` with a JSON reader of the rest from a given offset (and first with the
    /// reader made for the usual records, where the body is text).
    fn read<'a, R: serde_json::de::Read<'a>>(
        &mut self,
        body: &'a [u8],
        text: Option<&'a str>,
        stats: &mut DecodeStats,
        rest: impl Fn(usize) -> Option<R>,
    ) -> Option<Item<'a>> {
        loop {
            match self.state {
                State::Done => return None,
                State::Opening => {
                    if self.skip_space(body) == Some(b'[') {
                        self.at += 1;
                        self.state = State::First;
                    } else {
                        self.broken(stats, "the batch is not a JSON array");
                    }
                }
                State::First | State::Between => {
                    let first = self.state == State::First;
                    match self.skip_space(body) {
                        Some(b']') => {
                            self.at += 1;
                            if self.skip_space(body).is_some() {
                                // A bracket where a record began or a comma stood closes the
                                // array early: the records after it are read on.
                                let problem = "the batch has bytes after its closing bracket";
                                if self.resync(body, &rest, stats, problem) {
                                    continue;
                                }
                                stats.malformed += 1;
                                stats.problem(|| format!("{problem}; kept the records before them"));
                            }
                            self.state = State::Done;
                            return None;
                        }
                        Some(b',') if !first => self.at += 1,
                        _ if first => {}
                        _ => {
                            let problem = "a record is not followed by a comma or the end of the array";
                            if !self.resync(body, &rest, stats, problem) {
                                self.broken(stats, problem);
                            }
                            continue;
                        }
                    }
                    self.state = State::Between;
                    if let Some((item, end)) = text.and_then(|text| fast::item(text, self.at)) {
                        self.at = end;
                        deliver(&item, stats);
                        return Some(item);
                    }
                    if let Some(item) = self.element(body, &rest, stats) {
                        return Some(item);
                    }
                }
            }
        }
    }

    /// One element at `self.at`: the record, or `None` when it was skipped (counted) or the
    /// batch broke off there (then the cursor is done).
    fn element<'a, R: serde_json::de::Read<'a>>(
        &mut self,
        body: &'a [u8],
        rest: &impl Fn(usize) -> Option<R>,
        stats: &mut DecodeStats,
    ) -> Option<Item<'a>> {
        let Some(reader) = rest(self.at) else {
            self.broken(stats, "the batch breaks off inside a character");
            return None;
        };
        let mut items = StreamDeserializer::<R, Item<'a>>::new(reader);
        match items.next() {
            Some(Ok(item)) => {
                self.at += items.byte_offset();
                deliver(&item, stats);
                return Some(item);
            }
            Some(Err(err)) if !err.is_eof() => {
                // A value that is not a record of its type: skipped whole, where its extent
                // can be read. An array after which the batch does not go on (a stray bracket
                // that swallowed the records after it) is read into instead, from the next
                // record, as after a syntax error.
                let mut raw = rest(self.at).map(StreamDeserializer::<R, &RawValue>::new);
                let record = raw.as_mut().and_then(Iterator::next);
                if let (Some(Ok(record)), Some(raw)) = (record, raw)
                    && (!record.get().starts_with('[') || goes_on(body, self.at + raw.byte_offset()))
                {
                    self.at += raw.byte_offset();
                    stats.records += 1;
                    stats.malformed += 1;
                    stats.problem(|| {
                        let kind = serde_json::from_str::<wire::Envelope<'_>>(record.get())
                            .map(|e| e.kind.into_owned())
                            .unwrap_or_else(|_| "malformed".to_owned());
                        format!("a {kind} record does not match its schema: {err}")
                    });
                    return None;
                }
                self.not_json(body, rest, stats, &err);
            }
            Some(Err(err)) => self.not_json(body, rest, stats, &err),
            None => self.broken(stats, "the batch ends without closing its array"),
        }
        None
    }

    /// The element at `self.at` is not JSON (`err`): the batch is read on from the next
    /// record, or ends here when there is none.
    fn not_json<'a, R: serde_json::de::Read<'a>>(
        &mut self,
        body: &'a [u8],
        rest: &impl Fn(usize) -> Option<R>,
        stats: &mut DecodeStats,
        err: &serde_json::Error,
    ) {
        let problem = format!("a record is not JSON ({err})");
        if !self.resync(body, rest, stats, &problem) {
            self.broken(stats, &format!("the batch is not a complete JSON array ({err})"));
        }
    }

    /// Moves past a stretch of the body that is not JSON (a syntax error inside a record, or
    /// between two) to the next place a record begins, counting the stretch as one malformed
    /// record; `false` (nothing moved) when no record follows.
    ///
    /// Where the broken record ends cannot be read (its brackets may not balance), so the
    /// next record is searched for: a `{` after a `,` (whitespace allowed between), whose
    /// first key is one of a record's (`time`, `type`, `record`), that is a whole JSON object
    /// with a `time` and a `type`, and that is followed by another record (a `,` then a `{`),
    /// the array's last `]` or the end of the body. An object nested inside the broken record would have to pass all of these
    /// to be taken for a record (d: no such record is known; the cost is at most one record
    /// read that was not one). At most [`RESYNC_TRIES`] places are tried, and all the searches
    /// of one body read at most [`RESYNC_SCAN_BODIES`] times its length, so a pathological body
    /// costs bounded work.
    fn resync<'a, R: serde_json::de::Read<'a>>(
        &mut self,
        body: &'a [u8],
        rest: &impl Fn(usize) -> Option<R>,
        stats: &mut DecodeStats,
        problem: &str,
    ) -> bool {
        let mut from = self.at.saturating_add(1);
        let budget = body.len().saturating_mul(RESYNC_SCAN_BODIES);
        for _ in 0..RESYNC_TRIES {
            if self.resync_scanned >= budget {
                return false;
            }
            let Some(at) = next_opening(body, from) else {
                return false;
            };
            from = at + 1;
            let mut raw = match rest(at) {
                Some(reader) => StreamDeserializer::<R, &RawValue>::new(reader),
                None => continue,
            };
            let Some(Ok(value)) = raw.next() else {
                // How far the parser got is not told: charge the rest of the body.
                self.resync_scanned = self.resync_scanned.saturating_add(body.len().saturating_sub(at));
                continue;
            };
            self.resync_scanned = self.resync_scanned.saturating_add(raw.byte_offset());
            if ends_like_a_record(body, at + raw.byte_offset())
                && serde_json::from_str::<wire::Envelope<'_>>(value.get()).is_ok()
            {
                stats.records += 1;
                stats.malformed += 1;
                stats.problem(|| format!("{problem}; it was skipped and the records after it were read"));
                self.at = at;
                self.state = State::First;
                return true;
            }
        }
        false
    }

    /// The batch cannot be read past here: one malformed count for the rest, and the end.
    fn broken(&mut self, stats: &mut DecodeStats, problem: &str) {
        stats.malformed += 1;
        stats.problem(|| format!("{problem}; kept the records before the error"));
        self.state = State::Done;
    }

    /// Moves past JSON whitespace; the byte there, if any.
    fn skip_space(&mut self, body: &[u8]) -> Option<u8> {
        while let Some(&b) = body.get(self.at) {
            if !matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                return Some(b);
            }
            self.at += 1;
        }
        None
    }
}

/// Whether the batch goes on at `at` as an array does after an element: a comma or the closing
/// bracket, after any whitespace.
fn goes_on(body: &[u8], at: usize) -> bool {
    body.get(at..)
        .and_then(|rest| rest.iter().find(|b| !matches!(b, b' ' | b'\n' | b'\r' | b'\t')))
        .is_some_and(|b| matches!(b, b',' | b']'))
}

/// Places [`Cursor::resync`] tries before it gives the rest of a batch up.
const RESYNC_TRIES: usize = 256;

/// How many times its own length the searches for a next record may read of one body: a
/// candidate that opens a long object and is not a record costs the rest of the body, and 256
/// of them would read a 2 MiB batch 256 times over.
const RESYNC_SCAN_BODIES: usize = 4;

/// The first non-whitespace byte at or after `at`.
fn next_byte(body: &[u8], at: usize) -> Option<u8> {
    body.get(at..)?
        .iter()
        .copied()
        .find(|b| !matches!(b, b' ' | b'\n' | b'\r' | b'\t'))
}

/// Whether what follows an object that ends at `at` is what follows a record of the batch:
/// a `,` and the next record's `{`, the closing `]` with nothing after it, or the end of a body
/// that breaks off.
fn ends_like_a_record(body: &[u8], at: usize) -> bool {
    let after = |b: u8| {
        body.get(at..)
            .and_then(|rest| rest.iter().position(|&c| c == b))
            .map(|i| at + i + 1)
    };
    match next_byte(body, at) {
        None => true,
        Some(b',') => after(b',').and_then(|i| next_byte(body, i)) == Some(b'{'),
        Some(b']') => after(b']').is_some_and(|i| next_byte(body, i).is_none()),
        Some(_) => false,
    }
}

/// The next `{` at or after `from` that follows a `,` (whitespace between) and opens with one
/// of a record's keys: where a record of the batch may begin.
fn next_opening(body: &[u8], from: usize) -> Option<usize> {
    let space = |b: &u8| matches!(b, b' ' | b'\n' | b'\r' | b'\t');
    let mut at = from;
    loop {
        let brace = at + body.get(at..)?.iter().position(|&b| b == b'{')?;
        at = brace + 1;
        let before = body.get(..brace)?.iter().rev().find(|b| !space(b));
        if before != Some(&b',') {
            continue;
        }
        let inside = body.get(at..)?;
        let key = inside
            .iter()
            .position(|b| !space(b))
            .and_then(|i| inside.get(i..));
        if key.is_some_and(|k| {
            [&b"\"time\""[..], b"\"type\"", b"\"record\""]
                .iter()
                .any(|w| k.starts_with(w))
        }) {
            return Some(brace);
        }
    }
}

/// Counts a decoded record.
fn deliver(item: &Item<'_>, stats: &mut DecodeStats) {
    stats.records += 1;
    match item.record {
        Record::Unknown => {
            stats.unknown += 1;
            tracing::debug!(record_type = %item.kind, "skipped a telemetry record of an unknown type");
        }
        Record::Ignored => stats.ignored += 1,
        _ => {}
    }
}

#[cfg(test)]
mod tests;
