//! Decodes a Telemetry API batch into typed records that borrow from the body: one pass over a
//! well-formed batch; when that meets any error, the batch is split into raw records and each
//! is decoded on its own, so one bad record costs that record only. Even a body that breaks off
//! in the middle keeps the records before the break.

use std::fmt;

use serde::Deserializer;
use serde::de::{DeserializeSeed, SeqAccess, Visitor};
use serde_json::value::RawValue;

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
    /// The batch has a problem somewhere: forget every record handed so far, they are handed
    /// again (those that can be read) one by one.
    fn start_over(&mut self);
}

impl<'a> Records<'a> for Vec<Item<'a>> {
    fn record(&mut self, item: Item<'a>) {
        self.push(item);
    }
    fn start_over(&mut self) {
        self.clear();
    }
}

/// Decodes a batch into records that borrow from `body`, counting what it cannot use.
pub fn decode_records(body: &[u8]) -> (Vec<Item<'_>>, DecodeStats) {
    let mut items = Vec::with_capacity(records_in(body));
    let stats = decode_each(body, &mut items);
    (items, stats)
}

/// Decodes a batch and hands each record to `out` as it is read, so no vector of the whole
/// batch's records is held (for a 1 MiB batch, that vector alone is ~600 KB); counts what it
/// cannot use.
pub fn decode_each<'a, R: Records<'a>>(body: &'a [u8], out: &mut R) -> DecodeStats {
    let mut stats = DecodeStats::default();
    let mut de = serde_json::Deserializer::from_slice(body);
    let whole = Each {
        out: &mut *out,
        stats: &mut stats,
    }
    .deserialize(&mut de)
    .and_then(|()| de.end());
    if whole.is_err() {
        stats = DecodeStats::default();
        out.start_over();
        record_by_record(body, &mut stats, out);
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

/// Counts `item` and hands it on.
fn deliver<'a, R: Records<'a>>(item: Item<'a>, stats: &mut DecodeStats, out: &mut R) {
    stats.records += 1;
    match item.record {
        Record::Unknown => {
            stats.unknown += 1;
            tracing::debug!(record_type = %item.kind, "skipped a telemetry record of an unknown type");
        }
        Record::Ignored => stats.ignored += 1,
        _ => {}
    }
    out.record(item);
}

/// Decodes the top-level array, handing each element on as it is read.
struct Each<'o, 's, R> {
    out: &'o mut R,
    stats: &'s mut DecodeStats,
}

impl<'de, R: Records<'de>> DeserializeSeed<'de> for Each<'_, '_, R> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, R: Records<'de>> Visitor<'de> for Each<'_, '_, R> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of telemetry records")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(item) = seq.next_element::<Item<'de>>()? {
            deliver(item, self.stats, self.out);
        }
        Ok(())
    }
}

/// The slow path, for a batch with a problem somewhere: split into raw records, decode each.
fn record_by_record<'a, R: Records<'a>>(body: &'a [u8], stats: &mut DecodeStats, out: &mut R) {
    let mut raw: Vec<&RawValue> = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(body);
    let split = RawRecords(&mut raw).deserialize(&mut de).and_then(|()| de.end());
    if let Err(err) = split {
        stats.malformed += 1;
        stats.problem(|| {
            format!("the batch is not a complete JSON array ({err}); kept the records before the error")
        });
    }
    for record in raw {
        match serde_json::from_str::<Item<'a>>(record.get()) {
            Ok(item) => deliver(item, stats, out),
            Err(err) => {
                stats.records += 1;
                stats.malformed += 1;
                stats.problem(|| {
                    let kind = serde_json::from_str::<wire::Envelope<'_>>(record.get())
                        .map(|e| e.kind.into_owned())
                        .unwrap_or_else(|_| "malformed".to_owned());
                    format!("a {kind} record does not match its schema: {err}")
                });
            }
        }
    }
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
