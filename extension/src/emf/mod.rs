//! CloudWatch Embedded Metric Format: turns [`MetricRecord`]s into EMF documents (one JSON
//! object per line), within the specification's limits.
//!
//! Limits kept: at most 100 metrics per directive (larger records are split into several
//! documents), at most [`MAX_DIMENSION_KEYS`] keys per dimension set (the configuration refuses
//! larger sets), dimension values of 1 to 1024 characters, at most 100 values per metric (see
//! [`Batcher`]), lines of at most [`MAX_DOCUMENT_BYTES`], finite numbers only (a non-finite value
//! is dropped and counted). Property names never shadow a dimension or a metric.
//!
//! Under Lambda's JSON log format every document also carries a top-level `"level"` member
//! ([`EmfConfig::level`]): Lambda's level filter then keeps the line (see that field).

mod batch;
mod json;
mod slowest;

use std::cell::Cell;

pub(crate) use batch::{Aggregate, Batcher};
pub(crate) use slowest::Slowest;

use crate::metrics::{DimensionValue as Dimension, MetricDef, MetricRecord, PropertyValue};

const MAX_METRICS_PER_DIRECTIVE: usize = 100;
/// CloudWatch's limit of keys in one dimension set (the configuration keeps sets within it).
pub(crate) const MAX_DIMENSION_KEYS: usize = 30;
const MAX_DIMENSION_VALUE_CHARS: usize = 1024;
const MAX_VALUES_PER_METRIC: usize = 100;
/// The longest line written, in bytes. A cut EMF document is lost (the EMF specification needs
/// each log event to be one whole JSON object, class a), and Lambda may cut a long stdout line
/// into several log events: reported at 64 KiB and at 256 KiB - 26 bytes (class c), and AWS's
/// emulator stops relaying after a line over 64 KiB (class b, `rapid`'s log scanner). Half the
/// lowest of those leaves room for whatever Lambda adds to a line. A document over it is split
/// by its metrics, as a directive over 100 metrics is; a document of one metric that is still
/// over it leaves its properties out (the metric is what must arrive).
pub(crate) const MAX_DOCUMENT_BYTES: usize = 32 * 1024;
/// The member Lambda's JSON log format reads a line's level from (class a, "Log-level
/// filtering").
pub(crate) const LEVEL_MEMBER: &str = "level";
/// The member that holds the metadata; nothing else may take its name.
const AWS_MEMBER: &str = "_aws";

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EmfConfig {
    pub(crate) namespace: String,
    /// Each set is a list of 1 to [`MAX_DIMENSION_KEYS`] dimension keys; a record gets every
    /// set whose keys all have values.
    pub(crate) dimension_sets: Vec<Vec<String>>,
    /// Dimension values that are the same for every record (e.g. `FunctionName`).
    pub(crate) static_dimensions: Vec<(String, String)>,
    /// `StorageResolution: 1` on every metric (high-resolution custom metrics).
    pub(crate) high_resolution: bool,
    /// Under Lambda's JSON log format, the level every document carries as a top-level
    /// `"level"` member (`INFO`, `WARN`, ...): Lambda gives a line without a valid level INFO and
    /// drops lines below the function's application log level (class a, for function logs;
    /// assumed for an extension's lines, class d). The configuration chooses the level (see
    /// `config::LambdaLevel`). `None` under the Text format, where no filter applies: no bytes
    /// are added.
    pub(crate) level: Option<&'static str>,
}

/// What encoding wrote, and what it had to leave out.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EncodeStats {
    pub(crate) documents: u64,
    pub(crate) non_finite_dropped: u64,
}

/// One metric's member: a number, an array of numbers, or the `Values`/`Counts` form. Arrays
/// may hold non-finite values: they are left out as the member is written.
#[derive(Debug, Clone, Copy)]
enum Sample<'a> {
    One(f64),
    Many(&'a [f64]),
    Counted(&'a [(f64, u64)]),
}

/// A property member (searchable with Logs Insights, neither a dimension nor a metric).
#[derive(Debug, Clone, Copy)]
enum Property<'a> {
    Text(&'a str),
    /// Left out when not finite.
    Number(f64),
    Count(u64),
    Texts(&'a [String]),
}

impl Property<'_> {
    fn is_writable(&self) -> bool {
        match self {
            Self::Number(n) => n.is_finite(),
            _ => true,
        }
    }
}

/// Writes EMF documents straight into text: no JSON values are built. The layout of a
/// document: `_aws` (timestamp and the one directive: namespace, dimension sets, metric
/// definitions), then the dimension values, the metric values and the properties.
#[derive(Debug, Clone)]
pub(crate) struct EmfEncoder {
    config: EmfConfig,
    /// The length of the last document, to size the next one's buffer in one allocation.
    last_length: Cell<usize>,
}

impl EmfEncoder {
    pub(crate) fn new(config: EmfConfig) -> Self {
        Self {
            config,
            last_length: Cell::new(1024),
        }
    }

    /// Appends the EMF documents of `record` (one line each, no newline) to `out`.
    pub(crate) fn encode(&self, record: &MetricRecord, out: &mut Vec<String>) -> EncodeStats {
        let mut stats = EncodeStats::default();
        let values: Vec<(&'static MetricDef, Sample<'_>)> = record
            .values
            .iter()
            .filter_map(|(def, v)| finite(*v, &mut stats).map(|v| (*def, Sample::One(v))))
            .collect();
        let properties = record.properties.iter().map(|(key, value)| {
            let value = match value {
                PropertyValue::Text(t) => Property::Text(t.as_str()),
                PropertyValue::Number(n) => Property::Number(*n),
            };
            (*key, value)
        });
        self.write(
            record.timestamp_ms,
            &record.dimensions,
            values,
            properties,
            out,
            &mut stats,
        );
        stats
    }

    /// Appends the documents of a batch: each metric's values as an array (or in the
    /// `Values`/`Counts` form).
    pub(crate) fn encode_batch(&self, batch: &Aggregate, out: &mut Vec<String>) -> EncodeStats {
        let mut stats = EncodeStats::default();
        let values = batch.values(&mut stats);
        self.write(
            batch.timestamp_ms(),
            batch.dimensions(),
            values,
            batch.properties(),
            out,
            &mut stats,
        );
        stats
    }

    fn write<'k, 'a, P>(
        &self,
        timestamp_ms: i64,
        record_dimensions: &[(&'static str, Dimension)],
        mut values: Vec<(&'static MetricDef, Sample<'_>)>,
        properties: P,
        out: &mut Vec<String>,
        stats: &mut EncodeStats,
    ) where
        P: Iterator<Item = (&'k str, Property<'a>)> + Clone,
    {
        if values.is_empty() {
            return;
        }
        let dimensions = self.dimension_values(record_dimensions);
        // A metric named like a dimension of this document (`MemorySize` chosen as a dimension)
        // would overwrite the dimension's member: the dimension wins (the configuration says so
        // in a warning at start-up). A metric given twice keeps its first value: one member
        // cannot hold two.
        let mut seen: Vec<&'static str> = Vec::with_capacity(values.len());
        values.retain(|(def, _)| {
            let keep = !has_key(&dimensions, def.name) && !seen.contains(&def.name);
            seen.push(def.name);
            keep
        });
        if values.is_empty() {
            return;
        }
        let mut pending: Vec<&[(&'static MetricDef, Sample<'_>)]> =
            values.chunks(MAX_METRICS_PER_DIRECTIVE).rev().collect();
        while let Some(chunk) = pending.pop() {
            let mut doc = self.document(timestamp_ms, &dimensions, chunk, properties.clone());
            // Keep every line whole through Lambda's log pipe: halve the metrics of a document
            // that is too long (long arrays of long numbers, long property texts); one metric
            // still too long goes without its properties. Only dimensions are then left, and
            // their values come from the environment's variables (4 KB in all, class a) and
            // short built-in values.
            if doc.len() > MAX_DOCUMENT_BYTES {
                if chunk.len() > 1 {
                    let (a, b) = chunk.split_at(chunk.len() / 2);
                    pending.push(b);
                    pending.push(a);
                    continue;
                }
                doc = self.document(timestamp_ms, &dimensions, chunk, std::iter::empty());
            }
            self.last_length.set(doc.len());
            out.push(doc);
            stats.documents += 1;
        }
    }

    fn document<'k, 'a>(
        &self,
        timestamp_ms: i64,
        dimensions: &[(&str, &str)],
        chunk: &[(&'static MetricDef, Sample<'_>)],
        properties: impl Iterator<Item = (&'k str, Property<'a>)> + Clone,
    ) -> String {
        let mut doc = String::with_capacity(self.last_length.get().saturating_add(256));
        doc.push_str(r#"{"_aws":{"Timestamp":"#);
        json::int(&mut doc, timestamp_ms);
        doc.push_str(r#","CloudWatchMetrics":[{"Namespace":"#);
        json::string(&mut doc, &self.config.namespace);
        doc.push_str(r#","Dimensions":"#);
        self.dimension_sets(&mut doc, dimensions);
        doc.push_str(r#","Metrics":["#);
        for (i, (def, _)) in chunk.iter().enumerate() {
            if i > 0 {
                doc.push(',');
            }
            doc.push_str(r#"{"Name":"#);
            json::string(&mut doc, def.name);
            doc.push_str(r#","Unit":"#);
            json::string(&mut doc, def.unit.as_str());
            if self.config.high_resolution {
                doc.push_str(r#","StorageResolution":1"#);
            }
            doc.push('}');
        }
        doc.push_str("]}]}");
        for (key, value) in dimensions {
            member(&mut doc, key);
            json::string(&mut doc, value);
        }
        for (def, sample) in chunk {
            member(&mut doc, def.name);
            write_sample(&mut doc, *sample);
        }
        let level = self.config.level;
        let taken = |key: &str| {
            key == AWS_MEMBER
                || (level.is_some() && key == LEVEL_MEMBER)
                || has_key(dimensions, key)
                || chunk.iter().any(|(def, _)| def.name == key)
        };
        // The first writable property of a name wins; one named like a dimension or a metric
        // of this document is left out.
        for (i, (key, value)) in properties.clone().enumerate() {
            if !value.is_writable()
                || taken(key)
                || properties
                    .clone()
                    .take(i)
                    .any(|(k, v)| k == key && v.is_writable())
            {
                continue;
            }
            member(&mut doc, key);
            write_property(&mut doc, value);
        }
        if let Some(level) = level {
            member(&mut doc, LEVEL_MEMBER);
            json::string(&mut doc, level);
        }
        doc.push('}');
        doc
    }

    /// Each configured set, cut down to the keys this document has values for (an environment
    /// document has no `ColdStart`), without repeats.
    fn dimension_sets(&self, doc: &mut String, dimensions: &[(&str, &str)]) {
        fn present<'s>(
            set: &'s [String],
            dimensions: &'s [(&str, &str)],
        ) -> impl Iterator<Item = &'s str> + 's {
            set.iter().map(String::as_str).filter(|k| has_key(dimensions, k))
        }
        let sets = &self.config.dimension_sets;
        doc.push('[');
        let mut first = true;
        for (i, set) in sets.iter().enumerate() {
            if present(set, dimensions).next().is_none()
                || sets
                    .iter()
                    .take(i)
                    .any(|earlier| present(earlier, dimensions).eq(present(set, dimensions)))
            {
                continue;
            }
            if !first {
                doc.push(',');
            }
            first = false;
            doc.push('[');
            for (j, key) in present(set, dimensions).enumerate() {
                if j > 0 {
                    doc.push(',');
                }
                json::string(doc, key);
            }
            doc.push(']');
        }
        doc.push(']');
    }

    /// Static dimensions, then the record's own (a later value of a key replaces an earlier
    /// one); values cut to CloudWatch's 1024 characters, empty values left out (a set that
    /// needs them is then not used).
    fn dimension_values<'a>(
        &'a self,
        record_dimensions: &'a [(&'static str, Dimension)],
    ) -> Vec<(&'a str, &'a str)> {
        let mut dims: Vec<(&str, &str)> =
            Vec::with_capacity(self.config.static_dimensions.len() + record_dimensions.len());
        let statics = self
            .config
            .static_dimensions
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()));
        let own = record_dimensions.iter().map(|(k, v)| (*k, v.as_ref()));
        for (key, value) in statics.chain(own) {
            // The configuration refuses these keys; `level` would take the level's place.
            if value.is_empty() || key == AWS_MEMBER || (self.config.level.is_some() && key == LEVEL_MEMBER) {
                continue;
            }
            let value = match value.char_indices().nth(MAX_DIMENSION_VALUE_CHARS) {
                Some((end, _)) => value.get(..end).unwrap_or(value),
                None => value,
            };
            match dims.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = value,
                None => dims.push((key, value)),
            }
        }
        dims
    }
}

fn has_key(dimensions: &[(&str, &str)], key: &str) -> bool {
    dimensions.iter().any(|(k, _)| *k == key)
}

/// `,"key":` (the document's first member, `_aws`, is always written before).
fn member(doc: &mut String, key: &str) {
    doc.push(',');
    json::string(doc, key);
    doc.push(':');
}

fn write_sample(doc: &mut String, sample: Sample<'_>) {
    match sample {
        Sample::One(v) => json::float(doc, v),
        Sample::Many(values) => floats(doc, values.iter().copied()),
        Sample::Counted(pairs) => {
            let finite = || pairs.iter().filter(|(v, _)| v.is_finite());
            doc.push_str(r#"{"Values":"#);
            floats(doc, finite().map(|(v, _)| *v));
            doc.push_str(r#","Counts":["#);
            for (i, (_, count)) in finite().enumerate() {
                if i > 0 {
                    doc.push(',');
                }
                json::uint(doc, *count);
            }
            doc.push_str("]}");
        }
    }
}

/// An array of the finite values.
fn floats(doc: &mut String, values: impl Iterator<Item = f64>) {
    doc.push('[');
    for (i, v) in values.filter(|v| v.is_finite()).enumerate() {
        if i > 0 {
            doc.push(',');
        }
        json::float(doc, v);
    }
    doc.push(']');
}

fn write_property(doc: &mut String, value: Property<'_>) {
    match value {
        Property::Text(t) => json::string(doc, t),
        Property::Number(n) => json::float(doc, n),
        Property::Count(c) => json::uint(doc, c),
        Property::Texts(texts) => {
            doc.push('[');
            for (i, t) in texts.iter().enumerate() {
                if i > 0 {
                    doc.push(',');
                }
                json::string(doc, t);
            }
            doc.push(']');
        }
    }
}

fn finite(v: f64, stats: &mut EncodeStats) -> Option<f64> {
    if v.is_finite() {
        Some(v)
    } else {
        stats.non_finite_dropped += 1;
        None
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod reference;
