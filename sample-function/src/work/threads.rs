//! `threads`: OS threads that stay alive (parked) until released.

use std::sync::mpsc::{self, Sender};
use std::thread::JoinHandle;

use crate::error::SampleError;

/// Parked threads need almost no stack.
const STACK_BYTES: usize = 64 * 1024;

/// `count` parked OS threads; dropping this wakes and joins them.
#[derive(Debug, Default)]
pub(crate) struct ParkedThreads {
    wake: Vec<Sender<()>>,
    handles: Vec<JoinHandle<()>>,
}

impl ParkedThreads {
    /// Spawns `count` threads that block until the guard is dropped. Past the sandbox's
    /// process/thread limit this fails with `SampleFunction.ResourceError`; threads already
    /// started are released.
    pub(crate) fn spawn(count: u64) -> Result<Self, SampleError> {
        let mut parked = Self::default();
        for index in 1..=count {
            let (wake, wait) = mpsc::channel::<()>();
            let handle = std::thread::Builder::new()
                .name(format!("parked-{index}"))
                .stack_size(STACK_BYTES)
                .spawn(move || {
                    // Returns when the sender is dropped.
                    let _ = wait.recv();
                })
                .map_err(|error| {
                    SampleError::resource(format!("spawning thread {index} of {count}"), error)
                })?;
            parked.wake.push(wake);
            parked.handles.push(handle);
        }
        Ok(parked)
    }

    pub(crate) fn len(&self) -> usize {
        self.handles.len()
    }
}

impl Drop for ParkedThreads {
    fn drop(&mut self) {
        self.wake.clear();
        for handle in self.handles.drain(..) {
            // The thread body cannot panic; a join error would only mean it already ended.
            let _ = handle.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thread_count() -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|line| line.starts_with("Threads:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    #[test]
    fn threads_live_until_the_guard_drops() {
        let parked = ParkedThreads::spawn(8).unwrap();
        assert_eq!(parked.len(), 8);
        assert!(parked.handles.iter().all(|handle| !handle.is_finished()));
        if let Some(count) = thread_count() {
            assert!(count >= 9, "only {count} threads");
        }
        drop(parked);
    }

    #[test]
    fn zero_threads_is_fine() {
        assert_eq!(ParkedThreads::spawn(0).unwrap().len(), 0);
    }
}
