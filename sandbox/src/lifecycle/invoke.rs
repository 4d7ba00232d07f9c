//! One invocation at a time (on demand, provisioned concurrency, SnapStart): start, the
//! runtime's result, every extension's next, the report, then a freeze or a reset.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use nix::sys::signal::Signal;
use serde_json::{Value, json};

use crate::environment::memory::{self, Sampler};
use crate::environment::process;
use crate::environment::procfs;
use crate::ids;
use crate::lifecycle::outcome::{
    InitOutcome, InvokeOutcome, RestoreOutcome, ShutdownOutcome, ShutdownReason, Status,
};
use crate::lifecycle::phases::{self, live_pids};
use crate::lifecycle::state::{Invocation, PendingInvoke, Phase, Shared};
use crate::telemetry::records::{self, ReportMetrics, ms};

/// A point in time on both clocks: monotonic (for durations) and wall (for records).
type Moment = (Instant, DateTime<Utc>);
/// What `platform.runtimeDone` said: status, error type, duration.
type Done = (Status, Option<String>, f64);

/// What happened before this invocation in the same invoke call.
pub(crate) struct Cold {
    /// An init run inside the invoke.
    pub init: Option<InitOutcome>,
    /// A SnapStart restore run inside the invoke.
    pub restore: Option<RestoreOutcome>,
    /// `initDurationMs` for the report.
    pub init_ms: Option<f64>,
    /// `restoreDurationMs` for the report.
    pub restore_ms: Option<f64>,
    /// There is no runtime to invoke: the init or the restore failed.
    pub unavailable: Option<NoRuntime>,
}

/// Why an invocation finds no runtime to invoke.
#[derive(Clone)]
pub(crate) enum NoRuntime {
    /// The init or restore failed and its environment is gone: the status and error type to
    /// report.
    Gone(Status, Option<String>),
    /// The init re-run inside this invoke (after a reset) failed or timed out, and its
    /// environment is still up: the invocation resets it after its report, as rapid's
    /// `handleReset` does.
    InlineInitFailed {
        /// The init ran out of the function's timeout.
        timed_out: bool,
    },
}

/// How an invocation's wait ended.
#[derive(Clone, Copy)]
enum End {
    Done,
    Timeout,
    OutOfMemory,
    RuntimeExit,
}

enum Progress {
    RuntimeFinished,
    End(End),
}

/// The ids and trace context of one invocation.
pub(crate) struct Ids {
    pub request_id: String,
    pub trace: String,
    pub tracing: Value,
    /// Tenant isolation mode: the invoke's tenant.
    pub tenant_id: Option<String>,
}

/// The start of an invocation: its ids, its clocks and deadline, and its `platform.start`.
pub(crate) struct Begun {
    pub ids: Ids,
    pub start: Instant,
    pub start_time: DateTime<Utc>,
    pub deadline: Instant,
    pub deadline_ms: i64,
}

/// Starts an invocation: new ids, the deadline from the function's timeout, `platform.start`
/// (with the tenant's `tenantId`, when there is one: rapid's `sendInvokeStartLogEvent` (b)).
/// `started`: when the invocation began, if before now (an init re-run inside it).
pub(crate) fn begin(
    shared: &Shared,
    started: Option<(Instant, DateTime<Utc>)>,
    tenant_id: Option<String>,
) -> Begun {
    let config = &shared.config;
    let mut ids = Ids::new();
    ids.tenant_id = tenant_id;
    let (start, start_time) = started.unwrap_or_else(|| (Instant::now(), Utc::now()));
    let timeout_ms = i64::try_from(config.timeout.as_millis()).unwrap_or(0);
    shared.emit(
        "platform.start",
        records::with_tenant(
            records::start(&ids.request_id, &config.version, &ids.tracing),
            ids.tenant_id.as_deref(),
        ),
    );
    Begun {
        ids,
        start,
        start_time,
        deadline: start + config.timeout,
        deadline_ms: start_time.timestamp_millis() + timeout_ms,
    }
}

impl Ids {
    pub(crate) fn new() -> Self {
        let span_id = ids::random_hex(8);
        let trace = ids::trace_header(&span_id);
        let tracing = records::tracing(&span_id, &trace);
        Self {
            request_id: ids::uuid_v4(),
            trace,
            tracing,
            tenant_id: None,
        }
    }
}

/// Invokes the function once and waits (bounded by the timeout and the shutdown deadline) until
/// the invocation ends; freezes the environment after it, or tears it down (the outcome's
/// `reset`) when the invocation failed it.
pub(crate) async fn run(
    shared: &Arc<Shared>,
    payload: Value,
    cold: Cold,
    started: Option<(Instant, DateTime<Utc>)>,
    tenant_id: Option<String>,
) -> InvokeOutcome {
    phases::thaw(shared);
    let Begun {
        ids,
        start,
        start_time,
        deadline,
        deadline_ms,
    } = begin(shared, started, tenant_id);
    if let Some(failed) = cold.unavailable.clone() {
        return finish_without_runtime(shared, ids, failed, start, cold).await;
    }
    let memory = MemoryWatch::start(shared);
    deliver(shared, &ids, deadline_ms, &payload);
    let waited = wait_for_end(shared, &ids, (start, start_time), deadline).await;
    let end_at = Instant::now();
    let (max_memory_used_mb, over_limit) = memory.stop(shared);
    let crashed_extension = shared.read(|st| st.extensions.iter().any(|e| e.exited.is_some()));
    let Verdict {
        status,
        error_type,
        reset,
    } = verdict(
        waited.end,
        over_limit,
        crashed_extension,
        waited.runtime_done.as_ref(),
    );
    if error_type.as_deref() == Some("Runtime.OutOfMemory") {
        kill_runtime(shared);
    }
    let duration_ms = ms(end_at.duration_since(start));
    let metrics = ReportMetrics {
        duration_ms,
        billed_duration_ms: records::billed_duration_ms(duration_ms, cold.init_ms),
        memory_size_mb: shared.config.memory_mb,
        max_memory_used_mb,
        init_duration_ms: cold.init_ms,
        restore_duration_ms: cold.restore_ms,
    };
    let runtime_duration_ms = report(
        shared,
        &ids,
        &waited,
        (status, error_type.as_deref()),
        &metrics,
        end_at,
    );
    let (response, reset) = settle(shared, reset).await;
    InvokeOutcome {
        request_id: ids.request_id,
        trace_id: ids.trace,
        status,
        error_type,
        response,
        duration_ms,
        runtime_duration_ms,
        billed_duration_ms: metrics.billed_duration_ms,
        max_memory_used_mb,
        init_duration_ms: cold.init_ms,
        restore_duration_ms: cold.restore_ms,
        init: cold.init,
        restore: cold.restore,
        reset,
    }
}

/// The memory an invocation uses: the environment's cgroup (the kernel limits it, and its peak
/// covers every process, as on Lambda), else the `/proc` fallback (per-process peaks and a
/// sampler that stands in for the limit).
struct MemoryWatch {
    /// The cgroup's OOM kills before the invocation.
    oom_kills_before: Option<u64>,
    /// The environment's processes when the invocation began.
    pids: Vec<u32>,
    /// Without a cgroup: whether the processes' peaks were reset, and the sampler.
    fallback: Option<(bool, Sampler)>,
}

impl MemoryWatch {
    /// Resets the peaks and starts the fallback's sampler.
    fn start(shared: &Arc<Shared>) -> Self {
        let cgroup = shared.cgroup.as_ref();
        let oom_kills_before = cgroup.map(|c| {
            c.reset_peak();
            c.oom_kills()
        });
        let pids = procfs::with_descendants(&live_pids(shared));
        let fallback = cgroup.is_none().then(|| {
            let peaks_reset = memory::reset_peaks(&pids);
            let limit_kb = u64::from(shared.config.memory_mb) * 1024;
            let sampler = Sampler::start(
                Arc::clone(shared),
                pids.clone(),
                limit_kb,
                shared.config.memory_sample_interval,
            );
            (peaks_reset, sampler)
        });
        Self {
            oom_kills_before,
            pids,
            fallback,
        }
    }

    /// The invocation's peak in MB (`maxMemoryUsedMB`), and whether it went over the limit.
    fn stop(self, shared: &Shared) -> (u64, bool) {
        match (shared.cgroup.as_ref(), self.fallback) {
            (Some(c), _) => (
                c.peak_bytes().unwrap_or(0).div_ceil(1024 * 1024),
                self.oom_kills_before.is_some_and(|before| c.oom_kills() > before),
            ),
            (None, Some((peaks_reset, sampler))) => {
                let all_pids = procfs::with_descendants(&self.pids);
                let hwm = if peaks_reset { memory::hwm_kb(&all_pids) } else { 0 };
                let mb = memory::kb_to_mb(sampler.stop().max(hwm));
                // Sampling can overshoot the limit between two samples; Lambda never reports
                // more than the memory size.
                let limit = u64::from(shared.config.memory_mb);
                (mb.min(limit), mb > limit)
            }
            (None, None) => (0, false),
        }
    }
}

/// Hands the event to the runtime (its next answers with it) and `INVOKE` to every extension
/// registered for it.
fn deliver(shared: &Shared, ids: &Ids, deadline_ms: i64, payload: &Value) {
    let config = &shared.config;
    let request_id = &ids.request_id;
    let event = json!({
        "eventType": "INVOKE",
        "deadlineMs": deadline_ms,
        "requestId": request_id,
        "invokedFunctionArn": config.function_arn(),
        "tracing": {"type": "X-Amzn-Trace-Id", "value": ids.trace},
    });
    shared.update(|st| {
        st.phase = Phase::Invoke;
        st.invocations = vec![Invocation {
            request_id: request_id.clone(),
            taken: false,
            result: None,
            oom: false,
        }];
        st.runtime.pending.push_back(PendingInvoke {
            request_id: request_id.clone(),
            deadline_ms,
            function_arn: config.function_arn(),
            trace: ids.trace.clone(),
            payload: bytes::Bytes::from(payload.to_string()),
            tenant_id: ids.tenant_id.clone(),
        });
        for e in st
            .extensions
            .iter_mut()
            .filter(|e| e.exited.is_none() && e.wants("INVOKE"))
        {
            e.queue.push_back(event.clone());
        }
    });
}

/// How an invocation's wait ended, and what the runtime said on the way.
struct Waited {
    end: End,
    /// `platform.runtimeDone`, once the runtime finished.
    runtime_done: Option<Done>,
    /// When the runtime called next after its result: where `extensionOverhead` starts.
    runtime_ready: Option<Moment>,
}

/// Waits until the runtime has finished (its result, then a next; `platform.runtimeDone` goes
/// out then) and every extension is idle again, or the invocation ends otherwise: its deadline,
/// an out-of-memory kill, the runtime's exit.
async fn wait_for_end(shared: &Shared, ids: &Ids, start: Moment, deadline: Instant) -> Waited {
    let request_id = &ids.request_id;
    let mut runtime_done: Option<Done> = None;
    let mut runtime_ready: Option<Moment> = None;
    let end = loop {
        let finished = runtime_done.is_some();
        let progress = shared
            .wait_until(Some(deadline), |st| {
                let inv = st.invocation(request_id)?;
                if inv.oom {
                    return Some(Progress::End(End::OutOfMemory));
                }
                if !finished {
                    if st.runtime.exited.is_some() {
                        return Some(Progress::End(End::RuntimeExit));
                    }
                    // Finished: a result, and a next after it.
                    let next_at = st.runtime.next_at.map(|n| n.0);
                    let done = inv
                        .result
                        .as_ref()
                        .is_some_and(|r| next_at >= Some(r.body_done_at.0));
                    return done.then_some(Progress::RuntimeFinished);
                }
                st.extensions
                    .iter()
                    .all(|e| e.idle())
                    .then_some(Progress::End(End::Done))
            })
            .await;
        match progress {
            None => break End::Timeout,
            Some(Progress::End(e)) => break e,
            Some(Progress::RuntimeFinished) => {
                let (done, ready_at) = emit_runtime_done(shared, ids, start.0, start.1);
                runtime_done = Some(done);
                runtime_ready = ready_at;
            }
        }
    };
    Waited {
        end,
        runtime_done,
        runtime_ready,
    }
}

/// What an invocation reports, and whether it ends the environment.
struct Verdict {
    status: Status,
    error_type: Option<String>,
    /// Why the environment is torn down after it, if it is.
    reset: Option<ShutdownReason>,
}

/// The status and error type of an invocation whose wait ended with `end`, and the reset it
/// calls for.
///
/// The AWS documentation lists the status values without mapping each failure; the sandbox
/// reports an out-of-memory kill as `error` with `Runtime.OutOfMemory`. A crash is `error` too
/// (the documentation's REPORT example: "Status: error Error Type: Runtime.ExitError");
/// `failure` goes with `Sandbox.*` errors, which the sandbox does not produce. A timeout is
/// `timeout` with no errorType (errorType is "present only when status is failure or error").
fn verdict(end: End, over_limit: bool, crashed_extension: bool, runtime_done: Option<&Done>) -> Verdict {
    let fail = |e: &str| Verdict {
        status: Status::Error,
        error_type: Some(e.to_owned()),
        reset: Some(ShutdownReason::Failure),
    };
    let ends = |status, error_type, reset| Verdict {
        status,
        error_type,
        reset,
    };
    match end {
        End::OutOfMemory => fail("Runtime.OutOfMemory"),
        // The kernel's OOM killer ended a process of the environment (cgroup), or the peak
        // passed the limit between two samples (fallback): Lambda reports it as out of memory.
        _ if over_limit => fail("Runtime.OutOfMemory"),
        End::Timeout => ends(Status::Timeout, None, Some(ShutdownReason::Timeout)),
        End::RuntimeExit => fail("Runtime.ExitError"),
        End::Done if crashed_extension => fail("Extension.Crash"),
        End::Done => match runtime_done {
            Some((s, e, _)) => ends(*s, e.clone(), None),
            None => ends(Status::Success, None, None),
        },
    }
}

/// Emits what telemetry still owes for the invocation: `platform.runtimeDone` when the runtime
/// never finished, then `platform.report` with its metrics and spans. Returns the runtime's
/// duration, when it finished.
fn report(
    shared: &Shared,
    ids: &Ids,
    waited: &Waited,
    (status, error_type): (Status, Option<&str>),
    metrics: &ReportMetrics,
    end_at: Instant,
) -> Option<f64> {
    let request_id = &ids.request_id;
    let runtime_duration_ms = match &waited.runtime_done {
        Some((_, _, d)) => Some(*d),
        // The runtime never finished: rapid sends this runtimeDone at the reset
        // (`handleReset`), which fills no `tenantId` (b).
        None => {
            shared.emit(
                "platform.runtimeDone",
                records::runtime_done(
                    request_id,
                    status.as_str(),
                    error_type,
                    metrics.duration_ms,
                    None,
                    Vec::new(),
                    &ids.tracing,
                ),
            );
            None
        }
    };
    // rapid reports the extensions' time after the runtime's next as `extensionOverhead` when
    // the environment has extensions (and the invocation got that far).
    let has_extensions = shared.read(|st| !st.extensions.is_empty());
    let spans = match waited.runtime_ready {
        Some((at, at_wall)) if has_extensions => vec![records::span(
            "extensionOverhead",
            at_wall,
            ms(end_at.saturating_duration_since(at)),
        )],
        _ => Vec::new(),
    };
    shared.emit(
        "platform.report",
        records::with_tenant(
            records::report(
                request_id,
                status.as_str(),
                error_type,
                metrics,
                spans,
                &ids.tracing,
            ),
            ids.tenant_id.as_deref(),
        ),
    );
    runtime_duration_ms
}

/// Over the limit, the kernel's OOM killer ends the runtime with SIGKILL; every other reset
/// starts with SIGTERM (`phases::teardown`).
fn kill_runtime(shared: &Shared) {
    if let Some(pid) = shared.read(|st| st.runtime.pid.filter(|_| st.runtime.exited.is_none())) {
        process::signal(pid, Signal::SIGKILL);
    }
}

/// Takes the runtime's response and leaves the environment idle; then freezes it, or tears it
/// down for `reset`.
async fn settle(shared: &Arc<Shared>, reset: Option<ShutdownReason>) -> (Bytes, Option<ShutdownOutcome>) {
    let response = shared.update(|st| {
        st.phase = Phase::Idle;
        st.runtime.pending.clear();
        st.invocations
            .pop()
            .and_then(|i| i.result)
            .map(|r| r.body)
            .unwrap_or_default()
    });
    let reset = match reset {
        Some(reason) => Some(phases::teardown(shared, reason).await),
        None => {
            phases::freeze(shared).await;
            None
        }
    };
    (response, reset)
}

/// Emits `platform.runtimeDone` once the runtime posted its result and called next again;
/// returns its status, error type and duration, and when that next came (where the
/// extensions' overhead starts).
fn emit_runtime_done(
    shared: &Shared,
    ids: &Ids,
    start: Instant,
    start_time: DateTime<Utc>,
) -> (Done, Option<Moment>) {
    let (result, next_at) = shared.read(|st| {
        (
            st.invocation(&ids.request_id).and_then(|i| i.result.clone()),
            st.runtime.next_at,
        )
    });
    let Some(r) = result else {
        return ((Status::Failure, None, 0.0), None);
    };
    let next_at = next_at.unwrap_or(r.body_done_at);
    let status = if r.error_type.is_some() {
        Status::Error
    } else {
        Status::Success
    };
    let mut spans = response_spans(&r, start, start_time);
    spans.push(records::span(
        "runtimeOverhead",
        r.body_done_at.1,
        ms(next_at.0.saturating_duration_since(r.body_done_at.0)),
    ));
    let duration = ms(next_at.0.saturating_duration_since(start));
    shared.emit(
        "platform.runtimeDone",
        records::with_tenant(
            records::runtime_done(
                &ids.request_id,
                status.as_str(),
                r.error_type.as_deref(),
                duration,
                Some(r.body.len() as u64),
                spans,
                &ids.tracing,
            ),
            ids.tenant_id.as_deref(),
        ),
    );
    ((status, r.error_type, duration), Some(next_at))
}

/// The `responseLatency` and `responseDuration` spans of a result.
pub(crate) fn response_spans(
    r: &crate::lifecycle::state::RuntimeResult,
    start: Instant,
    start_time: DateTime<Utc>,
) -> Vec<Value> {
    vec![
        records::span(
            "responseLatency",
            start_time,
            ms(r.headers_at.0.saturating_duration_since(start)),
        ),
        records::span(
            "responseDuration",
            r.headers_at.1,
            ms(r.body_done_at.0.saturating_duration_since(r.headers_at.0)),
        ),
    ]
}

/// The status and error type rapid's `handleReset` gives the `platform.runtimeDone` of an
/// invocation it resets, and the reset's reason (b, `internal/lambda/rapid/handlers.go`): a
/// timeout is `timeout` without an errorType; a failure carries the environment's first fatal
/// error, or `Sandbox.Failure` when none was recorded, with status `failure` for a `Sandbox.*`
/// error and `error` otherwise. rapid records a fatal error when the runtime or an extension
/// exits (`Runtime.ExitError`, `Extension.Crash`) or an extension reports `init/error`
/// (`Extension.InitError`), but not when the runtime reports `init/error`: a runtime that did
/// so and still runs at the reset gives `Sandbox.Failure`. Which of the runtime's exit and the
/// platform's reset comes first is a race on Lambda (d); the sandbox decides on what it has
/// seen when it resets.
fn reset_verdict(shared: &Shared, timed_out: bool) -> (Status, Option<String>, ShutdownReason) {
    if timed_out {
        return (Status::Timeout, None, ShutdownReason::Timeout);
    }
    let fatal = shared.read(|st| {
        let runtime_exited = st.runtime.exited.is_some();
        if st.runtime.init_error.is_some() {
            runtime_exited.then_some("Runtime.ExitError")
        } else if st.extensions.iter().any(|e| e.init_error.is_some()) {
            Some("Extension.InitError")
        } else if runtime_exited {
            Some("Runtime.ExitError")
        } else if st.extensions.iter().any(|e| e.exited.is_some()) {
            Some("Extension.Crash")
        } else {
            None
        }
    });
    let error_type = fatal.unwrap_or("Sandbox.Failure");
    let status = if error_type.starts_with("Sandbox.") {
        Status::Failure
    } else {
        Status::Error
    };
    (status, Some(error_type.to_owned()), ShutdownReason::Failure)
}

/// The report of an invocation that found no runtime (its init or restore failed).
///
/// When the init re-run inside this invoke failed or timed out, rapid's order is kept (b,
/// `doInvoke` and `handleReset`): the init's events, `platform.start` (already sent by
/// [`begin`]), then, at the reset, `platform.runtimeDone` with the reset's status, then the
/// platform's `platform.report` as for every invoke, with the same status; the reset itself
/// (SHUTDOWN to the extensions, still subscribed, so they receive all of it) comes last, as
/// after any invocation that fails its environment.
async fn finish_without_runtime(
    shared: &Arc<Shared>,
    ids: Ids,
    failed: NoRuntime,
    start: Instant,
    cold: Cold,
) -> InvokeOutcome {
    let (status, error_type, reset) = match failed {
        NoRuntime::Gone(status, error_type) => (status, error_type, None),
        NoRuntime::InlineInitFailed { timed_out } => {
            let (status, error_type, reason) = reset_verdict(shared, timed_out);
            shared.emit(
                "platform.runtimeDone",
                records::runtime_done_at_reset(
                    &ids.request_id,
                    status.as_str(),
                    error_type.as_deref(),
                    &ids.tracing,
                ),
            );
            (status, error_type, Some(reason))
        }
    };
    let duration_ms = ms(start.elapsed());
    let metrics = ReportMetrics {
        duration_ms,
        billed_duration_ms: records::billed_duration_ms(duration_ms, None),
        memory_size_mb: shared.config.memory_mb,
        max_memory_used_mb: 0,
        init_duration_ms: None,
        restore_duration_ms: None,
    };
    shared.emit(
        "platform.report",
        records::with_tenant(
            records::report(
                &ids.request_id,
                status.as_str(),
                error_type.as_deref(),
                &metrics,
                Vec::new(),
                &ids.tracing,
            ),
            ids.tenant_id.as_deref(),
        ),
    );
    let reset = match reset {
        Some(reason) => {
            shared.update(|st| st.phase = Phase::Idle);
            Some(phases::teardown(shared, reason).await)
        }
        None => None,
    };
    InvokeOutcome {
        request_id: ids.request_id,
        trace_id: ids.trace,
        status,
        error_type,
        response: bytes::Bytes::new(),
        duration_ms,
        runtime_duration_ms: None,
        billed_duration_ms: metrics.billed_duration_ms,
        max_memory_used_mb: 0,
        init_duration_ms: None,
        restore_duration_ms: None,
        init: cold.init,
        restore: cold.restore,
        reset,
    }
}
