//! What the sandbox reports to its caller, and what a caller sets on one invocation.

use std::time::Duration;

use bytes::Bytes;

use crate::environment::output::Source;
use crate::lifecycle::state::ExitKind;

/// Options of one invocation ([`Sandbox::invoke_with`](crate::Sandbox::invoke_with)).
/// `InvokeOptions::default()` is a plain invoke.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvokeOptions {
    /// Tenant isolation mode: the invoke's tenant identifier (the Invoke API's
    /// `X-Amz-Tenant-Id`). The runtime receives it as `Lambda-Runtime-Aws-Tenant-Id` on
    /// `invocation/next`, and `platform.start`, `platform.runtimeDone` and `platform.report`
    /// carry it as `tenantId`. An environment serves one tenant only, so every invoke of a
    /// sandbox gives the same one (or none, for a function without tenant isolation).
    pub tenant_id: Option<String>,
}

impl InvokeOptions {
    /// An invoke of tenant `id`.
    pub fn tenant(id: impl Into<String>) -> Self {
        Self {
            tenant_id: Some(id.into()),
        }
    }
}

/// `status` of runtimeDone, report and the init events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// `success`
    Success,
    /// `error`: the function reported an error, or an error the platform attributes to it
    /// (out of memory).
    Error,
    /// `failure`: the runtime or an extension crashed.
    Failure,
    /// `timeout`
    Timeout,
}

impl Status {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Error => "error",
            Self::Failure => "failure",
            Self::Timeout => "timeout",
        }
    }
}

/// `shutdownReason` of a SHUTDOWN event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownReason {
    /// `spindown`: the environment is retired normally.
    Spindown,
    /// `timeout`: reset after an invocation timed out.
    Timeout,
    /// `failure`: reset after a crash, an out-of-memory kill or a failed init.
    Failure,
}

impl ShutdownReason {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Spindown => "spindown",
            Self::Timeout => "timeout",
            Self::Failure => "failure",
        }
    }
}

/// One init phase (at start, or re-run inside an invoke after a reset).
#[derive(Debug, Clone, PartialEq)]
pub struct InitOutcome {
    /// `init`, or `invoke` for an init re-run inside an invoke.
    pub phase: String,
    /// Outcome.
    pub status: Status,
    /// Error type when it failed.
    pub error_type: Option<String>,
    /// `initReport.metrics.durationMs`.
    pub duration_ms: f64,
}

/// A SnapStart restore (`platform.restoreReport`).
#[derive(Debug, Clone, PartialEq)]
pub struct RestoreOutcome {
    /// Outcome.
    pub status: Status,
    /// Error type when it failed.
    pub error_type: Option<String>,
    /// `restoreReport.metrics.durationMs`.
    pub duration_ms: f64,
}

/// One invocation.
#[derive(Debug, Clone)]
pub struct InvokeOutcome {
    /// The generated request id (UUID v4 format).
    pub request_id: String,
    /// The X-Ray trace header value given to the runtime and extensions.
    pub trace_id: String,
    /// Report status.
    pub status: Status,
    /// Report error type.
    pub error_type: Option<String>,
    /// The runtime's response body (or its error body).
    pub response: Bytes,
    /// `report.metrics.durationMs`: start until the runtime and every extension called next.
    pub duration_ms: f64,
    /// `runtimeDone.metrics.durationMs`, when the runtime got that far (never on Managed
    /// Instances, which have no `platform.runtimeDone`).
    pub runtime_duration_ms: Option<f64>,
    /// `report.metrics.billedDurationMs` (0 on Managed Instances: not reported there).
    pub billed_duration_ms: u64,
    /// `report.metrics.maxMemoryUsedMB`, measured from the processes (0 on Managed Instances:
    /// not reported there).
    pub max_memory_used_mb: u64,
    /// `report.metrics.initDurationMs`, on the first invoke after an on-demand init.
    pub init_duration_ms: Option<f64>,
    /// `report.metrics.restoreDurationMs`, on the first invoke after a SnapStart restore.
    pub restore_duration_ms: Option<f64>,
    /// The init run inside this invoke: after a reset (or a new snapshot, for SnapStart).
    pub init: Option<InitOutcome>,
    /// The SnapStart restore run inside this invoke.
    pub restore: Option<RestoreOutcome>,
    /// The environment was reset after this invocation (SHUTDOWN sent, processes gone).
    pub reset: Option<ShutdownOutcome>,
}

/// How one process ended.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessExit {
    /// Which process.
    pub source: Source,
    /// Its pid.
    pub pid: u32,
    /// Exit code or signal (`Unknown` if it was not seen ending within the bounds).
    pub exit: ExitKind,
    /// The sandbox had to SIGKILL it (it outlived the deadline or got no SHUTDOWN).
    pub killed: bool,
    /// For extensions: time from SHUTDOWN to exit.
    pub exited_after_shutdown: Option<Duration>,
}

/// A shutdown (final or a reset).
#[derive(Debug, Clone, PartialEq)]
pub struct ShutdownOutcome {
    /// The reason given to extensions.
    pub reason: ShutdownReason,
    /// Every process of the environment.
    pub processes: Vec<ProcessExit>,
}

impl ShutdownOutcome {
    /// The exit of the process of `source`.
    pub fn of(&self, source: &Source) -> Option<&ProcessExit> {
        self.processes.iter().find(|p| &p.source == source)
    }
}
