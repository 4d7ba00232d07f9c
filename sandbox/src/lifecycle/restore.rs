//! SnapStart's restore phase.
//!
//! The sandbox cannot snapshot processes. It plays SnapStart with the processes themselves: the
//! init phase starts them and lets them register, subscribe and reach their first next (the
//! runtime's `restore/next` or `invocation/next`); the environment is then frozen, and that
//! frozen state is the snapshot. The first invoke restores it: the processes are thawed and the
//! restore events are emitted around the runtime's after-restore hooks.
//!
//! What the AWS documentation says, and what the sandbox does with it:
//! - Telemetry schema: `platform.restoreStart` {functionName, functionVersion, runtimeVersion?,
//!   runtimeVersionArn?}, `platform.restoreRuntimeDone` {status, errorType?, spans?},
//!   `platform.restoreReport` {status, errorType?, metrics {durationMs}, spans?}; the report of
//!   the first invocation carries `restoreDurationMs` ("SnapStart monitoring": the REPORT of a
//!   new environment has `Restore Duration` and no `Init Duration`).
//! - Runtime API: a runtime with after-restore hooks calls `GET /runtime/restore/next` at the end
//!   of its init; the call returns after the restore, the runtime runs its hooks and then polls
//!   `invocation/next`, or reports `POST /runtime/restore/error`. The runtime load and the hooks
//!   must finish within 10 s (`Config::restore_timeout`).
//! - The init events: Lambda initialises SnapStart functions when a version is published. The
//!   documentation does not say whether a restored environment's telemetry stream contains the
//!   snapshot's init events; users report that it does, with `initializationType: snap-start`.
//!   The sandbox emits them during its init phase (at the snapshot) and delivers them as the
//!   subscriber's buffering decides, so they usually arrive after the restore, with their
//!   snapshot-time `time`.
//! - Extensions: the documentation gives them no restore event; they stay in their `event/next`
//!   from the snapshot and get the first INVOKE as usual.

use std::sync::Arc;
use std::time::Instant;

use crate::lifecycle::outcome::{RestoreOutcome, Status};
use crate::lifecycle::phases;
use crate::lifecycle::state::{Phase, Shared};
use crate::telemetry::records::{self, ms};

/// Restores the environment that the init phase left frozen at its snapshot point: thaws it,
/// emits `platform.restoreStart`, releases a runtime waiting in `restore/next` and waits
/// (bounded by the restore limit) until it polls `invocation/next`, then emits
/// `platform.restoreRuntimeDone` and `platform.restoreReport`.
pub(crate) async fn restore(shared: &Arc<Shared>) -> RestoreOutcome {
    let config = &shared.config;
    let started = Instant::now();
    shared.emit(
        "platform.restoreStart",
        records::restore_start(
            &config.runtime,
            &config.function_name,
            &config.version,
            &config.region,
        ),
    );
    phases::thaw(shared);
    let hooks = shared.update(|st| {
        st.phase = Phase::Restore;
        st.runtime.restored = false;
        st.runtime.restore_error = None;
        st.runtime.restore_waiting
    });
    let waited = shared
        .wait_until(Some(started + config.restore_timeout), |st| {
            if let Some(e) = &st.runtime.restore_error {
                return Some(Err(e.clone()));
            }
            if st.runtime.exited.is_some() {
                return Some(Err("Runtime.ExitError".to_owned()));
            }
            if st.extensions.iter().any(|e| e.exited.is_some()) {
                return Some(Err("Extension.Crash".to_owned()));
            }
            // A runtime that never called restore/next has no hooks: it is already restored.
            (!hooks || st.runtime.restored).then_some(Ok(()))
        })
        .await;
    // As for the init phase: a reported or detected failure is `error`, the limit `timeout`.
    let (status, error_type) = match waited {
        Some(Ok(())) => (Status::Success, None),
        Some(Err(e)) => (Status::Error, Some(e)),
        None => (Status::Timeout, None),
    };
    let duration_ms = ms(started.elapsed());
    shared.emit(
        "platform.restoreRuntimeDone",
        records::restore_runtime_done(status.as_str(), error_type.as_deref()),
    );
    shared.emit(
        "platform.restoreReport",
        records::restore_report(status.as_str(), error_type.as_deref(), duration_ms),
    );
    shared.update(|st| st.phase = Phase::Idle);
    RestoreOutcome {
        status,
        error_type,
        duration_ms,
    }
}
