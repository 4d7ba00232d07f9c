//! `--json`: the report model as JSON (the shape is documented in `docs/report.md`).

use crate::model::Report;

pub fn render(report: &Report) -> String {
    // A model of plain numbers, strings and lists always serialises.
    serde_json::to_string_pretty(report).unwrap_or_default()
}

/// A count as a JSON integer (`12`, not `12.0`); a value that is not whole stays a number.
///
/// # Errors
/// The serializer's.
#[allow(
    clippy::ref_option,
    reason = "serde's serialize_with passes the field by reference"
)]
pub fn count<S: serde::Serializer>(value: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match *value {
        #[allow(
            clippy::cast_possible_truncation,
            reason = "whole and within the range where f64 holds every integer"
        )]
        Some(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => s.serialize_i64(n as i64),
        Some(n) => s.serialize_f64(n),
        None => s.serialize_none(),
    }
}

/// [`count`] for a count that is always there.
///
/// # Errors
/// The serializer's.
#[allow(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's serialize_with passes the field by reference"
)]
pub fn whole<S: serde::Serializer>(value: &f64, s: S) -> Result<S::Ok, S::Error> {
    count(&Some(*value), s)
}
