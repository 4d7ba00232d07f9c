//! A subscriber's queue and its batching rules: pure logic, no I/O.

use std::collections::VecDeque;
use std::time::Instant;

use super::Buffering;
use crate::telemetry::records::TelemetryRecord;

struct Queued {
    record: TelemetryRecord,
    bytes: usize,
    at: Instant,
}

/// What a queue's task should do now.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Due {
    /// Nothing queued.
    Empty,
    /// Send a batch now.
    Now,
    /// Send at this instant unless something changes.
    At(Instant),
}

/// A subscriber's queue: pure logic, no I/O.
#[derive(Default)]
pub(super) struct SubQueue {
    items: VecDeque<Queued>,
    bytes: usize,
    dropped_records: u64,
    dropped_bytes: u64,
    flush: bool,
}

impl SubQueue {
    /// Records queued.
    pub(super) fn len(&self) -> usize {
        self.items.len()
    }

    /// Sends what is queued without waiting for `timeoutMs`.
    pub(super) fn request_flush(&mut self) {
        self.flush = true;
    }

    /// Queues a record, or drops it (and counts it) when `limit` records are already queued.
    pub(super) fn push(&mut self, record: TelemetryRecord, now: Instant, limit: usize) -> bool {
        let bytes = record.to_json().to_string().len() + 1;
        if self.items.len() >= limit {
            self.dropped_records += 1;
            self.dropped_bytes += bytes as u64;
            return false;
        }
        self.bytes += bytes;
        self.items.push_back(Queued {
            record,
            bytes,
            at: now,
        });
        true
    }

    pub(super) fn due(&self, now: Instant, b: &Buffering) -> Due {
        let Some(oldest) = self.items.front() else {
            return if self.dropped_records > 0 {
                Due::Now
            } else {
                Due::Empty
            };
        };
        if self.flush || self.items.len() >= b.max_items || self.bytes >= b.max_bytes {
            return Due::Now;
        }
        let at = oldest.at + b.timeout;
        if at <= now { Due::Now } else { Due::At(at) }
    }

    /// Takes up to `maxItems` records and about `maxBytes` (at least one record), plus the
    /// counts of records dropped since the last batch.
    pub(super) fn take_batch(&mut self, b: &Buffering) -> (Vec<TelemetryRecord>, u64, u64) {
        let mut out = Vec::new();
        let mut bytes = 0;
        while let Some(front) = self.items.front() {
            if !out.is_empty() && (out.len() >= b.max_items || bytes + front.bytes > b.max_bytes) {
                break;
            }
            let Some(q) = self.items.pop_front() else { break };
            bytes += q.bytes;
            self.bytes -= q.bytes;
            out.push(q.record);
        }
        if self.items.is_empty() {
            self.flush = false;
        }
        let dropped = (self.dropped_records, self.dropped_bytes);
        self.dropped_records = 0;
        self.dropped_bytes = 0;
        (out, dropped.0, dropped.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use serde_json::json;
    use std::time::Duration;

    fn rec(i: usize) -> TelemetryRecord {
        TelemetryRecord::new(Utc::now(), "function", json!(format!("line {i}")))
    }

    #[test]
    fn batch_on_max_items_and_timeout() {
        let b = Buffering {
            max_items: 3,
            max_bytes: 1_000_000,
            timeout: Duration::from_millis(100),
        };
        let t0 = Instant::now();
        let mut q = SubQueue::default();
        assert_eq!(q.due(t0, &b), Due::Empty);
        q.push(rec(0), t0, 100);
        assert_eq!(q.due(t0, &b), Due::At(t0 + Duration::from_millis(100)));
        assert_eq!(q.due(t0 + Duration::from_millis(100), &b), Due::Now);
        q.push(rec(1), t0, 100);
        q.push(rec(2), t0, 100);
        q.push(rec(3), t0, 100);
        assert_eq!(q.due(t0, &b), Due::Now);
        let (batch, dr, _) = q.take_batch(&b);
        assert_eq!(batch.len(), 3);
        assert_eq!(dr, 0);
        assert_eq!(q.items.len(), 1);
    }

    #[test]
    fn batch_respects_max_bytes_but_takes_one() {
        let one = rec(0).to_json().to_string().len() + 1;
        let b = Buffering {
            max_items: 100,
            max_bytes: one * 2,
            timeout: Duration::from_secs(1),
        };
        let t0 = Instant::now();
        let mut q = SubQueue::default();
        for i in 0..5 {
            q.push(rec(i), t0, 100);
        }
        assert_eq!(q.due(t0, &b), Due::Now);
        assert_eq!(q.take_batch(&b).0.len(), 2);
        let tiny = Buffering { max_bytes: 1, ..b };
        assert_eq!(q.take_batch(&tiny).0.len(), 1);
    }

    #[test]
    fn drops_beyond_limit_and_reports_counts() {
        let b = Buffering::default();
        let t0 = Instant::now();
        let mut q = SubQueue::default();
        assert!(q.push(rec(0), t0, 2));
        assert!(q.push(rec(1), t0, 2));
        assert!(!q.push(rec(2), t0, 2));
        let (batch, dr, db) = q.take_batch(&b);
        assert_eq!((batch.len(), dr), (2, 1));
        assert!(db > 10);
        assert_eq!(q.due(t0, &b), Due::Empty);
    }

    #[test]
    fn flush_sends_now() {
        let b = Buffering::default();
        let t0 = Instant::now();
        let mut q = SubQueue::default();
        q.push(rec(0), t0, 10);
        q.flush = true;
        assert_eq!(q.due(t0, &b), Due::Now);
        q.take_batch(&b);
        assert!(!q.flush);
    }
}
