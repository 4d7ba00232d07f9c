//! Reading a fleet from CloudWatch: `ListMetrics` finds the functions with lambda-lens data,
//! `GetResources` (only with `--tag`) keeps those with the tags, and `GetMetricData` reads
//! [`FLEET`] for all of them, up to [`QUERIES_PER_CALL`] queries a call, each over the whole
//! window in one period: one value per query, folded as it arrives into the function's
//! observations (memory grows with the number of functions, not of data points).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_cloudwatch::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudwatch::types::{DimensionFilter, RecentlyActive};

use crate::error::{GET_METRIC_DATA, GET_RESOURCES, LIST_METRICS, ReportError};
use crate::observe::{Key, Ns, Observations, Window};
use crate::source::cloudwatch::{CloudWatch, query};
use crate::stats::Stat::{Maximum, P, Sum};

use super::model::Requests;

/// The most queries one `GetMetricData` call takes (a) (CloudWatch's quota, 500).
pub const QUERIES_PER_CALL: usize = 500;

/// What the fleet reads of each function: 12 queries, so one call reads 41 functions.
pub const FLEET: &[Key] = &[
    Key {
        ns: Ns::Lambda,
        metric: "Invocations",
        stat: Sum,
    },
    Key {
        ns: Ns::Lambda,
        metric: "Errors",
        stat: Sum,
    },
    Key {
        ns: Ns::Lambda,
        metric: "Duration",
        stat: P(99),
    },
    Key {
        ns: Ns::Lambda,
        metric: "Duration",
        stat: Maximum,
    },
    Key {
        ns: Ns::Lambda,
        metric: "Duration",
        stat: Sum,
    },
    Key {
        ns: Ns::Lens,
        metric: "Timeouts",
        stat: Sum,
    },
    Key {
        ns: Ns::Lens,
        metric: "OutOfMemory",
        stat: Sum,
    },
    Key {
        ns: Ns::Lens,
        metric: "ColdStarts",
        stat: Sum,
    },
    Key {
        ns: Ns::Lens,
        metric: "InitDuration",
        stat: P(90),
    },
    Key {
        ns: Ns::Lens,
        metric: "MaxMemoryUsed",
        stat: Maximum,
    },
    Key {
        ns: Ns::Lens,
        metric: "MemoryUtilization",
        stat: Maximum,
    },
    Key {
        ns: Ns::Lens,
        metric: "EstimatedCost",
        stat: Sum,
    },
];

/// How many `GetMetricData` calls (before paging) `functions` functions take.
pub fn calls_for(functions: usize) -> usize {
    functions.div_ceil((QUERIES_PER_CALL / FLEET.len()).max(1))
}

/// Retries of throttled or failed requests (a 5xx, a timeout, a broken connection): each
/// request up to [`RETRIES_PER_REQUEST`] times (waiting 0.5, 1, 2, 4, 8 s), the run at most
/// [`RETRIES_PER_RUN`] times in all.
pub const RETRIES_PER_REQUEST: u32 = 5;
pub const RETRIES_PER_RUN: u64 = 20;

/// Which functions to keep.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub functions: Vec<String>,
    pub prefix: Option<String>,
    /// `(key, value)`: every one must match (through the Resource Groups Tagging API).
    pub tags: Vec<(String, String)>,
}

impl Filter {
    pub fn keeps(&self, name: &str) -> bool {
        (self.functions.is_empty() || self.functions.iter().any(|f| f == name))
            && self.prefix.as_deref().is_none_or(|p| name.starts_with(p))
    }
}

/// A reader over one client, counting its requests.
pub struct Reader {
    cw: CloudWatch,
    client: aws_sdk_cloudwatch::Client,
    config: aws_config::SdkConfig,
    pub region: String,
    pub requests: Requests,
}

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
fn is_transient<E>(err: &SdkError<E, aws_sdk_cloudwatch::config::http::HttpResponse>) -> bool {
    match err {
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => true,
        SdkError::DispatchFailure(d) => d.is_io() || d.is_timeout(),
        SdkError::ServiceError(e) => e.raw().status().is_server_error(),
        _ => false,
    }
}

impl Reader {
    pub async fn new(cw: &CloudWatch) -> Result<Self, ReportError> {
        // One attempt per SDK call: this reader retries throttling and failures itself, to
        // count and bound the retries.
        let (config, region) = cw.config(1).await?;
        Ok(Self {
            cw: cw.clone(),
            client: aws_sdk_cloudwatch::Client::new(&config),
            config,
            region,
            requests: Requests::default(),
        })
    }

    /// Retries so far, throttled or failed: the run's budget is for both.
    fn retries(&self) -> u64 {
        self.requests.throttled_retries + self.requests.failed_retries
    }

    /// Waits before retry `attempt` of a request that failed on the way (a 5xx, a timeout, a
    /// broken connection); `false` when the budget is spent, and the failure is reported as it
    /// is. One such failure must not end a run of dozens of requests.
    async fn retry_failed(&mut self, attempt: u32) -> bool {
        if attempt >= RETRIES_PER_REQUEST || self.retries() >= RETRIES_PER_RUN {
            return false;
        }
        self.requests.failed_retries += 1;
        tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
        true
    }

    /// Waits before retry `attempt` of a throttled `call`, or says the budget is spent.
    async fn back_off(&mut self, call: &'static str, attempt: u32) -> Result<(), ReportError> {
        if attempt >= RETRIES_PER_REQUEST || self.retries() >= RETRIES_PER_RUN {
            return Err(ReportError::Throttled {
                call,
                retries: self.requests.throttled_retries,
            });
        }
        self.requests.throttled_retries += 1;
        tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
        Ok(())
    }

    fn fail<E>(
        &self,
        err: &SdkError<E, aws_sdk_cloudwatch::config::http::HttpResponse>,
        call: &'static str,
        permission: &'static str,
    ) -> ReportError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        // A 403 whose body the SDK could not read (no error code) is still a refusal of the
        // permission.
        let forbidden = err.code().is_none()
            && matches!(err, SdkError::ServiceError(e) if e.raw().status().as_u16() == 403);
        if forbidden {
            return ReportError::FleetAccessDenied {
                call,
                permission,
                detail: "HTTP 403 Forbidden".into(),
            };
        }
        match CloudWatch::classify(err, &self.region) {
            ReportError::AccessDenied { detail } => ReportError::FleetAccessDenied {
                call,
                permission,
                detail,
            },
            ReportError::CloudWatch { detail } => ReportError::Refused { call, detail },
            other => other,
        }
    }

    /// The functions with lambda-lens data (ListMetrics on the namespace, dimension
    /// `FunctionName`). `RecentlyActive` (PT3H) narrows the listing only when the window lies
    /// within the last three hours; otherwise ListMetrics lists what had data in the last two
    /// weeks (a), and functions without data in the window drop out after reading.
    pub async fn discover(
        &mut self,
        window: &Window,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<BTreeSet<String>, ReportError> {
        let recent = window.start >= now - chrono::Duration::hours(3);
        let mut names = BTreeSet::new();
        let mut token: Option<String> = None;
        let mut attempt = 0;
        loop {
            self.requests.list_metrics += 1;
            let mut request = self
                .client
                .list_metrics()
                .namespace(&self.cw.namespace)
                .dimensions(DimensionFilter::builder().name("FunctionName").build())
                .set_next_token(token.clone());
            if recent {
                request = request.recently_active(RecentlyActive::Pt3H);
            }
            let answer = match request.send().await {
                Ok(a) => a,
                Err(e) if is_throttling(e.code()) => {
                    self.back_off("ListMetrics", attempt).await?;
                    attempt += 1;
                    continue;
                }
                Err(e) => {
                    if is_transient(&e) && self.retry_failed(attempt).await {
                        attempt += 1;
                        continue;
                    }
                    return Err(self.fail(&e, "ListMetrics", LIST_METRICS));
                }
            };
            attempt = 0;
            for metric in answer.metrics() {
                let dims = metric.dimensions();
                // The report reads the dimension set {FunctionName} alone.
                if let [only] = dims
                    && only.name() == Some("FunctionName")
                    && let Some(name) = only.value()
                {
                    names.insert(name.to_owned());
                }
            }
            match answer.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => break,
            }
        }
        Ok(names)
    }

    /// The functions (by name) with every tag of `tags` (GetResources, type `lambda:function`).
    pub async fn tagged(&mut self, tags: &[(String, String)]) -> Result<BTreeSet<String>, ReportError> {
        use aws_sdk_resourcegroupstagging::types::TagFilter;
        let client = aws_sdk_resourcegroupstagging::Client::new(&self.config);
        let filters: Vec<TagFilter> = tags
            .iter()
            .map(|(k, v)| TagFilter::builder().key(k).values(v).build())
            .collect();
        let mut names = BTreeSet::new();
        let mut token: Option<String> = None;
        let mut attempt = 0;
        loop {
            self.requests.get_resources += 1;
            let answer = match client
                .get_resources()
                .resource_type_filters("lambda:function")
                .set_tag_filters(Some(filters.clone()))
                .set_pagination_token(token.clone())
                .send()
                .await
            {
                Ok(a) => a,
                Err(e) if is_throttling(e.code()) => {
                    self.back_off("GetResources", attempt).await?;
                    attempt += 1;
                    continue;
                }
                Err(e) => {
                    if is_transient(&e) && self.retry_failed(attempt).await {
                        attempt += 1;
                        continue;
                    }
                    return Err(self.fail(&e, "GetResources", GET_RESOURCES));
                }
            };
            attempt = 0;
            for mapping in answer.resource_tag_mapping_list() {
                // arn:aws:lambda:REGION:ACCOUNT:function:NAME (a)
                if let Some(arn) = mapping.resource_arn()
                    && let Some(name) = arn.split(':').nth(6)
                {
                    names.insert(name.to_owned());
                }
            }
            match answer.pagination_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => break,
            }
        }
        Ok(names)
    }

    /// [`FLEET`] of every function in `functions` over `window`: their observations, by name
    /// (those with no data point left out).
    pub async fn read(
        &mut self,
        functions: &[String],
        window: &Window,
    ) -> Result<BTreeMap<String, Observations>, ReportError> {
        let whole = (window.seconds() + 59) / 60 * 60;
        let per_call = (QUERIES_PER_CALL / FLEET.len()).max(1);
        let mut out: BTreeMap<String, Observations> = BTreeMap::new();
        for chunk in functions.chunks(per_call) {
            let mut queries = Vec::with_capacity(chunk.len() * FLEET.len());
            for (f, function) in chunk.iter().enumerate() {
                for (k, key) in FLEET.iter().enumerate() {
                    queries.push(query(
                        format!("f{f}k{k}"),
                        self.cw.namespace(key.ns),
                        key.metric,
                        function,
                        whole,
                        key.stat,
                    ));
                }
            }
            self.requests.queries += queries.len() as u64;
            // Several parts of one statistic (an endpoint may split the window), folded at the
            // end of the chunk.
            let mut parts: BTreeMap<(usize, usize), Vec<f64>> = BTreeMap::new();
            let mut token: Option<String> = None;
            let mut attempt = 0;
            loop {
                self.requests.get_metric_data += 1;
                let answer = match self
                    .client
                    .get_metric_data()
                    .start_time(aws_sdk_cloudwatch::primitives::DateTime::from_secs(
                        window.start.timestamp(),
                    ))
                    .end_time(aws_sdk_cloudwatch::primitives::DateTime::from_secs(
                        window.end.timestamp(),
                    ))
                    .set_metric_data_queries(Some(queries.clone()))
                    .set_next_token(token.clone())
                    .send()
                    .await
                {
                    Ok(a) => a,
                    Err(e) if is_throttling(e.code()) => {
                        self.back_off("GetMetricData", attempt).await?;
                        attempt += 1;
                        continue;
                    }
                    Err(e) => {
                        if is_transient(&e) && self.retry_failed(attempt).await {
                            attempt += 1;
                            continue;
                        }
                        return Err(self.fail(&e, "GetMetricData", GET_METRIC_DATA));
                    }
                };
                attempt = 0;
                for result in answer.metric_data_results() {
                    let Some((f, k)) = result.id().and_then(parse_id) else {
                        continue;
                    };
                    if !result.values().is_empty() {
                        parts
                            .entry((f, k))
                            .or_default()
                            .extend_from_slice(result.values());
                    }
                }
                match answer.next_token() {
                    Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                    _ => break,
                }
            }
            for ((f, k), values) in parts {
                let (Some(function), Some(key)) = (chunk.get(f), FLEET.get(k)) else {
                    continue;
                };
                let Some(value) = crate::source::cloudwatch::fold(key.stat, &values) else {
                    continue;
                };
                let obs = out.entry(function.clone()).or_insert_with(|| Observations {
                    period_seconds: whole,
                    lambda_data: Some(false),
                    ..Observations::default()
                });
                match key.ns {
                    Ns::Lambda => obs.lambda_data = Some(true),
                    Ns::Lens => obs.lens_data = true,
                }
                obs.summary.insert(*key, value);
            }
        }
        Ok(out)
    }
}

/// `f{function}k{key}` back to its indices.
fn parse_id(id: &str) -> Option<(usize, usize)> {
    let rest = id.strip_prefix('f')?;
    let (f, k) = rest.split_once('k')?;
    Some((f.parse().ok()?, k.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_calls_are_counted() {
        assert_eq!(parse_id("f40k11"), Some((40, 11)));
        assert_eq!(parse_id("s1"), None);
        assert_eq!(calls_for(0), 0);
        assert_eq!(calls_for(41), 1);
        assert_eq!(calls_for(42), 2);
        assert_eq!(calls_for(2000), 49);
    }

    #[test]
    fn filters_combine() {
        let f = Filter {
            functions: vec!["a-1".into(), "b-1".into()],
            prefix: Some("a-".into()),
            tags: Vec::new(),
        };
        assert!(f.keeps("a-1"));
        assert!(!f.keeps("b-1"));
        assert!(!f.keeps("a-2"));
        assert!(Filter::default().keeps("x"));
    }
}
