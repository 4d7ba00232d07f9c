//! Where EMF documents go. A sink takes whole documents and writes them on `flush`; the stdout
//! sink is the one Lambda ships to CloudWatch Logs (which extracts the metrics).

mod stdout;

use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex};

pub(crate) use stdout::StdoutSink;

/// Takes EMF documents and writes them.
pub trait Sink: Send {
    /// Queues one document (a single line of JSON, without the newline).
    fn accept(&mut self, document: String);
    /// Hands everything queued on to be written. Called off the invoke path; must not wait for
    /// a slow destination.
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
