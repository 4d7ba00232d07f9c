//! The conversion into the model. The decoding itself (every record shape, broken batches) is
//! tested beside the decoder, in the `lambda-lens-telemetry` crate.

use super::*;

/// When the test batches arrive: 2026-11-25T10:00:00Z, the time of their records.
const ARRIVED: i64 = 1_795_600_800_000;

fn fixture(name: &str) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../telemetry/tests/fixtures");
    let path = std::path::Path::new(path).join(format!("{name}.json"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn only_event(name: &str) -> TelemetryEvent {
    let b = Batch::decode(format!("[{}]", fixture(name)).as_bytes(), ARRIVED);
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
    let EventKind::RuntimeDone(_, r) = only_event("platform.runtimeDone").kind else {
        panic!()
    };
    assert_eq!(r.status, Some(Status::Success));
    assert_eq!(r.metrics.map(|m| m.duration_ms), Some(48.7));
    assert_eq!(r.spans.response_latency_ms, Some(47.1));
    let EventKind::Report(_, r) = only_event("platform.report").kind else {
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
    let b = Batch::decode(body.as_bytes(), ARRIVED);
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
    let b = Batch::decode(body.as_bytes(), ARRIVED);
    assert_eq!((b.stats.records, b.stats.used, b.stats.malformed), (4, 2, 1));
    assert!(b.stats.first_problem.unwrap().contains("yesterday"));
    assert_eq!(b.events.len(), 2);
}

#[test]
fn records_converted_before_a_bad_one_are_not_counted_twice() {
    // The decoder hands the first records on as it reads them, meets the bad one, and hands
    // every good record again from its slow path: the conversion must start over, not add.
    let bad_time = r#"{"time":"yesterday","type":"platform.start","record":{"requestId":"r3"}}"#;
    let bad_schema =
        r#"{"time":"2026-11-25T10:00:00.000Z","type":"platform.start","record":{"requestId":7}}"#;
    let body = format!(
        "[{},{bad_time},{bad_schema},{}]",
        fixture("platform.start"),
        fixture("platform.report")
    );
    let b = Batch::decode(body.as_bytes(), ARRIVED);
    assert_eq!((b.stats.records, b.stats.used, b.stats.malformed), (4, 2, 2));
    assert_eq!(b.events.len(), 2);
    // The decoder's problem is the one the log line quotes.
    assert!(
        b.stats
            .first_problem
            .unwrap()
            .contains("does not match its schema")
    );
}

#[test]
fn status_is_parsed_case_insensitively_and_unknown_status_is_kept_as_other() {
    assert_eq!(Status::parse("Timeout"), Status::Timeout);
    assert_eq!(Status::parse("FAILURE"), Status::Failure);
    assert_eq!(Status::parse("weird"), Status::Other);
}

fn record(time: &str, kind: &str, body: &str) -> String {
    format!(r#"{{"time":"{time}","type":"{kind}","record":{body}}}"#)
}

#[test]
fn times_cloudwatch_would_refuse_are_replaced_by_the_arrival_time_and_counted() {
    let body = format!(
        "[{},{},{},{}]",
        record(
            "2026-10-26T10:00:00Z",
            "platform.start",
            r#"{"requestId":"month-old"}"#
        ),
        record(
            "2026-11-26T10:00:00Z",
            "platform.start",
            r#"{"requestId":"day-ahead"}"#
        ),
        record(
            "1969-12-31T23:59:59Z",
            "platform.start",
            r#"{"requestId":"before-1970"}"#
        ),
        record(
            "2026-11-25T09:00:00Z",
            "platform.start",
            r#"{"requestId":"an-hour-old"}"#
        ),
    );
    let b = Batch::decode(body.as_bytes(), ARRIVED);
    let times: Vec<i64> = b.events.iter().map(|e| e.time_ms).collect();
    assert_eq!(times, [ARRIVED, ARRIVED, ARRIVED, ARRIVED - 3_600_000]);
    assert_eq!(b.checks.times_replaced, 3);
    assert_eq!(b.stats.used, 4, "every record is still used");
}

#[test]
fn values_that_cannot_be_right_are_dropped_and_counted_and_the_record_is_kept() {
    let body = format!(
        "[{},{},{}]",
        record(
            "2026-11-25T10:00:00Z",
            "platform.report",
            r#"{"requestId":"r1","status":"success","metrics":{"durationMs":-5,"billedDurationMs":1e300,"memorySizeMB":-128,"maxMemoryUsedMB":40,"initDurationMs":-1}}"#
        ),
        record(
            "2026-11-25T10:00:00Z",
            "platform.runtimeDone",
            r#"{"requestId":"r1","status":"success","metrics":{"durationMs":3,"producedBytes":-10},"spans":[{"name":"responseLatency","durationMs":-2}]}"#
        ),
        record(
            "2026-11-25T10:00:00Z",
            "platform.logsDropped",
            r#"{"reason":"x","droppedRecords":-3,"droppedBytes":5}"#
        ),
    );
    let b = Batch::decode(body.as_bytes(), ARRIVED);
    assert_eq!((b.stats.used, b.stats.malformed), (3, 0));
    assert_eq!(b.checks.values_dropped, 7);
    assert!(
        b.checks.first.as_deref().unwrap().contains("durationMs"),
        "{:?}",
        b.checks.first
    );
    let EventKind::Report(_, r) = &b.events[0].kind else {
        panic!()
    };
    assert!(
        r.metrics.duration_ms.is_nan(),
        "a refused required value is absent (NaN)"
    );
    assert_eq!(
        (
            r.metrics.billed_duration_ms,
            r.metrics.memory_size_mb,
            r.metrics.max_memory_used_mb
        ),
        (None, None, Some(40.0))
    );
    let EventKind::RuntimeDone(_, d) = &b.events[1].kind else {
        panic!()
    };
    assert_eq!(d.metrics.unwrap().produced_bytes, None);
    assert_eq!(d.spans.response_latency_ms, None);
}

#[test]
fn an_over_long_request_id_costs_its_record_and_long_texts_are_cut() {
    let long_id = "r".repeat(100 * 1024);
    let long_error = "E".repeat(5_000);
    let body = format!(
        "[{},{}]",
        record(
            "2026-11-25T10:00:00Z",
            "platform.start",
            &format!(r#"{{"requestId":"{long_id}"}}"#)
        ),
        record(
            "2026-11-25T10:00:00Z",
            "platform.runtimeDone",
            &format!(r#"{{"requestId":"r2","status":"error","errorType":"{long_error}"}}"#)
        ),
    );
    let b = Batch::decode(body.as_bytes(), ARRIVED);
    assert_eq!((b.stats.used, b.stats.malformed), (1, 1));
    assert!(b.stats.first_problem.as_deref().unwrap().contains("102400 bytes"));
    assert!(
        b.stats.first_problem.as_deref().unwrap().len() < 500,
        "the id is not in the problem"
    );
    let EventKind::RuntimeDone(_, d) = &b.events[0].kind else {
        panic!()
    };
    assert_eq!(d.error_type.as_deref().map(str::len), Some(256));
    assert_eq!(b.checks.texts_cut, 1);
}

#[test]
fn bytes_that_are_not_utf8_are_replaced_and_every_record_is_used() {
    let mut body = format!(
        "[{},{},{}]",
        fixture("platform.start"),
        fixture("platform.runtimeDone"),
        fixture("platform.report")
    )
    .into_bytes();
    // An invalid byte inside the runtimeDone record's status.
    let at = body.windows(9).position(|w| w == b"\"success\"").unwrap();
    body[at + 2] = 0xff;
    let b = Batch::decode(&body, ARRIVED);
    assert_eq!(
        (b.stats.records, b.stats.used, b.stats.malformed),
        (3, 3, 0),
        "{:?}",
        b.stats
    );
    assert_eq!(b.checks.not_utf8, 1);
    assert!(b.checks.first.as_deref().unwrap().contains("not UTF-8"));
    let EventKind::RuntimeDone(_, d) = &b.events[1].kind else {
        panic!("{:?}", b.events[1].kind)
    };
    assert_eq!(d.status, Some(Status::Other), "s\u{fffd}ccess is no status");

    // The same, delivered: read by the pipeline as the extension reads it.
    let mut reading = Reading::from(Delivery::unheld(body, ARRIVED));
    let mut events = 0;
    while reading.next_event(&mut Versions::default()).is_some() {
        events += 1;
    }
    let (stats, checks) = reading.finish();
    assert_eq!(
        (events, stats.used, stats.malformed, checks.not_utf8),
        (3, 3, 0, 1)
    );
}

#[test]
fn invocations_of_one_version_share_its_text_from_batch_to_batch() {
    let start = |id: &str, version: &str| {
        format!(
            r#"{{"time":"2026-11-25T10:00:00.000Z","type":"platform.start","record":{{"requestId":"{id}","version":"{version}"}}}}"#
        )
    };
    let version = |reading: &mut Reading, versions: &mut Versions| match reading.next_event(versions) {
        Some(TelemetryEvent {
            kind: EventKind::Start(s),
            ..
        }) => s.version.unwrap(),
        other => panic!("{other:?}"),
    };
    let mut versions = Versions::default();
    let first = format!("[{},{}]", start("a", "$LATEST"), start("b", "$LATEST"));
    let mut reading = Reading::from(Delivery::unheld(first.into_bytes(), ARRIVED));
    let (a, b) = (
        version(&mut reading, &mut versions),
        version(&mut reading, &mut versions),
    );
    assert!(Arc::ptr_eq(&a, &b), "one text for both");
    let second = format!("[{},{}]", start("c", "$LATEST"), start("d", "7"));
    let mut reading = Reading::from(Delivery::unheld(second.into_bytes(), ARRIVED));
    let (c, d) = (
        version(&mut reading, &mut versions),
        version(&mut reading, &mut versions),
    );
    assert!(Arc::ptr_eq(&a, &c), "kept from the batch before");
    assert_eq!((&*c, &*d), ("$LATEST", "7"));
}

/// A delivered body read to its end, with `kept` to give its buffer back to.
fn read_to_the_end(body: Vec<u8>, kept: &Arc<KeptBuffer>) -> (DecodeStats, Checks) {
    let slots = Arc::new(tokio::sync::Semaphore::new(1));
    let slot = Arc::clone(&slots).try_acquire_owned().unwrap();
    let mut reading = Reading::from(Delivery::new(body, ARRIVED, slot, Some(Arc::clone(kept))));
    let mut versions = Versions::default();
    while reading.next_event(&mut versions).is_some() {}
    let counted = reading.finish();
    assert_eq!(slots.available_permits(), 1, "the slot is given back");
    counted
}

#[test]
fn a_worked_bodys_buffer_is_kept_for_the_next_and_a_large_one_is_let_go() {
    let kept = Arc::new(KeptBuffer::new(KEPT_BODY_MAX_BYTES));
    let batch = format!("[{}]", fixture("platform.start"));
    let mut body = Vec::with_capacity(4096);
    body.extend_from_slice(batch.as_bytes());
    let buffer = body.as_ptr();
    let (stats, _) = read_to_the_end(body, &kept);
    assert_eq!(stats.used, 1);

    let again = kept.take();
    assert!(again.is_empty());
    assert_eq!(
        (again.as_ptr(), again.capacity()),
        (buffer, 4096),
        "the same buffer, emptied"
    );
    assert_eq!(
        kept.take().capacity(),
        0,
        "taken: none is kept until it comes back"
    );

    let mut large = Vec::with_capacity(KEPT_BODY_MAX_BYTES + 1);
    large.extend_from_slice(batch.as_bytes());
    let (stats, _) = read_to_the_end(large, &kept);
    assert_eq!(stats.used, 1);
    assert_eq!(kept.take().capacity(), 0, "a buffer over the bound is let go");
}
