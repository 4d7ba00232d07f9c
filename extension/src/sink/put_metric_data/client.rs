//! The CloudWatch client, built when the first batch is sent (never during init): the
//! credentials Lambda puts in the environment, the region's endpoint (or `AWS_ENDPOINT_URL`),
//! no retries or timeouts of the SDK's own (the sender has them, bounded by its deadlines),
//! the one-connection-per-request connector.

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::config::{
    BehaviorVersion, Credentials, Region, SharedCredentialsProvider, StalledStreamProtectionConfig,
};
use aws_sdk_cloudwatch::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use tokio::time::Instant;

use super::PutMetricDataSettings;
use super::connector::{OneShot, failure_of};
use super::datum::{Datum, Request};
use crate::sink::net::{Deadline, Failure, LAST_LOOKS, Written, last_look};

/// The variables Lambda sets with the function role's credentials.
const ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
const SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";
const SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";

/// Why the client could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ClientError {
    #[error("no credentials in the environment ({ACCESS_KEY_ID} and {SECRET_ACCESS_KEY} are not both set)")]
    NoCredentials,
    #[error("no region (AWS_REGION is not set)")]
    NoRegion,
}

pub(crate) struct CloudWatch {
    client: Client,
    deadline: Deadline,
    /// The bytes of the attempt's request that reached the socket.
    written: Written,
}

/// What became of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Attempt {
    Stored,
    /// Sent (bytes of it were written to the socket), and no answer by the deadline (or the
    /// connection broke, or the answer made no sense): the outcome is unknown.
    Unknown,
    /// Worth another try: nothing was sent, or CloudWatch answered throttling or a 5xx.
    Retry(String),
    /// An answer that another try would not change (access denied, invalid request).
    Refused(String),
}

impl CloudWatch {
    /// The client; reads the credentials from the environment (`lookup`), never logs them.
    /// Its requests keep to `deadline`.
    pub(crate) fn new(
        settings: &PutMetricDataSettings,
        deadline: &Deadline,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ClientError> {
        let key = lookup(ACCESS_KEY_ID).filter(|v| !v.is_empty());
        let secret = lookup(SECRET_ACCESS_KEY).filter(|v| !v.is_empty());
        let (Some(key), Some(secret)) = (key, secret) else {
            return Err(ClientError::NoCredentials);
        };
        let token = lookup(SESSION_TOKEN).filter(|v| !v.is_empty());
        let credentials = Credentials::new(key, secret, token, None, "lambda-environment");
        let region = settings.region.clone().ok_or(ClientError::NoRegion)?;
        let deadline = deadline.clone();
        let written = Written::default();
        let mut config = aws_sdk_cloudwatch::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region))
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .http_client(OneShot::new(deadline.clone(), written.clone()))
            .retry_config(RetryConfig::disabled())
            .timeout_config(TimeoutConfig::disabled())
            .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
            .disable_request_compression(true);
        if let Some(url) = &settings.endpoint_url {
            config = config.endpoint_url(url);
        }
        Ok(Self {
            client: Client::from_conf(config.build()),
            deadline,
            written,
        })
    }

    /// One attempt at `request`, over by `until`.
    pub(crate) async fn put(&self, request: &Request, until: Instant) -> Attempt {
        self.deadline.set(until);
        self.written.reset();
        let data = request.data.iter().map(datum).collect();
        let sent = self
            .client
            .put_metric_data()
            .namespace(&request.namespace)
            .set_metric_data(Some(data))
            .send();
        // The connector keeps to `until`; this is a guard on the SDK's own steps. Past it, the
        // attempt gets the connector's last look and more: after a thaw both come due together,
        // and the guard must not give up an answer the connector is taking.
        let margin = std::time::Duration::from_millis(50);
        // The attempt's future, and its connection with it, ends with this block: nothing is
        // written after it.
        let finished = {
            let mut sent = std::pin::pin!(sent);
            tokio::select! {
                out = &mut sent => Some(out),
                () = tokio::time::sleep_until(until + margin) => {
                    last_look(sent.as_mut(), 2 * LAST_LOOKS + 2).await
                }
            }
        };
        let outcome = match finished {
            Some(Ok(_)) => Attempt::Stored,
            Some(Err(err)) => classify(&err),
            None => Attempt::Unknown,
        };
        // A request none of whose bytes reached the socket cannot have been stored (the
        // environment frozen before it went out, say): it was not sent, whatever the error said.
        if outcome == Attempt::Unknown && self.written.bytes() == 0 {
            return Attempt::Retry("no time left: the request was not sent".to_owned());
        }
        outcome
    }
}

fn datum(d: &Datum) -> MetricDatum {
    let dimensions = d
        .dimensions
        .iter()
        .map(|(k, v)| Dimension::builder().name(k).value(v).build())
        .collect();
    MetricDatum::builder()
        .metric_name(&d.name)
        .set_dimensions(Some(dimensions))
        .timestamp(DateTime::from_millis(d.timestamp_ms))
        .set_values(Some(d.values.clone()))
        .set_counts(Some(d.counts.clone()))
        .set_unit(d.unit.as_deref().map(StandardUnit::from))
        .set_storage_resolution(d.storage_resolution)
        .build()
}

const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "RequestThrottled",
];

fn classify<E, R>(err: &SdkError<E, R>) -> Attempt
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + HasStatus,
{
    match err {
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status_code();
            let code = ctx.err().code().unwrap_or("unknown");
            let message = ctx.err().message().unwrap_or_default();
            let text = format!("{code} (HTTP {status}): {}", crate_clip(message));
            if status >= 500 || status == 429 || THROTTLING.contains(&code) {
                Attempt::Retry(text)
            } else {
                Attempt::Refused(text)
            }
        }
        SdkError::DispatchFailure(failure) => {
            match failure.as_connector_error().and_then(|e| failure_of(e)) {
                Some(Failure::NotSent) => Attempt::Retry("the endpoint could not be reached".to_owned()),
                Some(Failure::NoAnswer) | None => Attempt::Unknown,
            }
        }
        // An answer that could not be read, or a timeout: it was sent.
        SdkError::ResponseError(_) | SdkError::TimeoutError(_) => Attempt::Unknown,
        // Not sent: the request could not be made (signing, serialising).
        other => Attempt::Refused(format!(
            "the request could not be made: {}",
            crate_clip(&other.to_string())
        )),
    }
}

fn crate_clip(text: &str) -> String {
    let mut out: String = text.chars().take(300).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

/// The HTTP status of a raw answer.
pub(crate) trait HasStatus {
    fn status_code(&self) -> u16;
}

impl HasStatus for aws_smithy_runtime_api::client::orchestrator::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}
