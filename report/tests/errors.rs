//! `lambda-lens-report`'s errors, each with what would fix it: no credentials, credentials
//! refused, a region name that is not one, a region that does not exist, no data for the
//! function in the window (CloudWatch and EMF files), access denied.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly"
)]

mod common;

use common::{env_refs, report, stderr, stdout};
use local_cloudwatch::{Fault, FaultProxy, LocalCloudWatch};

const FUNCTION: &str = "lambda-lens-demo";

fn fails(args: &[&str], env: &[(&str, &str)], says: &[&str]) {
    let out = report(args, env);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}{}", stdout(&out));
    for s in says {
        assert!(err.contains(s), "`{s}` not in: {err}");
    }
}

#[test]
fn without_credentials_it_says_how_to_give_them() {
    let endpoint = format!("http://127.0.0.1:{}", common::closed_port());
    fails(
        &["--function", FUNCTION, "--since", "1h", "--region", "us-east-1"],
        &[("AWS_ENDPOINT_URL", &endpoint)],
        &["no AWS credentials found", "AWS_PROFILE", "AWS_ACCESS_KEY_ID"],
    );
}

#[test]
fn a_region_that_does_not_exist_is_named() {
    let endpoint = format!("http://127.0.0.1:{}", common::closed_port());
    let creds = [
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("AWS_ENDPOINT_URL", &endpoint),
    ];
    // An endpoint that never answered is not retried for seconds: a wrong region is said at once.
    let began = std::time::Instant::now();
    fails(
        &["--function", FUNCTION, "--since", "1h", "--region", "ma-mars-1"],
        &creds,
        &["region `ma-mars-1` does not exist", "us-east-1"],
    );
    assert!(
        began.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        began.elapsed()
    );
    let out = report(&["--function", FUNCTION, "--region", "moon"], &creds);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("`moon` is not an AWS region name"),
        "{}",
        stderr(&out)
    );
}

#[test]
#[ignore = "needs the local CloudWatch (.venv-cloudwatch): make test runs it"]
fn a_function_with_no_data_in_the_window_is_named_and_a_new_region_name_is_not_refused() {
    let cloudwatch = common::local_cloudwatch();
    let env = cloudwatch.client_env();
    // A region this tool does not know, at a reachable endpoint: tried, not refused.
    fails(
        &[
            "--function",
            "no-such-function",
            "--since",
            "2h",
            "--region",
            "ma-mars-1",
        ],
        &env_refs(&env),
        &[
            "no data for function `no-such-function`",
            "check the function's name",
        ],
    );
    // And in EMF files: the functions they do hold are named.
    let dir = common::scratch("no-function");
    let emf = dir.join("emf.jsonl");
    std::fs::write(
        &emf,
        r#"{"_aws":{"Timestamp":1796139913036,"CloudWatchMetrics":[{"Namespace":"LambdaLens","Dimensions":[["FunctionName"]],"Metrics":[{"Name":"ColdStarts"}]}]},"FunctionName":"checkout","Invocations":1.0,"ColdStarts":1.0}"#,
    )
    .unwrap();
    fails(
        &["--emf", emf.to_str().unwrap(), "--function", "chekout"],
        &[],
        &["no document for function `chekout`", "checkout"],
    );
}

fn refused_env(endpoint: &str) -> [(&str, &str); 4] {
    [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("AWS_REGION", "us-east-1"),
    ]
}

#[test]
fn access_denied_names_the_permission() {
    // ministack does not check IAM policies on rpc-v2-cbor requests (its IAM action extractor
    // knows the query and JSON protocols only), so the sandbox's fault injector gives
    // CloudWatch's AccessDenied answer in its place.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let nowhere = std::net::SocketAddr::from(([127, 0, 0, 1], common::closed_port()));
    let proxy = runtime.block_on(FaultProxy::start(nowhere, Fault::Deny)).unwrap();
    fails(
        &["--function", FUNCTION, "--since", "1h"],
        &refused_env(&proxy.endpoint_url()),
        &["access denied", "cloudwatch:GetMetricData", "not authorized"],
    );
    assert_eq!(proxy.requests(), 1, "access denied is not retried");
}

#[test]
#[ignore = "needs the local CloudWatch (.venv-cloudwatch): make test runs it"]
fn credentials_the_endpoint_does_not_know_are_refused_as_such() {
    // ministack checking signatures: it knows only the test credentials.
    let cloudwatch = LocalCloudWatch::start_authenticating().unwrap_or_else(|e| panic!("{e}"));
    let args = ["--function", FUNCTION, "--since", "1h"];
    let mut env = cloudwatch.client_env();
    for (k, v) in &mut env {
        if k == "AWS_ACCESS_KEY_ID" {
            *v = "AKIAUNKNOWNKEY000000".into();
        }
    }
    fails(
        &args,
        &env_refs(&env),
        &["the credentials were refused", "InvalidClientTokenId"],
    );
    // The credentials it knows get through, to no data.
    fails(
        &args,
        &env_refs(&cloudwatch.client_env()),
        &["no data for function"],
    );
}
