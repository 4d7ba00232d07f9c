#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests fail loudly")]

use super::*;

const START: &str = r#"{"time":"2026-11-25T10:00:00.000Z","type":"platform.start","record":{"requestId":"r1","version":"$LATEST"}}"#;
const DONE: &str = r#"{"time":"2026-11-25T10:00:00.100Z","type":"platform.runtimeDone","record":{"requestId":"r1","status":"success","metrics":{"durationMs":5.5}}}"#;
const REPORT: &str = r#"{"time":"2026-11-25T10:00:00.200Z","type":"platform.report","record":{"requestId":"r1","status":"success","metrics":{"durationMs":6.5}}}"#;

/// The kinds read from `body` and the stats, read as text and as bytes (the two must
/// agree).
fn read(body: &str) -> (Vec<String>, DecodeStats) {
    let (items, stats) = decode_records(body.as_bytes());
    let kinds: Vec<String> = items.iter().map(|i| i.kind.to_string()).collect();
    let (mut cursor, mut by_bytes) = (Cursor::default(), DecodeStats::default());
    let mut bytes_kinds = Vec::new();
    while let Some(item) = cursor.next(body.as_bytes(), &mut by_bytes) {
        bytes_kinds.push(item.kind.to_string());
    }
    assert_eq!(kinds, bytes_kinds, "{body}");
    assert_eq!(stats, by_bytes, "{body}");
    (kinds, stats)
}

/// A stray bracket opens an array that swallows the records after it: they are read, not
/// skipped with it as one value that is not a record (found by the property test below).
#[test]
fn a_stray_bracket_costs_the_record_it_opens_only() {
    for (body, kept) in [
        (
            format!("[[{START},{DONE},{REPORT}]"),
            ["platform.runtimeDone", "platform.report"],
        ),
        (
            format!("[{START},[{DONE},{REPORT}]"),
            ["platform.start", "platform.report"],
        ),
        // A bracket that closes the array where a record began, or where a comma stood.
        (
            format!("[]{},{DONE},{REPORT}]", &START[1..]),
            ["platform.runtimeDone", "platform.report"],
        ),
        (
            format!("[{START}]{DONE},{REPORT}]"),
            ["platform.start", "platform.report"],
        ),
    ] {
        let (kinds, s) = read(&body);
        assert_eq!(kinds, kept, "{body}");
        assert_eq!(s.malformed, 1, "{body}");
    }
}

/// A syntax error anywhere inside one record costs that record: the records after it
/// are read (they were all lost: the batch ended at the error).
#[test]
fn a_record_that_is_not_json_costs_that_record_only() {
    let broken = [
        // A doubled comma, a missing value, a missing colon.
        r#"{"time":"2026-11-25T10:00:00.050Z","type":"platform.runtimeDone","record":{"requestId":"r0",,"status":"success"}}"#,
        r#"{"time":,"type":"platform.start","record":{"requestId":"r0"}}"#,
        r#"{"time" "2026-11-25T10:00:00Z","type":"platform.start","record":{}}"#,
        // Brackets that do not balance: the next record would be read as a span.
        r#"{"time":"2026-11-25T10:00:00Z","type":"platform.report","record":{"requestId":"r0","metrics":{"durationMs":1},"spans":[{"name":"x"}"#,
        // A string that does not end where it should, a bare word, a control character.
        r#"{"time":"2026-11-25T10:00:00Z,"type":"platform.start","record":{"requestId":"r0"}}"#,
        r#"{"time":"2026-11-25T10:00:00Z","type":platform.start,"record":{"requestId":"r0"}}"#,
        "{\"time\":\"2026-11-25T10:00:00Z\",\"type\":\"function\",\"record\":\"a\u{1}b\"}",
        // A number that is not one, a truncated literal.
        r#"{"time":"2026-11-25T10:00:00Z","type":"platform.report","record":{"requestId":"r0","metrics":{"durationMs":1.}}}"#,
        r#"{"time":"2026-11-25T10:00:00Z","type":"platform.start","record":{"requestId":"r0","version":nul}}"#,
    ];
    for bad in broken {
        for body in [
            format!("[{START},{bad},{DONE},{REPORT}]"),
            format!("[{bad},{START},{DONE},{REPORT}]"),
            format!("[\n  {START},\n  {bad},\n  {DONE},\n  {REPORT}\n]"),
        ] {
            let (kinds, s) = read(&body);
            assert_eq!(
                kinds,
                ["platform.start", "platform.runtimeDone", "platform.report"],
                "{body}"
            );
            assert_eq!((s.records, s.malformed), (4, 1), "{body}");
            assert!(
                s.first_problem.unwrap().contains("records after it were read"),
                "{body}"
            );
        }
    }
}

#[test]
fn garbage_between_two_records_costs_nothing_but_itself() {
    let (kinds, s) = read(&format!("[{START} x ,{DONE},{REPORT}]"));
    assert_eq!(
        kinds,
        ["platform.start", "platform.runtimeDone", "platform.report"]
    );
    assert_eq!(s.malformed, 1);
}

#[test]
fn several_broken_records_each_cost_only_themselves() {
    let bad = r#"{"time":"t","type":"platform.start","record":{"requestId":"r0",}"#;
    let (kinds, s) = read(&format!("[{bad},{START},{bad},{bad},{DONE},{REPORT},{bad}]"));
    assert_eq!(
        kinds,
        ["platform.start", "platform.runtimeDone", "platform.report"]
    );
    // The two adjacent broken records are one stretch; the last one breaks the batch off.
    assert_eq!((s.records, s.malformed), (5, 3));
}

/// An object inside the broken record is not taken for a record unless it is one in
/// every way a record of the batch is: here it is followed by the rest of its record.
#[test]
fn an_object_nested_in_a_broken_record_is_not_taken_for_a_record() {
    let bad = r#"{"time":"2026-11-25T10:00:00Z","type":"function","record":{"a":,"b":[1,{"time":"t","type":"platform.start","record":{"requestId":"fake"}}],"c":1}}"#;
    let body = format!("[{bad},{START}]");
    let (items, s) = decode_records(body.as_bytes());
    let ids: Vec<String> = items
        .iter()
        .filter_map(|i| match &i.record {
            Record::Start(st) => Some(st.request_id.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(ids, ["r1"]);
    assert_eq!((s.records, s.malformed), (2, 1));
}

#[test]
fn a_body_that_breaks_off_inside_a_record_keeps_the_records_before_it() {
    let (kinds, s) = read(&format!("[{START},{DONE},{{\"time\":\"2026"));
    assert_eq!(kinds, ["platform.start", "platform.runtimeDone"]);
    assert_eq!((s.records, s.malformed), (2, 1));
    assert!(s.first_problem.unwrap().contains("kept the records before"));
}

/// Records of three types and distinct request ids, one of which is then corrupted.
fn records(count: usize) -> Vec<String> {
    (0..count)
        .map(|i| {
            let body = [START, DONE, REPORT][i % 3];
            body.replace("\"r1\"", &format!("\"id-{i}\""))
        })
        .collect()
}

fn ids(body: &[u8]) -> Vec<String> {
    let (items, _) = decode_records(body);
    items
        .iter()
        .filter_map(|i| match &i.record {
            Record::Start(r) => Some(r.request_id.to_string()),
            Record::RuntimeDone(r) => Some(r.request_id.to_string()),
            Record::Report(r) => Some(r.request_id.to_string()),
            _ => None,
        })
        .collect()
}

proptest::proptest! {
    /// One byte of one record deleted, replaced or added, anywhere in it: every other
    /// record of the batch is still read.
    #[test]
    fn a_corrupted_record_costs_at_most_itself(
        count in 2usize..7,
        which in 0usize..7,
        at in 0usize..400,
        edit in 0u8..3,
        byte in proptest::sample::select(&b"{}[],:\" 0a\\\xff"[..]),
    ) {
        let records = records(count);
        let which = which % count;
        let mut bad = records[which].clone().into_bytes();
        let at = at % bad.len();
        match edit {
            0 => {
                bad.remove(at);
            }
            1 => bad[at] = byte,
            _ => bad.insert(at, byte),
        }
        let mut body = b"[".to_vec();
        for (i, record) in records.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            if i == which {
                body.extend_from_slice(&bad);
            } else {
                body.extend_from_slice(record.as_bytes());
            }
        }
        body.push(b']');
        let read = ids(&body);
        for i in (0..count).filter(|i| *i != which) {
            let id = format!("id-{i}");
            proptest::prop_assert!(read.contains(&id), "{id} lost from {}", String::from_utf8_lossy(&body));
        }
    }
}

#[test]
fn the_searches_for_a_next_record_read_a_bounded_multiple_of_the_body() {
    // Candidates that open objects never closed: each read runs far into the body.
    let open = format!(",{{\"time\":[{}", "1,".repeat(20_000));
    let body = format!("[{START},{{\"time\":1{}]", open.repeat(200));
    let (mut cursor, mut stats) = (Cursor::default(), DecodeStats::default());
    let mut kinds = Vec::new();
    while let Some(item) = cursor.next(body.as_bytes(), &mut stats) {
        kinds.push(item.kind.to_string());
    }
    assert_eq!(kinds, ["platform.start"]);
    assert_eq!(stats.malformed, 1);
    // The last try may start just under the budget and charge up to one body more.
    let limit = body.len() * (RESYNC_SCAN_BODIES + 1);
    assert!(
        cursor.resync_scanned <= limit,
        "{} of {limit}",
        cursor.resync_scanned
    );
}

#[test]
fn a_pathological_body_costs_bounded_work() {
    // Thousands of places that look like a record's beginning, none of them one.
    let noise = r#",{"time":[,"#.repeat(20_000);
    let body = format!("[{START},{{\"time\":1{noise}}},{DONE}]");
    let started = std::time::Instant::now();
    let (kinds, s) = read(&body);
    assert_eq!(kinds, ["platform.start"]);
    assert_eq!(s.malformed, 1);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}
