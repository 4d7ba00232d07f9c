//! Telemetry delivery: one queue and one delivery task per subscriber.
//!
//! Every generated record goes to the hub's history and to the queue of each subscriber that
//! asked for its category. A subscriber's task sends a batch when `maxItems` records or about
//! `maxBytes` bytes are queued, or `timeoutMs` after the oldest queued record; it never sends
//! while the environment is frozen, and it retries the same batch with backoff when the listener
//! is absent or answers an error.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tokio::sync::{Notify, RwLock, watch};
use tokio::task::JoinHandle;

use crate::environment::network::{Connector, NetNs};
use records::{Category, TelemetryRecord};

mod queue;
pub mod records;

use queue::{Due, SubQueue};

/// A subscriber's buffering settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buffering {
    /// `maxItems`.
    pub max_items: usize,
    /// `maxBytes`.
    pub max_bytes: usize,
    /// `timeoutMs`.
    pub timeout: Duration,
}

impl Default for Buffering {
    fn default() -> Self {
        Self {
            max_items: 10_000,
            max_bytes: 262_144,
            timeout: Duration::from_millis(1000),
        }
    }
}

/// An accepted subscription.
#[derive(Debug, Clone)]
pub struct Subscription {
    /// Identifier of the subscribing extension.
    pub extension_id: String,
    /// Its name.
    pub extension_name: String,
    /// `schemaVersion`.
    pub schema_version: String,
    /// Categories asked for.
    pub types: Vec<Category>,
    /// Buffering.
    pub buffering: Buffering,
    /// The URI given by the extension.
    pub uri: String,
    /// Where the sandbox actually sends: the address the URI's host names inside the
    /// environment (`127.0.0.1`, or `eth0`'s in a private network) and its port and path.
    pub target: String,
}

/// One POST attempt, kept for tests and diagnostics.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Subscriber (extension name).
    pub subscriber: String,
    /// When the POST was sent.
    pub at: DateTime<Utc>,
    /// Same moment on the monotonic clock.
    pub at_instant: Instant,
    /// 1 for the first try of a batch, then 2, 3...
    pub attempt: u32,
    /// `(type, requestId)` of each record of the batch.
    pub records: Vec<(String, Option<String>)>,
    /// Body size in bytes.
    pub bytes: usize,
    /// HTTP status, or the connection error.
    pub outcome: Result<u16, String>,
}

pub(crate) struct Subscriber {
    pub(crate) sub: Subscription,
    queue: Mutex<SubQueue>,
    notify: Notify,
    task: Mutex<Option<JoinHandle<()>>>,
}

struct HubInner {
    all: Vec<TelemetryRecord>,
    /// Index in `all` of the current (re)initialisation's first record: what a new subscriber
    /// receives of the platform events generated before it subscribed.
    platform_since: usize,
    subscribers: Vec<Arc<Subscriber>>,
}

/// Generated records, subscribers and their delivery tasks.
pub struct TelemetryHub {
    inner: Mutex<HubInner>,
    frozen: watch::Sender<bool>,
    gate: RwLock<()>,
    client: Client<Connector, Full<Bytes>>,
    deliveries: Mutex<Vec<Delivery>>,
    queue_limit: usize,
    duplicate_every: Option<u32>,
    batches_delivered: std::sync::atomic::AtomicU32,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Longest a POST may take before the sandbox counts it as failed and retries the batch.
const POST_TIMEOUT: Duration = Duration::from_secs(5);
/// Backoff between tries of one batch. The AWS documentation says Lambda retries with backoff
/// but gives no numbers; these are the sandbox's.
const BACKOFF_START: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_millis(1000);

impl TelemetryHub {
    /// A hub that drops records beyond `queue_limit` queued per subscriber.
    pub fn new(queue_limit: usize) -> Arc<Self> {
        Self::with_duplicates(queue_limit, None)
    }

    /// A hub that delivers every `duplicate_every`th batch twice.
    pub fn with_duplicates(queue_limit: usize, duplicate_every: Option<u32>) -> Arc<Self> {
        Self::build(queue_limit, duplicate_every, None)
    }

    /// The same, delivering from inside the network namespace `net` when there is one.
    pub(crate) fn build(queue_limit: usize, duplicate_every: Option<u32>, net: Option<NetNs>) -> Arc<Self> {
        Arc::new(Self {
            duplicate_every,
            batches_delivered: std::sync::atomic::AtomicU32::new(0),
            inner: Mutex::new(HubInner {
                all: Vec::new(),
                platform_since: 0,
                subscribers: Vec::new(),
            }),
            frozen: watch::Sender::new(false),
            gate: RwLock::new(()),
            client: Client::builder(TokioExecutor::new()).build(Connector(net)),
            deliveries: Mutex::new(Vec::new()),
            queue_limit,
        })
    }

    /// Records a generated record and queues it for every subscriber of its category.
    pub fn publish(&self, record: TelemetryRecord) {
        let now = Instant::now();
        let mut inner = lock(&self.inner);
        for s in &inner.subscribers {
            if s.sub.types.contains(&record.category()) {
                lock(&s.queue).push(record.clone(), now, self.queue_limit);
                s.notify.notify_one();
            }
        }
        inner.all.push(record);
    }

    /// Every record generated so far (including `platform.logsDropped`).
    pub fn records(&self) -> Vec<TelemetryRecord> {
        lock(&self.inner).all.clone()
    }

    /// Every POST attempt so far.
    pub fn deliveries(&self) -> Vec<Delivery> {
        lock(&self.deliveries).clone()
    }

    /// The current subscriptions.
    pub fn subscriptions(&self) -> Vec<Subscription> {
        lock(&self.inner)
            .subscribers
            .iter()
            .map(|s| s.sub.clone())
            .collect()
    }

    /// A new (re)initialisation starts: later subscribers get platform events from here on.
    pub fn mark_init_start(&self) {
        let mut inner = lock(&self.inner);
        inner.platform_since = inner.all.len();
    }

    /// Adds (or replaces) the subscription of an extension and starts its delivery task.
    /// The queue starts with the platform events of the current initialisation.
    pub fn subscribe(self: &Arc<Self>, sub: Subscription) {
        let now = Instant::now();
        let mut inner = lock(&self.inner);
        if let Some(pos) = inner
            .subscribers
            .iter()
            .position(|s| s.sub.extension_id == sub.extension_id)
        {
            let old = inner.subscribers.remove(pos);
            if let Some(t) = lock(&old.task).take() {
                t.abort();
            }
        }
        let mut queue = SubQueue::default();
        if sub.types.contains(&Category::Platform) {
            for r in inner.all.iter().skip(inner.platform_since) {
                if r.category() == Category::Platform {
                    queue.push(r.clone(), now, self.queue_limit);
                }
            }
        }
        let s = Arc::new(Subscriber {
            sub,
            queue: Mutex::new(queue),
            notify: Notify::new(),
            task: Mutex::new(None),
        });
        let task = tokio::spawn(deliver_loop(Arc::clone(self), Arc::clone(&s)));
        *lock(&s.task) = Some(task);
        inner.subscribers.push(s);
    }

    /// Stops delivering to these extensions (their process is gone).
    pub fn unsubscribe(&self, extension_ids: &[String]) {
        let mut inner = lock(&self.inner);
        inner.subscribers.retain(|s| {
            let keep = !extension_ids.contains(&s.sub.extension_id);
            if !keep && let Some(t) = lock(&s.task).take() {
                t.abort();
            }
            keep
        });
    }

    /// Sends what every subscriber has queued without waiting for `timeoutMs` (used at
    /// SHUTDOWN, so the last records reach extensions within their deadline: the AWS
    /// documentation is silent on how Lambda flushes then; this is the sandbox's choice).
    pub fn flush_all(&self) {
        let inner = lock(&self.inner);
        for s in &inner.subscribers {
            lock(&s.queue).request_flush();
            s.notify.notify_one();
        }
    }

    /// Records queued but not yet delivered, per subscriber name.
    pub fn pending(&self) -> Vec<(String, usize)> {
        let inner = lock(&self.inner);
        inner
            .subscribers
            .iter()
            .map(|s| (s.sub.extension_name.clone(), lock(&s.queue).len()))
            .collect()
    }

    /// Stops new POSTs and waits (at most `wait`) for those under way, before the processes are
    /// stopped: a frozen listener could not answer them.
    pub async fn freeze(&self, wait: Duration) {
        self.frozen.send_replace(true);
        if let Ok(guard) = tokio::time::timeout(wait, self.gate.write()).await {
            drop(guard);
        }
    }

    /// Allows POSTs again.
    pub fn thaw(&self) {
        self.frozen.send_replace(false);
    }

    /// Stops every delivery task.
    pub fn stop(&self) {
        let mut inner = lock(&self.inner);
        for s in inner.subscribers.drain(..) {
            if let Some(t) = lock(&s.task).take() {
                t.abort();
            }
        }
    }

    /// POSTs a batch once and records the delivery; returns whether it was taken (2xx).
    async fn attempt(
        &self,
        s: &Subscriber,
        body: &Bytes,
        summary: &[(String, Option<String>)],
        attempt: u32,
    ) -> bool {
        let (at, at_instant) = (Utc::now(), Instant::now());
        let outcome = self.post(&s.sub.target, body.clone()).await;
        let ok = matches!(outcome, Ok(code) if (200..300).contains(&code));
        lock(&self.deliveries).push(Delivery {
            subscriber: s.sub.extension_name.clone(),
            at,
            at_instant,
            attempt,
            records: summary.to_vec(),
            bytes: body.len(),
            outcome,
        });
        ok
    }

    /// Whether the batch just delivered is to be delivered again.
    fn duplicate_this(&self) -> bool {
        let Some(every) = self.duplicate_every.filter(|n| *n > 0) else {
            return false;
        };
        let n = self
            .batches_delivered
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        n.is_multiple_of(every)
    }

    async fn post(&self, target: &str, body: Bytes) -> Result<u16, String> {
        let req = http::Request::post(target)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .map_err(|e| e.to_string())?;
        match tokio::time::timeout(POST_TIMEOUT, self.client.request(req)).await {
            Ok(Ok(resp)) => Ok(resp.status().as_u16()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {POST_TIMEOUT:?}")),
        }
    }
}

async fn wait_for_batch(s: &Subscriber) -> (Vec<TelemetryRecord>, u64, u64) {
    loop {
        let due = lock(&s.queue).due(Instant::now(), &s.sub.buffering);
        match due {
            Due::Now => return lock(&s.queue).take_batch(&s.sub.buffering),
            Due::Empty => s.notify.notified().await,
            Due::At(at) => {
                tokio::select! {
                    () = s.notify.notified() => {}
                    () = tokio::time::sleep_until(at.into()) => {}
                }
            }
        }
    }
}

async fn deliver_loop(hub: Arc<TelemetryHub>, s: Arc<Subscriber>) {
    let mut frozen = hub.frozen.subscribe();
    loop {
        let (mut batch, dropped_records, dropped_bytes) = wait_for_batch(&s).await;
        if dropped_records > 0 {
            // Delivered whatever types the subscriber chose: it concerns its own stream
            // (the documentation does not say; the sandbox's choice).
            let r = TelemetryRecord::new(
                Utc::now(),
                "platform.logsDropped",
                records::logs_dropped(dropped_records, dropped_bytes),
            );
            lock(&hub.inner).all.push(r.clone());
            batch.insert(0, r);
        }
        let summary: Vec<(String, Option<String>)> = batch
            .iter()
            .map(|r| (r.kind.clone(), r.request_id().map(str::to_owned)))
            .collect();
        let schema = s.sub.schema_version.as_str();
        let body =
            Bytes::from(Value::Array(batch.iter().map(|r| r.to_json_for(schema)).collect()).to_string());
        let mut backoff = BACKOFF_START;
        let mut attempt = 0;
        loop {
            if frozen.wait_for(|f| !*f).await.is_err() {
                return;
            }
            let guard = hub.gate.read().await;
            if *frozen.borrow() {
                continue;
            }
            attempt += 1;
            let ok = hub.attempt(&s, &body, &summary, attempt).await;
            if ok && hub.duplicate_this() {
                attempt += 1;
                hub.attempt(&s, &body, &summary, attempt).await;
            }
            drop(guard);
            if ok {
                break;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }
}
