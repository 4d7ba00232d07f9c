//! Runtime API 2018-06-01: what the function's runtime (`bootstrap`) talks to.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use chrono::Utc;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;

use crate::api::response::{Resp, accepted, error_response};
use crate::config::InitializationType;
use crate::lifecycle::state::{Phase, RuntimeResult, Shared, State};
use crate::telemetry::records;

/// Lambda's limit for a buffered response payload (6 MB).
const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;

/// `GET /2018-06-01/runtime/invocation/next`: the runtime (or one of its workers) is done with
/// its previous work and waits (no time limit, like Lambda) for the next invocation. On Lambda
/// Managed Instances a runtime polls from several workers at once (`AWS_LAMBDA_MAX_CONCURRENCY`
/// of them); each call takes one pending invocation.
pub(crate) async fn next(shared: &Arc<Shared>) -> Resp {
    let generation = shared.update(|st| {
        st.runtime.next_at = Some((Instant::now(), Utc::now()));
        if st.phase == Phase::Restore {
            // SnapStart: the after-restore hooks are done.
            st.runtime.restored = true;
        }
        mark_ready(shared, st);
        st.generation
    });
    let pending = shared
        .wait_until(None, |st| {
            if st.generation != generation {
                return Some(None);
            }
            let p = st.runtime.pending.pop_front()?;
            if let Some(inv) = st.invocation_mut(&p.request_id) {
                inv.taken = true;
            }
            Some(Some(p))
        })
        .await
        .flatten();
    let Some(p) = pending else {
        return error_response(
            StatusCode::GONE,
            "Runtime.EnvironmentReset",
            "this runtime process belongs to an environment that was reset",
        );
    };
    let mut r = Response::new(Full::new(p.payload));
    let h = r.headers_mut();
    let pairs = [
        ("lambda-runtime-aws-request-id", p.request_id),
        ("lambda-runtime-deadline-ms", p.deadline_ms.to_string()),
        ("lambda-runtime-invoked-function-arn", p.function_arn),
        ("lambda-runtime-trace-id", p.trace),
        ("content-type", "application/json".to_owned()),
    ];
    // Tenant isolation mode: the invoke's tenant, only when it has one (rapid's renderer sets
    // the header only when not empty (b)).
    let tenant = p.tenant_id.map(|t| ("lambda-runtime-aws-tenant-id", t));
    for (k, v) in pairs.into_iter().chain(tenant) {
        if let Ok(v) = http::HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    }
    r
}

/// `POST .../invocation/{id}/response` (`error_type` = `None`) and `.../error`
/// (`Some(header value)`).
pub(crate) async fn result(
    shared: &Arc<Shared>,
    id: &str,
    error_type: Option<Option<String>>,
    req: Request<Incoming>,
) -> Resp {
    let headers_at = (Instant::now(), Utc::now());
    let known = shared.read(|st| st.invocation(id).is_some_and(|i| i.taken && i.result.is_none()));
    if !known {
        return error_response(
            StatusCode::BAD_REQUEST,
            "InvalidRequestID",
            &format!("request id {id} is not the running invocation, or it already has a result"),
        );
    }
    let (body, too_large) = match Limited::new(req.into_body(), MAX_RESPONSE_BYTES).collect().await {
        Ok(b) => (b.to_bytes(), false),
        Err(_) => (Bytes::new(), true),
    };
    let body_done_at = (Instant::now(), Utc::now());
    let error_type = if too_large {
        Some("Function.ResponseSizeTooLarge".to_owned())
    } else {
        // The errorType is the Lambda-Runtime-Function-Error-Type header, kept when it is
        // shaped Runtime.X or Function.X and Runtime.Unknown otherwise (or when it is missing),
        // as AWS's Lambda core does (`GetValidRuntimeOrFunctionErrorType` in the Runtime
        // Interface Emulator's rapid). The body's own errorType is the function's business.
        error_type.map(|header| valid_error_type(header.as_deref().unwrap_or_default()))
    };
    shared.update(|st| {
        if let Some(inv) = st.invocation_mut(id).filter(|i| i.result.is_none()) {
            inv.result = Some(RuntimeResult {
                error_type,
                body,
                headers_at,
                body_done_at,
            });
        }
    });
    if too_large {
        return error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            &format!("response is larger than {MAX_RESPONSE_BYTES} bytes"),
        );
    }
    accepted()
}

/// `POST /2018-06-01/runtime/init/error`.
pub(crate) async fn init_error(shared: &Arc<Shared>, req: Request<Incoming>) -> Resp {
    let error_type = valid_error_type(
        crate::api::response::header(&req, "lambda-runtime-function-error-type").unwrap_or_default(),
    );
    let _ = req.into_body().collect().await;
    let accepted_now = shared.update(|st| {
        if st.phase != Phase::Init {
            return false;
        }
        st.runtime.init_error = Some(error_type.clone());
        if !st.init_runtime_done_emitted {
            st.init_runtime_done_emitted = true;
            let info = shared.init_info(st.init_phase);
            shared.emit(
                "platform.initRuntimeDone",
                records::init_runtime_done(&info, "error", Some(&error_type)),
            );
        }
        true
    });
    if accepted_now {
        accepted()
    } else {
        error_response(
            StatusCode::FORBIDDEN,
            "InvalidStateTransition",
            "init/error is only accepted during init",
        )
    }
}

/// The runtime's first `next` (invocation or restore) ends its part of the init phase.
fn mark_ready(shared: &Shared, st: &mut State) {
    if st.runtime.ready {
        return;
    }
    st.runtime.ready = true;
    if st.phase == Phase::Init && !st.init_runtime_done_emitted {
        st.init_runtime_done_emitted = true;
        let info = shared.init_info(st.init_phase);
        shared.emit(
            "platform.initRuntimeDone",
            records::init_runtime_done(&info, "success", None),
        );
    }
}

/// `GET /2018-06-01/runtime/restore/next` (SnapStart): the runtime finished its init (and its
/// before-snapshot hooks) and waits for the restore. Lambda takes the snapshot here; the call
/// returns when the environment is restored, and the runtime then runs its after-restore hooks
/// and calls `invocation/next`. A runtime may also skip this call and poll `invocation/next`
/// directly: its restore then has no hooks to wait for.
pub(crate) async fn restore_next(shared: &Arc<Shared>) -> Resp {
    let snap_start = shared.config.initialization_type == InitializationType::SnapStart;
    let generation = shared.update(|st| {
        if !snap_start || st.phase != Phase::Init || st.runtime.restore_waiting {
            return None;
        }
        st.runtime.restore_waiting = true;
        st.runtime.next_at = Some((Instant::now(), Utc::now()));
        mark_ready(shared, st);
        Some(st.generation)
    });
    let Some(generation) = generation else {
        // The documentation does not give this answer; status and errorType are the sandbox's.
        return error_response(
            StatusCode::FORBIDDEN,
            "InvalidStateTransition",
            "restore/next is accepted once, during the init phase of a SnapStart function \
             (AWS_LAMBDA_INITIALIZATION_TYPE=snap-start)",
        );
    };
    let released = shared
        .wait_until(None, |st| {
            if st.generation != generation {
                return Some(false);
            }
            (st.phase == Phase::Restore).then_some(true)
        })
        .await;
    if released != Some(true) {
        return error_response(
            StatusCode::GONE,
            "Runtime.EnvironmentReset",
            "this runtime process belongs to an environment that was reset",
        );
    }
    shared.update(|st| st.runtime.restore_waiting = false);
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = StatusCode::OK;
    r
}

/// `POST /2018-06-01/runtime/restore/error` (SnapStart): an after-restore hook failed. The
/// error type is the `Lambda-Runtime-Function-Error-Type` header (runtimes send
/// `Runtime.AfterRestoreError`), validated as for an invocation's error.
pub(crate) async fn restore_error(shared: &Arc<Shared>, req: Request<Incoming>) -> Resp {
    let error_type = valid_error_type(
        crate::api::response::header(&req, "lambda-runtime-function-error-type").unwrap_or_default(),
    );
    let _ = Limited::new(req.into_body(), 64 * 1024).collect().await;
    let accepted_now = shared.update(|st| {
        if st.phase != Phase::Restore {
            return false;
        }
        st.runtime.restore_error = Some(error_type);
        true
    });
    if accepted_now {
        accepted()
    } else {
        error_response(
            StatusCode::FORBIDDEN,
            "InvalidStateTransition",
            "restore/error is only accepted during a SnapStart restore",
        )
    }
}

/// The error type Lambda reports for a runtime's `Lambda-Runtime-Function-Error-Type` header:
/// kept when it holds `Runtime.` or `Function.` followed by a capital and letters (anywhere in
/// it, as rapid's unanchored `(Runtime|Function)\.[A-Z][a-zA-Z]+` match), else
/// `Function.Unknown` for other `Function.` values and `Runtime.Unknown` for the rest (an empty
/// or missing header too). rapid: `fatalerror.GetValidRuntimeOrFunctionErrorType`.
pub(crate) fn valid_error_type(header: &str) -> String {
    let shaped = ["Runtime.", "Function."].iter().any(|prefix| {
        header.match_indices(prefix).any(|(at, p)| {
            let rest = header.get(at + p.len()..).unwrap_or_default();
            let mut chars = rest.chars();
            chars.next().is_some_and(|c| c.is_ascii_uppercase())
                && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        })
    });
    if shaped {
        header.to_owned()
    } else if header.starts_with("Function.") {
        "Function.Unknown".to_owned()
    } else {
        "Runtime.Unknown".to_owned()
    }
}

#[cfg(test)]
mod error_type_tests {
    use super::valid_error_type;

    #[test]
    fn error_types_follow_rapids_rule() {
        for (header, reported) in [
            ("Runtime.CustomError", "Runtime.CustomError"),
            ("Function.CustomError", "Function.CustomError"),
            ("Runtime.ImportModuleError", "Runtime.ImportModuleError"),
            ("Runtime.AfterRestoreError", "Runtime.AfterRestoreError"),
            ("Unhandled", "Runtime.Unknown"),
            ("InvalidType", "Runtime.Unknown"),
            ("", "Runtime.Unknown"),
            ("Function.x", "Function.Unknown"),
            ("Runtime.A", "Runtime.Unknown"),
            ("&mut String", "Runtime.Unknown"),
            ("My.Runtime.Error", "My.Runtime.Error"),
        ] {
            assert_eq!(valid_error_type(header), reported, "{header:?}");
        }
    }
}
