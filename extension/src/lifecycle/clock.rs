//! The two clocks the lifecycle reads, injected so tests can run under tokio's paused time.

use tokio::time::Instant;

/// A monotonic clock (milliseconds since the extension started, for deadlines inside the
/// pipeline) and the wall clock (epoch milliseconds, to compare with Lambda's `deadlineMs` and
/// to stamp documents of the extension's own).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    epoch: Instant,
    /// `None`: the system's wall clock. `Some(w)`: the wall clock read `w` at `epoch` and moves
    /// with tokio's clock (tests under paused time).
    wall_at_epoch: Option<i64>,
}

impl Clock {
    pub(crate) fn system() -> Self {
        Self {
            epoch: Instant::now(),
            wall_at_epoch: None,
        }
    }

    /// A clock whose wall time follows tokio's (possibly paused) clock from `wall_at_epoch`.
    #[cfg(test)]
    pub(crate) fn following_tokio(wall_at_epoch: i64) -> Self {
        Self {
            epoch: Instant::now(),
            wall_at_epoch: Some(wall_at_epoch),
        }
    }

    /// Milliseconds since the clock was made.
    pub(crate) fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// The instant `ms` milliseconds after the clock was made.
    pub(crate) fn instant(&self, ms: u64) -> Instant {
        self.epoch + std::time::Duration::from_millis(ms)
    }

    /// Epoch milliseconds.
    pub(crate) fn wall_ms(&self) -> i64 {
        match self.wall_at_epoch {
            None => chrono::Utc::now().timestamp_millis(),
            Some(wall) => wall.saturating_add(self.now() as i64),
        }
    }
}
