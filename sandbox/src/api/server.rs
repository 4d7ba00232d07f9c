//! The HTTP listener for the Runtime, Extensions and Telemetry APIs (one port, as in Lambda).

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::api::{extensions as extensions_api, runtime as runtime_api, telemetry as telemetry_api};
use crate::lifecycle::state::Shared;

pub(crate) type Resp = Response<Full<Bytes>>;

/// A JSON answer.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

/// An error answer in Lambda's `{errorMessage, errorType}` shape.
pub(crate) fn error_response(status: StatusCode, error_type: &str, message: &str) -> Resp {
    json_response(status, &json!({"errorType": error_type, "errorMessage": message}))
}

/// `202 {"status":"OK"}`.
pub(crate) fn accepted() -> Resp {
    json_response(StatusCode::ACCEPTED, &json!({"status": "OK"}))
}

/// A header as text.
pub(crate) fn header<'a>(req: &'a Request<Incoming>, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Hands every connection `listener` accepts to `handle`, until the task is aborted. An accept
/// error (out of file descriptors, say) is logged with `what` and retried after a pause that
/// doubles up to a second, so a persistent error does not spin a core.
pub(crate) async fn accept_each(
    listener: TcpListener,
    what: &'static str,
    mut handle: impl FnMut(TcpStream),
) {
    const FIRST_PAUSE: std::time::Duration = std::time::Duration::from_millis(5);
    const LONGEST_PAUSE: std::time::Duration = std::time::Duration::from_secs(1);
    let mut pause = FIRST_PAUSE;
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                pause = FIRST_PAUSE;
                handle(stream);
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = pause.as_millis() as u64, "{what}: accept failed");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(LONGEST_PAUSE);
            }
        }
    }
}

/// Serves the APIs on every connection until the task is aborted.
pub(crate) fn serve(listener: TcpListener, shared: Arc<Shared>) -> JoinHandle<()> {
    tokio::spawn(accept_each(listener, "the APIs", move |stream| {
        // Nagle off: an answer (a SHUTDOWN event above all) goes out at once, never held for
        // the extension's delayed ACK (up to 40 ms on Linux).
        let _ = stream.set_nodelay(true);
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let shared = Arc::clone(&shared);
                async move { Ok::<_, Infallible>(route(shared, req).await) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await
            {
                tracing::debug!(error = %e, "API connection ended");
            }
        });
    }))
}

async fn route(shared: Arc<Shared>, req: Request<Incoming>) -> Resp {
    let path = req.uri().path().trim_end_matches('/').to_owned();
    let method = req.method().clone();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        (Method::GET, ["2018-06-01", "runtime", "invocation", "next"]) => runtime_api::next(&shared).await,
        (Method::POST, ["2018-06-01", "runtime", "invocation", id, "response"]) => {
            let id = (*id).to_owned();
            runtime_api::result(&shared, &id, None, req).await
        }
        (Method::POST, ["2018-06-01", "runtime", "invocation", id, "error"]) => {
            let id = (*id).to_owned();
            let error_type = header(&req, "lambda-runtime-function-error-type").map(str::to_owned);
            runtime_api::result(&shared, &id, Some(error_type), req).await
        }
        (Method::GET, ["2018-06-01", "runtime", "restore", "next"]) => {
            runtime_api::restore_next(&shared).await
        }
        (Method::POST, ["2018-06-01", "runtime", "restore", "error"]) => {
            runtime_api::restore_error(&shared, req).await
        }
        (Method::POST, ["2018-06-01", "runtime", "init", "error"]) => {
            runtime_api::init_error(&shared, req).await
        }
        (Method::POST, ["2020-01-01", "extension", "register"]) => {
            extensions_api::register(&shared, req).await
        }
        (Method::GET, ["2020-01-01", "extension", "event", "next"]) => {
            extensions_api::next(&shared, &req).await
        }
        (Method::POST, ["2020-01-01", "extension", "init", "error"]) => {
            extensions_api::report_error(&shared, &req, true)
        }
        (Method::POST, ["2020-01-01", "extension", "exit", "error"]) => {
            extensions_api::report_error(&shared, &req, false)
        }
        (Method::PUT, ["2022-07-01", "telemetry"]) => telemetry_api::subscribe(&shared, req).await,
        _ => error_response(
            StatusCode::NOT_FOUND,
            "InvalidRequest",
            &format!("the sandbox serves no {} {}", req.method(), req.uri().path()),
        ),
    }
}
