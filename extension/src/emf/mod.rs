//! CloudWatch Embedded Metric Format: turns [`MetricRecord`]s into EMF documents (one JSON
//! object per line), within the specification's limits.
//!
//! Limits kept: at most 100 metrics per directive (larger records are split into several
//! documents), at most 30 keys per dimension set (checked when the encoder is built), dimension
//! values of 1 to 1024 characters, finite numbers only (a non-finite value is dropped and
//! counted). Property names never shadow a dimension or a metric.

use serde_json::{Map, Value, json};

use crate::metrics::{MetricRecord, PropertyValue};

pub const MAX_METRICS_PER_DIRECTIVE: usize = 100;
pub const MAX_DIMENSION_KEYS: usize = 30;
pub const MAX_DIMENSION_VALUE_CHARS: usize = 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EmfConfigError {
    #[error("dimension set {set:?} has {len} keys; CloudWatch accepts at most 30 per set")]
    TooManyKeys { set: Vec<String>, len: usize },
    #[error("a dimension set is empty; name at least one dimension key")]
    EmptySet,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EmfConfig {
    pub namespace: String,
    /// Each set is a list of dimension keys; a record gets every set whose keys all have values.
    pub dimension_sets: Vec<Vec<String>>,
    /// Dimension values that are the same for every record (e.g. `FunctionName`).
    pub static_dimensions: Vec<(String, String)>,
    /// `StorageResolution: 1` on every metric (high-resolution custom metrics).
    pub high_resolution: bool,
}

/// Counters of what encoding had to leave out.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct EncodeStats {
    pub documents: u64,
    pub non_finite_dropped: u64,
}

#[derive(Debug, Clone)]
pub struct EmfEncoder {
    config: EmfConfig,
}

impl EmfEncoder {
    pub fn new(config: EmfConfig) -> Result<Self, EmfConfigError> {
        for set in &config.dimension_sets {
            if set.is_empty() {
                return Err(EmfConfigError::EmptySet);
            }
            if set.len() > MAX_DIMENSION_KEYS {
                return Err(EmfConfigError::TooManyKeys {
                    set: set.clone(),
                    len: set.len(),
                });
            }
        }
        Ok(Self { config })
    }

    pub fn config(&self) -> &EmfConfig {
        &self.config
    }

    /// Appends the EMF documents of `record` (one line each, no newline) to `out`.
    pub fn encode(&self, record: &MetricRecord, out: &mut Vec<String>) -> EncodeStats {
        let mut stats = EncodeStats::default();
        let values: Vec<_> = record
            .values
            .iter()
            .filter(|(_, v)| {
                let keep = v.is_finite();
                if !keep {
                    stats.non_finite_dropped += 1;
                }
                keep
            })
            .collect();
        if values.is_empty() {
            return stats;
        }

        let dimensions = self.dimension_values(record);
        let sets: Vec<Value> = self
            .config
            .dimension_sets
            .iter()
            .filter(|set| set.iter().all(|k| dimensions.contains_key(k.as_str())))
            .map(|set| json!(set))
            .collect();

        for chunk in values.chunks(MAX_METRICS_PER_DIRECTIVE) {
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
                doc.insert(def.name.into(), json!(value));
            }
            for (key, value) in &record.properties {
                if doc.contains_key(*key) {
                    continue;
                }
                let v = match value {
                    PropertyValue::Text(t) => Value::from(t.as_str()),
                    PropertyValue::Bool(b) => Value::from(*b),
                    PropertyValue::Number(n) if n.is_finite() => json!(n),
                    PropertyValue::Number(_) => continue,
                };
                doc.insert((*key).into(), v);
            }
            doc.insert(
                "_aws".into(),
                json!({
                    "Timestamp": record.timestamp_ms,
                    "CloudWatchMetrics": [{
                        "Namespace": self.config.namespace,
                        "Dimensions": sets,
                        "Metrics": defs,
                    }],
                }),
            );
            out.push(Value::Object(doc).to_string());
            stats.documents += 1;
        }
        stats
    }

    /// Static dimensions, then the record's own; values cut to CloudWatch's 1024 characters,
    /// empty values left out (a set that needs them is then not used).
    fn dimension_values(&self, record: &MetricRecord) -> Map<String, Value> {
        let mut dims = Map::new();
        let statics = self
            .config
            .static_dimensions
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()));
        let own = record.dimensions.iter().map(|(k, v)| (*k, v.as_str()));
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

#[cfg(test)]
mod tests;
