//! The async shell around the [`Pipeline`]: takes telemetry from the listener and INVOKE and
//! SHUTDOWN from the Extensions API, flushes after each step, and ends with SHUTDOWN.

use std::time::Duration;

use tokio::sync::mpsc;

use super::clock::Clock;
use super::notice::{LifecycleEvent, Notices};
use crate::intake::IntakeMessage;
use crate::model::ResourceSample;
use crate::pipeline::{Pipeline, PipelineStats};
use crate::resources::Sampler;
use crate::sink::Sink;

/// Telemetry events handled between two flushes of the output.
const WORK_SLICE: usize = 256;

/// Kept between the end of our shutdown work and Lambda's `deadlineMs`, for the final write
/// and the process exit.
const SHUTDOWN_SAFETY: Duration = Duration::from_millis(300);

/// Runs the pipeline until SHUTDOWN has been handled (or the Extensions API side is gone).
/// `sampler` takes the resource samples at invocation boundaries, when the pipeline wants them.
pub(crate) async fn drive<S: Sink>(
    mut pipeline: Pipeline<S>,
    mut intake: mpsc::Receiver<IntakeMessage>,
    mut lifecycle: Notices,
    mut sampler: Option<Box<dyn Sampler>>,
    shutdown_wait: Duration,
    clock: Clock,
) -> PipelineStats {
    if !pipeline.wants_resources() {
        sampler = None;
    }
    loop {
        let deadline = pipeline.next_deadline();
        let sleep_until = clock.instant(deadline.unwrap_or_default());
        // Every branch takes the queued INVOKE notices first: an invocation's notice comes
        // before its telemetry, and before SHUTDOWN.
        tokio::select! {
            // SHUTDOWN and wakes first: the resource sample of an invocation boundary is taken
            // as close to it as possible, and the order of a test's steps is the order handled.
            biased;
            event = lifecycle.recv() => {
                take_notices(&lifecycle, &mut pipeline, &mut sampler, &clock).await;
                let (reason, deadline_ms, at_most) = match event {
                    Some(LifecycleEvent::Wake) => (None, 0, Duration::ZERO),
                    Some(LifecycleEvent::Shutdown { reason, deadline_ms }) => (Some(reason), deadline_ms, shutdown_wait),
                    None => (Some("spindown".to_owned()), 0, Duration::ZERO),
                };
                if let Some(reason) = reason {
                    let wait = Wait { reason: &reason, deadline_ms, at_most };
                    shutdown(&mut pipeline, &mut intake, &mut sampler, wait, &clock).await;
                    return pipeline.stats();
                }
            },
            // A large batch is worked through in slices, each flushed, so its output is never
            // all in memory at once; then the listener may read the next batch.
            Some(message) = intake.recv() => {
                take_notices(&lifecycle, &mut pipeline, &mut sampler, &clock).await;
                work_through(&mut pipeline, message, &clock).await;
            }
            () = tokio::time::sleep_until(sleep_until), if deadline.is_some() => {
                take_notices(&lifecycle, &mut pipeline, &mut sampler, &clock).await;
                pipeline.sweep(clock.now());
            }
        }
        if let Err(err) = pipeline.flush().await {
            tracing::warn!(error = %err, "could not write metrics to stdout");
        }
    }
}

/// Hands the queued INVOKE notices to the pipeline, each with a resource sample when they are
/// measured.
async fn take_notices<S: Sink>(
    notices: &Notices,
    pipeline: &mut Pipeline<S>,
    sampler: &mut Option<Box<dyn Sampler>>,
    clock: &Clock,
) {
    while let Some(invoke) = notices.take() {
        let sample = take_sample(sampler).await;
        pipeline.on_invoke(invoke.request_id, sample, invoke.wall_ms, clock.now());
    }
}

/// Takes a resource sample on tokio's blocking pool: it reads `/proc` and `statfs`, and the
/// thread that answers the Extensions API (`/event/next`) must never wait for file reads.
/// A panic inside the sampler is carried on to this task.
async fn take_sample(sampler: &mut Option<Box<dyn Sampler>>) -> Option<ResourceSample> {
    let mut taken = sampler.take()?;
    let sampled = tokio::task::spawn_blocking(move || {
        let sample = taken.sample();
        (taken, sample)
    })
    .await;
    match sampled {
        Ok((back, sample)) => {
            *sampler = Some(back);
            Some(sample)
        }
        Err(err) => match err.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            // Cancelled: the runtime is shutting down.
            Err(_) => None,
        },
    }
}

/// Works a whole intake message in flushed slices; its slot goes back to the listener when
/// the last slice is done.
async fn work_through<S: Sink>(pipeline: &mut Pipeline<S>, message: IntakeMessage, clock: &Clock) {
    pipeline.accept(message, clock.now());
    while pipeline.work(clock.now(), WORK_SLICE) {
        if let Err(err) = pipeline.flush().await {
            tracing::warn!(error = %err, "could not write metrics to stdout");
        }
    }
}

/// How a SHUTDOWN is to be handled.
struct Wait<'a> {
    reason: &'a str,
    /// Lambda's deadline, epoch milliseconds.
    deadline_ms: u64,
    /// The configured longest wait for outstanding reports.
    at_most: Duration,
}

impl Wait<'_> {
    /// What is left until Lambda's deadline, by the wall clock now.
    fn left(&self, clock: &Clock) -> Duration {
        let deadline = i64::try_from(self.deadline_ms).unwrap_or(i64::MAX);
        let ms = deadline.saturating_sub(clock.wall_ms()).max(0);
        Duration::from_millis(u64::try_from(ms).unwrap_or_default())
    }
}

/// Waits for outstanding reports (bounded by the configured wait and by Lambda's deadline),
/// then emits everything still pending and flushes.
async fn shutdown<S: Sink>(
    pipeline: &mut Pipeline<S>,
    intake: &mut mpsc::Receiver<IntakeMessage>,
    sampler: &mut Option<Box<dyn Sampler>>,
    wait: Wait<'_>,
    clock: &Clock,
) {
    let sample = take_sample(sampler).await;
    pipeline.on_shutdown(sample, clock.now());
    let patience = wait.at_most.min(wait.left(clock).saturating_sub(SHUTDOWN_SAFETY));
    let until = tokio::time::Instant::now() + patience;
    tracing::debug!(
        reason = wait.reason,
        outstanding = pipeline.outstanding(),
        ?patience,
        "shutting down"
    );
    while pipeline.outstanding() > 0 {
        match tokio::time::timeout_at(until, intake.recv()).await {
            Ok(Some(message)) => work_through(pipeline, message, clock).await,
            _ => break,
        }
    }
    while let Ok(message) = intake.try_recv() {
        work_through(pipeline, message, clock).await;
    }
    pipeline.finish(wait.reason, clock.wall_ms(), clock.now());
    // A stdout that nobody reads must not hold the process past Lambda's deadline: the last
    // write gets what is left of it (a quarter of a second at least).
    let last_write = wait
        .left(clock)
        .saturating_sub(SHUTDOWN_SAFETY / 3)
        .max(Duration::from_millis(250));
    if !pipeline.close(last_write).await {
        tracing::warn!(?last_write, "not every metric reached stdout before the deadline");
    }
    let s = pipeline.stats();
    tracing::info!(
        reason = wait.reason,
        invocations = s.invocations,
        documents = s.documents,
        batches = s.batches,
        records = s.records,
        records_used = s.records_used,
        records_ignored = s.records_ignored,
        rejected = s.rejected(),
        values_dropped = s.values_dropped,
        texts_cut = s.texts_cut,
        times_replaced = s.times_replaced,
        duplicate_events = s.duplicate_events,
        invocations_evicted = s.invocations_evicted,
        non_finite_dropped = s.non_finite_dropped,
        logs_dropped_records = s.logs_dropped_records,
        "shut down"
    );
}

#[cfg(test)]
mod tests;
