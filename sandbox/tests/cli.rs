//! The `lambda-sandbox` binary end to end.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "integration tests fail loudly"
)]

mod common;

use common::Fixture;

#[test]
fn cli_runs_payloads_and_prints_a_summary() {
    let fx = Fixture::new(&["ext-a"]);
    let payloads = fx.dir.join("payloads.jsonl");
    std::fs::write(&payloads, "{\"exit\": 4}\n\n{\"sleep_ms\": 1}\n").unwrap();
    let telemetry = fx.dir.join("telemetry.jsonl");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lambda-sandbox"))
        .args(["--bootstrap", fx.dir.join("function/bootstrap").to_str().unwrap()])
        .args(["--layer", fx.dir.join("layer").to_str().unwrap()])
        .args(["--env", &format!("EXT_OUT_DIR={}", fx.dir.join("out").display())])
        .args(["--memory", "256", "--timeout-ms", "2000", "--name", "cli-fn"])
        .args([
            "--payloads",
            payloads.to_str().unwrap(),
            "--telemetry",
            telemetry.to_str().unwrap(),
        ])
        .arg("{}")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all: Vec<&str> = stdout.lines().collect();
    assert!(
        all[0].starts_with("logging: format=Text (no level filtering) log_group=/aws/lambda/cli-fn"),
        "{stdout}"
    );
    assert!(
        all[1].starts_with("environment: memory measured and limited by "),
        "{stdout}"
    );
    assert!(all[2].starts_with("init phase=init status=success"), "{stdout}");
    assert!(
        all.iter()
            .any(|l| l.starts_with("  reset: process function") && l.contains("exit=Code(4)")),
        "{stdout}"
    );
    let invokes: Vec<&str> = all.iter().copied().filter(|l| l.starts_with("invoke ")).collect();
    assert_eq!(invokes.len(), 3, "{stdout}");
    assert!(invokes[0].starts_with("invoke 1 request_id=") && invokes[0].contains("status=success"));
    assert!(
        invokes[1].contains("status=error error_type=Runtime.ExitError"),
        "{stdout}"
    );
    // Re-initialised inside the next invoke (a suppressed init): no initDurationMs.
    assert!(
        invokes[2].contains("status=success") && invokes[2].ends_with("init_ms=-"),
        "{stdout}"
    );
    let lines = all;
    assert!(lines.iter().any(|l| l.starts_with("shutdown reason=spindown")));
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("process extension:ext-a") && l.contains("exit=Code(0)"))
    );
    assert!(lines.iter().any(|l| l.starts_with("[function stdout] invoked ")));
    assert!(lines.contains(&"[extension:ext-a stdout] ext-a ready"));
    let records = std::fs::read_to_string(&telemetry).unwrap();
    assert_eq!(
        records
            .lines()
            .filter(|l| l.contains("\"platform.report\""))
            .count(),
        3
    );
}

#[test]
fn cli_usage_error_exits_2() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lambda-sandbox"))
        .arg("--nope")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Usage: lambda-sandbox"));
}

#[test]
fn cli_invokes_managed_instances_payloads_at_once() {
    let fx = Fixture::new(&["ext-a"]);
    let telemetry = fx.dir.join("telemetry.jsonl");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lambda-sandbox"))
        .args(["--bootstrap", fx.dir.join("function/bootstrap").to_str().unwrap()])
        .args(["--layer", fx.dir.join("layer").to_str().unwrap()])
        .args(["--env", &format!("EXT_OUT_DIR={}", fx.dir.join("out").display())])
        .args(["--env", "EXT_EVENTS=SHUTDOWN", "--env", "EXT_SCHEMA=2025-01-29"])
        .args(["--init-type", "lambda-managed-instances", "--concurrency", "2"])
        .args(["--telemetry", telemetry.to_str().unwrap()])
        .args(["{\"sleep_ms\": 600}", "{\"sleep_ms\": 600}"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let invokes: Vec<&str> = stdout.lines().filter(|l| l.starts_with("invoke ")).collect();
    assert_eq!(invokes.len(), 2, "{stdout}");
    assert!(invokes.iter().all(|l| l.contains("status=success")), "{stdout}");
    let records = std::fs::read_to_string(&telemetry).unwrap();
    assert!(records.contains("\"lambda-managed-instances\""));
    assert!(!records.contains("\"platform.runtimeDone\""));
    // Both started before either was reported: they ran at once.
    let kinds: Vec<String> = records
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .filter(|t| t == "platform.start" || t == "platform.report")
        .collect();
    assert_eq!(
        kinds,
        [
            "platform.start",
            "platform.start",
            "platform.report",
            "platform.report"
        ]
    );
}
