//! The memory recommendation: the smallest standard memory size that keeps a headroom over the
//! observed peak, and what it would cost at the observed durations. Like AWS Compute Optimizer it
//! works from what was observed, without extra runs; unlike AWS Lambda Power Tuning it cannot
//! see how the durations would change, hence the CPU warning.

use crate::model::Recommendation;

/// The sizes recommended from (MB): the powers of two and halfway steps people configure,
/// 1,769 MB (one full vCPU), 3,008 MB (the old maximum) and Lambda's maximum, 10,240 MB.
pub const STANDARD_SIZES_MB: &[u32] = &[
    128, 256, 512, 768, 1024, 1536, 1769, 2048, 3008, 4096, 5120, 6144, 7168, 8192, 9216, 10240,
];

/// Lambda's request charge, US dollars per request (us-east-1 list price, 2026-11; the same in
/// most regions). The rest of a cost scales with memory at a fixed duration.
pub const PRICE_PER_REQUEST_USD: f64 = 0.20 / 1_000_000.0;

/// Memory at which a function has one full vCPU.
pub const ONE_VCPU_MB: f64 = 1769.0;

/// What the recommendation is computed from.
#[derive(Debug, Clone, Copy)]
pub struct Observed {
    pub size_mb: f64,
    pub peak_mb: f64,
    pub out_of_memory: f64,
    pub invocations: Option<f64>,
    pub estimated_cost_usd: Option<f64>,
    pub p99_of_timeout_percent: Option<f64>,
}

pub fn recommend(o: &Observed, headroom_percent: f64) -> Recommendation {
    let factor = 1.0 + headroom_percent / 100.0;
    let oom = o.out_of_memory > 0.0;
    // After an out-of-memory kill the peak is the size itself: the real need is above it.
    let needed = if oom {
        (o.peak_mb.max(o.size_mb) * factor).max(o.size_mb + 1.0)
    } else {
        o.peak_mb * factor
    };
    let recommended = STANDARD_SIZES_MB
        .iter()
        .copied()
        .find(|&s| f64::from(s) >= needed)
        .unwrap_or(10240);
    let rec = f64::from(recommended);
    let action = if rec > o.size_mb {
        "increase"
    } else if rec < o.size_mb {
        "decrease"
    } else {
        "keep"
    };
    let duration_cost = o
        .estimated_cost_usd
        .map(|c| (c - o.invocations.unwrap_or(0.0) * PRICE_PER_REQUEST_USD).max(0.0));
    let cost_change_usd = duration_cost.map(|d| d * (rec / o.size_mb - 1.0));
    let cost_change_percent = match (cost_change_usd, o.estimated_cost_usd) {
        (Some(change), Some(total)) if total > 0.0 => Some(change / total * 100.0),
        _ => None,
    };
    let cpu = rec / o.size_mb * 100.0;
    let reason = if oom {
        format!(
            "{} out-of-memory kill{}: the peak reached the {} MB configured, so the real need is above it; \
             {recommended} MB is the smallest standard size above {needed:.0} MB ({headroom_percent:.0} % over it). \
             Look again after the change.",
            o.out_of_memory,
            if o.out_of_memory == 1.0 { "" } else { "s" },
            o.size_mb
        )
    } else {
        format!(
            "the peak was {:.0} MB; with {headroom_percent:.0} % headroom that is {needed:.0} MB, \
             and {recommended} MB is the smallest standard size that holds it",
            o.peak_mb
        )
    };
    let mut warning = format!(
        "CPU scales with memory (one vCPU at 1,769 MB): at {recommended} MB the function gets {cpu:.0} % \
         of the CPU it has at {:.0} MB, so its durations may change and with them the cost; the cost \
         change assumes the observed durations. Measure before committing (for example with AWS Lambda \
         Power Tuning).",
        o.size_mb
    );
    if action == "decrease" && o.p99_of_timeout_percent.is_some_and(|p| p >= 50.0) {
        warning
            .push_str(" The p99 duration is already at least half the timeout: less CPU may push it over.");
    }
    Recommendation {
        current_mb: o.size_mb,
        recommended_mb: recommended,
        action,
        observed_peak_mb: o.peak_mb,
        headroom_percent,
        needed_mb: needed,
        cost_change_usd,
        cost_change_percent,
        cpu_share_percent_of_current: cpu,
        reason,
        warning,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observed(size_mb: f64, peak_mb: f64) -> Observed {
        Observed {
            size_mb,
            peak_mb,
            out_of_memory: 0.0,
            invocations: Some(1_000_000.0),
            estimated_cost_usd: Some(10.2),
            p99_of_timeout_percent: None,
        }
    }

    #[test]
    fn a_small_peak_goes_down_to_the_smallest_size_that_keeps_the_headroom() {
        let r = recommend(&observed(1024.0, 300.0), 20.0);
        assert_eq!(r.recommended_mb, 512);
        assert_eq!(r.action, "decrease");
        // 10.2 USD of which 0.2 is requests: the 10 USD of duration halves.
        assert!((r.cost_change_usd.unwrap_or_default() + 5.0).abs() < 1e-9);
        assert!((r.cpu_share_percent_of_current - 50.0).abs() < 1e-9);
        assert!(r.warning.contains("CPU scales with memory"));
    }

    #[test]
    fn a_peak_near_the_size_goes_up() {
        let r = recommend(&observed(128.0, 120.0), 20.0);
        assert_eq!((r.recommended_mb, r.action), (256, "increase"));
        assert_eq!(recommend(&observed(256.0, 150.0), 20.0).action, "keep");
    }

    #[test]
    fn an_out_of_memory_kill_always_goes_up() {
        let mut o = observed(128.0, 131.0);
        o.out_of_memory = 1.0;
        let r = recommend(&o, 20.0);
        assert_eq!(r.recommended_mb, 256);
        assert!(r.reason.contains("out-of-memory"), "{}", r.reason);
    }

    #[test]
    fn beyond_the_largest_size_it_stays_at_the_largest() {
        assert_eq!(recommend(&observed(10240.0, 10000.0), 20.0).recommended_mb, 10240);
    }
}
