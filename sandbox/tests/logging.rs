//! Lambda's advanced logging controls and the log group: what reaches the function's log
//! destination under each `LoggingConfig`, with the real runtime and extension processes, while
//! the Telemetry API keeps delivering everything.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "integration tests fail loudly"
)]

mod common;

use std::os::unix::fs::PermissionsExt;

use common::Fixture;
use lambda_sandbox::{
    Config, LogDestination, LogFormat, LogGroup, LogLevel, LoggingConfig, MAX_EVENT_BYTES, Sandbox,
    ShutdownReason, Source, Status,
};
use serde_json::{Value, json};

/// The test extension, printing `lines` to stdout when it starts (before it registers).
fn extension_printing(fx: &Fixture, name: &str, lines: &[&str]) {
    let mut header = String::new();
    for line in lines {
        header.push_str(&format!("print({line:?}, flush=True)\n"));
    }
    let script = common::EXTENSION.replacen(
        "import http.client\n",
        &format!("import http.client\n{header}"),
        1,
    );
    let path = fx.dir.join("layer/extensions").join(name);
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

const EXT_WARN: &str = r#"{"level":"warn","message":"extension warns"}"#;
const FN_WARN: &str = r#"{"level":"WARN","message":"function warns"}"#;
const FN_DEBUG: &str = r#"{"level":"debug","message":"function debugs"}"#;

/// Runs one invocation that prints a level-less line, a WARN line and a DEBUG line, with an
/// extension that prints a level-less line and a WARN line; returns the log group.
async fn run(fx: &Fixture, logging: LoggingConfig) -> (Sandbox, LogGroup, String) {
    extension_printing(fx, "ext-a", &["extension plain line", EXT_WARN]);
    let mut config: Config = fx.config();
    config.function_name = "logging-fn".to_owned();
    config.logging = logging;
    let mut sb = Sandbox::start(config).await.unwrap();
    let o = sb
        .invoke(json!({"print": ["function plain line", FN_WARN, FN_DEBUG]}))
        .await
        .unwrap();
    assert_eq!(o.status, Status::Success);
    sb.shutdown(ShutdownReason::Spindown).await.unwrap();
    let group = sb.log_group();
    (sb, group, o.request_id)
}

fn has(group: &LogGroup, message: &str) -> bool {
    group.messages().any(|m| m == message)
}

/// The JSON system objects of the group, by type.
fn system_types(group: &LogGroup) -> Vec<String> {
    group
        .messages()
        .filter_map(|m| serde_json::from_str::<Value>(m).ok())
        .filter(|v| v.get("record").is_some())
        .filter_map(|v| v["type"].as_str().map(str::to_owned))
        .collect()
}

fn json_at(level: LogLevel) -> LoggingConfig {
    LoggingConfig {
        format: LogFormat::Json,
        application_level: Some(level),
        ..LoggingConfig::default()
    }
}

#[tokio::test]
async fn text_format_keeps_every_line_and_lambdas_system_lines() {
    let fx = Fixture::new(&[]);
    let (_sb, group, id) = run(&fx, LoggingConfig::default()).await;
    assert_eq!(group.name, "/aws/lambda/logging-fn");
    assert_eq!(group.destination, LogDestination::CloudWatchLogs);
    for line in [
        "runtime started",
        "function plain line",
        FN_WARN,
        FN_DEBUG,
        "extension plain line",
        EXT_WARN,
        "ext-a ready",
    ] {
        assert!(has(&group, line), "{line} missing: {group:#?}");
    }
    let messages: Vec<&str> = group.messages().collect();
    let at = |prefix: &str| {
        messages
            .iter()
            .position(|m| m.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix}: {messages:#?}"))
    };
    let (start, line, end, report) = (
        at(&format!("START RequestId: {id} Version: $LATEST")),
        at("function plain line"),
        at(&format!("END RequestId: {id}")),
        at(&format!("REPORT RequestId: {id}\tDuration: ")),
    );
    assert!(at("INIT_START Runtime Version: ") < start);
    assert!(start < line && line < end && end + 1 == report, "{messages:#?}");
    assert!(messages[report].contains("\tMemory Size: 128 MB\tMax Memory Used: "));
    assert!(messages[report].contains("\tInit Duration: "));
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("EXTENSION\tName: ext-a\tState: Ready"))
    );
    assert!(system_types(&group).is_empty());
}

#[tokio::test]
async fn json_at_warn_drops_level_less_lines_of_the_function_and_its_extensions() {
    let fx = Fixture::new(&[]);
    let (sb, group, id) = run(&fx, json_at(LogLevel::Warn)).await;
    assert!(has(&group, FN_WARN) && has(&group, EXT_WARN), "{group:#?}");
    for dropped in [
        "function plain line",
        FN_DEBUG,
        "runtime started",
        "extension plain line",
        "ext-a ready",
    ] {
        assert!(!has(&group, dropped), "{dropped} kept: {group:#?}");
    }
    // The platform's lines are JSON objects, at the system level (INFO): start and report, not
    // the DEBUG runtimeDone.
    let types = system_types(&group);
    let at = |t: &str| types.iter().position(|k| k == t);
    assert!(at("platform.initStart") < at("platform.start"), "{types:?}");
    assert!(at("platform.start") < at("platform.report"), "{types:?}");
    for debug in [
        "platform.runtimeDone",
        "platform.initRuntimeDone",
        "platform.initReport",
    ] {
        assert_eq!(at(debug), None, "{types:?}");
    }
    let report: Value = group
        .messages()
        .filter_map(|m| serde_json::from_str::<Value>(m).ok())
        .find(|v| v["type"] == "platform.report")
        .unwrap();
    assert_eq!(report["record"]["requestId"], id);
    assert!(report["record"]["metrics"]["initDurationMs"].is_number());
    assert!(
        !group
            .messages()
            .any(|m| m.starts_with("START ") || m.starts_with("REPORT "))
    );
    // The Telemetry API is not filtered: the extension got the level-less function line.
    assert!(
        fx.received("ext-a")
            .iter()
            .any(|r| r["type"] == "function" && r["record"] == "function plain line")
    );
    // The process's output is all there, filtered only on its way to the group.
    assert!(sb.output().iter().any(|l| l.text == "extension plain line"));
}

#[tokio::test]
async fn extension_lines_are_kept_when_their_filter_is_off() {
    let fx = Fixture::new(&[]);
    let logging = LoggingConfig {
        filter_extensions: false,
        ..json_at(LogLevel::Warn)
    };
    let (_sb, group, _) = run(&fx, logging).await;
    assert!(
        has(&group, "extension plain line") && has(&group, "ext-a ready"),
        "{group:#?}"
    );
    assert!(!has(&group, "function plain line"), "{group:#?}");
}

#[tokio::test]
async fn system_level_warn_removes_start_and_report_but_not_from_the_telemetry_api() {
    let fx = Fixture::new(&["ext-a"]);
    let mut config = fx.config();
    config.logging = LoggingConfig {
        system_level: Some(LogLevel::Warn),
        ..json_at(LogLevel::Info)
    };
    let mut sb = Sandbox::start(config).await.unwrap();
    let ok = sb
        .invoke(json!({"print": ["function plain line"]}))
        .await
        .unwrap();
    let failed = sb.invoke(json!({"error": "boom"})).await.unwrap();
    assert_eq!((ok.status, failed.status), (Status::Success, Status::Error));
    sb.shutdown(ShutdownReason::Spindown).await.unwrap();
    let group = sb.log_group();
    assert!(has(&group, "function plain line"));
    // At WARN only the failed invocation's runtimeDone and report (WARN) are left: no start,
    // nothing of the successful one.
    let system: Vec<Value> = group
        .messages()
        .filter_map(|m| serde_json::from_str::<Value>(m).ok())
        .filter(|v| v.get("record").is_some())
        .collect();
    let types: Vec<&str> = system.iter().filter_map(|v| v["type"].as_str()).collect();
    assert_eq!(types, ["platform.runtimeDone", "platform.report"], "{system:#?}");
    for v in &system {
        assert_eq!(v["record"]["requestId"], failed.request_id.as_str());
        assert_eq!(v["record"]["status"], "error");
    }
    // The Telemetry API delivers them all.
    let received = fx.received("ext-a");
    for id in [&ok.request_id, &failed.request_id] {
        for kind in ["platform.start", "platform.report"] {
            assert!(
                received
                    .iter()
                    .any(|r| r["type"] == kind && r["record"]["requestId"] == id.as_str()),
                "{kind} of {id} not delivered"
            );
        }
    }
}

#[tokio::test]
async fn a_150_kib_line_becomes_three_events_of_at_most_64_kib() {
    let fx = Fixture::new(&[]);
    let mut sb = Sandbox::start(fx.config()).await.unwrap();
    let width = 150 * 1024;
    let o = sb
        .invoke(json!({"print_many": 1, "line_width": width}))
        .await
        .unwrap();
    assert_eq!(o.status, Status::Success);
    sb.shutdown(ShutdownReason::Spindown).await.unwrap();
    let line = format!("line 0 {}", "x".repeat(width));
    // The process's line is whole in the output and in the Telemetry API.
    assert!(sb.output_of(&Source::Function).iter().any(|l| l.text == line));
    let group = sb.log_group();
    let pieces: Vec<&str> = group
        .messages()
        .filter(|m| m.starts_with("line 0 ") || m.chars().all(|c| c == 'x'))
        .collect();
    assert_eq!(
        pieces.len(),
        3,
        "{:?}",
        pieces.iter().map(|p| p.len()).collect::<Vec<_>>()
    );
    assert!(pieces.iter().all(|p| p.len() <= MAX_EVENT_BYTES));
    assert_eq!(MAX_EVENT_BYTES, 65_536);
    assert_eq!(pieces.concat(), line);
}

#[tokio::test]
async fn a_custom_log_group_names_the_group_and_the_runtimes_variable() {
    let fx = Fixture::new(&["ext-a"]);
    let mut config = fx.config();
    config.logging.log_group = Some("/shared/orders".to_owned());
    let mut sb = Sandbox::start(config).await.unwrap();
    sb.invoke(json!({"env": true})).await.unwrap();
    sb.shutdown(ShutdownReason::Spindown).await.unwrap();
    assert_eq!(sb.log_group().name, "/shared/orders");
    let env: Value = sb
        .output_of(&Source::Function)
        .iter()
        .find_map(|l| {
            serde_json::from_str(&l.text)
                .ok()
                .filter(|v: &Value| v.get("TZ").is_some())
        })
        .unwrap();
    assert_eq!(env["AWS_LAMBDA_LOG_GROUP_NAME"], "/shared/orders");
    assert_eq!(env["AWS_LAMBDA_LOG_FORMAT"], "Text");
    // Runtime-only, as before.
    assert!(
        fx.ext_entries("ext-a", "env")[0]
            .get("AWS_LAMBDA_LOG_GROUP_NAME")
            .is_none()
    );
}

#[tokio::test]
async fn s3_holds_the_events_but_extracts_no_emf() {
    let fx = Fixture::new(&[]);
    let logging = LoggingConfig {
        destination: LogDestination::S3,
        ..LoggingConfig::default()
    };
    let (_sb, group, _) = run(&fx, logging).await;
    assert_eq!(group.destination, LogDestination::S3);
    assert!(!group.extracts_emf());
    assert!(has(&group, "function plain line") && has(&group, "extension plain line"));
}

#[tokio::test]
async fn a_level_with_the_text_format_is_refused_as_lambdas_api_refuses_it() {
    let fx = Fixture::new(&[]);
    let mut config = fx.config();
    config.logging.application_level = Some(LogLevel::Warn);
    let e = Sandbox::start(config).await.err().unwrap().to_string();
    assert!(
        e.contains("LogLevel is not supported when LogFormat is set to \"Text\""),
        "{e}"
    );
}

#[test]
fn the_cli_says_its_logging_and_writes_the_group() {
    let fx = Fixture::new(&[]);
    extension_printing(&fx, "ext-a", &["extension plain line", EXT_WARN]);
    let file = fx.dir.join("group.jsonl");
    let payload = json!({"print": ["function plain line", FN_WARN]}).to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lambda-sandbox"))
        .args(["--bootstrap", fx.dir.join("function/bootstrap").to_str().unwrap()])
        .args(["--layer", fx.dir.join("layer").to_str().unwrap()])
        .args(["--env", &format!("EXT_OUT_DIR={}", fx.dir.join("out").display())])
        .args(["--no-cpu-limit", "--name", "cli-logs"])
        .args(["--log-format", "JSON", "--log-level", "WARN"])
        .args(["--log-group-file", file.to_str().unwrap()])
        .arg(&payload)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first = stdout.lines().next().unwrap();
    assert!(
        first.starts_with("logging: format=JSON application_level=WARN system_level=INFO log_group=/aws/lambda/cli-logs destination=cloudwatch-logs")
            && first.contains("extension_lines=filtered at WARN"),
        "{first}"
    );
    let events: Vec<Value> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        events
            .iter()
            .all(|e| e["timestamp"].is_i64() && e["message"].is_string())
    );
    let messages: Vec<&str> = events.iter().map(|e| e["message"].as_str().unwrap()).collect();
    assert!(
        messages.contains(&FN_WARN) && messages.contains(&EXT_WARN),
        "{messages:#?}"
    );
    assert!(!messages.contains(&"function plain line") && !messages.contains(&"extension plain line"));
    // Lambda's API refuses a level with Text: so does the command, naming the fix.
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_lambda-sandbox"))
        .args(["--bootstrap", fx.dir.join("function/bootstrap").to_str().unwrap()])
        .args(["--log-level", "WARN"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--log-format JSON"));
}

#[test]
fn local_invoke_applies_the_templates_logging_config_with_its_globals() {
    let fx = Fixture::new(&[]);
    extension_printing(&fx, "ext-a", &["extension plain line", EXT_WARN]);
    let template = fx.dir.join("template.yaml");
    std::fs::write(
        &template,
        format!(
            r"Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    LoggingConfig:
      LogFormat: JSON
      LogGroup: /shared/local
Resources:
  Layer:
    Type: AWS::Serverless::LayerVersion
    Properties: {{ContentUri: layer}}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: provided.al2023
      Handler: bootstrap
      CodeUri: function
      Layers: [!Ref Layer]
      LoggingConfig:
        ApplicationLogLevel: WARN
      Environment:
        Variables:
          EXT_OUT_DIR: {}
",
            fx.dir.join("out").display()
        ),
    )
    .unwrap();
    let event = fx.dir.join("event.json");
    std::fs::write(
        &event,
        json!({"print": ["function plain line", FN_WARN]}).to_string(),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lambda-sandbox"))
        .args(["local", "invoke", "-t", template.to_str().unwrap()])
        .args(["-e", event.to_str().unwrap(), "--no-cpu-limit"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "logging: format=JSON application_level=WARN system_level=INFO log_group=/shared/local"
        ),
        "{stderr}"
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(lines.contains(&FN_WARN) && lines.contains(&EXT_WARN), "{stderr}");
    assert!(!lines.contains(&"function plain line"), "{stderr}");
    assert!(!lines.contains(&"extension plain line"), "{stderr}");
    assert!(
        lines.iter().any(|l| l.contains(r#""type":"platform.start""#)),
        "{stderr}"
    );
    assert!(
        !lines.iter().any(|l| l.starts_with("START RequestId: ")),
        "{stderr}"
    );
}
