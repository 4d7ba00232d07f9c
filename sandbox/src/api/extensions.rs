//! Extensions API 2020-01-01: registration, events, error reports.

use std::sync::Arc;

use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde_json::{Value, json};

use crate::api::response::{Resp, error_response, header, json_response};
use crate::config::InitializationType;
use crate::ids;
use crate::lifecycle::state::{Phase, Shared};
use crate::telemetry::records;

/// The answer to an unknown or missing `Lambda-Extension-Identifier`. The documentation gives
/// the status (403) but not the `errorType`; the name is the sandbox's.
pub(crate) fn unknown_identifier() -> Resp {
    error_response(
        StatusCode::FORBIDDEN,
        "Extension.UnknownExtensionIdentifier",
        "missing or unknown Lambda-Extension-Identifier: register first, and use the identifier it returned",
    )
}

/// `POST /2020-01-01/extension/register`.
pub(crate) async fn register(shared: &Arc<Shared>, req: Request<Incoming>) -> Resp {
    let Some(name) = header(&req, "lambda-extension-name").map(str::to_owned) else {
        return error_response(
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "missing Lambda-Extension-Name header",
        );
    };
    let wants_account = header(&req, "lambda-extension-accept-feature")
        .is_some_and(|f| f.split(',').any(|x| x.trim() == "accountId"));
    let body = match Limited::new(req.into_body(), 64 * 1024).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return error_response(StatusCode::BAD_REQUEST, "InvalidRequest", "body too large"),
    };
    let events: Vec<String> = match serde_json::from_slice::<Value>(&body) {
        Ok(v) => match v.get("events").and_then(Value::as_array) {
            Some(list) => list.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
            None => {
                return error_response(
                    StatusCode::BAD_REQUEST,
                    "InvalidRequest",
                    "body must be {\"events\": [...]}",
                );
            }
        },
        Err(e) => return error_response(StatusCode::BAD_REQUEST, "InvalidRequest", &format!("body: {e}")),
    };
    if let Some(bad) = events.iter().find(|e| *e != "INVOKE" && *e != "SHUTDOWN") {
        return error_response(
            StatusCode::BAD_REQUEST,
            "Extension.InvalidEventType",
            &format!("unknown event type {bad}: use INVOKE and/or SHUTDOWN"),
        );
    }
    let config = &shared.config;
    if config.initialization_type == InitializationType::LambdaManagedInstances
        && events.iter().any(|e| e == "INVOKE")
    {
        // Lambda Managed Instances reject INVOKE registrations: 403 Extension.InvalidEventType,
        // as rapid's Managed Instances register handler answers (`RenderForbiddenWithTypeMsg`).
        return error_response(
            StatusCode::FORBIDDEN,
            "Extension.InvalidEventType",
            "INVOKE events are not available on Lambda Managed Instances: register for SHUTDOWN only",
        );
    }
    let outcome = shared.update(|st| {
        if st.phase != Phase::Init {
            return Err("registration is only accepted during the init phase");
        }
        let Some(agent) = st.extensions.iter_mut().find(|e| e.name == name) else {
            return Err(
                "Lambda-Extension-Name must be the file name of an extension in the layer's extensions/",
            );
        };
        if agent.id.is_some() {
            return Err("this extension is already registered");
        }
        let id = ids::uuid_v4();
        agent.id = Some(id.clone());
        agent.events = events.clone();
        Ok(id)
    });
    match outcome {
        Ok(id) => {
            let mut body = json!({
                "functionName": config.function_name,
                "functionVersion": config.version,
                "handler": config.handler,
            });
            if wants_account && let Some(o) = body.as_object_mut() {
                o.insert("accountId".to_owned(), json!(config.account_id));
            }
            let mut r = json_response(StatusCode::OK, &body);
            if let Ok(v) = http::HeaderValue::from_str(&id) {
                r.headers_mut().insert("lambda-extension-identifier", v);
            }
            r
        }
        // The documentation lists 403 for a refused registration without naming the errorType.
        Err(msg) => error_response(StatusCode::FORBIDDEN, "Extension.RegistrationRefused", msg),
    }
}

/// `GET /2020-01-01/extension/event/next`: the extension is done with its previous event and
/// waits (no time limit) for the next one.
pub(crate) async fn next(shared: &Arc<Shared>, req: &Request<Incoming>) -> Resp {
    let Some(id) = header(req, "lambda-extension-identifier").map(str::to_owned) else {
        return unknown_identifier();
    };
    let known = shared.update(|st| {
        let phase = st.phase;
        let Some(agent) = st.extension_by_id(&id) else {
            return false;
        };
        agent.busy = false;
        if !agent.ready {
            agent.ready = true;
            if phase == Phase::Init {
                shared.emit(
                    "platform.extension",
                    records::extension(&agent.name, &agent.events),
                );
            }
        }
        true
    });
    if !known {
        return unknown_identifier();
    }
    let event = shared
        .wait_until(None, |st| {
            let Some(agent) = st.extension_by_id(&id) else {
                return Some(None);
            };
            let ev = agent.queue.pop_front()?;
            agent.busy = true;
            Some(Some(ev))
        })
        .await
        .flatten();
    match event {
        Some(ev) => {
            let mut r = Response::new(Full::new(bytes::Bytes::from(ev.to_string())));
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            if let Ok(v) = http::HeaderValue::from_str(&ids::uuid_v4()) {
                r.headers_mut().insert("lambda-extension-event-identifier", v);
            }
            r
        }
        None => unknown_identifier(),
    }
}

/// `POST /2020-01-01/extension/init/error` (`init` = true) and `/exit/error`.
pub(crate) fn report_error(shared: &Arc<Shared>, req: &Request<Incoming>, init: bool) -> Resp {
    let Some(id) = header(req, "lambda-extension-identifier").map(str::to_owned) else {
        return unknown_identifier();
    };
    let error_type = header(req, "lambda-extension-function-error-type")
        .unwrap_or(if init {
            "Extension.InitError"
        } else {
            "Extension.ExitError"
        })
        .to_owned();
    let known = shared.update(|st| {
        let Some(agent) = st.extension_by_id(&id) else {
            return false;
        };
        if init {
            agent.init_error = Some(error_type);
        } else {
            agent.exit_error = Some(error_type);
        }
        true
    });
    if known {
        crate::api::response::accepted()
    } else {
        unknown_identifier()
    }
}
