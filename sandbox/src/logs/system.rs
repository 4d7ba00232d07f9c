//! The platform's own lines in the log group ("system logs"): which platform records write
//! one, at which level, and how each reads in the Text format. In the JSON format a system line
//! is the record itself, `{"time","type","record"}`, as the Telemetry API carries it (a: the
//! JSON system logs use the Telemetry API's event schema).
//!
//! The levels follow the Lambda guide's "System log level event mapping" (a: the table exists;
//! its rows as a third party reproduced them, c): `platform.start` INFO; `platform.report` INFO,
//! WARN when its status is not `success`; `platform.runtimeDone` and
//! `platform.initRuntimeDone` DEBUG, WARN when not `success`; `platform.initStart` INFO when it
//! names a runtime version, DEBUG otherwise; `platform.initReport` WARN when not `success`, INFO
//! for a provisioned (not on-demand) environment, DEBUG for an on-demand one. The restore
//! records are read like the init ones, and `platform.extension` and
//! `platform.telemetrySubscription` as INFO (d). `platform.logsDropped` is about Telemetry API
//! subscribers, not the log group, and writes nothing there (d).

use serde_json::Value;

use super::settings::LogLevel;
use crate::telemetry::records::TelemetryRecord;

/// The level of the system line `record` writes, or `None` when it writes none.
pub(crate) fn level(record: &TelemetryRecord) -> Option<LogLevel> {
    let r = &record.record;
    let success = r.get("status").and_then(Value::as_str) == Some("success");
    let warn_unless = |quiet: LogLevel| if success { quiet } else { LogLevel::Warn };
    Some(match record.kind.as_str() {
        "platform.start" | "platform.restoreStart" => LogLevel::Info,
        "platform.report" | "platform.restoreReport" => warn_unless(LogLevel::Info),
        "platform.runtimeDone" | "platform.initRuntimeDone" | "platform.restoreRuntimeDone" => {
            warn_unless(LogLevel::Debug)
        }
        "platform.initStart" if r.get("runtimeVersion").is_some() => LogLevel::Info,
        "platform.initStart" => LogLevel::Debug,
        "platform.initReport" => {
            let on_demand = r.get("initializationType").and_then(Value::as_str) == Some("on-demand");
            match (success, on_demand) {
                (false, _) => LogLevel::Warn,
                (true, false) => LogLevel::Info,
                (true, true) => LogLevel::Debug,
            }
        }
        "platform.extension" | "platform.telemetrySubscription" => LogLevel::Info,
        _ => return None,
    })
}

/// The Text format's lines for `record` (none for the records it has no line for: the
/// runtimeDone records).
///
/// - `INIT_START Runtime Version: …  Runtime Version ARN: …` (a);
/// - `START RequestId: … Version: …`, `END RequestId: …`, `REPORT RequestId: …  Duration: …`
///   (a; `END` is written with `REPORT`, when the invoke phase ends, c);
/// - `INIT_REPORT Init Duration: …  Phase: …  Status: …` (c: written for a failed or timed-out
///   init, and for inits not reported in a REPORT);
/// - `RESTORE_START …` and `RESTORE_REPORT Restore Duration: …` (a, SnapStart);
/// - `EXTENSION Name: … State: … Events: […]` and `TELEMETRY Name: … State: … Types: […]` (c).
///
/// Fields are tab-separated, as CloudWatch Logs shows them (a).
pub(crate) fn text_lines(record: &TelemetryRecord) -> Vec<String> {
    let r = &record.record;
    let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("-").to_owned();
    let metric = |k: &str| r.pointer(&format!("/metrics/{k}")).and_then(Value::as_f64);
    let status_suffix = || {
        let mut out = String::new();
        if r.get("status").and_then(Value::as_str) != Some("success") {
            out.push_str(&format!("\tStatus: {}", s("status")));
            if let Some(e) = r.get("errorType").and_then(Value::as_str) {
                out.push_str(&format!("\tError Type: {e}"));
            }
        }
        out
    };
    let list = |k: &str, capitalise: bool| {
        let items: Vec<String> = r
            .get(k)
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(Value::as_str)
            .map(|v| if capitalise { capitalised(v) } else { v.to_owned() })
            .collect();
        format!("[{}]", items.join(", "))
    };
    match record.kind.as_str() {
        "platform.initStart" => vec![format!(
            "INIT_START Runtime Version: {}\tRuntime Version ARN: {}",
            s("runtimeVersion"),
            s("runtimeVersionArn")
        )],
        "platform.initReport" => vec![format!(
            "INIT_REPORT Init Duration: {:.2} ms\tPhase: {}\tStatus: {}{}",
            metric("durationMs").unwrap_or_default(),
            s("phase"),
            s("status"),
            r.get("errorType")
                .and_then(Value::as_str)
                .map(|e| format!("\tError Type: {e}"))
                .unwrap_or_default()
        )],
        "platform.start" => vec![format!(
            "START RequestId: {} Version: {}",
            s("requestId"),
            s("version")
        )],
        "platform.report" => {
            let id = s("requestId");
            let mut report = format!("REPORT RequestId: {id}");
            if let Some(d) = metric("durationMs") {
                report.push_str(&format!("\tDuration: {d:.2} ms"));
            }
            if let Some(b) = metric("billedDurationMs") {
                report.push_str(&format!("\tBilled Duration: {b:.0} ms"));
            }
            if let Some(m) = metric("memorySizeMB") {
                report.push_str(&format!("\tMemory Size: {m:.0} MB"));
            }
            if let Some(m) = metric("maxMemoryUsedMB") {
                report.push_str(&format!("\tMax Memory Used: {m:.0} MB"));
            }
            if let Some(i) = metric("initDurationMs") {
                report.push_str(&format!("\tInit Duration: {i:.2} ms"));
            }
            if let Some(i) = metric("restoreDurationMs") {
                report.push_str(&format!("\tRestore Duration: {i:.2} ms"));
            }
            report.push_str(&status_suffix());
            vec![format!("END RequestId: {id}"), report]
        }
        "platform.restoreStart" => vec![format!(
            "RESTORE_START Runtime Version: {}\tRuntime Version ARN: {}",
            s("runtimeVersion"),
            s("runtimeVersionArn")
        )],
        "platform.restoreReport" => vec![format!(
            "RESTORE_REPORT Restore Duration: {:.2} ms{}",
            metric("durationMs").unwrap_or_default(),
            status_suffix()
        )],
        "platform.extension" => vec![format!(
            "EXTENSION\tName: {}\tState: {}\tEvents: {}",
            s("name"),
            s("state"),
            list("events", false)
        )],
        "platform.telemetrySubscription" => vec![format!(
            "TELEMETRY\tName: {}\tState: {}\tTypes: {}",
            s("name"),
            s("state"),
            list("types", true)
        )],
        _ => Vec::new(),
    }
}

/// `platform` → `Platform`.
fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use serde_json::json;

    fn rec(kind: &str, record: Value) -> TelemetryRecord {
        TelemetryRecord::new(Utc::now(), kind, record)
    }

    #[test]
    fn levels_follow_the_event_mapping() {
        let ok = json!({"status": "success"});
        let failed = json!({"status": "timeout"});
        assert_eq!(level(&rec("platform.start", json!({}))), Some(LogLevel::Info));
        assert_eq!(level(&rec("platform.report", ok.clone())), Some(LogLevel::Info));
        assert_eq!(
            level(&rec("platform.report", failed.clone())),
            Some(LogLevel::Warn)
        );
        assert_eq!(level(&rec("platform.runtimeDone", ok)), Some(LogLevel::Debug));
        assert_eq!(level(&rec("platform.runtimeDone", failed)), Some(LogLevel::Warn));
        assert_eq!(
            level(&rec("platform.initStart", json!({"runtimeVersion": "x"}))),
            Some(LogLevel::Info)
        );
        assert_eq!(
            level(&rec("platform.initStart", json!({}))),
            Some(LogLevel::Debug)
        );
        let init = |t: &str, s: &str| {
            level(&rec(
                "platform.initReport",
                json!({"initializationType": t, "status": s}),
            ))
        };
        assert_eq!(init("on-demand", "success"), Some(LogLevel::Debug));
        assert_eq!(init("provisioned-concurrency", "success"), Some(LogLevel::Info));
        assert_eq!(init("on-demand", "error"), Some(LogLevel::Warn));
        assert_eq!(level(&rec("platform.logsDropped", json!({}))), None);
    }

    #[test]
    fn text_lines_read_as_lambdas() {
        let report = rec(
            "platform.report",
            json!({"requestId": "r1", "status": "timeout", "metrics": {
                "durationMs": 3000.456, "billedDurationMs": 3001, "memorySizeMB": 128,
                "maxMemoryUsedMB": 40, "initDurationMs": 12.345}}),
        );
        assert_eq!(
            text_lines(&report),
            [
                "END RequestId: r1",
                "REPORT RequestId: r1\tDuration: 3000.46 ms\tBilled Duration: 3001 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB\tInit Duration: 12.35 ms\tStatus: timeout"
            ]
        );
        assert_eq!(
            text_lines(&rec(
                "platform.start",
                json!({"requestId": "r1", "version": "$LATEST"})
            )),
            ["START RequestId: r1 Version: $LATEST"]
        );
        assert_eq!(
            text_lines(&rec(
                "platform.telemetrySubscription",
                json!({"name": "ext", "state": "Subscribed", "types": ["platform", "function"]})
            )),
            ["TELEMETRY\tName: ext\tState: Subscribed\tTypes: [Platform, Function]"]
        );
        assert!(text_lines(&rec("platform.runtimeDone", json!({}))).is_empty());
    }
}
