use chrono::TimeZone;
use serde_json::json;

use super::*;
use crate::environment::output::Stream;

fn at(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_700_000_000_000 + ms)
        .single()
        .unwrap_or_default()
}

fn line(ms: i64, source: Source, text: &str) -> OutputLine {
    OutputLine {
        time: at(ms),
        source,
        stream: Stream::Stdout,
        text: text.to_owned(),
    }
}

fn ext(ms: i64, text: &str) -> OutputLine {
    line(ms, Source::Extension("ext".to_owned()), text)
}

fn records() -> Vec<TelemetryRecord> {
    vec![
        TelemetryRecord::new(
            at(0),
            "platform.initStart",
            json!({"initializationType": "on-demand", "phase": "init", "runtimeVersion": "provided:al2023.sandbox", "runtimeVersionArn": "arn"}),
        ),
        TelemetryRecord::new(
            at(5),
            "platform.initReport",
            json!({"initializationType": "on-demand", "phase": "init", "status": "success", "metrics": {"durationMs": 5.0}}),
        ),
        TelemetryRecord::new(
            at(10),
            "platform.start",
            json!({"requestId": "r1", "version": "$LATEST"}),
        ),
        TelemetryRecord::new(
            at(20),
            "platform.runtimeDone",
            json!({"requestId": "r1", "status": "success", "metrics": {"durationMs": 9.0}}),
        ),
        TelemetryRecord::new(
            at(30),
            "platform.report",
            json!({"requestId": "r1", "status": "success", "metrics": {"durationMs": 9.5, "billedDurationMs": 10, "memorySizeMB": 128, "maxMemoryUsedMB": 20, "initDurationMs": 5.0}}),
        ),
        TelemetryRecord::new(at(31), "platform.logsDropped", json!({"droppedRecords": 1})),
    ]
}

fn lines() -> Vec<OutputLine> {
    vec![
        ext(1, "ext ready"),
        line(11, Source::Function, "plain"),
        line(12, Source::Function, r#"{"level":"debug","message":"d"}"#),
        line(13, Source::Function, r#"{"level":"WARN","message":"w"}"#),
        line(
            14,
            Source::Function,
            r#"{"level":"warning","message":"not a level"}"#,
        ),
        line(15, Source::Function, ""),
        ext(16, r#"{"level":"error","message":"e"}"#),
    ]
}

fn build(config: &LoggingConfig) -> LogGroup {
    LogGroup::build(config, "fn", &lines(), &records())
}

#[test]
fn text_keeps_every_line_with_lambdas_system_lines() {
    let g = build(&LoggingConfig::default());
    assert_eq!(g.name, "/aws/lambda/fn");
    let m: Vec<&str> = g.messages().collect();
    assert_eq!(
        m,
        [
            "INIT_START Runtime Version: provided:al2023.sandbox\tRuntime Version ARN: arn",
            "ext ready",
            "START RequestId: r1 Version: $LATEST",
            "plain",
            r#"{"level":"debug","message":"d"}"#,
            r#"{"level":"WARN","message":"w"}"#,
            r#"{"level":"warning","message":"not a level"}"#,
            r#"{"level":"error","message":"e"}"#,
            "END RequestId: r1",
            "REPORT RequestId: r1\tDuration: 9.50 ms\tBilled Duration: 10 ms\tMemory Size: 128 MB\tMax Memory Used: 20 MB\tInit Duration: 5.00 ms",
        ]
    );
    assert_eq!(g.events[1].timestamp_ms, at(1).timestamp_millis());
}

#[test]
fn json_filters_by_level_and_writes_system_objects() {
    let config = LoggingConfig {
        format: LogFormat::Json,
        application_level: Some(LogLevel::Warn),
        ..LoggingConfig::default()
    };
    let g = build(&config);
    let m: Vec<&str> = g.messages().collect();
    let types: Vec<String> = m
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v.get("type").and_then(Value::as_str).map(str::to_owned))
        .collect();
    // INFO: initStart (with a runtime version), start, report; not the DEBUG ones.
    assert_eq!(types, ["platform.initStart", "platform.start", "platform.report"]);
    let app: Vec<&str> = m.iter().copied().filter(|l| !l.contains("\"type\"")).collect();
    assert_eq!(
        app,
        [
            r#"{"level":"WARN","message":"w"}"#,
            r#"{"level":"error","message":"e"}"#
        ]
    );
    // Extension lines kept when asked.
    let keep = LoggingConfig {
        filter_extensions: false,
        ..config.clone()
    };
    assert!(build(&keep).messages().any(|l| l == "ext ready"));
    // System level WARN: no start, no report.
    let quiet = LoggingConfig {
        system_level: Some(LogLevel::Warn),
        ..config
    };
    assert!(!build(&quiet).messages().any(|l| l.contains("\"platform.")));
}

#[test]
fn json_at_debug_shows_the_debug_system_records() {
    let config = LoggingConfig {
        format: LogFormat::Json,
        application_level: Some(LogLevel::Trace),
        system_level: Some(LogLevel::Debug),
        log_group: Some("/custom/group".to_owned()),
        destination: LogDestination::S3,
        ..LoggingConfig::default()
    };
    let g = build(&config);
    assert_eq!(g.name, "/custom/group");
    assert!(!g.extracts_emf());
    let m: Vec<&str> = g.messages().collect();
    assert!(m.iter().any(|l| l.contains("\"platform.runtimeDone\"")));
    assert!(m.iter().any(|l| l.contains("\"platform.initReport\"")));
    assert!(!m.iter().any(|l| l.contains("logsDropped")));
    assert!(m.contains(&r#"{"level":"debug","message":"d"}"#));
    let start = m
        .iter()
        .find(|l| l.contains("platform.start"))
        .copied()
        .unwrap_or_default();
    assert!(
        start.starts_with(r#"{"time":"2023-11-14T22:13:20.010Z","type":"platform.start","record":{"#),
        "{start}"
    );
}

#[test]
fn json_timestamps_come_from_the_line() {
    let config = LoggingConfig {
        format: LogFormat::Json,
        ..LoggingConfig::default()
    };
    let l = line(
        50,
        Source::Function,
        r#"{"level":"info","timestamp":"2024-11-02T16:51:31.587Z","message":"t"}"#,
    );
    let g = LogGroup::build(&config, "fn", &[l], &[]);
    assert_eq!(g.events[0].timestamp_ms, 1_730_566_291_587);
}

#[test]
fn long_lines_are_cut_on_character_boundaries() {
    let long = "é".repeat(MAX_EVENT_BYTES); // two bytes each
    let pieces = cut(&long, MAX_EVENT_BYTES);
    assert_eq!(pieces.len(), 2);
    assert!(pieces.iter().all(|p| p.len() <= MAX_EVENT_BYTES));
    assert_eq!(pieces.concat(), long);
    assert_eq!(cut("abc", 1), ["a", "b", "c"]);
    assert_eq!(cut("é", 1), ["é"]);
    assert!(cut("", 4).is_empty());
    let g = LogGroup::build(
        &LoggingConfig::default(),
        "fn",
        &[line(1, Source::Function, &"x".repeat(150 * 1024))],
        &[],
    );
    let sizes: Vec<usize> = g.events.iter().map(|e| e.message.len()).collect();
    assert_eq!(sizes, [65_536, 65_536, 22_528]);
    assert_eq!(
        g.to_json_lines()
            .lines()
            .next()
            .map(|l| l.starts_with("{\"timestamp\":") && l.contains(",\"message\":\"xxx")),
        Some(true)
    );
}
