//! The invocation join: platform events in, completed invocations out.
//!
//! A plain struct with no I/O and no clock of its own (the caller passes `now`), so every order
//! of arrival can be tested directly. Events of one invocation are keyed by `requestId` and may
//! arrive in any order and in later batches: the report of invocation N usually arrives during
//! invocation N+1, the last one only after SHUTDOWN. State is bounded: at most
//! [`JoinLimits::max_pending`] invocations wait; beyond that the oldest is emitted from what is
//! known. Request ids already emitted are remembered (a bounded window) so that a batch Lambda
//! delivers twice is not counted twice.

mod hash;
mod pending;

use std::collections::{HashMap, HashSet, VecDeque};

use hash::IdHash;
use pending::Pending;

use crate::model::{
    CompletedInvocation, Ending, EventKind, FirstInvoke, Phase, RequestId, ResourceUsage, Start, Status,
    TelemetryEvent,
};

/// An on-demand init that ended at least this long before the first invocation's
/// `platform.start` was proactive: Lambda initialised the environment ahead of demand (a: the
/// Lambda guide's execution environment lifecycle says it may), and that invocation did not
/// wait for it, so it is not a cold start. The threshold is a vendor's (c: Datadog's
/// extension counts an init that ended 10 s or more before the first invocation as
/// proactive); Lambda documents none (d). Both times are the platform's own (the records'
/// `time`), so the extension's clock and its freezes play no part.
pub(crate) const PROACTIVE_GAP_MS: i64 = 10_000;

#[derive(Debug, Clone, Copy)]
pub(crate) struct JoinLimits {
    /// Invocations waiting for events at once.
    pub(crate) max_pending: usize,
    /// Request ids remembered after emission, to drop duplicate deliveries.
    pub(crate) remembered: usize,
    /// How long an invocation whose report arrived waits for a missing start/runtimeDone.
    pub(crate) report_grace_ms: u64,
    /// Whether `platform.runtimeDone` comes at all: not on Lambda Managed Instances, where an
    /// invocation is complete with its start and report.
    pub(crate) runtime_done_expected: bool,
}

impl Default for JoinLimits {
    fn default() -> Self {
        Self {
            max_pending: 1024,
            remembered: 4096,
            report_grace_ms: 1_000,
            runtime_done_expected: true,
        }
    }
}

/// Counters of what the join dropped or cut short, for the extension's shutdown log line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct JoinStats {
    /// Events of invocations already emitted (a batch Lambda delivered twice), dropped.
    pub(crate) duplicates: u64,
    /// Invocations emitted from what was known because too many were pending.
    pub(crate) evicted: u64,
}

/// The init (or restore) phase whose cold start has not yet been attributed to an invocation.
#[derive(Debug, Default)]
struct InitContext {
    phase: Phase,
    /// The next invocation to start is the cold start.
    unclaimed: bool,
    /// A SnapStart restore happened: init events after it are the snapshot's replay.
    restored: bool,
    restore_duration_ms: Option<f64>,
    restore_unclaimed: bool,
    /// Time of the start that claimed the last cold start: init events older than it are a
    /// duplicate delivery and must not make another invocation cold.
    claimed_at_ms: Option<i64>,
    /// When the init ended, on the platform's clock: the latest time of its events (its
    /// `platform.initReport`, else its `platform.initRuntimeDone`, else its
    /// `platform.initStart` when the others were lost).
    ended_ms: Option<i64>,
    /// The report of an init that may be proactive, held (with its time) until the first
    /// invocation's start says whether it was: its environment record says so.
    held: Option<(i64, Phase)>,
    /// An init has started and its `platform.initReport` has not arrived: at SHUTDOWN it is
    /// waited for like an invocation's report. An init that fails inside an invoke is reported
    /// with that invocation's start and report at the reset, and the SHUTDOWN that follows can
    /// reach the extension before that delivery does.
    open: bool,
}

#[derive(Debug)]
pub(crate) struct Joiner {
    limits: JoinLimits,
    /// By [`RequestId::key`] (a UUID's bits: compared and hashed as one
    /// number, never as text); each entry keeps its id.
    pending: HashMap<u128, Pending, IdHash>,
    /// Request ids in arrival order, for eviction (may hold ids already gone from `pending`).
    order: VecDeque<(u64, u128)>,
    next_seq: u64,
    /// The ids emitted last ([`RequestId::key`]: 16 bytes each, no copy of the text), as a set
    /// and in order.
    recent: HashSet<u128, IdHash>,
    recent_order: VecDeque<u128>,
    init: InitContext,
    /// Init reports ready for their environment record (time, phase), oldest first.
    phase_reports: Vec<(i64, Phase)>,
    stats: JoinStats,
}

impl Joiner {
    pub(crate) fn new(limits: JoinLimits) -> Self {
        Self {
            limits,
            pending: HashMap::default(),
            order: VecDeque::new(),
            next_seq: 0,
            recent: HashSet::default(),
            recent_order: VecDeque::new(),
            init: InitContext::default(),
            phase_reports: Vec::new(),
            stats: JoinStats::default(),
        }
    }

    /// Hands over the init reports ready for their environment record: at once for an init
    /// no invocation can have waited for by its type, at the first invocation's start for an
    /// on-demand one (judged proactive or not then), at shutdown for one no invocation used.
    pub(crate) fn take_phase_reports(&mut self, out: &mut Vec<(i64, Phase)>) {
        out.append(&mut self.phase_reports);
    }

    pub(crate) fn stats(&self) -> JoinStats {
        self.stats
    }

    /// Invocations known to have started whose report has not arrived, and an init whose
    /// report has not.
    pub(crate) fn outstanding(&self) -> usize {
        self.pending.values().filter(|p| p.report.is_none()).count() + usize::from(self.init.open)
    }

    /// Invocations waiting for anything.
    #[cfg(test)]
    pub(crate) fn pending(&self) -> usize {
        self.pending.len()
    }

    /// The monotonic time at which [`Joiner::sweep`] has something to emit, if any.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        self.pending
            .values()
            .filter(|p| !p.has_all_events(self.limits.runtime_done_expected))
            .filter_map(|p| p.report_at)
            .min()
            .map(|at| at.saturating_add(self.limits.report_grace_ms))
    }

    /// The extension learnt of an invocation from an INVOKE event (before any telemetry).
    /// With `expect_resources`, the invocation waits for [`Joiner::attach_resources`].
    pub(crate) fn on_invoke(
        &mut self,
        request_id: &RequestId,
        now_wall_ms: i64,
        expect_resources: bool,
        out: &mut Vec<CompletedInvocation>,
    ) {
        if let Some(p) = self.entry(request_id, out) {
            p.saw_event_time(now_wall_ms);
            p.awaiting_resources = expect_resources;
        }
    }

    /// The resource use of an invocation, measured when the next one started (or at SHUTDOWN).
    pub(crate) fn attach_resources(
        &mut self,
        request_id: &RequestId,
        usage: ResourceUsage,
        out: &mut Vec<CompletedInvocation>,
    ) {
        let key = request_id.key();
        if let Some(p) = self.pending.get_mut(&key) {
            p.resources = Some(usage);
            self.complete_if_ready(key, out);
        }
    }

    /// Takes one platform event; pushes any invocation it completes onto `out`.
    pub(crate) fn ingest(&mut self, event: TelemetryEvent, now: u64, out: &mut Vec<CompletedInvocation>) {
        let time_ms = event.time_ms;
        match event.kind {
            EventKind::InitStart(phase) => {
                // A new init: what an earlier one said does not carry over.
                if self.accepts_init(time_ms, &phase) {
                    self.release_held(None);
                    self.init.phase = Phase::default();
                    self.init.ended_ms = None;
                    self.init.open = true;
                    self.on_init_phase(time_ms, phase);
                }
            }
            EventKind::InitRuntimeDone(phase) => {
                if self.accepts_init(time_ms, &phase) {
                    self.on_init_phase(time_ms, phase);
                }
            }
            EventKind::InitReport(phase) => {
                if self.accepts_init(time_ms, &phase) {
                    self.init.open = false;
                    self.on_init_phase(time_ms, phase.clone());
                    // A failed init is reported at once: its invocation re-runs it (and
                    // waits for that).
                    let succeeded = phase.status.is_none_or(|s| s == Status::Success);
                    if succeeded && self.init.unclaimed && self.init.phase.may_be_proactive() {
                        self.release_held(None);
                        self.init.held = Some((time_ms, phase));
                        return;
                    }
                }
                self.phase_reports.push((time_ms, phase));
            }
            EventKind::RestoreStart | EventKind::RestoreRuntimeDone(_) => self.on_restore(None),
            EventKind::RestoreReport(phase) => self.on_restore(phase.duration_ms),
            EventKind::Start(start) => self.on_start(time_ms, start, out),
            EventKind::RuntimeDone(request_id, done) => {
                let expected = self.limits.runtime_done_expected;
                let key = request_id.key();
                let Some(p) = self.entry(&request_id, out) else {
                    return;
                };
                p.saw_event_time(time_ms);
                p.runtime = Some(done);
                if p.is_complete(expected) {
                    self.finish(key, Ending::Complete, out);
                }
            }
            EventKind::Report(request_id, report) => {
                let expected = self.limits.runtime_done_expected;
                let key = request_id.key();
                let Some(p) = self.entry(&request_id, out) else {
                    return;
                };
                p.saw_event_time(time_ms);
                p.report_at.get_or_insert(now);
                p.report = Some(report);
                if p.is_complete(expected) {
                    self.finish(key, Ending::Complete, out);
                }
            }
            // Environment-level: handled by the caller, not part of any invocation.
            EventKind::LogsDropped(_) => {}
        }
    }

    fn on_start(&mut self, time_ms: i64, start: Start, out: &mut Vec<CompletedInvocation>) {
        let Start {
            request_id,
            version,
            trace_id,
            tenant_id,
        } = start;
        let claim_cold = std::mem::take(&mut self.init.unclaimed);
        let first_invoke = if claim_cold {
            self.judge_init(time_ms)
        } else {
            None
        };
        let proactive = first_invoke.is_some_and(|f| f.proactive);
        let runtime_version = self.init.phase.runtime_version.clone();
        let init = (claim_cold && !proactive).then(|| Box::new(self.init.phase.clone()));
        let restore = std::mem::take(&mut self.init.restore_unclaimed)
            .then_some(self.init.restore_duration_ms)
            .flatten();
        let key = request_id.key();
        let in_flight = self
            .pending
            .iter()
            .filter(|(k, p)| p.started && p.runtime.is_none() && p.report.is_none() && **k != key)
            .count();
        let expected = self.limits.runtime_done_expected;
        let Some(p) = self.entry(&request_id, out) else {
            return;
        };
        p.started = true;
        p.start_ms = Some(time_ms);
        p.runtime_version = runtime_version;
        p.concurrency = Some(u32::try_from(in_flight + 1).unwrap_or(u32::MAX));
        p.saw_event_time(time_ms);
        p.version = version;
        p.trace_id = trace_id;
        p.tenant_id = tenant_id;
        if claim_cold && !proactive {
            p.cold_start = true;
            p.init = init;
        }
        p.after_proactive_init |= proactive;
        if restore.is_some() {
            p.restore_duration_ms = restore;
        }
        let complete = p.is_complete(expected);
        if claim_cold {
            self.init.claimed_at_ms = Some(time_ms);
        }
        if complete {
            self.finish(key, Ending::Complete, out);
        }
    }

    /// The first invocation started at `time_ms`: whether the init it claims was proactive
    /// (see [`PROACTIVE_GAP_MS`]), kept with the init and its held report, which is let go.
    /// `None` for an init that cannot be proactive by its type or phase.
    fn judge_init(&mut self, time_ms: i64) -> Option<FirstInvoke> {
        let first_invoke = self
            .init
            .phase
            .may_be_proactive()
            .then_some(self.init.ended_ms)
            .flatten()
            .map(|ended| {
                let after_ms = time_ms.saturating_sub(ended);
                FirstInvoke {
                    proactive: after_ms >= PROACTIVE_GAP_MS,
                    after_ms,
                }
            });
        self.init.phase.first_invoke = first_invoke;
        self.release_held(first_invoke);
        first_invoke
    }

    /// Lets the held init report go to its environment record, with what the first
    /// invocation said of it (`None`: no invocation claimed it).
    fn release_held(&mut self, first_invoke: Option<FirstInvoke>) {
        if let Some((time_ms, mut phase)) = self.init.held.take() {
            phase.first_invoke = first_invoke;
            self.phase_reports.push((time_ms, phase));
        }
    }

    /// Emits invocations whose report arrived more than the grace period ago but which still
    /// miss their start or runtimeDone (lost or dropped records).
    pub(crate) fn sweep(&mut self, now: u64, out: &mut Vec<CompletedInvocation>) {
        let grace = self.limits.report_grace_ms;
        let expected = self.limits.runtime_done_expected;
        let mut due: Vec<(u64, u128)> = self
            .pending
            .iter()
            .filter(|(_, p)| {
                !p.has_all_events(expected) && p.report_at.is_some_and(|at| now >= at.saturating_add(grace))
            })
            .map(|(key, p)| (p.seq, *key))
            .collect();
        due.sort_unstable();
        for (_, key) in due {
            self.finish(key, Ending::ReportOnly, out);
        }
    }

    /// The environment is shutting down: emits everything still pending, oldest first. An
    /// invocation that never got a runtimeDone or report while SHUTDOWN's reason is `timeout`
    /// is the one that timed out.
    pub(crate) fn drain(&mut self, shutdown_reason: Option<&str>, out: &mut Vec<CompletedInvocation>) {
        self.release_held(None);
        let timed_out = shutdown_reason.is_some_and(|r| r.eq_ignore_ascii_case("timeout"));
        let in_flight = if timed_out {
            self.in_flight()
        } else {
            HashSet::new()
        };
        let mut keys: Vec<(u64, u128)> = self.pending.iter().map(|(key, p)| (p.seq, *key)).collect();
        keys.sort_unstable();
        for (_, key) in keys {
            let expected = self.limits.runtime_done_expected;
            let ending = match self.pending.get(&key) {
                Some(p) if p.has_all_events(expected) => Ending::Complete,
                Some(p) if p.report.is_some() => Ending::ReportOnly,
                _ => Ending::Shutdown,
            };
            let before = out.len();
            self.finish(key, ending, out);
            if let Some(inv) = out.get_mut(before)
                && in_flight.contains(&key)
                && inv.status.is_none()
            {
                // Lambda reports a timeout with status `timeout` and no error type; none is
                // invented here.
                inv.status = Some(Status::Timeout);
            }
        }
    }

    /// The invocations still running. One environment runs one invocation at a time, so that
    /// is the latest one without a runtimeDone or report (an older one lacking them lost its
    /// records, it did not time out); on Managed Instances (no runtimeDone), every one
    /// without a report.
    fn in_flight(&self) -> HashSet<u128> {
        let running = self
            .pending
            .iter()
            .filter(|(_, p)| p.report.is_none() && p.runtime.is_none());
        if self.limits.runtime_done_expected {
            running
                .max_by_key(|(_, p)| p.seq)
                .map(|(key, _)| *key)
                .into_iter()
                .collect()
        } else {
            running.map(|(key, _)| *key).collect()
        }
    }

    /// Whether an init event starts or continues a phase that makes a cold start: not the
    /// snapshot's replayed init in a SnapStart environment, not a duplicate delivery.
    fn accepts_init(&self, time_ms: i64, phase: &Phase) -> bool {
        let snap_start = phase.init_type.as_deref() == Some("snap-start");
        let stale = self.init.claimed_at_ms.is_some_and(|claimed| time_ms <= claimed);
        !(self.init.restored || snap_start || stale)
    }

    /// Merges an accepted init phase event (at `time_ms`) into what is known of the init.
    fn on_init_phase(&mut self, time_ms: i64, phase: Phase) {
        self.init.ended_ms = Some(self.init.ended_ms.map_or(time_ms, |t| t.max(time_ms)));
        self.init.phase.merge(phase);
        self.init.unclaimed = Self::makes_cold_start(&self.init.phase);
    }

    /// Whether an invocation waits for this init phase: on-demand inits, and any init re-run as
    /// part of an invocation (after a reset). Provisioned concurrency and Managed Instances
    /// initialise ahead of traffic, so their first invocation is not a cold start.
    fn makes_cold_start(phase: &Phase) -> bool {
        let on_demand = phase.init_type.as_deref().is_none_or(|t| t == "on-demand");
        on_demand || phase.phase.as_deref() == Some("invoke")
    }

    fn on_restore(&mut self, duration_ms: Option<f64>) {
        self.release_held(None);
        self.init.restored = true;
        self.init.unclaimed = false;
        self.init.restore_unclaimed = true;
        if duration_ms.is_some() {
            self.init.restore_duration_ms = duration_ms;
        }
    }

    /// The pending entry for `request_id`, created if new; `None` if it was already emitted.
    fn entry(&mut self, request_id: &RequestId, out: &mut Vec<CompletedInvocation>) -> Option<&mut Pending> {
        let key = request_id.key();
        // An id leaves `pending` before it is remembered as emitted, so a pending one needs no
        // look in `recent`.
        if self.pending.contains_key(&key) {
            return self.pending.get_mut(&key);
        }
        if self.recent.contains(&key) {
            self.stats.duplicates += 1;
            return None;
        }
        self.make_room(out);
        let seq = self.next_seq;
        self.next_seq += 1;
        self.order.push_back((seq, key));
        let p = self
            .pending
            .entry(key)
            .or_insert_with(|| Pending::new(seq, request_id.clone()));
        Some(p)
    }

    fn make_room(&mut self, out: &mut Vec<CompletedInvocation>) {
        while self.pending.len() >= self.limits.max_pending.max(1) {
            let Some((seq, key)) = self.order.pop_front() else {
                return;
            };
            if self.pending.get(&key).is_some_and(|p| p.seq == seq) {
                self.stats.evicted += 1;
                self.finish(key, Ending::Evicted, out);
            }
        }
        // Keep the order queue from growing with ids that already left.
        if self.order.len() > self.limits.max_pending.saturating_mul(2) {
            let pending = &self.pending;
            self.order
                .retain(|(seq, key)| pending.get(key).is_some_and(|p| p.seq == *seq));
        }
    }

    fn complete_if_ready(&mut self, key: u128, out: &mut Vec<CompletedInvocation>) {
        let expected = self.limits.runtime_done_expected;
        if self.pending.get(&key).is_some_and(|p| p.is_complete(expected)) {
            self.finish(key, Ending::Complete, out);
        }
    }

    fn finish(&mut self, key: u128, ending: Ending, out: &mut Vec<CompletedInvocation>) {
        let Some(p) = self.pending.remove(&key) else {
            return;
        };
        self.remember(key);
        out.push(p.complete(ending));
    }

    fn remember(&mut self, key: u128) {
        if self.limits.remembered == 0 {
            return;
        }
        if self.recent.insert(key) {
            self.recent_order.push_back(key);
        }
        while self.recent_order.len() > self.limits.remembered {
            if let Some(old) = self.recent_order.pop_front() {
                self.recent.remove(&old);
            }
        }
    }
}

#[cfg(test)]
mod tests;
