//! One telemetry record decoded into typed structs that borrow from the request body, in a
//! single pass: the envelope's `type` comes before its `record` in what Lambda sends, so the
//! record is decoded straight into its type. A record that comes before its `type` is kept raw
//! and decoded once the type is known.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use super::wire::{self, Borrowed};

/// A record by type, borrowing from the body.
#[derive(Debug)]
pub enum Record<'a> {
    InitStart(wire::InitStart<'a>),
    InitRuntimeDone(wire::PhaseDone<'a>),
    InitReport(wire::PhaseReport<'a>),
    RestoreStart(wire::InitStart<'a>),
    RestoreRuntimeDone(wire::PhaseDone<'a>),
    RestoreReport(wire::PhaseReport<'a>),
    Start(wire::Start<'a>),
    RuntimeDone(wire::RuntimeDone<'a>),
    Report(wire::Report<'a>),
    LogsDropped(wire::LogsDropped<'a>),
    /// A known type that carries nothing lambda-lens measures (function and extension logs,
    /// `platform.extension`, `platform.telemetrySubscription`, ...).
    Ignored,
    /// A type this version does not know.
    Unknown,
}

/// One element of a batch: the platform's time and the typed record.
#[derive(Debug)]
pub struct Item<'a> {
    pub time: Cow<'a, str>,
    pub kind: Cow<'a, str>,
    pub record: Record<'a>,
}

/// Decodes the `record` member of a record of type `kind`.
struct RecordSeed<'k>(&'k str);

fn typed<'de, T, D>(deserializer: D, wrap: fn(T) -> Record<'de>) -> Result<Record<'de>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    T::deserialize(deserializer).map(wrap)
}

/// What a record's `type` says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    InitStart,
    InitRuntimeDone,
    InitReport,
    RestoreStart,
    RestoreRuntimeDone,
    RestoreReport,
    Start,
    RuntimeDone,
    Report,
    LogsDropped,
    /// Function and extension logs (a string or a JSON object) and the platform records
    /// lambda-lens does not measure: not read.
    Ignored,
    Unknown,
}

impl Kind {
    pub(crate) fn of(kind: &str) -> Self {
        match kind {
            "platform.initStart" => Self::InitStart,
            "platform.initRuntimeDone" => Self::InitRuntimeDone,
            "platform.initReport" => Self::InitReport,
            "platform.restoreStart" => Self::RestoreStart,
            "platform.restoreRuntimeDone" => Self::RestoreRuntimeDone,
            "platform.restoreReport" => Self::RestoreReport,
            "platform.start" => Self::Start,
            "platform.runtimeDone" => Self::RuntimeDone,
            "platform.report" => Self::Report,
            "platform.logsDropped" => Self::LogsDropped,
            "platform.extension"
            | "platform.telemetrySubscription"
            | "platform.logsSubscription"
            | "platform.fault"
            | "function"
            | "extension" => Self::Ignored,
            _ => Self::Unknown,
        }
    }
}

impl<'de> DeserializeSeed<'de> for RecordSeed<'_> {
    type Value = Record<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Record<'de>, D::Error> {
        match Kind::of(self.0) {
            Kind::InitStart => typed(d, Record::InitStart),
            Kind::InitRuntimeDone => typed(d, Record::InitRuntimeDone),
            Kind::InitReport => typed(d, Record::InitReport),
            Kind::RestoreStart => typed(d, Record::RestoreStart),
            Kind::RestoreRuntimeDone => typed(d, Record::RestoreRuntimeDone),
            Kind::RestoreReport => typed(d, Record::RestoreReport),
            Kind::Start => typed(d, Record::Start),
            Kind::RuntimeDone => typed(d, Record::RuntimeDone),
            Kind::Report => typed(d, Record::Report),
            Kind::LogsDropped => typed(d, Record::LogsDropped),
            Kind::Ignored => IgnoredAny::deserialize(d).map(|_| Record::Ignored),
            Kind::Unknown => IgnoredAny::deserialize(d).map(|_| Record::Unknown),
        }
    }
}

impl<'de> Deserialize<'de> for Item<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ItemVisitor)
    }
}

struct ItemVisitor;

impl<'de> Visitor<'de> for ItemVisitor {
    type Value = Item<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a telemetry record {\"time\", \"type\", \"record\"}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Item<'de>, A::Error> {
        let mut time: Option<Cow<'de, str>> = None;
        let mut kind: Option<Cow<'de, str>> = None;
        let mut record: Option<Record<'de>> = None;
        let mut early: Option<&'de RawValue> = None;
        while let Some(Borrowed(key)) = map.next_key::<Borrowed<'de>>()? {
            match key.as_ref() {
                "time" => time = Some(map.next_value::<Borrowed<'de>>()?.0),
                "type" => kind = Some(map.next_value::<Borrowed<'de>>()?.0),
                "record" => match &kind {
                    Some(k) => record = Some(map.next_value_seed(RecordSeed(k))?),
                    None => early = Some(map.next_value()?),
                },
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let time = time.ok_or_else(|| de::Error::missing_field("time"))?;
        let kind = kind.ok_or_else(|| de::Error::missing_field("type"))?;
        let record = match (record, early) {
            (Some(record), _) => record,
            (None, Some(raw)) => {
                let mut inner = serde_json::Deserializer::from_str(raw.get());
                RecordSeed(&kind)
                    .deserialize(&mut inner)
                    .map_err(|e| de::Error::custom(format_args!("{kind} record: {e}")))?
            }
            // No record at all: only a type that needs none may do without.
            (None, None) => {
                let null = serde_json::Value::Null;
                RecordSeed(&kind)
                    .deserialize(null)
                    .map_err(|_| de::Error::missing_field("record"))?
            }
        };
        Ok(Item { time, kind, record })
    }
}
