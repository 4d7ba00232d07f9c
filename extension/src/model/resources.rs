//! What the function's processes used: counters and gauges at one moment, and the use of
//! one invocation between two such samples.

/// Counters and gauges at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct ResourceSample {
    /// How many of the function's processes were found.
    pub(crate) processes: u32,
    pub(crate) cpu_user_ms: f64,
    pub(crate) cpu_system_ms: f64,
    pub(crate) net_rx_bytes: u64,
    pub(crate) net_tx_bytes: u64,
    pub(crate) tmp_used_bytes: Option<u64>,
    pub(crate) file_descriptors: u64,
    pub(crate) threads: u64,
}

/// What one invocation used: counter deltas, and gauges at its end.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct ResourceUsage {
    /// The function's processes were still there at the end: CPU, descriptors and threads mean
    /// something. At SHUTDOWN the runtime may already have exited (taking its CPU counters).
    pub(crate) processes_seen: bool,
    pub(crate) cpu_user_ms: f64,
    pub(crate) cpu_system_ms: f64,
    pub(crate) net_rx_bytes: u64,
    pub(crate) net_tx_bytes: u64,
    pub(crate) tmp_used_bytes: Option<u64>,
    pub(crate) file_descriptors: u64,
    pub(crate) threads: u64,
}

impl ResourceUsage {
    /// From the sample at the invocation's start to the one at its end. A counter that went
    /// down (a process exited with its CPU time) counts as 0, never negative.
    pub(crate) fn between(start: &ResourceSample, end: &ResourceSample) -> Self {
        Self {
            processes_seen: end.processes > 0,
            cpu_user_ms: (end.cpu_user_ms - start.cpu_user_ms).max(0.0),
            cpu_system_ms: (end.cpu_system_ms - start.cpu_system_ms).max(0.0),
            net_rx_bytes: end.net_rx_bytes.saturating_sub(start.net_rx_bytes),
            net_tx_bytes: end.net_tx_bytes.saturating_sub(start.net_tx_bytes),
            tmp_used_bytes: end.tmp_used_bytes,
            file_descriptors: end.file_descriptors,
            threads: end.threads,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_is_the_difference_and_never_negative() {
        let a = ResourceSample {
            processes: 2,
            cpu_user_ms: 100.0,
            cpu_system_ms: 50.0,
            net_rx_bytes: 1_000,
            net_tx_bytes: 500,
            tmp_used_bytes: Some(10),
            file_descriptors: 7,
            threads: 3,
        };
        let b = ResourceSample {
            processes: 2,
            cpu_user_ms: 130.0,
            cpu_system_ms: 40.0,
            net_rx_bytes: 3_000,
            net_tx_bytes: 400,
            tmp_used_bytes: Some(4096),
            file_descriptors: 9,
            threads: 5,
        };
        let u = ResourceUsage::between(&a, &b);
        assert_eq!(u.cpu_user_ms, 30.0);
        assert_eq!(u.cpu_system_ms, 0.0);
        assert_eq!((u.net_rx_bytes, u.net_tx_bytes), (2_000, 0));
        assert_eq!(
            (u.tmp_used_bytes, u.file_descriptors, u.threads),
            (Some(4096), 9, 5)
        );
    }
}
