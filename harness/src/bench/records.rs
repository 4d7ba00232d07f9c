//! What a subject wrote, checked against the life it lived: did every invocation get one
//! metric record, and did the cold start's (whose report carries `initDurationMs`) survive?

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::otlp::Sink;

/// How a subject records invocations, so how its records are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Writes nothing (the floor).
    Nothing,
    /// lambda-lens: EMF on stdout; every invocation adds one value to `ColdStarts` (1 for a
    /// cold start, else 0), in a document of its own or in an aggregate.
    LambdaLens,
    /// One EMF document per `platform.report` on stdout, its request id in `RequestId`.
    EmfPerReport,
    /// OTLP/HTTP to the bench's collector, `faas.invocation_id` on each invocation's records.
    Otlp,
}

/// The check's findings. Counts cover the sandbox's invocations and, where the output allows
/// counting them (`LambdaLens`, `EmfPerReport`), the flood's.
#[derive(Debug, Default, Clone)]
pub struct Records {
    /// Whether there was anything to check.
    pub checked: bool,
    /// Records counted by the output's rule.
    pub counted: usize,
    /// Invocations that should have one.
    pub expected: usize,
    /// Sandbox invocations with no record, or (EMF per report) more than one.
    pub wrong: usize,
    /// The cold start's record is there.
    pub cold_start_kept: bool,
    /// stdout lines that are not valid EMF.
    pub invalid_lines: usize,
}

impl Records {
    /// One record for each invocation, the cold start's among them, nothing invalid.
    pub fn correct(&self) -> bool {
        self.checked
            && self.counted == self.expected
            && self.wrong == 0
            && self.cold_start_kept
            && self.invalid_lines == 0
    }
}

/// How many values a metric member holds: 1 for a number, the length of an array, the sum of
/// the counts of the `Values`/`Counts` form.
fn value_count(doc: &Map<String, Value>, name: &str) -> usize {
    match doc.get(name) {
        Some(Value::Number(_)) => 1,
        Some(Value::Array(values)) => values.len(),
        Some(Value::Object(o)) => o
            .get("Counts")
            .and_then(Value::as_array)
            .map_or(0, |c| c.iter().filter_map(Value::as_f64).sum::<f64>() as usize),
        _ => 0,
    }
}

fn documents(stdout: &[String], records: &mut Records) -> Vec<Map<String, Value>> {
    let mut docs = Vec::with_capacity(stdout.len());
    for line in stdout {
        match emf_spec::check_line(line) {
            Ok(doc) => docs.push(doc),
            Err(_) => records.invalid_lines += 1,
        }
    }
    docs
}

fn request_id(doc: &Map<String, Value>) -> Option<&str> {
    doc.get("RequestId").and_then(Value::as_str)
}

/// Checks `subject`'s output. `request_ids` are the sandbox's invocations in order (the first
/// is the cold start); `flood_invocations` those of the accepted flood batches.
pub(crate) fn check(
    output: Output,
    stdout: &[String],
    sink: Option<&Sink>,
    request_ids: &[String],
    flood_invocations: usize,
) -> Records {
    let mut records = Records {
        checked: output != Output::Nothing,
        ..Records::default()
    };
    let first = request_ids.first().map(String::as_str);
    match output {
        Output::Nothing => {}
        Output::LambdaLens => {
            let docs = documents(stdout, &mut records);
            records.counted = docs.iter().map(|d| value_count(d, "ColdStarts")).sum();
            records.expected = request_ids.len() + flood_invocations;
            records.cold_start_kept = docs
                .iter()
                .any(|d| request_id(d) == first && crate::demo::metric(d, "ColdStarts") == Some(1.0));
        }
        Output::EmfPerReport => {
            let docs = documents(stdout, &mut records);
            records.counted = docs.len();
            records.expected = request_ids.len() + flood_invocations;
            let mut per_id: HashMap<&str, usize> = HashMap::new();
            for d in &docs {
                if let Some(id) = request_id(d) {
                    *per_id.entry(id).or_default() += 1;
                }
            }
            records.wrong = request_ids
                .iter()
                .filter(|id| per_id.get(id.as_str()).copied().unwrap_or(0) != 1)
                .count();
            records.cold_start_kept = docs
                .iter()
                .any(|d| request_id(d) == first && d.contains_key("InitDuration"));
        }
        Output::Otlp => {
            let ids: Vec<&str> = request_ids.iter().map(String::as_str).collect();
            let found = sink.map_or_else(|| vec![false; ids.len()], |s| s.found(&ids));
            records.counted = found.iter().filter(|f| **f).count();
            records.expected = ids.len();
            records.wrong = records.expected - records.counted;
            records.cold_start_kept = found.first().copied().unwrap_or(false);
        }
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emf(extra: &str) -> String {
        format!(
            r#"{{"_aws":{{"Timestamp":1764547200000,"CloudWatchMetrics":[{{"Namespace":"T","Dimensions":[["FunctionName"]],"Metrics":[{{"Name":"ColdStarts","Unit":"Count"}}]}}]}},"FunctionName":"f",{extra}}}"#
        )
    }

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("id-{i}")).collect()
    }

    #[test]
    fn lambda_lens_counts_values_of_cold_starts() {
        let lines = vec![
            emf(r#""RequestId":"id-0","ColdStarts":1"#),
            emf(r#""ColdStarts":[0,0]"#),
            emf(r#""ColdStarts":{"Values":[0],"Counts":[3]}"#),
        ];
        let r = check(Output::LambdaLens, &lines, None, &ids(4), 2);
        assert_eq!((r.counted, r.expected), (6, 6));
        assert!(r.cold_start_kept && r.correct(), "{r:?}");
        let r = check(Output::LambdaLens, &lines[1..], None, &ids(4), 2);
        assert!(!r.cold_start_kept && !r.correct());
    }

    #[test]
    fn one_line_per_report_each_id_once() {
        let lines = vec![
            emf(r#""RequestId":"id-0","ColdStarts":1,"InitDuration":3.5"#),
            emf(r#""RequestId":"id-1","ColdStarts":0"#),
            emf(r#""RequestId":"id-1","ColdStarts":0"#),
            "not json".to_owned(),
        ];
        let r = check(Output::EmfPerReport, &lines, None, &ids(3), 0);
        assert_eq!((r.counted, r.expected, r.wrong, r.invalid_lines), (3, 3, 2, 1));
        assert!(r.cold_start_kept && !r.correct());
    }

    #[test]
    fn nothing_to_check_is_not_correct() {
        let r = check(Output::Nothing, &[], None, &ids(2), 0);
        assert!(!r.checked && !r.correct());
    }
}
