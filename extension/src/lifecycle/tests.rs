use super::*;
use crate::emf::Batcher;
use crate::intake::decode::decode_batch;
use crate::resources::Sampler;
use crate::sink::MemorySink;

/// Hands out scripted samples: CPU grows by 10 ms per sample.
struct Scripted(f64);

impl Sampler for Scripted {
    fn sample(&mut self) -> crate::resources::ResourceSample {
        self.0 += 10.0;
        crate::resources::ResourceSample {
            processes: 1,
            cpu_user_ms: self.0,
            threads: 3,
            ..Default::default()
        }
    }
}

fn pipeline_with(batcher: Option<Batcher>, sampler: Option<Box<dyn Sampler>>) -> Pipeline<MemorySink> {
    Pipeline::new(PipelineParts {
        joiner: Joiner::new(JoinLimits::default()),
        context: InvocationContext::default(),
        encoder: EmfEncoder::new(EmfConfig {
            namespace: "Test".into(),
            dimension_sets: vec![vec!["FunctionName".into()]],
            static_dimensions: vec![("FunctionName".into(), "f".into())],
            high_resolution: false,
        })
        .unwrap(),
        sink: MemorySink::default(),
        selection: crate::metrics::selection::Selection::all(),
        batcher,
        sampler,
    })
}

fn pipeline() -> Pipeline<MemorySink> {
    pipeline_with(None, None)
}

fn docs(sink: &MemorySink) -> Vec<serde_json::Value> {
    sink.documents()
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
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
    let task = tokio::spawn(drive(p, intake_rx, life_rx, Duration::from_secs(5), None));
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
    let docs = docs(&sink);
    assert_eq!(docs.len(), 2, "the invocation and the shutdown");
    assert_eq!(docs[0]["Duration"], 4.0);
    assert_eq!(docs[0]["Ending"], "complete");
    assert_eq!(docs[1]["Shutdowns"], 1.0);
    assert_eq!(docs[1]["ShutdownReason"], "spindown");
}

#[tokio::test(start_paused = true)]
async fn shutdown_waits_only_a_bounded_time_for_a_report_that_never_comes() {
    let p = pipeline();
    let sink = p.sink().clone();
    let (_intake_tx, intake_rx) = mpsc::channel(4);
    let (life_tx, life_rx) = mpsc::channel(4);
    let task = tokio::spawn(drive(p, intake_rx, life_rx, Duration::from_millis(500), None));
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
    let doc = &docs(&sink)[0];
    assert_eq!(doc["Timeouts"], 1.0);
    assert_eq!(doc["Ending"], "shutdown");
}

#[tokio::test(start_paused = true)]
async fn a_deadline_already_near_means_no_wait() {
    let p = pipeline();
    let (_intake_tx, intake_rx) = mpsc::channel(4);
    let (life_tx, life_rx) = mpsc::channel(4);
    let task = tokio::spawn(drive(p, intake_rx, life_rx, Duration::from_secs(1), None));
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

const START2: (&str, &str) = ("platform.start", r#"{"requestId":"r2"}"#);
const DONE2: (&str, &str) = (
    "platform.runtimeDone",
    r#"{"requestId":"r2","status":"success","metrics":{"durationMs":3.0}}"#,
);
const REPORT2: (&str, &str) = (
    "platform.report",
    r#"{"requestId":"r2","status":"success","metrics":{"durationMs":4.0,"billedDurationMs":4,"memorySizeMB":128,"maxMemoryUsedMB":20}}"#,
);

#[test]
fn resource_use_is_measured_between_invoke_boundaries() {
    let mut p = pipeline_with(None, Some(Box::new(Scripted(0.0))));
    let sink = p.sink().clone();
    p.on_invoke("r1", 0, 0);
    p.on_intake(batch(&[START, DONE, REPORT]), 1);
    assert!(
        sink_is_empty_after_flush(&mut p),
        "r1 waits for its closing sample"
    );
    p.on_invoke("r2", 0, 2);
    p.on_intake(batch(&[START2, DONE2]), 3);
    p.on_shutdown(4);
    p.on_intake(batch(&[REPORT2]), 5);
    p.finish("spindown", 0, 6);
    block_on(p.flush()).unwrap();
    let docs = docs(&sink);
    assert_eq!(docs[0]["RequestId"], "r1");
    assert_eq!(docs[0]["CpuUserTime"], 10.0);
    assert_eq!(docs[0]["Threads"], 3.0);
    assert_eq!(docs[1]["RequestId"], "r2");
    assert_eq!(docs[1]["CpuUserTime"], 10.0);
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

fn sink_is_empty_after_flush(p: &mut Pipeline<MemorySink>) -> bool {
    block_on(p.flush()).unwrap();
    p.sink().documents().is_empty()
}

#[test]
fn batched_output_writes_one_document_for_many_invocations() {
    let mut p = pipeline_with(Some(Batcher::new(false, false, 60_000)), None);
    let sink = p.sink().clone();
    p.on_intake(batch(&[START, DONE, REPORT, START2, DONE2, REPORT2]), 0);
    assert!(sink_is_empty_after_flush(&mut p));
    p.finish("spindown", 0, 1);
    block_on(p.flush()).unwrap();
    let docs = docs(&sink);
    assert_eq!(docs.len(), 2, "one batch and the shutdown record");
    assert_eq!(docs[0]["Invocations"], serde_json::json!([1.0, 1.0]));
    assert_eq!(docs[0]["RequestIds"], serde_json::json!(["r1", "r2"]));
}

#[test]
fn a_batch_is_written_when_due() {
    let mut p = pipeline_with(Some(Batcher::new(false, false, 1_000)), None);
    p.on_intake(batch(&[START, DONE, REPORT]), 0);
    assert_eq!(p.next_deadline(), Some(1_000));
    p.sweep(1_000);
    assert!(!sink_is_empty_after_flush(&mut p));
}

#[test]
fn environment_records_for_init_errors_and_dropped_logs() {
    let mut p = pipeline();
    let sink = p.sink().clone();
    p.on_intake(
        batch(&[
            (
                "platform.initReport",
                r#"{"initializationType":"on-demand","phase":"init","status":"error","errorType":"Runtime.ExitError","metrics":{"durationMs":12.0}}"#,
            ),
            ("platform.logsDropped", r#"{"reason":"slow","droppedRecords":5,"droppedBytes":500}"#),
        ]),
        0,
    );
    block_on(p.flush()).unwrap();
    let docs = docs(&sink);
    assert_eq!(docs[0]["InitErrors"], 1.0);
    assert_eq!(docs[0]["ErrorType"], "Runtime.ExitError");
    assert_eq!(docs[1]["LogsDroppedRecords"], 5.0);
    assert_eq!(docs[1]["LogsDroppedBytes"], 500.0);
}
