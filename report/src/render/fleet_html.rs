//! `--all --html FILE`: the fleet on one self-contained page (no script, no network), for a
//! reader with a minute: the totals first, then the functions that need attention and why,
//! a bar chart per question with the worst few functions, and the whole ranking as a table.
//!
//! The bars are written as SVG here rather than drawn by `plotters` like the single page's
//! time series: a ranking is a few labelled rectangles, its categories are function names
//! (which plotters' numeric axes do not label), and the crate is built without plotters'
//! histogram feature. Each chart has a colour of its own, which is what the browser test looks
//! for in a screenshot to tell a chart with bars from an empty frame.

use std::fmt::Write as _;

use crate::fleet::{FleetReport, Row};
use crate::render::{count, number, usd};

/// How many functions each chart shows.
pub const WORST: usize = 8;

/// A chart of the page: its id, its question, the unit of its bars, their colour, and the
/// figure of a row it ranks by (a chart shows the rows whose figure is above zero).
pub struct FleetChart {
    pub id: &'static str,
    pub title: &'static str,
    pub unit: &'static str,
    pub colour: (u8, u8, u8),
    /// Percentages of a limit (the timeout, the memory size) draw the limit as a line at 100.
    pub of_limit: bool,
    pub value: fn(&Row) -> Option<f64>,
    /// What an empty chart says.
    pub empty: &'static str,
}

fn saving(r: &Row) -> Option<f64> {
    r.monthly_cost_change_usd.filter(|c| *c < 0.0).map(|c| -c)
}

/// The charts, in page order.
pub const FLEET_CHARTS: &[FleetChart] = &[
    FleetChart {
        id: "errors",
        title: "Which functions fail most? (error rate)",
        unit: "%",
        colour: (214, 39, 40),
        of_limit: false,
        value: |r| r.error_rate_percent,
        empty: "No function failed in the window.",
    },
    FleetChart {
        id: "duration",
        title: "Which come closest to their timeout? (p99 duration, % of the timeout)",
        unit: "%",
        colour: (255, 127, 14),
        of_limit: true,
        value: |r| r.p99_of_timeout_percent,
        empty: "No timeout to compare with: CloudWatch does not hold a function's timeout (pass --timeout).",
    },
    FleetChart {
        id: "coldStarts",
        title: "Which cold-start most? (share of invocations)",
        unit: "%",
        colour: (227, 119, 194),
        of_limit: false,
        value: |r| r.cold_start_percent,
        empty: "No cold start in the window (or no lambda-lens ColdStarts).",
    },
    FleetChart {
        id: "memory",
        title: "Which come closest to their memory size? (max used, % of the size)",
        unit: "%",
        colour: (23, 190, 207),
        of_limit: true,
        value: |r| r.memory_used_percent,
        empty: "No memory figures (lambda-lens MaxMemoryUsed and MemoryUtilization) in the window.",
    },
    FleetChart {
        id: "cost",
        title: "Which cost most? (USD a month at the window's rate)",
        unit: "USD",
        colour: (31, 119, 180),
        of_limit: false,
        value: |r| r.monthly_cost_usd,
        empty: "No cost figures (lambda-lens EstimatedCost, or durations and a memory size) in the window.",
    },
    FleetChart {
        id: "saving",
        title: "Where would right-sizing save most? (USD a month)",
        unit: "USD",
        colour: (44, 160, 44),
        of_limit: false,
        value: saving,
        empty: "No function would cost less at another memory size.",
    },
];

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn hex((r, g, b): (u8, u8, u8)) -> String {
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// A name cut to fit the label column.
fn short(name: &str) -> String {
    const MAX: usize = 30;
    if name.chars().count() <= MAX {
        name.to_owned()
    } else {
        let head: String = name.chars().take(MAX - 1).collect();
        format!("{head}…")
    }
}

/// Money on the page: cents (a fleet's monthly figures), finer only below a cent.
fn money(v: f64) -> String {
    if v.abs() >= 0.01 || v == 0.0 {
        format!("USD {v:.2}")
    } else {
        usd(v)
    }
}

/// A percentage on the page: one decimal below 10, none above.
fn percent(v: f64) -> String {
    if v.abs() >= 10.0 || v.fract() == 0.0 {
        format!("{v:.0} %")
    } else {
        format!("{v:.1} %")
    }
}

fn figure(chart: &FleetChart, v: f64) -> String {
    match chart.unit {
        "USD" => money(v),
        "%" => percent(v),
        unit => format!("{} {unit}", number(v)),
    }
}

/// The rows a chart shows: the `WORST` highest figures above zero, highest first (ties by
/// name, so the page is the same for the same report).
pub fn worst<'a>(report: &'a FleetReport, chart: &FleetChart) -> Vec<(&'a Row, f64)> {
    let mut rows: Vec<(&Row, f64)> = report
        .rows
        .iter()
        .filter_map(|r| {
            (chart.value)(r)
                .filter(|v| v.is_finite() && *v > 0.0)
                .map(|v| (r, v))
        })
        .collect();
    rows.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.function.cmp(&b.0.function)));
    rows.truncate(WORST);
    rows
}

/// One horizontal bar chart as SVG: a name, a bar and its figure per row.
fn svg(chart: &FleetChart, rows: &[(&Row, f64)]) -> String {
    const WIDTH: f64 = 620.0;
    const LABELS: f64 = 220.0;
    const BARS: f64 = 300.0;
    const ROW: f64 = 30.0;
    const TOP: f64 = 12.0;
    let colour = hex(chart.colour);
    let max = rows.iter().map(|r| r.1).fold(0.0_f64, f64::max);
    let scale_top = if chart.of_limit { max.max(100.0) } else { max };
    let scale = |v: f64| {
        if scale_top > 0.0 {
            v / scale_top * BARS
        } else {
            0.0
        }
    };
    #[allow(clippy::cast_precision_loss, reason = "at most WORST rows")]
    let height = TOP * 2.0 + ROW * rows.len() as f64;
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {WIDTH} {height}\" font-family=\"system-ui,sans-serif\" font-size=\"13\">\
         <rect width=\"{WIDTH}\" height=\"{height}\" fill=\"#ffffff\"/>"
    );
    for (i, (row, v)) in rows.iter().enumerate() {
        #[allow(clippy::cast_precision_loss, reason = "at most WORST rows")]
        let y = TOP + ROW * i as f64;
        let w = scale(*v).max(2.0);
        let _ = write!(
            out,
            "<text x=\"{tx}\" y=\"{ty}\" text-anchor=\"end\" fill=\"#222\"><title>{name}</title>{label}</text>\
             <rect class=\"bar\" x=\"{LABELS}\" y=\"{by}\" width=\"{w:.1}\" height=\"20\" fill=\"{colour}\"/>\
             <text x=\"{vx:.1}\" y=\"{ty}\" fill=\"#444\">{value}</text>",
            tx = LABELS - 8.0,
            ty = y + 15.0,
            by = y + 1.0,
            name = escape(&row.function),
            label = escape(&short(&row.function)),
            vx = LABELS + w + 6.0,
            value = escape(&figure(chart, *v)),
        );
    }
    if chart.of_limit {
        let x = LABELS + scale(100.0);
        let _ = write!(
            out,
            "<line x1=\"{x:.1}\" y1=\"4\" x2=\"{x:.1}\" y2=\"{y2}\" stroke=\"#787878\" stroke-width=\"2\" \
             stroke-dasharray=\"4 3\"/>",
            y2 = height - 4.0
        );
    }
    out.push_str("</svg>");
    out
}

fn total_cell(label: &str, value: &str, class: &str) -> String {
    format!(
        "<div class=\"total {class}\"><div class=\"v\">{}</div><div class=\"l\">{}</div></div>",
        escape(value),
        escape(label)
    )
}

fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map_or_else(|| "–".to_owned(), f)
}

fn recommendation(r: &Row) -> String {
    match &r.recommendation {
        Some(rec) if rec.action != "keep" => {
            let mut text = format!("{} → {} MB", number(rec.current_mb), rec.recommended_mb);
            if let Some(c) = r.monthly_cost_change_usd {
                let _ = write!(
                    text,
                    ", {}{}/month",
                    if c > 0.0 { "+" } else { "−" },
                    money(c.abs())
                );
            }
            text
        }
        Some(rec) => format!("keep {} MB", number(rec.current_mb)),
        None => "–".into(),
    }
}

/// The page.
pub fn render_html(report: &FleetReport) -> String {
    let t = &report.totals;
    let mut page = String::new();
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>lambda-lens fleet: {region}</title>\n<style>\
         body{{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1320px}}\
         h1{{font-size:22px;margin:0 0 4px}} h2{{font-size:17px;margin:20px 0 6px}} .meta{{color:#555;margin:0 0 16px}}\
         .totals{{display:flex;flex-wrap:wrap;gap:10px;margin:8px 0 12px}}\
         .total{{border:1px solid #ddd;padding:8px 14px;min-width:120px}} .total .v{{font-size:20px;font-weight:600}}\
         .total .l{{color:#555;font-size:13px}} .total.bad .v{{color:#c62828}} .total.good .v{{color:#2e7d32}}\
         ol.attention li{{margin:3px 0}} .moved{{color:#8a4b00}}\
         table{{border-collapse:collapse;margin:8px 0 16px;font-size:13px}}\
         td,th{{padding:3px 10px 3px 0;text-align:right;vertical-align:top;white-space:nowrap}} th{{white-space:normal}}\
         td:first-child,th:first-child,td.text,th.text{{text-align:left}} td.text{{white-space:normal;min-width:240px}}\
         th{{border-bottom:1px solid #ccc}} tr.total-row td{{border-top:1px solid #ccc;font-weight:600}}\
         .charts{{display:grid;grid-template-columns:repeat(2,640px);gap:16px}}\
         figure{{margin:0;border:1px solid #ddd;padding:8px;width:622px}} figcaption{{font-weight:600;margin-bottom:4px}}\
         .empty{{height:80px;display:flex;align-items:center;padding:0 24px;color:#666;background:#fafafa}}\
         </style></head><body>\n\
         <h1>lambda-lens fleet: {n} function{s} in {region}</h1>\n\
         <p class=\"meta\">namespace {ns} · {start} to {end}{prev} · sorted by {sort}</p>\n",
        region = escape(&report.region),
        n = t.functions,
        s = if t.functions == 1 { "" } else { "s" },
        ns = escape(&report.namespace),
        start = escape(&report.window.start),
        end = escape(&report.window.end),
        prev = report
            .previous_window
            .as_ref()
            .map_or_else(String::new, |p| format!(
                " · compared with {} to {}",
                escape(&p.start),
                escape(&p.end)
            )),
        sort = escape(report.sort),
    );

    page.push_str("<div class=\"totals\">");
    let bad = |n: f64| if n > 0.0 { "bad" } else { "" };
    page.push_str(&total_cell("functions", &t.functions.to_string(), ""));
    page.push_str(&total_cell("invocations", &count(t.invocations), ""));
    page.push_str(&total_cell("errors", &count(t.errors), bad(t.errors)));
    page.push_str(&total_cell("timeouts", &count(t.timeouts), bad(t.timeouts)));
    page.push_str(&total_cell(
        "out-of-memory kills",
        &count(t.out_of_memory),
        bad(t.out_of_memory),
    ));
    let mut cost_label = "estimated cost a month".to_owned();
    if let Some(p) = t.previous_monthly_cost_usd {
        let _ = write!(cost_label, " (before: {})", money(p));
    }
    page.push_str(&total_cell(&cost_label, &money(t.monthly_cost_usd), ""));
    page.push_str(&total_cell(
        "right-sizing would save a month",
        &money(t.monthly_saving_usd),
        if t.monthly_saving_usd > 0.0 { "good" } else { "" },
    ));
    if t.monthly_extra_cost_usd > 0.0 {
        page.push_str(&total_cell(
            "more memory where it is needed costs a month",
            &money(t.monthly_extra_cost_usd),
            "",
        ));
    }
    if t.functions_without_cost > 0 {
        page.push_str(&total_cell(
            "functions without a cost",
            &t.functions_without_cost.to_string(),
            "",
        ));
    }
    page.push_str("</div>\n");

    // What needs attention first, whatever order `--sort` gave the ranking.
    let mut attention: Vec<&Row> = report
        .rows
        .iter()
        .filter(|r| !r.reasons.is_empty() || r.change.as_ref().is_some_and(|c| !c.moved.is_empty()))
        .collect();
    attention.sort_by(|a, b| b.attention.total_cmp(&a.attention));
    attention.truncate(10);
    page.push_str("<h2>Needs attention</h2>\n");
    if attention.is_empty() {
        page.push_str(
            "<p>Nothing: no errors, timeouts, out-of-memory kills, limits approached or savings.</p>\n",
        );
    } else {
        page.push_str("<ol class=\"attention\">\n");
        for r in attention {
            let _ = write!(
                page,
                "<li><b>{}</b>: {}",
                escape(&r.function),
                escape(&r.reasons.join("; "))
            );
            if let Some(c) = r.change.as_ref().filter(|c| !c.moved.is_empty()) {
                let _ = write!(
                    page,
                    " <span class=\"moved\">(moved: {})</span>",
                    escape(&c.moved.join("; "))
                );
            }
            page.push_str("</li>\n");
        }
        page.push_str("</ol>\n");
    }

    page.push_str("<h2>The worst few, by question</h2>\n<div class=\"charts\">\n");
    for chart in FLEET_CHARTS {
        let rows = worst(report, chart);
        let _ = write!(
            page,
            "<figure class=\"chart\" id=\"fleet-{}\" data-bars=\"{}\"><figcaption>{}</figcaption>",
            chart.id,
            rows.len(),
            escape(chart.title)
        );
        if rows.is_empty() {
            let _ = write!(page, "<div class=\"empty\">{}</div>", escape(chart.empty));
        } else {
            page.push_str(&svg(chart, &rows));
        }
        page.push_str("</figure>\n");
    }
    page.push_str("</div>\n");

    page.push_str(
        "<h2>Every function</h2>\n<table id=\"ranking\"><tr><th>function</th><th>invocations</th><th>errors</th>\
         <th>timeouts</th><th>OOM</th><th>p99 ms</th><th>p99 / timeout</th><th>cold starts</th><th>init p90 ms</th>\
         <th>memory used / size</th><th>USD a month</th><th>memory recommendation</th><th class=\"text\">why</th></tr>\n",
    );
    for r in &report.rows {
        let mut why = r.reasons.join("; ");
        if let Some(c) = r.change.as_ref().filter(|c| !c.moved.is_empty()) {
            if !why.is_empty() {
                why.push_str("; ");
            }
            let _ = write!(why, "moved: {}", c.moved.join("; "));
        }
        let _ = writeln!(
            page,
            "<tr class=\"fn\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"text\">{}</td></tr>",
            escape(&r.function),
            opt(r.invocations, count),
            opt(r.error_rate_percent, percent),
            opt(r.timeouts, count),
            opt(r.out_of_memory, count),
            opt(r.p99_duration_ms, number),
            opt(r.p99_of_timeout_percent, percent),
            opt(r.cold_start_percent, percent),
            opt(r.init_p90_ms, number),
            match (r.max_memory_used_mb, r.memory_size_mb, r.memory_used_percent) {
                (Some(u), Some(s), Some(p)) => format!("{} / {} MB ({})", number(u), number(s), percent(p)),
                (Some(u), Some(s), None) => format!("{} / {} MB", number(u), number(s)),
                (Some(u), None, _) => format!("{} MB", number(u)),
                _ => "–".into(),
            },
            opt(r.monthly_cost_usd, money),
            escape(&recommendation(r)),
            escape(&why),
        );
    }
    let _ = writeln!(
        page,
        "<tr class=\"total-row\"><td>total</td><td>{}</td><td></td><td>{}</td><td>{}</td><td></td><td></td><td></td>\
         <td></td><td></td><td>{}</td><td>saves {} a month</td><td></td></tr>\n</table>",
        count(t.invocations),
        count(t.timeouts),
        count(t.out_of_memory),
        money(t.monthly_cost_usd),
        money(t.monthly_saving_usd),
    );

    if !report.notes.is_empty() {
        page.push_str("<h2>Notes</h2><ul>\n");
        for n in &report.notes {
            let _ = writeln!(page, "<li>{}</li>", escape(n));
        }
        page.push_str("</ul>\n");
    }
    let q = &report.requests;
    let _ = writeln!(
        page,
        "<p class=\"meta\">Made by lambda-lens-report --all from {} ListMetrics, {} GetMetricData ({} queries) and {} \
         GetResources requests ({} throttled and {} failed and retried). Monthly figures are the window's rate over \
         30 days. No script, no network.</p>\n</body></html>",
        q.list_metrics, q.get_metric_data, q.queries, q.get_resources, q.throttled_retries, q.failed_retries
    );
    page
}

#[cfg(test)]
mod tests;
