//! Reading a fleet from CloudWatch: `ListMetrics` finds the functions with lambda-lens data,
//! `GetResources` (only with `--tag`) keeps those with the tags, and `GetMetricData` reads
//! [`FLEET`] for all of them, up to [`QUERIES_PER_CALL`] queries a call, each over the whole
//! window in one period: one value per query, folded as it arrives into the function's
//! observations (memory grows with the number of functions, not of data points).

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_cloudwatch::types::{DimensionFilter, RecentlyActive};
use chrono::{DateTime, Utc};

use crate::error::ReportError;
use crate::observe::{Key, Ns, Observations, Window, shortest_period, whole_period};
use crate::source::cloudwatch::{Call, CloudWatch, Errors, Sender, query};
use crate::stats::Stat::{Maximum, P, SampleCount, Sum};

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

/// lambda-lens's own figures, read for the functions `AWS/Lambda` has no data for (its stand-ins
/// for Lambda's invocations, errors and duration, as the single report uses them): the
/// invocations it reported (`Invocations`, a log property by default, else the `ColdStarts`
/// samples: one per invocation), `Errors` (with `Timeouts`, which the fleet reads already) and
/// `Duration` (a log property by default: where selected with `LAMBDA_LENS_METRICS`).
pub const STAND_INS: &[Key] = &[
    Key {
        ns: Ns::Lens,
        metric: "Invocations",
        stat: Sum,
    },
    Key {
        ns: Ns::Lens,
        metric: "ColdStarts",
        stat: SampleCount,
    },
    Key {
        ns: Ns::Lens,
        metric: "Errors",
        stat: Sum,
    },
    Key {
        ns: Ns::Lens,
        metric: "Duration",
        stat: P(99),
    },
    Key {
        ns: Ns::Lens,
        metric: "Duration",
        stat: Maximum,
    },
    Key {
        ns: Ns::Lens,
        metric: "Duration",
        stat: Sum,
    },
];

/// The metric discovery lists: one that lambda-lens publishes as a metric by default on every
/// invocation (0 or 1), so every function shows once under `{FunctionName}` and ListMetrics
/// pages by function, not by the function's metrics (500 metrics a page (a)).
pub const DISCOVERY_METRIC: &str = "ColdStarts";

/// How many `GetMetricData` calls (before paging) `functions` functions take.
pub fn calls_for(functions: usize) -> usize {
    functions.div_ceil((QUERIES_PER_CALL / FLEET.len()).max(1))
}

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

/// A reader over one client; its sender counts the requests.
pub struct Reader {
    cw: CloudWatch,
    client: aws_sdk_cloudwatch::Client,
    config: aws_config::SdkConfig,
    pub sender: Sender,
}

impl Reader {
    pub async fn new(cw: &CloudWatch) -> Result<Self, ReportError> {
        // One attempt per SDK call: the sender retries throttling and failures itself, to
        // count and bound the retries.
        let (config, region) = cw.config(1).await?;
        Ok(Self {
            cw: cw.clone(),
            client: aws_sdk_cloudwatch::Client::new(&config),
            config,
            sender: Sender::new(region, Errors::Fleet),
        })
    }

    pub fn region(&self) -> &str {
        &self.sender.region
    }

    /// The functions with lambda-lens data: ListMetrics on the namespace, of
    /// [`DISCOVERY_METRIC`], dimension `FunctionName`. `RecentlyActive` (PT3H) narrows the
    /// listing only when the window lies within the last three hours; otherwise ListMetrics
    /// lists what had data in the last two weeks (a), and functions without data in the window
    /// drop out after reading.
    pub async fn discover(
        &mut self,
        window: &Window,
        now: DateTime<Utc>,
    ) -> Result<BTreeSet<String>, ReportError> {
        let recent = window.start >= now - chrono::Duration::hours(3);
        let mut names = BTreeSet::new();
        let (client, namespace) = (&self.client, &self.cw.namespace);
        self.sender
            .pages(
                Call::ListMetrics,
                |token| {
                    let mut request = client
                        .list_metrics()
                        .namespace(namespace)
                        .metric_name(DISCOVERY_METRIC)
                        .dimensions(DimensionFilter::builder().name("FunctionName").build())
                        .set_next_token(token);
                    if recent {
                        request = request.recently_active(RecentlyActive::Pt3H);
                    }
                    request.send()
                },
                |answer| {
                    for metric in answer.metrics() {
                        // The report reads the dimension set {FunctionName} alone.
                        if let [only] = metric.dimensions()
                            && only.name() == Some("FunctionName")
                            && let Some(name) = only.value()
                        {
                            names.insert(name.to_owned());
                        }
                    }
                    answer.next_token().map(str::to_owned)
                },
            )
            .await?;
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
        self.sender
            .pages(
                Call::GetResources,
                |token| {
                    client
                        .get_resources()
                        .resource_type_filters("lambda:function")
                        .set_tag_filters(Some(filters.clone()))
                        .set_pagination_token(token)
                        .send()
                },
                |answer| {
                    for mapping in answer.resource_tag_mapping_list() {
                        // arn:aws:lambda:REGION:ACCOUNT:function:NAME (a)
                        if let Some(arn) = mapping.resource_arn()
                            && let Some(name) = arn.split(':').nth(6)
                        {
                            names.insert(name.to_owned());
                        }
                    }
                    answer.pagination_token().map(str::to_owned)
                },
            )
            .await?;
        Ok(names)
    }

    /// [`FLEET`] of every function in `functions` over `window` (asked at `now`), and
    /// [`STAND_INS`] of those without `AWS/Lambda` data: their observations, by name (those with
    /// no data point left out), and what CloudWatch said beside the figures.
    pub async fn read(
        &mut self,
        functions: &[String],
        window: &Window,
        now: DateTime<Utc>,
    ) -> Result<(BTreeMap<String, Observations>, Vec<String>), ReportError> {
        let mut out = BTreeMap::new();
        let mut notes = self.read_keys(functions, FLEET, window, now, &mut out).await?;
        let without_lambda: Vec<String> = out
            .iter()
            .filter(|(_, obs)| obs.lambda_data != Some(true))
            .map(|(name, _)| name.clone())
            .collect();
        if !without_lambda.is_empty() {
            notes.extend(
                self.read_keys(&without_lambda, STAND_INS, window, now, &mut out)
                    .await?,
            );
        }
        Ok((out, notes))
    }

    /// `keys` of every function in `functions` over `window`, up to [`QUERIES_PER_CALL`]
    /// queries a call, each over the whole window in one period (the shortest CloudWatch still
    /// answers for the window's start), folded into `out` as the answers arrive.
    async fn read_keys(
        &mut self,
        functions: &[String],
        keys: &[Key],
        window: &Window,
        now: DateTime<Utc>,
        out: &mut BTreeMap<String, Observations>,
    ) -> Result<Vec<String>, ReportError> {
        let whole = whole_period(window, shortest_period(window.start, now));
        let per_call = (QUERIES_PER_CALL / keys.len().max(1)).max(1);
        let mut notes = Vec::new();
        for chunk in functions.chunks(per_call) {
            let mut queries = Vec::with_capacity(chunk.len() * keys.len());
            for (f, function) in chunk.iter().enumerate() {
                for (k, key) in keys.iter().enumerate() {
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
            // Several parts of one statistic (an endpoint may split the window, or page it),
            // folded at the end of the chunk.
            let mut parts: BTreeMap<(usize, usize), Vec<f64>> = BTreeMap::new();
            let issues = self
                .sender
                .metric_data(&self.client, queries, window, |id, _, values| {
                    if let Some(at) = parse_id(id)
                        && !values.is_empty()
                    {
                        parts.entry(at).or_default().extend_from_slice(values);
                    }
                })
                .await?;
            for issue in issues {
                let about = issue
                    .id
                    .as_deref()
                    .and_then(parse_id)
                    .and_then(|(f, k)| Some((chunk.get(f)?, keys.get(k)?)))
                    .map(|(function, key)| {
                        format!(
                            "{function}: {} {} {}: ",
                            self.cw.namespace(key.ns),
                            key.metric,
                            key.stat.name()
                        )
                    })
                    .unwrap_or_default();
                notes.push(format!("{about}{}", issue.what));
            }
            for ((f, k), values) in parts {
                let (Some(function), Some(key)) = (chunk.get(f), keys.get(k)) else {
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
        Ok(notes)
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
