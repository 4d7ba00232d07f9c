//! The synchronous core of the data path: telemetry batches and invocation boundaries in, EMF
//! documents into the sink. Owned by one task; no locks and no I/O but the sink's flush (the
//! lifecycle takes resource samples and passes them in). [`build`] assembles it from the
//! configuration.

mod build;
mod observe;

use std::io;

use crate::emf::{Aggregate, Batcher, EmfEncoder, EncodeStats, Slowest};
use crate::intake::{Batch, Delivery, IntakeMessage, Reading, Versions};
use crate::join::Joiner;
use crate::metrics::environment::{self, ExtensionFacts, PhaseKind, PutMetricDataFacts};
use crate::metrics::selection::Selection;
use crate::metrics::{InvocationContext, MetricRecord, RecordKind, catalogue, invocation_record};
use crate::model::{
    CompletedInvocation, EventKind, Phase, RequestId, ResourceSample, ResourceUsage, TelemetryEvent,
};
use crate::resources::own_peak_rss_bytes;
use crate::sink::{Health, Sink, SinkHealth};

/// How often, at most, the extension reports on itself between invocations (milliseconds).
const EXTENSION_REPORT_INTERVAL_MS: u64 = 60_000;

/// Running totals of what the pipeline has seen and written, for the extension's own metrics
/// and its shutdown log line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PipelineStats {
    /// Telemetry batches taken (oversized ones not included).
    pub batches: u64,
    /// Records in them.
    pub records: u64,
    /// Records that became events.
    pub records_used: u64,
    /// Records of known types that carry nothing lambda-lens measures.
    pub records_ignored: u64,
    pub records_unknown: u64,
    pub records_malformed: u64,
    /// Values dropped because they were not finite, negative or beyond sense.
    pub values_dropped: u64,
    /// Texts cut to their longest.
    pub texts_cut: u64,
    /// Event times CloudWatch would refuse, replaced by the arrival time.
    pub times_replaced: u64,
    /// Batches refused for their size.
    pub batches_oversized: u64,
    /// Events of invocations already emitted (duplicate deliveries), dropped.
    pub duplicate_events: u64,
    /// Invocations emitted early because too many were pending.
    pub invocations_evicted: u64,
    pub invocations: u64,
    pub documents: u64,
    /// Metric values left out of the output because they were NaN or infinite.
    pub non_finite_dropped: u64,
    /// What Lambda said it dropped (`platform.logsDropped`).
    pub logs_dropped_records: u64,
    pub logs_dropped_bytes: u64,
}

impl PipelineStats {
    fn add(&mut self, encoded: EncodeStats) {
        self.documents += encoded.documents;
        self.non_finite_dropped += encoded.non_finite_dropped;
    }

    /// What the `TelemetryRecordsRejected` metric counts: records that could not be used
    /// (malformed, or of an unknown type), and refused oversized batches (once each: their
    /// records were never read).
    pub fn rejected(&self) -> u64 {
        self.records_malformed + self.records_unknown + self.batches_oversized
    }
}

/// What the pipeline is built from; everything that varies is passed in.
pub(crate) struct PipelineParts<S: Sink> {
    pub(crate) joiner: Joiner,
    pub(crate) context: InvocationContext,
    pub(crate) encoder: EmfEncoder,
    pub(crate) sink: S,
    pub(crate) selection: Selection,
    /// Aggregated output (batched and adaptive modes); `None` writes one document per
    /// invocation.
    pub(crate) batcher: Option<Batcher>,
    /// Adaptive mode: notable invocations and the slowest of each window are written as
    /// documents of their own, the others aggregated.
    pub(crate) slowest: Option<Slowest>,
    /// Whether resource metrics are selected (and INVOKE boundaries exist to sample at): the
    /// lifecycle then passes a sample at every INVOKE and at SHUTDOWN.
    pub(crate) wants_resources: bool,
}

/// The data path from decoded telemetry to EMF documents in a sink.
pub struct Pipeline<S: Sink> {
    parts: PipelineParts<S>,
    stats: PipelineStats,
    completed: Vec<CompletedInvocation>,
    /// The batch being worked (see [`Pipeline::work`]); it holds the listener's slot.
    reading: Option<Reading>,
    /// The function version last read, shared by the invocations that have it.
    versions: Versions,
    records: Vec<MetricRecord>,
    /// The join's init reports being made into records (kept for its room).
    phases: Vec<(i64, Phase)>,
    /// The last record placed, whose room the next invocation's record takes.
    spent: Option<MetricRecord>,
    aggregates: Vec<Aggregate>,
    documents: Vec<String>,
    /// The invocation whose resource use the next sample closes, and its starting sample.
    last_invoke: Option<(RequestId, ResourceSample)>,
    /// When the extension last reported on itself, and the totals it reported from.
    extension_reported: Option<(u64, PipelineStats)>,
    /// The sinks' totals at that report.
    sink_reported: Health,
}

impl<S: Sink> Pipeline<S> {
    pub(crate) fn new(parts: PipelineParts<S>) -> Self {
        Self {
            parts,
            stats: PipelineStats::default(),
            completed: Vec::new(),
            reading: None,
            versions: Versions::default(),
            records: Vec::new(),
            phases: Vec::new(),
            spent: None,
            aggregates: Vec::new(),
            documents: Vec::new(),
            last_invoke: None,
            extension_reported: None,
            sink_reported: Health::default(),
        }
    }

    /// The totals so far.
    pub fn stats(&self) -> PipelineStats {
        let join = self.parts.joiner.stats();
        PipelineStats {
            duplicate_events: join.duplicates,
            invocations_evicted: join.evicted,
            ..self.stats
        }
    }

    pub fn sink(&self) -> &S {
        &self.parts.sink
    }

    /// Whether the lifecycle should take resource samples at invocation boundaries.
    pub(crate) fn wants_resources(&self) -> bool {
        self.parts.wants_resources
    }

    /// Invocations started whose report has not arrived.
    pub(crate) fn outstanding(&self) -> usize {
        self.parts.joiner.outstanding()
    }

    /// When [`Pipeline::sweep`] has work: a report waiting for its start, or a batch due.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        [
            self.parts.joiner.next_deadline(),
            self.parts.batcher.as_ref().and_then(Batcher::next_deadline),
            self.parts.slowest.as_ref().and_then(Slowest::next_deadline),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// A batch decoded up front, worked whole. `now` is the monotonic clock in milliseconds.
    pub fn on_batch(&mut self, batch: Batch, now: u64) {
        self.accept(IntakeMessage::Batch(batch), now);
        while self.work(now, usize::MAX) {}
    }

    /// A delivered body that arrived at `received_ms` (epoch milliseconds), worked whole the
    /// way the extension works it: record by record, each decoded as it is joined. `now` is
    /// the monotonic clock in milliseconds.
    pub fn on_body(&mut self, body: Vec<u8>, received_ms: i64, now: u64) {
        self.accept(IntakeMessage::Delivery(Delivery::unheld(body, received_ms)), now);
        while self.work(now, usize::MAX) {}
    }

    /// Takes a message from the listener: its batch is worked by [`Pipeline::work`]. A batch
    /// still being worked is finished first (the listener sends the next only after that).
    pub(crate) fn accept(&mut self, message: IntakeMessage, now: u64) {
        let reading = match message {
            IntakeMessage::Delivery(delivery) => Reading::from(delivery),
            IntakeMessage::Batch(batch) => Reading::from(batch),
            IntakeMessage::Oversized => {
                self.stats.batches_oversized += 1;
                return;
            }
        };
        while self.work(now, usize::MAX) {}
        self.reading = Some(reading);
        self.stats.batches += 1;
    }

    /// Joins up to `slice` events of the batch being worked (each decoded as it is taken) and
    /// emits what they complete. Returns whether the batch has more (the caller flushes between
    /// slices). At the batch's end its counts are added and the listener's slot is given back,
    /// so it may read the next batch.
    pub(crate) fn work(&mut self, now: u64, slice: usize) -> bool {
        let Some(mut reading) = self.reading.take() else {
            return false;
        };
        let mut more = true;
        for _ in 0..slice {
            let Some(event) = reading.next_event(&mut self.versions) else {
                more = false;
                break;
            };
            self.environment_event(&event);
            self.parts.joiner.ingest(event, now, &mut self.completed);
            self.init_records();
        }
        if more {
            self.reading = Some(reading);
        } else {
            self.count(reading);
        }
        self.emit(now);
        more
    }

    /// Adds what a worked batch counted to the totals.
    fn count(&mut self, reading: Reading) {
        let (s, checks) = reading.finish();
        self.stats.values_dropped += checks.values_dropped;
        self.stats.texts_cut += checks.texts_cut;
        self.stats.times_replaced += checks.times_replaced;
        self.stats.records += s.records;
        self.stats.records_used += s.used;
        self.stats.records_ignored += s.ignored;
        self.stats.records_unknown += s.unknown;
        self.stats.records_malformed += s.malformed;
    }

    /// Environment-level events become records of their own.
    fn environment_event(&mut self, event: &TelemetryEvent) {
        let record = match &event.kind {
            EventKind::LogsDropped(dropped) => {
                tracing::warn!(
                    records = dropped.records,
                    bytes = dropped.bytes,
                    reason = dropped.reason.as_deref().unwrap_or_default(),
                    "Lambda dropped telemetry records: metrics of some invocations may be incomplete"
                );
                self.stats.logs_dropped_records += dropped.records as u64;
                self.stats.logs_dropped_bytes += dropped.bytes as u64;
                environment::logs_dropped_record(event.time_ms, dropped)
            }
            // An init's record comes from the join (see `init_records`), which knows when the
            // first invocation started.
            EventKind::RestoreReport(phase) => {
                environment::phase_record(event.time_ms, PhaseKind::Restore, phase)
            }
            _ => return,
        };
        self.records.push(record);
    }

    /// The init reports the join is done with, as environment records.
    fn init_records(&mut self) {
        let mut phases = std::mem::take(&mut self.phases);
        self.parts.joiner.take_phase_reports(&mut phases);
        for (time_ms, phase) in phases.drain(..) {
            self.records
                .push(environment::phase_record(time_ms, PhaseKind::Init, &phase));
        }
        self.phases = phases;
    }

    /// An INVOKE event: the invocation is known before any of its telemetry arrives, and the
    /// resource `sample` taken at it (when resources are measured) closes the previous
    /// invocation's use and opens this one's.
    pub(crate) fn on_invoke(
        &mut self,
        request_id: RequestId,
        sample: Option<ResourceSample>,
        wall_ms: i64,
        now: u64,
    ) {
        let expect_resources = sample.is_some();
        if let Some(sample) = &sample {
            self.close_resources(sample);
        }
        self.parts
            .joiner
            .on_invoke(&request_id, wall_ms, expect_resources, &mut self.completed);
        if let Some(sample) = sample {
            self.last_invoke = Some((request_id, sample));
        }
        match self.extension_reported {
            None => {
                self.extension_reported = Some((now, self.stats()));
                self.sink_reported = self.parts.sink.health();
            }
            Some((at, _)) if now >= at.saturating_add(EXTENSION_REPORT_INTERVAL_MS) => {
                let facts = self.extension_facts();
                self.records.push(environment::extension_record(wall_ms, facts));
                self.extension_reported = Some((now, self.stats()));
                self.sink_reported = self.parts.sink.health();
            }
            Some(_) => {}
        }
        self.emit(now);
    }

    /// Attaches the use since the last INVOKE to that invocation.
    fn close_resources(&mut self, end: &ResourceSample) {
        if let Some((id, start)) = self.last_invoke.take() {
            let usage = ResourceUsage::between(&start, end);
            self.parts
                .joiner
                .attach_resources(&id, usage, &mut self.completed);
        }
    }

    fn extension_facts(&self) -> ExtensionFacts {
        let before = self.extension_reported.map(|(_, s)| s).unwrap_or_default();
        ExtensionFacts {
            peak_rss_bytes: own_peak_rss_bytes(),
            records_rejected: self.stats.rejected().saturating_sub(before.rejected()),
            documents_written: self.stats.documents.saturating_sub(before.documents),
            put_metric_data: self
                .parts
                .sink
                .health()
                .put_metric_data
                .map(|now| since(now, self.sink_reported.put_metric_data)),
            otlp: self
                .parts
                .sink
                .health()
                .otlp
                .map(|now| since(now, self.sink_reported.otlp)),
        }
    }

    /// SHUTDOWN arrived: the function is done, so the last invocation's resource use ends at
    /// `sample`.
    pub(crate) fn on_shutdown(&mut self, sample: Option<ResourceSample>, now: u64) {
        if let Some(sample) = sample {
            self.close_resources(&sample);
        }
        self.emit(now);
    }

    pub(crate) fn sweep(&mut self, now: u64) {
        self.parts.joiner.sweep(now, &mut self.completed);
        self.emit(now);
        if let Some(batcher) = self.parts.batcher.as_mut() {
            batcher.due(now, &mut self.aggregates);
        }
        if let Some(slowest) = self.parts.slowest.as_mut() {
            slowest.due(now, &mut self.records);
        }
        self.emit(now);
    }

    /// The end: emits everything still pending, the shutdown record and every open batch.
    pub fn finish(&mut self, shutdown_reason: &str, wall_ms: i64, now: u64) {
        self.parts
            .joiner
            .drain(Some(shutdown_reason), &mut self.completed);
        self.init_records();
        self.emit(now);
        if let Some(slowest) = self.parts.slowest.as_mut() {
            slowest.flush_all(&mut self.records);
        }
        if let Some(batcher) = self.parts.batcher.as_mut() {
            batcher.flush_all(&mut self.aggregates);
        }
        self.emit(now);
        let facts = self.extension_facts();
        self.records
            .push(environment::shutdown_record(wall_ms, shutdown_reason, facts));
        self.emit(now);
    }

    /// Hands the documents made so far to the sink.
    pub async fn flush(&mut self) -> io::Result<()> {
        self.parts.sink.flush().await
    }

    /// The last write: everything still queued, waiting at most `within`. Returns whether all
    /// of it was written.
    pub async fn close(&mut self, within: std::time::Duration) -> bool {
        self.parts.sink.close(within).await
    }

    /// Completed invocations to records; records to documents or into aggregates (as the
    /// output mode says), aggregates to documents, documents to the sink. Every record is cut
    /// to the selected metrics once. Records already queued (the environment's, the window's
    /// slowest) go first; then each invocation's record is made and placed at once, so a
    /// batch's records are never all in memory together.
    fn emit(&mut self, now: u64) {
        let mut records = std::mem::take(&mut self.records);
        for record in records.drain(..) {
            self.place(record, now);
        }
        self.records = records;
        let mut completed = std::mem::take(&mut self.completed);
        for invocation in completed.drain(..) {
            let record = invocation_record(invocation, &self.parts.context, self.spent.take());
            self.stats.invocations += 1;
            if self.parts.sink.observes() {
                self.observe(&record);
            }
            self.place(record, now);
        }
        self.completed = completed;
        for aggregate in self.aggregates.drain(..) {
            let encoded = self.parts.encoder.encode_batch(&aggregate, &mut self.documents);
            self.stats.add(encoded);
        }
        for document in self.documents.drain(..) {
            self.parts.sink.accept(document);
        }
    }

    /// One record: to a document of its own, to the window's slowest (which may hand back a
    /// faster one), or into an aggregate.
    fn place(&mut self, mut record: MetricRecord, now: u64) {
        // The rank among the window's slowest: read before `select` may make it a property,
        // and only where there is a window (adaptive output).
        let duration = self
            .parts
            .slowest
            .as_ref()
            .and_then(|_| record.value_of(&catalogue::DURATION));
        // An invocation's record is observed when it is made (in `emit`): one held among the
        // window's slowest comes back here at the window's end, and must not be seen twice.
        if record.kind == RecordKind::Environment && self.parts.sink.observes() {
            self.observe(&record);
        }
        record.select(&self.parts.selection);
        let parts = &mut self.parts;
        let aggregate = match (record.kind, parts.batcher.as_mut(), parts.slowest.as_mut()) {
            (RecordKind::Invocation, Some(batcher), None) => Some((batcher, record)),
            (RecordKind::Invocation, Some(batcher), Some(slowest)) if !record.notable => {
                match slowest.offer(record, duration, now) {
                    Some(ordinary) => Some((batcher, ordinary)),
                    None => return,
                }
            }
            _ => {
                let encoded = parts.encoder.encode(&record, &mut self.documents);
                self.stats.add(encoded);
                self.spent = Some(record);
                return;
            }
        };
        if let Some((batcher, record)) = aggregate {
            batcher.add(&record, now, &mut self.aggregates);
            self.spent = Some(record);
        }
    }
}

/// What a networked sink did between two of its totals.
fn since(now: SinkHealth, before: Option<SinkHealth>) -> PutMetricDataFacts {
    let before = before.unwrap_or_default();
    PutMetricDataFacts {
        requests: now.requests.saturating_sub(before.requests),
        data_points_sent: now.data_points_sent.saturating_sub(before.data_points_sent),
        retries: now.retries.saturating_sub(before.retries),
        fallback_data_points: now
            .data_points_fallback
            .saturating_sub(before.data_points_fallback),
        unknown_outcomes: now.unknown_outcomes.saturating_sub(before.unknown_outcomes),
        rejected_data_points: now
            .data_points_rejected
            .saturating_sub(before.data_points_rejected),
    }
}

#[cfg(test)]
mod tests;
