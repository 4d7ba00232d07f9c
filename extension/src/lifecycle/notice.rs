//! How the Extensions API thread tells the pipeline thread about INVOKE and SHUTDOWN.
//!
//! An INVOKE notice is left in a queue the pipeline thread takes before its next piece of work
//! (a telemetry batch, a deadline, SHUTDOWN), without waking it: a cross-thread wake (an
//! `eventfd` write, the thread's `epoll_wait` returning, its scheduling) per invocation was a
//! large part of the extension's CPU per invocation, and the notice is not needed sooner. The
//! order the join relies on still holds: an invocation's telemetry is delivered after its
//! INVOKE, so its notice is in the queue before its batch is worked. The pipeline thread is
//! woken for a notice only when it wants it at once (resource samples are taken at each
//! INVOKE) or when notices pile up with no telemetry coming, and then only once the next
//! `/event/next` has been written: nothing but the queue's lock comes between an INVOKE and
//! that call.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::mpsc;

use crate::model::RequestId;

/// Notices kept at most; more are dropped (the invocation is still learnt from its
/// telemetry, only the early notice is lost).
const CAPACITY: usize = 256;
/// Queued notices that wake the pipeline thread even when it does not want them at once, so
/// the queue is taken well before it fills.
const WAKE_AT: usize = 64;

/// An INVOKE: the request and the wall clock (epoch milliseconds) when it was received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invoke {
    /// Held inline (no heap copy made on one thread and freed on the other).
    pub(crate) request_id: RequestId,
    pub(crate) wall_ms: i64,
}

/// What wakes the pipeline thread.
#[derive(Debug)]
pub(crate) enum LifecycleEvent {
    /// INVOKE notices wait in the queue.
    Wake,
    Shutdown {
        reason: String,
        deadline_ms: u64,
    },
}

type Queue = Arc<Mutex<VecDeque<Invoke>>>;

/// The Extensions API thread's side.
#[derive(Debug, Clone)]
pub(crate) struct Notifier {
    queue: Queue,
    events: mpsc::Sender<LifecycleEvent>,
    /// Wake the pipeline thread at every INVOKE.
    prompt: bool,
}

/// The pipeline thread's side.
#[derive(Debug)]
pub(crate) struct Notices {
    queue: Queue,
    events: mpsc::Receiver<LifecycleEvent>,
}

/// A notifier and the notices it sends; `prompt`: the pipeline thread wants each INVOKE at
/// once.
pub(crate) fn channel(prompt: bool) -> (Notifier, Notices) {
    let queue = Queue::default();
    let (tx, rx) = mpsc::channel(4);
    (
        Notifier {
            queue: Arc::clone(&queue),
            events: tx,
            prompt,
        },
        Notices { queue, events: rx },
    )
}

fn lock(queue: &Queue) -> MutexGuard<'_, VecDeque<Invoke>> {
    queue.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Notifier {
    /// Queues an INVOKE; never waits, never wakes the pipeline thread. Whether it should be
    /// woken for it ([`Notifier::wake`]): the caller does that once its next `/event/next` is
    /// out, so the wake (a write to the other thread's `eventfd`, and that thread made runnable
    /// beside this one) never comes between an INVOKE and the call Lambda waits for.
    #[must_use = "a wake that is due must be sent (Notifier::wake)"]
    pub(crate) fn invoke(&self, invoke: Invoke) -> bool {
        let queued = {
            let mut queue = lock(&self.queue);
            if queue.len() >= CAPACITY {
                tracing::debug!("lifecycle queue full; INVOKE notice skipped");
                return false;
            }
            queue.push_back(invoke);
            queue.len()
        };
        self.prompt || queued >= WAKE_AT
    }

    /// Wakes the pipeline thread for the queued notices.
    pub(crate) fn wake(&self) {
        // A full channel has a wake pending already.
        let _ = self.events.try_send(LifecycleEvent::Wake);
    }

    /// SHUTDOWN, after every INVOKE queued before it.
    pub(crate) async fn shutdown(&self, reason: String, deadline_ms: u64) {
        let _ = self
            .events
            .send(LifecycleEvent::Shutdown { reason, deadline_ms })
            .await;
    }
}

impl Notices {
    /// The oldest queued INVOKE.
    pub(crate) fn take(&self) -> Option<Invoke> {
        lock(&self.queue).pop_front()
    }

    /// The next wake; `None` once the Extensions API side is gone.
    pub(crate) async fn recv(&mut self) -> Option<LifecycleEvent> {
        self.events.recv().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invoke(i: usize) -> Invoke {
        Invoke {
            request_id: RequestId::new(&format!("r{i}")),
            wall_ms: i as i64,
        }
    }

    #[tokio::test]
    async fn notices_wait_without_a_wake_until_they_pile_up() {
        let (notifier, mut notices) = channel(false);
        for i in 0..WAKE_AT - 1 {
            assert!(!notifier.invoke(invoke(i)), "no wake due yet");
        }
        assert!(notices.events.try_recv().is_err(), "no wake yet");
        assert!(notifier.invoke(invoke(WAKE_AT - 1)), "due once they pile up");
        assert!(
            notices.events.try_recv().is_err(),
            "queuing never wakes by itself"
        );
        notifier.wake();
        assert!(matches!(notices.recv().await, Some(LifecycleEvent::Wake)));
        let taken: Vec<Invoke> = std::iter::from_fn(|| notices.take()).collect();
        assert_eq!(taken, (0..WAKE_AT).map(invoke).collect::<Vec<_>>(), "in order");
    }

    #[tokio::test]
    async fn a_prompt_notifier_wakes_at_every_invoke_and_a_full_queue_drops() {
        let (notifier, mut notices) = channel(true);
        assert!(notifier.invoke(invoke(0)), "due at every INVOKE");
        notifier.wake();
        assert!(matches!(notices.recv().await, Some(LifecycleEvent::Wake)));
        assert_eq!(notices.take(), Some(invoke(0)));
        for i in 0..CAPACITY + 5 {
            if notifier.invoke(invoke(i)) {
                notifier.wake();
            }
        }
        assert_eq!(std::iter::from_fn(|| notices.take()).count(), CAPACITY);
        while notices.events.try_recv().is_ok() {}
        notifier.shutdown("spindown".into(), 7).await;
        assert!(matches!(
            notices.recv().await,
            Some(LifecycleEvent::Shutdown { deadline_ms: 7, .. })
        ));
    }
}
