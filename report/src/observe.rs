//! What a source observed: the statistics the report needs, over the whole window and per
//! period, keyed by namespace, metric and statistic. Every source answers the same list
//! ([`SUMMARY`], [`SERIES`]); the report is built from this alone.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::stats::Stat;

/// Which namespace a metric is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Ns {
    /// `AWS/Lambda`, published by Lambda itself.
    Lambda,
    /// lambda-lens's namespace (`LambdaLens` unless configured).
    Lens,
}

/// One statistic of one metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub ns: Ns,
    pub metric: &'static str,
    pub stat: Stat,
}

const fn key(ns: Ns, metric: &'static str, stat: Stat) -> Key {
    Key { ns, metric, stat }
}

use Ns::{Lambda, Lens};
use Stat::{Average, Maximum, P, SampleCount, Sum};

/// The statistics over the whole window.
pub const SUMMARY: &[Key] = &[
    key(Lambda, "Invocations", Sum),
    key(Lambda, "Errors", Sum),
    key(Lambda, "Duration", P(50)),
    key(Lambda, "Duration", P(90)),
    key(Lambda, "Duration", P(99)),
    key(Lambda, "Duration", Maximum),
    key(Lambda, "Duration", Sum),
    key(Lambda, "Throttles", Sum),
    key(Lambda, "ConcurrentExecutions", Maximum),
    key(Lambda, "IteratorAge", Maximum),
    key(Lambda, "PostRuntimeExtensionsDuration", Average),
    key(Lambda, "PostRuntimeExtensionsDuration", P(99)),
    key(Lambda, "PostRuntimeExtensionsDuration", Maximum),
    key(Lens, "Invocations", Sum),
    key(Lens, "Errors", Sum),
    key(Lens, "Timeouts", Sum),
    key(Lens, "OutOfMemory", Sum),
    key(Lens, "ColdStarts", Sum),
    key(Lens, "ColdStarts", SampleCount),
    key(Lens, "InitDuration", P(50)),
    key(Lens, "InitDuration", P(99)),
    key(Lens, "RestoreDuration", SampleCount),
    key(Lens, "RestoreDuration", P(50)),
    key(Lens, "RestoreDuration", Maximum),
    key(Lens, "MaxMemoryUsed", P(99)),
    key(Lens, "MaxMemoryUsed", Maximum),
    key(Lens, "MemoryUtilization", P(99)),
    key(Lens, "MemoryUtilization", Maximum),
    key(Lens, "MemorySize", Maximum),
    key(Lens, "EstimatedCost", Sum),
    key(Lens, "Duration", P(50)),
    key(Lens, "Duration", P(90)),
    key(Lens, "Duration", P(99)),
    key(Lens, "Duration", Maximum),
    key(Lens, "Duration", Sum),
    key(Lens, "PostRuntimeDuration", Average),
    key(Lens, "PostRuntimeDuration", P(99)),
    key(Lens, "PostRuntimeDuration", Maximum),
];

/// The statistics per period, for the charts.
pub const SERIES: &[Key] = &[
    key(Lambda, "Invocations", Sum),
    key(Lambda, "Errors", Sum),
    key(Lambda, "Duration", P(50)),
    key(Lambda, "Duration", P(90)),
    key(Lambda, "Duration", P(99)),
    key(Lambda, "Duration", Maximum),
    key(Lambda, "Throttles", Sum),
    key(Lambda, "ConcurrentExecutions", Maximum),
    key(Lens, "Invocations", Sum),
    key(Lens, "Errors", Sum),
    key(Lens, "Timeouts", Sum),
    key(Lens, "Duration", P(50)),
    key(Lens, "Duration", P(90)),
    key(Lens, "Duration", P(99)),
    key(Lens, "Duration", Maximum),
    key(Lens, "MaxMemoryUsed", P(99)),
    key(Lens, "MaxMemoryUsed", Maximum),
    key(Lens, "ColdStarts", Sum),
];

/// The time window of a report: `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Window {
    pub fn seconds(&self) -> i64 {
        (self.end - self.start).num_seconds().max(1)
    }
}

/// A metric some invocations carry and others do not (EMF in adaptive or batched mode carries
/// only the selected metrics for the invocations it aggregates).
#[derive(Debug, Clone, PartialEq)]
pub struct Coverage {
    pub metric: &'static str,
    pub invocations_with_value: f64,
    pub invocations: f64,
}

/// What a source answered.
#[derive(Debug, Clone, Default)]
pub struct Observations {
    pub summary: BTreeMap<Key, f64>,
    /// Per period: (start of the period in epoch seconds, value), in time order.
    pub series: BTreeMap<Key, Vec<(i64, f64)>>,
    /// The period of the series, in seconds.
    pub period_seconds: i64,
    /// Whether lambda-lens's namespace had any data for the function in the window.
    pub lens_data: bool,
    /// Whether `AWS/Lambda` had any; `None` when the source cannot hold it (EMF files).
    pub lambda_data: Option<bool>,
    /// Metrics (of [`SUMMARY`]) that only some invocations carry.
    pub coverage: Vec<Coverage>,
    /// The memory size, when the source says it directly (the EMF `MemorySizeMB` property).
    pub memory_size_mb: Option<f64>,
    /// What the source said beside the figures (a result CloudWatch could not compute whole).
    pub notes: Vec<String>,
}

impl Observations {
    pub fn get(&self, ns: Ns, metric: &'static str, stat: Stat) -> Option<f64> {
        self.summary.get(&key(ns, metric, stat)).copied()
    }

    pub fn series(&self, ns: Ns, metric: &'static str, stat: Stat) -> &[(i64, f64)] {
        self.series.get(&key(ns, metric, stat)).map_or(&[], Vec::as_slice)
    }
}

/// The shortest period CloudWatch answers `GetMetricData` with for data from `start`, asked at
/// `now` (a: GetMetricData's API reference): a multiple of 60 s up to 15 days back, of 300 s up
/// to 63 days back, of 3600 s beyond (it keeps 1-minute points 15 days, 5-minute points 63
/// days, hourly ones 15 months); a shorter period returns no data point at all.
pub fn shortest_period(start: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    let age = now - start;
    if age > chrono::Duration::days(63) {
        3600
    } else if age > chrono::Duration::days(15) {
        300
    } else {
        60
    }
}

/// One period over the whole window: its length rounded up to a multiple of `min` (the
/// shortest period CloudWatch answers for it, [`shortest_period`]).
pub fn whole_period(window: &Window, min: i64) -> i64 {
    let min = min.max(1);
    (window.seconds() + min - 1) / min * min
}

/// The period of the series for a window: about 60 to 120 points, at least `min` seconds,
/// a multiple of `min`.
pub fn series_period(window: &Window, min: i64) -> i64 {
    let raw = (window.seconds() + 59) / 60;
    let min = min.max(1);
    (raw.max(min) + min - 1) / min * min
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    /// A window that starts 20 days back is read in 5-minute periods, 70 days back in hours,
    /// whatever its length: CloudWatch answers a 1-minute period there with no data point.
    #[test]
    fn old_windows_take_the_periods_cloudwatch_keeps() {
        let now = at("2026-12-01T12:00:00Z");
        let day = Window {
            start: at("2026-11-11T12:00:00Z"),
            end: at("2026-11-12T12:00:30Z"),
        };
        assert_eq!(shortest_period(day.start, now), 300);
        assert_eq!(whole_period(&day, 300), 86_700);
        assert_eq!(series_period(&day, 300) % 300, 0);
        let old = Window {
            start: at("2026-09-01T00:00:00Z"),
            end: at("2026-09-01T01:30:00Z"),
        };
        assert_eq!(shortest_period(old.start, now), 3600);
        assert_eq!(whole_period(&old, 3600), 7200);
        assert_eq!(series_period(&old, 3600), 3600);
        let recent = Window {
            start: at("2026-11-30T12:00:00Z"),
            end: now,
        };
        assert_eq!(shortest_period(recent.start, now), 60);
        assert_eq!(whole_period(&recent, 60), 86_400);
        assert_eq!(
            shortest_period(at("2026-11-16T12:00:00Z"), now),
            60,
            "15 days exactly"
        );
    }
}
