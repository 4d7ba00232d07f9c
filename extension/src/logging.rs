//! The extension's own logs: `tracing` to stderr (Lambda sends it to the function's log group),
//! plain text or JSON as `AWS_LAMBDA_LOG_FORMAT` says. Stdout is reserved for EMF.
//!
//! One line at start-up says what lambda-lens does about Lambda's logging controls
//! ([`logging_controls_line`]). It is written around `tracing`, at the level Lambda filters at:
//! under the JSON format Lambda drops lines below the application log level (class a for
//! function logs, assumed for an extension's, class d), and `tracing` has no FATAL for the
//! highest threshold.

use std::io::Write;

use chrono::{DateTime, SecondsFormat, Utc};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{Config, SinkKind};

/// Installs the global subscriber. Returns a warning when the filter text was not understood
/// (the default, INFO, is used then).
pub fn init_logging(config: &Config) -> Option<String> {
    let config = &config.log;
    let (filter, warning) = match config.filter.parse::<Targets>() {
        Ok(filter) => (filter, None),
        Err(err) => (
            Targets::new().with_default(LevelFilter::INFO),
            Some(format!(
                "log filter {:?} is not understood ({err}); expected a level (TRACE, DEBUG, INFO, WARN, ERROR) or target=level list; using INFO",
                config.filter
            )),
        ),
    };
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false);
    let registry = tracing_subscriber::registry().with(filter);
    let installed = if config.json {
        registry.with(layer.json().flatten_event(true)).try_init()
    } else {
        registry.with(layer).try_init()
    };
    if installed.is_err() {
        return Some("a log subscriber was already installed".to_owned());
    }
    warning
}

/// Writes [`logging_controls_line`] to stderr (the extension's log).
pub fn log_logging_controls(config: &Config) {
    if let Some(line) = logging_controls_line(config, Utc::now()) {
        let mut err = std::io::stderr().lock();
        // A log nobody takes costs the line, nothing else.
        let _ = writeln!(err, "{line}");
    }
}

/// The start-up line about Lambda's logging controls: the format, the level Lambda filters at
/// and the level every EMF line carries, and what to do where logs do not reach CloudWatch
/// Logs. Under JSON it is a JSON object at the application level, as the EMF lines are, so it
/// passes the filter too; under Text, the text form of the other log lines. `None` when
/// lambda-lens's own log is off.
pub(crate) fn logging_controls_line(config: &Config, now: DateTime<Utc>) -> Option<String> {
    let log = &config.log;
    if log.filter.trim().eq_ignore_ascii_case("off") {
        return None;
    }
    let level = log.application_level.name();
    let mut message = String::from("Lambda logging controls: ");
    if let Some(emf_level) = log.emf_level() {
        let source = if log.level_from_lambda {
            "AWS_LAMBDA_LOG_LEVEL"
        } else {
            "Lambda's default, AWS_LAMBDA_LOG_LEVEL is not set"
        };
        message.push_str(&format!(
            "log format JSON, application log level {level} ({source}): every EMF line carries \"level\":\"{emf_level}\", so Lambda's level filter keeps it (this line too). "
        ));
    } else {
        message.push_str(
            "log format Text: Lambda filters no line by level, EMF lines are written as they are. ",
        );
    }
    let unseen = if log.json {
        "or Lambda filters extension lines at a level lambda-lens cannot see, "
    } else {
        ""
    };
    message.push_str(&format!(
        "Where the function's logs do not reach CloudWatch Logs (an S3 or Firehose destination), {unseen}no metrics are extracted from EMF: "
    ));
    if config.sink.contains(SinkKind::PutMetricData) {
        message.push_str(&format!(
            "metrics also go by PutMetricData here (LAMBDA_LENS_SINK={}).",
            config.sink
        ));
    } else if SinkKind::PutMetricData.built_in() {
        message.push_str("set LAMBDA_LENS_SINK=put-metric-data.");
    } else {
        message.push_str("use the layer's put-metric-data variant with LAMBDA_LENS_SINK=put-metric-data.");
    }
    if log.json {
        let line = serde_json::json!({
            "timestamp": now.to_rfc3339_opts(SecondsFormat::Micros, true),
            "level": level,
            "message": message,
        });
        Some(line.to_string())
    } else {
        Some(format!(
            "{}  INFO {message}",
            now.to_rfc3339_opts(SecondsFormat::Micros, true)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(vars: &[(&str, &str)]) -> Option<String> {
        let (config, _) = Config::from_pairs(vars);
        logging_controls_line(&config, DateTime::UNIX_EPOCH)
    }

    #[test]
    fn under_json_the_line_is_json_at_the_application_level() {
        for (given, level) in [
            ("warn", "WARN"),
            ("ERROR", "ERROR"),
            ("Fatal", "FATAL"),
            ("trace", "TRACE"),
        ] {
            let text = line(&[("AWS_LAMBDA_LOG_FORMAT", "json"), ("AWS_LAMBDA_LOG_LEVEL", given)]).unwrap();
            let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(doc["level"], level, "{text}");
            let message = doc["message"].as_str().unwrap();
            assert!(message.contains(&format!("\"level\":\"{level}\"")), "{message}");
            assert!(message.contains("LAMBDA_LENS_SINK=put-metric-data"), "{message}");
            assert!(message.contains("S3 or Firehose"), "{message}");
        }
    }

    #[test]
    fn under_json_without_a_level_the_default_is_named() {
        let text = line(&[("AWS_LAMBDA_LOG_FORMAT", "JSON")]).unwrap();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc["level"], "INFO");
        assert!(doc["message"].as_str().unwrap().contains("not set"), "{text}");
    }

    #[test]
    fn under_text_the_line_is_text_and_says_no_level_is_added() {
        let text = line(&[("AWS_LAMBDA_LOG_LEVEL", "ERROR")]).unwrap();
        assert!(text.starts_with("1970-01-01T00:00:00.000000Z  INFO "), "{text}");
        assert!(text.contains("log format Text"), "{text}");
        assert!(text.contains("LAMBDA_LENS_SINK=put-metric-data"), "{text}");
    }

    #[test]
    fn no_line_when_the_extensions_log_is_off() {
        assert_eq!(line(&[("LAMBDA_LENS_LOG_LEVEL", "off")]), None);
    }
}
