#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests fail loudly")]

use proptest::prelude::*;
use serde_json::StreamDeserializer;
use serde_json::de::StrRead;

use super::*;

fn numbers(text: &str) -> Option<f64> {
    Scan { text, at: 0 }.number()
}

#[test]
fn a_string_ends_at_its_first_quote_backslash_or_control_character() {
    let plain = |i: usize| b"abcdefghijklmnopqrstuvwxyz0123456789"[i % 36];
    for len in 0..40 {
        for stop in [b'"', b'\\', 0x00, 0x1f] {
            let mut bytes: Vec<u8> = (0..len).map(plain).collect();
            bytes.push(stop);
            bytes.extend([b'"', b'x', 0x01]);
            assert_eq!(string_end(&bytes), Some(len), "{len} {stop}");
        }
        let bytes: Vec<u8> = (0..len).map(plain).chain("é€\u{7f} ~".bytes()).collect();
        assert_eq!(string_end(&bytes), None);
    }
}

#[test]
fn numbers_are_serde_jsons_where_read_and_left_to_it_otherwise() {
    for text in [
        "0",
        "7",
        "120",
        "0.5",
        "1.25",
        "812.347",
        "0.000001",
        "123456789012345",
        "1.00",
    ] {
        let ours = numbers(text).unwrap();
        let serde: f64 = serde_json::from_str(text).unwrap();
        assert_eq!(ours.to_bits(), serde.to_bits(), "{text}");
    }
    for text in [
        "-1",
        "1e3",
        "1E3",
        "01",
        "1.",
        ".5",
        "1234567890123456",
        "0.1234567890123456",
        "x",
    ] {
        assert_eq!(numbers(text), None, "{text}");
    }
}

#[test]
fn a_record_of_the_usual_shape_is_read_here_and_ends_where_it_ends() {
    let text = r#"{"time":"2026-11-25T10:00:01.000Z","type":"platform.report","record":{"requestId":"a","status":"success","metrics":{"durationMs":12.5,"billedDurationMs":13,"memorySizeMB":128,"maxMemoryUsedMB":70},"spans":[{"name":"extensionOverhead","start":"2026-11-25T10:00:01.000Z","durationMs":0.25}],"tracing":{"spanId":"s","type":"X-Amzn-Trace-Id","value":"Root=1"}}} ,"#;
    let (item, end) = item(text, 0).unwrap();
    assert_eq!(&text[end..], " ,");
    let Record::Report(report) = item.record else {
        unreachable!("a report")
    };
    assert_eq!(report.metrics.duration_ms, 12.5);
    assert_eq!(report.metrics.memory_size_mb, Some(128.0));
    assert_eq!(report.spans.extension_overhead_ms, Some(0.25));
    assert!(matches!(report.request_id, Cow::Borrowed("a")));
}

/// A report as Lambda Managed Instances send it (no `platform.runtimeDone`): the response
/// spans ride on the report, and a tenant's id where tenant isolation is on.
#[test]
fn a_managed_instances_report_keeps_its_response_spans_and_tenant() {
    let text = r#"{"time":"2026-11-25T10:00:01.000Z","type":"platform.report","record":{"requestId":"a","tenantId":"blue","status":"success","metrics":{"durationMs":12.25},"spans":[{"name":"responseLatency","start":"2026-11-25T10:00:01.000Z","durationMs":9.5},{"name":"responseDuration","start":"2026-11-25T10:00:01.010Z","durationMs":0.75}],"tracing":{"spanId":"s","type":"X-Amzn-Trace-Id","value":"Root=1"}}}"#;
    let (item, _) = item(text, 0).unwrap();
    let Record::Report(report) = item.record else {
        unreachable!("a report")
    };
    assert_eq!(report.spans.response_latency_ms, Some(9.5));
    assert_eq!(report.spans.response_duration_ms, Some(0.75));
    assert_eq!(report.spans.extension_overhead_ms, None);
    assert_eq!(report.tenant_id.as_deref(), Some("blue"));
    let theirs: Item<'_> = serde_json::from_str(text).unwrap();
    assert_eq!(
        format!("{:?}", Record::Report(report)),
        format!("{:?}", theirs.record)
    );
}

#[test]
fn what_it_was_not_made_for_is_left_to_serde() {
    for text in [
        r#"{"time":"t","type":"platform.start","record":{"requestId":"a\u0062"}}"#,
        r#"{"time":"t","type":"platform.start","record":{"requestId":"a","requestId":"b"}}"#,
        r#"{"time":"t","record":{"requestId":"a"},"type":"platform.start"}"#,
        r#"{"time":"t","type":"platform.start","record":{"requestId":"a",}}"#,
        r#"{"time":"t","type":"platform.start"}"#,
        r#"{"time":"t","type":"platform.initStart","record":{}}"#,
        r#"{"time":"t","type":"platform.report","record":{"requestId":"a","metrics":null}}"#,
        r#"{"time":"t","type":"platform.report","record":{"requestId":"a","metrics":{"durationMs":-1}}}"#,
        r#"{"time":"t","type":"function","record":{"a":[1,2,}}"#,
    ] {
        assert!(item(text, 0).is_none(), "{text}");
    }
}

/// The names serde reads into `T`: what its derived `Deserialize` passes to
/// `deserialize_struct`.
fn serde_fields<'de, T: serde::Deserialize<'de>>() -> &'static [&'static str] {
    use serde::de::{Deserializer, Error as _, Visitor, value::Error};
    struct FieldNames<'c>(&'c mut &'static [&'static str]);
    impl<'de> Deserializer<'de> for FieldNames<'_> {
        type Error = Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
            Err(Error::custom("not a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Error> {
            *self.0 = fields;
            Err(Error::custom("only its field names"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(FieldNames(&mut fields));
    fields
}

/// A JSON value built in a set order (the fast reader wants `type` before `record`).
#[derive(Clone)]
enum J {
    Object(Vec<(&'static str, J)>),
    Array(Vec<J>),
    Raw(&'static str),
}

impl J {
    fn text(&self) -> String {
        match self {
            J::Raw(raw) => (*raw).to_owned(),
            J::Array(items) => format!("[{}]", items.iter().map(J::text).collect::<Vec<_>>().join(",")),
            J::Object(members) => format!(
                "{{{}}}",
                members
                    .iter()
                    .map(|(k, v)| format!("\"{k}\":{}", v.text()))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        }
    }

    /// This value with `key` of the object at `path` (member names, or an index in an array)
    /// set to `value`, in its place, or added at the end.
    fn with(&self, path: &[&str], key: &'static str, value: J) -> J {
        match (self, path) {
            (J::Object(members), []) => {
                let mut members = members.clone();
                match members.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, v)) => *v = value,
                    None => members.push((key, value)),
                }
                J::Object(members)
            }
            (J::Object(members), [first, rest @ ..]) => J::Object(
                members
                    .iter()
                    .map(|(k, v)| {
                        (
                            *k,
                            if k == first {
                                v.with(rest, key, value.clone())
                            } else {
                                v.clone()
                            },
                        )
                    })
                    .collect(),
            ),
            (J::Array(items), [index, rest @ ..]) => J::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        if i.to_string() == *index {
                            v.with(rest, key, value.clone())
                        } else {
                            v.clone()
                        }
                    })
                    .collect(),
            ),
            _ => unreachable!("no object at {path:?}"),
        }
    }
}

/// An element of `kind` the fast reader reads, every member it knows set.
fn usual(kind: &'static str) -> J {
    use J::{Array, Object, Raw};
    let spans = |name| {
        Array(vec![Object(vec![
            ("name", Raw(name)),
            ("durationMs", Raw("0.5")),
        ])])
    };
    let record = match kind {
        "platform.start" => Object(vec![
            ("requestId", Raw(r#""a""#)),
            ("tenantId", Raw(r#""blue""#)),
            ("version", Raw(r#""$LATEST""#)),
            (
                "tracing",
                Object(vec![
                    ("spanId", Raw(r#""s""#)),
                    ("type", Raw(r#""X-Amzn-Trace-Id""#)),
                    ("value", Raw(r#""Root=1""#)),
                ]),
            ),
        ]),
        "platform.runtimeDone" => Object(vec![
            ("requestId", Raw(r#""a""#)),
            ("tenantId", Raw(r#""blue""#)),
            ("status", Raw(r#""error""#)),
            ("errorType", Raw(r#""Runtime.Crash""#)),
            (
                "metrics",
                Object(vec![("durationMs", Raw("12.5")), ("producedBytes", Raw("30"))]),
            ),
            ("spans", spans(r#""responseLatency""#)),
        ]),
        "platform.report" => Object(vec![
            ("requestId", Raw(r#""a""#)),
            ("tenantId", Raw(r#""blue""#)),
            ("status", Raw(r#""error""#)),
            ("errorType", Raw(r#""Runtime.Crash""#)),
            (
                "metrics",
                Object(vec![
                    ("durationMs", Raw("12.5")),
                    ("billedDurationMs", Raw("13")),
                    ("memorySizeMB", Raw("128")),
                    ("maxMemoryUsedMB", Raw("70")),
                    ("initDurationMs", Raw("100.5")),
                    ("restoreDurationMs", Raw("50.5")),
                ]),
            ),
            ("spans", spans(r#""extensionOverhead""#)),
        ]),
        _ => unreachable!("{kind} is not read here"),
    };
    Object(vec![
        ("time", Raw(r#""2026-11-25T10:00:00.000Z""#)),
        ("type", Raw(leak(format!("\"{kind}\"")))),
        ("record", record),
    ])
}

fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

/// The fast reader's key lists are its own, beside the wire model's serde derives: a field added
/// to a wire struct it reads, and not to its list, would be skipped without a word (serde reads
/// it, this reader drops it). Every field serde reads is set here, in turn, to `true`, a value
/// no member this reader knows accepts: the reader must give the record up, as it does for a
/// member it reads; one it skips is one it lacks.
#[test]
fn the_fast_reader_reads_every_field_serde_reads_of_the_structs_it_fills() {
    use crate::wire;
    let structs: [(&str, &str, &[&str], &[&str]); 9] = [
        (
            "Envelope",
            "platform.start",
            &[],
            serde_fields::<wire::Envelope>(),
        ),
        (
            "Start",
            "platform.start",
            &["record"],
            serde_fields::<wire::Start>(),
        ),
        (
            "Tracing",
            "platform.start",
            &["record", "tracing"],
            serde_fields::<wire::Tracing>(),
        ),
        (
            "RuntimeDone",
            "platform.runtimeDone",
            &["record"],
            serde_fields::<wire::RuntimeDone>(),
        ),
        (
            "RuntimeDoneMetrics",
            "platform.runtimeDone",
            &["record", "metrics"],
            serde_fields::<wire::RuntimeDoneMetrics>(),
        ),
        (
            "Span",
            "platform.runtimeDone",
            &["record", "spans", "0"],
            serde_fields::<wire::Span>(),
        ),
        (
            "Report",
            "platform.report",
            &["record"],
            serde_fields::<wire::Report>(),
        ),
        (
            "ReportMetrics",
            "platform.report",
            &["record", "metrics"],
            serde_fields::<wire::ReportMetrics>(),
        ),
        (
            "Span",
            "platform.report",
            &["record", "spans", "0"],
            serde_fields::<wire::Span>(),
        ),
    ];
    let mut skipped = Vec::new();
    for (name, kind, path, fields) in structs {
        assert!(!fields.is_empty(), "{name}: serde's field names");
        let usual = usual(kind);
        assert!(item(&usual.text(), 0).is_some(), "{}", usual.text());
        for field in fields {
            let poisoned = usual.with(path, field, J::Raw("true")).text();
            if item(&poisoned, 0).is_some() {
                skipped.push(format!("{name}.{field} ({poisoned})"));
            }
        }
    }
    assert!(
        skipped.is_empty(),
        "the fast reader (fast.rs) skips fields serde reads; read them there: {skipped:#?}"
    );
}

/// A JSON text from the choices, with whitespace around it sometimes.
fn pick(choices: &'static [&'static str]) -> impl Strategy<Value = String> {
    (proptest::sample::select(choices), any::<bool>()).prop_map(|(text, spaced)| {
        if spaced {
            format!(" {text}\n")
        } else {
            text.to_owned()
        }
    })
}

fn a_number() -> impl Strategy<Value = String> {
    prop_oneof![
        24 => (0u64..10_000_000, 0u32..5).prop_map(|(n, places)| {
            let text = n.to_string();
            let places = places as usize;
            if places == 0 || places >= text.len() { text } else {
                format!("{}.{}", &text[..text.len() - places], &text[text.len() - places..])
            }
        }),
        1 => pick(&["0", "0.0", "-1", "-0", "1e3", "2.5E-2", "01", "1.", ".5", "1234567890123456",
            "0.1234567890123456", "99999999999999999999", "null", "\"12\"", "true", "[]", "1.7976931348623157e309"]),
        1 => any::<f64>().prop_map(|f| format!("{f}")),
    ]
}

fn a_text() -> impl Strategy<Value = String> {
    prop_oneof![
        30 => "[a-zA-Z0-9$.:=;-]{0,40}".prop_map(|s| format!("\"{s}\"")),
        1 => pick(&["null", "\"a\\u0062c\"", "\"tab\\t\"", "12", "{}", "\"\u{e9}t\u{e9}\"", "\"\u{1}\""]),
    ]
}

fn junk() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        4 => a_text(),
        4 => a_number(),
        2 => pick(&["true", "false", "null"]),
        1 => pick(&["nul", "tru", "-", "[", "}"]),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            8 => proptest::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(","))),
            8 => proptest::collection::vec(("[a-z]{1,6}", inner), 0..4).prop_map(|v| {
                let members: Vec<String> = v.into_iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                format!("{{{}}}", members.join(","))
            }),
            1 => Just("[1,]".to_owned()),
            1 => Just("{\"a\":1,}".to_owned()),
        ]
    })
}

/// An object of some of `members` (each a key and its value's strategy), in any order,
/// one of them sometimes twice, an unknown key sometimes.
fn object(members: Vec<(&'static str, BoxedStrategy<String>)>) -> BoxedStrategy<String> {
    object_in_order(members, 1.0)
}

/// [`object`], its members shuffled with probability `shuffled` (else in the given order).
fn object_in_order(
    members: Vec<(&'static str, BoxedStrategy<String>)>,
    shuffled: f64,
) -> BoxedStrategy<String> {
    let parts: Vec<BoxedStrategy<Option<String>>> = members
        .into_iter()
        .map(|(key, value)| {
            proptest::option::weighted(0.9, value.prop_map(move |v| format!("\"{key}\":{v}"))).boxed()
        })
        .collect();
    let shuffle = proptest::bool::weighted(shuffled);
    (
        parts,
        proptest::option::weighted(0.2, junk()),
        proptest::bool::weighted(0.08),
        any::<prop::sample::Index>(),
        shuffle,
    )
        .prop_flat_map(|(parts, extra, twice, which, shuffle)| {
            let mut parts: Vec<String> = parts.into_iter().flatten().collect();
            if let Some(extra) = extra {
                parts.push(format!("\"extra\":{extra}"));
            }
            if twice && !parts.is_empty() {
                parts.push(parts[which.index(parts.len())].clone());
            }
            if shuffle {
                Just(parts).prop_shuffle().boxed()
            } else {
                Just(parts).boxed()
            }
        })
        .prop_map(|parts| format!("{{{}}}", parts.join(",")))
        .boxed()
}

fn spans() -> BoxedStrategy<String> {
    let span = object(vec![
        ("name", prop_oneof![
            4 => pick(&["\"responseLatency\"", "\"responseDuration\"", "\"runtimeOverhead\"", "\"extensionOverhead\""]),
            1 => a_text(),
        ].boxed()),
        ("start", a_text().boxed()),
        ("durationMs", a_number().boxed()),
    ]);
    prop_oneof![
        6 => proptest::collection::vec(span, 0..5).prop_map(|v| format!("[{}]", v.join(","))),
        1 => pick(&["null", "{}", "[1]", "[]"]),
    ]
    .boxed()
}

fn tracing() -> BoxedStrategy<String> {
    prop_oneof![
        8 => object(vec![("spanId", a_text().boxed()), ("type", a_text().boxed()), ("value", a_text().boxed())]),
        1 => junk(),
    ]
    .boxed()
}

fn record(kind: &str) -> BoxedStrategy<String> {
    let id = || prop_oneof![9 => "[0-9a-f-]{1,36}".prop_map(|s| format!("\"{s}\"")), 1 => a_text()].boxed();
    let metrics = |keys: &[&'static str]| {
        prop_oneof![
            12 => object(keys.iter().map(|&k| (k, a_number().boxed())).collect()),
            1 => junk(),
        ]
        .boxed()
    };
    match kind {
        "platform.start" => object(vec![
            ("requestId", id()),
            ("tenantId", a_text().boxed()),
            ("version", a_text().boxed()),
            ("tracing", tracing()),
        ]),
        "platform.runtimeDone" => object(vec![
            ("requestId", id()),
            ("tenantId", a_text().boxed()),
            ("status", a_text().boxed()),
            ("errorType", a_text().boxed()),
            ("metrics", metrics(&["durationMs", "producedBytes"])),
            ("spans", spans()),
            ("tracing", tracing()),
        ]),
        "platform.report" => object(vec![
            ("requestId", id()),
            ("tenantId", a_text().boxed()),
            ("status", a_text().boxed()),
            ("errorType", a_text().boxed()),
            (
                "metrics",
                metrics(&[
                    "durationMs",
                    "billedDurationMs",
                    "memorySizeMB",
                    "maxMemoryUsedMB",
                    "initDurationMs",
                    "restoreDurationMs",
                ]),
            ),
            ("spans", spans()),
            ("tracing", tracing()),
        ]),
        _ => junk().boxed(),
    }
}

fn element() -> impl Strategy<Value = String> {
    let kinds = &[
        "platform.start",
        "platform.runtimeDone",
        "platform.report",
        "platform.start",
        "platform.runtimeDone",
        "platform.report",
        "platform.start",
        "platform.runtimeDone",
        "platform.report",
        "function",
        "platform.extension",
        "platform.initStart",
        "platform.future",
    ];
    proptest::sample::select(kinds).prop_flat_map(|kind| {
        object_in_order(
            vec![
                (
                    "time",
                    prop_oneof![9 => Just("\"2026-11-25T10:00:00.000Z\"".to_owned()), 1 => a_text()].boxed(),
                ),
                ("type", Just(format!("\"{kind}\"")).boxed()),
                ("record", record(kind)),
            ],
            0.2,
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// Every answer the reader gives is serde's, to the byte where the element ends.
    #[test]
    fn where_it_reads_a_record_it_reads_what_serde_reads(text in element(), tail in pick(&["", ",", "]"])) {
        let text = format!("{text}{tail}");
        if let Some((ours, end)) = item(&text, 0) {
            let mut stream = StreamDeserializer::<_, Item<'_>>::new(StrRead::new(&text));
            let theirs = stream.next();
            prop_assert!(matches!(theirs, Some(Ok(_))), "serde refused what was read here: {text} ({theirs:?})");
            prop_assert_eq!(format!("{ours:?}"), format!("{:?}", theirs.unwrap().unwrap()));
            prop_assert_eq!(end, stream.byte_offset());
        }
    }

    /// Most records of the shape Lambda sends are read here (the property above would hold
    /// of a reader that read nothing).
    #[test]
    fn records_of_lambdas_shape_are_read_here(
        id in "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        duration in 0u64..900_000_000,
        memory in 1u32..10_240,
    ) {
        let ms = format!("{}.{:03}", duration / 1000, duration % 1000);
        let tracing = r#""tracing":{"spanId":"7f2e5c","type":"X-Amzn-Trace-Id","value":"Root=1-6560;Parent=7f2e5c;Sampled=1"}"#;
        for text in [
            format!(r#"{{"time":"2026-11-25T10:00:00.000Z","type":"platform.start","record":{{"requestId":"{id}","version":"$LATEST",{tracing}}}}}"#),
            format!(r#"{{"time":"2026-11-25T10:00:00.000Z","type":"platform.runtimeDone","record":{{"requestId":"{id}","status":"success","metrics":{{"durationMs":{ms},"producedBytes":12}},"spans":[{{"name":"responseLatency","start":"2026-11-25T10:00:00.000Z","durationMs":{ms}}}],{tracing}}}}}"#),
            format!(r#"{{"time":"2026-11-25T10:00:00.000Z","type":"platform.report","record":{{"requestId":"{id}","status":"success","metrics":{{"durationMs":{ms},"billedDurationMs":{},"memorySizeMB":{memory},"maxMemoryUsedMB":{memory}}},{tracing}}}}}"#, duration / 1000 + 1),
        ] {
            prop_assert!(item(&text, 0).is_some(), "left to serde: {}", text);
        }
    }
}
