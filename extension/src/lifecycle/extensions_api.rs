//! The Extensions API calls lambda-lens makes: register (here), then `/event/next` until
//! SHUTDOWN (on a connection of its own: [`super::events`]).
//!
//! Written on `lambda_runtime_api_client` (the aws-lambda-rust-runtime family's HTTP client for
//! Lambda's APIs) rather than the `lambda-extension` crate's `Extension` builder: the builder's
//! `register` is one generic function that also instantiates the crate's Logs and Telemetry API
//! listeners (a hyper server and the crate's closed-enum record deserializers), which lambda-lens
//! never uses, since it decodes with its own crate. Dropping them made the binary smaller and
//! idle memory lower (BENCHMARKS.md, "Size and memory levers"). The two calls and one event
//! type are all the Extensions API asks of us; the Telemetry API subscription goes through the
//! same client.

use http::{Method, StatusCode};
use http_body_util::BodyExt;
use lambda_runtime_api_client::body::Body;
use lambda_runtime_api_client::{BoxError, PooledClient, build_request};
use serde::Deserialize;
use std::borrow::Cow;

use crate::model::RequestId;

/// The header that carries the extension's identifier (register's answer, every later call).
pub(crate) const EXTENSION_ID: &str = "Lambda-Extension-Identifier";

/// A failed Extensions API call, named, with what it failed on.
#[derive(Debug, thiserror::Error)]
pub enum ExtensionsApiError {
    #[error("{call} could not be sent or answered: {source}")]
    Request {
        call: &'static str,
        #[source]
        source: BoxError,
    },
    #[error("{call} was refused ({status}): {body}")]
    Refused {
        call: &'static str,
        status: StatusCode,
        body: String,
    },
    #[error("the registration's answer has no {EXTENSION_ID} header")]
    NoIdentifier,
    #[error("{call} answered with a body that is not the documented event: {source}")]
    Decode {
        call: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

/// One event from `/event/next`: only the fields lambda-lens uses.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NextEvent {
    Invoke { request_id: RequestId },
    Shutdown { reason: String, deadline_ms: u64 },
}

/// The event's JSON, read flat. serde's internally tagged enum (`#[serde(tag = "eventType")]`)
/// buffers every member of the object before it picks the variant, an allocation per member
/// (the ARN, the tracing object, ...) on the thread that answers Lambda, at every invocation;
/// here the unread members are skipped and the request id is read in place.
#[derive(Deserialize)]
struct Wire<'a> {
    #[serde(rename = "eventType", borrow)]
    kind: Cow<'a, str>,
    #[serde(
        rename = "requestId",
        borrow,
        default,
        deserialize_with = "lambda_lens_telemetry::wire::optional_text"
    )]
    request_id: Option<Cow<'a, str>>,
    #[serde(rename = "shutdownReason", default)]
    reason: Option<String>,
    #[serde(rename = "deadlineMs", default)]
    deadline_ms: Option<u64>,
}

impl NextEvent {
    /// The event `body` holds: `INVOKE` with its `requestId`, or `SHUTDOWN` with its
    /// `shutdownReason` and `deadlineMs`; anything else is an error.
    pub(crate) fn decode(body: &[u8]) -> Result<Self, serde_json::Error> {
        use serde::de::Error as _;
        let wire: Wire<'_> = serde_json::from_slice(body)?;
        match wire.kind.as_ref() {
            "INVOKE" => {
                let id = wire
                    .request_id
                    .ok_or_else(|| serde_json::Error::missing_field("requestId"))?;
                Ok(Self::Invoke {
                    request_id: RequestId::new(&id),
                })
            }
            "SHUTDOWN" => Ok(Self::Shutdown {
                reason: wire
                    .reason
                    .ok_or_else(|| serde_json::Error::missing_field("shutdownReason"))?,
                deadline_ms: wire
                    .deadline_ms
                    .ok_or_else(|| serde_json::Error::missing_field("deadlineMs"))?,
            }),
            other => Err(serde_json::Error::unknown_variant(other, &["INVOKE", "SHUTDOWN"])),
        }
    }
}

/// The client for the Extensions API (and the Telemetry API's subscription) at `runtime_api`,
/// a `host:port` checked beforehand.
pub(crate) fn client(runtime_api: &str) -> Result<PooledClient, http::uri::InvalidUri> {
    let base = format!("http://{runtime_api}").parse()?;
    Ok(PooledClient::builder().with_endpoint(base).build())
}

/// Sends `request` and reads the whole answer; anything but `expected` is [`ExtensionsApiError::Refused`].
pub(crate) async fn call(
    client: &PooledClient,
    call: &'static str,
    request: http::Request<Body>,
    expected: StatusCode,
) -> Result<(http::HeaderMap, bytes::Bytes), ExtensionsApiError> {
    let response = client
        .call(request)
        .await
        .map_err(|source| ExtensionsApiError::Request { call, source })?;
    read(call, response, expected).await
}

/// Reads the whole answer to `call`; anything but `expected` is [`ExtensionsApiError::Refused`].
pub(crate) async fn read(
    call: &'static str,
    response: http::Response<hyper::body::Incoming>,
    expected: StatusCode,
) -> Result<(http::HeaderMap, bytes::Bytes), ExtensionsApiError> {
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| ExtensionsApiError::Request {
            call,
            source: e.into(),
        })?
        .to_bytes();
    if parts.status != expected {
        return Err(ExtensionsApiError::Refused {
            call,
            status: parts.status,
            body: crate::text::clip(&String::from_utf8_lossy(&body)).into_owned(),
        });
    }
    Ok((parts.headers, body))
}

/// `POST /2020-01-01/extension/register` for `events`; returns the extension's identifier.
pub(crate) async fn register(
    client: &PooledClient,
    name: &str,
    events: &[&str],
) -> Result<String, ExtensionsApiError> {
    const CALL: &str = "POST /2020-01-01/extension/register";
    let body = serde_json::json!({ "events": events }).to_string();
    let request = build_request()
        .method(Method::POST)
        .uri("/2020-01-01/extension/register")
        .header("Lambda-Extension-Name", name)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .map_err(|e| ExtensionsApiError::Request {
            call: CALL,
            source: e.into(),
        })?;
    let (headers, _) = call(client, CALL, request, StatusCode::OK).await?;
    headers
        .get(EXTENSION_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .ok_or(ExtensionsApiError::NoIdentifier)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_events_decode() {
        let invoke = r#"{"eventType":"INVOKE","deadlineMs":1,"requestId":"r1","invokedFunctionArn":"arn","tracing":{"type":"X-Amzn-Trace-Id","value":"v"}}"#;
        assert_eq!(
            NextEvent::decode(invoke.as_bytes()).unwrap(),
            NextEvent::Invoke {
                request_id: "r1".into()
            }
        );
        let escaped = r#"{"eventType":"INVOKE","requestId":"r\u0031"}"#;
        assert_eq!(
            NextEvent::decode(escaped.as_bytes()).unwrap(),
            NextEvent::Invoke {
                request_id: "r1".into()
            }
        );
        let shutdown = r#"{"eventType":"SHUTDOWN","shutdownReason":"spindown","deadlineMs":42}"#;
        assert_eq!(
            NextEvent::decode(shutdown.as_bytes()).unwrap(),
            NextEvent::Shutdown {
                reason: "spindown".into(),
                deadline_ms: 42
            }
        );
        for bad in [
            r#"{"eventType":"RESTORE"}"#,
            r#"{"eventType":"INVOKE"}"#,
            r#"{"eventType":"SHUTDOWN","deadlineMs":42}"#,
            r#"{"eventType":"SHUTDOWN","shutdownReason":"spindown"}"#,
            r#"{"requestId":"r1"}"#,
            r#"{"eventType":"invoke","requestId":"r1"}"#,
            "[]",
        ] {
            assert!(NextEvent::decode(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
