//! CloudWatch Embedded Metric Format: turns [`MetricRecord`]s into EMF documents (one JSON
//! object per line), within the specification's limits.
//!
//! Limits kept: at most 100 metrics per directive (larger records are split into several
//! documents), at most [`MAX_DIMENSION_KEYS`] keys per dimension set (the configuration refuses
//! larger sets), dimension values of 1 to 1024 characters, at most 100 values per metric (see [`Batcher`]), documents
//! under 256 KiB, finite numbers only (a non-finite value is dropped and counted). Property
//! names never shadow a dimension or a metric.

mod batch;
mod slowest;

use serde_json::{Map, Value, json};

pub(crate) use batch::{Aggregate, Batcher};
pub(crate) use slowest::Slowest;

use crate::metrics::{MetricDef, MetricRecord, PropertyValue};

const MAX_METRICS_PER_DIRECTIVE: usize = 100;
/// CloudWatch's limit of keys in one dimension set (the configuration keeps sets within it).
pub(crate) const MAX_DIMENSION_KEYS: usize = 30;
const MAX_DIMENSION_VALUE_CHARS: usize = 1024;
const MAX_VALUES_PER_METRIC: usize = 100;
/// Documents are kept under this size: a quarter of the CloudWatch Logs event limit (1 MB,
/// 256 KB in older documents), so a whole batch never comes near it.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

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
}

/// What encoding wrote, and what it had to leave out.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EncodeStats {
    pub(crate) documents: u64,
    pub(crate) non_finite_dropped: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct EmfEncoder {
    config: EmfConfig,
}

impl EmfEncoder {
    pub(crate) fn new(config: EmfConfig) -> Self {
        Self { config }
    }

    /// Appends the EMF documents of `record` (one line each, no newline) to `out`.
    pub(crate) fn encode(&self, record: &MetricRecord, out: &mut Vec<String>) -> EncodeStats {
        let mut stats = EncodeStats::default();
        let values: Vec<(&'static MetricDef, Value)> = record
            .values
            .iter()
            .filter_map(|(def, v)| finite(*v, &mut stats).map(|v| (*def, json!(v))))
            .collect();
        let properties = properties(&record.properties);
        self.write(
            record.timestamp_ms,
            &record.dimensions,
            values,
            &properties,
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
        let properties = batch.properties();
        self.write(
            batch.timestamp_ms(),
            batch.dimensions(),
            values,
            &properties,
            out,
            &mut stats,
        );
        stats
    }

    fn write(
        &self,
        timestamp_ms: i64,
        record_dimensions: &[(&'static str, String)],
        values: Vec<(&'static MetricDef, Value)>,
        properties: &Map<String, Value>,
        out: &mut Vec<String>,
        stats: &mut EncodeStats,
    ) {
        if values.is_empty() {
            return;
        }
        let dimensions = self.dimension_values(record_dimensions);
        // A metric named like a dimension of this document (`MemorySize` chosen as a dimension)
        // would overwrite the dimension's member: the dimension wins (the configuration says so
        // in a warning at start-up). A metric given twice keeps its first value: one member
        // cannot hold two.
        let mut values = values;
        let mut seen: Vec<&'static str> = Vec::with_capacity(values.len());
        values.retain(|(def, _)| {
            let keep = !dimensions.contains_key(def.name) && !seen.contains(&def.name);
            seen.push(def.name);
            keep
        });
        if values.is_empty() {
            return;
        }
        let sets = self.dimension_sets(&dimensions);
        let mut pending: Vec<&[(&'static MetricDef, Value)]> =
            values.chunks(MAX_METRICS_PER_DIRECTIVE).rev().collect();
        while let Some(chunk) = pending.pop() {
            let doc = self.document(timestamp_ms, &dimensions, &sets, chunk, properties);
            // Keep every document well under the CloudWatch Logs event limit: halve the metrics
            // of one that is too large (only possible with long arrays of long numbers).
            if doc.len() > MAX_DOCUMENT_BYTES && chunk.len() > 1 {
                let (a, b) = chunk.split_at(chunk.len() / 2);
                pending.push(b);
                pending.push(a);
                continue;
            }
            out.push(doc);
            stats.documents += 1;
        }
    }

    fn document(
        &self,
        timestamp_ms: i64,
        dimensions: &Map<String, Value>,
        sets: &[Value],
        chunk: &[(&'static MetricDef, Value)],
        properties: &Map<String, Value>,
    ) -> String {
        let mut doc = dimensions.clone();
        let mut defs = Vec::with_capacity(chunk.len());
        for (def, value) in chunk {
            let mut d = Map::new();
            d.insert("Name".into(), Value::from(def.name));
            d.insert("Unit".into(), Value::from(def.unit.as_str()));
            if self.config.high_resolution {
                d.insert("StorageResolution".into(), Value::from(1));
            }
            defs.push(Value::Object(d));
            doc.insert(def.name.into(), value.clone());
        }
        for (key, value) in properties {
            if !doc.contains_key(key) {
                doc.insert(key.clone(), value.clone());
            }
        }
        doc.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": self.config.namespace,
                    "Dimensions": sets,
                    "Metrics": defs,
                }],
            }),
        );
        Value::Object(doc).to_string()
    }

    /// Each configured set, cut down to the keys this document has values for (an environment
    /// document has no `ColdStart`), without repeats.
    fn dimension_sets(&self, dimensions: &Map<String, Value>) -> Vec<Value> {
        let mut sets: Vec<Vec<&str>> = Vec::new();
        for set in &self.config.dimension_sets {
            let keys: Vec<&str> = set
                .iter()
                .map(String::as_str)
                .filter(|k| dimensions.contains_key(*k))
                .collect();
            if !keys.is_empty() && !sets.contains(&keys) {
                sets.push(keys);
            }
        }
        sets.into_iter().map(|s| json!(s)).collect()
    }

    /// Static dimensions, then the record's own; values cut to CloudWatch's 1024 characters,
    /// empty values left out (a set that needs them is then not used).
    fn dimension_values(&self, record_dimensions: &[(&'static str, String)]) -> Map<String, Value> {
        let mut dims = Map::new();
        let statics = self
            .config
            .static_dimensions
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()));
        let own = record_dimensions.iter().map(|(k, v)| (*k, v.as_str()));
        for (key, value) in statics.chain(own) {
            if value.is_empty() {
                continue;
            }
            let value: String = value.chars().take(MAX_DIMENSION_VALUE_CHARS).collect();
            dims.insert(key.to_owned(), Value::from(value));
        }
        dims
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

fn properties(props: &[(&'static str, PropertyValue)]) -> Map<String, Value> {
    let mut map = Map::new();
    for (key, value) in props {
        let v = match value {
            PropertyValue::Text(t) => Value::from(t.as_str()),
            PropertyValue::Number(n) if n.is_finite() => json!(n),
            PropertyValue::Number(_) => continue,
        };
        map.entry((*key).to_owned()).or_insert(v);
    }
    map
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod proptests;
