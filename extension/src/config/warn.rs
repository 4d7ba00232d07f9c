//! Warnings about the configuration, written where Lambda's logging controls keep them. Under
//! the JSON log format Lambda drops lines below the application log level (class a for function
//! logs, assumed for an extension's, class d), and `tracing`'s WARN is below ERROR and FATAL.

use std::io::Write;

use chrono::{DateTime, SecondsFormat, Utc};

use super::{Config, LambdaLevel};

/// Logs a warning about the configuration (a refused value, a costly choice) where Lambda's
/// level filter keeps it: through `tracing` at WARN, or, under the JSON format at an application
/// level above WARN (ERROR, FATAL), as a JSON line at that level ([`above_tracing`]). A setting
/// that silently does something else than asked is what these warnings exist to prevent, so
/// they must not vanish in exactly the strict setups.
pub fn log_config_warning(config: &Config, message: &str) {
    match above_tracing(config, LambdaLevel::Warn, message, Utc::now()) {
        Some(line) => write_line(&line),
        None => tracing::warn!("{message}"),
    }
}

/// A line written around `tracing`, to stderr as `tracing` writes.
pub(crate) fn write_line(line: &str) {
    let mut err = std::io::stderr().lock();
    // A log nobody takes costs the line, nothing else.
    let _ = writeln!(err, "{line}");
}

/// The line for a message `tracing` would log at `level`, when Lambda's filter would drop that
/// level: under the JSON format at an application level above it, a JSON line at the application
/// level itself (`tracing` has no FATAL, and its filter follows that level). `None` (let
/// `tracing` write it) otherwise, and when lambda-lens's own log is off.
pub(crate) fn above_tracing(
    config: &Config,
    level: LambdaLevel,
    message: &str,
    now: DateTime<Utc>,
) -> Option<String> {
    let log = &config.log;
    if !log.json || log.application_level <= level || log.filter.trim().eq_ignore_ascii_case("off") {
        return None;
    }
    let line = serde_json::json!({
        "timestamp": now.to_rfc3339_opts(SecondsFormat::Micros, true),
        "level": log.application_level.name(),
        "message": message,
    });
    Some(line.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Config {
        Config::from_pairs(vars).0
    }

    #[test]
    fn a_configuration_warning_passes_lambdas_level_filter() {
        let warning = |vars: &[(&str, &str)]| {
            above_tracing(
                &config(vars),
                LambdaLevel::Warn,
                "LAMBDA_LENS_METRICS selects nothing",
                DateTime::UNIX_EPOCH,
            )
        };
        // Where WARN passes, tracing writes it at WARN.
        for vars in [
            &[][..],
            &[("AWS_LAMBDA_LOG_FORMAT", "JSON")][..],
            &[
                ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
                ("AWS_LAMBDA_LOG_LEVEL", "WARN"),
            ][..],
            &[
                ("AWS_LAMBDA_LOG_FORMAT", "Text"),
                ("AWS_LAMBDA_LOG_LEVEL", "ERROR"),
            ][..],
        ] {
            assert_eq!(warning(vars), None, "{vars:?}");
        }
        // Above WARN, a JSON line at the application level.
        for level in ["ERROR", "FATAL"] {
            let line =
                warning(&[("AWS_LAMBDA_LOG_FORMAT", "json"), ("AWS_LAMBDA_LOG_LEVEL", level)]).unwrap();
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            assert_eq!(v["level"], level, "{line}");
            assert_eq!(v["message"], "LAMBDA_LENS_METRICS selects nothing");
        }
        let off = warning(&[
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
            ("AWS_LAMBDA_LOG_LEVEL", "ERROR"),
            ("LAMBDA_LENS_LOG_LEVEL", "off"),
        ]);
        assert_eq!(off, None);
    }
}
