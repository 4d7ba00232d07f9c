use super::super::notice::{self, Invoke, Notifier};
use super::*;
use crate::config::Config;
use crate::intake::Batch;
use crate::model::ResourceSample;
use crate::sink::MemorySink;

/// Wall time at the start of each test; it moves with tokio's (paused) clock.
const WALL: i64 = 1_795_600_800_000;

fn pipeline(vars: &[(&str, &str)]) -> Pipeline<MemorySink> {
    let (config, warnings) = Config::from_pairs(vars);
    assert!(warnings.is_empty(), "{warnings:?}");
    Pipeline::from_config(&config, MemorySink::default())
}

fn docs(sink: &MemorySink) -> Vec<serde_json::Value> {
    sink.documents()
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

fn batch(records: &[(&str, &str)]) -> IntakeMessage {
    IntakeMessage::Batch(Batch::of_records(records))
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

/// A pipeline for `vars` driven by a task, with the channels that feed it.
struct Driven {
    intake: mpsc::Sender<IntakeMessage>,
    life: Notifier,
    task: tokio::task::JoinHandle<PipelineStats>,
    sink: MemorySink,
}

fn start(vars: &[(&str, &str)], sampler: Option<Box<dyn Sampler>>, wait: Duration, clock: Clock) -> Driven {
    let p = pipeline(vars);
    let sink = p.sink().clone();
    let (intake, intake_rx) = mpsc::channel(4);
    // Without a sampler the notices wait unwoken, as in the extension.
    let (life, life_rx) = notice::channel(sampler.is_some());
    let task = tokio::spawn(drive(p, intake_rx, life_rx, sampler, wait, clock));
    Driven {
        intake,
        life,
        task,
        sink,
    }
}

/// Queues `invoke` and sends the wake that is due, as the event loop does once its next
/// request is out.
fn notify(life: &Notifier, invoke: Invoke) {
    if life.invoke(invoke) {
        life.wake();
    }
}

fn invoke(id: &str) -> Invoke {
    Invoke {
        request_id: id.into(),
        wall_ms: WALL,
    }
}

#[tokio::test(start_paused = true)]
async fn the_report_that_arrives_after_shutdown_is_waited_for_and_written() {
    let Driven {
        intake: intake_tx,
        life: life_tx,
        task,
        sink,
    } = start(
        &[("LAMBDA_LENS_METRICS", "all")],
        None,
        Duration::from_secs(5),
        Clock::following_tokio(WALL),
    );
    notify(&life_tx, invoke("r1"));
    intake_tx.send(batch(&[START, DONE])).await.unwrap();
    life_tx.shutdown("spindown".into(), (WALL + 10_000) as u64).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    intake_tx.send(batch(&[REPORT])).await.unwrap();
    let stats = task.await.unwrap();
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
    let Driven {
        intake: _intake_tx,
        life: life_tx,
        task,
        sink,
    } = start(
        &[],
        None,
        Duration::from_millis(500),
        Clock::following_tokio(WALL),
    );
    notify(&life_tx, invoke("r1"));
    life_tx.shutdown("timeout".into(), (WALL + 10_000) as u64).await;
    let started = tokio::time::Instant::now();
    let stats = task.await.unwrap();
    assert_eq!(started.elapsed(), Duration::from_millis(500));
    assert_eq!(stats.invocations, 1);
    let doc = &docs(&sink)[0];
    assert_eq!(doc["Timeouts"], 1.0);
    assert_eq!(doc["Ending"], "shutdown");
}

/// How long the shutdown waits for a report that never comes, with `left_ms` to Lambda's
/// deadline and a configured wait of 1 s.
async fn shutdown_wait_with(left_ms: i64) -> Duration {
    let Driven {
        intake: _intake_tx,
        life: life_tx,
        task,
        sink: _,
    } = start(&[], None, Duration::from_secs(1), Clock::following_tokio(WALL));
    notify(&life_tx, invoke("r1"));
    life_tx.shutdown("spindown".into(), (WALL + left_ms) as u64).await;
    let started = tokio::time::Instant::now();
    task.await.unwrap();
    started.elapsed()
}

#[tokio::test(start_paused = true)]
async fn a_deadline_already_near_means_no_wait() {
    // 100 ms left: less than the safety margin kept for the last write.
    assert_eq!(shutdown_wait_with(100).await, Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn the_wait_ends_safely_before_lambdas_deadline() {
    assert_eq!(
        shutdown_wait_with(700).await,
        Duration::from_millis(400),
        "700 ms left, 300 kept"
    );
}

/// Hands out scripted samples: CPU grows by 10 ms per sample.
struct Scripted(f64);

impl Sampler for Scripted {
    fn sample(&mut self) -> ResourceSample {
        self.0 += 10.0;
        ResourceSample {
            processes: 1,
            cpu_user_ms: self.0,
            threads: 3,
            ..ResourceSample::default()
        }
    }
}

#[tokio::test]
async fn resources_are_sampled_off_the_thread_at_each_invoke_and_at_shutdown() {
    let Driven {
        intake: intake_tx,
        life: life_tx,
        task,
        sink,
    } = start(
        &[("LAMBDA_LENS_METRICS", "core,resources")],
        Some(Box::new(Scripted(0.0))),
        Duration::from_secs(1),
        Clock::following_tokio(WALL),
    );
    notify(&life_tx, invoke("r1"));
    intake_tx.send(batch(&[START, DONE, REPORT])).await.unwrap();
    life_tx
        .shutdown("spindown".into(), (WALL + 3_600_000) as u64)
        .await;
    task.await.unwrap();
    let docs = docs(&sink);
    assert_eq!(docs[0]["RequestId"], "r1");
    assert_eq!(
        docs[0]["CpuUserTime"], 10.0,
        "from the INVOKE sample to the SHUTDOWN one"
    );
    assert_eq!(docs[0]["Threads"], 3.0);
}

/// A sampler that crashes: the pipeline task must crash too (and the run with it), not carry
/// on without a word.
struct Broken;

impl Sampler for Broken {
    fn sample(&mut self) -> ResourceSample {
        panic!("unreadable /proc")
    }
}

#[tokio::test]
async fn a_panic_while_sampling_ends_the_pipeline_task_with_that_panic() {
    let Driven {
        intake: _intake_tx,
        life: life_tx,
        task,
        sink: _,
    } = start(
        &[("LAMBDA_LENS_METRICS", "core,resources")],
        Some(Box::new(Broken)),
        Duration::from_secs(1),
        Clock::system(),
    );
    notify(&life_tx, invoke("r1"));
    let err = task.await.unwrap_err();
    assert!(err.is_panic());
}
