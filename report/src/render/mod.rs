//! The report, rendered: a table for people (the default), JSON for scripts, an HTML page with
//! charts. All three read only the report model. The fleet's page (`--all --html`) is
//! [`fleet_html`]; its table and JSON are in `crate::fleet`.

pub mod fleet_html;
pub mod html;
pub mod json;
pub mod table;

use crate::model::Report;

/// A number for people: about three significant digits, no exponent.
pub fn number(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 || a >= 100.0 || (v.fract() == 0.0 && a < 1e15) {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a small positive count of decimals"
        )]
        let decimals = (2.0 - a.log10().floor()) as usize;
        format!("{v:.decimals$}")
    }
}

/// A count for people: a whole number (`12`, never `12.0`).
pub fn count(v: f64) -> String {
    format!("{:.0}", v.round())
}

/// US dollars for people.
pub fn usd(v: f64) -> String {
    if v.abs() >= 1.0 {
        format!("USD {v:.2}")
    } else {
        format!("USD {}", number(v))
    }
}

fn opt(v: Option<f64>, unit: &str) -> Option<String> {
    v.map(|v| format!("{}{unit}", number(v)))
}

fn join(parts: &[Option<String>]) -> Option<String> {
    let parts: Vec<&str> = parts.iter().flatten().map(String::as_str).collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// The answers, one line per question: (question, answer); `None` when not answered (the
/// reason is in `report.unanswered`).
pub fn rows(r: &Report) -> Vec<(&'static str, Option<String>)> {
    let e = &r.errors;
    let d = &r.duration;
    let m = &r.memory;
    let i = &r.init;
    let s = &r.snap_start;
    let p = &r.post_runtime;
    let failed = e.errors.map(|n| {
        let mut text = count(n);
        if let Some(rate) = e.error_rate_percent {
            text.push_str(&format!(" ({} %)", number(rate)));
        }
        text
    });
    vec![
        ("invocations", r.invocations.map(count)),
        ("errors (timeouts included)", failed),
        ("timeouts", e.timeouts.map(count)),
        ("out-of-memory kills", e.out_of_memory.map(count)),
        (
            "duration",
            join(&[
                opt(d.p50_ms, " ms p50"),
                opt(d.p90_ms, " ms p90"),
                opt(d.p99_ms, " ms p99"),
                opt(d.max_ms, " ms max"),
            ]),
        ),
        (
            "duration against the timeout",
            d.timeout_ms.map(|t| {
                let mut text = format!("timeout {} ms", number(t));
                if let Some(x) = d.p99_of_timeout_percent {
                    text.push_str(&format!(", p99 at {} %", number(x)));
                }
                if let Some(x) = d.max_of_timeout_percent {
                    text.push_str(&format!(", max at {} %", number(x)));
                }
                text
            }),
        ),
        ("memory size", opt(m.size_mb, " MB")),
        (
            "max memory used",
            join(&[
                opt(m.max_used_p99_mb, " MB p99"),
                opt(m.max_used_max_mb, " MB max"),
            ]),
        ),
        (
            "memory utilisation",
            join(&[
                opt(m.utilization_p99_percent, " % p99"),
                opt(m.utilization_max_percent, " % max"),
            ]),
        ),
        (
            "cold starts",
            i.cold_starts.map(|n| match i.cold_start_rate_percent {
                Some(rate) => format!("{} ({} % of invocations)", count(n), number(rate)),
                None => count(n),
            }),
        ),
        (
            "init duration",
            join(&[opt(i.init_p50_ms, " ms p50"), opt(i.init_p99_ms, " ms p99")]),
        ),
        (
            "SnapStart restore duration",
            s.restores.map(|n| {
                let mut text = format!("{} restores", count(n));
                if let Some(x) = join(&[opt(s.restore_p50_ms, " ms p50"), opt(s.restore_max_ms, " ms max")]) {
                    text.push_str(&format!(": {x}"));
                }
                text
            }),
        ),
        ("throttles", r.scaling.throttles.map(count)),
        (
            "peak concurrent executions",
            r.scaling.peak_concurrent_executions.map(count),
        ),
        ("iterator age", opt(r.scaling.iterator_age_max_ms, " ms max")),
        (
            "post-runtime duration",
            join(&[
                opt(p.average_ms, " ms average"),
                opt(p.p99_ms, " ms p99"),
                opt(p.max_ms, " ms max"),
            ]),
        ),
        (
            "estimated cost",
            r.cost
                .estimated_usd
                .map(|c| match r.cost.per_million_invocations_usd {
                    Some(m) => format!("{} in the window ({} per million invocations)", usd(c), usd(m)),
                    None => format!("{} in the window", usd(c)),
                }),
        ),
    ]
}

/// The recommendation as lines of text: the headline first.
pub fn recommendation_lines(r: &Report) -> Vec<String> {
    let Some(rec) = &r.recommendation else {
        return Vec::new();
    };
    let headline = match rec.action {
        "keep" => format!("keep {} MB", number(rec.current_mb)),
        action => format!(
            "{action} from {} MB to {} MB",
            number(rec.current_mb),
            rec.recommended_mb
        ),
    };
    let mut lines = vec![headline, rec.reason.clone()];
    if let Some(change) = rec.cost_change_usd {
        let pct = rec.cost_change_percent.map_or(String::new(), |p| {
            format!(" ({}{} %)", if p > 0.0 { "+" } else { "" }, number(p))
        });
        lines.push(format!(
            "cost change at the observed durations: {}{}{pct} over the window",
            if change > 0.0 { "+" } else { "" },
            usd(change)
        ));
    }
    lines.push(rec.warning.clone());
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_about_three_significant_digits() {
        assert_eq!(number(11.0), "11");
        assert_eq!(number(1000.19), "1000");
        assert_eq!(number(27.2727), "27.3");
        assert_eq!(number(2.345), "2.35");
        assert_eq!(number(0.0681), "0.0681");
        assert_eq!(number(0.0), "0");
        assert_eq!(usd(0.000_002_166_667), "USD 0.00000217");
        assert_eq!(usd(12.345), "USD 12.35");
    }
}
