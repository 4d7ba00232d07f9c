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
/// the batch is read. Where the JSON itself breaks off, the records before the break are kept
/// and the batch ends there.
#[derive(Debug, Default, Clone)]
pub struct Cursor {
    /// Bytes of the body read so far.
    at: usize,
    state: State,
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
                            self.state = State::Done;
                            if self.skip_space(body).is_some() {
                                stats.malformed += 1;
                                stats.problem(|| {
                                    "the batch has bytes after its closing bracket; kept the records before them"
                                        .to_owned()
                                });
                            }
                            return None;
                        }
                        Some(b',') if !first => self.at += 1,
                        _ if first => {}
                        _ => {
                            self.broken(
                                stats,
                                "a record is not followed by a comma or the end of the array",
                            );
                            continue;
                        }
                    }
                    self.state = State::Between;
                    if let Some((item, end)) = text.and_then(|text| fast::item(text, self.at)) {
                        self.at = end;
                        deliver(&item, stats);
                        return Some(item);
                    }
                    if let Some(item) = self.element(&rest, stats) {
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
                // can be read (not in broken JSON or text that is not UTF-8: the batch ends).
                let mut raw = rest(self.at).map(StreamDeserializer::<R, &RawValue>::new);
                let record = raw.as_mut().and_then(Iterator::next);
                if let (Some(Ok(record)), Some(raw)) = (record, raw) {
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
                self.broken(stats, &format!("the batch is not a complete JSON array ({err})"));
            }
            Some(Err(err)) => {
                self.broken(stats, &format!("the batch is not a complete JSON array ({err})"));
            }
            None => self.broken(stats, "the batch ends without closing its array"),
        }
        None
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
