//! The encoder as it was before it wrote text directly: documents built as `serde_json::Value`
//! maps. Kept for the tests only, as the oracle the direct writer must agree with, value for
//! value, on any record or batch.

use serde_json::{Map, Value, json};

use super::{
    Aggregate, Dimension, EmfConfig, EncodeStats, LEVEL_MEMBER, MAX_DIMENSION_VALUE_CHARS,
    MAX_DOCUMENT_BYTES, MAX_METRICS_PER_DIRECTIVE, Property, Sample, finite,
};
use crate::metrics::{MetricDef, MetricRecord, PropertyValue};

pub(super) fn encode(config: &EmfConfig, record: &MetricRecord) -> (Vec<Value>, EncodeStats) {
    let mut stats = EncodeStats::default();
    let values: Vec<(&'static MetricDef, Value)> = record
        .values
        .iter()
        .filter_map(|(def, v)| finite(*v, &mut stats).map(|v| (*def, json!(v))))
        .collect();
    let mut properties = Map::new();
    for (key, value) in &record.properties {
        let v = match value {
            PropertyValue::Text(t) => Value::from(t.as_str()),
            PropertyValue::Number(n) if n.is_finite() => json!(n),
            PropertyValue::Number(_) => continue,
        };
        properties.entry((*key).to_owned()).or_insert(v);
    }
    let docs = write(
        config,
        record.timestamp_ms,
        &record.dimensions,
        values,
        &properties,
        &mut stats,
    );
    (docs, stats)
}

pub(super) fn encode_batch(config: &EmfConfig, batch: &Aggregate) -> (Vec<Value>, EncodeStats) {
    let mut stats = EncodeStats::default();
    let values = batch
        .values(&mut stats)
        .into_iter()
        .map(|(def, sample)| {
            let value = match sample {
                Sample::One(v) => json!(v),
                Sample::Many(v) => json!(v.iter().filter(|v| v.is_finite()).collect::<Vec<_>>()),
                Sample::Counted(vc) => {
                    let (values, counts): (Vec<f64>, Vec<u64>) =
                        vc.iter().filter(|(v, _)| v.is_finite()).copied().unzip();
                    json!({"Values": values, "Counts": counts})
                }
            };
            (def, value)
        })
        .collect();
    let mut properties = Map::new();
    for (key, value) in batch.properties() {
        let v = match value {
            Property::Text(t) => json!(t),
            Property::Number(n) => json!(n),
            Property::Count(c) => json!(c),
            Property::Texts(t) => json!(t),
        };
        properties.insert(key.to_owned(), v);
    }
    let docs = write(
        config,
        batch.timestamp_ms(),
        batch.dimensions(),
        values,
        &properties,
        &mut stats,
    );
    (docs, stats)
}

fn write(
    config: &EmfConfig,
    timestamp_ms: i64,
    record_dimensions: &[(&'static str, Dimension)],
    mut values: Vec<(&'static MetricDef, Value)>,
    properties: &Map<String, Value>,
    stats: &mut EncodeStats,
) -> Vec<Value> {
    let mut out = Vec::new();
    let mut dimensions = Map::new();
    let statics = config
        .static_dimensions
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()));
    let own = record_dimensions.iter().map(|(k, v)| (*k, v.as_ref()));
    for (key, value) in statics.chain(own) {
        if value.is_empty() || (config.level.is_some() && key == LEVEL_MEMBER) {
            continue;
        }
        let value: String = value.chars().take(MAX_DIMENSION_VALUE_CHARS).collect();
        dimensions.insert(key.to_owned(), Value::from(value));
    }
    let mut seen: Vec<&'static str> = Vec::new();
    values.retain(|(def, _)| {
        let keep = !dimensions.contains_key(def.name) && !seen.contains(&def.name);
        seen.push(def.name);
        keep
    });
    if values.is_empty() {
        return out;
    }
    let mut sets: Vec<Vec<&str>> = Vec::new();
    for set in &config.dimension_sets {
        let keys: Vec<&str> = set
            .iter()
            .map(String::as_str)
            .filter(|k| dimensions.contains_key(*k))
            .collect();
        if !keys.is_empty() && !sets.contains(&keys) {
            sets.push(keys);
        }
    }
    let mut pending: Vec<&[(&'static MetricDef, Value)]> =
        values.chunks(MAX_METRICS_PER_DIRECTIVE).rev().collect();
    let document = |chunk: &[(&'static MetricDef, Value)], properties: &Map<String, Value>| {
        let mut doc = dimensions.clone();
        let mut defs = Vec::new();
        for (def, value) in chunk {
            let mut d = Map::new();
            d.insert("Name".into(), Value::from(def.name));
            d.insert("Unit".into(), Value::from(def.unit.as_str()));
            if config.high_resolution {
                d.insert("StorageResolution".into(), Value::from(1));
            }
            defs.push(Value::Object(d));
            doc.insert(def.name.into(), value.clone());
        }
        for (key, value) in properties {
            let level_taken = config.level.is_some() && key == LEVEL_MEMBER;
            if !level_taken && !doc.contains_key(key) {
                doc.insert(key.clone(), value.clone());
            }
        }
        if let Some(level) = config.level {
            doc.insert(LEVEL_MEMBER.into(), Value::from(level));
        }
        doc.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": config.namespace,
                    "Dimensions": sets,
                    "Metrics": defs,
                }],
            }),
        );
        Value::Object(doc)
    };
    while let Some(chunk) = pending.pop() {
        let mut doc = document(chunk, properties);
        if doc.to_string().len() > MAX_DOCUMENT_BYTES {
            if chunk.len() > 1 {
                let (a, b) = chunk.split_at(chunk.len() / 2);
                pending.push(b);
                pending.push(a);
                continue;
            }
            doc = document(chunk, &Map::new());
        }
        out.push(doc);
        stats.documents += 1;
    }
    out
}
