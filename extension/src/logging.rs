//! The extension's own logs: `tracing` to stderr (Lambda sends it to the function's log group),
//! plain text or JSON as `AWS_LAMBDA_LOG_FORMAT` says. Stdout is reserved for EMF.
//!
//! One line at start-up, the first, names the version ([`version_line`]) and says what
//! lambda-lens does about Lambda's logging controls ([`logging_controls_message`]). It is
//! written around `tracing`, at the level Lambda filters at: under the JSON format Lambda drops
//! lines below the application log level (class a for function logs, assumed for an
//! extension's, class d), and `tracing` has no FATAL for the highest threshold.

use chrono::Utc;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::warn::{above_tracing, write_line};
use crate::config::{Config, LambdaLevel, SinkKind};

/// The workspace's version, which every product of it carries (`[workspace.package]` in the
/// workspace's `Cargo.toml`; `docs/releases.md` says what a version promises).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `lambda-lens 1.0.0 (x86_64; sinks: emf)`: what `lambda-lens --version` prints and the first
/// log line begins with. The architecture is Lambda's name for it and the sinks built in say
/// which variant of the layer this is, so one line from a log group names the build exactly.
pub fn version_line() -> String {
    let arch = match std::env::consts::ARCH {
        "aarch64" => "arm64",
        other => other,
    };
    let sinks: Vec<&str> = SinkKind::ALL
        .iter()
        .filter(|kind| kind.built_in())
        .map(|kind| kind.name())
        .collect();
    format!("lambda-lens {VERSION} ({arch}; sinks: {})", sinks.join(", "))
}

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

/// Logs [`logging_controls_message`] at INFO, where Lambda's filter keeps it: through `tracing`
/// (in the format of the other lines, with no code of its own at start-up), or as a JSON line at
/// the application level under the JSON format at WARN or above.
pub fn log_logging_controls(config: &Config) {
    let Some(message) = logging_controls_message(config) else {
        return;
    };
    match above_tracing(config, LambdaLevel::Info, &message, Utc::now()) {
        Some(line) => write_line(&line),
        None => tracing::info!("{message}"),
    }
}

/// The start-up message: the [`version_line`], then Lambda's logging controls: the format, the
/// level Lambda filters at and the level every EMF line carries, and what to do where logs do
/// not reach CloudWatch Logs. `None` when lambda-lens's own log is off.
pub(crate) fn logging_controls_message(config: &Config) -> Option<String> {
    let log = &config.log;
    if log.filter.trim().eq_ignore_ascii_case("off") {
        return None;
    }
    let level = log.application_level.name();
    let mut message = format!("{}. Lambda logging controls: ", version_line());
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
    Some(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Config {
        Config::from_pairs(vars).0
    }

    /// The start-up message, and the line written around `tracing` for it (if any).
    fn start_up(vars: &[(&str, &str)]) -> (String, Option<String>) {
        let config = config(vars);
        let message = logging_controls_message(&config).unwrap();
        let line = above_tracing(&config, LambdaLevel::Info, &message, chrono::DateTime::UNIX_EPOCH);
        (message, line)
    }

    #[test]
    fn under_json_above_info_the_line_is_json_at_the_application_level() {
        for (given, level) in [("warn", "WARN"), ("ERROR", "ERROR"), ("Fatal", "FATAL")] {
            let (message, line) =
                start_up(&[("AWS_LAMBDA_LOG_FORMAT", "json"), ("AWS_LAMBDA_LOG_LEVEL", given)]);
            let line = line.unwrap();
            let doc: serde_json::Value = serde_json::from_str(&line).unwrap();
            assert_eq!(doc["level"], level, "{line}");
            assert_eq!(doc["message"], message.as_str());
            assert!(message.contains(&format!("\"level\":\"{level}\"")), "{message}");
            assert!(message.contains("LAMBDA_LENS_SINK=put-metric-data"), "{message}");
            assert!(message.contains("S3 or Firehose"), "{message}");
        }
    }

    #[test]
    fn where_info_passes_tracing_writes_the_line() {
        for vars in [
            &[][..],
            &[("AWS_LAMBDA_LOG_LEVEL", "ERROR")][..],
            &[
                ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
                ("AWS_LAMBDA_LOG_LEVEL", "trace"),
            ][..],
            &[
                ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
                ("AWS_LAMBDA_LOG_LEVEL", "INFO"),
            ][..],
        ] {
            let (message, line) = start_up(vars);
            assert_eq!(line, None, "{vars:?}");
            assert!(message.contains("LAMBDA_LENS_SINK=put-metric-data"), "{message}");
        }
    }

    #[test]
    fn under_json_without_a_level_the_default_is_named() {
        let (message, _) = start_up(&[("AWS_LAMBDA_LOG_FORMAT", "JSON")]);
        assert!(message.contains("application log level INFO"), "{message}");
        assert!(message.contains("not set"), "{message}");
    }

    #[test]
    fn under_text_the_message_says_no_level_is_added() {
        let (message, _) = start_up(&[("AWS_LAMBDA_LOG_LEVEL", "ERROR")]);
        assert!(message.contains("log format Text"), "{message}");
    }

    #[test]
    fn the_line_begins_with_the_version_the_architecture_and_the_sinks() {
        let line = version_line();
        let arch = if cfg!(target_arch = "aarch64") {
            "arm64"
        } else {
            "x86_64"
        };
        assert!(
            line.starts_with(&format!(
                "lambda-lens {} ({arch}; sinks: emf",
                env!("CARGO_PKG_VERSION")
            )),
            "{line}"
        );
        assert_eq!(
            line.contains("put-metric-data"),
            cfg!(feature = "put-metric-data"),
            "{line}"
        );
        let (message, _) = start_up(&[]);
        assert!(
            message.starts_with(&format!("{line}. Lambda logging controls: ")),
            "{message}"
        );
    }

    #[test]
    fn no_line_when_the_extensions_log_is_off() {
        assert_eq!(
            logging_controls_message(&config(&[("LAMBDA_LENS_LOG_LEVEL", "off")])),
            None
        );
    }
}
