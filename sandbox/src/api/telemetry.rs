//! Telemetry API 2022-07-01: `PUT /2022-07-01/telemetry` (subscribe).

use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde_json::Value;

use crate::api::response::{Resp, error_response, header};
use crate::config::InitializationType;
use crate::lifecycle::state::{Phase, Shared};
use crate::telemetry::records::{self, Category};
use crate::telemetry::{Buffering, Subscription};

/// Host names a destination may use. Inside Lambda, `sandbox.localdomain` and `sandbox` resolve
/// to the environment's own interface; the sandbox plays that interface, and delivers to
/// 127.0.0.1 whatever the name (so extensions need not resolve it off Lambda).
const ALLOWED_HOSTS: [&str; 4] = ["sandbox.localdomain", "sandbox", "127.0.0.1", "localhost"];

/// A refused subscription: status, `errorType`, message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Refusal(pub StatusCode, pub &'static str, pub String);

fn invalid(msg: String) -> Refusal {
    // The documentation gives 400 for an invalid request; the errorType name is the sandbox's.
    Refusal(StatusCode::BAD_REQUEST, "ValidationError", msg)
}

fn range(v: &Value, key: &str, lo: u64, hi: u64, default: u64) -> Result<u64, Refusal> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(x) => match x.as_u64() {
            Some(n) if (lo..=hi).contains(&n) => Ok(n),
            _ => Err(invalid(format!(
                "buffering.{key} must be an integer in {lo}..={hi}, got {x}"
            ))),
        },
    }
}

/// A validated subscription request (before the sandbox adds the subscriber's identity).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct SubscribeRequest {
    pub schema_version: String,
    pub types: Vec<Category>,
    pub buffering: Buffering,
    pub uri: String,
    pub target: String,
}

/// Validates a subscription body (pure).
/// `sandbox_ip`: what `sandbox.localdomain` and `sandbox` name inside the environment, where
/// the sandbox delivers for a destination that names them.
pub(crate) fn parse(
    body: &[u8],
    init_type: InitializationType,
    sandbox_ip: std::net::IpAddr,
) -> Result<SubscribeRequest, Refusal> {
    let v: Value = serde_json::from_slice(body).map_err(|e| invalid(format!("body is not JSON: {e}")))?;
    let schema_version = v
        .get("schemaVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if !["2022-07-01", "2022-12-13", "2025-01-29"].contains(&schema_version.as_str()) {
        return Err(invalid(format!(
            "schemaVersion must be 2022-07-01, 2022-12-13 or 2025-01-29, got {schema_version:?}"
        )));
    }
    if init_type == InitializationType::LambdaManagedInstances && schema_version != "2025-01-29" {
        return Err(invalid(
            "Lambda Managed Instances require schemaVersion 2025-01-29".to_owned(),
        ));
    }
    let mut types = Vec::new();
    for t in v.get("types").and_then(Value::as_array).into_iter().flatten() {
        let c = t.as_str().and_then(Category::parse);
        match c {
            Some(c) if !types.contains(&c) => types.push(c),
            Some(_) => {}
            None => {
                return Err(invalid(format!(
                    "types: {t} is not platform, function or extension"
                )));
            }
        }
    }
    if types.is_empty() {
        return Err(invalid(
            "types must list at least one of platform, function, extension".to_owned(),
        ));
    }
    let b = v.get("buffering").cloned().unwrap_or(Value::Null);
    let buffering = Buffering {
        max_items: usize::try_from(range(&b, "maxItems", 1000, 10_000, 10_000)?).unwrap_or(10_000),
        max_bytes: usize::try_from(range(&b, "maxBytes", 262_144, 1_048_576, 262_144)?).unwrap_or(262_144),
        timeout: Duration::from_millis(range(&b, "timeoutMs", 25, 30_000, 1000)?),
    };
    let dest = v
        .get("destination")
        .ok_or_else(|| invalid("destination is required".to_owned()))?;
    match dest.get("protocol").and_then(Value::as_str) {
        Some("HTTP") => {}
        Some("TCP") => {
            return Err(invalid(
                "the sandbox delivers over HTTP only: use protocol HTTP".to_owned(),
            ));
        }
        other => {
            return Err(invalid(format!(
                "destination.protocol must be HTTP, got {other:?}"
            )));
        }
    }
    let uri = dest
        .get("URI")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let parsed: http::Uri = uri
        .parse()
        .map_err(|e| invalid(format!("destination.URI {uri:?}: {e}")))?;
    if parsed.scheme_str() != Some("http") {
        return Err(invalid(format!(
            "destination.URI {uri:?} must start with http://"
        )));
    }
    let host = parsed.host().unwrap_or_default();
    if !ALLOWED_HOSTS.contains(&host) {
        return Err(invalid(format!(
            "destination.URI host {host:?} must be sandbox.localdomain (or sandbox, 127.0.0.1, localhost)"
        )));
    }
    let port = parsed.port_u16().unwrap_or(80);
    let path = parsed.path_and_query().map_or("/", |p| p.as_str());
    let ip = if host == "sandbox.localdomain" || host == "sandbox" {
        sandbox_ip
    } else {
        std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
    };
    let target = format!("http://{ip}:{port}{path}");
    Ok(SubscribeRequest {
        schema_version,
        types,
        buffering,
        uri,
        target,
    })
}

/// `PUT /2022-07-01/telemetry`.
pub(crate) async fn subscribe(shared: &Arc<Shared>, req: Request<Incoming>) -> Resp {
    let Some(id) = header(&req, "lambda-extension-identifier").map(str::to_owned) else {
        return crate::api::extensions::unknown_identifier();
    };
    let body = match Limited::new(req.into_body(), 64 * 1024).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return error_response(StatusCode::BAD_REQUEST, "ValidationError", "body too large"),
    };
    let parsed = match parse(&body, shared.config.initialization_type, shared.sandbox_ip()) {
        Ok(p) => p,
        Err(Refusal(status, kind, msg)) => return error_response(status, kind, &msg),
    };
    let outcome = shared.update(|st| {
        let phase = st.phase;
        let Some(agent) = st.extension_by_id(&id) else {
            return Err(None);
        };
        if phase != Phase::Init {
            return Err(Some("subscriptions are only accepted during the init phase"));
        }
        let sub = Subscription {
            extension_id: id.clone(),
            extension_name: agent.name.clone(),
            schema_version: parsed.schema_version.clone(),
            types: parsed.types.clone(),
            buffering: parsed.buffering,
            uri: parsed.uri.clone(),
            target: parsed.target.clone(),
        };
        shared.hub.subscribe(sub);
        shared.emit(
            "platform.telemetrySubscription",
            records::telemetry_subscription(&agent.name, &parsed.types),
        );
        Ok(())
    });
    match outcome {
        Ok(()) => {
            let mut r = Response::new(Full::new(bytes::Bytes::from_static(b"OK")));
            *r.status_mut() = StatusCode::OK;
            r
        }
        Err(None) => crate::api::extensions::unknown_identifier(),
        // The errorType name is the sandbox's (not documented).
        Err(Some(msg)) => error_response(StatusCode::FORBIDDEN, "Telemetry.InvalidState", msg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCAL: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    fn p(body: &str) -> Result<SubscribeRequest, Refusal> {
        parse(body.as_bytes(), InitializationType::OnDemand, LOCAL)
    }

    #[test]
    fn defaults_and_rewrite() {
        let r = p(r#"{"schemaVersion":"2022-12-13","types":["platform","function"],
            "destination":{"protocol":"HTTP","URI":"http://sandbox.localdomain:4243/t?x=1"}}"#)
        .unwrap();
        assert_eq!(r.buffering, Buffering::default());
        assert_eq!(r.target, "http://127.0.0.1:4243/t?x=1");
        assert_eq!(r.types, vec![Category::Platform, Category::Function]);
        let private = std::net::IpAddr::V4(std::net::Ipv4Addr::new(169, 254, 64, 2));
        let body = r#"{"schemaVersion":"2022-12-13","types":["platform"],
            "destination":{"protocol":"HTTP","URI":"http://sandbox:4243/"}}"#;
        let r = parse(body.as_bytes(), InitializationType::OnDemand, private).unwrap();
        assert_eq!(
            r.target, "http://169.254.64.2:4243/",
            "sandbox names the environment's address"
        );
        let body = body.replace("sandbox:", "127.0.0.1:");
        let r = parse(body.as_bytes(), InitializationType::OnDemand, private).unwrap();
        assert_eq!(
            r.target, "http://127.0.0.1:4243/",
            "a loopback destination stays one"
        );
    }

    #[test]
    fn rejects_out_of_range_buffering() {
        let base = |b: &str| {
            format!(
                r#"{{"schemaVersion":"2022-07-01","types":["platform"],"buffering":{b},
                "destination":{{"protocol":"HTTP","URI":"http://sandbox:1/"}}}}"#
            )
        };
        assert!(p(&base(r#"{"maxItems":999}"#)).is_err());
        assert!(p(&base(r#"{"maxBytes":1048577}"#)).is_err());
        assert!(p(&base(r#"{"timeoutMs":24}"#)).is_err());
        let ok = p(&base(r#"{"maxItems":1000,"maxBytes":262144,"timeoutMs":25}"#)).unwrap();
        assert_eq!(ok.buffering.timeout, Duration::from_millis(25));
    }

    #[test]
    fn rejects_bad_fields() {
        let dest = r#""destination":{"protocol":"HTTP","URI":"http://sandbox:1/"}"#;
        assert!(
            p(&format!(
                r#"{{"schemaVersion":"2021-01-01","types":["platform"],{dest}}}"#
            ))
            .is_err()
        );
        assert!(
            p(&format!(
                r#"{{"schemaVersion":"2022-07-01","types":["logs"],{dest}}}"#
            ))
            .is_err()
        );
        assert!(p(&format!(r#"{{"schemaVersion":"2022-07-01","types":[],{dest}}}"#)).is_err());
        let far = r#"{"schemaVersion":"2022-07-01","types":["platform"],
            "destination":{"protocol":"HTTP","URI":"http://example.com:1/"}}"#;
        assert_eq!(p(far).unwrap_err().0, StatusCode::BAD_REQUEST);
        let lmi = format!(r#"{{"schemaVersion":"2022-12-13","types":["platform"],{dest}}}"#);
        assert!(parse(lmi.as_bytes(), InitializationType::LambdaManagedInstances, LOCAL).is_err());
    }
}
