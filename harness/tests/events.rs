//! The sample events in `events/`: each is a payload the sample function understands, and the
//! commands the README and the docs print (`lambda-sandbox local invoke SampleFunction -t
//! template.yaml -e events/<name>.json`) give what the event's name promises: the invocation's
//! status as Lambda reports it and lambda-lens's metrics for it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly"
)]

mod binaries;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use lambda_lens_harness::built::workspace;
use serde_json::Value;

/// What an event does, as `local invoke` of template.yaml's SampleFunction (256 MB, 10 s)
/// shows it.
struct Expect {
    /// The REPORT line's status: `None` for a success (Lambda prints none).
    status: Option<&'static str>,
    /// The REPORT line's `Error Type`.
    report_error_type: Option<&'static str>,
    /// The `errorType` of the response the function returned.
    response_error_type: Option<&'static str>,
    /// lambda-lens's metrics of the invocation that must be 1 (the others of these two are 0).
    counted: &'static [&'static str],
}

const SUCCESS: Expect = Expect {
    status: None,
    report_error_type: None,
    response_error_type: None,
    counted: &[],
};

/// Every file of `events/`, with what it must do. A new event needs a line here.
fn expectations() -> Vec<(&'static str, Expect)> {
    vec![
        ("success", SUCCESS),
        ("order", SUCCESS),
        ("cpu", SUCCESS),
        ("memory", SUCCESS),
        (
            "error",
            Expect {
                status: Some("error"),
                report_error_type: Some("Runtime.Unknown"),
                response_error_type: Some("SampleFunction.RequestedFailure"),
                counted: &[],
            },
        ),
        (
            "invalid",
            Expect {
                status: Some("error"),
                report_error_type: Some("Runtime.Unknown"),
                response_error_type: Some("SampleFunction.InvalidPayload"),
                counted: &[],
            },
        ),
        (
            "crash",
            Expect {
                status: Some("error"),
                report_error_type: Some("Runtime.ExitError"),
                response_error_type: None,
                counted: &[],
            },
        ),
        (
            "timeout",
            Expect {
                status: Some("timeout"),
                report_error_type: None,
                response_error_type: None,
                counted: &["Timeouts"],
            },
        ),
        (
            "out-of-memory",
            Expect {
                status: Some("error"),
                report_error_type: Some("Runtime.OutOfMemory"),
                response_error_type: None,
                counted: &["OutOfMemory"],
            },
        ),
    ]
}

fn events_dir() -> PathBuf {
    workspace().join("events")
}

fn event_files() -> BTreeSet<String> {
    std::fs::read_dir(events_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect()
}

#[test]
fn every_event_is_a_json_object_with_an_expectation() {
    let named: BTreeSet<String> = expectations()
        .iter()
        .map(|(name, _)| format!("{name}.json"))
        .collect();
    assert_eq!(
        event_files(),
        named,
        "events/ and this suite's list must name the same files"
    );
    for file in event_files() {
        let text = std::fs::read_to_string(events_dir().join(&file)).unwrap();
        let value: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("events/{file} is not JSON: {e}"));
        assert!(value.is_object(), "events/{file} is not a JSON object");
    }
}

/// Every `events/<name>.json` the README and the docs name exists.
#[test]
fn every_event_the_docs_name_exists() {
    let mut pages = vec![
        workspace().join("README.md"),
        workspace().join("sandbox/README.md"),
    ];
    for entry in std::fs::read_dir(workspace().join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            pages.push(path);
        }
    }
    let files = event_files();
    let mut named = 0;
    for page in pages {
        let text = std::fs::read_to_string(&page).unwrap();
        for (at, _) in text.match_indices("events/") {
            let rest = &text[at + "events/".len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_'))
                .unwrap_or(rest.len());
            let name = rest[..end].trim_end_matches('.');
            if !name.ends_with(".json") {
                continue;
            }
            named += 1;
            assert!(
                files.contains(name),
                "{} names events/{name}, which events/ does not have",
                page.display()
            );
        }
    }
    assert!(
        named > 0,
        "no page names an event (the README's local invoke line)"
    );
}

fn local_invoke(event: &Path) -> (String, String) {
    let out = std::process::Command::new(binaries::sandbox_cli())
        .current_dir(workspace())
        .args(["local", "invoke", "SampleFunction", "-t", "template.yaml", "-e"])
        .arg(event)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    // A function error is an answer, as with `sam local invoke`: exit status 0.
    assert!(out.status.success(), "{}: {stderr}", event.display());
    (stdout, stderr)
}

/// The value of `name` in the REPORT line (`Status: error` → `error`).
fn report_field<'a>(report: &'a str, name: &str) -> Option<&'a str> {
    report
        .split('\t')
        .find_map(|part| part.strip_prefix(&format!("{name}: ")))
}

#[test]
#[ignore = "needs SAM's build of template.yaml (make template-check): make test runs it"]
fn each_event_does_what_its_name_says_under_local_invoke_of_the_template() {
    assert!(
        workspace()
            .join(".aws-sam/build/SampleFunction/bootstrap")
            .is_file(),
        ".aws-sam/build is missing: `make template-check` (part of `make test`) runs `sam build` first"
    );
    for (name, expect) in expectations() {
        let (stdout, stderr) = local_invoke(Path::new(&format!("events/{name}.json")));
        let report = stderr
            .lines()
            .find(|l| l.starts_with("REPORT RequestId: "))
            .unwrap_or_else(|| panic!("events/{name}.json: no REPORT line:\n{stderr}"));
        assert_eq!(
            report_field(report, "Status"),
            expect.status,
            "events/{name}.json: {report}"
        );
        assert_eq!(
            report_field(report, "Error Type"),
            expect.report_error_type,
            "events/{name}.json: {report}"
        );
        let response: Option<Value> = serde_json::from_str(stdout.trim()).ok();
        let error_type = response
            .as_ref()
            .and_then(|r| r.get("errorType"))
            .and_then(Value::as_str);
        assert_eq!(
            error_type, expect.response_error_type,
            "events/{name}.json: {stdout}"
        );
        if expect.status.is_none() {
            let response = response.unwrap_or_else(|| panic!("events/{name}.json: {stdout}"));
            assert!(
                response["message"].as_str().unwrap().starts_with("Hello"),
                "{stdout}"
            );
        }
        // lambda-lens's document of the invocation (the template's adaptive output writes a
        // failed one, and the only one of a single invocation, on its own).
        let docs: Vec<Value> = stderr
            .lines()
            .filter(|l| l.starts_with('{'))
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|d| d.pointer("/_aws/CloudWatchMetrics").is_some())
            .collect();
        assert_eq!(docs.len(), 1, "events/{name}.json:\n{stderr}");
        for metric in ["Timeouts", "OutOfMemory"] {
            let want = u64::from(expect.counted.contains(&metric));
            assert_eq!(
                docs[0][metric].as_f64(),
                Some(want as f64),
                "events/{name}.json: {metric} in {}",
                docs[0]
            );
        }
        assert_eq!(docs[0]["ColdStarts"].as_f64(), Some(1.0), "{}", docs[0]);
    }
}
