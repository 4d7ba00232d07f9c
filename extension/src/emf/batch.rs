//! Batched output: many invocations' values in one document, to cut log volume.
//!
//! An EMF document has one timestamp, so a batch holds only values of one minute (one second
//! with high resolution) and one set of per-record dimension values. A batch is written when a
//! metric's array is full (100 values, or 100 distinct values in the compact form), when its
//! oldest value has waited the flush interval, and at shutdown.

use std::collections::VecDeque;

use super::{Dimension, EncodeStats, MAX_VALUES_PER_METRIC, Property, Sample};
use crate::metrics::{MetricDef, MetricRecord};

/// Open batches at once (distinct minutes × dimension values); beyond that the oldest is written.
const MAX_OPEN_BATCHES: usize = 16;
/// Request ids listed in a batch's `RequestIds` property; the rest are counted.
const MAX_REQUEST_IDS: usize = 100;

#[derive(Debug, Clone, PartialEq)]
enum Series {
    Raw(Vec<f64>),
    /// Distinct values with how often each occurred.
    Compact(Vec<(f64, u64)>),
}

impl Series {
    fn accepts(&self, value: f64) -> bool {
        match self {
            Self::Raw(v) => v.len() < MAX_VALUES_PER_METRIC,
            Self::Compact(vc) => vc.len() < MAX_VALUES_PER_METRIC || vc.iter().any(|(v, _)| *v == value),
        }
    }

    fn push(&mut self, value: f64) {
        match self {
            Self::Raw(v) => v.push(value),
            Self::Compact(vc) => match vc.iter_mut().find(|(v, _)| *v == value) {
                Some((_, count)) => *count += 1,
                None => vc.push((value, 1)),
            },
        }
    }
}

/// Values of several invocations that share a minute and dimension values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Aggregate {
    bucket: i64,
    timestamp_ms: i64,
    dimensions: Vec<(&'static str, Dimension)>,
    series: Vec<(&'static MetricDef, Series)>,
    /// Batched mode lists the request ids; adaptive mode does not.
    lists_request_ids: bool,
    request_ids: Vec<String>,
    invocations: u64,
    /// When the batch was opened, on the caller's monotonic clock.
    opened_at: u64,
}

impl Aggregate {
    pub(super) fn timestamp_ms(&self) -> i64 {
        self.timestamp_ms
    }

    pub(super) fn dimensions(&self) -> &[(&'static str, Dimension)] {
        &self.dimensions
    }

    #[cfg(test)]
    pub(crate) fn invocations(&self) -> u64 {
        self.invocations
    }

    /// Each metric's values; those not finite are counted here and left out as they are
    /// written (a metric with none left is not written).
    pub(super) fn values(&self, stats: &mut EncodeStats) -> Vec<(&'static MetricDef, Sample<'_>)> {
        self.series
            .iter()
            .filter_map(|(def, series)| {
                let (sample, total, finite) = match series {
                    Series::Raw(values) => (
                        Sample::Many(values),
                        values.len(),
                        values.iter().filter(|v| v.is_finite()).count(),
                    ),
                    Series::Compact(pairs) => (
                        Sample::Counted(pairs),
                        pairs.len(),
                        pairs.iter().filter(|(v, _)| v.is_finite()).count(),
                    ),
                };
                stats.non_finite_dropped += (total - finite) as u64;
                (finite > 0).then_some((*def, sample))
            })
            .collect()
    }

    pub(super) fn properties(&self) -> impl Iterator<Item = (&'static str, Property<'_>)> + Clone {
        let omitted = self.invocations.saturating_sub(self.request_ids.len() as u64);
        let ids = self.lists_request_ids.then_some(self.request_ids.as_slice());
        [
            Some(("Invocations", Property::Count(self.invocations))),
            ids.map(|ids| ("RequestIds", Property::Texts(ids))),
            ids.filter(|_| omitted > 0)
                .map(|_| ("RequestIdsOmitted", Property::Count(omitted))),
        ]
        .into_iter()
        .flatten()
    }

    fn fits(&self, record: &MetricRecord) -> bool {
        record.values.iter().all(|(def, value)| {
            self.series
                .iter()
                .find(|(d, _)| std::ptr::eq(*d, *def))
                .is_none_or(|(_, s)| s.accepts(*value))
        })
    }

    fn add(&mut self, record: &MetricRecord, compact: bool) {
        for (def, value) in &record.values {
            match self.series.iter_mut().find(|(d, _)| std::ptr::eq(*d, *def)) {
                Some((_, series)) => series.push(*value),
                None => {
                    let mut series = if compact {
                        Series::Compact(Vec::new())
                    } else {
                        Series::Raw(Vec::new())
                    };
                    series.push(*value);
                    self.series.push((*def, series));
                }
            }
        }
        self.timestamp_ms = self.timestamp_ms.min(record.timestamp_ms);
        self.invocations += 1;
        if self.lists_request_ids
            && self.request_ids.len() < MAX_REQUEST_IDS
            && let Some(id) = record.property_text("RequestId")
        {
            self.request_ids.push(id.to_owned());
        }
    }
}

/// Collects invocation records into batches and says when each is due.
#[derive(Debug)]
pub(crate) struct Batcher {
    compact: bool,
    /// List the request ids of each aggregate (batched mode; not adaptive mode, where the
    /// invocations worth finding have documents of their own).
    request_ids: bool,
    bucket_ms: i64,
    max_age_ms: u64,
    open: VecDeque<Aggregate>,
}

impl Batcher {
    pub(crate) fn new(compact: bool, request_ids: bool, high_resolution: bool, max_age_ms: u64) -> Self {
        Self {
            compact,
            request_ids,
            bucket_ms: if high_resolution { 1_000 } else { 60_000 },
            max_age_ms,
            open: VecDeque::new(),
        }
    }

    /// Adds one record; pushes any batch it completes (or pushes out) onto `out`.
    pub(crate) fn add(&mut self, record: &MetricRecord, now: u64, out: &mut Vec<Aggregate>) {
        if record.values.is_empty() {
            return;
        }
        let bucket = record.timestamp_ms.div_euclid(self.bucket_ms);
        let position = self
            .open
            .iter()
            .position(|b| b.bucket == bucket && b.dimensions == record.dimensions);
        let index = match position {
            Some(i) if self.open.get(i).is_some_and(|b| b.fits(record)) => i,
            found => {
                if let Some(full) = found.and_then(|i| self.open.remove(i)) {
                    out.push(full);
                }
                if self.open.len() >= MAX_OPEN_BATCHES
                    && let Some(oldest) = self.open.pop_front()
                {
                    out.push(oldest);
                }
                self.open.push_back(Aggregate {
                    bucket,
                    timestamp_ms: record.timestamp_ms,
                    dimensions: record.dimensions.clone(),
                    series: Vec::new(),
                    lists_request_ids: self.request_ids,
                    request_ids: Vec::new(),
                    invocations: 0,
                    opened_at: now,
                });
                self.open.len() - 1
            }
        };
        if let Some(batch) = self.open.get_mut(index) {
            batch.add(record, self.compact);
        }
    }

    /// Pushes every batch whose oldest value has waited `max_age_ms` by `now`.
    pub(crate) fn due(&mut self, now: u64, out: &mut Vec<Aggregate>) {
        let max_age = self.max_age_ms;
        let (due, keep): (Vec<Aggregate>, Vec<Aggregate>) = self
            .open
            .drain(..)
            .partition(|b| now >= b.opened_at.saturating_add(max_age));
        out.extend(due);
        self.open = keep.into();
    }

    pub(crate) fn flush_all(&mut self, out: &mut Vec<Aggregate>) {
        out.extend(self.open.drain(..));
    }

    /// When the oldest open batch is due.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        self.open
            .iter()
            .map(|b| b.opened_at.saturating_add(self.max_age_ms))
            .min()
    }
}

#[cfg(test)]
mod tests;
