//! The function's logging configuration: Lambda's `LoggingConfig` (format, application and
//! system log levels, log group) and where the logs go.
//!
//! Classes of the facts used here: (a) documented by AWS, (b) shown by AWS's own code, (c)
//! reported by users or vendors, (d) unknown or assumed.

use std::fmt;

/// `LoggingConfig.LogFormat` (a: `Text` | `JSON`; Lambda's default is `Text`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LogFormat {
    /// Plain text: system lines `START`, `END`, `REPORT`...; no level filtering.
    #[default]
    Text,
    /// JSON: system lines are JSON objects (`{"time","type","record"}`) and both levels filter.
    Json,
}

impl LogFormat {
    /// The API's spelling: `Text` or `JSON` (also the value of `AWS_LAMBDA_LOG_FORMAT`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "Text",
            Self::Json => "JSON",
        }
    }

    /// Parses `Text` or `JSON`, in any case.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Text, Self::Json]
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// Whether this is the JSON format.
    pub fn is_json(self) -> bool {
        self == Self::Json
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A log level, from the most detail to the least (a: `TRACE` … `FATAL`; a line's `"level"`
/// is read in any case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// `TRACE` (most detail).
    Trace,
    /// `DEBUG`.
    Debug,
    /// `INFO`: Lambda's default for both levels, and the level of a line without a valid one.
    Info,
    /// `WARN`.
    Warn,
    /// `ERROR`.
    Error,
    /// `FATAL` (least detail).
    Fatal,
}

impl LogLevel {
    /// Every level, most detail first.
    pub const ALL: [Self; 6] = [
        Self::Trace,
        Self::Debug,
        Self::Info,
        Self::Warn,
        Self::Error,
        Self::Fatal,
    ];

    /// The API's spelling, upper case.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trace => "TRACE",
            Self::Debug => "DEBUG",
            Self::Info => "INFO",
            Self::Warn => "WARN",
            Self::Error => "ERROR",
            Self::Fatal => "FATAL",
        }
    }

    /// Parses a level name in any case (`warn`, `Warn`, `WARN`); `WARNING` and the like are not
    /// levels (a: "If the level value field is invalid or missing, Lambda will assign the log
    /// output the level INFO").
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str().eq_ignore_ascii_case(s))
    }

    /// Whether `SystemLogLevel` may take this level (a: the API's `SystemLogLevel` is one of
    /// `DEBUG`, `INFO`, `WARN`).
    pub fn is_system_level(self) -> bool {
        matches!(self, Self::Debug | Self::Info | Self::Warn)
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the function's logs go (a: CloudWatch Logs by default; Amazon S3 or Firehose can be
/// chosen instead). CloudWatch Logs extracts Embedded Metric Format metrics from the events it
/// receives; logs delivered to S3 or Firehose are not, so no EMF metric comes from them (a).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LogDestination {
    /// CloudWatch Logs: EMF documents become metrics.
    #[default]
    CloudWatchLogs,
    /// Amazon S3: no metric is extracted.
    S3,
    /// Amazon Data Firehose: no metric is extracted.
    Firehose,
}

impl LogDestination {
    /// The command line's spelling: `cloudwatch-logs`, `s3`, `firehose`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CloudWatchLogs => "cloudwatch-logs",
            Self::S3 => "s3",
            Self::Firehose => "firehose",
        }
    }

    /// Parses the command line's spelling (any case).
    pub fn parse(s: &str) -> Option<Self> {
        [Self::CloudWatchLogs, Self::S3, Self::Firehose]
            .into_iter()
            .find(|d| d.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// Whether EMF documents in these logs become CloudWatch metrics (only in CloudWatch Logs).
    pub fn extracts_emf(self) -> bool {
        self == Self::CloudWatchLogs
    }
}

impl fmt::Display for LogDestination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A logging configuration Lambda's API would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoggingConfigError {
    /// A level with the Text format. The API answers `InvalidParameterValueException` with this
    /// message (c: as CloudFormation and the CDK report it).
    #[error(
        "InvalidParameterValueException: LogLevel is not supported when LogFormat is set to \"Text\". Remove LogLevel from your request or change the LogFormat to \"JSON\" and try again (the sandbox: --log-format JSON, or no --application-log-level/--log-level/--system-log-level)"
    )]
    LevelWithText,
    /// `SystemLogLevel` outside `DEBUG`, `INFO`, `WARN` (a: the API's enumeration).
    #[error(
        "SystemLogLevel {0} is not one of DEBUG, INFO, WARN (the levels Lambda's API accepts for system logs)"
    )]
    SystemLevel(LogLevel),
    /// A log group name CloudWatch Logs would refuse (a: 1 to 512 characters of
    /// `[.-_/#A-Za-z0-9]`).
    #[error(
        "log group {0:?} is not a CloudWatch Logs group name: 1 to 512 characters of a-z, A-Z, 0-9, '.', '-', '_', '/', '#'"
    )]
    LogGroupName(String),
}

/// `LoggingConfig` of a function, and where its logs go. `LoggingConfig::default()` is
/// Lambda's default: Text, no levels, the group `/aws/lambda/<function>`, CloudWatch Logs, and
/// extensions' lines filtered like the function's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggingConfig {
    /// `LogFormat`.
    pub format: LogFormat,
    /// `ApplicationLogLevel` (JSON only; INFO when not given).
    pub application_level: Option<LogLevel>,
    /// `SystemLogLevel` (JSON only; DEBUG, INFO or WARN; INFO when not given).
    pub system_level: Option<LogLevel>,
    /// `LogGroup`; `None` is Lambda's default, `/aws/lambda/<function name>`.
    pub log_group: Option<String>,
    /// Where the logs go.
    pub destination: LogDestination,
    /// Apply the application level to the extensions' stdout and stderr lines too. The Lambda
    /// guide speaks only of the function's logs (d); level-less lines of any process have been
    /// reported to vanish at WARN (c: aws-lambda-python-runtime-interface-client issue 202), so
    /// the sandbox filters them by default. `false` keeps every extension line.
    pub filter_extensions: bool,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            application_level: None,
            system_level: None,
            log_group: None,
            destination: LogDestination::CloudWatchLogs,
            filter_extensions: true,
        }
    }
}

impl LoggingConfig {
    /// Checks what Lambda's API would refuse: a level with the Text format (c: the API's
    /// message), a system level other than DEBUG, INFO, WARN (a), a group name CloudWatch Logs
    /// would refuse (a).
    pub fn validate(&self) -> Result<(), LoggingConfigError> {
        if self.format == LogFormat::Text && (self.application_level.is_some() || self.system_level.is_some())
        {
            return Err(LoggingConfigError::LevelWithText);
        }
        if let Some(l) = self.system_level.filter(|l| !l.is_system_level()) {
            return Err(LoggingConfigError::SystemLevel(l));
        }
        if let Some(g) = &self.log_group {
            let valid = (1..=512).contains(&g.len())
                && g.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/' | '#'));
            if !valid {
                return Err(LoggingConfigError::LogGroupName(g.clone()));
            }
        }
        Ok(())
    }

    /// The log group: `LogGroup`, or `/aws/lambda/<function>` (a).
    pub fn group_name(&self, function_name: &str) -> String {
        self.log_group
            .clone()
            .unwrap_or_else(|| format!("/aws/lambda/{function_name}"))
    }

    /// The level below which function (and, when filtered, extension) lines are dropped: with
    /// JSON the application level, INFO by default (a); with Text none (a: filtering needs the
    /// JSON format).
    pub fn application_threshold(&self) -> Option<LogLevel> {
        self.format
            .is_json()
            .then(|| self.application_level.unwrap_or(LogLevel::Info))
    }

    /// The level below which system records are dropped: with JSON the system level, INFO by
    /// default (a); with Text, INFO: the plain-text lines a function gets by default (d: the
    /// Text format's set is read as the JSON format's at INFO, with `END` beside `REPORT`).
    pub fn system_threshold(&self) -> LogLevel {
        match self.format {
            LogFormat::Json => self.system_level.unwrap_or(LogLevel::Info),
            LogFormat::Text => LogLevel::Info,
        }
    }

    /// The variables Lambda sets for it: `AWS_LAMBDA_LOG_FORMAT` (`Text` or `JSON`, c: set in
    /// both formats, as observed on Lambda) and, with JSON only, `AWS_LAMBDA_LOG_LEVEL`, the
    /// application level (a). `AWS_LAMBDA_LOG_GROUP_NAME` is the configuration's own.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![(
            "AWS_LAMBDA_LOG_FORMAT".to_owned(),
            self.format.as_str().to_owned(),
        )];
        if let Some(level) = self.application_threshold() {
            env.push(("AWS_LAMBDA_LOG_LEVEL".to_owned(), level.as_str().to_owned()));
        }
        env
    }

    /// One line that says what reaches the log group: the format, the levels, the group, the
    /// destination and whether extension lines are filtered.
    pub fn describe(&self, function_name: &str) -> String {
        let group = self.group_name(function_name);
        let emf = if self.destination.extracts_emf() {
            "EMF extracted"
        } else {
            "no EMF extracted: use a networked metrics sink"
        };
        match self.application_threshold() {
            None => format!(
                "logging: format=Text (no level filtering) log_group={group} destination={} ({emf}) extension_lines=kept (Text filters nothing)",
                self.destination
            ),
            Some(app) => format!(
                "logging: format=JSON application_level={app} system_level={} log_group={group} destination={} ({emf}) extension_lines={}",
                self.system_threshold(),
                self.destination,
                if self.filter_extensions {
                    format!("filtered at {app} like the function's (--no-extension-log-filter keeps them)")
                } else {
                    "kept (not filtered)".to_owned()
                }
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_in_any_case() {
        assert_eq!(LogLevel::parse("warn"), Some(LogLevel::Warn));
        assert_eq!(LogLevel::parse("Fatal"), Some(LogLevel::Fatal));
        assert_eq!(LogLevel::parse("WARNING"), None);
        assert_eq!(LogFormat::parse("json"), Some(LogFormat::Json));
        assert_eq!(LogFormat::parse("TEXT"), Some(LogFormat::Text));
        assert_eq!(LogFormat::parse("yaml"), None);
        assert_eq!(LogDestination::parse("S3"), Some(LogDestination::S3));
        assert_eq!(
            LogDestination::parse("cloudwatch-logs"),
            Some(LogDestination::CloudWatchLogs)
        );
        assert!(LogLevel::Trace < LogLevel::Info && LogLevel::Error < LogLevel::Fatal);
    }

    #[test]
    fn defaults_are_lambdas() {
        let c = LoggingConfig::default();
        assert_eq!(c.format, LogFormat::Text);
        assert_eq!(c.group_name("f"), "/aws/lambda/f");
        assert_eq!(c.destination, LogDestination::CloudWatchLogs);
        assert!(c.filter_extensions);
        assert_eq!(c.application_threshold(), None);
        assert_eq!(
            c.env(),
            vec![("AWS_LAMBDA_LOG_FORMAT".to_owned(), "Text".to_owned())]
        );
        let json = LoggingConfig {
            format: LogFormat::Json,
            ..LoggingConfig::default()
        };
        assert_eq!(json.application_threshold(), Some(LogLevel::Info));
        assert_eq!(json.system_threshold(), LogLevel::Info);
        assert_eq!(
            json.env()[1],
            ("AWS_LAMBDA_LOG_LEVEL".to_owned(), "INFO".to_owned())
        );
    }

    #[test]
    fn validate_refuses_what_the_api_refuses() {
        let text_with_level = LoggingConfig {
            application_level: Some(LogLevel::Warn),
            ..LoggingConfig::default()
        };
        assert_eq!(text_with_level.validate(), Err(LoggingConfigError::LevelWithText));
        assert!(
            LoggingConfigError::LevelWithText
                .to_string()
                .contains("LogLevel is not supported when LogFormat is set to \"Text\"")
        );
        let bad_system = LoggingConfig {
            format: LogFormat::Json,
            system_level: Some(LogLevel::Error),
            ..LoggingConfig::default()
        };
        assert_eq!(
            bad_system.validate(),
            Err(LoggingConfigError::SystemLevel(LogLevel::Error))
        );
        for bad in ["", "has space", "a:b"] {
            let c = LoggingConfig {
                log_group: Some(bad.to_owned()),
                ..LoggingConfig::default()
            };
            assert!(c.validate().is_err(), "{bad:?}");
        }
        let good = LoggingConfig {
            format: LogFormat::Json,
            application_level: Some(LogLevel::Trace),
            system_level: Some(LogLevel::Warn),
            log_group: Some("/shared/app_logs-1#x".to_owned()),
            destination: LogDestination::Firehose,
            filter_extensions: false,
        };
        assert_eq!(good.validate(), Ok(()));
        assert!(good.describe("f").contains("extension_lines=kept"));
        assert!(good.describe("f").contains("no EMF extracted"));
    }
}
