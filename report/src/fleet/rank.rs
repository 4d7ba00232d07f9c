//! The ranking: the attention score (the default `--sort`), the other sort keys, what moved
//! since the previous window, and the fleet's totals.

use std::cmp::Ordering;

use super::model::{Change, Row, Totals};

/// A `--sort` key. Every key ranks the largest first (but `name`); ties go by monthly cost,
/// then by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SortKey {
    /// The attention score (see [`score`]).
    #[default]
    Attention,
    /// Error rate.
    Errors,
    /// Timeouts.
    Timeouts,
    /// Out-of-memory kills.
    Oom,
    /// p99 duration (against the timeout, with `--timeout`).
    Duration,
    /// Cold-start share.
    ColdStarts,
    /// Max memory used against the size.
    Memory,
    /// Estimated monthly cost.
    Cost,
    /// The recommendation's monthly saving.
    Saving,
    /// Invocations.
    Invocations,
    /// The function's name, A to Z.
    Name,
}

impl SortKey {
    pub fn name(self) -> &'static str {
        match self {
            Self::Attention => "attention",
            Self::Errors => "errors",
            Self::Timeouts => "timeouts",
            Self::Oom => "oom",
            Self::Duration => "duration",
            Self::ColdStarts => "cold-starts",
            Self::Memory => "memory",
            Self::Cost => "cost",
            Self::Saving => "saving",
            Self::Invocations => "invocations",
            Self::Name => "name",
        }
    }
}

/// Points of the attention score, each with its reason (docs/report.md lists the same):
/// out-of-memory kills 1000, timeouts 500, the error rate in percent × 10, a p99 at 80 % of the
/// timeout or more 100, memory used at 90 % of the size or more 100, each thing that moved
/// since the previous window 50, a cold-start share of 10 % or more 20, and the monthly saving
/// of right-sizing in US dollars (at most 100).
pub fn score(row: &mut Row) {
    let mut points = 0.0;
    let mut reasons = Vec::new();
    if let Some(n) = row.out_of_memory.filter(|n| *n > 0.0) {
        points += 1000.0;
        reasons.push(format!("{} out-of-memory kill{}", count(n), plural(n)));
    }
    if let Some(n) = row.timeouts.filter(|n| *n > 0.0) {
        points += 500.0;
        reasons.push(format!("{} timeout{}", count(n), plural(n)));
    }
    if let Some(rate) = row.error_rate_percent.filter(|r| *r > 0.0) {
        points += rate * 10.0;
        reasons.push(format!("{rate:.1} % errors"));
    }
    if let Some(p) = row.p99_of_timeout_percent.filter(|p| *p >= 80.0) {
        points += 100.0;
        reasons.push(format!("p99 at {p:.0} % of the timeout"));
    }
    if let Some(p) = row.memory_used_percent.filter(|p| *p >= 90.0) {
        points += 100.0;
        reasons.push(format!("memory used up to {p:.0} % of the size"));
    }
    if let Some(change) = &row.change {
        points += 50.0 * change.moved.len() as f64;
        reasons.extend(change.moved.iter().cloned());
    }
    if let Some(p) = row.cold_start_percent.filter(|p| *p >= 10.0) {
        points += 20.0;
        reasons.push(format!("{p:.0} % cold starts"));
    }
    if let Some(saving) = row.monthly_cost_change_usd.filter(|c| *c < 0.0).map(|c| -c) {
        points += saving.min(100.0);
        reasons.push(format!("right-sizing saves {saving:.2} USD a month"));
    }
    row.attention = points;
    row.reasons = reasons;
}

fn count(n: f64) -> String {
    format!("{:.0}", n)
}

fn plural(n: f64) -> &'static str {
    if (n - 1.0).abs() < f64::EPSILON { "" } else { "s" }
}

fn desc(a: Option<f64>, b: Option<f64>) -> Ordering {
    b.unwrap_or(f64::NEG_INFINITY)
        .total_cmp(&a.unwrap_or(f64::NEG_INFINITY))
}

/// Sorts `rows` by `key`, largest first; ties by monthly cost, then name.
pub fn sort(rows: &mut [Row], key: SortKey) {
    let value = |r: &Row| -> Option<f64> {
        match key {
            SortKey::Attention => Some(r.attention),
            SortKey::Errors => r.error_rate_percent,
            SortKey::Timeouts => r.timeouts,
            SortKey::Oom => r.out_of_memory,
            SortKey::Duration => r.p99_of_timeout_percent.or(r.p99_duration_ms),
            SortKey::ColdStarts => r.cold_start_percent,
            SortKey::Memory => r.memory_used_percent,
            SortKey::Cost => r.monthly_cost_usd,
            SortKey::Saving => r.monthly_cost_change_usd.map(|c| -c),
            SortKey::Invocations => r.invocations,
            SortKey::Name => None,
        }
    };
    rows.sort_by(|a, b| {
        desc(value(a), value(b))
            .then_with(|| desc(a.monthly_cost_usd, b.monthly_cost_usd))
            .then_with(|| a.function.cmp(&b.function))
    });
    if key == SortKey::Name {
        rows.sort_by(|a, b| a.function.cmp(&b.function));
    }
}

/// What moved from `before` (the previous window's row, if the function had data then).
pub fn change(now: &Row, before: Option<&Row>) -> Change {
    let Some(b) = before else {
        return Change {
            seen_before: false,
            moved: vec!["new: no data in the previous window".into()],
            ..Change::default()
        };
    };
    let mut moved = Vec::new();
    let was_zero = |v: Option<f64>| v.unwrap_or(0.0) <= 0.0;
    let is_more = |v: Option<f64>| v.unwrap_or(0.0) > 0.0;
    for (what, n, p) in [
        ("errors", now.errors, b.errors),
        ("timeouts", now.timeouts, b.timeouts),
        ("out-of-memory kills", now.out_of_memory, b.out_of_memory),
    ] {
        if is_more(n) && was_zero(p) {
            moved.push(format!("new {what}: {} (none before)", count(n.unwrap_or(0.0))));
        }
    }
    if let (Some(n), Some(p)) = (now.p99_duration_ms, b.p99_duration_ms)
        && p > 0.0
        && n >= 2.0 * p
    {
        moved.push(format!("p99 duration ×{:.1}: {p:.0} → {n:.0} ms", n / p));
    }
    if let (Some(n), Some(p)) = (now.monthly_cost_usd, b.monthly_cost_usd)
        && p > 0.0
        && n >= 1.5 * p
    {
        moved.push(format!(
            "cost +{:.0} %: {p:.2} → {n:.2} USD a month",
            (n / p - 1.0) * 100.0
        ));
    }
    if let (Some(n), Some(p)) = (now.cold_start_percent, b.cold_start_percent)
        && n >= 1.0
        && n >= 2.0 * p
    {
        moved.push(format!(
            "cold starts ×{}: {p:.1} → {n:.1} %",
            if p > 0.0 {
                format!("{:.1}", n / p)
            } else {
                "∞".into()
            }
        ));
    }
    Change {
        seen_before: true,
        previous_invocations: b.invocations,
        previous_errors: b.errors,
        previous_error_rate_percent: b.error_rate_percent,
        previous_p99_duration_ms: b.p99_duration_ms,
        previous_monthly_cost_usd: b.monthly_cost_usd,
        moved,
    }
}

/// The fleet's totals.
pub fn totals(rows: &[Row]) -> Totals {
    let sum = |f: fn(&Row) -> Option<f64>| rows.iter().filter_map(f).sum::<f64>();
    Totals {
        functions: rows.len(),
        invocations: sum(|r| r.invocations),
        errors: sum(|r| r.errors),
        timeouts: sum(|r| r.timeouts),
        out_of_memory: sum(|r| r.out_of_memory),
        cost_usd: sum(|r| r.cost_usd),
        monthly_cost_usd: sum(|r| r.monthly_cost_usd),
        monthly_saving_usd: sum(|r| r.monthly_cost_change_usd.filter(|c| *c < 0.0).map(|c| -c)),
        monthly_extra_cost_usd: sum(|r| r.monthly_cost_change_usd.filter(|c| *c > 0.0)),
        functions_without_cost: rows.iter().filter(|r| r.cost_usd.is_none()).count(),
        previous_monthly_cost_usd: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str) -> Row {
        Row {
            function: name.into(),
            ..Row::default()
        }
    }

    #[test]
    fn out_of_memory_outranks_errors_which_outrank_a_saving() {
        let mut oom = row("c");
        oom.out_of_memory = Some(1.0);
        let mut failing = row("b");
        failing.error_rate_percent = Some(20.0);
        let mut big = row("a");
        big.monthly_cost_change_usd = Some(-50.0);
        let mut rows = vec![big, failing, oom, row("quiet")];
        rows.iter_mut().for_each(score);
        sort(&mut rows, SortKey::Attention);
        let names: Vec<&str> = rows.iter().map(|r| r.function.as_str()).collect();
        assert_eq!(names, ["c", "b", "a", "quiet"]);
        sort(&mut rows, SortKey::Name);
        assert_eq!(rows[0].function, "a");
    }

    #[test]
    fn changes_name_new_errors_and_a_doubled_p99() {
        let mut now = row("f");
        now.errors = Some(3.0);
        now.p99_duration_ms = Some(200.0);
        let mut before = row("f");
        before.errors = Some(0.0);
        before.p99_duration_ms = Some(90.0);
        let c = change(&now, Some(&before));
        assert_eq!(c.moved.len(), 2, "{:?}", c.moved);
        assert!(!change(&now, None).seen_before);
    }
}
