//! One subject's figures over all its lives, summarized once for the report and the targets.

use super::Life;
use super::stats::{max, median, quantile};

/// Post-runtime durations over this are "delayed" (one of the bench's targets).
pub const DELAYED_MS: f64 = 0.5;

/// One subject's figures over all its lives.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub ready_p50: Option<f64>,
    pub ready_p90: Option<f64>,
    pub idle_mib: Option<f64>,
    pub idle_after_mib: Option<f64>,
    pub flood_peak_mib: Option<f64>,
    pub post_p50: Option<f64>,
    pub post_p99: Option<f64>,
    pub post_max: Option<f64>,
    /// Invocations delayed more than `DELAYED_MS`, of all.
    pub delayed: (usize, usize),
    pub capped_p50: Option<f64>,
    pub capped_p99: Option<f64>,
    pub capped_delayed: (usize, usize),
    /// The CPU cap of the capped environments, as a share of one core.
    pub capped_share: Option<f64>,
    pub cpu_per_invocation_us: Option<f64>,
    pub cpu_per_batch_ms: Option<f64>,
    pub flood_cpu_per_invocation_us: Option<f64>,
    pub flood_mb_per_s: Option<f64>,
    pub exit_p50: Option<f64>,
    pub exit_max: Option<f64>,
    pub binary_bytes: Option<u64>,
    pub lives: usize,
    pub killed: usize,
    pub cold_start_kept: usize,
    pub correct_records: usize,
    /// The last life's (counted, expected) records.
    pub records: Option<(usize, usize)>,
    pub flood_outlasted: usize,
    /// Flood batches accepted, sent.
    pub batches: (usize, usize),
}

fn mib(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// Summarizes the lives of one subject.
pub fn summarize(
    lives: &[Life],
    invocations_per_batch: f64,
    binary_bytes: Option<u64>,
    flood_batches: usize,
) -> Summary {
    let all = |f: &dyn Fn(&Life) -> Option<f64>| lives.iter().filter_map(f).collect::<Vec<f64>>();
    let ready: Vec<f64> = lives.iter().flat_map(|l| l.ready_ms.iter().copied()).collect();
    let post: Vec<f64> = lives
        .iter()
        .flat_map(|l| l.post_runtime_ms.iter().copied())
        .collect();
    let exits = all(&|l| l.exit_ms);
    let capped: Vec<f64> = lives
        .iter()
        .flat_map(|l| l.capped_post_runtime_ms.iter().copied())
        .collect();
    let per_batch = all(&|l| {
        let f = l.flood?;
        Some(f.cpu_ns? as f64 / f.accepted.max(1) as f64 / 1e6).filter(|_| f.accepted > 0)
    });
    let cpu_per_batch_ms = median(&per_batch);
    let checked = lives.iter().any(|l| l.records.checked);
    Summary {
        ready_p50: median(&ready),
        ready_p90: quantile(&ready, 0.9),
        idle_mib: median(&all(&|l| l.idle.map(|m| mib(m.rss)))),
        idle_after_mib: median(&all(&|l| l.idle_after.map(|m| mib(m.rss)))),
        flood_peak_mib: median(&all(&|l| l.flood.map(|f| mib(f.peak.hwm)))),
        post_p50: median(&post),
        post_p99: quantile(&post, 0.99),
        post_max: max(&post),
        delayed: (post.iter().filter(|d| **d > DELAYED_MS).count(), post.len()),
        capped_p50: median(&capped),
        capped_p99: quantile(&capped, 0.99),
        capped_delayed: (capped.iter().filter(|d| **d > DELAYED_MS).count(), capped.len()),
        capped_share: lives.iter().find_map(|l| l.capped_share),
        cpu_per_invocation_us: median(&all(&|l| l.cpu_per_invocation_ns.map(|n| n / 1e3))),
        cpu_per_batch_ms,
        flood_cpu_per_invocation_us: cpu_per_batch_ms
            .filter(|_| invocations_per_batch > 0.0)
            .map(|ms| ms * 1e3 / invocations_per_batch),
        flood_mb_per_s: median(&all(&|l| l.flood.map(|f| f.mb_per_s))),
        exit_p50: median(&exits),
        exit_max: max(&exits),
        binary_bytes,
        lives: lives.len(),
        killed: lives.iter().filter(|l| l.killed).count(),
        cold_start_kept: lives.iter().filter(|l| l.records.cold_start_kept).count(),
        correct_records: lives.iter().filter(|l| l.records.correct()).count(),
        records: lives
            .last()
            .filter(|_| checked)
            .map(|l| (l.records.counted, l.records.expected)),
        flood_outlasted: lives.iter().filter(|l| l.flood_outlasted).count(),
        batches: (
            lives.iter().filter_map(|l| l.flood).map(|f| f.accepted).sum(),
            lives.iter().filter(|l| l.flood.is_some()).count() * flood_batches,
        ),
    }
}
