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
}

/// How long Lambda gives the extensions at SHUTDOWN (a: the Lambda guide's execution
/// environment lifecycle, "Shutdown phase": 2,000 ms with external extensions): the deadline
/// used when a SHUTDOWN event has none that can be read.
pub(crate) const SHUTDOWN_BUDGET_MS: i64 = 2_000;

/// One event from `/event/next`: only the fields lambda-lens uses.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NextEvent {
    /// `request_id` is `None` when the event had none that could be read.
    Invoke {
        request_id: Option<RequestId>,
    },
    Shutdown {
        reason: String,
        deadline_ms: u64,
    },
    /// An event of a type this version does not know, or of no readable type, or a body that
    /// is not a JSON object: logged, and the loop asks for the next event.
    Other {
        kind: String,
    },
}

/// A member Lambda always sends that an event lacked (absent, null, or of another JSON type),
/// and what was done instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Missing {
    pub(crate) event: &'static str,
    pub(crate) member: &'static str,
    pub(crate) instead: &'static str,
}

/// An event as decoded, with the members it lacked (an empty list in the usual case: no
/// allocation).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Received {
    pub(crate) event: NextEvent,
    pub(crate) missing: Vec<Missing>,
}

/// A member as read: a value of the documented type, absent (or null), or of another type.
/// Never an error, so one odd member costs that member (a safe default), not the extension.
#[derive(Debug, Default)]
enum Member<T> {
    #[default]
    Absent,
    Other,
    Value(T),
}

impl<T> Member<T> {
    fn value(self) -> Option<T> {
        match self {
            Self::Value(v) => Some(v),
            Self::Absent | Self::Other => None,
        }
    }
}

/// What a member's documented type accepts of each JSON value (everything else is
/// [`Member::Other`]).
trait Accept<'de>: Sized {
    fn text(_: Cow<'de, str>) -> Option<Self> {
        None
    }
    fn unsigned(_: u64) -> Option<Self> {
        None
    }
    fn compound() -> Option<Self> {
        None
    }
}

/// Text (`eventType`, `requestId`, `shutdownReason`), borrowed when it holds no escape.
impl<'de: 'a, 'a> Accept<'de> for Cow<'a, str> {
    fn text(text: Cow<'de, str>) -> Option<Self> {
        Some(text)
    }
}

/// Epoch milliseconds (`deadlineMs`).
impl Accept<'_> for u64 {
    fn unsigned(n: u64) -> Option<Self> {
        Some(n)
    }
}

/// A member lambda-lens does not read (`invokedFunctionArn`, `tracing`): only whether it came.
impl Accept<'_> for () {
    fn text(_: Cow<'_, str>) -> Option<Self> {
        Some(())
    }
    fn unsigned(_: u64) -> Option<Self> {
        Some(())
    }
    fn compound() -> Option<Self> {
        Some(())
    }
}

impl<'de, T: Accept<'de>> Deserialize<'de> for Member<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
        struct Any<T>(std::marker::PhantomData<T>);
        fn member<T>(value: Option<T>) -> Member<T> {
            value.map_or(Member::Other, Member::Value)
        }
        impl<'de, T: Accept<'de>> Visitor<'de> for Any<T> {
            type Value = Member<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E>(self) -> Result<Member<T>, E> {
                Ok(Member::Absent)
            }
            fn visit_none<E>(self) -> Result<Member<T>, E> {
                Ok(Member::Absent)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Member<T>, E> {
                Ok(member(T::compound()))
            }
            fn visit_u64<E>(self, n: u64) -> Result<Member<T>, E> {
                Ok(member(T::unsigned(n)))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Member<T>, E> {
                Ok(member(u64::try_from(n).ok().and_then(T::unsigned)))
            }
            fn visit_f64<E>(self, n: f64) -> Result<Member<T>, E> {
                // A deadline written as a float: its whole milliseconds.
                let whole = (n.is_finite() && n >= 0.0 && n < u64::MAX as f64).then_some(n as u64);
                Ok(member(whole.and_then(T::unsigned)))
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Member<T>, E> {
                Ok(member(T::text(Cow::Borrowed(v))))
            }
            fn visit_str<E>(self, v: &str) -> Result<Member<T>, E> {
                Ok(member(T::text(Cow::Owned(v.to_owned()))))
            }
            fn visit_string<E>(self, v: String) -> Result<Member<T>, E> {
                Ok(member(T::text(Cow::Owned(v))))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Member<T>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(member(T::compound()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Member<T>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(member(T::compound()))
            }
        }
        deserializer.deserialize_any(Any(std::marker::PhantomData))
    }
}

/// The event's JSON, read flat. serde's internally tagged enum (`#[serde(tag = "eventType")]`)
/// buffers every member of the object before it picks the variant, an allocation per member
/// (the ARN, the tracing object, ...) on the thread that answers Lambda, at every invocation;
/// here the members are read in one pass, the unread ones skipped and the request id read in
/// place. Each member is read leniently ([`Member`]): a member Lambda always sends (a: the
/// Extensions API reference's INVOKE and SHUTDOWN events) that is absent or of another type
/// costs that member a default, never the extension its run.
#[derive(Deserialize)]
struct Wire<'a> {
    #[serde(rename = "eventType", borrow, default)]
    kind: Member<Cow<'a, str>>,
    #[serde(rename = "requestId", borrow, default)]
    request_id: Member<Cow<'a, str>>,
    #[serde(rename = "shutdownReason", borrow, default)]
    reason: Member<Cow<'a, str>>,
    #[serde(rename = "deadlineMs", default)]
    deadline_ms: Member<u64>,
    #[serde(rename = "invokedFunctionArn", default)]
    function_arn: Member<()>,
    #[serde(default)]
    tracing: Member<()>,
}

impl NextEvent {
    /// The event `body` holds: `INVOKE` with its `requestId`, `SHUTDOWN` with its
    /// `shutdownReason` and `deadlineMs`, or another event. Never fails: a member Lambda always
    /// sends that is missing gets a safe default (a SHUTDOWN deadline of Lambda's shutdown
    /// budget from `now_ms`, epoch milliseconds, asked for only then; the reason `unknown`; an
    /// INVOKE without a request id is measured from its telemetry alone), and is listed in
    /// [`Received::missing`] for the caller's warning.
    pub(crate) fn decode(body: &[u8], now_ms: impl FnOnce() -> i64) -> Received {
        let wire: Wire<'_> = match serde_json::from_slice(body) {
            Ok(wire) => wire,
            Err(err) => {
                return Received {
                    event: NextEvent::Other {
                        kind: format!("(a body that is not a JSON object: {err})"),
                    },
                    missing: Vec::new(),
                };
            }
        };
        let mut missing = Vec::new();
        let mut lack = |event, member, instead| {
            missing.push(Missing {
                event,
                member,
                instead,
            });
        };
        let event = match wire.kind {
            Member::Value(kind) if kind == "INVOKE" => {
                let request_id = wire.request_id.value().map(|id| RequestId::new(&id));
                if request_id.is_none() {
                    lack(
                        "INVOKE",
                        "requestId",
                        "the invocation is measured from its telemetry alone (no resource sample is closed at it)",
                    );
                }
                let unread = "not read by lambda-lens: nothing changes";
                if wire.deadline_ms.value().is_none() {
                    lack("INVOKE", "deadlineMs", unread);
                }
                if wire.function_arn.value().is_none() {
                    lack("INVOKE", "invokedFunctionArn", unread);
                }
                if wire.tracing.value().is_none() {
                    lack("INVOKE", "tracing", unread);
                }
                NextEvent::Invoke { request_id }
            }
            Member::Value(kind) if kind == "SHUTDOWN" => {
                let reason = wire.reason.value().map(Cow::into_owned).unwrap_or_else(|| {
                    lack("SHUTDOWN", "shutdownReason", "the reason \"unknown\"");
                    "unknown".to_owned()
                });
                let deadline_ms = wire.deadline_ms.value().unwrap_or_else(|| {
                    lack(
                        "SHUTDOWN",
                        "deadlineMs",
                        "a deadline of Lambda's 2,000 ms shutdown budget from now",
                    );
                    u64::try_from(now_ms().saturating_add(SHUTDOWN_BUDGET_MS)).unwrap_or_default()
                });
                NextEvent::Shutdown { reason, deadline_ms }
            }
            Member::Value(kind) => NextEvent::Other {
                kind: crate::text::clip(&kind).into_owned(),
            },
            Member::Absent | Member::Other => {
                lack("(untyped)", "eventType", "the event is logged and ignored");
                NextEvent::Other {
                    kind: "(none)".to_owned(),
                }
            }
        };
        Received { event, missing }
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

    const NOW: i64 = 1_795_600_800_000;

    fn decode(body: &str) -> Received {
        NextEvent::decode(body.as_bytes(), || NOW)
    }

    fn invoke(id: &str) -> NextEvent {
        NextEvent::Invoke {
            request_id: Some(id.into()),
        }
    }

    #[test]
    fn the_documented_events_decode() {
        let whole = r#"{"eventType":"INVOKE","deadlineMs":1,"requestId":"r1","invokedFunctionArn":"arn","tracing":{"type":"X-Amzn-Trace-Id","value":"v"}}"#;
        let r = decode(whole);
        assert_eq!(r.event, invoke("r1"));
        assert!(r.missing.is_empty(), "{:?}", r.missing);
        let escaped = r#"{"eventType":"INVOKE","requestId":"r\u0031","deadlineMs":1,"invokedFunctionArn":"arn","tracing":{}}"#;
        assert_eq!(decode(escaped).event, invoke("r1"));
        let shutdown = r#"{"eventType":"SHUTDOWN","shutdownReason":"spindown","deadlineMs":42}"#;
        let r = decode(shutdown);
        assert_eq!(
            r.event,
            NextEvent::Shutdown {
                reason: "spindown".into(),
                deadline_ms: 42
            }
        );
        assert!(r.missing.is_empty());
    }

    /// Each member Lambda always sends, in turn left out, null, or of another JSON type: the
    /// event still decodes (these were errors that ended the extension), with a safe default
    /// and the member named for the warning.
    #[test]
    fn a_member_missing_or_odd_gets_a_default_and_is_named() {
        let invoke_members = [
            ("deadlineMs", "1"),
            ("requestId", r#""r1""#),
            ("invokedFunctionArn", r#""arn""#),
            ("tracing", r#"{"type":"X-Amzn-Trace-Id","value":"v"}"#),
        ];
        let shutdown_members = [("shutdownReason", r#""timeout""#), ("deadlineMs", "42")];
        for (event, members) in [
            ("INVOKE", &invoke_members[..]),
            ("SHUTDOWN", &shutdown_members[..]),
        ] {
            for (left, _) in members {
                for odd in [
                    None,
                    Some("null"),
                    Some("true"),
                    Some("[1]"),
                    Some("-5"),
                    Some(r#"{"a":1}"#),
                ] {
                    // Members lambda-lens does not read count as sent whatever their value.
                    let unread = ["invokedFunctionArn", "tracing"].contains(left);
                    if unread && !matches!(odd, None | Some("null")) {
                        continue;
                    }
                    let body: Vec<String> = std::iter::once(format!(r#""eventType":"{event}""#))
                        .chain(members.iter().filter_map(|(k, v)| match (k == left, odd) {
                            (false, _) => Some(format!(r#""{k}":{v}"#)),
                            (true, Some(odd)) => Some(format!(r#""{k}":{odd}"#)),
                            (true, None) => None,
                        }))
                        .collect();
                    let body = format!("{{{}}}", body.join(","));
                    let r = decode(&body);
                    let named: Vec<&str> = r.missing.iter().map(|m| m.member).collect();
                    assert_eq!(named, [*left], "{body}");
                    let expected = match (event, *left) {
                        ("INVOKE", "requestId") => NextEvent::Invoke { request_id: None },
                        ("INVOKE", _) => invoke("r1"),
                        (_, "shutdownReason") => NextEvent::Shutdown {
                            reason: "unknown".into(),
                            deadline_ms: 42,
                        },
                        _ => NextEvent::Shutdown {
                            reason: "timeout".into(),
                            deadline_ms: (NOW + SHUTDOWN_BUDGET_MS) as u64,
                        },
                    };
                    assert_eq!(r.event, expected, "{body}");
                }
            }
        }
    }

    #[test]
    fn a_shutdown_with_nothing_but_its_type_is_still_a_shutdown() {
        let r = decode(r#"{"eventType":"SHUTDOWN"}"#);
        assert_eq!(
            r.event,
            NextEvent::Shutdown {
                reason: "unknown".into(),
                deadline_ms: (NOW + SHUTDOWN_BUDGET_MS) as u64
            }
        );
        let named: Vec<&str> = r.missing.iter().map(|m| m.member).collect();
        assert_eq!(named, ["shutdownReason", "deadlineMs"]);
    }

    #[test]
    fn a_float_deadline_is_its_whole_milliseconds() {
        let r = decode(r#"{"eventType":"SHUTDOWN","shutdownReason":"spindown","deadlineMs":42.9}"#);
        assert_eq!(
            r.event,
            NextEvent::Shutdown {
                reason: "spindown".into(),
                deadline_ms: 42
            }
        );
    }

    /// An event of a type this version does not know, of no type, or not JSON at all: another
    /// event, never an error.
    #[test]
    fn an_unknown_or_unreadable_event_is_another_event() {
        for (body, kind) in [
            (r#"{"eventType":"RESTORE"}"#, "RESTORE"),
            (r#"{"eventType":"invoke","requestId":"r1"}"#, "invoke"),
        ] {
            let r = decode(body);
            assert_eq!(r.event, NextEvent::Other { kind: kind.into() }, "{body}");
            assert!(r.missing.is_empty());
        }
        for body in [r#"{"requestId":"r1"}"#, r#"{"eventType":7}"#] {
            let r = decode(body);
            assert_eq!(
                r.event,
                NextEvent::Other {
                    kind: "(none)".into()
                },
                "{body}"
            );
            assert_eq!(r.missing.len(), 1);
            assert_eq!(r.missing[0].member, "eventType");
        }
        for body in ["[]", "", "{", "not json", r#"{"eventType":"INVOKE",}"#] {
            let r = decode(body);
            assert!(matches!(r.event, NextEvent::Other { .. }), "{body}");
        }
    }

    #[test]
    fn the_clock_is_read_only_for_a_shutdown_without_a_deadline() {
        let whole = r#"{"eventType":"SHUTDOWN","shutdownReason":"spindown","deadlineMs":42}"#;
        let r = NextEvent::decode(whole.as_bytes(), || unreachable!("not asked"));
        assert!(matches!(r.event, NextEvent::Shutdown { .. }));
    }
}
