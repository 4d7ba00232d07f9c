//! What can go wrong, each with what would fix it.

use std::path::PathBuf;

/// The IAM action the CloudWatch source needs.
pub const GET_METRIC_DATA: &str = "cloudwatch:GetMetricData";
/// The IAM action `--all` needs besides [`GET_METRIC_DATA`].
pub const LIST_METRICS: &str = "cloudwatch:ListMetrics";
/// The IAM action `--all --tag` needs besides those.
pub const GET_RESOURCES: &str = "tag:GetResources";

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{0}\n(see lambda-lens-report --help)")]
    Usage(String),
    #[error(
        "no AWS credentials found ({detail}): set AWS_PROFILE to a profile of ~/.aws/config (after `aws sso login` \
         for an SSO profile), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    )]
    NoCredentials { detail: String },
    #[error(
        "the credentials were refused ({detail}): they are unknown, expired or mistyped; refresh them (`aws sso \
         login`, new keys) or choose another profile (AWS_PROFILE)"
    )]
    CredentialsRefused { detail: String },
    #[error(
        "no AWS region: pass --region (e.g. --region eu-west-1), or set AWS_REGION or a profile's region"
    )]
    NoRegion,
    #[error("`{region}` is not an AWS region name (they look like us-east-1, eu-west-3, ap-southeast-2)")]
    BadRegion { region: String },
    #[error(
        "region `{region}` does not exist: it is not a region this tool knows (list of 2026-11: {known}) and its \
         CloudWatch endpoint could not be reached ({detail})"
    )]
    UnknownRegion {
        region: String,
        known: String,
        detail: String,
    },
    #[error(
        "access denied: the credentials in use may not call {GET_METRIC_DATA} (the only permission the report \
         needs; grant it on resource \"*\"). CloudWatch said: {detail}"
    )]
    AccessDenied { detail: String },
    #[error(
        "could not reach CloudWatch in {region} ({detail}): check the network, or AWS_ENDPOINT_URL if set"
    )]
    Unreachable { region: String, detail: String },
    #[error("CloudWatch refused GetMetricData: {detail}")]
    CloudWatch { detail: String },
    #[error(
        "no data for function `{function}` between {start} and {end} in {where_}: check the function's name \
         (case matters), the region and the window (--since, --start/--end)"
    )]
    NoData {
        function: String,
        start: String,
        end: String,
        where_: String,
    },
    #[error(
        "access denied: the credentials in use may not call {call} ({permission}). `--all` needs {LIST_METRICS} \
         and {GET_METRIC_DATA}, and {GET_RESOURCES} only with --tag (grant them on resource \"*\"). The service \
         said: {detail}"
    )]
    FleetAccessDenied {
        call: &'static str,
        permission: &'static str,
        detail: String,
    },
    #[error(
        "{call} was refused ({detail}): the service did not take the request as sent. Check --region and \
         --namespace, and the window (--since, --start/--end: CloudWatch keeps data 15 months); with \
         AWS_ENDPOINT_URL set, that the endpoint is CloudWatch's. If the message names a quota, read fewer \
         functions (--prefix, --functions, --tag) or a shorter window"
    )]
    Refused { call: &'static str, detail: String },
    #[error(
        "{call} stayed throttled after {retries} retries in this run (each request is retried up to 5 times, \
         waiting up to 8 s, and the run up to 20 times): try again later, read fewer functions (--prefix, \
         --functions, --tag) or a shorter window, or ask AWS for a higher {call} quota"
    )]
    Throttled { call: &'static str, retries: u64 },
    #[error(
        "no function has lambda-lens data {what} between {start} and {end} in {where_}: check the region, the \
         namespace (--namespace), the window (--since, --start/--end) and the filters"
    )]
    NoFleet {
        what: String,
        start: String,
        end: String,
        where_: String,
    },
    #[error("the EMF files hold no document for function `{function}`; they hold: {found}")]
    NoSuchFunctionInEmf { function: String, found: String },
    #[error("the EMF files hold several functions ({found}): choose one with --function")]
    SeveralFunctions { found: String },
    #[error("the EMF files hold no lambda-lens document: {files} (make demo writes target/demo/emf.jsonl)")]
    NoEmf { files: String },
    #[error("could not read {}: {source}", .path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("could not write {}: {source}", .path.display())]
    Write { path: PathBuf, source: std::io::Error },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request the service refused for a reason other than permissions or throttling says
    /// what to check, as every other error does.
    #[test]
    fn a_refusal_names_what_to_check() {
        let text = ReportError::Refused {
            call: "GetMetricData",
            detail: "InvalidParameterValue: The parameter StartTime is invalid".into(),
        }
        .to_string();
        for says in [
            "GetMetricData was refused",
            "InvalidParameterValue",
            "--region",
            "--namespace",
            "--since",
        ] {
            assert!(text.contains(says), "{says}: {text}");
        }
    }
}
