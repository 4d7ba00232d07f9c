//! The lifecycle: register with the Extensions API, subscribe to the Telemetry API, and drive
//! the pipeline until SHUTDOWN has been answered by a final flush.
//!
//! The invoke path is never blocked: the events processor only hands INVOKE to the pipeline
//! task with a non-blocking send and returns, so the crate calls `/event/next` again at once.

mod environment;
mod pipeline;

use std::time::Duration;

use lambda_extension::{Extension, LambdaEvent, NextEvent, service_fn};
use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;

pub use pipeline::{Pipeline, PipelineParts, PipelineStats};

use crate::config::{Config, OutputMode, vars};
use crate::emf::{Batcher, EmfConfig, EmfEncoder};
use crate::intake::{IntakeMessage, bind_listener, serve, subscribe};
use crate::join::{JoinLimits, Joiner};
use crate::metrics::cost::Pricing;
use crate::metrics::{ARCHITECTURE, Group, InvocationContext, catalogue};
use crate::resources::{ProcSampler, Sampler};
use crate::sink::{Sink, StdoutSink};

/// Telemetry events handled between two flushes of the output.
const WORK_SLICE: usize = 256;

/// Kept between the end of our shutdown work and Lambda's `deadlineMs`, for the final write
/// and the process exit.
const SHUTDOWN_SAFETY: Duration = Duration::from_millis(300);

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(
        "{} is not set: lambda-lens runs only as a Lambda extension (or under a local emulator)",
        vars::RUNTIME_API
    )]
    NoRuntimeApi,
    #[error("{var}={value:?} is not a host:port", var = vars::RUNTIME_API, value = .0)]
    BadRuntimeApi(String),
    #[error("could not bind the telemetry listener: {0}")]
    Bind(#[source] std::io::Error),
    #[error("could not register with the Extensions API: {0}")]
    Register(String),
    #[error("the Extensions API event loop failed: {0}")]
    EventLoop(String),
    #[error("the metric output is misconfigured: {0}")]
    Output(#[source] crate::emf::EmfConfigError),
}

/// What the Extensions API told us, for the pipeline task.
#[derive(Debug)]
pub enum Lifecycle {
    Invoke { request_id: String },
    Shutdown { reason: String, deadline_ms: u64 },
}

/// The extension's name is its executable's file name (Lambda requires they match).
fn extension_name() -> String {
    std::env::args_os()
        .next()
        .as_deref()
        .map(std::path::Path::new)
        .and_then(std::path::Path::file_name)
        .and_then(|n| n.to_str())
        .filter(|n| !n.is_empty())
        .unwrap_or("lambda-lens")
        .to_owned()
}

pub async fn run(config: Config) -> Result<(), RunError> {
    let runtime_api = std::env::var(vars::RUNTIME_API).map_err(|_| RunError::NoRuntimeApi)?;
    if runtime_api.parse::<http::uri::Authority>().is_err() {
        return Err(RunError::BadRuntimeApi(runtime_api));
    }
    let managed = config.function.is_managed_instances();
    let encoder = EmfEncoder::new(emf_config(&config)).map_err(RunError::Output)?;

    // Bound once, before subscribing, so the port we subscribe with is the one we hold.
    let (listener, destination) = bind_listener(config.listener_host, config.port)
        .await
        .map_err(RunError::Bind)?;

    let (life_tx, life_rx) = mpsc::channel::<Lifecycle>(256);
    let processor = service_fn(move |event: LambdaEvent| {
        let tx = life_tx.clone();
        async move {
            match event.next {
                NextEvent::Invoke(invoke) => {
                    // Never wait on the invoke path: a full queue loses only the early notice
                    // (the invocation is still learnt from its telemetry).
                    let message = Lifecycle::Invoke {
                        request_id: invoke.request_id,
                    };
                    if tx.try_send(message).is_err() {
                        tracing::debug!("lifecycle queue full; INVOKE notice skipped");
                    }
                    Ok::<(), lambda_extension::Error>(())
                }
                NextEvent::Shutdown(shutdown) => {
                    let message = Lifecycle::Shutdown {
                        reason: shutdown.shutdown_reason,
                        deadline_ms: shutdown.deadline_ms,
                    };
                    let _ = tx.send(message).await;
                    // The pipeline task ends the process once it has flushed; answering here
                    // would make the crate poll `/event/next` again.
                    std::future::pending::<()>().await;
                    Ok(())
                }
            }
        }
    });

    let name = extension_name();
    let events: &[&str] = if managed {
        &["SHUTDOWN"]
    } else {
        &["INVOKE", "SHUTDOWN"]
    };
    let registered = Extension::new()
        .with_extension_name(&name)
        .with_events(events)
        .with_events_processor(processor)
        .register()
        .await
        .map_err(|e| RunError::Register(e.to_string()))?;

    // One batch waits at most: each holds up to ~2 × maxBytes of decoded events, and memory
    // under a flood must stay bounded; the listener waits (backpressure) meanwhile.
    let (intake_tx, intake_rx) = mpsc::channel::<IntakeMessage>(1);
    let slots = Arc::new(Semaphore::new(1));
    tokio::spawn(serve(
        listener,
        intake_tx,
        Arc::clone(&slots),
        config.buffering.max_body_bytes(),
    ));

    match subscribe(
        &runtime_api,
        &registered.extension_id,
        &destination,
        config.buffering,
        !managed,
    )
    .await
    {
        Ok(schema) => tracing::info!(%destination, schema, "subscribed to platform telemetry"),
        Err(err) => tracing::error!(
            error = %err,
            "no telemetry subscription: lambda-lens will emit no metrics in this environment (the function is not affected)"
        ),
    }

    let pipeline = Pipeline::new(pipeline_parts(&config, encoder, StdoutSink::default()));
    let worker = tokio::spawn(drive(
        pipeline,
        intake_rx,
        life_rx,
        config.shutdown_wait,
        Some(slots),
    ));

    tokio::select! {
        result = registered.run() => result.map_err(|e| RunError::EventLoop(e.to_string())),
        _ = worker => Ok(()),
    }
}

/// The values of the built-in dimensions, for the keys some dimension set uses (a key no set
/// uses is not written: `MemorySize` as a string member would take the metric's place), then
/// the user's static dimensions.
pub fn emf_config(config: &Config) -> EmfConfig {
    let out = &config.output;
    let f = &config.function;
    let used = |key: &str| key == "FunctionName" || out.dimension_sets.iter().flatten().any(|k| k == key);
    let built_in = [
        ("FunctionName", Some(f.name.clone())),
        ("FunctionVersion", Some(f.version.clone())),
        (
            "InitType",
            Some(
                f.initialization_type
                    .clone()
                    .unwrap_or_else(|| "on-demand".to_owned()),
            ),
        ),
        ("Architecture", Some(ARCHITECTURE.to_owned())),
        ("MemorySize", f.memory_size_mb.map(|m| m.to_string())),
    ];
    let mut static_dimensions: Vec<(String, String)> = built_in
        .into_iter()
        .filter(|(k, _)| used(k))
        .filter_map(|(k, v)| Some((k.to_owned(), v?)))
        .collect();
    static_dimensions.extend(out.static_dimensions.iter().cloned());
    if used("MemorySize") && out.metrics.contains(&catalogue::MEMORY_SIZE) {
        tracing::warn!(
            "MemorySize is a dimension: the MemorySize metric is left out (a member cannot be both)"
        );
    }
    EmfConfig {
        namespace: config.namespace.clone(),
        dimension_sets: out.dimension_sets.clone(),
        static_dimensions,
        high_resolution: out.high_resolution,
    }
}

/// The pipeline for this configuration, writing to `sink`.
pub fn pipeline_parts<S: Sink>(config: &Config, encoder: EmfEncoder, sink: S) -> PipelineParts<S> {
    let out = &config.output;
    let resources_on = catalogue::ALL
        .iter()
        .any(|d| d.group == Group::Resources && out.metrics.contains(d));
    // Without INVOKE events (Managed Instances) there are no invocation boundaries to sample at.
    let sampler: Option<Box<dyn Sampler>> = (resources_on && !config.function.is_managed_instances())
        .then(|| Box::new(ProcSampler::new()) as Box<dyn Sampler>);
    PipelineParts {
        joiner: Joiner::new(JoinLimits {
            runtime_done_expected: !config.function.is_managed_instances(),
            ..JoinLimits::default()
        }),
        context: InvocationContext {
            function_version: Some(config.function.version.clone()),
            pricing: Pricing::for_region(
                config.function.region.as_deref(),
                ARCHITECTURE,
                out.price_per_gb_second,
                out.price_per_request,
            ),
            region: config.function.region.clone(),
            memory_size_mb: config.function.memory_size_mb,
            init_type: config
                .function
                .initialization_type
                .clone()
                .unwrap_or_else(|| "on-demand".to_owned()),
        },
        encoder,
        sink,
        selection: out.metrics,
        batcher: (out.mode == OutputMode::Batched).then(|| {
            Batcher::new(
                out.compact_values,
                out.high_resolution,
                out.flush_interval.as_millis() as u64,
            )
        }),
        sampler,
    }
}

fn wall_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Runs the pipeline until SHUTDOWN has been handled.
pub async fn drive<S: Sink>(
    mut pipeline: Pipeline<S>,
    mut intake: mpsc::Receiver<IntakeMessage>,
    mut lifecycle: mpsc::Receiver<Lifecycle>,
    shutdown_wait: Duration,
    slots: Option<Arc<Semaphore>>,
) -> PipelineStats {
    let epoch = Instant::now();
    let now = move || epoch.elapsed().as_millis() as u64;
    loop {
        let deadline = pipeline.next_deadline();
        let sleep_until = epoch + Duration::from_millis(deadline.unwrap_or_default());
        tokio::select! {
            // A large batch is worked through in slices, each flushed, so its output is never
            // all in memory at once; then the listener may read the next batch.
            Some(message) = intake.recv() => work_through(&mut pipeline, message, slots.as_ref(), &now).await,
            event = lifecycle.recv() => match event {
                Some(Lifecycle::Invoke { request_id }) => {
                    // Let the extension's next `/event/next` go out before the /proc sample, so
                    // sampling never delays the end of a short invocation.
                    tokio::task::yield_now().await;
                    tokio::task::yield_now().await;
                    pipeline.on_invoke(&request_id, wall_ms(), now());
                }
                Some(Lifecycle::Shutdown { reason, deadline_ms }) => {
                    shutdown(&mut pipeline, &mut intake, slots.as_ref(), &reason, deadline_ms, shutdown_wait, now).await;
                    return pipeline.stats();
                }
                None => {
                    shutdown(&mut pipeline, &mut intake, slots.as_ref(), "spindown", 0, Duration::ZERO, now).await;
                    return pipeline.stats();
                }
            },
            () = tokio::time::sleep_until(sleep_until), if deadline.is_some() => pipeline.sweep(now()),
        }
        if let Err(err) = pipeline.flush().await {
            tracing::warn!(error = %err, "could not write metrics to stdout");
        }
    }
}

/// Works a whole intake message in flushed slices, then hands the listener its slot back.
async fn work_through<S: Sink>(
    pipeline: &mut Pipeline<S>,
    message: IntakeMessage,
    slots: Option<&Arc<Semaphore>>,
    now: &impl Fn() -> u64,
) {
    let batch = matches!(message, IntakeMessage::Batch(_));
    pipeline.accept(message);
    while pipeline.work(now(), WORK_SLICE) {
        if let Err(err) = pipeline.flush().await {
            tracing::warn!(error = %err, "could not write metrics to stdout");
        }
    }
    if let (true, Some(slots)) = (batch, slots) {
        slots.add_permits(1);
    }
}

/// Waits for outstanding reports (bounded by `wait` and by Lambda's deadline), then emits
/// everything still pending and flushes.
async fn shutdown<S: Sink>(
    pipeline: &mut Pipeline<S>,
    intake: &mut mpsc::Receiver<IntakeMessage>,
    slots: Option<&Arc<Semaphore>>,
    reason: &str,
    deadline_ms: u64,
    wait: Duration,
    now: impl Fn() -> u64,
) {
    pipeline.on_shutdown(now());
    let left = Duration::from_millis((deadline_ms as i64).saturating_sub(wall_ms()).max(0) as u64);
    let wait = wait.min(left.saturating_sub(SHUTDOWN_SAFETY));
    let until = Instant::now() + wait;
    tracing::debug!(
        reason,
        outstanding = pipeline.outstanding(),
        ?wait,
        "shutting down"
    );
    while pipeline.outstanding() > 0 {
        match tokio::time::timeout_at(until, intake.recv()).await {
            Ok(Some(message)) => work_through(pipeline, message, slots, &now).await,
            _ => break,
        }
    }
    while let Ok(message) = intake.try_recv() {
        work_through(pipeline, message, slots, &now).await;
    }
    pipeline.finish(reason, wall_ms(), now());
    if let Err(err) = pipeline.flush().await {
        tracing::warn!(error = %err, "could not write the last metrics to stdout");
    }
    let stats = pipeline.stats();
    tracing::info!(
        reason,
        invocations = stats.invocations,
        documents = stats.documents,
        records = stats.records,
        rejected = stats.records_malformed + stats.records_unknown,
        "shut down"
    );
}

#[cfg(test)]
mod tests;
