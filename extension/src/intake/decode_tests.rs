//! The conversion into the model. The decoding itself (every record shape, broken batches) is
//! tested beside the decoder, in the `lambda-lens-telemetry` crate.

use super::*;

fn fixture(name: &str) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../telemetry/tests/fixtures");
    let path = std::path::Path::new(path).join(format!("{name}.json"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn only_event(name: &str) -> TelemetryEvent {
    let b = Batch::decode(format!("[{}]", fixture(name)).as_bytes());
    assert_eq!(b.stats.malformed, 0, "{name}: {:?}", b.stats.first_problem);
    assert_eq!((b.events.len(), b.stats.used), (1, 1), "{name}");
    b.events.into_iter().next().unwrap()
}

#[test]
fn init_events_become_phases() {
    let e = only_event("platform.initStart");
    assert_eq!(e.time_ms, 1_795_600_800_000);
    let EventKind::InitStart(p) = e.kind else {
        panic!("{:?}", e.kind)
    };
    assert_eq!(p.init_type.as_deref(), Some("on-demand"));
    assert_eq!(p.phase.as_deref(), Some("init"));
    assert_eq!(p.runtime_version.as_deref(), Some("provided:al2023.v91"));
    let EventKind::InitRuntimeDone(p) = only_event("platform.initRuntimeDone").kind else {
        panic!()
    };
    assert_eq!(p.status, Some(Status::Success));
    let EventKind::InitReport(p) = only_event("platform.initReport").kind else {
        panic!()
    };
    assert_eq!((p.duration_ms, p.status), (Some(125.4), Some(Status::Success)));
}

#[test]
fn invocation_events_keep_the_records_measurements_whole() {
    let EventKind::Start(s) = only_event("platform.start").kind else {
        panic!()
    };
    assert_eq!(s.request_id, "6d68ca91-49c9-448d-89b8-7ca3e6dc66aa");
    assert_eq!(s.version.as_deref(), Some("$LATEST"));
    assert!(s.trace_id.unwrap().starts_with("Root=1-62e900b2"));
    let EventKind::RuntimeDone(r) = only_event("platform.runtimeDone").kind else {
        panic!()
    };
    assert_eq!(r.status, Some(Status::Success));
    assert_eq!(r.metrics.map(|m| m.duration_ms), Some(48.7));
    assert_eq!(r.spans.response_latency_ms, Some(47.1));
    let EventKind::Report(r) = only_event("platform.report").kind else {
        panic!()
    };
    assert_eq!(r.status, Some(Status::Success));
    assert_eq!(
        (r.metrics.duration_ms, r.metrics.init_duration_ms),
        (52.3, Some(125.4))
    );
}

#[test]
fn restore_and_dropped_telemetry_events() {
    assert_eq!(only_event("platform.restoreStart").kind, EventKind::RestoreStart);
    let EventKind::RestoreReport(p) = only_event("platform.restoreReport").kind else {
        panic!()
    };
    assert_eq!(p.duration_ms, Some(214.9));
    let EventKind::LogsDropped(d) = only_event("platform.logsDropped").kind else {
        panic!()
    };
    assert_eq!((d.records, d.bytes), (123.0, 12345.0));
}

#[test]
fn records_without_measurements_make_no_event() {
    let body = format!(
        "[{},{},{}]",
        fixture("platform.extension"),
        fixture("function.text"),
        fixture("unknown.future-type")
    );
    let b = Batch::decode(body.as_bytes());
    assert!(b.events.is_empty());
    assert_eq!(
        (b.stats.records, b.stats.used, b.stats.ignored, b.stats.unknown),
        (3, 0, 2, 1)
    );
}

#[test]
fn a_record_whose_time_is_not_rfc3339_is_malformed_and_the_rest_is_used() {
    let bad_time = r#"{"time":"yesterday","type":"platform.start","record":{"requestId":"r3"}}"#;
    let log_bad_time = r#"{"time":"yesterday","type":"function","record":"hello"}"#;
    let body = format!(
        "[{},{bad_time},{log_bad_time},{}]",
        fixture("platform.start"),
        fixture("platform.report")
    );
    let b = Batch::decode(body.as_bytes());
    assert_eq!((b.stats.records, b.stats.used, b.stats.malformed), (4, 2, 1));
    assert!(b.stats.first_problem.unwrap().contains("yesterday"));
    assert_eq!(b.events.len(), 2);
}

#[test]
fn status_is_parsed_case_insensitively_and_unknown_status_is_kept_as_other() {
    assert_eq!(Status::parse("Timeout"), Status::Timeout);
    assert_eq!(Status::parse("FAILURE"), Status::Failure);
    assert_eq!(Status::parse("weird"), Status::Other);
}
