//! CloudWatch Logs' side of the embedded metric format: what it would extract from the log events
//! of a log group. Each event's message is read on its own, as CloudWatch Logs reads it:
//!
//! - (a) "The LogEvent message MUST be a valid JSON object with no additional data at the
//!   beginning or end of the LogEvent message string" (the specification, "Root node"). A message
//!   that is not one whole JSON object is an ordinary log line: no metric. A document cut into
//!   several events by the platform is such a message, in each of its pieces.
//! - (d) A JSON object is taken as EMF when it has an `_aws` member. The specification identifies
//!   EMF by the `x-amzn-logs-format: json/emf` header of PutLogEvents, which Lambda's own
//!   delivery does not show; the member is what every EMF writer relies on.
//! - (a) An EMF document that breaks the specification gives no metric at all, and CloudWatch Logs
//!   counts it in its `AWS/Logs` `EMFValidationErrors` metric ("Monitoring with CloudWatch
//!   metrics"). The rules are [`check_message`](crate::check_message)'s, the same checker the
//!   extension's output is tested against; that a single bad directive costs the whole document,
//!   not only that directive, is assumed (d).
//! - (a) Otherwise every metric of every directive gives one datum per dimension set ("Every
//!   DimensionSet used creates a new metric in CloudWatch"), its dimensions the set's keys with
//!   the values of the root's members of those names, its values the metric member's: a number,
//!   or an array of numbers. The `{"Values": [...], "Counts": [...]}` form is not in the public
//!   specification; AWS's own EMF writers use it (b: the OpenTelemetry EMF exporters of
//!   aws-observability, awslabs' metrique), and it is read here as each value repeated its count.
//!   Every other member of the root (a `"level"`, a request id) is a property: no metric (a,
//!   "The root node MAY contain any other members").
//!
//! Not modelled: PutMetricData's limits on how old a timestamp may be, and what CloudWatch does
//! with a dimension value it refuses; the documents of this project never reach them.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// A `Counts` element larger than this is refused (d): expanding it would cost memory for no
/// case this crate checks (the extension's counts are invocations of one flush window).
const MAX_COUNT: f64 = 1_000_000.0;

/// One metric of one dimension set of one document: what CloudWatch would store.
#[derive(Debug, Clone, PartialEq)]
pub struct Datum {
    pub namespace: String,
    pub name: String,
    pub dimensions: BTreeMap<String, String>,
    /// The `Unit` of the metric's definition, when it has one (CloudWatch then assumes `None`).
    pub unit: Option<String>,
    /// The values, a `{"Values", "Counts"}` member expanded (each value its count of times).
    pub values: Vec<f64>,
    /// `_aws.Timestamp`.
    pub timestamp_ms: i64,
}

/// A metric's identity in CloudWatch: namespace, name and dimensions.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MetricKey {
    pub namespace: String,
    pub name: String,
    pub dimensions: BTreeMap<String, String>,
}

impl MetricKey {
    pub fn new(namespace: &str, name: &str, dimensions: BTreeMap<String, String>) -> Self {
        Self {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            dimensions,
        }
    }
}

impl Datum {
    pub fn key(&self) -> MetricKey {
        MetricKey::new(&self.namespace, &self.name, self.dimensions.clone())
    }
}

/// The dimensions `pairs` as a [`Datum`]'s map.
pub fn dimensions<const N: usize>(pairs: [(&str, &str); N]) -> BTreeMap<String, String> {
    pairs
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// What CloudWatch Logs would extract from a log group's events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Extraction {
    /// Every datum, in the order of the events.
    pub data: Vec<Datum>,
    /// Events that are not EMF: not one whole JSON object, or one without `_aws`.
    pub not_emf: u64,
    /// EMF documents that break the specification (`AWS/Logs` `EMFValidationErrors`).
    pub validation_errors: u64,
}

impl Extraction {
    /// Every value of each metric (namespace, name, dimensions), in the order of the events.
    pub fn by_metric(&self) -> BTreeMap<MetricKey, Vec<f64>> {
        let mut out: BTreeMap<MetricKey, Vec<f64>> = BTreeMap::new();
        for d in &self.data {
            out.entry(d.key()).or_default().extend_from_slice(&d.values);
        }
        out
    }

    /// The values of one metric, in the order of the events.
    pub fn values(&self, key: &MetricKey) -> Vec<f64> {
        self.data
            .iter()
            .filter(|d| d.namespace == key.namespace && d.name == key.name && d.dimensions == key.dimensions)
            .flat_map(|d| d.values.iter().copied())
            .collect()
    }

    /// CloudWatch's `SampleCount` of one metric over everything extracted.
    pub fn count(&self, key: &MetricKey) -> usize {
        self.values(key).len()
    }

    /// CloudWatch's `Sum` of one metric over everything extracted.
    pub fn sum(&self, key: &MetricKey) -> f64 {
        self.values(key).iter().sum()
    }

    /// How many values were extracted, over every metric.
    pub fn value_count(&self) -> usize {
        self.data.iter().map(|d| d.values.len()).sum()
    }
}

/// Extracts the metrics of `messages`, each a log event's message.
pub fn extract<'a>(messages: impl IntoIterator<Item = &'a str>) -> Extraction {
    let mut out = Extraction::default();
    for message in messages {
        if !has_aws_member(message) {
            out.not_emf += 1;
            continue;
        }
        match crate::check_message(message).map(|doc| data_of(&doc)) {
            Ok(Some(data)) => out.data.extend(data),
            Ok(None) | Err(_) => out.validation_errors += 1,
        }
    }
    out
}

/// Whether the message is one whole JSON object with an `_aws` member.
fn has_aws_member(message: &str) -> bool {
    serde_json::from_str::<Value>(message)
        .ok()
        .is_some_and(|v| v.as_object().is_some_and(|o| o.contains_key("_aws")))
}

/// The data of a document the checker passed; `None` for what it lets through but this reading
/// cannot use (a count too large to expand).
fn data_of(doc: &Map<String, Value>) -> Option<Vec<Datum>> {
    let aws = doc.get("_aws")?;
    let timestamp_ms = aws.get("Timestamp")?.as_i64()?;
    let mut data = Vec::new();
    for directive in aws.get("CloudWatchMetrics")?.as_array()? {
        let namespace = directive.get("Namespace")?.as_str()?;
        let sets = directive.get("Dimensions")?.as_array()?;
        for metric in directive.get("Metrics")?.as_array()? {
            let name = metric.get("Name")?.as_str()?;
            let unit = metric.get("Unit").and_then(Value::as_str).map(str::to_owned);
            let values = values_of(doc.get(name)?)?;
            for set in sets {
                let mut dimensions = BTreeMap::new();
                for key in set.as_array()? {
                    let key = key.as_str()?;
                    dimensions.insert(key.to_owned(), doc.get(key)?.as_str()?.to_owned());
                }
                data.push(Datum {
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                    dimensions,
                    unit: unit.clone(),
                    values: values.clone(),
                    timestamp_ms,
                });
            }
        }
    }
    Some(data)
}

/// A metric member's values: a number, an array of numbers, or `{"Values", "Counts"}` expanded.
fn values_of(member: &Value) -> Option<Vec<f64>> {
    match member {
        Value::Number(n) => Some(vec![n.as_f64()?]),
        Value::Array(values) => values.iter().map(Value::as_f64).collect(),
        Value::Object(o) => {
            let values = o.get("Values")?.as_array()?;
            let counts = o.get("Counts")?.as_array()?;
            let mut out = Vec::new();
            for (value, count) in values.iter().zip(counts) {
                let (value, count) = (value.as_f64()?, count.as_f64()?);
                // (d) A count is a whole number of occurrences; anything else is refused.
                if !(0.0..=MAX_COUNT).contains(&count) || count.fract() != 0.0 {
                    return None;
                }
                // A whole number in 0..=MAX_COUNT, checked above: the cast is exact.
                let times = count as usize;
                out.extend(std::iter::repeat_n(value, times));
            }
            Some(out)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
