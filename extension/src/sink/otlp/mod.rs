//! OTLP: the metric records exported over OTLP/HTTP to CloudWatch's OpenTelemetry endpoint or
//! any OTLP backend, by a task of its own; the pipeline hands records over and never waits.
//!
//! - **Where the values come from.** Not from the EMF documents (as the PutMetricData sink reads
//!   them back): the pipeline hands every sink that observes ([`Sink::observe`]) each metric
//!   record before the EMF selection, through the [`Observed`] view. What (the records), how
//!   (EMF, or OTLP here) and where (the sinks) stay apart, and the OTLP set is complete whatever
//!   `LAMBDA_LENS_METRICS` publishes as EMF: OTLP has no per-metric charge. The EMF path pays
//!   one `observes()` check per record for it.
//! - **Few, small requests.** Records are aggregated in memory ([`aggregate::Window`]: delta
//!   sums and explicit-bucket histograms per series, bounded) and exported once per export
//!   interval (`OTEL_METRIC_EXPORT_INTERVAL`, 60 s by default), at the first flush after it is
//!   due (the environment is frozen between invocations: nothing runs on a timer there), and
//!   at SHUTDOWN. A delta export carries only the series that moved: CloudWatch bills every
//!   data point, resource attributes included (class a). Resource attributes once per request;
//!   gzip by default.
//! - **Nothing lost, nothing twice** (the PutMetricData sink's rules, on the same transport,
//!   `sink/net`): sending never on the thread that answers Lambda; at most [`MAX_ATTEMPTS`]
//!   attempts, retried on 429, 502, 503, 504 (honouring `Retry-After` within the deadline) and
//!   on a connection that could not be made; at SHUTDOWN the deadline caps every attempt. An
//!   export that fails for good is written to stdout as EMF: each record of the window as its
//!   own document (when `emf` is not in `LAMBDA_LENS_SINK`; with it, stdout has them already),
//!   with one log line per kind of failure naming the fix. An export sent without an answer
//!   (or answered after the deadline, at a thaw) counts as sent: at most once, never twice. A
//!   partial success (`rejected_data_points`) is counted and logged once; the rejected points
//!   are neither retried nor written again (the specification: not retryable).
//! - **Temporality.** Delta by default: each export carries what changed since the previous
//!   one, so an environment that ends loses nothing held, and a failed export's fallback is
//!   exactly its window. Cumulative (`OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`)
//!   exports the totals since the environment started; a failed window is then in the next
//!   export's totals as well as in its EMF fallback.

mod aggregate;
mod client;
mod encode;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub(crate) use super::net::retry::{Lookup, MAX_ATTEMPTS};
use super::net::retry::{Pause, time_for_attempt, wait_to_retry};
use super::net::task::{self, BatchSender};
use super::net::{Deadline, Written};
use super::{Health, Observed, Sink, SinkHealth, StdoutSink};
use aggregate::{Series, Window};
use client::{Attempt, Client};
pub(crate) use encode::AnyValue;

/// Fallback documents kept for the window not yet handed to the sender; beyond, dropped and
/// counted.
const MAX_FALLBACK_BYTES: usize = 4 * 1024 * 1024;
const SENDER_QUEUE: usize = 4;
/// The largest body (before gzip) of one request; a window that encodes larger is split by
/// series. CloudWatch refuses requests over 5 MB uncompressed (class a for its OTLP endpoints'
/// common limits, "OTLP Endpoints"; assumed for metrics, class d); far below, as a collector's
/// default limits are lower.
pub(crate) const MAX_REQUEST_BYTES: usize = 1024 * 1024;
/// Labels a data point may have at CloudWatch (class a, "CloudWatch OpenTelemetry Metrics":
/// up to 150), resource attributes and the scope's included (they become PromQL labels).
pub(crate) const MAX_LABELS: usize = 150;
/// Labels taken by the scope (name, version) and the most a data point adds.
const RESERVED_LABELS: usize = 2 + 3;
/// CloudWatch's time window: data points at most 14 days old, 2 hours ahead (class a for its
/// OTLP endpoints, assumed for metrics, class d; the same as EMF's).
pub(crate) const MAX_AGE_MS: i64 = 14 * 24 * 3_600_000;

/// Which data-point labels are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OtlpLabels {
    pub(crate) cold_start: bool,
    pub(crate) error_type: bool,
    pub(crate) tenant: bool,
}

/// What the OTLP sink needs from the configuration.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OtlpSettings {
    /// The URL of `/v1/metrics`; `None`: no endpoint (every export falls back).
    pub(crate) endpoint: Option<String>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) json: bool,
    pub(crate) gzip: bool,
    pub(crate) timeout: Duration,
    pub(crate) cumulative: bool,
    pub(crate) sigv4: bool,
    /// For SigV4.
    pub(crate) region: Option<String>,
    /// The resource's attributes, in order, each key once (see [`resource`]).
    pub(crate) resource: Vec<(String, AnyValue)>,
    pub(crate) labels: OtlpLabels,
    pub(crate) flush_interval: Duration,
    /// Whether a failed export's records are written to stdout (`otlp` without `emf`).
    pub(crate) fallback: bool,
}

/// Facts of the function for the resource.
pub(crate) struct FunctionFacts<'a> {
    pub(crate) name: &'a str,
    pub(crate) version: &'a str,
    pub(crate) memory_mb: Option<u32>,
    pub(crate) region: Option<&'a str>,
    pub(crate) instance: Option<&'a str>,
}

/// The resource attributes: the semantic conventions' for a Lambda function (`cloud.*`,
/// `faas.*`, `service.name`), then the user's `OTEL_RESOURCE_ATTRIBUTES` (which
/// win for a key both have, but for `service.name` when `OTEL_SERVICE_NAME` is set, as the
/// specification orders them). Each key once, at most [`MAX_LABELS`] less what the scope and a
/// data point take: the rest are left out, with a warning.
pub(crate) fn resource(
    f: &FunctionFacts<'_>,
    user: &[(String, String)],
    service_name: Option<&str>,
) -> Vec<(String, AnyValue)> {
    let text = |s: &str| AnyValue::Text(s.to_owned());
    let mut attrs: Vec<(String, AnyValue)> = vec![
        ("cloud.provider".into(), text("aws")),
        ("cloud.platform".into(), text("aws_lambda")),
    ];
    if let Some(region) = f.region {
        attrs.push(("cloud.region".into(), text(region)));
    }
    attrs.push(("faas.name".into(), text(f.name)));
    attrs.push(("faas.version".into(), text(f.version)));
    if let Some(mb) = f.memory_mb {
        // Bytes (the conventions' unit for `faas.max_memory`).
        attrs.push((
            "faas.max_memory".into(),
            AnyValue::Int(i64::from(mb) * 1024 * 1024),
        ));
    }
    if let Some(instance) = f.instance {
        attrs.push(("faas.instance".into(), text(instance)));
    }
    // No `host.arch`: the FaaS conventions do not list it (the host is not the function's), and
    // every resource attribute is billed on every data point at CloudWatch;
    // `OTEL_RESOURCE_ATTRIBUTES=host.arch=arm64` adds it.
    attrs.push(("service.name".into(), text(f.name)));
    for (k, v) in user {
        if k == "service.name" && service_name.is_some() {
            continue;
        }
        match attrs.iter_mut().find(|(key, _)| key == k) {
            Some((_, value)) => *value = text(v),
            None => attrs.push((k.clone(), text(v))),
        }
    }
    if let Some(name) = service_name
        && let Some((_, value)) = attrs.iter_mut().find(|(key, _)| key == "service.name")
    {
        *value = text(name);
    }
    let room = MAX_LABELS - RESERVED_LABELS;
    if attrs.len() > room {
        tracing::warn!(
            left_out = attrs.len() - room,
            limit = MAX_LABELS,
            "OTEL_RESOURCE_ATTRIBUTES: more resource attributes than CloudWatch takes labels on a data point; the last ones are left out"
        );
        attrs.truncate(room);
    }
    attrs
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    points_sent: AtomicU64,
    retries: AtomicU64,
    records_fallback: AtomicU64,
    unknown: AtomicU64,
    rejected: AtomicU64,
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// One window handed to the sender.
#[derive(Debug)]
pub(crate) struct Batch {
    pub(crate) series: Vec<Series>,
    /// Epoch milliseconds: the window's start and end.
    pub(crate) start_ms: i64,
    pub(crate) end_ms: i64,
    /// Each record of the window as EMF, for the fallback (empty when stdout has them).
    pub(crate) fallback: Vec<String>,
    pub(crate) records: u64,
}

type Message = task::Message<Batch>;

/// The OTLP sink.
pub(crate) struct OtlpSink {
    settings: Arc<OtlpSettings>,
    window: Window,
    /// When the window got its first record.
    opened: Option<Instant>,
    /// Epoch milliseconds the window began: the previous export (or the sink's start).
    window_start_ms: i64,
    /// Cumulative temporality: the totals since the start.
    totals: Option<Window>,
    started_ms: i64,
    fallback: Vec<String>,
    fallback_bytes: usize,
    dropped: u64,
    sender: Option<(mpsc::Sender<Message>, JoinHandle<()>)>,
    counters: Arc<Counters>,
    deadline: Deadline,
    lookup: Lookup,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl OtlpSink {
    pub(crate) fn new(settings: OtlpSettings) -> Self {
        Self::with_lookup(settings, Arc::new(|name: &str| std::env::var(name).ok()))
    }

    pub(crate) fn with_lookup(settings: OtlpSettings, lookup: Lookup) -> Self {
        let now = now_ms();
        Self {
            totals: settings.cumulative.then(Window::default),
            settings: Arc::new(settings),
            window: Window::default(),
            opened: None,
            window_start_ms: now,
            started_ms: now,
            fallback: Vec::new(),
            fallback_bytes: 0,
            dropped: 0,
            sender: None,
            counters: Arc::default(),
            deadline: Deadline::new(),
            lookup,
        }
    }

    fn sender(&mut self) -> &mpsc::Sender<Message> {
        let (tx, _) = self.sender.get_or_insert_with(|| {
            let (tx, rx) = mpsc::channel(SENDER_QUEUE);
            let sender = Sender {
                settings: self.settings.clone(),
                counters: self.counters.clone(),
                deadline: self.deadline.clone(),
                written: Written::default(),
                lookup: self.lookup.clone(),
                client: None,
                stdout: self.settings.fallback.then(StdoutSink::default),
                paused: Pause::default(),
                said: Vec::new(),
            };
            (tx, tokio::spawn(task::run(sender, rx)))
        });
        tx
    }

    /// The window as a batch, and a new window begun.
    fn take_batch(&mut self) -> Batch {
        let window = std::mem::take(&mut self.window);
        let end_ms = now_ms();
        let first = window.first_ms.unwrap_or(end_ms);
        let (series, start_ms) = match self.totals.as_mut() {
            Some(totals) => {
                totals.absorb(&window);
                (
                    totals.series.clone(),
                    self.started_ms.min(totals.first_ms.unwrap_or(end_ms)),
                )
            }
            // Delta: only the series that moved in the window (the OpenTelemetry SDKs' rule
            // for delta: no measurement in the interval, no point); every point is billed.
            None => (
                window.series.into_iter().filter(|s| s.point.moved()).collect(),
                self.window_start_ms.min(first),
            ),
        };
        if window.non_finite > 0 {
            tracing::debug!(
                values = window.non_finite,
                "OTLP: values that were not finite left out"
            );
        }
        self.window_start_ms = end_ms;
        self.opened = None;
        self.fallback_bytes = 0;
        Batch {
            series,
            start_ms,
            end_ms,
            fallback: std::mem::take(&mut self.fallback),
            records: window.records,
        }
    }
}

impl Sink for OtlpSink {
    /// The OTLP sink exports records, not documents.
    fn accept(&mut self, _document: String) {}

    fn observes(&self) -> bool {
        true
    }

    fn observe(&mut self, record: &dyn Observed, fallback: &mut dyn FnMut(&mut Vec<String>)) {
        self.window.observe(record, &self.settings.labels);
        self.opened.get_or_insert_with(Instant::now);
        if self.settings.fallback {
            let before = self.fallback.len();
            fallback(&mut self.fallback);
            let bytes: usize = self.fallback.iter().skip(before).map(String::len).sum();
            if self.fallback_bytes + bytes > MAX_FALLBACK_BYTES {
                self.fallback.truncate(before);
                self.dropped += 1;
                if self.dropped == 1 {
                    tracing::warn!(
                        limit = MAX_FALLBACK_BYTES,
                        "OTLP: the EMF fallback of the window is over its limit; further records' fallback documents are dropped (their values are still exported)"
                    );
                }
            } else {
                self.fallback_bytes += bytes;
            }
        }
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        let due = self
            .opened
            .is_some_and(|opened| opened.elapsed() >= self.settings.flush_interval);
        if !due || self.window.is_empty() {
            return Ok(());
        }
        let batch = self.take_batch();
        match self.sender().try_send(Message::Batch(batch)) {
            Ok(()) => Ok(()),
            // The sender is behind: the window goes on (its values merge into the next one).
            Err(mpsc::error::TrySendError::Full(Message::Batch(batch))) => {
                self.restore(batch);
                Ok(())
            }
            Err(_) => Err(std::io::Error::other("the OTLP sender stopped")),
        }
    }

    async fn close(&mut self, within: Duration) -> bool {
        let until = Instant::now() + within;
        let reserve = (within / 4).min(Duration::from_millis(250));
        self.deadline.cap(until - reserve);
        if self.window.is_empty() && self.sender.is_none() {
            return true;
        }
        let batch = (!self.window.is_empty()).then(|| self.take_batch());
        task::close(self.sender(), batch, until).await
    }

    fn health(&self) -> Health {
        let c = &self.counters;
        Health {
            put_metric_data: None,
            otlp: Some(SinkHealth {
                requests: c.requests.load(Ordering::Relaxed),
                data_points_sent: c.points_sent.load(Ordering::Relaxed),
                retries: c.retries.load(Ordering::Relaxed),
                data_points_fallback: c.records_fallback.load(Ordering::Relaxed),
                unknown_outcomes: c.unknown.load(Ordering::Relaxed),
                data_points_rejected: c.rejected.load(Ordering::Relaxed),
            }),
        }
    }
}

impl OtlpSink {
    /// Whether it writes its failed exports to stdout itself.
    #[cfg(test)]
    pub(crate) fn fallback_on(&self) -> bool {
        self.settings.fallback
    }

    /// A batch the sender could not take back into the window.
    fn restore(&mut self, batch: Batch) {
        let mut window = Window {
            series: batch.series,
            first_ms: Some(batch.start_ms),
            records: batch.records,
            ..Window::default()
        };
        if self.totals.is_some() {
            // Cumulative: the totals have it already; keep only the count of records.
            window.series.clear();
        }
        window.absorb(&self.window);
        self.window = window;
        self.window_start_ms = batch.start_ms;
        self.opened = Some(Instant::now());
        let mut fallback = batch.fallback;
        fallback.append(&mut self.fallback);
        self.fallback_bytes = fallback.iter().map(String::len).sum();
        self.fallback = fallback;
    }
}

/// Why an export ended in the fallback, for the one log line of each kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    Unknown,
    Rejected,
    Client,
    Denied,
    Refused,
    Unreachable,
    Deadline,
    Lost,
}

struct Sender {
    settings: Arc<OtlpSettings>,
    counters: Arc<Counters>,
    deadline: Deadline,
    written: Written,
    lookup: Lookup,
    client: Option<Result<Client, client::ClientError>>,
    stdout: Option<StdoutSink>,
    paused: Pause,
    said: Vec<Cause>,
}

impl BatchSender for Sender {
    type Batch = Batch;

    fn attempt_timeout(&self) -> Duration {
        self.settings.timeout
    }

    async fn send_batch(&mut self, batch: Batch, until: Instant) {
        self.export(batch, until).await;
    }

    fn fallback(&mut self) -> Option<&mut StdoutSink> {
        self.stdout.as_mut()
    }
}

impl Sender {
    /// The bodies of a batch: each at most [`MAX_REQUEST_BYTES`] (split by series), with the
    /// window's times kept inside CloudWatch's.
    fn bodies(&self, batch: &Batch, now_ms: i64) -> Vec<(Vec<u8>, u64)> {
        let (start_ms, end_ms) = window_times(batch.start_ms, batch.end_ms, now_ms);
        let series: Vec<&Series> = batch.series.iter().collect();
        let mut out = Vec::new();
        split(
            &self.settings,
            &series,
            start_ms,
            end_ms,
            MAX_REQUEST_BYTES,
            &mut out,
        );
        out
    }

    async fn export(&mut self, batch: Batch, until: Instant) {
        let bodies = self.bodies(&batch, now_ms());
        let mut stored_any = false;
        for (body, points) in bodies {
            match self.send(&body, points, until).await {
                Ok(()) => stored_any = true,
                Err((cause, why)) => {
                    if stored_any {
                        // Part of the window is stored: writing its records again would count
                        // that part twice; this part is counted as lost instead.
                        self.say(Cause::Lost, points, &format!("{why}; part of the window was already stored, so its records are not written as EMF: {points} data points lost"));
                    } else {
                        self.fall_back(&batch, cause, &why);
                    }
                    break;
                }
            }
        }
        if let Some(stdout) = self.stdout.as_mut() {
            let _ = stdout.flush().await;
        }
    }

    fn ensure_client(&mut self) -> Result<(), client::ClientError> {
        let (settings, deadline, written, lookup) =
            (&self.settings, &self.deadline, &self.written, &self.lookup);
        let made = self
            .client
            .get_or_insert_with(|| Client::new(settings, deadline, written, lookup.as_ref()));
        made.as_ref().map(|_| ()).map_err(Clone::clone)
    }

    /// One body, retried within bounds. `Err` when it fails for good.
    async fn send(&mut self, body: &[u8], points: u64, until: Instant) -> Result<(), (Cause, String)> {
        if self.paused.active() {
            return Err((
                Cause::Unreachable,
                "an earlier export could not reach it".to_owned(),
            ));
        }
        if let Err(e) = self.ensure_client() {
            return Err((Cause::Client, e.to_string()));
        }
        let mut last = String::new();
        for attempt in 1..=MAX_ATTEMPTS {
            let (until, now) =
                time_for_attempt(&self.deadline, until, &last).map_err(|why| (Cause::Deadline, why))?;
            if attempt > 1 {
                add(&self.counters.retries, 1);
            }
            let Some(Ok(client)) = self.client.as_ref() else {
                return Err((Cause::Client, "no client".to_owned()));
            };
            add(&self.counters.requests, 1);
            let outcome = client.export(body, until.min(now + self.settings.timeout)).await;
            match outcome {
                Attempt::Stored { rejected, message } => {
                    self.paused.clear();
                    add(&self.counters.points_sent, points.saturating_sub(rejected));
                    if rejected > 0 {
                        add(&self.counters.rejected, rejected);
                        self.say(
                            Cause::Rejected,
                            rejected,
                            &format!("the endpoint accepted the export but rejected {rejected} data points: {message:?}"),
                        );
                    }
                    return Ok(());
                }
                Attempt::Unknown => {
                    add(&self.counters.unknown, 1);
                    add(&self.counters.points_sent, points);
                    self.say(Cause::Unknown, points, "an export was sent and no answer came back in time; it may or may not have been stored, and is neither retried nor written as EMF (nothing is ever stored twice)");
                    return Ok(());
                }
                Attempt::Refused { why, status } => {
                    let cause = if matches!(status, 401 | 403) {
                        Cause::Denied
                    } else {
                        Cause::Refused
                    };
                    return Err((cause, why));
                }
                Attempt::Retry { why, after } => {
                    last = why;
                    if !wait_to_retry(&self.deadline, until, attempt, after).await {
                        break;
                    }
                }
            }
        }
        Err((Cause::Unreachable, self.paused.failed(&last)))
    }

    fn fall_back(&mut self, batch: &Batch, cause: Cause, why: &str) {
        add(&self.counters.records_fallback, batch.records);
        let written = if self.stdout.is_some() {
            "written as EMF to stdout instead"
        } else {
            "already written as EMF to stdout (LAMBDA_LENS_SINK has emf)"
        };
        self.say(
            cause,
            batch.records,
            &format!("{why}; the window's records were {written}"),
        );
        if let Some(stdout) = self.stdout.as_mut() {
            for line in &batch.fallback {
                stdout.accept(line.clone());
            }
        }
    }

    /// One log line per kind, naming the fix. Never a header's value or a credential: the
    /// endpoint is shown without its query or user part.
    fn say(&mut self, cause: Cause, count: u64, what: &str) {
        if self.said.contains(&cause) {
            return;
        }
        self.said.push(cause);
        let endpoint = self
            .settings
            .endpoint
            .as_deref()
            .map_or_else(|| "none".to_owned(), shown);
        let remedy = match cause {
            Cause::Client => "set OTEL_EXPORTER_OTLP_ENDPOINT (or AWS_REGION for CloudWatch's endpoint); SigV4 needs the function role's credentials, which Lambda gives; or set LAMBDA_LENS_SINK=emf".to_owned(),
            Cause::Denied if self.settings.sigv4 => "allow cloudwatch:PutMetricData on the function's role (the action CloudWatch's OTLP metrics endpoint authorises), or set LAMBDA_LENS_SINK=emf".to_owned(),
            Cause::Denied => "check the backend's credentials in OTEL_EXPORTER_OTLP_HEADERS (or LAMBDA_LENS_OTLP_AUTH=sigv4 for an AWS endpoint), or set LAMBDA_LENS_SINK=emf".to_owned(),
            Cause::Refused => "check that OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_METRICS_ENDPOINT) is an OTLP/HTTP metrics endpoint and OTEL_EXPORTER_OTLP_PROTOCOL one it takes, or set LAMBDA_LENS_SINK=emf".to_owned(),
            Cause::Rejected => "see the endpoint's message (a limit on labels, names or time); the rest of the export was stored".to_owned(),
            Cause::Unreachable | Cause::Deadline | Cause::Unknown | Cause::Lost => "check the function's network path to the endpoint (a VPC function needs a NAT gateway or a VPC endpoint for CloudWatch monitoring), or set LAMBDA_LENS_SINK=emf".to_owned(),
        };
        tracing::error!(
            count,
            endpoint = %endpoint,
            "OTLP export: {what} (later ones of this kind are counted, not logged). Remedy: {remedy}"
        );
    }
}

/// An endpoint for the log: scheme, host, port and path only.
fn shown(endpoint: &str) -> String {
    match endpoint.parse::<http::Uri>() {
        Ok(uri) => {
            format!(
                "{}://{}{}",
                uri.scheme_str().unwrap_or("?"),
                uri.host().unwrap_or("?"),
                uri.port().map(|p| format!(":{p}")).unwrap_or_default()
            ) + uri.path()
        }
        Err(_) => "(not a URL)".to_owned(),
    }
}

/// The window's start and end kept inside CloudWatch's time window: not older than
/// [`MAX_AGE_MS`] (a minute's margin), the end after the start and not ahead of now.
pub(crate) fn window_times(start_ms: i64, end_ms: i64, now_ms: i64) -> (i64, i64) {
    let oldest = now_ms - MAX_AGE_MS + 60_000;
    let end = end_ms.min(now_ms).max(oldest + 1);
    let start = start_ms.max(oldest).min(end - 1);
    (start, end)
}

fn nanos(ms: i64) -> u64 {
    u64::try_from(ms).unwrap_or(0).saturating_mul(1_000_000)
}

/// Encodes `series` as one body, or splits them in two halves until each is at most `limit`
/// bytes.
fn split(
    settings: &OtlpSettings,
    series: &[&Series],
    start_ms: i64,
    end_ms: i64,
    limit: usize,
    out: &mut Vec<(Vec<u8>, u64)>,
) {
    if series.is_empty() {
        return;
    }
    let export = encode::Export {
        resource: &settings.resource,
        series,
        start_ns: nanos(start_ms),
        time_ns: nanos(end_ms),
        cumulative: settings.cumulative,
    };
    let body = if settings.json {
        encode::json(&export)
    } else {
        encode::protobuf(&export)
    };
    if body.len() <= limit || series.len() == 1 {
        out.push((body, series.len() as u64));
        return;
    }
    let (a, b) = series.split_at(series.len() / 2);
    split(settings, a, start_ms, end_ms, limit, out);
    split(settings, b, start_ms, end_ms, limit, out);
}

#[cfg(test)]
mod tests;
