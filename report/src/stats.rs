//! Statistics over weighted samples, as CloudWatch computes them from `Values`/`Counts`.
//!
//! Percentiles interpolate linearly between the two nearest ranks, as if each value appeared
//! `count` times (the "linear" method of numpy, which the local CloudWatch used in the tests,
//! ministack, also uses). CloudWatch itself answers percentiles from a sketch, so on real data
//! the two can differ in the last digits.

use serde::Serialize;

/// A statistic of a metric, named as `GetMetricData` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Stat {
    Sum,
    Maximum,
    Average,
    SampleCount,
    /// A percentile, in percent (50, 90, 99).
    P(u8),
}

impl Stat {
    /// The name `GetMetricData` takes (`Sum`, `p99`).
    pub fn name(self) -> String {
        match self {
            Self::Sum => "Sum".into(),
            Self::Maximum => "Maximum".into(),
            Self::Average => "Average".into(),
            Self::SampleCount => "SampleCount".into(),
            Self::P(p) => format!("p{p}"),
        }
    }
}

/// One value seen `count` times.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub value: f64,
    pub count: f64,
}

/// The statistic of `samples`; `None` when there are none (or only zero counts).
pub fn compute(stat: Stat, samples: &[Sample]) -> Option<f64> {
    let samples: Vec<Sample> = samples
        .iter()
        .copied()
        .filter(|s| s.count > 0.0 && s.value.is_finite())
        .collect();
    if samples.is_empty() {
        return None;
    }
    let count: f64 = samples.iter().map(|s| s.count).sum();
    let sum: f64 = samples.iter().map(|s| s.value * s.count).sum();
    Some(match stat {
        Stat::Sum => sum,
        Stat::SampleCount => count,
        Stat::Average => sum / count,
        Stat::Maximum => samples.iter().map(|s| s.value).fold(f64::NEG_INFINITY, f64::max),
        Stat::P(p) => percentile(samples, f64::from(p), count),
    })
}

fn percentile(mut samples: Vec<Sample>, pct: f64, total: f64) -> f64 {
    samples.sort_by(|a, b| a.value.total_cmp(&b.value));
    let rank = if total > 1.0 {
        pct / 100.0 * (total - 1.0)
    } else {
        0.0
    };
    let at = |index: f64| {
        let mut seen = 0.0;
        for s in &samples {
            seen += s.count;
            if index < seen {
                return s.value;
            }
        }
        samples.last().map_or(0.0, |s| s.value)
    };
    let lower = rank.floor();
    let frac = rank - lower;
    let low = at(lower);
    if frac > 0.0 {
        low + frac * (at(lower + 1.0) - low)
    } else {
        low
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ones(values: &[f64]) -> Vec<Sample> {
        values.iter().map(|&value| Sample { value, count: 1.0 }).collect()
    }

    #[test]
    fn percentiles_interpolate_between_ranks() {
        let s = ones(&[4.0, 1.0, 3.0, 2.0]);
        assert_eq!(compute(Stat::P(50), &s), Some(2.5));
        assert_eq!(compute(Stat::P(99), &s).map(|v| (v * 100.0).round()), Some(397.0));
        assert_eq!(compute(Stat::Maximum, &s), Some(4.0));
        assert_eq!(compute(Stat::Sum, &s), Some(10.0));
        assert_eq!(compute(Stat::SampleCount, &s), Some(4.0));
        assert_eq!(compute(Stat::Average, &s), Some(2.5));
    }

    #[test]
    fn counts_weigh_like_repeated_values() {
        let weighted = [
            Sample {
                value: 1.0,
                count: 3.0,
            },
            Sample {
                value: 9.0,
                count: 1.0,
            },
        ];
        let repeated = ones(&[1.0, 1.0, 1.0, 9.0]);
        for stat in [Stat::P(50), Stat::P(90), Stat::P(99), Stat::Sum, Stat::Average] {
            assert_eq!(compute(stat, &weighted), compute(stat, &repeated), "{stat:?}");
        }
    }

    #[test]
    fn nothing_gives_none() {
        assert_eq!(compute(Stat::Sum, &[]), None);
        assert_eq!(
            compute(
                Stat::P(50),
                &[Sample {
                    value: 1.0,
                    count: 0.0
                }]
            ),
            None
        );
    }
}
