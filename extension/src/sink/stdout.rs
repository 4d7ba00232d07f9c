//! EMF on standard output. Lambda sends the extension's stdout to the function's log group,
//! where CloudWatch Logs extracts the metrics of every EMF line. This is the only place that
//! writes to stdout: nothing else may, or it would be mistaken for a log line.

use std::io;

use tokio::io::AsyncWriteExt;

use super::Sink;

/// Writes each document as one line. Writes go through tokio's stdout (a blocking-pool thread),
/// so a slow log pipe never stalls the task that answers the Extensions API.
#[derive(Debug)]
pub(crate) struct StdoutSink {
    buffer: Vec<u8>,
    out: tokio::io::Stdout,
}

impl Default for StdoutSink {
    fn default() -> Self {
        Self {
            buffer: Vec::with_capacity(16 * 1024),
            out: tokio::io::stdout(),
        }
    }
}

impl Sink for StdoutSink {
    fn accept(&mut self, document: String) {
        self.buffer.extend_from_slice(document.as_bytes());
        self.buffer.push(b'\n');
    }

    async fn flush(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let result = async {
            self.out.write_all(&self.buffer).await?;
            self.out.flush().await
        }
        .await;
        self.buffer.clear();
        // Keep a burst from pinning a large buffer for the life of the environment.
        self.buffer.shrink_to(64 * 1024);
        result
    }
}
