//! The decoder against captured record shapes (one fixture file per shape, in `fixtures/`),
//! and against broken batches: a bad record costs that record only.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly"
)]

use std::borrow::Cow;
use std::path::PathBuf;

use lambda_lens_telemetry::{DecodeStats, Item, Record, decode_records};

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn fixture(name: &str) -> String {
    let path = fixture_dir().join(format!("{name}.json"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Decodes one fixture record alone in a batch and returns its record, checking it was clean.
fn only<T>(name: &str, check: impl FnOnce(&Item<'_>) -> T) -> T {
    let body = format!("[{}]", fixture(name));
    let (items, stats) = decode_records(body.as_bytes());
    assert_eq!(stats.malformed, 0, "{name}: {:?}", stats.first_problem);
    assert_eq!(items.len(), 1, "{name}");
    check(&items[0])
}

#[test]
fn init_records() {
    only("platform.initStart", |item| {
        assert_eq!(item.time, "2026-11-25T10:00:00.000Z");
        assert_eq!(item.kind, "platform.initStart");
        let Record::InitStart(r) = &item.record else {
            panic!("{:?}", item.record)
        };
        assert_eq!(r.initialization_type.as_deref(), Some("on-demand"));
        assert_eq!(r.phase.as_deref(), Some("init"));
        assert_eq!(r.runtime_version.as_deref(), Some("provided:al2023.v91"));
    });
    only("platform.initRuntimeDone", |item| {
        let Record::InitRuntimeDone(r) = &item.record else {
            panic!("{:?}", item.record)
        };
        assert_eq!(r.status.as_deref(), Some("success"));
    });
    only("platform.initReport", |item| {
        let Record::InitReport(r) = &item.record else {
            panic!("{:?}", item.record)
        };
        assert_eq!(r.metrics.as_ref().map(|m| m.duration_ms), Some(125.4));
        assert_eq!(r.status.as_deref(), Some("success"));
    });
}

#[test]
fn invocation_records() {
    only("platform.start", |item| {
        let Record::Start(r) = &item.record else {
            panic!("{:?}", item.record)
        };
        assert_eq!(r.request_id, "6d68ca91-49c9-448d-89b8-7ca3e6dc66aa");
        assert_eq!(r.version.as_deref(), Some("$LATEST"));
        let trace = r.tracing.as_ref().and_then(|t| t.value.as_deref()).unwrap();
        assert!(trace.starts_with("Root=1-62e900b2"), "{trace}");
    });
    only("platform.runtimeDone", |item| {
        let Record::RuntimeDone(r) = &item.record else {
            panic!("{:?}", item.record)
        };
        assert_eq!(r.status.as_deref(), Some("success"));
        let m = r.metrics.unwrap();
        assert_eq!((m.duration_ms, m.produced_bytes), (48.7, Some(52.0)));
        assert_eq!(r.spans.response_latency_ms, Some(47.1));
        assert_eq!(r.spans.response_duration_ms, Some(0.3));
        assert_eq!(r.spans.runtime_overhead_ms, Some(1.2));
    });
    only("platform.report", |item| {
        let Record::Report(r) = &item.record else {
            panic!("{:?}", item.record)
        };
        let m = r.metrics;
        assert_eq!(m.duration_ms, 52.3);
        assert_eq!(m.billed_duration_ms, Some(178.0));
        assert_eq!(m.memory_size_mb, Some(128.0));
        assert_eq!(m.max_memory_used_mb, Some(31.0));
        assert_eq!(m.init_duration_ms, Some(125.4));
        assert_eq!(m.restore_duration_ms, None);
    });
}

#[test]
fn a_report_with_extensions_carries_their_overhead() {
    only("platform.report.extension-overhead", |item| {
        let Record::Report(r) = &item.record else {
            panic!("{:?}", item.record)
        };
        assert_eq!(r.spans.extension_overhead_ms, Some(3.92));
        assert_eq!(r.metrics.duration_ms, 15.74);
    });
    // Without spans (the other fixtures), there is none.
    only("platform.report", |item| {
        let Record::Report(r) = &item.record else {
            panic!("{:?}", item.record)
        };
        assert_eq!(r.spans.extension_overhead_ms, None);
    });
}

#[test]
fn a_managed_instances_report_has_only_a_duration() {
    only("platform.report.managed-instances", |item| {
        let Record::Report(r) = &item.record else {
            panic!("{:?}", item.record)
        };
        let m = r.metrics;
        assert_eq!(m.duration_ms, 12.25);
        assert_eq!(
            (m.billed_duration_ms, m.memory_size_mb, m.max_memory_used_mb),
            (None, None, None)
        );
    });
}

#[test]
fn snapstart_restore_records() {
    only("platform.restoreStart", |item| {
        assert!(
            matches!(item.record, Record::RestoreStart(_)),
            "{:?}",
            item.record
        );
    });
    only("platform.restoreRuntimeDone", |item| {
        let Record::RestoreRuntimeDone(r) = &item.record else {
            panic!("{:?}", item.record)
        };
        assert_eq!(r.status.as_deref(), Some("success"));
    });
    only("platform.restoreReport", |item| {
        let Record::RestoreReport(r) = &item.record else {
            panic!("{:?}", item.record)
        };
        assert_eq!(r.metrics.as_ref().map(|m| m.duration_ms), Some(214.9));
    });
}

#[test]
fn logs_dropped() {
    only("platform.logsDropped", |item| {
        let Record::LogsDropped(r) = &item.record else {
            panic!("{:?}", item.record)
        };
        assert_eq!((r.dropped_records, r.dropped_bytes), (123.0, 12345.0));
        assert!(r.reason.as_deref().unwrap().contains("fallen behind"));
    });
}

#[test]
fn known_records_without_measurements_are_ignored_not_rejected() {
    for name in [
        "platform.extension",
        "platform.telemetrySubscription",
        "function.text",
        "function.json-object",
        "extension.text",
    ] {
        let body = format!("[{}]", fixture(name));
        let (items, s) = decode_records(body.as_bytes());
        assert_eq!(
            (s.records, s.ignored, s.malformed, s.unknown),
            (1, 1, 0, 0),
            "{name}"
        );
        assert!(matches!(items[0].record, Record::Ignored), "{name}");
    }
}

#[test]
fn an_unknown_type_is_counted_and_kept_as_unknown() {
    let body = format!("[{}]", fixture("unknown.future-type"));
    let (items, s) = decode_records(body.as_bytes());
    assert_eq!((s.records, s.unknown, s.malformed), (1, 1, 0));
    assert!(matches!(items[0].record, Record::Unknown));
}

#[test]
fn every_fixture_is_accounted_for() {
    let mut names: Vec<String> = std::fs::read_dir(fixture_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let records: Vec<String> = names
        .iter()
        .map(|n| fixture(n.trim_end_matches(".json")))
        .collect();
    let body = format!("[{}]", records.join(","));
    let (items, s) = decode_records(body.as_bytes());
    assert_eq!(s.records, names.len() as u64);
    assert_eq!(items.len(), names.len());
    assert_eq!(s.malformed, 0, "{s:?}");
    assert_eq!(s.unknown, 1);
    assert_eq!(s.ignored, 5);
}

#[test]
fn one_bad_record_keeps_the_rest_of_the_batch() {
    let bad_report = r#"{"time":"2026-11-25T10:00:00.190Z","type":"platform.report","record":{"requestId":"r2","metrics":{"durationMs":"slow"}}}"#;
    let no_envelope = r#"{"record":{}}"#;
    let not_object = "42";
    let body = format!(
        "[{},{bad_report},{},{no_envelope},{not_object},{}]",
        fixture("platform.start"),
        fixture("platform.runtimeDone"),
        fixture("platform.report")
    );
    let (items, s) = decode_records(body.as_bytes());
    assert_eq!((s.records, s.malformed), (6, 3));
    assert!(s.first_problem.unwrap().contains("platform.report"));
    let kinds: Vec<&str> = items.iter().map(|i| i.kind.as_ref()).collect();
    assert_eq!(
        kinds,
        ["platform.start", "platform.runtimeDone", "platform.report"]
    );
}

#[test]
fn a_body_that_breaks_off_keeps_the_records_before_the_break() {
    let body = format!(
        "[{},{},{{\"time\":",
        fixture("platform.start"),
        fixture("platform.runtimeDone")
    );
    let (items, s) = decode_records(body.as_bytes());
    assert_eq!(items.len(), 2);
    assert_eq!(s.malformed, 1);
}

#[test]
fn a_body_that_is_not_an_array_is_one_malformed_batch() {
    for body in [&b"{}"[..], b"", b"null", b"\xff\xfe"] {
        let (items, s) = decode_records(body);
        assert!(items.is_empty());
        assert_eq!(s.malformed, 1, "{body:?}");
    }
    // Trailing garbage: the two (non-object) records and the broken batch are all counted.
    let (_, s) = decode_records(b"[1,2] trailing");
    assert_eq!((s.records, s.malformed), (2, 3));
    let (items, s) = decode_records(b"[]");
    assert!(items.is_empty());
    assert_eq!(s, DecodeStats::default());
}

#[test]
fn escaped_strings_are_decoded() {
    let body = r#"[{"time":"2026-11-25T10:00:00Z","type":"platform.start","record":{"requestId":"a\u0062c","version":"\"1\""}}]"#;
    let (items, _) = decode_records(body.as_bytes());
    let Record::Start(r) = &items[0].record else {
        panic!("{:?}", items[0].record)
    };
    assert_eq!(r.request_id, "abc");
    assert_eq!(r.version.as_deref(), Some("\"1\""));
}

#[test]
fn a_record_before_its_type_is_still_decoded() {
    let body = r#"[{"record":{"requestId":"r1","version":"$LATEST"},"time":"2026-11-25T10:00:00Z","type":"platform.start"}]"#;
    let (items, s) = decode_records(body.as_bytes());
    assert_eq!(s.malformed, 0);
    assert!(matches!(&items[0].record, Record::Start(r) if r.request_id == "r1"));
}

#[test]
fn only_a_record_that_needs_no_body_may_lack_it() {
    let body = r#"[{"time":"2026-11-25T10:00:00Z","type":"platform.extension"},{"time":"2026-11-25T10:00:00Z","type":"platform.start"}]"#;
    let (_, s) = decode_records(body.as_bytes());
    assert_eq!((s.records, s.ignored, s.malformed), (2, 1, 1));
}

#[test]
fn well_formed_records_borrow_from_the_body() {
    let body = format!("[{},{}]", fixture("platform.start"), fixture("platform.report"));
    let (items, stats) = decode_records(body.as_bytes());
    assert_eq!(stats.records, 2);
    let Record::Start(s) = &items[0].record else {
        panic!("{:?}", items[0].record)
    };
    assert!(matches!(s.request_id, Cow::Borrowed(_)));
    assert!(matches!(items[1].time, Cow::Borrowed(_)));
    // Optional texts too (serde's derive copies a `Cow` inside an `Option`).
    assert!(matches!(s.version, Some(Cow::Borrowed(_))), "{:?}", s.version);
    let tracing = s.tracing.as_ref().expect("the fixture's start has tracing");
    assert!(matches!(tracing.value, Some(Cow::Borrowed(_))));
    let Record::Report(r) = &items[1].record else {
        panic!("{:?}", items[1].record)
    };
    assert!(matches!(r.status, Some(Cow::Borrowed(_))), "{:?}", r.status);
    // A text with an escape cannot borrow: it is decoded into a copy.
    let body = r#"[{"time":"2026-11-25T10:00:00Z","type":"platform.report","record":{"requestId":"r1","status":"succ\u0065ss","metrics":{"durationMs":1}}}]"#;
    let (items, _) = decode_records(body.as_bytes());
    assert!(
        matches!(&items[0].record, Record::Report(r) if matches!(&r.status, Some(Cow::Owned(s)) if s == "success"))
    );
}

#[test]
fn range_checks_refuse_negative_non_finite_and_absurd_values_and_keep_the_rest() {
    use lambda_lens_telemetry::wire::{ReportMetrics, RuntimeDoneSpans, bounds};
    let mut m = ReportMetrics {
        duration_ms: -1.0,
        billed_duration_ms: Some(f64::INFINITY),
        memory_size_mb: Some(bounds::MEMORY_MB + 1.0),
        max_memory_used_mb: Some(0.0),
        init_duration_ms: Some(bounds::DURATION_MS),
        restore_duration_ms: Some(f64::NAN),
    };
    let mut refused = Vec::new();
    m.check(&mut |field, _| refused.push(field));
    assert_eq!(
        refused,
        [
            "durationMs",
            "billedDurationMs",
            "memorySizeMB",
            "restoreDurationMs"
        ]
    );
    assert!(m.duration_ms.is_nan());
    assert_eq!((m.billed_duration_ms, m.memory_size_mb), (None, None));
    assert_eq!(
        (m.max_memory_used_mb, m.init_duration_ms),
        (Some(0.0), Some(bounds::DURATION_MS))
    );
    let mut spans = RuntimeDoneSpans {
        response_latency_ms: Some(-0.5),
        response_duration_ms: Some(1.0),
        runtime_overhead_ms: None,
    };
    let mut count = 0;
    spans.check(&mut |_, _| count += 1);
    assert_eq!(
        (count, spans.response_latency_ms, spans.response_duration_ms),
        (1, None, Some(1.0))
    );
}

#[test]
fn a_cursor_read_in_parts_gives_what_one_pass_gives() {
    let bad_report = r#"{"time":"2026-11-25T10:00:00.190Z","type":"platform.report","record":{"requestId":"r2","metrics":{"durationMs":"slow"}}}"#;
    let body = format!(
        " [ {} ,{bad_report},{},\n{} ] ",
        fixture("platform.start"),
        fixture("platform.runtimeDone"),
        fixture("platform.report")
    );
    let (whole, whole_stats) = decode_records(body.as_bytes());
    let mut cursor = lambda_lens_telemetry::Cursor::default();
    let mut stats = DecodeStats::default();
    let mut kinds = Vec::new();
    // One record per call, the body borrowed afresh each time.
    while let Some(item) = cursor.next(body.as_bytes(), &mut stats) {
        kinds.push(item.kind.into_owned());
    }
    assert!(cursor.next(body.as_bytes(), &mut stats).is_none());
    let expected: Vec<String> = whole.iter().map(|i| i.kind.to_string()).collect();
    assert_eq!(kinds, expected);
    assert_eq!(stats, whole_stats);
    assert_eq!((stats.records, stats.malformed), (4, 1));
}

#[test]
fn bytes_that_are_not_utf8_cost_their_record_only() {
    let mut body = format!(
        "[{},{},{}]",
        fixture("platform.start"),
        fixture("platform.runtimeDone"),
        fixture("platform.report")
    )
    .into_bytes();
    // An invalid byte inside the runtimeDone record: the body is not text as a whole, so each
    // string is checked as it is read; that record is skipped and the batch read on from the
    // next one.
    let second = body
        .windows(22)
        .position(|w| w == b"\"platform.runtimeDone\"")
        .unwrap();
    body[second + 1] = 0xff;
    assert!(std::str::from_utf8(&body).is_err());
    let (items, s) = decode_records(&body);
    assert_eq!((s.records, s.malformed), (3, 1), "{s:?}");
    assert!(s.first_problem.unwrap().contains("records after it were read"));
    let kinds: Vec<&str> = items.iter().map(|i| i.kind.as_ref()).collect();
    assert_eq!(kinds, ["platform.start", "platform.report"]);
}

#[test]
fn a_text_body_reads_the_same_checked_whole_or_string_by_string() {
    let body = format!(
        "[{},{},{{\"time\":\"2026-11-25T10:00:00Z\",\"type\":\"platform.report\",\"record\":{{\"requestId\":\"é\",\"metrics\":{{\"durationMs\":\"slow\"}}}}}},{}]",
        fixture("platform.start"),
        fixture("platform.runtimeDone"),
        fixture("platform.report")
    );
    let (mut a, mut b) = (
        lambda_lens_telemetry::Cursor::default(),
        lambda_lens_telemetry::Cursor::default(),
    );
    let (mut sa, mut sb) = (DecodeStats::default(), DecodeStats::default());
    let mut kinds = (Vec::new(), Vec::new());
    while let Some(item) = a.next(body.as_bytes(), &mut sa) {
        kinds.0.push(item.kind.into_owned());
    }
    while let Some(item) = b.next_in_text(&body, &mut sb) {
        kinds.1.push(item.kind.into_owned());
    }
    assert_eq!(kinds.0, kinds.1);
    assert_eq!(sa, sb);
    assert_eq!((sa.records, sa.malformed), (4, 1));
}
