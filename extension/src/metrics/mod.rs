//! What is measured: the metric catalogue (names, units, groups) and the records of values
//! derived from completed invocations ([`invocation`]) and from events of the environment
//! ([`environment`]: init and restore phases, dropped telemetry, shutdown, the extension's own
//! health). How they are written (EMF) and where (sinks) live elsewhere; adding a metric means
//! an entry of the `catalogue!` list in [`catalogue`], a line where its value is derived, and the
//! generated tables and goldens (docs/architecture.md has the recipe).

use std::sync::Arc;

use crate::model::RequestId;

pub mod catalogue;
pub(crate) mod cost;
pub(crate) mod environment;
mod invocation;
pub(crate) mod selection;

pub(crate) use invocation::{InvocationContext, invocation_record};

/// Dimension keys lambda-lens fills itself. Only these (and the user's static dimensions) can
/// be dimensions: nothing taken from a request, a payload or a log ever becomes one.
pub(crate) const BUILT_IN_DIMENSIONS: &[&str] = &[
    "FunctionName",
    "FunctionVersion",
    "ColdStart",
    "InitType",
    "Architecture",
    "MemorySize",
];

/// Dimension keys taken from a request that a user may ask for in `LAMBDA_LENS_DIMENSIONS`,
/// never by default: `TenantId` (tenant isolation mode). Each value is a custom metric of its
/// own, billed, so the extension warns when one is asked for.
pub(crate) const OPT_IN_DIMENSIONS: &[&str] = &["TenantId"];

/// The architecture this binary (and so the function it runs beside) was built for, as Lambda
/// names it.
pub const ARCHITECTURE: &str = if cfg!(target_arch = "aarch64") {
    "arm64"
} else {
    "x86_64"
};

/// CloudWatch units (the subset lambda-lens uses; names exactly as CloudWatch spells them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unit {
    Count,
    Milliseconds,
    Bytes,
    Megabytes,
    Percent,
    None,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Count => "Count",
            Self::Milliseconds => "Milliseconds",
            Self::Bytes => "Bytes",
            Self::Megabytes => "Megabytes",
            Self::Percent => "Percent",
            Self::None => "None",
        }
    }
}

/// Groups metrics can be switched on and off by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    /// Invocations, errors, timeouts, cold starts, concurrency, durations, init, memory: what
    /// people ask of a function first.
    Core,
    /// The finer breakdown: the runtime's own duration, the extensions' cost after the response,
    /// response spans, response size, configured memory.
    Detail,
    /// CPU, network, disk, file descriptors, threads.
    Resources,
    /// The estimated cost of each invocation.
    Cost,
    /// The extension's own health.
    Extension,
}

impl Group {
    /// The group's name in `LAMBDA_LENS_METRICS`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Core => "core",
            Self::Detail => "detail",
            Self::Resources => "resources",
            Self::Cost => "cost",
            Self::Extension => "extension",
        }
    }

    pub(crate) const ALL: [Self; 5] = [
        Self::Core,
        Self::Detail,
        Self::Resources,
        Self::Cost,
        Self::Extension,
    ];
}

/// One metric of the catalogue.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct MetricDef {
    /// Its place in [`catalogue::ALL`]: a selection is a bit set of these, and a record's
    /// values are checked against it for every invocation (a search of the catalogue was ~20
    /// comparisons per value).
    pub index: u8,
    pub name: &'static str,
    pub unit: Unit,
    pub group: Group,
    /// One line for the metric table of `docs/metrics.md`: where the value comes from and what
    /// it means.
    pub about: &'static str,
}

/// A per-record dimension value: `ColdStart`'s `"true"` / `"false"` without an allocation.
pub(crate) type DimensionValue = std::borrow::Cow<'static, str>;

/// A property value: searchable with Logs Insights, never a dimension.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PropertyValue {
    Text(Text),
    Number(f64),
}

/// A text property's value, without a copy per record where none is needed: fixed texts,
/// facts of the environment shared by every record, or an invocation's own text moved in.
#[derive(Debug, Clone)]
pub(crate) enum Text {
    Static(&'static str),
    Shared(Arc<str>),
    Owned(String),
    /// An invocation's request id, moved in.
    Id(RequestId),
}

impl Text {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Self::Static(s) => s,
            Self::Shared(s) => s,
            Self::Owned(s) => s,
            Self::Id(id) => id.as_str(),
        }
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Self {
        Self::Owned(s.to_owned())
    }
}

/// What a record is about: one invocation (batched output may merge many of them into one
/// document), or an event of the environment (always a document of its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecordKind {
    Invocation,
    Environment,
}

/// Values observed at one moment for one invocation (or one environment event).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MetricRecord {
    pub(crate) kind: RecordKind,
    /// An invocation someone will want to find by its request id: it failed, timed out, ran out
    /// of memory, was a cold start, or its events were cut short. The adaptive output gives it
    /// a document of its own.
    pub(crate) notable: bool,
    /// Epoch milliseconds: when the platform says it happened, not when it was written.
    pub(crate) timestamp_ms: i64,
    pub(crate) values: Vec<(&'static MetricDef, f64)>,
    /// Low-cardinality dimension values that vary per record (e.g. `ColdStart`).
    pub(crate) dimensions: Vec<(&'static str, DimensionValue)>,
    pub(crate) properties: Vec<(&'static str, PropertyValue)>,
}

impl MetricRecord {
    pub(crate) fn new(kind: RecordKind, timestamp_ms: i64) -> Self {
        Self::with_capacity(kind, timestamp_ms, 0, 0)
    }

    /// A record with room for `values` values and `properties` properties (one allocation each
    /// instead of one per doubling).
    pub(crate) fn with_capacity(
        kind: RecordKind,
        timestamp_ms: i64,
        values: usize,
        properties: usize,
    ) -> Self {
        Self {
            kind,
            notable: false,
            timestamp_ms,
            values: Vec::with_capacity(values),
            dimensions: Vec::new(),
            properties: Vec::with_capacity(properties),
        }
    }

    /// The record emptied for another of `kind` at `timestamp_ms`, its vectors' room kept (an
    /// invocation's record is made in the room of the one before it).
    pub(crate) fn reuse(mut self, kind: RecordKind, timestamp_ms: i64) -> Self {
        self.values.clear();
        self.dimensions.clear();
        self.properties.clear();
        Self {
            kind,
            notable: false,
            timestamp_ms,
            ..self
        }
    }

    pub(crate) fn value(&mut self, def: &'static MetricDef, value: f64) {
        self.values.push((def, value));
    }

    pub(crate) fn maybe(&mut self, def: &'static MetricDef, value: Option<f64>) {
        if let Some(v) = value {
            self.value(def, v);
        }
    }

    pub(crate) fn text(&mut self, key: &'static str, value: Option<&str>) {
        if let Some(v) = value {
            self.properties.push((key, PropertyValue::Text(v.into())));
        }
    }

    /// A text property without a copy (see [`Text`]).
    pub(crate) fn text_as(&mut self, key: &'static str, value: Option<Text>) {
        if let Some(v) = value {
            self.properties.push((key, PropertyValue::Text(v)));
        }
    }

    pub(crate) fn property_text(&self, key: &str) -> Option<&str> {
        self.properties.iter().find_map(|(k, v)| match v {
            PropertyValue::Text(t) if *k == key => Some(t.as_str()),
            _ => None,
        })
    }

    /// Keeps the selected metrics as metrics. On an invocation record the values of the other
    /// metrics become properties of the same name (searchable with Logs Insights, never billed
    /// as custom metrics); an environment record drops them.
    pub(crate) fn select(&mut self, selection: &selection::Selection) {
        let invocation = self.kind == RecordKind::Invocation;
        let properties = &mut self.properties;
        self.values.retain(|(def, v)| {
            let keep = selection.contains(def);
            if !keep && invocation {
                properties.push((def.name, PropertyValue::Number(*v)));
            }
            keep
        });
    }

    /// The value of a metric, whether selected or not (before [`MetricRecord::select`]).
    pub(crate) fn value_of(&self, def: &MetricDef) -> Option<f64> {
        self.values
            .iter()
            .find(|(d, _)| std::ptr::eq(*d, def))
            .map(|(_, v)| *v)
    }

    #[cfg(test)]
    pub(crate) fn get(&self, name: &str) -> Option<f64> {
        self.values.iter().find(|(d, _)| d.name == name).map(|(_, v)| *v)
    }
}
