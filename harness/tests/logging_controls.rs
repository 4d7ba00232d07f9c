//! Lambda's advanced logging controls, end to end: the real `lambda-lens` layer and sample
//! function in the sandbox under each logging configuration (Text; JSON at every application
//! level; a custom log group; S3 and Firehose), the log group as CloudWatch Logs would hold it
//! (after the level filter and the 64 KiB cut), and the metrics CloudWatch would extract from
//! it (`emf_spec::extract`) compared with the truth: the sandbox's own reports of the same
//! invocations. lambda-lens runs with its defaults, so the default layer must lose no metric on
//! its own. Where the logs do not go to CloudWatch Logs the expected answer is: nothing
//! extracted.
//!
//! The table it prints (`--nocapture`) is the figures the README quotes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::indexing_slicing,
    reason = "tests fail loudly and print their table"
)]

mod binaries;

use lambda_lens_harness::demo::logging::{self, LoggingCase, LoggingResult};
use lambda_sandbox::{LogDestination, LogFormat, LogLevel, Status};

/// One configuration run; the failure names it.
async fn run(case: &LoggingCase) -> LoggingResult {
    let base = binaries::demo_config(&[]);
    let steps = logging::logging_scenario();
    let (result, report) = logging::run_case(&base, case, &steps)
        .await
        .unwrap_or_else(|e| panic!("{}: sandbox run failed: {e}", case.label));
    // The scenario did what it is for: a cold start, successes and an error, nothing else.
    let statuses: Vec<Status> = report.steps.iter().map(|s| s.outcome.status).collect();
    assert_eq!(
        statuses,
        [Status::Success, Status::Success, Status::Error, Status::Success],
        "{}",
        case.label
    );
    assert_eq!(result.truth.cold_starts, 1, "{}", case.label);
    let group = &report.log_group;
    assert_eq!(group.destination, case.logging.destination, "{}", case.label);
    let expected_name = case
        .logging
        .log_group
        .clone()
        .unwrap_or_else(|| format!("/aws/lambda/{}", base.function_name));
    assert_eq!(group.name, expected_name, "{}", case.label);
    // The function's three level-less lines are INFO: they reach the group unless the level
    // filters them (so the filter did run).
    let function_lines = group
        .messages()
        .filter(|m| m.starts_with("sample-function log line"))
        .count();
    let kept = match (case.logging.format, case.logging.application_level) {
        (LogFormat::Json, Some(level)) => level <= LogLevel::Info,
        _ => true,
    };
    assert_eq!(function_lines, if kept { 3 } else { 0 }, "{}", case.label);
    if !result.extracts {
        // S3 or Firehose: CloudWatch extracts nothing there, but every EMF document reached the
        // destination whole, so a networked sink (or a reader of those files) would lose
        // nothing: the loss is the destination's alone, which the README says what to do about.
        let delivered = emf_spec::extract(group.messages());
        let checks = logging::compare(&delivered, &result.truth, &base.function_name, &case.metrics);
        let differ: Vec<_> = checks.iter().filter(|c| !c.equal).map(|c| c.metric).collect();
        assert!(
            differ.is_empty() && delivered.validation_errors == 0,
            "{}: the EMF delivered to the destination differs from the truth: {differ:?}",
            case.label
        );
    }
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the built layer (make layer): make test runs it"]
async fn every_logging_configuration_keeps_every_metric_or_says_where_none_is_extracted() {
    let cases = logging::cases();
    let mut results = Vec::with_capacity(cases.len());
    for case in &cases {
        results.push(run(case).await);
    }
    println!(
        "\nMetrics CloudWatch Logs would extract from the log group, against the sandbox's reports ({} invocations each: a cold start, a warm one with 3 function log lines, an error, a warm one):\n",
        logging::logging_scenario().len()
    );
    print!("{}", logging::render_results(&results));

    let failures: Vec<String> = results
        .iter()
        .filter(|r| !r.as_expected())
        .map(|r| format!("{}: {}", r.label, r.differences().join("; ")))
        .collect();
    assert!(
        failures.is_empty(),
        "metrics lost or wrong:\n{}",
        failures.join("\n")
    );

    // Each kind of configuration is here, and S3 and Firehose gave nothing.
    for destination in [LogDestination::S3, LogDestination::Firehose] {
        let r = results
            .iter()
            .zip(&cases)
            .find(|(_, c)| c.logging.destination == destination)
            .map(|(r, _)| r)
            .unwrap();
        assert!(
            !r.extracts && r.extraction.data.is_empty() && r.events > 0,
            "{}",
            r.label
        );
    }
    for level in LogLevel::ALL {
        assert!(
            cases.iter().any(|c| c.logging.application_level == Some(level)),
            "{level}"
        );
    }
    assert!(cases.iter().any(|c| c.logging.format == LogFormat::Text));
    assert!(cases.iter().any(|c| c.logging.log_group.is_some()));
}
