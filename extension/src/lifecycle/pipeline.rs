//! The synchronous core of the data path: intake messages and lifecycle events in, EMF
//! documents into the sink. Owned by one task; no locks, no I/O but the sink's flush.

use std::io;

use crate::emf::EmfEncoder;
use crate::intake::IntakeMessage;
use crate::intake::event::EventKind;
use crate::join::{CompletedInvocation, Joiner};
use crate::metrics::{InvocationContext, invocation_record};
use crate::sink::Sink;

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

pub struct Pipeline<S: Sink> {
    joiner: Joiner,
    context: InvocationContext,
    encoder: EmfEncoder,
    sink: S,
    stats: PipelineStats,
    completed: Vec<CompletedInvocation>,
    documents: Vec<String>,
}

impl<S: Sink> Pipeline<S> {
    pub fn new(joiner: Joiner, context: InvocationContext, encoder: EmfEncoder, sink: S) -> Self {
        Self {
            joiner,
            context,
            encoder,
            sink,
            stats: PipelineStats::default(),
            completed: Vec::new(),
            documents: Vec::new(),
        }
    }

    pub fn stats(&self) -> PipelineStats {
        self.stats
    }

    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// Invocations started whose report has not arrived.
    pub fn outstanding(&self) -> usize {
        self.joiner.outstanding()
    }

    pub fn next_deadline(&self) -> Option<u64> {
        self.joiner.next_deadline()
    }

    /// A batch from the listener. `now` is the monotonic clock in milliseconds.
    pub fn on_intake(&mut self, message: IntakeMessage, now: u64) {
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
        for event in decoded.events {
            if let EventKind::LogsDropped {
                records,
                bytes,
                reason,
            } = &event.kind
            {
                tracing::warn!(
                    records,
                    bytes,
                    reason = reason.as_deref().unwrap_or_default(),
                    "Lambda dropped telemetry records: metrics of some invocations may be incomplete"
                );
                self.stats.logs_dropped_records += *records as u64;
                self.stats.logs_dropped_bytes += *bytes as u64;
                continue;
            }
            self.joiner.ingest(event, now, &mut self.completed);
        }
        self.emit();
    }

    /// An INVOKE event: the invocation is known before any of its telemetry arrives.
    pub fn on_invoke(&mut self, request_id: &str, wall_ms: i64) {
        self.joiner.on_invoke(request_id, wall_ms, &mut self.completed);
        self.emit();
    }

    pub fn sweep(&mut self, now: u64) {
        self.joiner.sweep(now, &mut self.completed);
        self.emit();
    }

    /// Emits everything still pending (at shutdown).
    pub fn drain(&mut self, shutdown_reason: Option<&str>) {
        self.joiner.drain(shutdown_reason, &mut self.completed);
        self.emit();
    }

    pub async fn flush(&mut self) -> io::Result<()> {
        self.sink.flush().await
    }

    fn emit(&mut self) {
        for invocation in self.completed.drain(..) {
            let record = invocation_record(&invocation, &self.context);
            let encoded = self.encoder.encode(&record, &mut self.documents);
            self.stats.invocations += 1;
            self.stats.documents += encoded.documents;
            self.stats.non_finite_dropped += encoded.non_finite_dropped;
        }
        for document in self.documents.drain(..) {
            self.sink.accept(document);
        }
    }
}
