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
use std::time::Duration;

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
    #[error("could not register with the Extensions API: {0}")]
    Register(#[source] lambda_extension::Error),
    #[error("the Extensions API did not answer the registration within {} s", REGISTER_DEADLINE.as_secs())]
    RegisterTimeout,
    #[error("the telemetry listener stopped: {0}")]
    Listener(#[source] tokio::task::JoinError),
    #[error("the Extensions API event loop failed: {0}")]
    EventLoop(#[source] lambda_extension::Error),
    #[error("the metrics pipeline crashed: {0}")]
    Pipeline(#[source] tokio::task::JoinError),
}

/// The longest wait for the Extensions API to answer the registration (Lambda's own init limit
/// for on-demand functions is 10 s).
const REGISTER_DEADLINE: Duration = Duration::from_secs(5);

/// Whether `value` is `host:port` as the Extensions API client can use it: a DNS name or an IP
/// address (IPv6 in brackets), then a port from 1 to 65535; nothing else (no user, no path).
fn valid_runtime_api(value: &str) -> bool {
    if value.parse::<std::net::SocketAddr>().is_ok_and(|a| a.port() != 0) {
        return true;
    }
    let Some((host, port)) = value.rsplit_once(':') else {
        return false;
    };
    let port_ok = port.parse::<u16>().is_ok_and(|p| p != 0);
    let label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    port_ok && host.len() <= 253 && host.split('.').all(label)
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
    if !valid_runtime_api(&runtime_api) {
        return Err(RunError::BadRuntimeApi(
            crate::text::clip(&runtime_api).into_owned(),
        ));
    }
    let managed = config.function.is_managed_instances();

    // Bound once, before subscribing, so the port we subscribe with is the one we hold. Without
    // a listener the extension still registers and answers its events (the function must not
    // wait for it), and emits nothing.
    let listener = match bind_listener(config.listener_host, config.port).await {
        Ok(listener) => Some(listener),
        Err(err) => {
            tracing::error!(error = %err, "no telemetry listener: lambda-lens will emit no metrics in this environment (the function is not affected)");
            None
        }
    };

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
    let registration = Extension::new()
        .with_extension_name(&name)
        .with_events(events)
        .with_events_processor(processor)
        .register();
    let registered = tokio::time::timeout(REGISTER_DEADLINE, registration)
        .await
        .map_err(|_| RunError::RegisterTimeout)?
        .map_err(RunError::Register)?;

    // One batch waits at most: each holds up to ~2 × maxBytes of decoded events, and memory
    // under a flood must stay bounded; the listener waits (backpressure) meanwhile.
    let (intake_tx, intake_rx) = mpsc::channel::<IntakeMessage>(1);
    let server = match listener {
        Some(listener) => {
            let server = tokio::spawn(serve(
                listener.socket,
                listener.path,
                intake_tx,
                Arc::new(Semaphore::new(1)),
                RequestLimits::new(config.buffering.max_body_bytes()),
            ));
            let destination = listener.destination;
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
            Some(server)
        }
        None => None,
    };

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
    supervise(registered.run(), worker, server).await
}

/// Waits for whichever ends first: the Extensions API event loop (it ends only on an error),
/// the pipeline task (it ends after SHUTDOWN, or by panicking) or the listener (it ends only by
/// panicking).
async fn supervise(
    event_loop: impl Future<Output = Result<(), lambda_extension::Error>>,
    worker: JoinHandle<PipelineStats>,
    server: Option<JoinHandle<()>>,
) -> Result<(), RunError> {
    let listener = async {
        match server {
            Some(server) => server.await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        result = event_loop => result.map_err(RunError::EventLoop),
        finished = worker => finished.map(|_| ()).map_err(RunError::Pipeline),
        stopped = listener => match stopped {
            Err(err) => Err(RunError::Listener(err)),
            // `serve` returns only when its connection limiter is closed, which never happens.
            Ok(()) => Ok(()),
        },
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
        let result = supervise(std::future::pending(), worker, None).await;
        let err = result.unwrap_err();
        assert!(matches!(err, RunError::Pipeline(_)), "{err:?}");
        assert!(err.to_string().contains("panicked"), "{err}");
    }

    #[tokio::test]
    async fn a_panic_in_the_listener_is_a_failed_run() {
        let worker = tokio::spawn(std::future::pending::<PipelineStats>());
        let server = tokio::spawn(async { panic!("listener") });
        let err = supervise(std::future::pending(), worker, Some(server))
            .await
            .unwrap_err();
        assert!(matches!(err, RunError::Listener(_)), "{err:?}");
    }

    #[test]
    fn the_runtime_api_must_be_a_host_and_a_port() {
        for good in [
            "127.0.0.1:9001",
            "localhost:9001",
            "sandbox.localdomain:9001",
            "[::1]:9001",
        ] {
            assert!(valid_runtime_api(good), "{good}");
        }
        // "*" passed the old check and then panicked inside the Extensions API client.
        for bad in [
            "*",
            "*:1",
            "user@host:1",
            "host",
            "host:",
            ":9001",
            "host:0",
            "host:65536",
            "a b:1",
            "h/x:1",
            "-h:1",
            "",
            ":",
        ] {
            assert!(!valid_runtime_api(bad), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn a_pipeline_that_finishes_is_a_clean_run_and_an_event_loop_error_is_not() {
        let worker = tokio::spawn(async { PipelineStats::default() });
        assert!(supervise(std::future::pending(), worker, None).await.is_ok());
        let worker = tokio::spawn(std::future::pending::<PipelineStats>());
        let failed = supervise(async { Err("the API went away".into()) }, worker, None).await;
        let err = failed.unwrap_err();
        assert!(err.to_string().contains("the API went away"), "{err}");
        assert!(std::error::Error::source(&err).is_some(), "the cause is kept");
    }
}
