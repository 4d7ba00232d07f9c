//! Runtime API 2018-06-01: what the function's runtime (`bootstrap`) talks to.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use chrono::Utc;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde_json::Value;

use crate::records;
use crate::server::{Resp, accepted, error_response};
use crate::state::{Phase, RuntimeResult, Shared};

/// Lambda's limit for a buffered response payload (6 MB).
const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;

/// `GET /2018-06-01/runtime/invocation/next`: the runtime is done with its previous work and
/// waits (no time limit, like Lambda) for the next invocation.
pub(crate) async fn next(shared: &Arc<Shared>) -> Resp {
    let generation = shared.update(|st| {
        st.runtime.busy = false;
        st.runtime.next_at = Some((Instant::now(), Utc::now()));
        if !st.runtime.ready {
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
        st.generation
    });
    let pending = shared
        .wait_until(None, |st| {
            if st.generation != generation {
                return Some(None);
            }
            let p = st.runtime.pending.take()?;
            st.runtime.busy = true;
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
    for (k, v) in pairs {
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
    let known = shared.read(|st| {
        st.invocation
            .as_ref()
            .is_some_and(|i| i.request_id == id && i.result.is_none())
            && st.runtime.busy
    });
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
        error_type.map(|header| {
            // The body's errorType names the error (runtimes such as lambda_runtime send only a
            // generic "unhandled" in the Lambda-Runtime-Function-Error-Type header); the header
            // is the fallback. The docs do not say what Lambda reports when both are missing:
            // the sandbox says Runtime.Unknown.
            serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v.get("errorType").and_then(Value::as_str).map(str::to_owned))
                .or(header)
                .unwrap_or_else(|| "Runtime.Unknown".to_owned())
        })
    };
    shared.update(|st| {
        if let Some(inv) = st
            .invocation
            .as_mut()
            .filter(|i| i.request_id == id && i.result.is_none())
        {
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
    let error_type = crate::server::header(&req, "lambda-runtime-function-error-type")
        .unwrap_or("Runtime.InitError")
        .to_owned();
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
