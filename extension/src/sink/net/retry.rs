//! The retry rules both networked sinks keep (PutMetricData and OTLP): a bounded number of
//! attempts, full-jitter backoff between them, no attempt started without the time for it, a
//! pause after a request fell back for want of an endpoint, and the EMF fallback written by the
//! deadline at SHUTDOWN.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::Deadline;
use crate::sink::{Sink, StdoutSink};

/// Attempts per request (the first and two retries).
pub(crate) const MAX_ATTEMPTS: u32 = 3;
/// Backoff before retry n: a random wait up to `BASE × 2^(n-1)`, at most `MAX_BACKOFF`.
const BACKOFF_BASE: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_millis(1_000);
/// An attempt is not started with less time than this left (its fallback is written instead).
const MIN_ATTEMPT: Duration = Duration::from_millis(100);
/// After a request fell back for want of an endpoint, the next ones go straight to the
/// fallback for this long (no retry storm against an endpoint that is down).
const PAUSE_AFTER_FAILURE: Duration = Duration::from_secs(10);

/// Reads a variable of the environment (the credentials); injected so tests need not touch the
/// process environment.
pub(crate) type Lookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Whether requests go straight to the fallback for a while, after one could not reach the
/// endpoint.
#[derive(Debug, Default)]
pub(crate) struct Pause(Option<Instant>);

impl Pause {
    pub(crate) fn active(&self) -> bool {
        self.0.is_some_and(|p| Instant::now() < p)
    }

    /// A request got through: the endpoint is reachable.
    pub(crate) fn clear(&mut self) {
        self.0 = None;
    }

    /// Every attempt failed: the next requests fall back without trying for a while, and the
    /// reason for this one.
    pub(crate) fn failed(&mut self, last: &str) -> String {
        self.0 = Some(Instant::now() + PAUSE_AFTER_FAILURE);
        format!("{MAX_ATTEMPTS} attempts failed{}", tail(last))
    }
}

/// Before an attempt: `until` as the deadline caps it, and now; `Err` (the reason) when too
/// little time is left to start one.
pub(crate) fn time_for_attempt(
    deadline: &Deadline,
    until: Instant,
    last: &str,
) -> Result<(Instant, Instant), String> {
    let until = deadline.capped(until);
    let now = Instant::now();
    if until.saturating_duration_since(now) < MIN_ATTEMPT {
        return Err(format!("no time left before the deadline{}", tail(last)));
    }
    Ok((until, now))
}

/// After attempt `attempt` asked to be retried: waits `after` (the endpoint's `Retry-After`) or
/// the backoff. `false` when another attempt would not fit before the deadline (no wait then).
pub(crate) async fn wait_to_retry(
    deadline: &Deadline,
    until: Instant,
    attempt: u32,
    after: Option<Duration>,
) -> bool {
    if attempt >= MAX_ATTEMPTS {
        return true;
    }
    let wait = after.unwrap_or_else(|| backoff(attempt));
    if Instant::now() + wait + MIN_ATTEMPT > deadline.capped(until) {
        return false;
    }
    tokio::time::sleep(wait).await;
    true
}

/// At SHUTDOWN: writes what the fallback holds by `until`; whether all of it was written (true
/// without a fallback).
pub(crate) async fn close_fallback(stdout: Option<&mut StdoutSink>, until: Instant) -> bool {
    match stdout {
        Some(stdout) => {
            stdout
                .close(until.saturating_duration_since(Instant::now()))
                .await
        }
        None => true,
    }
}

fn tail(last: &str) -> String {
    if last.is_empty() {
        String::new()
    } else {
        format!(" (last: {last})")
    }
}

/// Full jitter: a random wait up to the exponential bound.
fn backoff(attempt: u32) -> Duration {
    let bound = BACKOFF_BASE
        .saturating_mul(1 << attempt.saturating_sub(1).min(8))
        .min(MAX_BACKOFF);
    let nanos = u64::try_from(bound.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(random() % nanos.max(1))
}

/// A random number for the jitter, from the clock and the std hasher's random keys.
fn random() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_jittered_and_bounded() {
        for attempt in 1..=5 {
            let bound = (BACKOFF_BASE * (1 << (attempt - 1))).min(MAX_BACKOFF);
            let waits: Vec<Duration> = (0..50).map(|_| backoff(attempt)).collect();
            assert!(waits.iter().all(|w| *w < bound), "{attempt}: {waits:?}");
            assert!(waits.iter().any(|w| *w != waits[0]), "jittered: {waits:?}");
        }
    }
}
