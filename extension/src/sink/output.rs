//! The sink `LAMBDA_LENS_SINK` chose: EMF on stdout, PutMetricData (its failures written as
//! EMF), or both.

use std::io;
use std::time::Duration;

#[cfg(feature = "api")]
use super::{ApiSettings, api::ApiSink};
use super::{Sink, SinkHealth, StdoutSink};

pub(crate) enum OutputSink {
    Emf(StdoutSink),
    #[cfg(feature = "api")]
    Api(ApiSink),
    #[cfg(feature = "api")]
    Both(StdoutSink, ApiSink),
}

impl OutputSink {
    pub(crate) fn emf() -> Self {
        Self::Emf(StdoutSink::default())
    }

    /// `both`: stdout has every document, so a failed request is not written again.
    #[cfg(feature = "api")]
    pub(crate) fn api(mut settings: ApiSettings, both: bool) -> Self {
        settings.fallback = !both;
        if both {
            Self::Both(StdoutSink::default(), ApiSink::new(settings))
        } else {
            Self::Api(ApiSink::new(settings))
        }
    }
}

impl Sink for OutputSink {
    fn accept(&mut self, document: String) {
        match self {
            Self::Emf(stdout) => stdout.accept(document),
            #[cfg(feature = "api")]
            Self::Api(api) => api.accept(document),
            #[cfg(feature = "api")]
            Self::Both(stdout, api) => {
                stdout.accept(document.clone());
                api.accept(document);
            }
        }
    }

    async fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Emf(stdout) => stdout.flush().await,
            #[cfg(feature = "api")]
            Self::Api(api) => api.flush().await,
            #[cfg(feature = "api")]
            Self::Both(stdout, api) => {
                let written = stdout.flush().await;
                api.flush().await.and(written)
            }
        }
    }

    async fn close(&mut self, within: Duration) -> bool {
        match self {
            Self::Emf(stdout) => stdout.close(within).await,
            #[cfg(feature = "api")]
            Self::Api(api) => api.close(within).await,
            #[cfg(feature = "api")]
            Self::Both(stdout, api) => {
                let (written, sent) = tokio::join!(stdout.close(within), api.close(within));
                written && sent
            }
        }
    }

    fn health(&self) -> Option<SinkHealth> {
        match self {
            Self::Emf(_) => None,
            #[cfg(feature = "api")]
            Self::Api(api) | Self::Both(_, api) => api.health(),
        }
    }
}
