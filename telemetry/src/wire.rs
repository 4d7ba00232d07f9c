//! The Telemetry API's JSON, as serde types that borrow from the request body.
//!
//! Tolerant on purpose: every field the schema lets Lambda leave out is optional and unknown
//! fields are ignored. The measurement structs (`ReportMetrics`, `RuntimeDoneMetrics`,
//! `RuntimeDoneSpans`) own their values and are `Copy`: the extension's model carries them whole,
//! so a new field of a record is declared here once.

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

type Text<'a> = Option<Cow<'a, str>>;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tracing<'a> {
    #[serde(borrow, default)]
    pub span_id: Text<'a>,
    #[serde(rename = "type", borrow, default)]
    pub kind: Text<'a>,
    #[serde(borrow, default)]
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
    #[serde(borrow, default)]
    pub initialization_type: Text<'a>,
    #[serde(borrow, default)]
    pub phase: Text<'a>,
    #[serde(borrow, default)]
    pub runtime_version: Text<'a>,
}

/// `platform.initRuntimeDone`, `platform.restoreRuntimeDone`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhaseDone<'a> {
    #[serde(borrow, default)]
    pub initialization_type: Text<'a>,
    #[serde(borrow, default)]
    pub phase: Text<'a>,
    #[serde(borrow, default)]
    pub status: Text<'a>,
    #[serde(borrow, default)]
    pub error_type: Text<'a>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DurationMetrics {
    pub duration_ms: f64,
}

/// `platform.initReport`, `platform.restoreReport`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhaseReport<'a> {
    #[serde(borrow, default)]
    pub initialization_type: Text<'a>,
    #[serde(borrow, default)]
    pub phase: Text<'a>,
    #[serde(borrow, default)]
    pub status: Text<'a>,
    #[serde(borrow, default)]
    pub error_type: Text<'a>,
    #[serde(default)]
    pub metrics: Option<DurationMetrics>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Start<'a> {
    #[serde(borrow)]
    pub request_id: Cow<'a, str>,
    #[serde(borrow, default)]
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

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeDone<'a> {
    #[serde(borrow)]
    pub request_id: Cow<'a, str>,
    #[serde(borrow, default)]
    pub status: Text<'a>,
    #[serde(borrow, default)]
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

impl<'de> Deserialize<'de> for RuntimeDoneSpans {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SpansVisitor;
        impl<'de> Visitor<'de> for SpansVisitor {
            type Value = RuntimeDoneSpans;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of spans")
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<RuntimeDoneSpans, E> {
                Ok(RuntimeDoneSpans::default())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RuntimeDoneSpans, A::Error> {
                let mut spans = RuntimeDoneSpans::default();
                while let Some(span) = seq.next_element::<Span<'de>>()? {
                    let slot = match span.name.as_ref() {
                        "responseLatency" => &mut spans.response_latency_ms,
                        "responseDuration" => &mut spans.response_duration_ms,
                        "runtimeOverhead" => &mut spans.runtime_overhead_ms,
                        _ => continue,
                    };
                    *slot = span.duration_ms;
                }
                Ok(spans)
            }
        }
        deserializer.deserialize_any(SpansVisitor)
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

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report<'a> {
    #[serde(borrow)]
    pub request_id: Cow<'a, str>,
    #[serde(borrow, default)]
    pub status: Text<'a>,
    #[serde(borrow, default)]
    pub error_type: Text<'a>,
    pub metrics: ReportMetrics,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogsDropped<'a> {
    #[serde(borrow, default)]
    pub reason: Text<'a>,
    #[serde(default)]
    pub dropped_records: f64,
    #[serde(default)]
    pub dropped_bytes: f64,
}
