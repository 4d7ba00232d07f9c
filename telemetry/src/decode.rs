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

/// Decodes a batch into records that borrow from `body`, counting what it cannot use.
pub fn decode_records(body: &[u8]) -> (Vec<Item<'_>>, DecodeStats) {
    let mut stats = DecodeStats::default();
    let mut items = Vec::with_capacity(body.len() / TYPICAL_RECORD_BYTES);
    let mut de = serde_json::Deserializer::from_slice(body);
    let whole = Items(&mut items).deserialize(&mut de).and_then(|()| de.end());
    if whole.is_err() {
        items = record_by_record(body, &mut stats);
    }
    stats.records += items.len() as u64;
    for item in &items {
        match item.record {
            Record::Unknown => {
                stats.unknown += 1;
                tracing::debug!(record_type = %item.kind, "skipped a telemetry record of an unknown type");
            }
            Record::Ignored => stats.ignored += 1,
            _ => {}
        }
    }
    (items, stats)
}

/// About the size of a platform record on the wire: sizes the vector of a batch up front,
/// so it is not copied as it grows.
const TYPICAL_RECORD_BYTES: usize = 384;

/// Decodes the top-level array into a caller's (pre-sized) vector.
struct Items<'v, 'a>(&'v mut Vec<Item<'a>>);

impl<'de: 'a, 'a> DeserializeSeed<'de> for Items<'_, 'a> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for Items<'_, 'a> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of telemetry records")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(item) = seq.next_element::<Item<'de>>()? {
            self.0.push(item);
        }
        Ok(())
    }
}

/// The slow path, for a batch with a problem somewhere: split into raw records, decode each.
fn record_by_record<'a>(body: &'a [u8], stats: &mut DecodeStats) -> Vec<Item<'a>> {
    let mut raw: Vec<&RawValue> = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(body);
    let split = RawRecords(&mut raw).deserialize(&mut de).and_then(|()| de.end());
    if let Err(err) = split {
        stats.malformed += 1;
        stats.problem(|| {
            format!("the batch is not a complete JSON array ({err}); kept the records before the error")
        });
    }
    let mut items = Vec::with_capacity(raw.len());
    for record in raw {
        match serde_json::from_str::<Item<'a>>(record.get()) {
            Ok(item) => items.push(item),
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
    items
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
