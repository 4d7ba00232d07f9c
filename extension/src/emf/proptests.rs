//! Properties of the encoder over generated records: whatever the values (NaN, infinities,
//! huge, negative), dimension values (empty, long, any characters) and properties, every line
//! it writes passes the EMF specification check (`emf_spec`, written apart
//! from this encoder) and stays within the line limit (long properties push some records past
//! it), in every output form, with or without the `level` member; and it is, value for value,
//! the document the earlier `serde_json::Value` encoder ([`super::reference`]) built.

use proptest::prelude::*;

use super::*;
use crate::metrics::{RecordKind, catalogue};

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(f64::MAX),
        Just(-0.0),
        (0u32..1000).prop_map(f64::from),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[\\PC]{0,30}",
        "[a-z]{1500,2000}",
        "[a-z]{6000,9000}",
        Just(String::new()),
        Just("\"\\\n\u{0}".to_owned())
    ]
}

fn record() -> impl Strategy<Value = MetricRecord> {
    (
        proptest::collection::vec((0..catalogue::ALL.len(), value()), 0..60),
        text(),
        proptest::collection::vec(("[A-Za-z]{1,12}", text()), 0..6),
        any::<i64>(),
        any::<bool>(),
    )
        .prop_map(|(values, cold, properties, timestamp, invocation)| {
            let kind = if invocation {
                RecordKind::Invocation
            } else {
                RecordKind::Environment
            };
            // Intake keeps event times within what CloudWatch takes (2020 to 2100 here).
            let mut r = MetricRecord::new(kind, 1_577_836_800_000 + timestamp.rem_euclid(2_524_608_000_000));
            for (i, v) in values {
                if let Some(def) = catalogue::ALL.get(i) {
                    r.value(def, v);
                }
            }
            r.dimensions.push(("ColdStart", cold.into()));
            for (key, value) in properties {
                let key: &'static str = Box::leak(key.into_boxed_str());
                r.text(key, Some(&value));
            }
            r.text("RequestId", Some("r1"));
            r
        })
}

fn level() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![
        Just(None),
        Just(Some("INFO")),
        Just(Some("WARN")),
        Just(Some("FATAL"))
    ]
}

fn config(high_resolution: bool, static_value: String) -> EmfConfig {
    EmfConfig {
        namespace: "LambdaLens".into(),
        dimension_sets: vec![
            vec!["FunctionName".into()],
            vec!["FunctionName".into(), "ColdStart".into()],
            vec!["Service".into()],
        ],
        static_dimensions: vec![
            ("FunctionName".into(), "f".into()),
            ("Service".into(), static_value),
        ],
        high_resolution,
        level: None,
    }
}

fn parsed(lines: &[String]) -> Vec<serde_json::Value> {
    lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or(serde_json::Value::Null))
        .collect()
}

/// The oracle's documents read back from their text, as ours are: serde_json's parser may be
/// off by the last bit of a float, the same way for the same text.
fn through_text(docs: Vec<serde_json::Value>) -> Vec<serde_json::Value> {
    parsed(&docs.iter().map(ToString::to_string).collect::<Vec<_>>())
}

fn check(lines: &[String], level: Option<&str>) -> Result<(), TestCaseError> {
    for line in lines {
        prop_assert!(line.len() <= MAX_DOCUMENT_BYTES, "{} bytes", line.len());
        let doc: serde_json::Value =
            serde_json::from_str(line).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(doc.get(LEVEL_MEMBER).and_then(|l| l.as_str()), level);
        if let Err(problems) = emf_spec::check_line(line) {
            return Err(TestCaseError::fail(format!("{problems:?}\n{line}")));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn every_document_passes_the_specification_check(
        records in proptest::collection::vec(record(), 1..8),
        high_resolution in any::<bool>(),
        compact in any::<bool>(),
        static_value in text(),
        level in level(),
    ) {
        let mut config = config(high_resolution, static_value);
        config.level = level;
        let encoder = EmfEncoder::new(config.clone());
        let mut lines = Vec::new();
        for r in &records {
            let mut own = Vec::new();
            let stats = encoder.encode(r, &mut own);
            let (expected, expected_stats) = reference::encode(&config, r);
            prop_assert_eq!(parsed(&own), through_text(expected));
            prop_assert_eq!(stats, expected_stats);
            lines.extend(own);
        }
        check(&lines, level)?;
        let mut batcher = Batcher::new(compact, true, high_resolution, 1_000);
        let mut aggregates = Vec::new();
        for r in &records {
            batcher.add(r, 0, &mut aggregates);
        }
        batcher.flush_all(&mut aggregates);
        let mut lines = Vec::new();
        for a in &aggregates {
            let mut own = Vec::new();
            let stats = encoder.encode_batch(a, &mut own);
            let (expected, expected_stats) = reference::encode_batch(&config, a);
            prop_assert_eq!(parsed(&own), through_text(expected));
            prop_assert_eq!(stats, expected_stats);
            lines.extend(own);
        }
        check(&lines, level)?;
    }

    /// Whatever the characters of a namespace, a dimension value, a property or a request id
    /// (they come from outside: function names, error types, request ids), the line parses as
    /// one JSON object holding them unchanged.
    #[test]
    fn any_text_round_trips(
        namespace in any::<String>(),
        function in any::<String>(),
        error_type in any::<String>(),
        request_id in any::<String>(),
    ) {
        let mut config = config(false, "s".into());
        config.namespace.clone_from(&namespace);
        config.static_dimensions[0].1.clone_from(&function);
        let encoder = EmfEncoder::new(config);
        let mut r = MetricRecord::new(RecordKind::Invocation, 1_795_600_800_000);
        r.value(&catalogue::INVOCATIONS, 1.0);
        r.text("ErrorType", Some(&error_type));
        r.text("RequestId", Some(&request_id));
        let mut lines = Vec::new();
        encoder.encode(&r, &mut lines);
        prop_assert_eq!(lines.len(), 1);
        let doc: serde_json::Value = serde_json::from_str(&lines[0]).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&doc["_aws"]["CloudWatchMetrics"][0]["Namespace"], &serde_json::json!(namespace));
        let expected_function: String = function.chars().take(MAX_DIMENSION_VALUE_CHARS).collect();
        if function.is_empty() {
            prop_assert!(doc.get("FunctionName").is_none());
        } else {
            prop_assert_eq!(&doc["FunctionName"], &serde_json::json!(expected_function));
        }
        prop_assert_eq!(&doc["ErrorType"], &serde_json::json!(error_type));
        prop_assert_eq!(&doc["RequestId"], &serde_json::json!(request_id));
        let mut batcher = Batcher::new(false, true, false, 1_000);
        let mut aggregates = Vec::new();
        batcher.add(&r, 0, &mut aggregates);
        batcher.flush_all(&mut aggregates);
        let mut lines = Vec::new();
        for a in &aggregates {
            encoder.encode_batch(a, &mut lines);
        }
        prop_assert_eq!(lines.len(), 1);
        let doc: serde_json::Value = serde_json::from_str(&lines[0]).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&doc["RequestIds"], &serde_json::json!([request_id]));
    }
}
