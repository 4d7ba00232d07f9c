//! The default output: one line per question, then the recommendation, what could not be
//! answered and why, and the notes.

use std::fmt::Write as _;

use crate::model::Report;
use crate::render::{recommendation_lines, rows};

pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let source = match r.source.kind {
        "emf" => format!(
            "EMF files {} (namespace {})",
            r.source.files.join(", "),
            r.source.namespace
        ),
        _ => format!(
            "CloudWatch {} (AWS/Lambda and {})",
            r.source.region.as_deref().unwrap_or("?"),
            r.source.namespace
        ),
    };
    let _ = writeln!(out, "lambda-lens report for {}", r.function);
    let _ = writeln!(out, "source: {source}");
    let _ = writeln!(
        out,
        "window: {} to {} (charts: {} s a point)\n",
        r.window.start, r.window.end, r.window.period_seconds
    );
    let rows = rows(r);
    let width = rows.iter().map(|(q, _)| q.len()).max().unwrap_or(0);
    let _ = writeln!(out, "{:width$}  answer", "question");
    let _ = writeln!(out, "{}", "-".repeat(width + 50));
    for (question, answer) in &rows {
        let _ = writeln!(out, "{question:width$}  {}", answer.as_deref().unwrap_or("-"));
    }
    let rec = recommendation_lines(r);
    if let Some((headline, rest)) = rec.split_first() {
        let _ = writeln!(out, "\nmemory recommendation: {headline}");
        for line in rest {
            let _ = writeln!(out, "  {line}");
        }
    }
    if !r.unanswered.is_empty() {
        let _ = writeln!(out, "\nnot answered:");
        for u in &r.unanswered {
            let _ = writeln!(out, "  {}: {}", u.question, u.reason);
        }
    }
    if !r.notes.is_empty() {
        let _ = writeln!(out, "\nnotes:");
        for n in &r.notes {
            let _ = writeln!(out, "  {n}");
        }
    }
    out
}
