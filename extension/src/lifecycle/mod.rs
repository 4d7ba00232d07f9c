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
use extensions_api::{Missing, NextEvent, Received};
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

/// The sinks `LAMBDA_LENS_SINK` chose, as one tee. Nothing is connected here: the networked
/// sinks' clients are made at their first request, after init. Without a sink's feature, the
/// configuration has not chosen it (and said why).
fn output_sink(config: &Config) -> OutputSink {
    #[allow(unused_mut, reason = "without the networked features there is nothing to add")]
    let mut sink = OutputSink::tee(config.sink.contains(SinkKind::Emf));
    #[cfg(feature = "put-metric-data")]
    if config.sink.contains(SinkKind::PutMetricData) {
        sink = sink.with_put_metric_data(crate::sink::PutMetricDataSettings {
            region: config.function.region.clone(),
            endpoint_url: config.endpoint_url.clone(),
            fallback: true,
            namespace: config.namespace.clone(),
        });
    }
    #[cfg(feature = "otlp")]
    if let Some(otlp) = config
        .otlp
        .as_ref()
        .filter(|_| config.sink.contains(SinkKind::Otlp))
    {
        sink = sink.with_otlp(otlp_settings(config, otlp));
    }
    sink
}

/// The OTLP sink's settings from its configuration and the function's facts.
#[cfg(feature = "otlp")]
fn otlp_settings(config: &Config, otlp: &crate::config::OtlpConfig) -> crate::sink::OtlpSettings {
    use crate::config::otlp::{Auth, Label, Protocol, Temporality};
    let f = &config.function;
    let resource = crate::sink::otlp_resource(
        &crate::sink::OtlpFunction {
            name: &f.name,
            version: &f.version,
            memory_mb: f.memory_size_mb,
            region: f.region.as_deref(),
            instance: f.log_stream.as_deref(),
        },
        &otlp.resource_attributes,
        otlp.service_name.as_deref(),
    );
    crate::sink::OtlpSettings {
        endpoint: otlp.endpoint.clone(),
        headers: otlp.headers.clone(),
        json: otlp.protocol == Protocol::Json,
        gzip: otlp.gzip,
        timeout: otlp.timeout,
        cumulative: otlp.temporality == Temporality::Cumulative,
        sigv4: otlp.auth == Auth::SigV4,
        region: f.region.clone(),
        resource,
        labels: crate::sink::OtlpLabels {
            cold_start: otlp.labels.contains(&Label::ColdStart),
            error_type: otlp.labels.contains(&Label::ErrorType),
            tenant: otlp.labels.contains(&Label::TenantId),
        },
        flush_interval: otlp.export_interval,
        fallback: true,
    }
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
/// next `/event/next` goes out at once (a wake of that thread, when one is due, only after it), and SHUTDOWN with a wait it cannot skip. Ends only on
/// an error of the API itself; after SHUTDOWN it waits for the pipeline thread, which ends the
/// run once it has flushed (asking for another event would tell Lambda the extension is done).
/// An event that lacks a member Lambda always sends is handled with a safe default (see
/// [`NextEvent::decode`]) and a warning naming the member; an event of a type this version does
/// not know is logged and the next one asked for. Neither ends the run.
async fn event_loop(mut events: Events, lifecycle: Notifier) -> Result<(), ExtensionsApiError> {
    let mut warned = Warned::default();
    // A wake of the pipeline thread that is due, sent once the next request is out.
    let mut wake = false;
    loop {
        let due = std::mem::take(&mut wake);
        let Received { event, missing } = events
            .next_after(|| {
                if due {
                    lifecycle.wake();
                }
            })
            .await?;
        warned.warn(&missing);
        match event {
            NextEvent::Invoke {
                request_id: Some(request_id),
            } => {
                let wall_ms = chrono::Utc::now().timestamp_millis();
                wake = lifecycle.invoke(Invoke { request_id, wall_ms });
            }
            // Its telemetry still gives the invocation (the warning said so).
            NextEvent::Invoke { request_id: None } => {}
            NextEvent::Shutdown { reason, deadline_ms } => {
                lifecycle.shutdown(reason, deadline_ms).await;
                return std::future::pending().await;
            }
            NextEvent::Other { kind } => tracing::warn!(
                event_type = %kind,
                "the Extensions API sent an event this version does not know: it is ignored and the next event asked for"
            ),
        }
    }
}

/// The members already warned of: a platform that never sends one is named once, not at every
/// invocation (later ones are debug lines).
#[derive(Debug, Default)]
struct Warned(Vec<(&'static str, &'static str)>);

impl Warned {
    fn warn(&mut self, missing: &[Missing]) {
        for m in missing {
            let key = (m.event, m.member);
            if self.0.contains(&key) {
                tracing::debug!(
                    event = m.event,
                    member = m.member,
                    "an Extensions API event lacked a member"
                );
                continue;
            }
            self.0.push(key);
            tracing::warn!(
                event = m.event,
                member = m.member,
                instead = m.instead,
                "an Extensions API event lacked a member Lambda always sends (or it was of another type): carrying on with a safe default"
            );
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
        if life.invoke(Invoke {
            request_id: "r1".into(),
            wall_ms: 0,
        }) {
            life.wake();
        }
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

    /// An Extensions API that answers `/event/next` with `events` in turn, then refuses.
    async fn extensions_api(events: Vec<&'static str>) -> String {
        use http_body_util::Full;
        use hyper::server::conn::http1;
        use hyper::service::service_fn;
        use hyper_util::rt::TokioIo;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let next = Arc::new(AtomicUsize::new(0));
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let (events, next) = (events.clone(), Arc::clone(&next));
                tokio::spawn(async move {
                    let service = service_fn(move |_| {
                        let event = events.get(next.fetch_add(1, Ordering::SeqCst)).copied();
                        let mut response =
                            hyper::Response::new(Full::new(bytes::Bytes::from(event.unwrap_or(""))));
                        if event.is_none() {
                            *response.status_mut() = http::StatusCode::FORBIDDEN;
                        }
                        async move { Ok::<_, std::convert::Infallible>(response) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        address
    }

    /// Events that lack members Lambda always sends, of a type this version does not know, or
    /// not JSON at all: the loop carries on (each of these ended the extension with an error),
    /// and a SHUTDOWN with neither reason nor deadline is still a shutdown, with Lambda's
    /// budget for a deadline, handed to the pipeline to flush.
    #[tokio::test]
    async fn odd_events_never_end_the_event_loop() {
        let address = extensions_api(vec![
            r#"{"eventType":"INVOKE","deadlineMs":1,"invokedFunctionArn":"arn","tracing":{}}"#,
            r#"{"eventType":"INVOKE","requestId":"r2"}"#,
            r#"{"eventType":"RESTORE"}"#,
            r#"{"requestId":"r3"}"#,
            "not json",
            r#"{"eventType":"SHUTDOWN"}"#,
        ])
        .await;
        let events = Events::new(&address, "id-1").unwrap();
        let (notifier, mut notices) = notice::channel(false);
        let before = chrono::Utc::now().timestamp_millis();
        let looping = tokio::spawn(event_loop(events, notifier));
        let shutdown = tokio::time::timeout(Duration::from_secs(10), notices.recv())
            .await
            .unwrap();
        let Some(notice::LifecycleEvent::Shutdown { reason, deadline_ms }) = shutdown else {
            panic!("a shutdown, not {shutdown:?}");
        };
        assert_eq!(reason, "unknown");
        let after = chrono::Utc::now().timestamp_millis();
        let deadline = i64::try_from(deadline_ms).unwrap();
        assert!((before + 2_000..=after + 2_000).contains(&deadline), "{deadline}");
        let ids: Vec<String> = std::iter::from_fn(|| notices.take())
            .map(|i| i.request_id.to_string())
            .collect();
        assert_eq!(ids, ["r2"], "the invoke without an id is left to its telemetry");
        assert!(
            !looping.is_finished(),
            "it waits for the pipeline, never ends with an error"
        );
        looping.abort();
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
