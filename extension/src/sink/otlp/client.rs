//! One OTLP/HTTP request: the body (gzip when asked), the headers configured, SigV4 (service
//! `monitoring`) over the exact bytes sent, through the shared transport; and what the answer
//! means: stored (perhaps partly: OTLP's partial success), worth another try (429, 502, 503,
//! 504, with `Retry-After`), refused, or unknown.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::Full;
use tokio::time::Instant;

use super::OtlpSettings;
use super::encode;
use crate::sink::net::{Deadline, Failure, Transport, Written};

/// What an export says it is: `lambda-lens/<version>`.
const USER_AGENT: &str = concat!("lambda-lens/", env!("CARGO_PKG_VERSION"));

const ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
const SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";
const SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";

/// Why no request can be made, for good.
#[allow(clippy::enum_variant_names, reason = "each says what is missing")]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ClientError {
    #[error(
        "no endpoint (OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_EXPORTER_OTLP_METRICS_ENDPOINT are not set, and AWS_REGION is not set for CloudWatch's)"
    )]
    NoEndpoint,
    #[error("SigV4 needs credentials ({ACCESS_KEY_ID} and {SECRET_ACCESS_KEY} are not both set)")]
    NoCredentials,
    #[error("SigV4 needs a region (AWS_REGION is not set)")]
    NoRegion,
}

/// What became of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Attempt {
    /// Stored; `rejected` data points of it were not (partial success), with the endpoint's
    /// message.
    Stored { rejected: u64, message: String },
    /// Sent, no answer: the outcome is unknown.
    Unknown,
    /// Worth another try, after `after` when the endpoint said so.
    Retry { why: String, after: Option<Duration> },
    /// An answer another try would not change.
    Refused { why: String, status: u16 },
}

pub(crate) struct Client {
    uri: http::Uri,
    headers: http::HeaderMap,
    json: bool,
    gzip: bool,
    signer: Option<Signer>,
    transport: Transport,
}

struct Signer {
    credentials: aws_credential_types::Credentials,
    region: String,
}

impl Client {
    /// The client for `settings`; credentials (for SigV4) from `lookup`, never logged.
    pub(crate) fn new(
        settings: &OtlpSettings,
        deadline: &Deadline,
        written: &Written,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ClientError> {
        let uri: http::Uri = settings
            .endpoint
            .as_deref()
            .and_then(|e| e.parse().ok())
            .ok_or(ClientError::NoEndpoint)?;
        let mut headers = http::HeaderMap::new();
        for (k, v) in &settings.headers {
            if let (Ok(k), Ok(mut v)) = (
                http::HeaderName::from_bytes(k.as_bytes()),
                http::HeaderValue::from_str(v),
            ) {
                v.set_sensitive(true);
                headers.append(k, v);
            }
        }
        let signer = if settings.sigv4 {
            let key = lookup(ACCESS_KEY_ID).filter(|v| !v.is_empty());
            let secret = lookup(SECRET_ACCESS_KEY).filter(|v| !v.is_empty());
            let (Some(key), Some(secret)) = (key, secret) else {
                return Err(ClientError::NoCredentials);
            };
            let token = lookup(SESSION_TOKEN).filter(|v| !v.is_empty());
            let region = settings.region.clone().ok_or(ClientError::NoRegion)?;
            Some(Signer {
                credentials: aws_credential_types::Credentials::new(
                    key,
                    secret,
                    token,
                    None,
                    "lambda-environment",
                ),
                region,
            })
        } else {
            None
        };
        Ok(Self {
            uri,
            headers,
            json: settings.json,
            gzip: settings.gzip,
            signer,
            transport: Transport::new(deadline.clone(), written.clone()),
        })
    }

    /// The request for `body` (the encoded message): compressed, with its headers, signed.
    pub(crate) fn request(&self, body: &[u8], now: SystemTime) -> Result<http::Request<Full<Bytes>>, String> {
        let body = if self.gzip { gzip(body) } else { body.to_vec() };
        let mut request = http::Request::post(self.uri.clone())
            .body(Full::new(Bytes::new()))
            .map_err(|e| e.to_string())?;
        let headers = request.headers_mut();
        let content_type = if self.json {
            "application/json"
        } else {
            "application/x-protobuf"
        };
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static(content_type),
        );
        if self.gzip {
            headers.insert(
                http::header::CONTENT_ENCODING,
                http::HeaderValue::from_static("gzip"),
            );
        }
        if let Some(authority) = self.uri.authority()
            && let Ok(host) = http::HeaderValue::from_str(authority.as_str())
        {
            headers.insert(http::header::HOST, host);
        }
        // Signed before the configured headers are added: SigV4 needs only `host` and its own
        // (class a), and the signer's trace log shows every header it signs, so a header's
        // value (an API key) never reaches it.
        if let Some(signer) = &self.signer {
            sign(&mut request, &body, signer, now)?;
        }
        // The OTLP specification: exporters SHOULD identify themselves in `User-Agent`. Not
        // signed (SigV4 does not need it), and a configured one wins.
        if !self.headers.contains_key(http::header::USER_AGENT) {
            request.headers_mut().insert(
                http::header::USER_AGENT,
                http::HeaderValue::from_static(USER_AGENT),
            );
        }
        for (k, v) in &self.headers {
            request.headers_mut().append(k.clone(), v.clone());
        }
        *request.body_mut() = Full::new(Bytes::from(body));
        Ok(request)
    }

    /// One attempt at `body`, over by the transport's deadline.
    pub(crate) async fn export(&self, body: &[u8], until: Instant) -> Attempt {
        self.transport.deadline.set(until);
        self.transport.written.reset();
        let request = match self.request(body, SystemTime::now()) {
            Ok(r) => r,
            Err(why) => {
                return Attempt::Refused {
                    why: format!("the request could not be made: {why}"),
                    status: 0,
                };
            }
        };
        match self.transport.send(request).await {
            Ok(answer) => self.answer(&answer),
            Err(Failure::NotSent) => Attempt::Retry {
                why: "the endpoint could not be reached".to_owned(),
                after: None,
            },
            Err(Failure::NoAnswer) if self.transport.written.bytes() == 0 => Attempt::Retry {
                why: "no time left: the request was not sent".to_owned(),
                after: None,
            },
            Err(Failure::NoAnswer) => Attempt::Unknown,
        }
    }

    /// What an answer means (OTLP/HTTP's rules: 2xx stored, perhaps partly; 429, 502, 503
    /// and 504 retryable, honouring `Retry-After`; anything else refused).
    pub(crate) fn answer(&self, answer: &http::Response<Bytes>) -> Attempt {
        let status = answer.status().as_u16();
        if answer.status().is_success() {
            let json = answer
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map_or(self.json, |v| v.contains("json"));
            let (rejected, message) = encode::partial_success(answer.body(), json).unwrap_or_default();
            return Attempt::Stored {
                rejected: u64::try_from(rejected).unwrap_or(0),
                message: clip(&message),
            };
        }
        let text = String::from_utf8_lossy(answer.body());
        let why = format!("HTTP {status}: {}", clip(text.trim()));
        if matches!(status, 429 | 502 | 503 | 504) {
            let after = answer
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            Attempt::Retry { why, after }
        } else {
            Attempt::Refused { why, status }
        }
    }
}

/// SigV4 over the exact bytes sent (after gzip), by AWS's own signer: service `monitoring`
/// (class a, "OTLP Endpoints").
fn sign(
    request: &mut http::Request<Full<Bytes>>,
    body: &[u8],
    signer: &Signer,
    now: SystemTime,
) -> Result<(), String> {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    let identity = signer.credentials.clone().into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(&signer.region)
        .name("monitoring")
        .time(now)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let uri = request.uri().to_string();
    let headers: Vec<(&str, &str)> = request
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)))
        .collect();
    let signable = SignableRequest::new("POST", &uri, headers.into_iter(), SignableBody::Bytes(body))
        .map_err(|e| e.to_string())?;
    let (instructions, _) = sign(signable, &params).map_err(|e| e.to_string())?.into_parts();
    instructions.apply_to_request_http1x(request);
    for name in ["authorization", "x-amz-security-token"] {
        if let Some(v) = request.headers_mut().get_mut(name) {
            v.set_sensitive(true);
        }
    }
    Ok(())
}

fn gzip(body: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4 + 64),
        flate2::Compression::default(),
    );
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(body);
    encoder.finish().unwrap_or_default()
}

/// An outside text for the log, cut.
fn clip(text: &str) -> String {
    let mut out: String = text.chars().take(300).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}
