//! The fleet as a text table (the default output) and as JSON (`--json`).

use std::fmt::Write as _;

use super::model::{FleetReport, Row};

fn num(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{v:.decimals$}"))
}

fn usd(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{v:.2}"))
}

fn recommendation(r: &Row) -> String {
    match (&r.recommendation, r.monthly_cost_change_usd) {
        (Some(rec), Some(c)) if rec.action != "keep" => {
            format!("{:.0}→{} MB {:+.2}/mo", rec.current_mb, rec.recommended_mb, c)
        }
        (Some(rec), _) if rec.action != "keep" => format!("{:.0}→{} MB", rec.current_mb, rec.recommended_mb),
        (Some(_), _) => "keep".into(),
        (None, _) => "–".into(),
    }
}

/// The table: one line per function in the report's order, then the totals.
pub fn render(report: &FleetReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "lambda-lens fleet: {} function{} in {} ({}), {} to {}, sorted by {}",
        report.totals.functions,
        if report.totals.functions == 1 { "" } else { "s" },
        report.region,
        report.namespace,
        report.window.start,
        report.window.end,
        report.sort
    );
    if let Some(prev) = &report.previous_window {
        let _ = writeln!(out, "compared with {} to {}", prev.start, prev.end);
    }
    let header = [
        "function",
        "invocations",
        "errors %",
        "timeouts",
        "OOM",
        "p99 ms",
        "p99/timeout %",
        "cold %",
        "init p90 ms",
        "mem MB",
        "mem %",
        "USD/month",
        "recommendation",
        "attention",
    ];
    let mut lines: Vec<Vec<String>> = vec![header.iter().map(|h| (*h).to_owned()).collect()];
    for r in &report.rows {
        lines.push(vec![
            r.function.clone(),
            num(r.invocations, 0),
            num(r.error_rate_percent, 1),
            num(r.timeouts, 0),
            num(r.out_of_memory, 0),
            num(r.p99_duration_ms, 0),
            num(r.p99_of_timeout_percent, 0),
            num(r.cold_start_percent, 1),
            num(r.init_p90_ms, 0),
            match (r.max_memory_used_mb, r.memory_size_mb) {
                (Some(u), Some(s)) => format!("{u:.0}/{s:.0}"),
                (Some(u), None) => format!("{u:.0}/–"),
                _ => "–".into(),
            },
            num(r.memory_used_percent, 0),
            usd(r.monthly_cost_usd),
            recommendation(r),
            format!("{:.0}", r.attention),
        ]);
    }
    let t = &report.totals;
    lines.push(vec![
        "TOTAL".into(),
        format!("{:.0}", t.invocations),
        String::new(),
        format!("{:.0}", t.timeouts),
        format!("{:.0}", t.out_of_memory),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        format!("{:.2}", t.monthly_cost_usd),
        format!("saves {:.2}/mo", t.monthly_saving_usd),
        String::new(),
    ]);
    let columns = header.len();
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            lines
                .iter()
                .filter_map(|l| l.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for line in &lines {
        let mut text = String::new();
        for (c, cell) in line.iter().enumerate() {
            let w = widths.get(c).copied().unwrap_or(0);
            if c == 0 {
                let _ = write!(text, "{cell:<w$}");
            } else {
                let _ = write!(text, "  {cell:>w$}");
            }
        }
        let _ = writeln!(out, "{}", text.trim_end());
    }
    if t.monthly_extra_cost_usd > 0.0 {
        let _ = writeln!(
            out,
            "right-sizing: saves {:.2} USD a month where memory can go down, costs {:.2} more where it must go up",
            t.monthly_saving_usd, t.monthly_extra_cost_usd
        );
    }
    if t.functions_without_cost > 0 {
        let _ = writeln!(
            out,
            "{} function(s) without a cost (no lambda-lens EstimatedCost, no duration and size)",
            t.functions_without_cost
        );
    }
    let attention: Vec<&Row> = report.rows.iter().filter(|r| !r.reasons.is_empty()).collect();
    if !attention.is_empty() {
        let _ = writeln!(out, "\nwhy:");
        for r in attention {
            let _ = writeln!(out, "  {}: {}", r.function, r.reasons.join("; "));
        }
    }
    for note in &report.notes {
        let _ = writeln!(out, "note: {note}");
    }
    let q = &report.requests;
    let _ = writeln!(
        out,
        "\nrequests: {} ListMetrics, {} GetMetricData ({} queries), {} GetResources, {} throttled and {} failed and retried",
        q.list_metrics, q.get_metric_data, q.queries, q.get_resources, q.throttled_retries, q.failed_retries
    );
    out
}

/// The `lambda-lens-report/fleet/1` JSON document.
pub fn json(report: &FleetReport) -> String {
    serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}")) + "\n"
}
