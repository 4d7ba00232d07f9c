//! What the join knows about one invocation, and what it hands on once the invocation is done.

use crate::intake::event::{RuntimeSpans, Status};
use crate::resources::ResourceUsage;

/// Facts of the init (or SnapStart restore) phase attributed to a cold-start invocation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InitFacts {
    pub init_type: Option<String>,
    pub phase: Option<String>,
    pub duration_ms: Option<f64>,
    pub status: Option<Status>,
    pub error_type: Option<String>,
    pub runtime_version: Option<String>,
}

/// From `platform.runtimeDone`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuntimeFacts {
    pub status: Option<Status>,
    pub error_type: Option<String>,
    pub duration_ms: Option<f64>,
    pub produced_bytes: Option<f64>,
    pub spans: RuntimeSpans,
}

/// From `platform.report`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportFacts {
    pub status: Option<Status>,
    pub error_type: Option<String>,
    pub duration_ms: f64,
    pub billed_duration_ms: Option<f64>,
    pub memory_size_mb: Option<f64>,
    pub max_memory_used_mb: Option<f64>,
    pub init_duration_ms: Option<f64>,
    pub restore_duration_ms: Option<f64>,
}

/// Why an invocation left the join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Start, runtimeDone and report all arrived.
    Complete,
    /// The report arrived but start or runtimeDone did not, within the grace period.
    ReportOnly,
    /// The environment shut down before the report arrived; emitted from what was known.
    Shutdown,
    /// Too many invocations were pending; the oldest was emitted from what was known.
    Evicted,
}

impl Ending {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Complete => "complete",
            Self::ReportOnly => "report-only",
            Self::Shutdown => "shutdown",
            Self::Evicted => "evicted",
        }
    }
}

/// An invocation being assembled from events that arrive in any order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Pending {
    pub seq: u64,
    pub start_ms: Option<i64>,
    pub first_seen_ms: Option<i64>,
    pub version: Option<String>,
    pub trace_id: Option<String>,
    pub started: bool,
    pub runtime: Option<RuntimeFacts>,
    pub report: Option<ReportFacts>,
    /// When the report arrived, on the caller's monotonic clock.
    pub report_at: Option<u64>,
    pub cold_start: bool,
    pub init: Option<InitFacts>,
    pub restore_duration_ms: Option<f64>,
    /// Invocations in flight when this one started, itself included.
    pub concurrency: Option<u32>,
    /// A resource sample will be attached (at the next INVOKE or SHUTDOWN): wait for it.
    pub awaiting_resources: bool,
    pub resources: Option<ResourceUsage>,
    /// The runtime version of the environment's init, for every invocation it serves.
    pub runtime_version: Option<String>,
}

impl Pending {
    /// Start, runtimeDone (where it is expected) and report are all in.
    pub fn has_all_events(&self, runtime_done_expected: bool) -> bool {
        self.started && self.report.is_some() && (self.runtime.is_some() || !runtime_done_expected)
    }

    /// Nothing more is expected.
    pub fn is_complete(&self, runtime_done_expected: bool) -> bool {
        self.has_all_events(runtime_done_expected) && (!self.awaiting_resources || self.resources.is_some())
    }

    pub fn saw_event_time(&mut self, time_ms: i64) {
        self.first_seen_ms = Some(self.first_seen_ms.map_or(time_ms, |t| t.min(time_ms)));
    }
}

/// An invocation the join is done with: everything known about it, ready for the metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct CompletedInvocation {
    pub request_id: String,
    /// When the invocation started (`platform.start`), else the earliest of its events.
    pub timestamp_ms: i64,
    pub version: Option<String>,
    pub trace_id: Option<String>,
    pub cold_start: bool,
    /// Init phase facts, on a cold start.
    pub init: Option<InitFacts>,
    /// SnapStart restore duration, on the first invocation after a restore.
    pub restore_duration_ms: Option<f64>,
    pub runtime: Option<RuntimeFacts>,
    pub report: Option<ReportFacts>,
    /// Outcome: the report's status, else runtimeDone's, else what shutdown implies.
    pub status: Option<Status>,
    pub error_type: Option<String>,
    pub ending: Ending,
    /// Invocations in flight when this one started, itself included.
    pub concurrency: Option<u32>,
    /// What the function's processes used during the invocation.
    pub resources: Option<ResourceUsage>,
    /// The runtime version (`platform.initStart`), when the init events were seen.
    pub runtime_version: Option<String>,
}

impl CompletedInvocation {
    pub(crate) fn from_pending(request_id: String, p: Pending, ending: Ending, fallback_ms: i64) -> Self {
        let status = p
            .report
            .as_ref()
            .and_then(|r| r.status)
            .or_else(|| p.runtime.as_ref().and_then(|r| r.status));
        let error_type = p
            .report
            .as_ref()
            .and_then(|r| r.error_type.clone())
            .or_else(|| p.runtime.as_ref().and_then(|r| r.error_type.clone()));
        let cold_from_report = p.report.as_ref().and_then(|r| r.init_duration_ms).is_some();
        let mut init = p.init;
        if let (Some(ms), true) = (
            p.report.as_ref().and_then(|r| r.init_duration_ms),
            cold_from_report,
        ) {
            let facts = init.get_or_insert_with(InitFacts::default);
            facts.duration_ms.get_or_insert(ms);
        }
        let restore_duration_ms = p
            .restore_duration_ms
            .or_else(|| p.report.as_ref().and_then(|r| r.restore_duration_ms));
        CompletedInvocation {
            request_id,
            timestamp_ms: p.start_ms.or(p.first_seen_ms).unwrap_or(fallback_ms),
            version: p.version,
            trace_id: p.trace_id,
            cold_start: p.cold_start || cold_from_report,
            init,
            restore_duration_ms,
            runtime: p.runtime,
            report: p.report,
            status,
            error_type,
            ending,
            concurrency: p.concurrency,
            resources: p.resources,
            runtime_version: p.runtime_version,
        }
    }
}
