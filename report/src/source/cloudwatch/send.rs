//! The one way the report sends a request to CloudWatch (and to the tagging API): throttling
//! and failures on the way retried within a budget and counted, `NextToken` pages followed, and
//! a refusal turned into the error that names its fix. The single report's read and the fleet's
//! three (ListMetrics, GetResources, GetMetricData) all go through [`Sender::pages`];
//! `GetMetricData` also through [`Sender::metric_data`], which reads each answer's `Messages`
//! and per-result `StatusCode`.

use std::future::Future;
use std::time::Duration;

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::config::http::HttpResponse;
use aws_sdk_cloudwatch::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudwatch::types::{MetricDataQuery, StatusCode};
use serde::Serialize;

use super::CloudWatch;
use crate::error::{GET_METRIC_DATA, GET_RESOURCES, LIST_METRICS, ReportError};
use crate::observe::Window;

/// Retries of throttled or failed requests (a 5xx, a timeout, a broken connection): each
/// request up to [`RETRIES_PER_REQUEST`] times (waiting 0.5, 1, 2, 4, 8 s), the run at most
/// [`RETRIES_PER_RUN`] times in all.
pub const RETRIES_PER_REQUEST: u32 = 5;
pub const RETRIES_PER_RUN: u64 = 20;

/// The requests a run made, and its retries.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Requests {
    pub list_metrics: u64,
    pub get_metric_data: u64,
    pub get_resources: u64,
    /// Requests answered with throttling and retried.
    pub throttled_retries: u64,
    /// Requests that failed on the way (a 5xx, a timeout, a broken connection) and were retried.
    pub failed_retries: u64,
    /// `GetMetricData` queries sent (each a function, metric and statistic; once per call, not
    /// per page).
    pub queries: u64,
}

/// The calls the report makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    ListMetrics,
    GetMetricData,
    GetResources,
}

impl Call {
    pub fn name(self) -> &'static str {
        match self {
            Self::ListMetrics => "ListMetrics",
            Self::GetMetricData => "GetMetricData",
            Self::GetResources => "GetResources",
        }
    }

    /// The IAM action it needs.
    pub fn permission(self) -> &'static str {
        match self {
            Self::ListMetrics => LIST_METRICS,
            Self::GetMetricData => GET_METRIC_DATA,
            Self::GetResources => GET_RESOURCES,
        }
    }
}

/// Whose errors: the single report needs only `GetMetricData`, the fleet three permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Errors {
    Single,
    Fleet,
}

/// Something an answer said beside its figures: a result that is not complete, a message.
#[derive(Debug, Clone, PartialEq)]
pub struct Issue {
    /// The query's id, when it is about one result.
    pub id: Option<String>,
    pub what: String,
}

/// Sends requests for one run, counting them and its retries.
#[derive(Debug)]
pub struct Sender {
    pub region: String,
    errors: Errors,
    pub requests: Requests,
    /// The wait before the first retry; doubled for each next one.
    first_wait: Duration,
    /// Whether the endpoint has answered in this run (even with an error): until it has, a
    /// request that cannot reach it is not retried, as a wrong region or no network would only
    /// be reported later.
    answered: bool,
}

/// Error codes of throttling (a): CloudWatch's `Throttling`, the tagging API's
/// `ThrottledException`, and the SDKs' other names for it.
fn is_throttling(code: Option<&str>) -> bool {
    matches!(
        code,
        Some(
            "Throttling"
                | "ThrottlingException"
                | "ThrottledException"
                | "TooManyRequestsException"
                | "RequestLimitExceeded"
                | "LimitExceededException"
        )
    )
}

/// A request that failed on the way and may succeed if sent again: no answer in time, a broken
/// connection, an answer that could not be read, or a server error (5xx).
fn is_transient<E>(err: &SdkError<E, HttpResponse>) -> bool {
    match err {
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => true,
        SdkError::DispatchFailure(d) => d.is_io() || d.is_timeout(),
        SdkError::ServiceError(e) => e.raw().status().is_server_error(),
        _ => false,
    }
}

impl Sender {
    pub fn new(region: String, errors: Errors) -> Self {
        Self {
            region,
            errors,
            requests: Requests::default(),
            first_wait: Duration::from_millis(500),
            answered: false,
        }
    }

    /// Retries so far, throttled or failed: the run's budget is for both.
    fn retries(&self) -> u64 {
        self.requests.throttled_retries + self.requests.failed_retries
    }

    fn budget_left(&self, attempt: u32) -> bool {
        attempt < RETRIES_PER_REQUEST && self.retries() < RETRIES_PER_RUN
    }

    async fn wait(&self, attempt: u32) {
        tokio::time::sleep(self.first_wait * (1 << attempt.min(10))).await;
    }

    fn count(&mut self, call: Call) {
        match call {
            Call::ListMetrics => self.requests.list_metrics += 1,
            Call::GetMetricData => self.requests.get_metric_data += 1,
            Call::GetResources => self.requests.get_resources += 1,
        }
    }

    fn fail<E>(&self, err: &SdkError<E, HttpResponse>, call: Call) -> ReportError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        // A 403 whose body the SDK could not read (no error code) is still a refusal of the
        // permission.
        let forbidden = err.code().is_none()
            && matches!(err, SdkError::ServiceError(e) if e.raw().status().as_u16() == 403);
        let classified = if forbidden {
            ReportError::AccessDenied {
                detail: "HTTP 403 Forbidden".into(),
            }
        } else {
            CloudWatch::classify(err, &self.region)
        };
        match (self.errors, classified) {
            (Errors::Fleet, ReportError::AccessDenied { detail }) => ReportError::FleetAccessDenied {
                call: call.name(),
                permission: call.permission(),
                detail,
            },
            (_, ReportError::CloudWatch { detail }) => ReportError::Refused {
                call: call.name(),
                detail,
            },
            (_, other) => other,
        }
    }

    /// Sends `call` until its last page: `send(token)` sends one request (the token of the page
    /// to read, `None` first), `page(answer)` takes one answer and returns the next page's
    /// token. Throttling and failures on the way (once the endpoint has answered in the run)
    /// are retried within the budget (a retry sends the same page again); anything else ends
    /// the run with the error that names its fix.
    pub async fn pages<O, E, F, Fut, P>(
        &mut self,
        call: Call,
        mut send: F,
        mut page: P,
    ) -> Result<(), ReportError>
    where
        F: FnMut(Option<String>) -> Fut,
        Fut: Future<Output = Result<O, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
        P: FnMut(O) -> Option<String>,
    {
        let mut token: Option<String> = None;
        let mut attempt = 0;
        loop {
            self.count(call);
            let sent = send(token.clone()).await;
            self.answered |= matches!(sent, Ok(_) | Err(SdkError::ServiceError(_)));
            match sent {
                Ok(answer) => {
                    attempt = 0;
                    match page(answer) {
                        Some(next) if !next.is_empty() => token = Some(next),
                        _ => return Ok(()),
                    }
                }
                Err(e) if is_throttling(e.code()) => {
                    if !self.budget_left(attempt) {
                        return Err(ReportError::Throttled {
                            call: call.name(),
                            retries: self.requests.throttled_retries,
                        });
                    }
                    self.requests.throttled_retries += 1;
                    self.wait(attempt).await;
                    attempt += 1;
                }
                // One failure on the way must not end a run of dozens of requests.
                Err(e) if is_transient(&e) && self.answered && self.budget_left(attempt) => {
                    self.requests.failed_retries += 1;
                    self.wait(attempt).await;
                    attempt += 1;
                }
                Err(e) => return Err(self.fail(&e, call)),
            }
        }
    }

    /// One `GetMetricData` read of `queries` over `window`, every page: `each(id, timestamps in
    /// epoch seconds, values)` for each result as it arrives (a result may come in parts over
    /// pages). Returns what the answers said beside the figures: each `Messages` entry, and each
    /// result whose `StatusCode` is `InternalError` or `Forbidden` (its figures may be missing),
    /// or `PartialData` on the last page (more data than CloudWatch returned) (a).
    pub async fn metric_data(
        &mut self,
        client: &Client,
        queries: Vec<MetricDataQuery>,
        window: &Window,
        mut each: impl FnMut(&str, &[i64], &[f64]),
    ) -> Result<Vec<Issue>, ReportError> {
        use aws_sdk_cloudwatch::primitives::DateTime;
        self.requests.queries += queries.len() as u64;
        let mut issues: Vec<Issue> = Vec::new();
        let start = DateTime::from_secs(window.start.timestamp());
        let end = DateTime::from_secs(window.end.timestamp());
        let queries = Some(queries);
        self.pages(
            Call::GetMetricData,
            |token| {
                client
                    .get_metric_data()
                    .start_time(start)
                    .end_time(end)
                    .set_metric_data_queries(queries.clone())
                    .set_next_token(token)
                    .send()
            },
            |answer| {
                let next = answer.next_token().filter(|t| !t.is_empty()).map(str::to_owned);
                for m in answer.messages() {
                    issues.push(Issue {
                        id: None,
                        what: format!(
                            "GetMetricData said {}: {}",
                            m.code().unwrap_or("a message"),
                            m.value().unwrap_or("")
                        ),
                    });
                }
                for result in answer.metric_data_results() {
                    let Some(id) = result.id() else { continue };
                    let times: Vec<i64> = result.timestamps().iter().map(|t| t.secs()).collect();
                    each(id, &times, result.values());
                    let status = result.status_code();
                    let said = result
                        .messages()
                        .iter()
                        .map(|m| format!("{}: {}", m.code().unwrap_or("?"), m.value().unwrap_or("")))
                        .collect::<Vec<_>>()
                        .join("; ");
                    let what = match status {
                        Some(StatusCode::InternalError) => {
                            Some("CloudWatch could not compute it (InternalError)")
                        }
                        Some(StatusCode::Forbidden) => Some("CloudWatch refused it (Forbidden)"),
                        Some(StatusCode::PartialData) if next.is_none() => {
                            Some("CloudWatch returned part of its data (PartialData) and no next page")
                        }
                        _ => None,
                    };
                    if let Some(what) = what {
                        issues.push(Issue {
                            id: Some(id.to_owned()),
                            what: if said.is_empty() {
                                what.to_owned()
                            } else {
                                format!("{what}: {said}")
                            },
                        });
                    }
                }
                next
            },
        )
        .await?;
        Ok(issues)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_codes_are_known() {
        assert!(is_throttling(Some("Throttling")));
        assert!(is_throttling(Some("ThrottledException")));
        assert!(!is_throttling(Some("AccessDenied")));
        assert!(!is_throttling(None));
    }
}
