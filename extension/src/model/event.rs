//! Platform events as the extension keeps them: owned, and only what the join and the metrics
//! read.

use std::sync::Arc;

use super::RequestId;

pub(crate) use lambda_lens_telemetry::wire::{
    ReportMetrics, ReportSpans, RuntimeDoneMetrics, RuntimeDoneSpans,
};

/// Outcome of a phase or an invocation, as the Telemetry API's `status` field says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Success,
    Error,
    Failure,
    Timeout,
    /// A value this version does not know; kept as "other" rather than failing the record.
    Other,
}

impl Status {
    /// The status `raw` names, in any case (compared in place: this runs twice per
    /// invocation, and a lower-cased copy was an allocation each time).
    pub(crate) fn parse(raw: &str) -> Self {
        [
            ("success", Self::Success),
            ("error", Self::Error),
            ("failure", Self::Failure),
            ("timeout", Self::Timeout),
        ]
        .into_iter()
        .find(|(name, _)| raw.eq_ignore_ascii_case(name))
        .map_or(Self::Other, |(_, status)| status)
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Error => "error",
            Self::Failure => "failure",
            Self::Timeout => "timeout",
            Self::Other => "other",
        }
    }

    /// A function error: the handler failed (`error`) or the runtime did (`failure`).
    pub(crate) fn is_error(self) -> bool {
        matches!(self, Self::Error | Self::Failure)
    }
}

/// What an init or restore event says about its phase. Every event of the phase carries a part
/// (`platform.initStart` the runtime version, `platform.initReport` the duration); the join
/// merges them with [`Phase::merge`].
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Phase {
    /// `initializationType`: on-demand, provisioned-concurrency, snap-start,
    /// lambda-managed-instances.
    pub(crate) init_type: Option<String>,
    /// `phase`: `init`, or `invoke` for an init re-run as part of an invocation.
    pub(crate) phase: Option<String>,
    pub(crate) status: Option<Status>,
    pub(crate) error_type: Option<String>,
    /// `metrics.durationMs` of the phase's report.
    pub(crate) duration_ms: Option<f64>,
    /// `runtimeVersion` of `platform.initStart`.
    pub(crate) runtime_version: Option<Arc<str>>,
    /// What the join found when the first invocation started: whether the init was proactive
    /// (see `join`'s `PROACTIVE_GAP_MS`), and how long after the init's end that invocation
    /// started (milliseconds, on the platform's clock). Unset until an invocation claims the
    /// init, and for inits no invocation waits for by their type.
    pub(crate) first_invoke: Option<FirstInvoke>,
}

/// An on-demand init, judged when the first invocation started.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct FirstInvoke {
    /// The init ended long before the invocation: Lambda initialised ahead of demand, and no
    /// invocation waited for it (not a cold start).
    pub(crate) proactive: bool,
    /// From the init's end to the invocation's `platform.start`.
    pub(crate) after_ms: i64,
}

impl Phase {
    /// Takes every part `other` carries; keeps the rest.
    pub(crate) fn merge(&mut self, other: Self) {
        fn take<T>(slot: &mut Option<T>, value: Option<T>) {
            if value.is_some() {
                *slot = value;
            }
        }
        take(&mut self.init_type, other.init_type);
        take(&mut self.phase, other.phase);
        take(&mut self.status, other.status);
        take(&mut self.error_type, other.error_type);
        take(&mut self.duration_ms, other.duration_ms);
        take(&mut self.runtime_version, other.runtime_version);
        take(&mut self.first_invoke, other.first_invoke);
    }

    /// Whether this init may be proactive: on-demand (or of no stated type), and not re-run
    /// inside an invocation (`phase: invoke`, which that invocation waits for).
    pub(crate) fn may_be_proactive(&self) -> bool {
        self.init_type.as_deref().is_none_or(|t| t == "on-demand") && self.phase.as_deref() != Some("invoke")
    }

    /// An init that no invocation waits for: provisioned concurrency and Managed Instances
    /// initialise ahead of traffic (unless the init is re-run inside an invocation).
    pub(crate) fn is_ahead_of_traffic(&self) -> bool {
        matches!(
            self.init_type.as_deref(),
            Some("provisioned-concurrency" | "lambda-managed-instances")
        ) && self.phase.as_deref() != Some("invoke")
    }
}

/// `platform.start`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Start {
    pub(crate) request_id: RequestId,
    pub(crate) version: Option<Arc<str>>,
    pub(crate) trace_id: Option<String>,
    /// `tenantId`, in tenant isolation mode (b); absent otherwise.
    pub(crate) tenant_id: Option<String>,
}

/// `platform.runtimeDone` (its request id is the event's).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RuntimeDone {
    pub(crate) status: Option<Status>,
    pub(crate) error_type: Option<String>,
    pub(crate) metrics: Option<RuntimeDoneMetrics>,
    pub(crate) spans: RuntimeDoneSpans,
    /// `tenantId`, in tenant isolation mode (b).
    pub(crate) tenant_id: Option<String>,
}

/// `platform.report` (its request id is the event's).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Report {
    pub(crate) status: Option<Status>,
    pub(crate) error_type: Option<String>,
    pub(crate) metrics: ReportMetrics,
    /// `extensionOverhead` where Lambda sends it; on Managed Instances the response spans.
    pub(crate) spans: ReportSpans,
    /// `tenantId`, in tenant isolation mode (b).
    pub(crate) tenant_id: Option<String>,
}

/// `platform.logsDropped`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct LogsDropped {
    pub(crate) reason: Option<String>,
    pub(crate) records: f64,
    pub(crate) bytes: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum EventKind {
    InitStart(Phase),
    InitRuntimeDone(Phase),
    InitReport(Phase),
    RestoreStart,
    RestoreRuntimeDone(Phase),
    RestoreReport(Phase),
    Start(Start),
    /// A request id and what the join keeps of the record once it has the invocation (the
    /// pending entry holds the id once, not once per record).
    RuntimeDone(RequestId, RuntimeDone),
    Report(RequestId, Report),
    LogsDropped(LogsDropped),
}

/// One platform event with the time the platform generated it (epoch milliseconds).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TelemetryEvent {
    pub(crate) time_ms: i64,
    pub(crate) kind: EventKind,
}
