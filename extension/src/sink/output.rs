//! The sinks `LAMBDA_LENS_SINK` chose, as a tee: each document goes to every sink that takes
//! documents, each record to every sink that observes records. Any subset composes the same
//! way, with no code per pair. One rule ties them: with EMF in the tee, stdout already has
//! every document, so a networked sink's failed batch is not written again; without it, a
//! networked sink writes its failed batches to stdout as EMF itself (nothing lost).

use std::io;
use std::time::Duration;

#[cfg(feature = "otlp")]
use super::otlp::{OtlpSettings, OtlpSink};
use super::{Health, Observed, Sink, StdoutSink};
#[cfg(feature = "put-metric-data")]
use super::{PutMetricDataSettings, put_metric_data::PutMetricDataSink};

pub(crate) struct OutputSink {
    stdout: Option<StdoutSink>,
    #[cfg(feature = "put-metric-data")]
    put_metric_data: Option<PutMetricDataSink>,
    #[cfg(feature = "otlp")]
    otlp: Option<OtlpSink>,
}

impl OutputSink {
    /// EMF on stdout alone (the default).
    #[cfg(test)]
    pub(crate) fn emf() -> Self {
        Self::tee(true)
    }

    /// A tee with stdout in it when `emf`; networked sinks are added with `with_*`.
    pub(crate) fn tee(emf: bool) -> Self {
        Self {
            stdout: emf.then(StdoutSink::default),
            #[cfg(feature = "put-metric-data")]
            put_metric_data: None,
            #[cfg(feature = "otlp")]
            otlp: None,
        }
    }

    /// Adds the PutMetricData sink; it writes its own fallback unless stdout is in the tee.
    #[cfg(feature = "put-metric-data")]
    pub(crate) fn with_put_metric_data(mut self, mut settings: PutMetricDataSettings) -> Self {
        settings.fallback = self.stdout.is_none();
        self.put_metric_data = Some(PutMetricDataSink::new(settings));
        self
    }

    /// Adds the OTLP sink; it writes its own fallback unless stdout is in the tee.
    #[cfg(feature = "otlp")]
    pub(crate) fn with_otlp(mut self, mut settings: OtlpSettings) -> Self {
        settings.fallback = self.stdout.is_none();
        self.otlp = Some(OtlpSink::new(settings));
        self
    }

    /// The sinks that take documents, in order.
    fn document_sinks(&mut self) -> impl Iterator<Item = &mut dyn DynDocuments> {
        let stdout = self.stdout.as_mut().map(|s| s as &mut dyn DynDocuments);
        #[cfg(feature = "put-metric-data")]
        let put = self.put_metric_data.as_mut().map(|s| s as &mut dyn DynDocuments);
        #[cfg(not(feature = "put-metric-data"))]
        let put = None;
        stdout.into_iter().chain(put)
    }
}

/// `accept` through a trait object (the sinks' `flush` futures differ, so the tee calls those
/// one by one).
trait DynDocuments {
    fn accept_document(&mut self, document: String);
}

impl<S: Sink> DynDocuments for S {
    fn accept_document(&mut self, document: String) {
        self.accept(document);
    }
}

impl Sink for OutputSink {
    fn accept(&mut self, document: String) {
        // The last taker gets the document itself, the others a copy.
        let mut sinks = self.document_sinks().peekable();
        while let Some(sink) = sinks.next() {
            if sinks.peek().is_some() {
                sink.accept_document(document.clone());
            } else {
                sink.accept_document(document);
                return;
            }
        }
    }

    async fn flush(&mut self) -> io::Result<()> {
        let mut result = Ok(());
        if let Some(stdout) = self.stdout.as_mut() {
            result = result.and(stdout.flush().await);
        }
        #[cfg(feature = "put-metric-data")]
        if let Some(put) = self.put_metric_data.as_mut() {
            result = put.flush().await.and(result);
        }
        #[cfg(feature = "otlp")]
        if let Some(otlp) = self.otlp.as_mut() {
            result = otlp.flush().await.and(result);
        }
        result
    }

    async fn close(&mut self, within: Duration) -> bool {
        // Each within the same deadline, together.
        let stdout = async {
            match self.stdout.as_mut() {
                Some(s) => s.close(within).await,
                None => true,
            }
        };
        #[cfg(feature = "put-metric-data")]
        let put = async {
            match self.put_metric_data.as_mut() {
                Some(s) => s.close(within).await,
                None => true,
            }
        };
        #[cfg(not(feature = "put-metric-data"))]
        let put = async { true };
        #[cfg(feature = "otlp")]
        let otlp = async {
            match self.otlp.as_mut() {
                Some(s) => s.close(within).await,
                None => true,
            }
        };
        #[cfg(not(feature = "otlp"))]
        let otlp = async { true };
        let (a, b, c) = tokio::join!(stdout, put, otlp);
        a && b && c
    }

    fn health(&self) -> Health {
        #[allow(unused_mut, reason = "without the networked features there is nothing to add")]
        let mut health = Health::default();
        #[cfg(feature = "put-metric-data")]
        if let Some(put) = self.put_metric_data.as_ref() {
            health.put_metric_data = put.health().put_metric_data;
        }
        #[cfg(feature = "otlp")]
        if let Some(otlp) = self.otlp.as_ref() {
            health.otlp = otlp.health().otlp;
        }
        health
    }

    fn observes(&self) -> bool {
        #[cfg(feature = "otlp")]
        return self.otlp.is_some();
        #[cfg(not(feature = "otlp"))]
        false
    }

    fn observe(&mut self, record: &dyn Observed, fallback: &mut dyn FnMut(&mut Vec<String>)) {
        #[cfg(feature = "otlp")]
        if let Some(otlp) = self.otlp.as_mut() {
            otlp.observe(record, fallback);
        }
        let _ = (record, fallback);
    }
}

#[cfg(test)]
mod tests;
