use super::*;
use std::path::PathBuf;

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/telemetry")
}

fn fixture(name: &str) -> String {
    let path = fixture_dir().join(format!("{name}.json"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Decodes one fixture record alone in a batch.
fn one(name: &str) -> Decoded {
    decode_batch(format!("[{}]", fixture(name)).as_bytes())
}

fn only_event(name: &str) -> TelemetryEvent {
    let d = one(name);
    assert_eq!(d.stats.malformed, 0, "{name}: {:?}", d.stats.first_problem);
    assert_eq!(d.events.len(), 1, "{name}");
    d.events.into_iter().next().unwrap()
}

#[test]
fn init_events() {
    let e = only_event("platform.initStart");
    assert_eq!(e.time_ms, 1_795_600_800_000);
    match e.kind {
        EventKind::InitStart {
            info,
            runtime_version,
        } => {
            assert_eq!(info.init_type.as_deref(), Some("on-demand"));
            assert_eq!(info.phase.as_deref(), Some("init"));
            assert_eq!(runtime_version.as_deref(), Some("provided:al2023.v91"));
        }
        other => panic!("{other:?}"),
    }
    match only_event("platform.initRuntimeDone").kind {
        EventKind::InitRuntimeDone { status, .. } => assert_eq!(status, Some(Status::Success)),
        other => panic!("{other:?}"),
    }
    match only_event("platform.initReport").kind {
        EventKind::InitReport {
            duration_ms, status, ..
        } => {
            assert_eq!(duration_ms, Some(125.4));
            assert_eq!(status, Some(Status::Success));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn invocation_events() {
    match only_event("platform.start").kind {
        EventKind::Start {
            request_id,
            version,
            trace_id,
        } => {
            assert_eq!(request_id, "6d68ca91-49c9-448d-89b8-7ca3e6dc66aa");
            assert_eq!(version.as_deref(), Some("$LATEST"));
            assert!(trace_id.unwrap().starts_with("Root=1-62e900b2"));
        }
        other => panic!("{other:?}"),
    }
    match only_event("platform.runtimeDone").kind {
        EventKind::RuntimeDone {
            status,
            duration_ms,
            produced_bytes,
            spans,
            ..
        } => {
            assert_eq!(status, Some(Status::Success));
            assert_eq!(duration_ms, Some(48.7));
            assert_eq!(produced_bytes, Some(52.0));
            assert_eq!(spans.response_latency_ms, Some(47.1));
            assert_eq!(spans.response_duration_ms, Some(0.3));
            assert_eq!(spans.runtime_overhead_ms, Some(1.2));
        }
        other => panic!("{other:?}"),
    }
    match only_event("platform.report").kind {
        EventKind::Report {
            duration_ms,
            billed_duration_ms,
            memory_size_mb,
            max_memory_used_mb,
            init_duration_ms,
            restore_duration_ms,
            ..
        } => {
            assert_eq!(duration_ms, 52.3);
            assert_eq!(billed_duration_ms, Some(178.0));
            assert_eq!(memory_size_mb, Some(128.0));
            assert_eq!(max_memory_used_mb, Some(31.0));
            assert_eq!(init_duration_ms, Some(125.4));
            assert_eq!(restore_duration_ms, None);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn managed_instances_report_with_only_duration() {
    match only_event("platform.report.managed-instances").kind {
        EventKind::Report {
            duration_ms,
            billed_duration_ms,
            memory_size_mb,
            max_memory_used_mb,
            ..
        } => {
            assert_eq!(duration_ms, 12.25);
            assert_eq!(
                (billed_duration_ms, memory_size_mb, max_memory_used_mb),
                (None, None, None)
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn snapstart_restore_events() {
    assert_eq!(only_event("platform.restoreStart").kind, EventKind::RestoreStart);
    match only_event("platform.restoreRuntimeDone").kind {
        EventKind::RestoreRuntimeDone { status, .. } => assert_eq!(status, Some(Status::Success)),
        other => panic!("{other:?}"),
    }
    match only_event("platform.restoreReport").kind {
        EventKind::RestoreReport { duration_ms, .. } => assert_eq!(duration_ms, Some(214.9)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn logs_dropped() {
    match only_event("platform.logsDropped").kind {
        EventKind::LogsDropped {
            records,
            bytes,
            reason,
        } => {
            assert_eq!((records, bytes), (123.0, 12345.0));
            assert!(reason.unwrap().contains("fallen behind"));
        }
        other => panic!("{other:?}"),
    }
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
        let d = one(name);
        assert_eq!(
            (
                d.stats.records,
                d.stats.ignored,
                d.stats.malformed,
                d.stats.unknown
            ),
            (1, 1, 0, 0),
            "{name}"
        );
        assert!(d.events.is_empty(), "{name}");
    }
}

#[test]
fn unknown_type_is_counted_and_skipped() {
    let d = one("unknown.future-type");
    assert_eq!((d.stats.records, d.stats.unknown, d.stats.malformed), (1, 1, 0));
    assert!(d.events.is_empty());
}

#[test]
fn every_fixture_is_accounted_for() {
    let mut names: Vec<String> = std::fs::read_dir(fixture_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let body = format!(
        "[{}]",
        names
            .iter()
            .map(|n| fixture(n.trim_end_matches(".json")))
            .collect::<Vec<_>>()
            .join(",")
    );
    let d = decode_batch(body.as_bytes());
    let s = &d.stats;
    assert_eq!(s.records, names.len() as u64);
    assert_eq!(s.used + s.ignored + s.unknown + s.malformed, s.records, "{s:?}");
    assert_eq!(s.malformed, 0, "{s:?}");
    assert_eq!(s.unknown, 1);
}

#[test]
fn one_bad_record_keeps_the_rest_of_the_batch() {
    let bad_report = r#"{"time":"2026-11-25T10:00:00.190Z","type":"platform.report","record":{"requestId":"r2","metrics":{"durationMs":"slow"}}}"#;
    let bad_time = r#"{"time":"yesterday","type":"platform.start","record":{"requestId":"r3"}}"#;
    let no_envelope = r#"{"record":{}}"#;
    let not_object = r#"42"#;
    let body = format!(
        "[{},{bad_report},{},{bad_time},{no_envelope},{not_object},{}]",
        fixture("platform.start"),
        fixture("platform.runtimeDone"),
        fixture("platform.report")
    );
    let d = decode_batch(body.as_bytes());
    assert_eq!(d.stats.records, 7);
    assert_eq!(d.stats.used, 3);
    assert_eq!(d.stats.malformed, 4);
    assert!(d.stats.first_problem.unwrap().contains("platform.report"));
    assert_eq!(d.events.len(), 3);
}

#[test]
fn a_body_that_breaks_off_keeps_the_records_before_the_break() {
    let body = format!(
        "[{},{},{{\"time\":",
        fixture("platform.start"),
        fixture("platform.runtimeDone")
    );
    let d = decode_batch(body.as_bytes());
    assert_eq!(d.events.len(), 2);
    assert_eq!(d.stats.malformed, 1);
}

#[test]
fn a_body_that_is_not_an_array_is_one_malformed_batch() {
    for body in [&b"{}"[..], b"", b"null", b"\xff\xfe"] {
        let d = decode_batch(body);
        assert!(d.events.is_empty());
        assert_eq!(d.stats.malformed, 1, "{body:?}");
    }
    // Trailing garbage: the two (non-object) records and the broken batch are all counted.
    let d = decode_batch(b"[1,2] trailing");
    assert_eq!((d.stats.records, d.stats.malformed), (2, 3));
    let d = decode_batch(b"[]");
    assert_eq!(d.stats, DecodeStats::default());
}

#[test]
fn escaped_strings_are_decoded() {
    let body = r#"[{"time":"2026-11-25T10:00:00Z","type":"platform.start","record":{"requestId":"a\u0062c","version":"\"1\""}}]"#;
    let d = decode_batch(body.as_bytes());
    match &d.events[0].kind {
        EventKind::Start {
            request_id, version, ..
        } => {
            assert_eq!(request_id, "abc");
            assert_eq!(version.as_deref(), Some("\"1\""));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn status_is_parsed_case_insensitively_and_unknown_status_is_kept_as_other() {
    assert_eq!(Status::parse("Timeout"), Status::Timeout);
    assert_eq!(Status::parse("FAILURE"), Status::Failure);
    assert_eq!(Status::parse("weird"), Status::Other);
}

#[test]
fn a_record_before_its_type_is_still_decoded() {
    let body = r#"[{"record":{"requestId":"r1","version":"$LATEST"},"time":"2026-11-25T10:00:00Z","type":"platform.start"}]"#;
    let d = decode_batch(body.as_bytes());
    assert_eq!(d.stats.malformed, 0);
    assert!(matches!(&d.events[0].kind, EventKind::Start { request_id, .. } if request_id == "r1"));
}

#[test]
fn a_record_that_needs_no_body_may_lack_it() {
    let body = r#"[{"time":"2026-11-25T10:00:00Z","type":"platform.extension"},{"time":"2026-11-25T10:00:00Z","type":"platform.start"}]"#;
    let d = decode_batch(body.as_bytes());
    assert_eq!((d.stats.records, d.stats.ignored, d.stats.malformed), (2, 1, 1));
}

#[test]
fn well_formed_records_borrow_from_the_body() {
    use crate::intake::record::Record;
    use std::borrow::Cow;
    let body = format!("[{},{}]", fixture("platform.start"), fixture("platform.report"));
    let (items, stats) = decode_records(body.as_bytes());
    assert_eq!(stats.records, 2);
    match &items[0].record {
        Record::Start(s) => assert!(matches!(s.request_id, Cow::Borrowed(_))),
        other => panic!("{other:?}"),
    }
    assert!(matches!(items[1].time, Cow::Borrowed(_)));
}
