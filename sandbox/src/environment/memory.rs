//! Resident memory of the environment's processes, read from `/proc`.
//!
//! Peak per invocation: at the start, `5` written to `/proc/<pid>/clear_refs` resets each
//! process's `VmHWM` to its current RSS (Linux >= 4.0); at the end the `VmHWM` values are summed.
//! A sampler also sums `VmRSS` every few milliseconds, to enforce the memory limit while the
//! invocation runs and to measure where `clear_refs` is not writable. The sum of per-process
//! peaks can exceed the true peak of the sum slightly (peaks at different moments); Lambda
//! measures its environment as a whole.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::environment::procfs;
use crate::lifecycle::state::Shared;

/// Sum of `VmRSS` in kB.
pub(crate) fn rss_kb(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|p| procfs::memory(*p))
        .map(|m| m.rss)
        .sum()
}

/// Sum of `VmHWM` in kB.
pub(crate) fn hwm_kb(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|p| procfs::memory(*p))
        .map(|m| m.hwm)
        .sum()
}

/// Resets the peak RSS of each process; false when any could not be reset.
pub(crate) fn reset_peaks(pids: &[u32]) -> bool {
    let mut all = true;
    for pid in pids {
        all &= procfs::reset_peak(*pid);
    }
    all
}

/// kB to MB (MiB), rounded up.
pub(crate) fn kb_to_mb(kb: u64) -> u64 {
    kb.div_ceil(1024)
}

/// Samples the sum of RSS of `pids` (and descendants) until dropped; flags the running
/// invocation when the sum passes `limit_kb`.
pub(crate) struct Sampler {
    max_kb: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Sampler {
    pub(crate) fn start(shared: Arc<Shared>, pids: Vec<u32>, limit_kb: u64, every: Duration) -> Self {
        let max_kb = Arc::new(AtomicU64::new(0));
        let max = Arc::clone(&max_kb);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let all = procfs::with_descendants(&pids);
                let kb = rss_kb(&all);
                max.fetch_max(kb, Ordering::Relaxed);
                if kb > limit_kb {
                    shared.update(|st| {
                        for inv in &mut st.invocations {
                            inv.oom = true;
                        }
                    });
                }
            }
        });
        Self { max_kb, task }
    }

    /// Stops sampling; the largest sum seen, in kB.
    pub(crate) fn stop(self) -> u64 {
        self.task.abort();
        self.max_kb.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kb_round_up_to_mb() {
        assert_eq!(kb_to_mb(1025), 2);
        assert_eq!(kb_to_mb(1024), 1);
    }

    #[test]
    fn reads_own_memory() {
        let me = std::process::id();
        assert!(rss_kb(&[me]) > 0);
        assert!(hwm_kb(&[me]) >= rss_kb(&[me]) / 2);
        assert!(procfs::with_descendants(&[me]).contains(&me));
    }
}
