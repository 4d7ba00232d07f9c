//! Lambda Managed Instances: several invocations at once in one environment.
//!
//! What the AWS documentation says, and what the sandbox does with it:
//! - "Lambda Managed Instances process multiple requests concurrently within each execution
//!   environment", up to `PerExecutionEnvironmentMaxConcurrency`. How a runtime does it varies:
//!   Java uses threads of one process, Python one process per concurrent request, Node.js worker
//!   threads, Rust (`provided.al2023`) one process with that many Tokio tasks, each handling one
//!   request at a time. To the Runtime API all of these are several concurrent
//!   `invocation/next` polls; the sandbox starts one `bootstrap`, gives it the limit as
//!   `AWS_LAMBDA_MAX_CONCURRENCY` (see `Config::process_env`) and hands each pending invocation
//!   to whichever poll is waiting.
//! - Extensions cannot register for INVOKE, so an invocation ends when the runtime has sent its
//!   result: `durationMs` runs from start to the end of the response.
//! - Telemetry: "The `platform.runtimeDone` event is not supported for Lambda Managed
//!   Instances"; `platform.report` has only `durationMs` in its metrics and carries the
//!   `responseLatency` and `responseDuration` spans instead.
//! - The environment is not frozen between invocations.
//!
//! Where the documentation is silent, the sandbox's choices:
//! - More payloads than the limit are queued until a poll takes them (Lambda may throttle
//!   instead); each one's timeout runs from its `platform.start`.
//! - A timed-out invocation is reported (`timeout`, `Sandbox.Timedout`) without resetting the
//!   environment, which keeps serving the others; a late result for it is refused.
//! - A runtime that exits fails every invocation in flight (`failure`, `Runtime.ExitError`), and
//!   the environment is reset once they all have ended.
//! - No memory limit is enforced and `maxMemoryUsedMB` is not measured (it is not reported).

use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;
use tokio::task::JoinSet;

use crate::lifecycle::invoke::{Begun, Ids, begin, response_spans};
use crate::lifecycle::outcome::{InvokeOutcome, ShutdownReason, Status};
use crate::lifecycle::state::{Invocation, PendingInvoke, Phase, Shared};
use crate::telemetry::records::{self, ms};

/// An invocation's outcome, and the reset it calls for.
pub(crate) type Ended = (InvokeOutcome, Option<ShutdownReason>);

/// Runs every payload at once; the outcomes come back in the payloads' order.
pub(crate) async fn invoke_all(shared: &Arc<Shared>, payloads: Vec<Value>) -> Vec<Ended> {
    let mut set = JoinSet::new();
    let n = payloads.len();
    for (i, payload) in payloads.into_iter().enumerate() {
        let shared = Arc::clone(shared);
        set.spawn(async move { (i, invoke_one(&shared, payload).await) });
    }
    let mut done: Vec<(usize, Ended)> = Vec::with_capacity(n);
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(x) => done.push(x),
            // invoke_one has no panicking path; a lost task leaves its slot out.
            Err(e) => tracing::error!(error = %e, "a concurrent invocation task failed"),
        }
    }
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, e)| e).collect()
}

enum End {
    Done,
    Timeout,
    RuntimeExit,
}

async fn invoke_one(shared: &Arc<Shared>, payload: Value) -> Ended {
    let config = &shared.config;
    let Begun {
        ids,
        start,
        start_time,
        deadline,
        deadline_ms,
    } = begin(shared, None, None);
    let id = ids.request_id.clone();
    shared.update(|st| {
        st.phase = Phase::Invoke;
        st.invocations.push(Invocation {
            request_id: id.clone(),
            taken: false,
            result: None,
            oom: false,
        });
        st.runtime.pending.push_back(PendingInvoke {
            request_id: id.clone(),
            deadline_ms,
            function_arn: config.function_arn(),
            trace: ids.trace.clone(),
            payload: bytes::Bytes::from(payload.to_string()),
            tenant_id: None,
        });
    });
    let end = shared
        .wait_until(Some(deadline), |st| {
            if st.invocation(&id).is_some_and(|i| i.result.is_some()) {
                return Some(End::Done);
            }
            st.runtime.exited.is_some().then_some(End::RuntimeExit)
        })
        .await
        .unwrap_or(End::Timeout);
    let end_at = Instant::now();
    let result = shared.update(|st| {
        st.runtime.pending.retain(|p| p.request_id != id);
        let taken = st
            .invocations
            .iter()
            .position(|i| i.request_id == id)
            .map(|p| st.invocations.remove(p));
        if st.invocations.is_empty() && st.phase == Phase::Invoke {
            st.phase = Phase::Idle;
        }
        taken.and_then(|i| i.result)
    });
    let (status, error_type, reset) = match (&end, &result) {
        (End::Done, Some(r)) => match &r.error_type {
            Some(e) => (Status::Error, Some(e.clone()), None),
            None => (Status::Success, None, None),
        },
        (End::Timeout, _) => (Status::Timeout, Some("Sandbox.Timedout".to_owned()), None),
        (End::RuntimeExit | End::Done, _) => (
            Status::Failure,
            Some("Runtime.ExitError".to_owned()),
            Some(ShutdownReason::Failure),
        ),
    };
    let (duration_ms, spans) = match &result {
        Some(r) => (
            ms(r.body_done_at.0.saturating_duration_since(start)),
            response_spans(r, start, start_time),
        ),
        None => (ms(end_at.saturating_duration_since(start)), Vec::new()),
    };
    shared.emit(
        "platform.report",
        records::report_managed(
            &id,
            status.as_str(),
            error_type.as_deref(),
            duration_ms,
            spans,
            &ids.tracing,
        ),
    );
    let outcome = InvokeOutcome {
        request_id: id,
        trace_id: ids.trace,
        status,
        error_type,
        response: result.map(|r| r.body).unwrap_or_default(),
        duration_ms,
        runtime_duration_ms: None,
        billed_duration_ms: 0,
        max_memory_used_mb: 0,
        init_duration_ms: None,
        restore_duration_ms: None,
        init: None,
        restore: None,
        reset: None,
    };
    (outcome, reset)
}

/// The outcome of an invocation that found no runtime (the init re-run failed).
pub(crate) fn unavailable(shared: &Shared, error_type: &str) -> InvokeOutcome {
    let ids = Ids::new();
    let start = Instant::now();
    shared.emit(
        "platform.start",
        records::start(&ids.request_id, &shared.config.version, &ids.tracing),
    );
    let duration_ms = ms(start.elapsed());
    shared.emit(
        "platform.report",
        records::report_managed(
            &ids.request_id,
            Status::Error.as_str(),
            Some(error_type),
            duration_ms,
            Vec::new(),
            &ids.tracing,
        ),
    );
    InvokeOutcome {
        request_id: ids.request_id,
        trace_id: ids.trace,
        status: Status::Error,
        error_type: Some(error_type.to_owned()),
        response: bytes::Bytes::new(),
        duration_ms,
        runtime_duration_ms: None,
        billed_duration_ms: 0,
        max_memory_used_mb: 0,
        init_duration_ms: None,
        restore_duration_ms: None,
        init: None,
        restore: None,
        reset: None,
    }
}
