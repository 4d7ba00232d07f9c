//! The answers the APIs share: JSON bodies, Lambda's error shape, `202 {"status":"OK"}`, and
//! a request's headers as text.

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use serde_json::{Value, json};

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
