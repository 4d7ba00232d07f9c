//! The HTTP listener for the Runtime, Extensions and Telemetry APIs (one port, as in Lambda).

use std::convert::Infallible;
use std::sync::Arc;

use http::{Method, Request, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::api::response::{Resp, error_response, header};
use crate::api::{extensions as extensions_api, runtime as runtime_api, telemetry as telemetry_api};
use crate::lifecycle::state::Shared;
use crate::net::accept_each;

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
