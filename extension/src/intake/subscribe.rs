//! `PUT /2022-07-01/telemetry`: subscribes the listener to platform events.

use std::time::Duration;

use http::{Method, StatusCode};
use http_body_util::BodyExt;
use lambda_runtime_api_client::body::Body;
use lambda_runtime_api_client::{PooledClient, build_request};
use serde_json::json;

use crate::config::Buffering;

/// Required on Lambda Managed Instances, accepted everywhere else.
const SCHEMA_VERSION: &str = "2025-01-29";
/// Tried once when a platform refuses [`SCHEMA_VERSION`] (an older one, or an emulator).
const FALLBACK_SCHEMA_VERSION: &str = "2022-12-13";
/// The whole subscription, fallback included, gets this long: on Lambda it takes milliseconds,
/// and the function's init waits for the extension meanwhile.
const DEADLINE: Duration = Duration::from_millis(1_500);

#[derive(Debug, thiserror::Error)]
pub(crate) enum SubscribeError {
    #[error("AWS_LAMBDA_RUNTIME_API={0:?} is not a host:port the Telemetry API can be reached at")]
    BadEndpoint(String),
    #[error("the Telemetry API at {endpoint} could not be reached: {reason}")]
    Unreachable { endpoint: String, reason: String },
    #[error("the Telemetry API refused the subscription ({status}): {body}")]
    Refused { status: StatusCode, body: String },
}

impl SubscribeError {
    /// The platform has no Telemetry API (the Runtime Interface Emulator, and so `sam local`,
    /// answer `202 {"errorType":"Telemetry.NotSupported"}`).
    pub(crate) fn is_not_supported(&self) -> bool {
        matches!(self, Self::Refused { body, .. } if body.contains("Telemetry.NotSupported"))
    }
}

/// Subscribes `extension_id` to `platform` events, delivered to `destination`, with `client`
/// (the Extensions API's, for `runtime_api`: one HTTP client in the binary, not two).
/// Only platform events: the extension's own stdout (the EMF) must never come back to it.
pub(crate) async fn subscribe(
    client: &PooledClient,
    runtime_api: &str,
    extension_id: &str,
    destination: &str,
    buffering: Buffering,
    allow_fallback: bool,
) -> Result<&'static str, SubscribeError> {
    let until = tokio::time::Instant::now() + DEADLINE;
    match put(
        client,
        runtime_api,
        extension_id,
        destination,
        buffering,
        SCHEMA_VERSION,
        until,
    )
    .await
    {
        Err(SubscribeError::Refused { status, body }) if allow_fallback && status.is_client_error() => {
            tracing::info!(%status, %body, "schema {SCHEMA_VERSION} refused; trying {FALLBACK_SCHEMA_VERSION}");
            put(
                client,
                runtime_api,
                extension_id,
                destination,
                buffering,
                FALLBACK_SCHEMA_VERSION,
                until,
            )
            .await?;
            Ok(FALLBACK_SCHEMA_VERSION)
        }
        other => other.map(|()| SCHEMA_VERSION),
    }
}

async fn put(
    client: &PooledClient,
    runtime_api: &str,
    extension_id: &str,
    destination: &str,
    buffering: Buffering,
    schema: &str,
    until: tokio::time::Instant,
) -> Result<(), SubscribeError> {
    let endpoint = format!("http://{runtime_api}/2022-07-01/telemetry");
    let body = json!({
        "schemaVersion": schema,
        "types": ["platform"],
        "buffering": {
            "maxItems": buffering.max_items,
            "maxBytes": buffering.max_bytes,
            "timeoutMs": buffering.timeout_ms,
        },
        "destination": {"protocol": "HTTP", "URI": destination},
    });
    let request = build_request()
        .method(Method::PUT)
        .uri("/2022-07-01/telemetry")
        .header("Lambda-Extension-Identifier", extension_id)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .map_err(|_| SubscribeError::BadEndpoint(runtime_api.to_owned()))?;
    let unreachable = |reason: String| SubscribeError::Unreachable {
        endpoint: endpoint.clone(),
        reason,
    };
    let response = tokio::time::timeout_at(until, client.call(request))
        .await
        .map_err(|_| unreachable(format!("no answer within {} ms", DEADLINE.as_millis())))?
        .map_err(|e| unreachable(e.to_string()))?;
    let status = response.status();
    let body = tokio::time::timeout_at(until, response.into_body().collect())
        .await
        .ok()
        .and_then(Result::ok)
        .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
        .unwrap_or_default();
    // The Runtime Interface Emulator (sam local) answers 202 with Telemetry.NotSupported:
    // only a 200 is a subscription.
    if status == StatusCode::OK {
        Ok(())
    } else {
        Err(SubscribeError::Refused {
            status,
            body: crate::text::clip(&body).into_owned(),
        })
    }
}
