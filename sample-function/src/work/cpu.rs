//! `cpu_ms`: burn CPU time on the handler's thread.

use std::time::{Duration, Instant};

/// How many hash rounds run between two clock readings (a few tens of microseconds).
const ROUNDS_PER_CHECK: u32 = 20_000;

/// Which clock measured the burn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CpuClock {
    /// This thread's CPU time, from `/proc/thread-self/schedstat` (Linux).
    Thread,
    /// Wall time, when the thread's CPU time cannot be read. On a throttled sandbox it burns less
    /// CPU than asked.
    Wall,
}

impl CpuClock {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Thread => "thread",
            Self::Wall => "wall",
        }
    }
}

/// What a burn did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Burn {
    /// CPU (or wall) time spent, as measured by `clock`.
    pub spent: Duration,
    pub clock: CpuClock,
    /// The hash the loop computed, reported so the work cannot be optimised away.
    pub result: u64,
}

/// Busy-loops until this thread has used `ms` milliseconds of CPU.
pub(crate) fn burn(ms: u64) -> Burn {
    if thread_cpu_time().is_some() {
        let result = burn_with(ms, || thread_cpu_time().unwrap_or_default());
        Burn {
            clock: CpuClock::Thread,
            ..result
        }
    } else {
        let start = Instant::now();
        let result = burn_with(ms, || start.elapsed());
        Burn {
            clock: CpuClock::Wall,
            ..result
        }
    }
}

/// The loop itself, with the clock injected. `clock` must be monotonic.
fn burn_with(ms: u64, mut clock: impl FnMut() -> Duration) -> Burn {
    let budget = Duration::from_millis(ms);
    let start = clock();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut spent = Duration::ZERO;
    while spent < budget {
        for _ in 0..ROUNDS_PER_CHECK {
            // xorshift64* : cheap, data-dependent, impossible to fold away.
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state = std::hint::black_box(state.wrapping_mul(0x2545_f491_4f6c_dd1d));
        }
        spent = clock().saturating_sub(start);
    }
    Burn {
        spent,
        clock: CpuClock::Wall,
        result: state,
    }
}

/// This thread's CPU time: the first field of `/proc/thread-self/schedstat`, in nanoseconds.
fn thread_cpu_time() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_once_the_injected_clock_reaches_the_budget() {
        let mut ticks = 0u64;
        let burn = burn_with(5, || {
            ticks += 1;
            Duration::from_millis(ticks)
        });
        // One reading for the start, then one per check until 5 ms have passed.
        assert_eq!(ticks, 6);
        assert_eq!(burn.spent, Duration::from_millis(5));
    }

    #[test]
    fn zero_ms_does_no_work() {
        let burn = burn_with(0, || Duration::from_secs(1));
        assert_eq!(burn.spent, Duration::ZERO);
    }

    #[test]
    fn burns_at_least_the_requested_cpu_time() {
        let burn = burn(20);
        assert!(burn.spent >= Duration::from_millis(20), "{burn:?}");
        if cfg!(target_os = "linux") {
            assert_eq!(burn.clock, CpuClock::Thread);
        }
    }
}
