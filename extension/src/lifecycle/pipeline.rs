//! The synchronous core of the data path: intake messages and lifecycle events in, EMF
//! documents into the sink. Owned by one task; no locks, no I/O but `/proc` reads at
//! invocation boundaries and the sink's flush.

use std::collections::VecDeque;
use std::io;

use super::environment::{self, ExtensionFacts};
use crate::emf::{Batch, Batcher, EmfEncoder, EncodeStats};
use crate::intake::IntakeMessage;
use crate::intake::event::{EventKind, TelemetryEvent};
use crate::join::{CompletedInvocation, Joiner};
use crate::metrics::selection::Selection;
use crate::metrics::{InvocationContext, MetricRecord, invocation_record};
use crate::resources::{ResourceSample, ResourceUsage, Sampler};
use crate::sink::Sink;

/// How often, at most, the extension reports on itself between invocations (milliseconds).
const EXTENSION_REPORT_INTERVAL_MS: u64 = 60_000;

/// Running totals of what the pipeline has seen and written.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PipelineStats {
    pub batches: u64,
    pub records: u64,
    pub records_used: u64,
    pub records_ignored: u64,
    pub records_unknown: u64,
    pub records_malformed: u64,
    pub batches_oversized: u64,
    pub invocations: u64,
    pub documents: u64,
    pub non_finite_dropped: u64,
    pub logs_dropped_records: u64,
    pub logs_dropped_bytes: u64,
}

impl PipelineStats {
    fn add(&mut self, encoded: EncodeStats) {
        self.documents += encoded.documents;
        self.non_finite_dropped += encoded.non_finite_dropped;
    }

    fn rejected(&self) -> u64 {
        self.records_malformed + self.records_unknown + self.batches_oversized
    }
}

/// What the pipeline is built from; everything that varies is passed in.
pub struct PipelineParts<S: Sink> {
    pub joiner: Joiner,
    pub context: InvocationContext,
    pub encoder: EmfEncoder,
    pub sink: S,
    pub selection: Selection,
    /// Batched output; `None` writes one document per invocation.
    pub batcher: Option<Batcher>,
    /// Resource sampling at invocation boundaries; `None` when the resources group is off or
    /// INVOKE events are not available (Lambda Managed Instances).
    pub sampler: Option<Box<dyn Sampler>>,
}

pub struct Pipeline<S: Sink> {
    parts: PipelineParts<S>,
    stats: PipelineStats,
    completed: Vec<CompletedInvocation>,
    /// Decoded events not yet joined (see [`Pipeline::work`]).
    backlog: VecDeque<TelemetryEvent>,
    records: Vec<MetricRecord>,
    batches: Vec<Batch>,
    documents: Vec<String>,
    /// The invocation whose resource use the next sample closes, and its starting sample.
    last_invoke: Option<(String, ResourceSample)>,
    /// When the extension last reported on itself, and the totals it reported from.
    extension_reported: Option<(u64, PipelineStats)>,
}

impl<S: Sink> Pipeline<S> {
    pub fn new(parts: PipelineParts<S>) -> Self {
        Self {
            parts,
            stats: PipelineStats::default(),
            completed: Vec::new(),
            backlog: VecDeque::new(),
            records: Vec::new(),
            batches: Vec::new(),
            documents: Vec::new(),
            last_invoke: None,
            extension_reported: None,
        }
    }

    pub fn stats(&self) -> PipelineStats {
        self.stats
    }

    pub fn sink(&self) -> &S {
        &self.parts.sink
    }

    /// Invocations started whose report has not arrived.
    pub fn outstanding(&self) -> usize {
        self.parts.joiner.outstanding()
    }

    /// When [`Pipeline::sweep`] has work: a report waiting for its start, or a batch due.
    pub fn next_deadline(&self) -> Option<u64> {
        let batch = self.parts.batcher.as_ref().and_then(Batcher::next_deadline);
        match (self.parts.joiner.next_deadline(), batch) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// A batch from the listener: counted, its events queued for [`Pipeline::work`]. `now` is
    /// the monotonic clock in milliseconds.
    pub fn on_intake(&mut self, message: IntakeMessage, now: u64) {
        self.accept(message);
        while self.work(now, usize::MAX) {}
    }

    /// Counts a batch and queues its events without working them.
    pub fn accept(&mut self, message: IntakeMessage) {
        let decoded = match message {
            IntakeMessage::Batch(decoded) => decoded,
            IntakeMessage::Oversized { .. } => {
                self.stats.batches_oversized += 1;
                return;
            }
        };
        let s = &decoded.stats;
        self.stats.batches += 1;
        self.stats.records += s.records;
        self.stats.records_used += s.used;
        self.stats.records_ignored += s.ignored;
        self.stats.records_unknown += s.unknown;
        self.stats.records_malformed += s.malformed;
        self.backlog.extend(decoded.events);
    }

    /// Joins up to `slice` queued events and emits what they complete. Returns whether events
    /// are still queued (the caller flushes between slices).
    pub fn work(&mut self, now: u64, slice: usize) -> bool {
        for _ in 0..slice {
            let Some(event) = self.backlog.pop_front() else {
                break;
            };
            self.environment_event(&event);
            if !matches!(event.kind, EventKind::LogsDropped { .. }) {
                self.parts.joiner.ingest(event, now, &mut self.completed);
            }
        }
        self.emit(now);
        if self.backlog.is_empty() {
            // Give a burst's memory back rather than keep it for the environment's life.
            self.backlog.shrink_to(1024);
            false
        } else {
            true
        }
    }

    /// Environment-level events become records of their own.
    fn environment_event(&mut self, event: &TelemetryEvent) {
        let record = match &event.kind {
            EventKind::LogsDropped {
                records,
                bytes,
                reason,
            } => {
                tracing::warn!(
                    records,
                    bytes,
                    reason = reason.as_deref().unwrap_or_default(),
                    "Lambda dropped telemetry records: metrics of some invocations may be incomplete"
                );
                self.stats.logs_dropped_records += *records as u64;
                self.stats.logs_dropped_bytes += *bytes as u64;
                environment::logs_dropped_record(event.time_ms, *records, *bytes, reason.as_deref())
            }
            EventKind::InitReport {
                info,
                status,
                error_type,
                duration_ms,
            } => environment::phase_record(
                event.time_ms,
                false,
                Some(info),
                *status,
                error_type.as_deref(),
                *duration_ms,
            ),
            EventKind::RestoreReport {
                status, error_type, ..
            } => environment::phase_record(event.time_ms, true, None, *status, error_type.as_deref(), None),
            _ => return,
        };
        self.records.push(record);
    }

    /// An INVOKE event: the invocation is known before any of its telemetry arrives, and the
    /// resource sample taken now closes the previous invocation's use.
    pub fn on_invoke(&mut self, request_id: &str, wall_ms: i64, now: u64) {
        let expect_resources = self.close_resources();
        if let Some(sampler) = self.parts.sampler.as_mut() {
            self.last_invoke = Some((request_id.to_owned(), sampler.sample()));
        }
        self.parts
            .joiner
            .on_invoke(request_id, wall_ms, expect_resources, &mut self.completed);
        let due = self
            .extension_reported
            .is_none_or(|(at, _)| now >= at.saturating_add(EXTENSION_REPORT_INTERVAL_MS));
        if due && self.extension_reported.is_some() {
            self.report_extension(wall_ms, now);
        } else if self.extension_reported.is_none() {
            self.extension_reported = Some((now, self.stats));
        }
        self.emit(now);
    }

    /// Takes a sample and attaches the use since the last INVOKE to that invocation. Returns
    /// whether sampling is on.
    fn close_resources(&mut self) -> bool {
        let Some(sampler) = self.parts.sampler.as_mut() else {
            return false;
        };
        if let Some((id, start)) = self.last_invoke.take() {
            let usage = ResourceUsage::between(&start, &sampler.sample());
            self.parts
                .joiner
                .attach_resources(&id, usage, &mut self.completed);
        }
        true
    }

    fn report_extension(&mut self, wall_ms: i64, now: u64) {
        let facts = self.extension_facts();
        self.records.push(environment::extension_record(wall_ms, facts));
        self.extension_reported = Some((now, self.stats));
    }

    fn extension_facts(&self) -> ExtensionFacts {
        let before = self.extension_reported.map(|(_, s)| s).unwrap_or_default();
        ExtensionFacts {
            records_rejected: self.stats.rejected().saturating_sub(before.rejected()),
            documents_written: self.stats.documents.saturating_sub(before.documents),
        }
    }

    /// SHUTDOWN arrived: the function is done, so the last invocation's resource use ends now.
    pub fn on_shutdown(&mut self, now: u64) {
        self.close_resources();
        self.emit(now);
    }

    pub fn sweep(&mut self, now: u64) {
        self.parts.joiner.sweep(now, &mut self.completed);
        if let Some(batcher) = self.parts.batcher.as_mut() {
            batcher.due(now, &mut self.batches);
        }
        self.emit(now);
    }

    /// The end: emits everything still pending, the shutdown record and every open batch.
    pub fn finish(&mut self, shutdown_reason: &str, wall_ms: i64, now: u64) {
        self.parts
            .joiner
            .drain(Some(shutdown_reason), &mut self.completed);
        self.emit(now);
        if let Some(batcher) = self.parts.batcher.as_mut() {
            batcher.flush_all(&mut self.batches);
        }
        self.emit(now);
        let facts = self.extension_facts();
        self.records
            .push(environment::shutdown_record(wall_ms, shutdown_reason, facts));
        self.emit(now);
    }

    pub async fn flush(&mut self) -> io::Result<()> {
        self.parts.sink.flush().await
    }

    /// Completed invocations to records (into a batch, in batched mode), records and batches
    /// to documents, documents to the sink. Every record is cut to the selected metrics once.
    fn emit(&mut self, now: u64) {
        for invocation in self.completed.drain(..) {
            let record = invocation_record(&invocation, &self.parts.context);
            self.stats.invocations += 1;
            self.records.push(record);
        }
        for mut record in self.records.drain(..) {
            record.retain(&self.parts.selection);
            // Invocation records (those with a request id) are batched; environment records
            // are always documents of their own.
            let batchable = record.property_text("RequestId").is_some();
            let encoded = match self.parts.batcher.as_mut() {
                Some(batcher) if batchable => {
                    batcher.add(&record, now, &mut self.batches);
                    continue;
                }
                _ => self.parts.encoder.encode(&record, &mut self.documents),
            };
            self.stats.add(encoded);
        }
        for batch in self.batches.drain(..) {
            let encoded = self.parts.encoder.encode_batch(&batch, &mut self.documents);
            self.stats.add(encoded);
        }
        for document in self.documents.drain(..) {
            self.parts.sink.accept(document);
        }
    }
}
