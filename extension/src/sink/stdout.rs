//! EMF on standard output. Lambda sends the extension's stdout to the function's log group,
//! where CloudWatch Logs extracts the metrics of every EMF line. This is the only place that
//! writes to stdout: nothing else may, or it would be mistaken for a log line.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::Sink;
use crate::kept::KeptBuffer;

/// Documents not yet handed to the writer are kept up to this many bytes; beyond that (stdout
/// blocked for a long time) new documents are dropped and counted.
const MAX_PENDING_BYTES: usize = 4 * 1024 * 1024;
/// Chunks handed to the writer and not yet written.
const WRITER_QUEUE: usize = 2;
/// Bytes waiting for a busy writer from which a flush waits for it (backpressure): while the
/// pipeline waits, the listener reads no further batch, so Lambda keeps the telemetry instead
/// of this process (a flood in per-invocation output otherwise filled the 4 MiB and the
/// writer's queue, and the peak memory with them).
const WAIT_AT_BYTES: usize = 256 * 1024;
/// The longest one flush waits for the writer. A writer that takes nothing in that time is
/// taken as stuck (nobody reads stdout): the sink stops waiting, so SHUTDOWN is never held up,
/// and keeps documents up to [`MAX_PENDING_BYTES`] until the writer takes a chunk again.
const LONGEST_WAIT: Duration = Duration::from_millis(500);
/// The room a new chunk starts with.
const CHUNK_BYTES: usize = 16 * 1024;
/// A written chunk's buffer is kept for a later chunk when it is at most this large (a flood's
/// larger chunks are let go once written).
const KEPT_CHUNK_MAX_BYTES: usize = 64 * 1024;

/// Writes each document as one line, from a task of its own (through tokio's stdout, a
/// blocking-pool thread): the pipeline hands chunks over and never waits for a slow or blocked
/// log pipe, which would also hold up its handling of SHUTDOWN.
#[derive(Debug)]
pub(crate) struct StdoutSink {
    buffer: Vec<u8>,
    writer: Option<(mpsc::Sender<Vec<u8>>, JoinHandle<()>)>,
    /// A written chunk's buffer, for the next chunk: two buffers take turns instead of a new
    /// one each flush.
    spare: Arc<KeptBuffer>,
    dropped_documents: u64,
    /// The writer took nothing within [`LONGEST_WAIT`]: flushes do not wait until it does.
    stuck: bool,
}

impl Default for StdoutSink {
    fn default() -> Self {
        Self {
            buffer: Vec::with_capacity(CHUNK_BYTES),
            writer: None,
            spare: Arc::new(KeptBuffer::new(KEPT_CHUNK_MAX_BYTES)),
            dropped_documents: 0,
            stuck: false,
        }
    }
}

/// Writes chunks until the channel closes, giving each written chunk's buffer to `spare`. After
/// the first failure it only counts (a closed stdout must not flood the log).
async fn write_chunks(mut chunks: mpsc::Receiver<Vec<u8>>, spare: Arc<KeptBuffer>) {
    let mut out = tokio::io::stdout();
    let mut failures = 0u64;
    while let Some(chunk) = chunks.recv().await {
        let written = async {
            out.write_all(&chunk).await?;
            out.flush().await
        }
        .await;
        spare.keep(chunk);
        if let Err(err) = written {
            failures += 1;
            if failures == 1 {
                tracing::warn!(error = %err, "could not write metrics to stdout (later failures are counted, not logged)");
            }
        }
    }
    if failures > 1 {
        tracing::warn!(failures, "writes to stdout failed");
    }
}

impl StdoutSink {
    fn writer(&mut self) -> &mpsc::Sender<Vec<u8>> {
        let spare = &self.spare;
        let (tx, _) = self.writer.get_or_insert_with(|| {
            let (tx, rx) = mpsc::channel(WRITER_QUEUE);
            (tx, tokio::spawn(write_chunks(rx, Arc::clone(spare))))
        });
        tx
    }
}

impl StdoutSink {
    /// Goes on with `chunk`, which the writer could not take yet; the buffer begun instead is
    /// given back, empty.
    fn keep_building(&mut self, chunk: Vec<u8>) {
        let begun = std::mem::replace(&mut self.buffer, chunk);
        self.spare.keep(begun);
    }
}

impl Sink for StdoutSink {
    fn accept(&mut self, document: String) {
        if self.buffer.len() + document.len() + 1 > MAX_PENDING_BYTES {
            self.dropped_documents += 1;
            if self.dropped_documents == 1 {
                tracing::warn!(
                    limit = MAX_PENDING_BYTES,
                    "stdout is not taking metrics; documents beyond the limit are dropped"
                );
            }
            return;
        }
        self.buffer.extend_from_slice(document.as_bytes());
        self.buffer.push(b'\n');
    }

    async fn flush(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let mut next = self.spare.take();
        next.reserve(CHUNK_BYTES);
        let chunk = std::mem::replace(&mut self.buffer, next);
        let closed = || io::Error::other("the stdout writer stopped");
        let chunk = match self.writer().try_send(chunk) {
            Ok(()) => {
                self.stuck = false;
                return Ok(());
            }
            Err(mpsc::error::TrySendError::Full(chunk)) => chunk,
            Err(mpsc::error::TrySendError::Closed(_)) => return Err(closed()),
        };
        // The writer is behind. A little is kept for the next flush; more waits for room.
        if self.stuck || chunk.len() < WAIT_AT_BYTES {
            self.keep_building(chunk);
            return Ok(());
        }
        let writer = self.writer().clone();
        match tokio::time::timeout(LONGEST_WAIT, writer.reserve()).await {
            Ok(Ok(permit)) => {
                permit.send(chunk);
                Ok(())
            }
            Ok(Err(_)) => Err(closed()),
            Err(_) => {
                tracing::warn!(
                    waited = ?LONGEST_WAIT,
                    "stdout is not taking metrics; they are kept (up to {MAX_PENDING_BYTES} bytes) until it does"
                );
                self.stuck = true;
                self.keep_building(chunk);
                Ok(())
            }
        }
    }

    async fn close(&mut self, within: Duration) -> bool {
        let until = tokio::time::Instant::now() + within;
        let chunk = std::mem::take(&mut self.buffer);
        let sent = chunk.is_empty()
            || matches!(
                tokio::time::timeout_at(until, self.writer().send(chunk)).await,
                Ok(Ok(()))
            );
        let Some((tx, writer)) = self.writer.take() else {
            return sent && self.dropped_documents == 0;
        };
        drop(tx);
        let written = tokio::time::timeout_at(until, writer).await.is_ok();
        if self.dropped_documents > 0 {
            tracing::warn!(
                documents = self.dropped_documents,
                "metrics documents were dropped: stdout was not taking them"
            );
        }
        sent && written && self.dropped_documents == 0
    }
}
