//! The Telemetry API's JSON, as serde types that borrow from the request body.
//!
//! Tolerant on purpose: every field the schema lets Lambda leave out is optional and unknown
//! fields are ignored. The measurement structs (`ReportMetrics`, `RuntimeDoneMetrics`,
//! `RuntimeDoneSpans`) own their values and are `Copy`: the extension's model carries them
//! whole. The records of every invocation are also read by a reader made for them (`fast.rs`),
//! so a new field of those is declared here and read there too; a test there fails until it is.

use std::borrow::Cow;
use std::fmt;

use serde::de::{SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// One element of a delivered batch: `{"time", "type", "record"}`.
#[derive(Debug, Deserialize)]
pub struct Envelope<'a> {
    #[serde(borrow)]
    pub time: Cow<'a, str>,
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(borrow, default)]
    pub record: Option<&'a RawValue>,
}

pub type Text<'a> = Option<Cow<'a, str>>;

/// An optional string that borrows from the body when it holds no escapes. serde's derive
/// borrows a `Cow<str>` field only when the field is that type itself: inside an `Option` it
/// copies every value (an allocation per text field per record: ~12 per invocation).
pub fn optional_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Text<'de>, D::Error> {
    Option::<Borrowed<'de>>::deserialize(deserializer).map(|text| text.map(|t| t.0))
}

/// A string that borrows from the input when it holds no escapes (serde's own `Cow<str>`
/// always copies outside derived structs).
pub(crate) struct Borrowed<'de>(pub(crate) Cow<'de, str>);

impl<'de> Deserialize<'de> for Borrowed<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Borrowed<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Borrowed<'de>, E> {
                Ok(Borrowed(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Borrowed<'de>, E> {
                Ok(Borrowed(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Borrowed<'de>, E> {
                Ok(Borrowed(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

/// Upper bounds of the platform's numbers: far above anything Lambda reports (its longest
/// timeout is 15 minutes, its largest memory 10,240 MB), so only nonsense is refused.
pub mod bounds {
    /// Durations, in milliseconds: an hour.
    pub const DURATION_MS: f64 = 3_600_000.0;
    /// Memory sizes, in megabytes: a tebibyte.
    pub const MEMORY_MB: f64 = 1_048_576.0;
    /// Byte and record counts.
    pub const COUNT: f64 = 1e12;
}

/// Told of each value a check refuses: the field's name and the value.
pub type Refused<'r> = &'r mut dyn FnMut(&'static str, f64);

fn fits(value: f64, max: f64) -> bool {
    value.is_finite() && (0.0..=max).contains(&value)
}

/// A required value that is not finite, negative or above `max` becomes NaN, which every
/// consumer treats as absent.
fn required(value: &mut f64, field: &'static str, max: f64, refused: Refused<'_>) {
    if !fits(*value, max) {
        refused(field, *value);
        *value = f64::NAN;
    }
}

/// An optional value that is not finite, negative or above `max` becomes `None`.
fn optional(value: &mut Option<f64>, field: &'static str, max: f64, refused: Refused<'_>) {
    if let Some(v) = *value
        && !fits(v, max)
    {
        refused(field, v);
        *value = None;
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tracing<'a> {
    #[serde(borrow, default, deserialize_with = "optional_text")]
    pub span_id: Text<'a>,
    #[serde(rename = "type", borrow, default, deserialize_with = "optional_text")]
    pub kind: Text<'a>,
    #[serde(borrow, default, deserialize_with = "optional_text")]
    pub value: Text<'a>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Span<'a> {
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    #[serde(default)]
    pub duration_ms: Option<f64>,
}

/// `platform.initStart`, and `platform.restoreStart` (which carries a subset).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitStart<'a> {
    #[serde(borrow, default, deserialize_with = "optional_text")]
    pub initialization_type: Text<'a>,
    #[serde(borrow, default, deserialize_with = "optional_text")]
    pub phase: Text<'a>,
    #[serde(borrow, default, deserialize_with = "optional_text")]
    pub runtime_version: Text<'a>,
}

/// `platform.initRuntimeDone`, `platform.restoreRuntimeDone`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhaseDone<'a> {
    #[serde(borrow, default, deserialize_with = "optional_text")]
    pub initialization_type: Text<'a>,
    #[serde(borrow, default, deserialize_with = "optional_text")]
    pub phase: Text<'a>,
    #[serde(borrow, default, deserialize_with = "optional_text")]
    pub status: Text<'a>,
    #[serde(borrow, default, deserialize_with = "optional_text")]
    pub error_type: Text<'a>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DurationMetrics {
    pub duration_ms: f64,
}

impl DurationMetrics {
    /// Checks the duration: finite, not negative, within [`bounds::DURATION_MS`].
    pub fn check(&mut self, refused: Refused<'_>) {
        required(&mut self.duration_ms, "durationMs", bounds::DURATION_MS, refused);
    }
}

/// `platform.initReport`, `platform.restoreReport`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhaseReport<'a> {
    #[serde(borrow, default, deserialize_with = "optional_text")]
    pub initialization_type: Text<'a>,
    #[serde(borrow, default, deserialize_with = "optional_text")]
    pub phase: Text<'a>,
    #[serde(borrow, default, deserialize_with = "optional_text")]
    pub status: Text<'a>,
    #[serde(borrow, default, deserialize_with = "optional_text")]
    pub error_type: Text<'a>,
    #[serde(default)]
    pub metrics: Option<DurationMetrics>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Start<'a> {
    #[serde(borrow)]
    pub request_id: Cow<'a, str>,
    /// Tenant isolation mode's tenant, where the function uses it (b: `tenantId` of
    /// `InvokeStartData`, `internal/lambda/interop/events_api.go` of AWS's emulator).
    #[serde(borrow, default, deserialize_with = "optional_text")]
    pub tenant_id: Text<'a>,
    #[serde(borrow, default, deserialize_with = "optional_text")]
    pub version: Text<'a>,
    #[serde(borrow, default)]
    pub tracing: Option<Tracing<'a>>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeDoneMetrics {
    pub duration_ms: f64,
    #[serde(default)]
    pub produced_bytes: Option<f64>,
}

impl RuntimeDoneMetrics {
    /// Checks every value against its bound (see [`bounds`]).
    pub fn check(&mut self, refused: Refused<'_>) {
        required(&mut self.duration_ms, "durationMs", bounds::DURATION_MS, refused);
        optional(&mut self.produced_bytes, "producedBytes", bounds::COUNT, refused);
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeDone<'a> {
    #[serde(borrow)]
    pub request_id: Cow<'a, str>,
    /// As [`Start::tenant_id`] (b: `InvokeRuntimeDoneData`).
    #[serde(borrow, default, deserialize_with = "optional_text")]
    pub tenant_id: Text<'a>,
    #[serde(borrow, default, deserialize_with = "optional_text")]
    pub status: Text<'a>,
    #[serde(borrow, default, deserialize_with = "optional_text")]
    pub error_type: Text<'a>,
    #[serde(default)]
    pub metrics: Option<RuntimeDoneMetrics>,
    #[serde(default)]
    pub spans: RuntimeDoneSpans,
}

/// The `spans` of `platform.runtimeDone`, read straight into the three lambda-lens uses (no
/// list is allocated; other spans are skipped).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct RuntimeDoneSpans {
    pub response_latency_ms: Option<f64>,
    pub response_duration_ms: Option<f64>,
    pub runtime_overhead_ms: Option<f64>,
}

impl RuntimeDoneSpans {
    /// Checks every span's duration against [`bounds::DURATION_MS`].
    pub fn check(&mut self, refused: Refused<'_>) {
        let max = bounds::DURATION_MS;
        optional(&mut self.response_latency_ms, "responseLatency", max, refused);
        optional(&mut self.response_duration_ms, "responseDuration", max, refused);
        optional(&mut self.runtime_overhead_ms, "runtimeOverhead", max, refused);
    }
}

/// A record's `spans` read into a struct of named durations: `place` gives the slot of a span
/// name the struct keeps (others are skipped; no list is allocated).
pub(crate) trait SpanSlots: Default {
    fn place(&mut self, name: &str) -> Option<&mut Option<f64>>;
}

fn deserialize_spans<'de, D: Deserializer<'de>, S: SpanSlots>(deserializer: D) -> Result<S, D::Error> {
    struct SpansVisitor<S>(std::marker::PhantomData<S>);
    impl<'de, S: SpanSlots> Visitor<'de> for SpansVisitor<S> {
        type Value = S;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of spans")
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<S, E> {
            Ok(S::default())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<S, A::Error> {
            let mut spans = S::default();
            while let Some(span) = seq.next_element::<Span<'de>>()? {
                if let Some(slot) = spans.place(span.name.as_ref()) {
                    *slot = span.duration_ms;
                }
            }
            Ok(spans)
        }
    }
    deserializer.deserialize_any(SpansVisitor(std::marker::PhantomData))
}

impl SpanSlots for RuntimeDoneSpans {
    fn place(&mut self, name: &str) -> Option<&mut Option<f64>> {
        match name {
            "responseLatency" => Some(&mut self.response_latency_ms),
            "responseDuration" => Some(&mut self.response_duration_ms),
            "runtimeOverhead" => Some(&mut self.runtime_overhead_ms),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for RuntimeDoneSpans {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_spans(deserializer)
    }
}

/// The `spans` of `platform.report`: `extensionOverhead`, the time the extensions took after
/// the runtime's next (Lambda sends it when the environment has extensions); and on Lambda
/// Managed Instances, which send no `platform.runtimeDone`, the response spans that record
/// carries elsewhere: `responseLatency` and `responseDuration` (b: AWS's Managed Instances
/// code, `internal/lambda-managed-instances/invoke/metrics.go`, adds both to the report).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct ReportSpans {
    pub extension_overhead_ms: Option<f64>,
    pub response_latency_ms: Option<f64>,
    pub response_duration_ms: Option<f64>,
}

impl ReportSpans {
    /// Checks every span's duration against [`bounds::DURATION_MS`].
    pub fn check(&mut self, refused: Refused<'_>) {
        let max = bounds::DURATION_MS;
        optional(&mut self.extension_overhead_ms, "extensionOverhead", max, refused);
        optional(&mut self.response_latency_ms, "responseLatency", max, refused);
        optional(&mut self.response_duration_ms, "responseDuration", max, refused);
    }
}

impl SpanSlots for ReportSpans {
    fn place(&mut self, name: &str) -> Option<&mut Option<f64>> {
        match name {
            "extensionOverhead" => Some(&mut self.extension_overhead_ms),
            "responseLatency" => Some(&mut self.response_latency_ms),
            "responseDuration" => Some(&mut self.response_duration_ms),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for ReportSpans {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_spans(deserializer)
    }
}

/// `platform.report` metrics. On Lambda Managed Instances only `durationMs` is present.
#[derive(Debug, Default, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportMetrics {
    pub duration_ms: f64,
    #[serde(default)]
    pub billed_duration_ms: Option<f64>,
    #[serde(rename = "memorySizeMB", default)]
    pub memory_size_mb: Option<f64>,
    #[serde(rename = "maxMemoryUsedMB", default)]
    pub max_memory_used_mb: Option<f64>,
    #[serde(default)]
    pub init_duration_ms: Option<f64>,
    #[serde(default)]
    pub restore_duration_ms: Option<f64>,
}

impl ReportMetrics {
    /// Checks every value against its bound (see [`bounds`]): a refused optional value becomes
    /// `None`, a refused `durationMs` NaN; `refused` hears of each.
    pub fn check(&mut self, refused: Refused<'_>) {
        let (ms, mb) = (bounds::DURATION_MS, bounds::MEMORY_MB);
        required(&mut self.duration_ms, "durationMs", ms, refused);
        optional(&mut self.billed_duration_ms, "billedDurationMs", ms, refused);
        optional(&mut self.memory_size_mb, "memorySizeMB", mb, refused);
        optional(&mut self.max_memory_used_mb, "maxMemoryUsedMB", mb, refused);
        optional(&mut self.init_duration_ms, "initDurationMs", ms, refused);
        optional(&mut self.restore_duration_ms, "restoreDurationMs", ms, refused);
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report<'a> {
    #[serde(borrow)]
    pub request_id: Cow<'a, str>,
    /// As [`Start::tenant_id`] (b: `ReportData`).
    #[serde(borrow, default, deserialize_with = "optional_text")]
    pub tenant_id: Text<'a>,
    #[serde(borrow, default, deserialize_with = "optional_text")]
    pub status: Text<'a>,
    #[serde(borrow, default, deserialize_with = "optional_text")]
    pub error_type: Text<'a>,
    pub metrics: ReportMetrics,
    #[serde(default)]
    pub spans: ReportSpans,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogsDropped<'a> {
    #[serde(borrow, default, deserialize_with = "optional_text")]
    pub reason: Text<'a>,
    #[serde(default)]
    pub dropped_records: f64,
    #[serde(default)]
    pub dropped_bytes: f64,
}

impl LogsDropped<'_> {
    /// Checks the counts against [`bounds::COUNT`].
    pub fn check(&mut self, refused: Refused<'_>) {
        required(
            &mut self.dropped_records,
            "droppedRecords",
            bounds::COUNT,
            refused,
        );
        required(&mut self.dropped_bytes, "droppedBytes", bounds::COUNT, refused);
    }
}
