//! The lifecycle: what talks to the Extensions API. Register, subscribe the listener to the
//! Telemetry API, drive the [pipeline](crate::pipeline) with INVOKE and SHUTDOWN until SHUTDOWN
//! has been answered by a final flush, and end the process with the pipeline's fate: a crash of
//! the pipeline task is a failed run, never a quiet exit.
//!
//! The invoke path is never blocked: the events processor only hands INVOKE to the pipeline
//! task with a non-blocking send and returns, so the crate calls `/event/next` again at once.

mod clock;
mod drive;

use std::future::Future;
use std::sync::Arc;

use lambda_extension::{Extension, LambdaEvent, NextEvent, service_fn};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;

use clock::Clock;
use drive::{LifecycleEvent, drive};

use crate::config::{Config, vars};
use crate::intake::{IntakeMessage, RequestLimits, bind_listener, serve, subscribe};
use crate::pipeline::{Pipeline, PipelineStats};
use crate::resources::{ProcSampler, Sampler};
use crate::sink::StdoutSink;

/// Why the extension stopped before the environment's SHUTDOWN was handled.
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
    Register(#[source] lambda_extension::Error),
    #[error("the Extensions API event loop failed: {0}")]
    EventLoop(#[source] lambda_extension::Error),
    #[error("the metrics pipeline crashed: {0}")]
    Pipeline(#[source] tokio::task::JoinError),
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

/// Runs the extension until the environment shuts down.
pub async fn run(config: Config) -> Result<(), RunError> {
    let runtime_api = std::env::var(vars::RUNTIME_API).map_err(|_| RunError::NoRuntimeApi)?;
    if runtime_api.parse::<http::uri::Authority>().is_err() {
        return Err(RunError::BadRuntimeApi(runtime_api));
    }
    let managed = config.function.is_managed_instances();

    // Bound once, before subscribing, so the port we subscribe with is the one we hold.
    let listener = bind_listener(config.listener_host, config.port)
        .await
        .map_err(RunError::Bind)?;
    let destination = listener.destination.clone();

    let (life_tx, life_rx) = mpsc::channel::<LifecycleEvent>(256);
    let processor = service_fn(move |event: LambdaEvent| {
        let tx = life_tx.clone();
        async move {
            match event.next {
                NextEvent::Invoke(invoke) => {
                    // Never wait on the invoke path: a full queue loses only the early notice
                    // (the invocation is still learnt from its telemetry).
                    let message = LifecycleEvent::Invoke {
                        request_id: invoke.request_id,
                    };
                    if tx.try_send(message).is_err() {
                        tracing::debug!("lifecycle queue full; INVOKE notice skipped");
                    }
                    Ok::<(), lambda_extension::Error>(())
                }
                NextEvent::Shutdown(shutdown) => {
                    let message = LifecycleEvent::Shutdown {
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
        .map_err(RunError::Register)?;

    // One batch waits at most: each holds up to ~2 × maxBytes of decoded events, and memory
    // under a flood must stay bounded; the listener waits (backpressure) meanwhile.
    let (intake_tx, intake_rx) = mpsc::channel::<IntakeMessage>(1);
    let slots = Arc::new(Semaphore::new(1));
    tokio::spawn(serve(
        listener.socket,
        listener.path,
        intake_tx,
        slots,
        RequestLimits::new(config.buffering.max_body_bytes()),
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

    let pipeline = Pipeline::from_config(&config, StdoutSink::default());
    let sampler = pipeline
        .wants_resources()
        .then(|| Box::new(ProcSampler::new()) as Box<dyn Sampler>);
    let worker = tokio::spawn(drive(
        pipeline,
        intake_rx,
        life_rx,
        sampler,
        config.shutdown_wait,
        Clock::system(),
    ));
    supervise(registered.run(), worker).await
}

/// Waits for whichever ends first: the Extensions API event loop (it ends only on an error),
/// or the pipeline task (it ends after SHUTDOWN, or by panicking).
async fn supervise(
    event_loop: impl Future<Output = Result<(), lambda_extension::Error>>,
    worker: JoinHandle<PipelineStats>,
) -> Result<(), RunError> {
    tokio::select! {
        result = event_loop => result.map_err(RunError::EventLoop),
        finished = worker => finished.map(|_| ()).map_err(RunError::Pipeline),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crash() -> PipelineStats {
        panic!("boom")
    }

    #[tokio::test]
    async fn a_panic_in_the_pipeline_task_is_a_failed_run() {
        let worker = tokio::spawn(async { crash() });
        let result = supervise(std::future::pending(), worker).await;
        let err = result.unwrap_err();
        assert!(matches!(err, RunError::Pipeline(_)), "{err:?}");
        assert!(err.to_string().contains("panicked"), "{err}");
    }

    #[tokio::test]
    async fn a_pipeline_that_finishes_is_a_clean_run_and_an_event_loop_error_is_not() {
        let worker = tokio::spawn(async { PipelineStats::default() });
        assert!(supervise(std::future::pending(), worker).await.is_ok());
        let worker = tokio::spawn(std::future::pending::<PipelineStats>());
        let failed = supervise(async { Err("the API went away".into()) }, worker).await;
        let err = failed.unwrap_err();
        assert!(err.to_string().contains("the API went away"), "{err}");
        assert!(std::error::Error::source(&err).is_some(), "the cause is kept");
    }
}
