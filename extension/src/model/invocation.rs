//! What the join hands on once it is done with an invocation.

use std::sync::Arc;

use super::{Phase, Report, RequestId, ResourceUsage, RuntimeDone, Status};

/// Why an invocation left the join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
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
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Complete => "complete",
            Self::ReportOnly => "report-only",
            Self::Shutdown => "shutdown",
            Self::Evicted => "evicted",
        }
    }
}

/// An invocation the join is done with: everything known about it, ready for the metrics.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CompletedInvocation {
    pub(crate) request_id: RequestId,
    /// When the invocation started (`platform.start`), else the earliest of its events.
    pub(crate) timestamp_ms: i64,
    /// `platform.start` `version`.
    pub(crate) version: Option<Arc<str>>,
    pub(crate) trace_id: Option<String>,
    /// `tenantId` (tenant isolation mode): the start's, else the report's, else runtimeDone's.
    pub(crate) tenant_id: Option<String>,
    pub(crate) cold_start: bool,
    /// The init (or its parts) that made this invocation a cold start.
    /// Boxed: only a cold start has one, and every invocation's record is moved a few times.
    pub(crate) init: Option<Box<Phase>>,
    /// SnapStart restore duration, on the first invocation after a restore.
    pub(crate) restore_duration_ms: Option<f64>,
    pub(crate) runtime: Option<RuntimeDone>,
    pub(crate) report: Option<Report>,
    /// Outcome: the report's status, else runtimeDone's, else what shutdown implies.
    pub(crate) status: Option<Status>,
    pub(crate) error_type: Option<String>,
    pub(crate) ending: Ending,
    /// Invocations in flight when this one started, itself included.
    pub(crate) concurrency: Option<u32>,
    /// What the function's processes used during the invocation.
    pub(crate) resources: Option<ResourceUsage>,
    /// The runtime version of the environment's init (`platform.initStart`), when it was seen.
    pub(crate) runtime_version: Option<Arc<str>>,
}
