//! Where EMF documents go. A sink takes whole documents and writes them on `flush`; the stdout
//! sink is the one Lambda ships to CloudWatch Logs (which extracts the metrics). With the
//! feature `put-metric-data`, the PutMetricData sink sends the same documents' values to
//! CloudWatch's API (`LAMBDA_LENS_SINK=put-metric-data`, or `emf,put-metric-data` for both);
//! [`OutputSink`] is the one the configuration chose.

#[cfg(any(feature = "put-metric-data", feature = "otlp"))]
mod net;
mod output;
#[cfg(feature = "put-metric-data")]
mod put_metric_data;
mod stdout;

use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex};

pub(crate) use output::OutputSink;
#[cfg(feature = "put-metric-data")]
pub(crate) use put_metric_data::PutMetricDataSettings;
pub(crate) use stdout::StdoutSink;

/// What the PutMetricData sink did, totals since the start (the extension's health metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkHealth {
    /// PutMetricData requests made (each attempt).
    pub requests: u64,
    /// Data points stored by the API (or sent with an unknown outcome, see `unknown_outcomes`).
    pub data_points_sent: u64,
    /// Attempts after the first.
    pub retries: u64,
    /// Data points of failed requests, written as EMF to stdout instead.
    pub data_points_fallback: u64,
    /// Requests sent that got no answer in time: counted as sent, never written again.
    pub unknown_outcomes: u64,
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
    /// What a networked sink did so far; `None` for sinks that make no requests.
    fn health(&self) -> Option<SinkHealth> {
        None
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
