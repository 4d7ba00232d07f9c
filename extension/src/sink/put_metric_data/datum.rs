//! EMF documents read as PutMetricData takes them, and packed into requests within the API's
//! limits. Pure: no I/O, no SDK types.
//!
//! A request is made of whole documents where it can be: if it fails for good, those documents
//! are written to stdout as they are (properties included). A document too large for one
//! request alone is cut into parts, and the fallback of a part is a plain EMF document of its
//! own values, so that no value is ever both sent and written.

use serde_json::{Map, Value, json};

/// PutMetricData: metric data per request.
pub(crate) const MAX_DATA_PER_REQUEST: usize = 1_000;
/// PutMetricData: 1 MB per request. Requests are cut well below it by an estimate of their
/// encoded size that errs on the large side.
pub(crate) const MAX_REQUEST_BYTES: usize = 900_000;
/// PutMetricData: distinct values per datum (`Values` with `Counts`).
pub(crate) const MAX_VALUES_PER_DATUM: usize = 150;
/// PutMetricData: dimensions per datum.
pub(crate) const MAX_DIMENSIONS: usize = 30;
/// CloudWatch takes data points up to two weeks old and up to two hours ahead.
const OLDEST_MS: i64 = 14 * 24 * 3_600_000;
const NEWEST_MS: i64 = 2 * 3_600_000;
/// EMF: values per metric array, for fallback documents made from parts.
const EMF_MAX_VALUES: usize = 100;

/// One PutMetricData metric datum.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Datum {
    pub(crate) name: String,
    pub(crate) unit: Option<String>,
    pub(crate) dimensions: Vec<(String, String)>,
    /// Distinct values, and how often each occurred.
    pub(crate) values: Vec<f64>,
    pub(crate) counts: Vec<f64>,
    pub(crate) timestamp_ms: i64,
    /// 1 (high resolution) or 60; `None` leaves CloudWatch's default (60).
    pub(crate) storage_resolution: Option<i32>,
}

impl Datum {
    /// Data points it carries (each value as often as counted).
    pub(crate) fn points(&self) -> u64 {
        self.counts.iter().map(|c| *c as u64).sum()
    }

    /// An upper estimate of its encoded size in a request.
    fn encoded_bytes(&self) -> usize {
        96 + self.name.len()
            + self.unit.as_ref().map_or(0, String::len)
            + self
                .dimensions
                .iter()
                .map(|(k, v)| 24 + k.len() + v.len())
                .sum::<usize>()
            + 18 * self.values.len()
    }
}

/// One EMF document: its text, and its data by namespace. `None` when it is not an EMF
/// document this sink can read (it is then written to stdout as it is).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Document {
    pub(crate) text: String,
    pub(crate) data: Vec<(String, Datum)>,
    /// The document's `"level"` member (Lambda's JSON log format), which EMF written in its
    /// place must carry too, or Lambda's level filter drops it.
    pub(crate) level: Option<String>,
}

fn number(v: &Value) -> Option<f64> {
    v.as_f64().filter(|f| f.is_finite())
}

/// The values of a metric member: a number, an array of numbers, or `{"Values", "Counts"}`;
/// as distinct values with counts, in order of first appearance.
fn values_of(member: &Value) -> Option<(Vec<f64>, Vec<f64>)> {
    let pairs: Vec<(f64, f64)> = match member {
        Value::Number(_) => vec![(number(member)?, 1.0)],
        Value::Array(items) => items.iter().filter_map(number).map(|v| (v, 1.0)).collect(),
        Value::Object(o) => {
            let values = o.get("Values")?.as_array()?;
            let counts = o.get("Counts").and_then(Value::as_array);
            values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| {
                    let count = match counts {
                        Some(c) => number(c.get(i)?)?,
                        None => 1.0,
                    };
                    Some((number(v)?, count))
                })
                .filter(|(_, c)| *c > 0.0)
                .collect()
        }
        _ => return None,
    };
    let mut values: Vec<f64> = Vec::new();
    let mut counts: Vec<f64> = Vec::new();
    for (v, c) in pairs {
        match values.iter().position(|x| x.to_bits() == v.to_bits()) {
            Some(i) => {
                if let Some(n) = counts.get_mut(i) {
                    *n += c;
                }
            }
            None => {
                values.push(v);
                counts.push(c);
            }
        }
    }
    (!values.is_empty()).then_some((values, counts))
}

/// Reads an EMF document's metric data: every metric of every directive, once per dimension
/// set. `now_ms` stands in for a timestamp CloudWatch would refuse.
pub(crate) fn read(text: String, now_ms: i64) -> Option<Document> {
    let doc: Map<String, Value> = serde_json::from_str(&text).ok()?;
    let aws = doc.get("_aws")?.as_object()?;
    let stamp = aws.get("Timestamp").and_then(Value::as_i64).unwrap_or(now_ms);
    let timestamp_ms = if (now_ms - OLDEST_MS..=now_ms + NEWEST_MS).contains(&stamp) {
        stamp
    } else {
        now_ms
    };
    let mut data = Vec::new();
    for directive in aws.get("CloudWatchMetrics")?.as_array()? {
        let namespace = directive.get("Namespace")?.as_str()?;
        let sets: Vec<Vec<(String, String)>> = match directive.get("Dimensions").and_then(Value::as_array) {
            Some(sets) => sets
                .iter()
                .filter_map(Value::as_array)
                .map(|keys| {
                    keys.iter()
                        .filter_map(Value::as_str)
                        .filter_map(|k| Some((k.to_owned(), doc.get(k)?.as_str()?.to_owned())))
                        .take(MAX_DIMENSIONS)
                        .collect()
                })
                .collect(),
            None => Vec::new(),
        };
        let sets = if sets.is_empty() { vec![Vec::new()] } else { sets };
        for metric in directive
            .get("Metrics")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(name) = metric.get("Name").and_then(Value::as_str) else {
                continue;
            };
            let Some((values, counts)) = doc.get(name).and_then(values_of) else {
                continue;
            };
            let unit = metric.get("Unit").and_then(Value::as_str).map(str::to_owned);
            let storage_resolution = metric
                .get("StorageResolution")
                .and_then(Value::as_i64)
                .and_then(|r| i32::try_from(r).ok())
                .filter(|r| *r == 1 || *r == 60);
            for dimensions in &sets {
                for (values, counts) in values
                    .chunks(MAX_VALUES_PER_DATUM)
                    .zip(counts.chunks(MAX_VALUES_PER_DATUM))
                {
                    data.push((
                        namespace.to_owned(),
                        Datum {
                            name: name.to_owned(),
                            unit: unit.clone(),
                            dimensions: dimensions.clone(),
                            values: values.to_vec(),
                            counts: counts.to_vec(),
                            timestamp_ms,
                            storage_resolution,
                        },
                    ));
                }
            }
        }
    }
    let level = doc.get("level").and_then(Value::as_str).map(str::to_owned);
    Some(Document { text, data, level })
}

/// One PutMetricData request, and what to write to stdout instead if it fails for good.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Request {
    pub(crate) namespace: String,
    pub(crate) data: Vec<Datum>,
    /// EMF lines carrying exactly the values of `data`.
    pub(crate) fallback: Vec<String>,
}

impl Request {
    pub(crate) fn points(&self) -> u64 {
        self.data.iter().map(Datum::points).sum()
    }
}

/// Packs documents into requests: one namespace each, at most 1,000 data and
/// [`MAX_REQUEST_BYTES`]; whole documents together while they fit.
pub(crate) fn pack(documents: Vec<Document>) -> Vec<Request> {
    let mut done: Vec<Request> = Vec::new();
    let mut open: Vec<(Request, usize)> = Vec::new();
    for document in documents {
        let whole = document
            .data
            .iter()
            .all(|(ns, _)| document.data.first().is_some_and(|(f, _)| f == ns));
        let bytes: usize = document.data.iter().map(|(_, d)| d.encoded_bytes()).sum();
        let Some((namespace, _)) = document.data.first() else {
            continue;
        };
        if whole && document.data.len() <= MAX_DATA_PER_REQUEST && bytes <= MAX_REQUEST_BYTES {
            let namespace = namespace.clone();
            let at = match open.iter().position(|(r, _)| r.namespace == namespace) {
                Some(i) => i,
                None => {
                    open.push((empty(&namespace), 0));
                    open.len() - 1
                }
            };
            let Some((request, size)) = open.get_mut(at) else {
                continue;
            };
            if request.data.len() + document.data.len() > MAX_DATA_PER_REQUEST
                || *size + bytes > MAX_REQUEST_BYTES
            {
                done.push(std::mem::replace(request, empty(&namespace)));
                *size = 0;
            }
            request.data.extend(document.data.into_iter().map(|(_, d)| d));
            request.fallback.push(document.text);
            *size += bytes;
            continue;
        }
        // Cut into parts, each with its own fallback.
        let mut parts: Vec<(Request, usize)> = Vec::new();
        for (namespace, datum) in document.data {
            let b = datum.encoded_bytes();
            let fits = parts.last().is_some_and(|(r, size)| {
                r.namespace == namespace
                    && r.data.len() < MAX_DATA_PER_REQUEST
                    && size + b <= MAX_REQUEST_BYTES
            });
            if !fits {
                parts.push((empty(&namespace), 0));
            }
            if let Some((r, size)) = parts.last_mut() {
                r.data.push(datum);
                *size += b;
            }
        }
        for (mut part, _) in parts {
            part.fallback = emf_of(&part.namespace, &part.data, document.level.as_deref());
            done.push(part);
        }
    }
    done.extend(open.into_iter().map(|(r, _)| r).filter(|r| !r.data.is_empty()));
    done
}

fn empty(namespace: &str) -> Request {
    Request {
        namespace: namespace.to_owned(),
        data: Vec::new(),
        fallback: Vec::new(),
    }
}

/// Plain EMF documents with exactly these values: one per datum (and per 100 values), the
/// documented number-array form, each with the `"level"` of the document they come from.
pub(crate) fn emf_of(namespace: &str, data: &[Datum], level: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    for d in data {
        let repeated: Vec<f64> = d
            .values
            .iter()
            .zip(&d.counts)
            .flat_map(|(v, c)| std::iter::repeat_n(*v, *c as usize))
            .collect();
        for chunk in repeated.chunks(EMF_MAX_VALUES) {
            let mut metric = Map::new();
            metric.insert("Name".to_owned(), json!(d.name));
            if let Some(unit) = &d.unit {
                metric.insert("Unit".to_owned(), json!(unit));
            }
            if let Some(r) = d.storage_resolution {
                metric.insert("StorageResolution".to_owned(), json!(r));
            }
            let keys: Vec<&str> = d.dimensions.iter().map(|(k, _)| k.as_str()).collect();
            let mut doc = Map::new();
            doc.insert(
                "_aws".to_owned(),
                json!({
                    "Timestamp": d.timestamp_ms,
                    "CloudWatchMetrics": [{"Namespace": namespace, "Dimensions": [keys], "Metrics": [metric]}],
                }),
            );
            for (k, v) in &d.dimensions {
                doc.insert(k.clone(), json!(v));
            }
            let value = match chunk {
                [one] => json!(one),
                many => json!(many),
            };
            doc.insert(d.name.clone(), value);
            if let Some(level) = level {
                doc.insert("level".to_owned(), json!(level));
            }
            out.push(Value::Object(doc).to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests;
