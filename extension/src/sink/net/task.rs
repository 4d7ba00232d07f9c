//! The networked sinks' sending task: one loop both run (PutMetricData and OTLP), each sink
//! saying only what differs (how long an attempt may take, how one batch is sent, where its
//! fallback goes). The sink hands batches over a bounded channel and never waits for a send;
//! at SHUTDOWN it hands a close, and the task sends what is left by its deadline, writes the
//! fallback and answers whether all of it was written.

use std::future::Future;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::retry::{MAX_ATTEMPTS, close_fallback};
use crate::sink::StdoutSink;

/// What a sink hands its sending task.
pub(crate) enum Message<B> {
    Batch(B),
    /// Send what is left by `until`, write what could not be sent, then answer.
    Close {
        until: Instant,
        done: oneshot::Sender<bool>,
    },
}

/// What differs between the networked sinks' sending tasks.
pub(crate) trait BatchSender: Send {
    type Batch: Send;
    /// The longest one attempt may take while the environment runs: a batch is sent by
    /// [`MAX_ATTEMPTS`] of them.
    fn attempt_timeout(&self) -> Duration;
    /// Sends one batch by `until`, retrying within bounds; what fails for good goes to the
    /// fallback.
    fn send_batch(&mut self, batch: Self::Batch, until: Instant) -> impl Future<Output = ()> + Send;
    /// Where failed batches are written as EMF (`None` when stdout has them already).
    fn fallback(&mut self) -> Option<&mut StdoutSink>;
}

/// The sending task: sends each batch as it comes, until the close.
pub(crate) async fn run<S: BatchSender>(mut sender: S, mut rx: mpsc::Receiver<Message<S::Batch>>) {
    while let Some(message) = rx.recv().await {
        match message {
            Message::Batch(batch) => {
                let until = Instant::now() + sender.attempt_timeout() * MAX_ATTEMPTS;
                sender.send_batch(batch, until).await;
            }
            Message::Close { until, done } => {
                // The sink's close has capped the deadline: sending stops in time for the
                // fallback.
                while let Ok(Message::Batch(batch)) = rx.try_recv() {
                    sender.send_batch(batch, until).await;
                }
                let written = close_fallback(sender.fallback(), until).await;
                let _ = done.send(written);
                return;
            }
        }
    }
}

/// The sink's side of the close: hands `last` (if any) and the close to the task, and waits for
/// its answer by `until`. Whether everything was written (`false` when the task has stopped or
/// did not answer in time).
pub(crate) async fn close<B>(tx: &mpsc::Sender<Message<B>>, last: Option<B>, until: Instant) -> bool {
    let (done_tx, done_rx) = oneshot::channel();
    let handed = async {
        if let Some(batch) = last {
            tx.send(Message::Batch(batch)).await.ok()?;
        }
        tx.send(Message::Close { until, done: done_tx }).await.ok()?;
        done_rx.await.ok()
    };
    tokio::time::timeout_at(until, handed).await.ok().flatten() == Some(true)
}
