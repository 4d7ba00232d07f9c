//! `--html FILE`: one self-contained page (no script, no network) with the answers and a chart
//! per question of the window. The charts are drawn by `plotters` as inline SVG: a Rust crate,
//! kept up, that renders without a browser-side library, so the page opens anywhere offline and
//! the report stays a single binary with nothing to vendor.
//!
//! Every data series has a colour of its own (no two charts share one), which is what the
//! browser test looks for in a screenshot to tell a chart with data from an empty frame.

use std::fmt::Write as _;

use plotters::prelude::*;

use crate::model::{Report, Series};
use crate::render::{number, recommendation_lines, rows};

/// A chart of the page: its id, its question, its y axis, and its series' names and colours.
pub struct Chart {
    pub id: &'static str,
    pub title: &'static str,
    pub unit: &'static str,
    /// (series name suffix, colour): a series belongs to a chart by its `chart` field, and
    /// takes the colour of the first suffix its name ends with.
    pub colours: &'static [(&'static str, (u8, u8, u8))],
}

/// The charts, in page order, with the colour of each series.
pub const CHARTS: &[Chart] = &[
    Chart {
        id: "invocations",
        title: "How many invocations, and how many failed?",
        unit: "invocations per period",
        colours: &[
            ("Invocations", (31, 119, 180)),
            ("Errors", (214, 39, 40)),
            ("Timeouts", (214, 39, 40)),
        ],
    },
    Chart {
        id: "duration",
        title: "How long? p50, p90, p99 and max against the timeout",
        unit: "ms",
        colours: &[
            ("p50", (44, 160, 44)),
            ("p90", (188, 189, 34)),
            ("p99", (255, 127, 14)),
            ("max", (148, 103, 189)),
        ],
    },
    Chart {
        id: "memory",
        title: "Memory used against the memory size",
        unit: "MB",
        colours: &[("p99", (23, 190, 207)), ("max", (140, 86, 75))],
    },
    Chart {
        id: "coldStarts",
        title: "How often are cold starts?",
        unit: "cold starts per period",
        colours: &[("ColdStarts", (227, 119, 194))],
    },
    Chart {
        id: "scaling",
        title: "Throttles and concurrent executions",
        unit: "count",
        colours: &[("Throttles", (0, 0, 128)), ("max", (0, 128, 128))],
    },
];

/// The grey of reference lines (timeout, memory size).
const REFERENCE: RGBColor = RGBColor(120, 120, 120);

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn colour(chart: &Chart, name: &str) -> RGBColor {
    let (r, g, b) = chart
        .colours
        .iter()
        .find(|(suffix, _)| name.ends_with(suffix))
        .map_or((0, 0, 0), |(_, c)| *c);
    RGBColor(r, g, b)
}

fn clock(t: i64, long: bool) -> String {
    chrono::DateTime::from_timestamp(t, 0).map_or_else(String::new, |d| {
        if long {
            d.format("%m-%d %H:%M").to_string()
        } else {
            d.format("%H:%M:%S").to_string()
        }
    })
}

/// Draws one chart as SVG: its series, and a reference line (`(label, value)`) when known.
fn svg(
    chart: &Chart,
    series: &[&Series],
    reference: Option<(String, f64)>,
    x_range: (i64, i64),
) -> Result<String, DrawingAreaErrorKind<std::io::Error>> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (620, 300)).into_drawing_area();
        root.fill(&WHITE)?;
        let top = series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .chain(reference.as_ref().map(|r| r.1))
            .fold(0.0_f64, f64::max);
        // Room above the highest value for the legend.
        let top = if top > 0.0 { top * 1.5 } else { 1.0 };
        let (x0, x1) = x_range;
        let long = x1 - x0 > 86_400;
        // The x axis counts seconds, minutes or hours from the window's start, so that its
        // ticks fall on round times; the labels are clock times.
        let unit: i64 = match x1 - x0 {
            s if s >= 2 * 86_400 => 3600,
            s if s >= 1200 => 60,
            _ => 1,
        };
        #[allow(clippy::cast_precision_loss, reason = "seconds of a window, far below 2^52")]
        let x = move |t: i64| (t - x0) as f64 / unit as f64;
        #[allow(
            clippy::cast_possible_truncation,
            reason = "a point of the axis, back to seconds"
        )]
        let label = move |v: &f64| clock(x0 + (v * unit as f64).round() as i64, long);
        let mut c = ChartBuilder::on(&root)
            .margin(12)
            .margin_right(36)
            .x_label_area_size(28)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..x(x1.max(x0 + 1)), 0.0..top)?;
        c.configure_mesh()
            .x_labels(7)
            .y_labels(6)
            .x_label_formatter(&label)
            .y_label_formatter(&|v| number(*v))
            .y_desc(chart.unit)
            .light_line_style(TRANSPARENT)
            .draw()?;
        if let Some((label, value)) = reference {
            c.draw_series(LineSeries::new(
                [(x(x0), value), (x(x1), value)],
                REFERENCE.stroke_width(2),
            ))?
            .label(label)
            .legend(|(px, py)| PathElement::new([(px, py), (px + 16, py)], REFERENCE.stroke_width(2)));
        }
        for s in series {
            let col = colour(chart, &s.name);
            c.draw_series(LineSeries::new(
                s.points.iter().map(|&(t, v)| (x(t), v)),
                col.stroke_width(2),
            ))?
            .label(s.name.as_str())
            .legend(move |(px, py)| PathElement::new([(px, py), (px + 16, py)], col.stroke_width(2)));
            c.draw_series(
                s.points
                    .iter()
                    .map(|&(t, v)| Circle::new((x(t), v), 3, col.filled())),
            )?;
        }
        c.configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .draw()?;
        root.present()?;
    }
    Ok(out)
}

/// Why a chart has nothing to draw.
fn empty_reason(r: &Report, chart: &Chart) -> String {
    match (chart.id, r.source.kind) {
        ("scaling", "emf") => "Throttles and concurrent executions are published by Lambda in AWS/Lambda only; an \
                               execution environment cannot see them, so EMF files do not hold them. Make the \
                               report from CloudWatch to see this chart."
            .into(),
        _ => "No data for this chart in the window (see the questions not answered above).".into(),
    }
}

pub fn render(r: &Report) -> String {
    let start = chrono::DateTime::parse_from_rfc3339(&r.window.start).map_or(0, |d| d.timestamp());
    let end = chrono::DateTime::parse_from_rfc3339(&r.window.end).map_or(start + 1, |d| d.timestamp());
    let mut page = String::new();
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>lambda-lens report: {f}</title>\n<style>\
         body{{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1320px}}\
         h1{{font-size:22px;margin:0 0 4px}} .meta{{color:#555;margin:0 0 16px}}\
         table{{border-collapse:collapse;margin:8px 0 16px}} td,th{{padding:3px 12px 3px 0;text-align:left;vertical-align:top}}\
         th{{border-bottom:1px solid #ccc}} td.none{{color:#999}}\
         .rec{{border-left:4px solid #1f77b4;padding:6px 12px;background:#f4f8fb;margin:12px 0}}\
         .charts{{display:grid;grid-template-columns:repeat(2,640px);gap:16px}}\
         figure{{margin:0;border:1px solid #ddd;padding:8px;width:622px}} figcaption{{font-weight:600;margin-bottom:4px}}\
         .empty{{height:300px;display:flex;align-items:center;padding:0 24px;color:#666;background:#fafafa}}\
         li{{margin:2px 0}}</style></head><body>\n\
         <h1>lambda-lens report: {f}</h1>\n<p class=\"meta\">{src} · {s} to {e} · {p} s a point</p>\n",
        f = escape(&r.function),
        src = escape(&match r.source.kind {
            "emf" => format!("EMF files {}", r.source.files.join(", ")),
            _ => format!("CloudWatch {}", r.source.region.as_deref().unwrap_or("")),
        }),
        s = escape(&r.window.start),
        e = escape(&r.window.end),
        p = r.window.period_seconds,
    );
    page.push_str("<table><tr><th>question</th><th>answer</th></tr>\n");
    for (q, a) in rows(r) {
        match a {
            Some(a) => {
                let _ = writeln!(page, "<tr><td>{}</td><td>{}</td></tr>", escape(q), escape(&a));
            }
            None => {
                let _ = writeln!(
                    page,
                    "<tr><td>{}</td><td class=\"none\">not answered</td></tr>",
                    escape(q)
                );
            }
        }
    }
    page.push_str("</table>\n");
    let rec = recommendation_lines(r);
    if let Some((headline, rest)) = rec.split_first() {
        let _ = write!(page, "<div class=\"rec\"><b>Memory: {}</b>", escape(headline));
        for line in rest {
            let _ = write!(page, "<br>{}", escape(line));
        }
        page.push_str("</div>\n");
    }
    page.push_str("<div class=\"charts\">\n");
    for chart in CHARTS {
        let series: Vec<&Series> = r.series.iter().filter(|s| s.chart == chart.id).collect();
        let reference = match chart.id {
            "duration" => r
                .duration
                .timeout_ms
                .map(|t| (format!("timeout {} ms", number(t)), t)),
            "memory" => r
                .memory
                .size_mb
                .map(|m| (format!("memory size {} MB", number(m)), m)),
            _ => None,
        };
        let _ = write!(
            page,
            "<figure class=\"chart\" id=\"chart-{}\" data-series=\"{}\"><figcaption>{}</figcaption>",
            chart.id,
            series.len(),
            escape(chart.title)
        );
        let drawn = if series.is_empty() {
            None
        } else {
            svg(chart, &series, reference, (start, end)).ok()
        };
        match drawn {
            Some(svg) => page.push_str(&svg),
            None => {
                let _ = write!(
                    page,
                    "<div class=\"empty\">{}</div>",
                    escape(&empty_reason(r, chart))
                );
            }
        }
        page.push_str("</figure>\n");
    }
    page.push_str("</div>\n");
    if !r.unanswered.is_empty() {
        page.push_str("<h2>Not answered</h2><ul>\n");
        for u in &r.unanswered {
            let _ = writeln!(
                page,
                "<li><b>{}</b>: {}</li>",
                escape(&u.question),
                escape(&u.reason)
            );
        }
        page.push_str("</ul>\n");
    }
    if !r.notes.is_empty() {
        page.push_str("<h2>Notes</h2><ul>\n");
        for n in &r.notes {
            let _ = writeln!(page, "<li>{}</li>", escape(n));
        }
        page.push_str("</ul>\n");
    }
    page.push_str(
        "<p class=\"meta\">Made by lambda-lens-report. Charts drawn with plotters as inline SVG: no script, no \
         network.</p>\n</body></html>\n",
    );
    page
}
