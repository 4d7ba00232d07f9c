//! What is emitted and how: the metric selection, dimensions, output mode and prices.

use std::time::Duration;

use super::{Reader, vars};
use crate::emf::MAX_DIMENSION_KEYS;
use crate::metrics::selection::Selection;
use crate::metrics::{BUILT_IN_DIMENSIONS, OPT_IN_DIMENSIONS, catalogue};

const DEFAULT_FLUSH_INTERVAL_MS: u64 = 10_000;
const DEFAULT_KEEP_SLOWEST: usize = 3;
/// What `LAMBDA_LENS_METRICS` accepts, for its warnings.
const METRICS_ACCEPTED: &str = "group names (core, detail, resources, cost, extension), default, all and metric names, comma-separated, '-' to remove";

/// How invocations become EMF documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutputMode {
    /// One document per invocation, with every value.
    PerInvocation,
    /// Documents carrying many invocations' values (and their request ids).
    Batched,
    /// A document of its own for each notable invocation (errors, timeouts, out-of-memory
    /// kills, cold starts, cut-short ones) and for the slowest of each flush window; the values
    /// of every other invocation in aggregated documents, without request ids.
    Adaptive,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OutputConfig {
    pub(crate) metrics: Selection,
    /// Dimension sets, each a list of keys (built-in or static).
    pub(crate) dimension_sets: Vec<Vec<String>>,
    /// Dimensions the user sets, the same on every metric (e.g. `Service=checkout`).
    pub(crate) static_dimensions: Vec<(String, String)>,
    pub(crate) mode: OutputMode,
    /// Batched and adaptive modes: the longest a value waits before it is written.
    pub(crate) flush_interval: Duration,
    /// Adaptive mode: how many of the slowest ordinary invocations of each flush window get a
    /// document of their own.
    pub(crate) keep_slowest: usize,
    /// Batched mode: repeated values as `{"Values": [...], "Counts": [...]}`.
    pub(crate) compact_values: bool,
    /// `StorageResolution: 1` (one-second metrics, priced as high-resolution).
    pub(crate) high_resolution: bool,
    pub(crate) price_per_gb_second: Option<f64>,
    pub(crate) price_per_request: Option<f64>,
}

impl Default for OutputConfig {
    fn default() -> Self {
        Self {
            metrics: Selection::default_set(),
            dimension_sets: vec![vec!["FunctionName".to_owned()]],
            static_dimensions: Vec::new(),
            mode: OutputMode::Adaptive,
            flush_interval: Duration::from_millis(DEFAULT_FLUSH_INTERVAL_MS),
            keep_slowest: DEFAULT_KEEP_SLOWEST,
            compact_values: false,
            high_resolution: false,
            price_per_gb_second: None,
            price_per_request: None,
        }
    }
}

fn price(r: &mut Reader<'_>, name: &'static str) -> Option<f64> {
    let raw = r.get(name)?;
    match raw.parse::<f64>() {
        Ok(p) if p.is_finite() && p >= 0.0 => Some(p),
        _ => {
            r.warn(
                name,
                raw,
                "a non-negative number of US dollars",
                "the built-in price table",
            );
            None
        }
    }
}

/// CloudWatch dimension names and values: ASCII, not blank, names not starting with `:`.
fn valid_dimension(key: &str, value: &str) -> bool {
    let ok = |s: &str, max: usize| s.is_ascii() && !s.trim().is_empty() && s.len() <= max;
    ok(key, 255) && !key.starts_with(':') && ok(value, 1024)
}

fn static_dimensions(r: &mut Reader<'_>) -> Vec<(String, String)> {
    let Some(raw) = r.get(vars::STATIC_DIMENSIONS) else {
        return Vec::new();
    };
    let mut dims: Vec<(String, String)> = Vec::new();
    for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let parsed = pair
            .split_once('=')
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .filter(|(k, v)| {
                valid_dimension(k, v)
                    // The member Lambda's JSON log format reads a line's level from (any case:
                    // whether Lambda matches the key's case is not documented, class d).
                    && !k.eq_ignore_ascii_case(crate::emf::LEVEL_MEMBER)
                    && !BUILT_IN_DIMENSIONS.contains(&k.as_str())
                    && catalogue::by_name(k).is_none()
                    && !dims.iter().any(|(d, _)| d == k)
            });
        match parsed {
            Some(kv) => dims.push(kv),
            None => r.warn(
                vars::STATIC_DIMENSIONS,
                pair.to_owned(),
                "Key=Value pairs separated by commas (ASCII; a key that is not a built-in dimension, a metric name, level or a repeat)",
                "the other pairs",
            ),
        }
    }
    dims
}

fn dimension_sets(r: &mut Reader<'_>, statics: &[(String, String)]) -> Vec<Vec<String>> {
    let default = vec![vec!["FunctionName".to_owned()]];
    let Some(raw) = r.get(vars::DIMENSIONS) else {
        return default;
    };
    // An opt-in key (`TenantId`) is accepted here; the pipeline warns of its cost when built.
    let known = |k: &str| {
        BUILT_IN_DIMENSIONS.contains(&k)
            || OPT_IN_DIMENSIONS.contains(&k)
            || statics.iter().any(|(s, _)| s == k)
    };
    let mut sets: Vec<Vec<String>> = Vec::new();
    for set in raw.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        let keys: Vec<String> = set
            .split(',')
            .map(|k| k.trim().to_owned())
            .filter(|k| !k.is_empty())
            .collect();
        let ok = !keys.is_empty() && keys.len() <= MAX_DIMENSION_KEYS && keys.iter().all(|k| known(k));
        if ok && !sets.contains(&keys) {
            sets.push(keys);
        } else if !ok {
            r.warn(
                vars::DIMENSIONS,
                set.to_owned(),
                format!(
                    "sets separated by ';' of at most {MAX_DIMENSION_KEYS} keys separated by ',', from {}, {} (opt-in) or a static dimension",
                    BUILT_IN_DIMENSIONS.join(", "),
                    OPT_IN_DIMENSIONS.join(", ")
                ),
                "the other sets",
            );
        }
    }
    if sets.is_empty() { default } else { sets }
}

pub(super) fn read(r: &mut Reader<'_>) -> OutputConfig {
    let metrics = match r.get(vars::METRICS) {
        None => Selection::default_set(),
        Some(raw) => {
            let (selection, unknown) = Selection::parse(&raw);
            if selection.is_empty() {
                // A selection of nothing would leave the extension running and writing nothing,
                // which looks like a working setup until a dashboard is needed: the default set
                // is written instead, with a warning (to write no metrics, leave the layer out).
                let unknown = if unknown.is_empty() {
                    String::new()
                } else {
                    format!("; {} named nothing", unknown.join(","))
                };
                r.warn(
                    vars::METRICS,
                    raw,
                    format!("a list that selects at least one metric (this one selects no metric{unknown}): {METRICS_ACCEPTED}"),
                    "the default set",
                );
                Selection::default_set()
            } else {
                if !unknown.is_empty() {
                    r.warn(
                        vars::METRICS,
                        unknown.join(","),
                        METRICS_ACCEPTED,
                        "the rest of the list",
                    );
                }
                selection
            }
        }
    };
    let static_dimensions = static_dimensions(r);
    let dimension_sets = dimension_sets(r, &static_dimensions);
    let mode = match r.get(vars::OUTPUT) {
        None => OutputMode::Adaptive,
        Some(raw) => match raw.to_ascii_lowercase().as_str() {
            "adaptive" => OutputMode::Adaptive,
            "per-invocation" | "invocation" => OutputMode::PerInvocation,
            "batched" | "batch" => OutputMode::Batched,
            _ => {
                r.warn(
                    vars::OUTPUT,
                    raw,
                    "adaptive, per-invocation or batched",
                    "adaptive",
                );
                OutputMode::Adaptive
            }
        },
    };
    let flush_interval =
        Duration::from_millis(r.int_in(vars::FLUSH_INTERVAL_MS, 100, 900_000, DEFAULT_FLUSH_INTERVAL_MS));
    let keep_slowest = r.int_in(vars::KEEP_SLOWEST, 0, 100, DEFAULT_KEEP_SLOWEST);
    OutputConfig {
        metrics,
        dimension_sets,
        static_dimensions,
        mode,
        flush_interval,
        keep_slowest,
        compact_values: r.flag(vars::COMPACT_VALUES),
        high_resolution: r.flag(vars::HIGH_RESOLUTION),
        price_per_gb_second: price(r, vars::PRICE_PER_GB_SECOND),
        price_per_request: price(r, vars::PRICE_PER_REQUEST),
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use super::*;

    fn output(vars: &[(&str, &str)]) -> (OutputConfig, Vec<String>) {
        let (c, w) = Config::from_pairs(vars);
        (c.output, w.into_iter().map(|w| w.variable.to_owned()).collect())
    }

    #[test]
    fn defaults() {
        let (o, w) = output(&[]);
        assert!(w.is_empty());
        assert_eq!(o, OutputConfig::default());
    }

    #[test]
    fn dimensions_static_and_sets() {
        let (o, w) = output(&[
            ("LAMBDA_LENS_STATIC_DIMENSIONS", "Service=checkout, Stage=prod"),
            (
                "LAMBDA_LENS_DIMENSIONS",
                "FunctionName; FunctionName,ColdStart; Service,Stage",
            ),
        ]);
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(
            o.static_dimensions,
            [
                ("Service".to_owned(), "checkout".to_owned()),
                ("Stage".to_owned(), "prod".to_owned())
            ]
        );
        assert_eq!(o.dimension_sets.len(), 3);
        assert_eq!(o.dimension_sets[1], ["FunctionName", "ColdStart"]);
    }

    #[test]
    fn tenant_id_is_a_dimension_only_when_asked_for() {
        let default = OutputConfig::default();
        assert!(!default.dimension_sets.iter().flatten().any(|k| k == "TenantId"));
        let (o, w) = output(&[("LAMBDA_LENS_DIMENSIONS", "FunctionName; FunctionName,TenantId")]);
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(o.dimension_sets[1], ["FunctionName", "TenantId"]);
    }

    #[test]
    fn bad_dimensions_are_dropped_with_a_warning() {
        let (o, w) = output(&[
            (
                "LAMBDA_LENS_STATIC_DIMENSIONS",
                "Service=checkout,RequestId,FunctionName=x,Duration=1",
            ),
            ("LAMBDA_LENS_DIMENSIONS", "RequestId;FunctionName,Nope"),
        ]);
        assert_eq!(o.static_dimensions.len(), 1);
        assert_eq!(
            o.dimension_sets,
            [["FunctionName"]],
            "falls back to the default set"
        );
        assert_eq!(
            w.iter().filter(|v| *v == "LAMBDA_LENS_STATIC_DIMENSIONS").count(),
            3
        );
        assert_eq!(w.iter().filter(|v| *v == "LAMBDA_LENS_DIMENSIONS").count(), 2);
    }

    #[test]
    fn a_set_over_cloudwatchs_key_limit_is_refused_at_start_up() {
        let over = MAX_DIMENSION_KEYS + 1;
        let statics: Vec<String> = (0..over).map(|i| format!("K{i}=v")).collect();
        let keys: Vec<String> = (0..over).map(|i| format!("K{i}")).collect();
        let (o, w) = output(&[
            ("LAMBDA_LENS_STATIC_DIMENSIONS", &statics.join(",")),
            ("LAMBDA_LENS_DIMENSIONS", &keys.join(",")),
        ]);
        assert_eq!(o.dimension_sets, [["FunctionName"]]);
        assert!(w.contains(&"LAMBDA_LENS_DIMENSIONS".to_owned()));
    }

    #[test]
    fn mode_flags_and_prices() {
        let (o, w) = output(&[
            ("LAMBDA_LENS_OUTPUT", "Batched"),
            ("LAMBDA_LENS_FLUSH_INTERVAL_MS", "5000"),
            ("LAMBDA_LENS_COMPACT_VALUES", "yes"),
            ("LAMBDA_LENS_HIGH_RESOLUTION", "maybe"),
            ("LAMBDA_LENS_PRICE_PER_GB_SECOND", "0.00002"),
            ("LAMBDA_LENS_PRICE_PER_REQUEST", "-1"),
            ("LAMBDA_LENS_METRICS", "core,nonsense"),
        ]);
        assert_eq!(o.mode, OutputMode::Batched);
        assert_eq!(o.flush_interval, Duration::from_secs(5));
        assert!(o.compact_values);
        assert!(!o.high_resolution);
        assert_eq!(o.price_per_gb_second, Some(0.00002));
        assert_eq!(o.price_per_request, None);
        assert!(o.metrics.contains(&catalogue::DURATION) && !o.metrics.contains(&catalogue::ESTIMATED_COST));
        assert_eq!(
            w,
            [
                "LAMBDA_LENS_METRICS",
                "LAMBDA_LENS_HIGH_RESOLUTION",
                "LAMBDA_LENS_PRICE_PER_REQUEST"
            ]
        );
    }
}
