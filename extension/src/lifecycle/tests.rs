use super::*;
use crate::intake::decode::decode_batch;
use crate::sink::MemorySink;

fn pipeline() -> Pipeline<MemorySink> {
    Pipeline::new(
        Joiner::new(JoinLimits::default()),
        InvocationContext::default(),
        EmfEncoder::new(EmfConfig {
            namespace: "Test".into(),
            dimension_sets: vec![vec!["FunctionName".into()]],
            static_dimensions: vec![("FunctionName".into(), "f".into())],
            high_resolution: false,
        })
        .unwrap(),
        MemorySink::default(),
    )
}

fn batch(records: &[(&str, &str)]) -> IntakeMessage {
    let body: Vec<String> = records
        .iter()
        .map(|(kind, record)| {
            format!(r#"{{"time":"2026-11-25T10:00:00.000Z","type":"{kind}","record":{record}}}"#)
        })
        .collect();
    IntakeMessage::Batch(decode_batch(format!("[{}]", body.join(",")).as_bytes()))
}

fn far_deadline() -> u64 {
    (wall_ms() + 10_000) as u64
}

const START: (&str, &str) = ("platform.start", r#"{"requestId":"r1"}"#);
const DONE: (&str, &str) = (
    "platform.runtimeDone",
    r#"{"requestId":"r1","status":"success","metrics":{"durationMs":3.0}}"#,
);
const REPORT: (&str, &str) = (
    "platform.report",
    r#"{"requestId":"r1","status":"success","metrics":{"durationMs":4.0,"billedDurationMs":4,"memorySizeMB":128,"maxMemoryUsedMB":20}}"#,
);

#[tokio::test]
async fn the_report_that_arrives_after_shutdown_is_waited_for_and_written() {
    let p = pipeline();
    let sink = p.sink().clone();
    let (intake_tx, intake_rx) = mpsc::channel(4);
    let (life_tx, life_rx) = mpsc::channel(4);
    let task = tokio::spawn(drive(p, intake_rx, life_rx, Duration::from_secs(5)));
    life_tx
        .send(Lifecycle::Invoke {
            request_id: "r1".into(),
        })
        .await
        .unwrap();
    intake_tx.send(batch(&[START, DONE])).await.unwrap();
    life_tx
        .send(Lifecycle::Shutdown {
            reason: "spindown".into(),
            deadline_ms: far_deadline(),
        })
        .await
        .unwrap();
    intake_tx.send(batch(&[REPORT])).await.unwrap();
    let stats = tokio::time::timeout(Duration::from_secs(3), task)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stats.invocations, 1);
    let docs = sink.documents();
    assert_eq!(docs.len(), 1);
    let doc: serde_json::Value = serde_json::from_str(&docs[0]).unwrap();
    assert_eq!(doc["Duration"], 4.0);
    assert_eq!(doc["Ending"], "complete");
}

#[tokio::test(start_paused = true)]
async fn shutdown_waits_only_a_bounded_time_for_a_report_that_never_comes() {
    let p = pipeline();
    let sink = p.sink().clone();
    let (_intake_tx, intake_rx) = mpsc::channel(4);
    let (life_tx, life_rx) = mpsc::channel(4);
    let task = tokio::spawn(drive(p, intake_rx, life_rx, Duration::from_millis(500)));
    life_tx
        .send(Lifecycle::Invoke {
            request_id: "r1".into(),
        })
        .await
        .unwrap();
    life_tx
        .send(Lifecycle::Shutdown {
            reason: "timeout".into(),
            deadline_ms: far_deadline(),
        })
        .await
        .unwrap();
    let started = Instant::now();
    let stats = task.await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(500));
    assert!(started.elapsed() < Duration::from_millis(600));
    assert_eq!(stats.invocations, 1);
    let doc: serde_json::Value = serde_json::from_str(&sink.documents()[0]).unwrap();
    assert_eq!(doc["Timeouts"], 1.0);
    assert_eq!(doc["Ending"], "shutdown");
}

#[tokio::test(start_paused = true)]
async fn a_deadline_already_near_means_no_wait() {
    let p = pipeline();
    let (_intake_tx, intake_rx) = mpsc::channel(4);
    let (life_tx, life_rx) = mpsc::channel(4);
    let task = tokio::spawn(drive(p, intake_rx, life_rx, Duration::from_secs(1)));
    life_tx
        .send(Lifecycle::Invoke {
            request_id: "r1".into(),
        })
        .await
        .unwrap();
    life_tx
        .send(Lifecycle::Shutdown {
            reason: "spindown".into(),
            deadline_ms: (wall_ms() + 100) as u64,
        })
        .await
        .unwrap();
    let started = Instant::now();
    task.await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(50));
}

#[tokio::test]
async fn pipeline_counts_rejected_records_and_logs_dropped() {
    let mut p = pipeline();
    p.on_intake(
        batch(&[
            START,
            ("platform.mystery", "{}"),
            ("platform.report", r#"{"requestId":"x"}"#),
            (
                "platform.logsDropped",
                r#"{"reason":"slow","droppedRecords":5,"droppedBytes":500}"#,
            ),
        ]),
        0,
    );
    p.on_intake(IntakeMessage::Oversized { bytes: 10 }, 0);
    let s = p.stats();
    assert_eq!((s.records, s.records_unknown, s.records_malformed), (4, 1, 1));
    assert_eq!(
        (s.logs_dropped_records, s.logs_dropped_bytes, s.batches_oversized),
        (5, 500, 1)
    );
}
