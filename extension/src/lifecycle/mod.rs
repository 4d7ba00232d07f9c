//! The lifecycle: what talks to the Extensions API. Register, subscribe the listener to the
//! Telemetry API, drive the [pipeline](crate::pipeline) with INVOKE and SHUTDOWN until SHUTDOWN
//! has been answered by a final flush, and end the process with the pipeline's fate: a crash of
//! the pipeline task is a failed run, never a quiet exit.
//!
//! The invoke path is never blocked: the event loop only queues INVOKE for the pipeline thread
//! (without waking it, see [`notice`]), then calls `/event/next` again at once.

mod clock;
mod drive;
mod events;
mod extensions_api;
mod notice;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use std::panic::AssertUnwindSafe;

use tokio::sync::{Semaphore, mpsc, oneshot};

use clock::Clock;
use drive::drive;
use events::Events;
pub use extensions_api::ExtensionsApiError;
use extensions_api::NextEvent;
use notice::{Invoke, Notices, Notifier};

use crate::config::{Config, SinkKind, vars};
use crate::intake::{IntakeMessage, Listener, RequestLimits, bind_listener, serve, subscribe};
use crate::pipeline::{Pipeline, PipelineStats};
use crate::resources::{ProcSampler, Sampler};
use crate::sink::{OutputSink, Sink};

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
    Register(#[source] ExtensionsApiError),
    #[error("the Extensions API did not answer the registration within {} s", REGISTER_DEADLINE.as_secs())]
    RegisterTimeout,

    #[error("the Extensions API event loop failed: {0}")]
    EventLoop(#[source] ExtensionsApiError),
    #[error("{0}")]
    Crashed(Crash),
    #[error("could not start the telemetry thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// The name of the thread that works on telemetry, and of its runtime's blocking-pool threads.
const TELEMETRY_THREAD: &str = "lambda-lens-telemetry";

/// What a panic on the thread named `thread` crashed, and the exit status that says so: 1 for
/// the telemetry thread (its listener and the metrics pipeline), as a crash that
/// [`supervise`] catches ends the run, and Rust's own 101 for anything else.
pub fn crashed_part(thread: Option<&str>) -> (&'static str, u8) {
    match thread {
        Some(TELEMETRY_THREAD) => ("the telemetry listener or the metrics pipeline", 1),
        _ => ("the Extensions API thread", 101),
    }
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

/// The sink `LAMBDA_LENS_SINK` chose. Nothing is connected here: the PutMetricData client is
/// made at the first request, after init.
fn output_sink(config: &Config) -> OutputSink {
    #[cfg(feature = "put-metric-data")]
    if config.sink.contains(SinkKind::PutMetricData) {
        return OutputSink::put_metric_data(
            crate::sink::PutMetricDataSettings {
                region: config.function.region.clone(),
                endpoint_url: config.endpoint_url.clone(),
                fallback: true,
                namespace: config.namespace.clone(),
            },
            config.sink.contains(SinkKind::Emf),
        );
    }
    // Without the feature, the configuration has chosen EMF alone (and said why).
    #[cfg(not(feature = "put-metric-data"))]
    debug_assert!(!config.sink.contains(SinkKind::PutMetricData));
    OutputSink::emf()
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
    let listener = match bind_listener(config.listener_host, config.port) {
        Ok(listener) => Some(listener),
        Err(err) => {
            tracing::error!(error = %err, "no telemetry listener: lambda-lens will emit no metrics in this environment (the function is not affected)");
            None
        }
    };

    let client = extensions_api::client(&runtime_api)
        .map_err(|_| RunError::BadRuntimeApi(crate::text::clip(&runtime_api).into_owned()))?;
    let name = extension_name();
    let events: &[&str] = if managed {
        &["SHUTDOWN"]
    } else {
        &["INVOKE", "SHUTDOWN"]
    };
    let extension_id = tokio::time::timeout(
        REGISTER_DEADLINE,
        extensions_api::register(&client, &name, events),
    )
    .await
    .map_err(|_| RunError::RegisterTimeout)?
    .map_err(RunError::Register)?;

    // One batch waits at most: each holds its body (up to maxBytes), and memory under a flood
    // must stay bounded; the listener waits (backpressure) meanwhile.
    let (intake_tx, intake_rx) = mpsc::channel::<IntakeMessage>(1);
    let destination = listener.as_ref().map(|l| l.destination.clone());
    let pipeline = Pipeline::from_config(&config, output_sink(&config));
    let (life_tx, life_rx) = notice::channel(pipeline.wants_resources());
    let sampler = pipeline
        .wants_resources()
        .then(|| Box::new(ProcSampler::new()) as Box<dyn Sampler>);
    let telemetry = Telemetry {
        listener,
        limits: RequestLimits::new(config.buffering.max_body_bytes()),
        intake: (intake_tx, intake_rx),
        lifecycle: life_rx,
        pipeline,
        sampler,
        shutdown_wait: config.shutdown_wait,
    };
    let finished = telemetry.start().map_err(RunError::Thread)?;

    if let Some(destination) = destination {
        match subscribe(
            &client,
            &runtime_api,
            &extension_id,
            &destination,
            config.buffering,
            !managed,
        )
        .await
        {
            Ok(schema) => tracing::info!(%destination, schema, "subscribed to platform telemetry"),
            // SAM local and the Runtime Interface Emulator have no Telemetry API: expected there,
            // so one plain line that says where to see the metrics locally instead.
            Err(err) if err.is_not_supported() => tracing::warn!(
                "the Telemetry API is not available here (Telemetry.NotSupported: SAM local or the Runtime Interface Emulator), so lambda-lens emits no metrics; the function is not affected. To see the metrics before deploying, run the function in lambda-lens's sandbox (docs/local-testing.md)"
            ),
            Err(err) => tracing::error!(
                error = %err,
                "no telemetry subscription: lambda-lens will emit no metrics in this environment (the function is not affected)"
            ),
        }
    }
    let events = Events::new(&runtime_api, &extension_id).map_err(RunError::EventLoop)?;
    supervise(event_loop(events, life_tx), finished).await
}

/// Answers the Extensions API: hands each INVOKE to the pipeline thread without waiting, so the
/// next `/event/next` goes out at once, and SHUTDOWN with a wait it cannot skip. Ends only on
/// an error; after SHUTDOWN it waits for the pipeline thread, which ends the run once it has
/// flushed (asking for another event would tell Lambda the extension is done).
async fn event_loop(mut events: Events, lifecycle: Notifier) -> Result<(), ExtensionsApiError> {
    loop {
        match events.next().await? {
            NextEvent::Invoke { request_id } => {
                let wall_ms = chrono::Utc::now().timestamp_millis();
                lifecycle.invoke(Invoke { request_id, wall_ms });
            }
            NextEvent::Shutdown { reason, deadline_ms } => {
                lifecycle.shutdown(reason, deadline_ms).await;
                return std::future::pending().await;
            }
        }
    }
}

/// Everything that works on telemetry: the listener and the pipeline. It runs on a thread of
/// its own, with its own runtime, so that the thread answering the Extensions API never waits
/// for decoding, joining or encoding, however large a batch (a function is billed for every
/// millisecond between its response and the extensions' next `/event/next`).
struct Telemetry<S: Sink + 'static> {
    listener: Option<Listener>,
    limits: RequestLimits,
    intake: (mpsc::Sender<IntakeMessage>, mpsc::Receiver<IntakeMessage>),
    lifecycle: Notices,
    pipeline: Pipeline<S>,
    sampler: Option<Box<dyn Sampler>>,
    shutdown_wait: Duration,
}

impl<S: Sink + 'static> Telemetry<S> {
    /// Starts the thread. The receiver gets the pipeline's totals after SHUTDOWN, or what
    /// crashed.
    fn start(self) -> std::io::Result<oneshot::Receiver<Result<PipelineStats, Crash>>> {
        let (done_tx, done_rx) = oneshot::channel();
        std::thread::Builder::new()
            .name(TELEMETRY_THREAD.to_owned())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .thread_name(TELEMETRY_THREAD)
                    .build();
                let result = match runtime {
                    Ok(runtime) => {
                        let outcome =
                            std::panic::catch_unwind(AssertUnwindSafe(|| runtime.block_on(self.run())));
                        // A write to a stdout nobody reads may hold a blocking thread: the last
                        // write has had its share of the deadline already.
                        runtime.shutdown_timeout(Duration::from_millis(100));
                        outcome.unwrap_or_else(|panic| {
                            Err(Crash::panicked("the metrics pipeline", panic.as_ref()))
                        })
                    }
                    Err(err) => Err(Crash {
                        part: "the telemetry runtime",
                        message: err.to_string(),
                    }),
                };
                let _ = done_tx.send(result);
            })?;
        Ok(done_rx)
    }

    async fn run(self) -> Result<PipelineStats, Crash> {
        let (intake_tx, intake_rx) = self.intake;
        let server = self.listener.map(|listener| {
            tokio::spawn(serve(
                listener.socket,
                listener.path,
                intake_tx,
                Arc::new(Semaphore::new(1)),
                self.limits,
            ))
        });
        let worker = tokio::spawn(drive(
            self.pipeline,
            intake_rx,
            self.lifecycle,
            self.sampler,
            self.shutdown_wait,
            Clock::system(),
        ));
        let listener = async {
            match server {
                Some(server) => server.await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            finished = worker => finished.map_err(|err| Crash::joined("the metrics pipeline", err)),
            stopped = listener => match stopped {
                Err(err) => Err(Crash::joined("the telemetry listener", err)),
                // `serve` returns only when it cannot take the socket (it said why): the
                // pipeline carries on without telemetry until SHUTDOWN.
                Ok(()) => std::future::pending().await,
            },
        }
    }
}

/// A part of the extension that stopped by panicking (or could not start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crash {
    part: &'static str,
    message: String,
}

impl std::fmt::Display for Crash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} crashed: {}", self.part, self.message)
    }
}

impl Crash {
    fn panicked(part: &'static str, payload: &(dyn std::any::Any + Send)) -> Self {
        let message = crate::text::panic_message(payload)
            .unwrap_or("a panic")
            .to_owned();
        Self { part, message }
    }

    fn joined(part: &'static str, err: tokio::task::JoinError) -> Self {
        match err.try_into_panic() {
            Ok(panic) => Self::panicked(part, panic.as_ref()),
            Err(err) => Self {
                part,
                message: err.to_string(),
            },
        }
    }
}

/// Waits for whichever ends first: the Extensions API event loop (it ends only on an error) or
/// the telemetry thread (it ends after SHUTDOWN, or when a part of it crashed).
async fn supervise(
    event_loop: impl Future<Output = Result<(), ExtensionsApiError>>,
    telemetry: oneshot::Receiver<Result<PipelineStats, Crash>>,
) -> Result<(), RunError> {
    tokio::select! {
        result = event_loop => result.map_err(RunError::EventLoop),
        finished = telemetry => match finished {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(crash)) => Err(RunError::Crashed(crash)),
            Err(_) => Err(RunError::Crashed(Crash { part: "the telemetry thread", message: "it ended without a word".to_owned() })),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::MemorySink;

    /// A sink whose flush panics, as a bug deep in the pipeline would.
    struct Exploding;

    impl Sink for Exploding {
        fn accept(&mut self, _: String) {}
        async fn flush(&mut self) -> std::io::Result<()> {
            panic!("boom")
        }
    }

    fn telemetry<S: Sink>(sink: S) -> (Telemetry<S>, Notifier) {
        let (config, _) = Config::from_pairs(&[]);
        let (life_tx, life_rx) = notice::channel(true);
        let telemetry = Telemetry {
            listener: None,
            limits: RequestLimits::new(4096),
            intake: mpsc::channel(1),
            lifecycle: life_rx,
            pipeline: Pipeline::from_config(&config, sink),
            sampler: None,
            shutdown_wait: Duration::ZERO,
        };
        (telemetry, life_tx)
    }

    #[tokio::test]
    async fn a_panic_in_the_pipeline_is_a_failed_run_with_its_message() {
        let (telemetry, life) = telemetry(Exploding);
        let finished = telemetry.start().unwrap();
        life.invoke(Invoke {
            request_id: "r1".into(),
            wall_ms: 0,
        });
        let err = supervise(std::future::pending(), finished).await.unwrap_err();
        assert!(matches!(err, RunError::Crashed(_)), "{err:?}");
        assert_eq!(err.to_string(), "the metrics pipeline crashed: boom");
    }

    #[tokio::test]
    async fn a_pipeline_that_finishes_after_shutdown_is_a_clean_run() {
        let (telemetry, life) = telemetry(MemorySink::default());
        let finished = telemetry.start().unwrap();
        life.shutdown("spindown".into(), 0).await;
        assert!(supervise(std::future::pending(), finished).await.is_ok());
    }

    #[tokio::test]
    async fn an_event_loop_error_keeps_its_cause() {
        let (_tx, rx) = oneshot::channel();
        let gone = ExtensionsApiError::Request {
            call: "GET /2020-01-01/extension/event/next",
            source: "the API went away".into(),
        };
        let err = supervise(async { Err(gone) }, rx).await.unwrap_err();
        assert!(err.to_string().contains("the API went away"), "{err}");
        assert!(std::error::Error::source(&err).is_some(), "the cause is kept");
    }

    #[tokio::test]
    async fn a_crashed_task_is_named_with_its_panic() {
        let err = tokio::spawn(async { panic!("listener") }).await.unwrap_err();
        let crash = Crash::joined("the telemetry listener", err);
        assert_eq!(crash.to_string(), "the telemetry listener crashed: listener");
    }

    #[test]
    fn a_panic_names_the_thread_it_crashed() {
        assert_eq!(
            crashed_part(Some(TELEMETRY_THREAD)),
            ("the telemetry listener or the metrics pipeline", 1)
        );
        assert_eq!(crashed_part(Some("main")), ("the Extensions API thread", 101));
        assert_eq!(crashed_part(None), ("the Extensions API thread", 101));
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
}
