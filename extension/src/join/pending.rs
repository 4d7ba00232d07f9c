//! What the join knows of one invocation while its events arrive, and what it hands on.

use std::sync::Arc;

use crate::model::{CompletedInvocation, Ending, Phase, Report, RequestId, ResourceUsage, RuntimeDone};

/// An invocation being assembled from events that arrive in any order.
#[derive(Debug, Clone)]
pub(super) struct Pending {
    /// Arrival order, for eviction and for emitting oldest first.
    pub(super) seq: u64,
    pub(super) request_id: RequestId,
    pub(super) start_ms: Option<i64>,
    pub(super) first_seen_ms: Option<i64>,
    pub(super) version: Option<Arc<str>>,
    pub(super) trace_id: Option<String>,
    /// `platform.start`'s `tenantId`.
    pub(super) tenant_id: Option<String>,
    pub(super) started: bool,
    pub(super) runtime: Option<RuntimeDone>,
    pub(super) report: Option<Report>,
    /// When the report arrived, on the caller's monotonic clock.
    pub(super) report_at: Option<u64>,
    pub(super) cold_start: bool,
    /// The first invocation after a proactive init: not a cold start, even where the report
    /// carries `initDurationMs`.
    pub(super) after_proactive_init: bool,
    pub(super) init: Option<Box<Phase>>,
    pub(super) restore_duration_ms: Option<f64>,
    /// Invocations in flight when this one started, itself included.
    pub(super) concurrency: Option<u32>,
    /// A resource sample will be attached (at the next INVOKE or SHUTDOWN): wait for it.
    pub(super) awaiting_resources: bool,
    pub(super) resources: Option<ResourceUsage>,
    /// The runtime version of the environment's init, for every invocation it serves.
    pub(super) runtime_version: Option<Arc<str>>,
}

impl Pending {
    /// An invocation first heard of (the `seq`-th), nothing known yet but its id.
    pub(super) fn new(seq: u64, request_id: RequestId) -> Self {
        Self {
            seq,
            request_id,
            start_ms: None,
            first_seen_ms: None,
            version: None,
            trace_id: None,
            tenant_id: None,
            started: false,
            runtime: None,
            report: None,
            report_at: None,
            cold_start: false,
            after_proactive_init: false,
            init: None,
            restore_duration_ms: None,
            concurrency: None,
            awaiting_resources: false,
            resources: None,
            runtime_version: None,
        }
    }

    /// Start, runtimeDone (where it is expected) and report are all in.
    pub(super) fn has_all_events(&self, runtime_done_expected: bool) -> bool {
        self.started && self.report.is_some() && (self.runtime.is_some() || !runtime_done_expected)
    }

    /// Nothing more is expected.
    pub(super) fn is_complete(&self, runtime_done_expected: bool) -> bool {
        self.has_all_events(runtime_done_expected) && (!self.awaiting_resources || self.resources.is_some())
    }

    pub(super) fn saw_event_time(&mut self, time_ms: i64) {
        self.first_seen_ms = Some(self.first_seen_ms.map_or(time_ms, |t| t.min(time_ms)));
    }

    /// Everything known, as the metrics read it. A report with `initDurationMs` makes a cold
    /// start even when the init events were lost (not after a proactive init: the report's
    /// figure is the init's, which no invocation waited for).
    pub(super) fn complete(self, ending: Ending) -> CompletedInvocation {
        let report = self.report.as_ref();
        let runtime = self.runtime.as_ref();
        let status = report
            .and_then(|r| r.status)
            .or_else(|| runtime.and_then(|r| r.status));
        let error_type = report
            .and_then(|r| r.error_type.clone())
            .or_else(|| runtime.and_then(|r| r.error_type.clone()));
        let tenant_id = self.tenant_id.or_else(|| {
            report
                .and_then(|r| r.tenant_id.clone())
                .or_else(|| runtime.and_then(|r| r.tenant_id.clone()))
        });
        let reported_init_ms = report
            .and_then(|r| r.metrics.init_duration_ms)
            .filter(|_| !self.after_proactive_init);
        let mut init = self.init;
        if let Some(ms) = reported_init_ms {
            init.get_or_insert_with(Box::default)
                .duration_ms
                .get_or_insert(ms);
        }
        let restore_duration_ms = self
            .restore_duration_ms
            .or_else(|| report.and_then(|r| r.metrics.restore_duration_ms));
        CompletedInvocation {
            request_id: self.request_id,
            timestamp_ms: self.start_ms.or(self.first_seen_ms).unwrap_or_default(),
            version: self.version,
            trace_id: self.trace_id,
            tenant_id,
            cold_start: self.cold_start || reported_init_ms.is_some(),
            init,
            restore_duration_ms,
            runtime: self.runtime,
            report: self.report,
            status,
            error_type,
            ending,
            concurrency: self.concurrency,
            resources: self.resources,
            runtime_version: self.runtime_version,
        }
    }
}
