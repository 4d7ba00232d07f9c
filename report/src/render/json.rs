//! `--json`: the report model as JSON (the shape is documented in `docs/report.md`).

use crate::model::Report;

pub fn render(report: &Report) -> String {
    // A model of plain numbers, strings and lists always serialises.
    serde_json::to_string_pretty(report).unwrap_or_default()
}
