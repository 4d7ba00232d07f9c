//! The report from CloudWatch: one `GetMetricData` call (paged) for every statistic of
//! [`SUMMARY`] over the whole window and of [`SERIES`] per period, from `AWS/Lambda` and
//! lambda-lens's namespace, dimension `FunctionName`. Credentials and region come from the usual
//! chain (environment, profile, SSO, instance role); `AWS_ENDPOINT_URL` points it elsewhere
//! (the tests use a local CloudWatch).

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::config::ProvideCredentials;
use aws_sdk_cloudwatch::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};

use chrono::{DateTime, Utc};

use crate::error::ReportError;
use crate::observe::{
    Key, Ns, Observations, SERIES, SUMMARY, Window, series_period, shortest_period, whole_period,
};
use crate::stats::Stat;

mod send;
pub use send::{Call, Errors, Issue, RETRIES_PER_REQUEST, RETRIES_PER_RUN, Requests, Sender};

/// The regions this tool knows (2026-11). A region not listed is still tried (a new one works);
/// it only changes the message when its endpoint cannot be reached.
pub const KNOWN_REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "ca-west-1",
    "mx-central-1",
    "sa-east-1",
    "eu-central-1",
    "eu-central-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-south-1",
    "eu-south-2",
    "eu-north-1",
    "il-central-1",
    "me-south-1",
    "me-central-1",
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "us-gov-east-1",
    "us-gov-west-1",
    "cn-north-1",
    "cn-northwest-1",
];

/// Whether `name` is shaped like a region name: lower-case words and a number, `xx-word-1`.
pub fn is_region_name(name: &str) -> bool {
    let parts: Vec<&str> = name.split('-').collect();
    let Some((number, words)) = parts.split_last() else {
        return false;
    };
    words.len() >= 2
        && words
            .iter()
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
        && words.first().is_some_and(|w| w.len() == 2)
        && !number.is_empty()
        && number.len() <= 2
        && number.bytes().all(|b| b.is_ascii_digit())
}

/// Where to read.
#[derive(Debug, Clone)]
pub struct CloudWatch {
    /// `--region`; else the chain's.
    pub region: Option<String>,
    /// lambda-lens's namespace.
    pub namespace: String,
}

pub(crate) fn query(
    id: String,
    namespace: &str,
    metric: &str,
    function: &str,
    period: i64,
    stat: Stat,
) -> MetricDataQuery {
    let dimension = Dimension::builder().name("FunctionName").value(function).build();
    let metric = Metric::builder()
        .namespace(namespace)
        .metric_name(metric)
        .dimensions(dimension)
        .build();
    let stat = MetricStat::builder()
        .metric(metric)
        .period(i32::try_from(period).unwrap_or(i32::MAX))
        .stat(stat.name())
        .build();
    MetricDataQuery::builder()
        .id(id)
        .metric_stat(stat)
        .return_data(true)
        .build()
}

/// Several periods' values of one whole-window statistic (an endpoint may split a window that
/// does not start on a period boundary) folded into one: sums and counts add up, maxima take the
/// highest; an average becomes the mean of the parts' averages, and a percentile the highest of
/// the parts' (an upper bound), since neither can be recombined exactly.
pub(crate) fn fold(stat: Stat, values: &[f64]) -> Option<f64> {
    let first = *values.first()?;
    Some(match stat {
        Stat::Sum | Stat::SampleCount => values.iter().sum(),
        Stat::Average => values.iter().sum::<f64>() / values.len() as f64,
        Stat::Maximum | Stat::P(_) => values.iter().copied().fold(first, f64::max),
    })
}

impl CloudWatch {
    pub(crate) fn namespace(&self, ns: Ns) -> &str {
        match ns {
            Ns::Lambda => "AWS/Lambda",
            Ns::Lens => &self.namespace,
        }
    }

    /// The AWS configuration (region, credentials checked), with the SDK retrying each request
    /// up to `attempts` times in all.
    pub(crate) async fn config(&self, attempts: u32) -> Result<(aws_config::SdkConfig, String), ReportError> {
        if let Some(region) = &self.region
            && !is_region_name(region)
        {
            return Err(ReportError::BadRegion {
                region: region.clone(),
            });
        }
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(5))
            .operation_timeout(Duration::from_secs(60))
            .build();
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .timeout_config(timeouts)
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(attempts));
        if let Some(region) = &self.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        let config = loader.load().await;
        let region = config
            .region()
            .map(ToString::to_string)
            .ok_or(ReportError::NoRegion)?;
        let provider = config
            .credentials_provider()
            .ok_or_else(|| ReportError::NoCredentials {
                detail: "no credentials provider".into(),
            })?;
        if let Err(err) = provider.provide_credentials().await {
            return Err(ReportError::NoCredentials {
                detail: err.to_string(),
            });
        }
        Ok((config, region))
    }

    pub(crate) fn classify<E, R>(err: &SdkError<E, R>, region: &str) -> ReportError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        match err {
            SdkError::ServiceError(service) => {
                let e = service.err();
                let code = e.code().unwrap_or("unknown");
                let detail = format!("{code}: {}", e.message().unwrap_or("no message"));
                if code.starts_with("AccessDenied") || code == "UnauthorizedOperation" {
                    ReportError::AccessDenied { detail }
                } else if matches!(
                    code,
                    "UnrecognizedClientException"
                        | "InvalidClientTokenId"
                        | "SignatureDoesNotMatch"
                        | "ExpiredToken"
                        | "ExpiredTokenException"
                        | "InvalidAccessKeyId"
                ) {
                    ReportError::CredentialsRefused { detail }
                } else {
                    ReportError::CloudWatch { detail }
                }
            }
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
                let detail = aws_sdk_cloudwatch::error::DisplayErrorContext(err).to_string();
                if KNOWN_REGIONS.contains(&region) {
                    ReportError::Unreachable {
                        region: region.to_owned(),
                        detail,
                    }
                } else {
                    ReportError::UnknownRegion {
                        region: region.to_owned(),
                        known: KNOWN_REGIONS.join(", "),
                        detail,
                    }
                }
            }
            _ => ReportError::CloudWatch {
                detail: aws_sdk_cloudwatch::error::DisplayErrorContext(err).to_string(),
            },
        }
    }

    /// What CloudWatch holds for `function` in `window` (as seen at `now`, which sets the
    /// shortest period CloudWatch still answers for the window's start); returns the region
    /// read too.
    pub async fn observe(
        &self,
        function: &str,
        window: &Window,
        now: DateTime<Utc>,
    ) -> Result<(Observations, String), ReportError> {
        // One attempt per SDK call: the sender retries throttling and failures itself, to
        // count and bound the retries.
        let (config, region) = self.config(1).await?;
        let client = Client::new(&config);
        let mut sender = Sender::new(region.clone(), Errors::Single);
        let shortest = shortest_period(window.start, now);
        let whole = whole_period(window, shortest);
        let period = series_period(window, shortest);
        let mut wanted: Vec<(String, Key, bool)> = Vec::new();
        let mut queries = Vec::new();
        for (i, k) in SUMMARY.iter().enumerate() {
            let id = format!("s{i}");
            queries.push(query(
                id.clone(),
                self.namespace(k.ns),
                k.metric,
                function,
                whole,
                k.stat,
            ));
            wanted.push((id, *k, true));
        }
        for (i, k) in SERIES.iter().enumerate() {
            let id = format!("t{i}");
            queries.push(query(
                id.clone(),
                self.namespace(k.ns),
                k.metric,
                function,
                period,
                k.stat,
            ));
            wanted.push((id, *k, false));
        }

        let mut points: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
        let issues = sender
            .metric_data(&client, queries, window, |id, times, values| {
                let entry = points.entry(id.to_owned()).or_default();
                entry.extend(times.iter().copied().zip(values.iter().copied()));
            })
            .await?;

        let mut obs = Observations {
            period_seconds: period,
            lambda_data: Some(false),
            ..Observations::default()
        };
        for issue in issues {
            let about = issue
                .id
                .as_deref()
                .and_then(|id| wanted.iter().find(|(w, _, _)| w == id))
                .map(|(_, k, summary)| {
                    format!(
                        "{} {} {}{}: ",
                        self.namespace(k.ns),
                        k.metric,
                        k.stat.name(),
                        if *summary { "" } else { " per period" }
                    )
                })
                .unwrap_or_default();
            obs.notes.push(format!("{about}{}", issue.what));
        }
        for (id, key, summary) in wanted {
            let Some(mut values) = points.remove(&id).filter(|v| !v.is_empty()) else {
                continue;
            };
            match key.ns {
                Ns::Lambda => obs.lambda_data = Some(true),
                Ns::Lens => obs.lens_data = true,
            }
            values.sort_by_key(|(t, _)| *t);
            if summary {
                let only: Vec<f64> = values.iter().map(|(_, v)| *v).collect();
                if let Some(v) = fold(key.stat, &only) {
                    obs.summary.insert(key, v);
                }
            } else {
                obs.series.insert(key, values);
            }
        }
        if !obs.lens_data && obs.lambda_data != Some(true) {
            return Err(ReportError::NoData {
                function: function.to_owned(),
                start: window.start.to_rfc3339(),
                end: window.end.to_rfc3339(),
                where_: format!("CloudWatch ({region}: AWS/Lambda and {})", self.namespace),
            });
        }
        Ok((obs, region))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_names_are_recognised_by_shape() {
        for ok in ["us-east-1", "eu-central-2", "us-gov-west-1", "ma-mars-1"] {
            assert!(is_region_name(ok), "{ok}");
        }
        for bad in [
            "useast1",
            "US-EAST-1",
            "eu-west",
            "moon",
            "",
            "us-east-1a",
            "e-west-1",
        ] {
            assert!(!is_region_name(bad), "{bad}");
        }
        assert!(KNOWN_REGIONS.iter().all(|r| is_region_name(r)));
    }

    #[test]
    fn parts_of_a_window_fold_into_one_value() {
        assert_eq!(fold(Stat::Sum, &[1.0, 2.0]), Some(3.0));
        assert_eq!(fold(Stat::Maximum, &[1.0, 2.0]), Some(2.0));
        assert_eq!(fold(Stat::P(99), &[5.0, 2.0]), Some(5.0));
        assert_eq!(fold(Stat::Sum, &[]), None);
    }
}
