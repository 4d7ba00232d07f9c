//! The decoded platform events the rest of the extension works with: small, owned, and only
//! what the join and the metrics need.

/// Outcome of a phase or an invocation, as the Telemetry API's `status` field says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Success,
    Error,
    Failure,
    Timeout,
    /// A value this version does not know; kept as "other" rather than failing the record.
    Other,
}

impl Status {
    pub fn parse(raw: &str) -> Self {
        match raw.to_ascii_lowercase().as_str() {
            "success" => Self::Success,
            "error" => Self::Error,
            "failure" => Self::Failure,
            "timeout" => Self::Timeout,
            _ => Self::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Error => "error",
            Self::Failure => "failure",
            Self::Timeout => "timeout",
            Self::Other => "other",
        }
    }

    /// A function error: the handler failed (`error`) or the runtime did (`failure`).
    pub fn is_error(self) -> bool {
        matches!(self, Self::Error | Self::Failure)
    }
}

/// The spans of `platform.runtimeDone`, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RuntimeSpans {
    pub response_latency_ms: Option<f64>,
    pub response_duration_ms: Option<f64>,
    pub runtime_overhead_ms: Option<f64>,
}

/// Which phase an init or restore event belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseInfo {
    /// `initializationType`: on-demand, provisioned-concurrency, snap-start, lambda-managed-instances.
    pub init_type: Option<String>,
    /// `phase`: `init`, or `invoke` for an init re-run as part of an invocation.
    pub phase: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    InitStart {
        info: PhaseInfo,
        runtime_version: Option<String>,
    },
    InitRuntimeDone {
        info: PhaseInfo,
        status: Option<Status>,
        error_type: Option<String>,
    },
    InitReport {
        info: PhaseInfo,
        status: Option<Status>,
        error_type: Option<String>,
        duration_ms: Option<f64>,
    },
    RestoreStart,
    RestoreRuntimeDone {
        status: Option<Status>,
        error_type: Option<String>,
    },
    RestoreReport {
        status: Option<Status>,
        error_type: Option<String>,
        duration_ms: Option<f64>,
    },
    Start {
        request_id: String,
        version: Option<String>,
        trace_id: Option<String>,
    },
    RuntimeDone {
        request_id: String,
        status: Option<Status>,
        error_type: Option<String>,
        duration_ms: Option<f64>,
        produced_bytes: Option<f64>,
        spans: RuntimeSpans,
    },
    Report {
        request_id: String,
        status: Option<Status>,
        error_type: Option<String>,
        duration_ms: f64,
        billed_duration_ms: Option<f64>,
        memory_size_mb: Option<f64>,
        max_memory_used_mb: Option<f64>,
        init_duration_ms: Option<f64>,
        restore_duration_ms: Option<f64>,
    },
    LogsDropped {
        reason: Option<String>,
        records: f64,
        bytes: f64,
    },
}

/// One platform event with the time the platform generated it (epoch milliseconds).
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetryEvent {
    pub time_ms: i64,
    pub kind: EventKind,
}
