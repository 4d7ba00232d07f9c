//! Adaptive output: the slowest ordinary invocations of each flush window keep a document of
//! their own (so the outliers can be found by request id); the others go to the aggregates.
//! At most `keep` records are held, whatever the rate.

use crate::metrics::MetricRecord;

#[derive(Debug)]
pub(crate) struct Slowest {
    keep: usize,
    window_ms: u64,
    /// When the current window took its first record, on the caller's monotonic clock.
    opened_at: Option<u64>,
    /// The slowest so far in this window, with their durations.
    kept: Vec<(f64, MetricRecord)>,
}

impl Slowest {
    pub(crate) fn new(keep: usize, window_ms: u64) -> Self {
        Self {
            keep,
            window_ms,
            opened_at: None,
            kept: Vec::with_capacity(keep),
        }
    }

    /// Offers an ordinary invocation's record, ranked by its duration. Returns the record that
    /// goes to the aggregates instead: the offered one, or a faster one it displaced. A record
    /// without a duration is never kept.
    pub(crate) fn offer(
        &mut self,
        record: MetricRecord,
        duration_ms: Option<f64>,
        now: u64,
    ) -> Option<MetricRecord> {
        let Some(duration) = duration_ms.filter(|d| d.is_finite()) else {
            return Some(record);
        };
        if self.keep == 0 {
            return Some(record);
        }
        self.opened_at.get_or_insert(now);
        if self.kept.len() < self.keep {
            self.kept.push((duration, record));
            return None;
        }
        match self.kept.iter_mut().min_by(|a, b| a.0.total_cmp(&b.0)) {
            Some(fastest) if fastest.0 < duration => Some(std::mem::replace(fastest, (duration, record)).1),
            _ => Some(record),
        }
    }

    /// Pushes the window's records onto `out` once the window has lasted `window_ms`.
    pub(crate) fn due(&mut self, now: u64, out: &mut Vec<MetricRecord>) {
        if self.next_deadline().is_some_and(|at| now >= at) {
            self.flush_all(out);
        }
    }

    /// Pushes the window's records onto `out`, marked notable: each gets a document of its own.
    pub(crate) fn flush_all(&mut self, out: &mut Vec<MetricRecord>) {
        out.extend(self.kept.drain(..).map(|(_, mut record)| {
            record.notable = true;
            record
        }));
        self.opened_at = None;
    }

    /// When the current window ends.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        self.opened_at.map(|at| at.saturating_add(self.window_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::RecordKind;

    fn record(id: &str) -> MetricRecord {
        let mut r = MetricRecord::new(RecordKind::Invocation, 0);
        r.text("RequestId", Some(id));
        r
    }

    fn id(r: &MetricRecord) -> &str {
        r.property_text("RequestId").unwrap()
    }

    #[test]
    fn keeps_the_slowest_and_hands_back_the_rest() {
        let mut s = Slowest::new(2, 1_000);
        assert!(s.offer(record("a"), Some(10.0), 0).is_none());
        assert!(s.offer(record("b"), Some(30.0), 1).is_none());
        assert_eq!(
            id(&s.offer(record("c"), Some(5.0), 2).unwrap()),
            "c",
            "faster than both"
        );
        assert_eq!(
            id(&s.offer(record("d"), Some(20.0), 3).unwrap()),
            "a",
            "displaces the fastest"
        );
        assert_eq!(
            id(&s.offer(record("e"), None, 4).unwrap()),
            "e",
            "no duration, not ranked"
        );
        let mut out = Vec::new();
        s.due(999, &mut out);
        assert!(out.is_empty());
        assert_eq!(s.next_deadline(), Some(1_000));
        s.due(1_000, &mut out);
        let mut ids: Vec<&str> = out.iter().map(id).collect();
        ids.sort_unstable();
        assert_eq!(ids, ["b", "d"]);
        assert!(out.iter().all(|r| r.notable), "each gets a document of its own");
        assert_eq!(
            s.next_deadline(),
            None,
            "a new window starts with the next record"
        );
    }

    #[test]
    fn keeping_none_hands_everything_back() {
        let mut s = Slowest::new(0, 1_000);
        assert!(s.offer(record("a"), Some(10.0), 0).is_some());
        assert_eq!(s.next_deadline(), None);
    }
}
