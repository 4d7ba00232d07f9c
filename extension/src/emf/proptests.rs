//! Properties of the encoder over generated records: whatever the values (NaN, infinities,
//! huge, negative), dimension values (empty, long, any characters) and properties, every line
//! it writes passes the EMF specification check (`lambda_sandbox::emf_spec`, written apart
//! from this encoder) and stays under the size limit, in every output form.

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
            r.dimensions.push(("ColdStart", cold));
            for (key, value) in properties {
                let key: &'static str = Box::leak(key.into_boxed_str());
                r.text(key, Some(&value));
            }
            r.text("RequestId", Some("r1"));
            r
        })
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
    }
}

fn check(lines: &[String]) -> Result<(), TestCaseError> {
    for line in lines {
        prop_assert!(line.len() <= MAX_DOCUMENT_BYTES, "{} bytes", line.len());
        if let Err(problems) = lambda_sandbox::emf_spec::check_line(line) {
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
    ) {
        let encoder = EmfEncoder::new(config(high_resolution, static_value));
        let mut lines = Vec::new();
        for r in &records {
            encoder.encode(r, &mut lines);
        }
        check(&lines)?;
        let mut batcher = Batcher::new(compact, true, high_resolution, 1_000);
        let mut aggregates = Vec::new();
        for r in &records {
            batcher.add(r, 0, &mut aggregates);
        }
        batcher.flush_all(&mut aggregates);
        let mut lines = Vec::new();
        for a in &aggregates {
            encoder.encode_batch(a, &mut lines);
        }
        check(&lines)?;
    }
}
