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
    /// Writes everything queued. Called off the invoke path.
    fn flush(&mut self) -> impl Future<Output = io::Result<()>> + Send;
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
