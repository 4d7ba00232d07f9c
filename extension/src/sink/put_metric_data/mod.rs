//! PutMetricData: the same EMF documents, sent to CloudWatch's API instead of (or besides)
//! stdout, by a task of its own; the pipeline hands documents over and never waits for it.
//!
//! - **When it sends.** Only while the environment runs: the task sends after each flush of the
//!   pipeline (during an invocation, and after the response while the extension is still
//!   working) and at SHUTDOWN, within its deadline. The thread that answers the Extensions API
//!   never waits for it: `PostRuntimeExtensionsDuration` does not grow.
//! - **Connections.** One per request, closed after its answer: none is reused across a freeze.
//! - **Retries.** At most [`MAX_ATTEMPTS`] attempts per request, with full jitter, on
//!   throttling, 5xx answers and a connection that could not be made; each bounded by a
//!   deadline.
//! - **Fallback.** A request that fails for good (an error answer, missing permission or
//!   credentials, the endpoint unreachable until the deadline) is written to stdout as EMF
//!   instead, with one log line naming `cloudwatch:PutMetricData` and the remedy.
//! - **Unknown outcome.** A request that was sent and got no answer in time (or whose connection
//!   broke) may have been stored: it counts as sent. It is not retried and not written as EMF,
//!   so no data point is ever stored twice; it is counted (`ApiUnknownOutcomes`) and logged.
//!   At most once, never twice: a double count would be wrong silently, a loss is counted.
//!   PutMetricData takes no idempotency token (a), so a retry could only add a second copy.
//!   "Sent" means bytes of it reached the socket (the connector counts them): a request the
//!   environment was frozen before it went out was not sent, and is retried or written as EMF;
//!   an answer that arrived while it was frozen is taken at the thaw, past the deadline.

mod client;
mod connector;
mod datum;

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{Health, Sink, SinkHealth, StdoutSink};
use crate::sink::net::Deadline;
pub(crate) use crate::sink::net::retry::{Lookup, MAX_ATTEMPTS};
use crate::sink::net::retry::{Pause, time_for_attempt, wait_to_retry};
use crate::sink::net::task::{self, BatchSender};
use client::{Attempt, CloudWatch};
use datum::Request;

/// The longest one attempt may take while the environment runs.
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(2_000);
/// Documents not yet handed to the sender are kept up to this many bytes; beyond, dropped and
/// counted (as the stdout sink does).
const MAX_PENDING_BYTES: usize = 4 * 1024 * 1024;
const SENDER_QUEUE: usize = 8;

/// What the PutMetricData sink needs from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PutMetricDataSettings {
    pub(crate) region: Option<String>,
    pub(crate) endpoint_url: Option<String>,
    /// Whether a failed batch is written to stdout (`put-metric-data`), or not because stdout
    /// has every document already (`emf,put-metric-data`).
    pub(crate) fallback: bool,
    /// The namespace, for the remedy in the log line.
    pub(crate) namespace: String,
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    points_sent: AtomicU64,
    retries: AtomicU64,
    points_fallback: AtomicU64,
    unknown: AtomicU64,
}

impl Counters {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// A batch is the documents of one flush.
type Message = task::Message<Vec<String>>;

/// The PutMetricData sink.
pub(crate) struct PutMetricDataSink {
    settings: PutMetricDataSettings,
    queued: Vec<String>,
    queued_bytes: usize,
    dropped: u64,
    sender: Option<(mpsc::Sender<Message>, JoinHandle<()>)>,
    counters: Arc<Counters>,
    deadline: Deadline,
    lookup: Lookup,
}

impl PutMetricDataSink {
    pub(crate) fn new(settings: PutMetricDataSettings) -> Self {
        Self::with_lookup(settings, Arc::new(|name: &str| std::env::var(name).ok()))
    }

    pub(crate) fn with_lookup(settings: PutMetricDataSettings, lookup: Lookup) -> Self {
        Self {
            lookup,
            settings,
            queued: Vec::new(),
            queued_bytes: 0,
            dropped: 0,
            sender: None,
            counters: Arc::default(),
            deadline: Deadline::new(),
        }
    }

    #[cfg(all(test, feature = "otlp"))]
    pub(crate) fn fallback_on(&self) -> bool {
        self.settings.fallback
    }

    #[cfg(all(test, feature = "otlp"))]
    pub(crate) fn queued_documents(&self) -> usize {
        self.queued.len()
    }

    /// The sender task, started at the first flush (not during init).
    fn sender(&mut self) -> &mpsc::Sender<Message> {
        let (tx, _) = self.sender.get_or_insert_with(|| {
            let (tx, rx) = mpsc::channel(SENDER_QUEUE);
            let sender = Sender {
                settings: self.settings.clone(),
                counters: self.counters.clone(),
                deadline: self.deadline.clone(),
                lookup: self.lookup.clone(),
                client: None,
                fallback: self.settings.fallback.then(StdoutSink::default),
                paused: Pause::default(),
                said: Vec::new(),
            };
            (tx, tokio::spawn(task::run(sender, rx)))
        });
        tx
    }
}

impl Sink for PutMetricDataSink {
    fn accept(&mut self, document: String) {
        if self.queued_bytes + document.len() > MAX_PENDING_BYTES {
            self.dropped += 1;
            if self.dropped == 1 {
                tracing::warn!(
                    limit = MAX_PENDING_BYTES,
                    "cloudwatch:PutMetricData is not keeping up; documents beyond the limit are dropped"
                );
            }
            return;
        }
        self.queued_bytes += document.len();
        self.queued.push(document);
    }

    async fn flush(&mut self) -> io::Result<()> {
        if self.queued.is_empty() {
            return Ok(());
        }
        let documents = std::mem::take(&mut self.queued);
        match self.sender().try_send(Message::Batch(documents)) {
            Ok(()) => {
                self.queued_bytes = 0;
                Ok(())
            }
            // The sender is behind: keep them for the next flush.
            Err(mpsc::error::TrySendError::Full(Message::Batch(documents))) => {
                self.queued = documents;
                Ok(())
            }
            Err(_) => Err(io::Error::other("the PutMetricData sender stopped")),
        }
    }

    async fn close(&mut self, within: Duration) -> bool {
        let until = Instant::now() + within;
        // Sending stops early enough for the fallback to reach stdout, the request in flight
        // included.
        let reserve = (within / 4).min(Duration::from_millis(250));
        self.deadline.cap(until - reserve);
        let documents = std::mem::take(&mut self.queued);
        if documents.is_empty() && self.sender.is_none() {
            return self.dropped == 0;
        }
        let last = (!documents.is_empty()).then_some(documents);
        let finished = task::close(self.sender(), last, until).await;
        if self.dropped > 0 {
            tracing::warn!(
                documents = self.dropped,
                "metrics documents were dropped: cloudwatch:PutMetricData was not keeping up"
            );
        }
        finished && self.dropped == 0
    }

    fn health(&self) -> Health {
        let c = &self.counters;
        Health {
            put_metric_data: Some(SinkHealth {
                requests: c.requests.load(Ordering::Relaxed),
                data_points_sent: c.points_sent.load(Ordering::Relaxed),
                retries: c.retries.load(Ordering::Relaxed),
                data_points_fallback: c.points_fallback.load(Ordering::Relaxed),
                unknown_outcomes: c.unknown.load(Ordering::Relaxed),
                data_points_rejected: 0,
            }),
            otlp: None,
        }
    }
}

/// Why a request ended in the fallback, for the one log line of each kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    /// Not a failure: a request without an answer (logged once too).
    Unknown,
    Client,
    Refused,
    Unreachable,
    Deadline,
}

struct Sender {
    settings: PutMetricDataSettings,
    counters: Arc<Counters>,
    deadline: Deadline,
    lookup: Lookup,
    /// Built at the first request; `Err` when it cannot be (no credentials), for good.
    client: Option<Result<CloudWatch, client::ClientError>>,
    fallback: Option<StdoutSink>,
    paused: Pause,
    said: Vec<Cause>,
}

impl BatchSender for Sender {
    type Batch = Vec<String>;

    fn attempt_timeout(&self) -> Duration {
        ATTEMPT_TIMEOUT
    }

    async fn send_batch(&mut self, documents: Vec<String>, until: Instant) {
        self.send_all(documents, until).await;
    }

    fn fallback(&mut self) -> Option<&mut StdoutSink> {
        self.fallback.as_mut()
    }
}

impl Sender {
    async fn send_all(&mut self, documents: Vec<String>, until: Instant) {
        let now_ms = chrono::Utc::now().timestamp_millis();
        let mut readable = Vec::with_capacity(documents.len());
        for text in documents {
            match datum::read(text.clone(), now_ms) {
                Some(doc) => readable.push(doc),
                // Not EMF this sink can read: stdout keeps it as it is.
                None => self.write_fallback(vec![text]),
            }
        }
        for request in datum::pack(readable) {
            self.send(request, until).await;
        }
        if let Some(stdout) = self.fallback.as_mut() {
            let _ = stdout.flush().await;
        }
    }

    /// Builds the client at the first request; what stops it, for good.
    fn ensure_client(&mut self) -> Option<client::ClientError> {
        let (settings, deadline, lookup) = (&self.settings, &self.deadline, &self.lookup);
        let made = self
            .client
            .get_or_insert_with(|| CloudWatch::new(settings, deadline, lookup.as_ref()));
        made.as_ref().err().cloned()
    }

    /// Sends one request, retrying within bounds; its fallback when it fails for good.
    async fn send(&mut self, request: Request, until: Instant) {
        if self.paused.active() {
            return self.fall_back(
                request,
                Cause::Unreachable,
                "an earlier request could not reach it",
            );
        }
        let mut last = String::new();
        for attempt in 1..=MAX_ATTEMPTS {
            let (until, now) = match time_for_attempt(&self.deadline, until, &last) {
                Ok(times) => times,
                Err(why) => return self.fall_back(request, Cause::Deadline, &why),
            };
            if attempt > 1 {
                Counters::add(&self.counters.retries, 1);
            }
            let attempt_until = until.min(now + ATTEMPT_TIMEOUT);
            if let Some(err) = self.ensure_client() {
                return self.fall_back(request, Cause::Client, &err.to_string());
            }
            let Some(Ok(client)) = self.client.as_ref() else {
                return self.fall_back(request, Cause::Client, "no client");
            };
            Counters::add(&self.counters.requests, 1);
            let outcome = client.put(&request, attempt_until).await;
            match outcome {
                Attempt::Stored => {
                    self.paused.clear();
                    Counters::add(&self.counters.points_sent, request.points());
                    return;
                }
                Attempt::Unknown => {
                    Counters::add(&self.counters.unknown, 1);
                    // At most once: counted as sent, neither retried nor written.
                    if !self.said.contains(&Cause::Unknown) {
                        self.said.push(Cause::Unknown);
                        tracing::warn!(
                            data_points = request.points(),
                            "cloudwatch:PutMetricData: a request was sent and no answer came back in time; it may or may not have been stored, and is neither retried nor written as EMF (no data point is ever stored twice; later ones are counted in ApiUnknownOutcomes, not logged)"
                        );
                    }
                    Counters::add(&self.counters.points_sent, request.points());
                    return;
                }
                Attempt::Refused(why) => return self.fall_back(request, Cause::Refused, &why),
                Attempt::Retry(why) => {
                    last = why;
                    if !wait_to_retry(&self.deadline, until, attempt, None).await {
                        break;
                    }
                }
            }
        }
        let why = self.paused.failed(&last);
        self.fall_back(request, Cause::Unreachable, &why);
    }

    fn fall_back(&mut self, request: Request, cause: Cause, why: &str) {
        let points = request.points();
        let written = if self.fallback.is_some() {
            "written as EMF to stdout instead"
        } else {
            "already written as EMF to stdout (LAMBDA_LENS_SINK=emf,put-metric-data)"
        };
        if !self.said.contains(&cause) {
            self.said.push(cause);
            let remedy = match cause {
                Cause::Client => "run the layer inside Lambda (it gives the function role's credentials), or set AWS_REGION and the AWS credential variables".to_owned(),
                Cause::Refused => format!(
                    "allow cloudwatch:PutMetricData on the function's role (with the condition cloudwatch:namespace = {:?}), or set LAMBDA_LENS_SINK=emf",
                    self.settings.namespace
                ),
                Cause::Unreachable | Cause::Deadline | Cause::Unknown => "check the function's network path to CloudWatch (a VPC function needs a NAT gateway or a monitoring VPC endpoint), or set LAMBDA_LENS_SINK=emf".to_owned(),
            };
            tracing::error!(
                data_points = points,
                "cloudwatch:PutMetricData failed: {why}; the data points were {written} (later failures of this kind are counted, not logged). Remedy: {remedy}"
            );
        }
        Counters::add(&self.counters.points_fallback, points);
        self.write_fallback(request.fallback);
    }

    fn write_fallback(&mut self, lines: Vec<String>) {
        if let Some(stdout) = self.fallback.as_mut() {
            for line in lines {
                stdout.accept(line);
            }
        }
    }
}

#[cfg(test)]
mod tests;
