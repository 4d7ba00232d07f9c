//! The sink `LAMBDA_LENS_SINK` chose: EMF on stdout, PutMetricData (its failures written as
//! EMF), or both.

use std::io;
use std::time::Duration;

#[cfg(feature = "put-metric-data")]
use super::{PutMetricDataSettings, put_metric_data::PutMetricDataSink};
use super::{Sink, SinkHealth, StdoutSink};

pub(crate) enum OutputSink {
    Emf(StdoutSink),
    #[cfg(feature = "put-metric-data")]
    PutMetricData(PutMetricDataSink),
    #[cfg(feature = "put-metric-data")]
    EmfAndPutMetricData(StdoutSink, PutMetricDataSink),
}

impl OutputSink {
    pub(crate) fn emf() -> Self {
        Self::Emf(StdoutSink::default())
    }

    /// With `emf` too, stdout has every document, so a failed request is not written again.
    #[cfg(feature = "put-metric-data")]
    pub(crate) fn put_metric_data(mut settings: PutMetricDataSettings, emf: bool) -> Self {
        settings.fallback = !emf;
        if emf {
            Self::EmfAndPutMetricData(StdoutSink::default(), PutMetricDataSink::new(settings))
        } else {
            Self::PutMetricData(PutMetricDataSink::new(settings))
        }
    }
}

impl Sink for OutputSink {
    fn accept(&mut self, document: String) {
        match self {
            Self::Emf(stdout) => stdout.accept(document),
            #[cfg(feature = "put-metric-data")]
            Self::PutMetricData(put) => put.accept(document),
            #[cfg(feature = "put-metric-data")]
            Self::EmfAndPutMetricData(stdout, put) => {
                stdout.accept(document.clone());
                put.accept(document);
            }
        }
    }

    async fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Emf(stdout) => stdout.flush().await,
            #[cfg(feature = "put-metric-data")]
            Self::PutMetricData(put) => put.flush().await,
            #[cfg(feature = "put-metric-data")]
            Self::EmfAndPutMetricData(stdout, put) => {
                let written = stdout.flush().await;
                put.flush().await.and(written)
            }
        }
    }

    async fn close(&mut self, within: Duration) -> bool {
        match self {
            Self::Emf(stdout) => stdout.close(within).await,
            #[cfg(feature = "put-metric-data")]
            Self::PutMetricData(put) => put.close(within).await,
            #[cfg(feature = "put-metric-data")]
            Self::EmfAndPutMetricData(stdout, put) => {
                let (written, sent) = tokio::join!(stdout.close(within), put.close(within));
                written && sent
            }
        }
    }

    fn health(&self) -> Option<SinkHealth> {
        match self {
            Self::Emf(_) => None,
            #[cfg(feature = "put-metric-data")]
            Self::PutMetricData(put) | Self::EmfAndPutMetricData(_, put) => put.health(),
        }
    }
}
