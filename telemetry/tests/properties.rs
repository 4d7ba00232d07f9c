//! Properties of the decoder, over generated input: it never panics, and a bad element never
//! costs a well-formed neighbour.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly"
)]

use lambda_lens_telemetry::{Record, decode_records};
use proptest::prelude::*;

/// A well-formed `platform.start` with an id made of `n`.
fn start(n: u32) -> String {
    format!(
        r#"{{"time":"2026-11-25T10:00:00.000Z","type":"platform.start","record":{{"requestId":"r{n}"}}}}"#
    )
}

/// Any JSON-ish element: numbers, strings with escapes and any characters, wrong shapes,
/// deep nesting, records of the right type with the wrong fields.
fn junk() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<f64>().prop_map(|f| format!("{f}")),
        "[\\PC]{0,40}".prop_map(|s| serde_json::to_string(&s).unwrap()),
        Just("null".to_owned()),
        Just("{}".to_owned()),
        (1usize..300).prop_map(|depth| format!("{}{}", "[".repeat(depth), "]".repeat(depth))),
        "[a-z.]{1,20}".prop_map(|t| format!(r#"{{"time":"x","type":"{t}","record":{{"requestId":7}}}}"#)),
        Just(r#"{"time":"2026-11-25T10:00:00Z","type":"platform.report","record":{"requestId":"x","metrics":{"durationMs":"slow"}}}"#.to_owned()),
        Just(r#"{"time":"2026-11-25T10:00:00Z","type":"platform.runtimeDone","record":{"requestId":"x","spans":[{"name":1}]}}"#.to_owned()),
        Just(r#"{"time":1,"type":"platform.start","record":{"requestId":"x"}}"#.to_owned()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn decoding_any_bytes_never_panics(body in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let (items, stats) = decode_records(&body);
        prop_assert!(items.len() as u64 <= stats.records);
    }

    #[test]
    fn a_bad_element_never_costs_a_well_formed_neighbour(
        elements in proptest::collection::vec(prop_oneof![any::<u32>().prop_map(Ok), junk().prop_map(Err)], 0..40)
    ) {
        let good: Vec<String> = elements.iter().filter_map(|e| e.as_ref().ok()).map(|n| format!("r{n}")).collect();
        let body = format!(
            "[{}]",
            elements.iter().map(|e| match e { Ok(n) => start(*n), Err(j) => j.clone() }).collect::<Vec<_>>().join(",")
        );
        let (items, _) = decode_records(body.as_bytes());
        let decoded: Vec<String> = items
            .iter()
            .filter_map(|i| match &i.record { Record::Start(s) => Some(s.request_id.to_string()), _ => None })
            .filter(|id| id.starts_with('r') && id[1..].parse::<u32>().is_ok())
            .collect();
        prop_assert_eq!(decoded, good);
    }
}
