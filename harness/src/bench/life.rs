//! One scripted life of one subject in the sandbox, the same for every subject: init (ready
//! time, idle memory), dense invocations (post-runtime duration, CPU), a flood of 1 MiB batches
//! during a long invocation (peak memory, CPU per batch), SHUTDOWN (exit time), then what the
//! subject wrote, checked against what happened.

use std::time::{Duration, Instant};

use serde_json::json;

use super::flood::{self, Batch, Flood};
use super::otlp::Sink;
use super::records::{self, Records};
use super::{BenchError, Plan, Subject};
use lambda_sandbox::procfs::{self, Memory};
use lambda_sandbox::{Config, Sandbox, ShutdownReason, Source, TelemetryRecord};

/// The function sleeps while the flood runs, so the environment stays thawed: this long per
/// batch, at least `FLOOD_INVOCATION_MIN_MS`.
const FLOOD_MS_PER_BATCH: u64 = 200;
const FLOOD_INVOCATION_MIN_MS: u64 = 2_500;
/// The extra starts that only time readiness end with a short deadline, so that a subject that
/// does not exit at SHUTDOWN costs little time there.
const READY_SAMPLE_DEADLINE: Duration = Duration::from_millis(300);

/// What one life measured.
#[derive(Debug, Default)]
pub struct Life {
    /// This life's init and the ready-only starts before it.
    pub ready_ms: Vec<f64>,
    /// After init, frozen.
    pub idle: Option<Memory>,
    /// After the dense invocations, frozen.
    pub idle_after: Option<Memory>,
    /// Report `durationMs` − runtimeDone `durationMs` of each dense invocation.
    pub post_runtime_ms: Vec<f64>,
    /// The extension's CPU time over the dense invocations, per invocation.
    pub cpu_per_invocation_ns: Option<f64>,
    /// `None` when the subject has no telemetry listener.
    pub flood: Option<Flood>,
    /// The flood ended after its invocation did (the environment froze under it).
    pub flood_outlasted: bool,
    /// SHUTDOWN sent → process reaped, when it exited.
    pub exit_ms: Option<f64>,
    /// The sandbox SIGKILLed it at the shutdown deadline.
    pub killed: bool,
    /// What the subject wrote, checked.
    pub records: Records,
    /// Post-runtime durations of the dense invocations of a second environment whose CPU is
    /// capped at Lambda's share for 128 MB; empty where the sandbox cannot cap it.
    pub capped_post_runtime_ms: Vec<f64>,
    /// The CPU cap of that environment, as a share of one core (`None`: no cap here).
    pub capped_share: Option<f64>,
    /// How the main environment was isolated (the sandbox's one-line description).
    pub isolation: String,
}

/// Ready time: the sandbox stamps `platform.initStart` just before it spawns the processes and
/// `platform.extension` when the extension first calls `/event/next`.
fn ready_ms(telemetry: &[TelemetryRecord], extension: &str) -> Option<f64> {
    let start = telemetry.iter().find(|r| r.kind == "platform.initStart")?.time;
    let ready = telemetry
        .iter()
        .find(|r| {
            r.kind == "platform.extension" && r.record.get("name").and_then(|n| n.as_str()) == Some(extension)
        })?
        .time;
    (ready - start).num_microseconds().map(|us| us as f64 / 1000.0)
}

fn flood_invocation_ms(plan: &Plan) -> u64 {
    (FLOOD_MS_PER_BATCH * plan.flood_batches as u64).max(FLOOD_INVOCATION_MIN_MS)
}

fn config(plan: &Plan, subject: &Subject, sink: Option<&Sink>) -> Config {
    let mut c = Config::new(&plan.bootstrap);
    c.layer_dir = Some(subject.layer.clone());
    c.env.extend(subject.env.iter().cloned());
    if let Some(sink) = sink {
        c.env
            .push(("OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(), sink.endpoint()));
    }
    c.timeout = Duration::from_millis(flood_invocation_ms(plan) + 2_500);
    // The main life runs at full speed; `capped` measures under Lambda's CPU share.
    c.cpu_limit = false;
    c
}

/// Dense invocations in an environment whose CPU is capped at Lambda's share for 128 MB:
/// post-runtime durations and the share, or nothing where the sandbox cannot cap the CPU.
async fn capped(
    plan: &Plan,
    subject: &Subject,
    sink: Option<&Sink>,
) -> Result<(Vec<f64>, Option<f64>), BenchError> {
    if plan.capped_invocations == 0 {
        return Ok((Vec::new(), None));
    }
    let mut c = config(plan, subject, sink);
    c.memory_mb = 128;
    c.cpu_limit = true;
    c.shutdown_deadline = READY_SAMPLE_DEADLINE;
    let mut sandbox = Sandbox::start(c).await?;
    let share = sandbox.isolation().cpu_share;
    let mut out = Vec::new();
    if share.is_some() {
        for _ in 0..plan.capped_invocations {
            let o = sandbox.invoke(json!({})).await?;
            if let Some(runtime) = o.runtime_duration_ms {
                out.push(o.duration_ms - runtime);
            }
        }
    }
    sandbox.shutdown(ShutdownReason::Spindown).await?;
    Ok((out, share))
}

/// Starts and shuts down `plan.ready_samples` environments, for their ready times only.
async fn ready_samples(plan: &Plan, subject: &Subject, sink: Option<&Sink>) -> Result<Vec<f64>, BenchError> {
    let mut out = Vec::new();
    for _ in 0..plan.ready_samples {
        let mut c = config(plan, subject, sink);
        c.shutdown_deadline = READY_SAMPLE_DEADLINE;
        let mut sandbox = Sandbox::start(c).await?;
        out.extend(ready_ms(&sandbox.telemetry(), &subject.extension));
        sandbox.shutdown(ShutdownReason::Spindown).await?;
    }
    Ok(out)
}

/// One life of `subject`; `batches` is the flood (the same for every subject of a round).
pub(crate) async fn live(
    plan: &Plan,
    subject: &Subject,
    batches: &[Batch],
    sink: Option<&Sink>,
) -> Result<Life, BenchError> {
    let mut life = Life {
        ready_ms: ready_samples(plan, subject, sink).await?,
        ..Life::default()
    };
    (life.capped_post_runtime_ms, life.capped_share) = capped(plan, subject, sink).await?;
    if let Some(sink) = sink {
        sink.clear();
    }
    let mut sandbox = Sandbox::start(config(plan, subject, sink)).await?;
    life.isolation = sandbox.isolation().describe();
    life.ready_ms
        .extend(ready_ms(&sandbox.telemetry(), &subject.extension));
    let exe = subject.layer.join("extensions").join(&subject.extension);
    let pid = procfs::child_running(&exe).ok_or_else(|| BenchError::NoProcess(exe.clone()))?;
    life.idle = procfs::memory(pid);

    // Dense invocations: one after another, the first the cold start.
    let mut request_ids = Vec::with_capacity(plan.invocations + 1);
    let cpu_before = procfs::cpu_ns(pid);
    for _ in 0..plan.invocations {
        let o = sandbox.invoke(json!({})).await?;
        if let Some(runtime) = o.runtime_duration_ms {
            life.post_runtime_ms.push(o.duration_ms - runtime);
        }
        request_ids.push(o.request_id);
    }
    life.cpu_per_invocation_ns = cpu_before
        .zip(procfs::cpu_ns(pid))
        .map(|(a, b)| b.saturating_sub(a) as f64 / plan.invocations.max(1) as f64);
    life.idle_after = procfs::memory(pid);

    // The flood, straight to the subject's telemetry listener, during a long invocation.
    let target = sandbox
        .subscriptions()
        .into_iter()
        .find(|s| s.extension_name == subject.extension)
        .map(|s| s.target);
    if let Some(target) = target {
        let invoke = async {
            let outcome = sandbox
                .invoke(json!({"sleep_ms": flood_invocation_ms(plan)}))
                .await;
            (outcome, Instant::now())
        };
        let flooding = async {
            // The invoke thaws the environment first.
            tokio::time::sleep(Duration::from_millis(20)).await;
            let f = flood::run(&target, pid, batches).await;
            (f, Instant::now())
        };
        let ((outcome, invoke_end), (f, flood_end)) = tokio::join!(invoke, flooding);
        request_ids.push(outcome?.request_id);
        life.flood_outlasted = flood_end > invoke_end;
        life.flood = Some(f);
    }

    let shutdown = sandbox.shutdown(ShutdownReason::Spindown).await?;
    if let Some(p) = shutdown.of(&Source::Extension(subject.extension.clone())) {
        life.exit_ms = p
            .exited_after_shutdown
            .filter(|_| !p.killed)
            .map(|d| d.as_secs_f64() * 1000.0);
        life.killed = p.killed;
    }
    let stdout: Vec<String> = sandbox
        .output_of(&Source::Extension(subject.extension.clone()))
        .into_iter()
        .filter(|l| l.stream == lambda_sandbox::Stream::Stdout)
        .map(|l| l.text)
        .collect();
    let flood_invocations = life.flood.map_or(0, |f| f.invocations);
    life.records = records::check(subject.output, &stdout, sink, &request_ids, flood_invocations);
    Ok(life)
}
