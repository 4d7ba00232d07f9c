//! Where the metrics go. A sink takes whole EMF documents and writes them on `flush`; the
//! stdout sink is the one Lambda ships to CloudWatch Logs (which extracts the metrics). With the
//! feature `put-metric-data`, the PutMetricData sink sends the same documents' values to
//! CloudWatch's API; with the feature `otlp`, the OTLP sink exports the metric records
//! themselves ([`Observed`], every value whatever the EMF selection) over OTLP/HTTP.
//! [`OutputSink`] is the tee of those `LAMBDA_LENS_SINK` chose (`emf,otlp`, ...).

#[cfg(any(feature = "put-metric-data", feature = "otlp"))]
mod net;
#[cfg(feature = "otlp")]
mod otlp;
mod output;
#[cfg(feature = "put-metric-data")]
mod put_metric_data;
mod stdout;

use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex};

#[cfg(feature = "otlp")]
pub(crate) use otlp::{FunctionFacts as OtlpFunction, OtlpLabels, OtlpSettings, resource as otlp_resource};
pub(crate) use output::OutputSink;
#[cfg(feature = "put-metric-data")]
pub(crate) use put_metric_data::PutMetricDataSettings;
pub(crate) use stdout::StdoutSink;

/// What a networked sink did, totals since the start (the extension's health metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkHealth {
    /// Requests made (each attempt).
    pub requests: u64,
    /// Data points stored (or sent with an unknown outcome, see `unknown_outcomes`).
    pub data_points_sent: u64,
    /// Attempts after the first.
    pub retries: u64,
    /// Data points of failed requests, written as EMF to stdout instead (the OTLP sink: the
    /// records of its failed exports).
    pub data_points_fallback: u64,
    /// Requests sent that got no answer in time: counted as sent, never written again.
    pub unknown_outcomes: u64,
    /// Data points the endpoint said it rejected in an accepted request (OTLP's partial
    /// success): neither retried nor written again.
    pub data_points_rejected: u64,
}

/// Each networked sink's health, for those in the tee.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Health {
    pub put_metric_data: Option<SinkHealth>,
    pub otlp: Option<SinkHealth>,
}

/// One record of metric values as the pipeline hands it to a sink that aggregates values
/// itself (the OTLP sink): every value the record has, before the EMF selection, so what such
/// a sink sends does not depend on which metrics EMF publishes. Implemented where the record
/// type lives' users are (the pipeline), so this room imports nothing.
pub trait Observed {
    /// About one invocation (else an event of the environment).
    fn is_invocation(&self) -> bool;
    /// Epoch milliseconds.
    fn timestamp_ms(&self) -> i64;
    /// Each value, by its catalogue name.
    fn each_value(&self, each: &mut dyn FnMut(&'static str, f64));
    /// A text fact of the record by its EMF name (a dimension such as `ColdStart`, or a
    /// property such as `ErrorType`, `Status`, `TenantId`).
    fn text(&self, key: &str) -> Option<&str>;
}

/// Takes EMF documents and writes them.
pub trait Sink: Send {
    /// Queues one document (a single line of JSON, without the newline).
    fn accept(&mut self, document: String);
    /// Hands everything queued on to be written. Called off the invoke path, between slices of
    /// a batch; it may wait a bounded time for a destination that is behind (the pipeline, and
    /// through the listener Lambda, are then held back instead of memory growing), never for
    /// one that has stopped.
    fn flush(&mut self) -> impl Future<Output = io::Result<()>> + Send;
    /// The end: writes everything still queued, waiting at most `within`. Returns whether all
    /// of it was written.
    fn close(&mut self, within: std::time::Duration) -> impl Future<Output = bool> + Send {
        async move {
            tokio::time::timeout(within, self.flush())
                .await
                .is_ok_and(|r| r.is_ok())
        }
    }
    /// What the networked sinks did so far (none for sinks that make no requests).
    fn health(&self) -> Health {
        Health::default()
    }
    /// Whether [`Sink::observe`] wants the records (one check per record on the EMF path).
    fn observes(&self) -> bool {
        false
    }
    /// One record of values, every one of them, before the EMF selection. `fallback` writes the
    /// record's EMF documents (one document per record, as `LAMBDA_LENS_OUTPUT=per-invocation`
    /// writes them) into a vector, for a sink that writes them to stdout when its own export
    /// fails; it costs an encoding, so it is called only when needed.
    fn observe(&mut self, record: &dyn Observed, fallback: &mut dyn FnMut(&mut Vec<String>)) {
        let _ = (record, fallback);
    }
}

/// Keeps documents in memory: for tests, and for callers that want to look at the output.
#[derive(Debug, Clone, Default)]
pub struct MemorySink {
    documents: Arc<Mutex<Vec<String>>>,
    queued: Vec<String>,
}

impl MemorySink {
    /// The documents flushed so far.
    pub fn documents(&self) -> Vec<String> {
        self.documents.lock().map(|d| d.clone()).unwrap_or_default()
    }
}

impl Sink for MemorySink {
    fn accept(&mut self, document: String) {
        self.queued.push(document);
    }

    async fn flush(&mut self) -> io::Result<()> {
        let queued = std::mem::take(&mut self.queued);
        if let Ok(mut docs) = self.documents.lock() {
            docs.extend(queued);
        }
        Ok(())
    }
}
