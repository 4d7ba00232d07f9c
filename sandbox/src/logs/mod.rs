//! The function's log group as Lambda would fill it: the processes' stdout and stderr lines
//! after the advanced logging controls' level filter, cut into log events of at most 64 KiB,
//! and the platform's own lines (`START`, `REPORT`, … in Text; JSON objects in JSON) after the
//! system level filter.
//!
//! It is worked out after the fact from what the sandbox captured (the output lines and the
//! telemetry records), so nothing here runs while the function or its extensions do. What the
//! Telemetry API delivers does not change with the logging configuration: the Lambda guide says
//! the system log level does not affect the Telemetry API (a); whether the application level
//! filters the Telemetry API's `function` and `extension` records is not documented (d), and the
//! sandbox delivers them all.
//!
//! Classes of the facts: (a) documented by AWS, (b) shown by AWS's own code, (c) reported by
//! users or vendors, (d) unknown or assumed.

mod settings;
mod system;

use chrono::{DateTime, Utc};
use serde_json::Value;

pub use settings::{LogDestination, LogFormat, LogLevel, LoggingConfig, LoggingConfigError};

use crate::environment::output::{OutputLine, Source};
use crate::telemetry::records::TelemetryRecord;

/// The most bytes of one log event: a longer line is cut into several events, each on a UTF-8
/// character boundary. Reported at 64 KiB (c); AWS's emulator stops relaying a line over
/// 64 KiB (b). Reported elsewhere at 256 KiB − 26 bytes (c): the sandbox takes the smaller.
pub const MAX_EVENT_BYTES: usize = 65_536;

/// One log event of the group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    /// Milliseconds since the Unix epoch: when the line was read, or, with the JSON format, the
    /// line's own valid RFC 3339 `"timestamp"` (a).
    pub timestamp_ms: i64,
    /// The event's text.
    pub message: String,
}

/// The log group: what would reach the function's log destination, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogGroup {
    /// The group's name (`/aws/lambda/<function>` by default).
    pub name: String,
    /// Where the events go. With S3 or Firehose the events are the same, but no EMF metric is
    /// extracted from them (a).
    pub destination: LogDestination,
    /// The events, in the order they reached the group.
    pub events: Vec<LogEvent>,
}

impl LogGroup {
    /// The events' messages, in order.
    pub fn messages(&self) -> impl Iterator<Item = &str> {
        self.events.iter().map(|e| e.message.as_str())
    }

    /// Whether CloudWatch would extract EMF metrics from these events (only in CloudWatch Logs).
    pub fn extracts_emf(&self) -> bool {
        self.destination.extracts_emf()
    }

    /// The events as JSON lines, `{"timestamp":ms,"message":"..."}` (CloudWatch Logs'
    /// `InputLogEvent` names).
    pub fn to_json_lines(&self) -> String {
        self.events
            .iter()
            .map(|e| {
                format!(
                    "{{\"timestamp\":{},\"message\":{}}}\n",
                    e.timestamp_ms,
                    Value::String(e.message.clone())
                )
            })
            .collect()
    }

    /// The group `config` gives the captured `lines` and telemetry `records` of `function_name`.
    pub(crate) fn build(
        config: &LoggingConfig,
        function_name: &str,
        lines: &[OutputLine],
        records: &[TelemetryRecord],
    ) -> Self {
        enum Item<'a> {
            System(&'a TelemetryRecord),
            Line(&'a OutputLine),
        }
        let threshold = config.system_threshold();
        let mut items: Vec<(DateTime<Utc>, Item<'_>)> = records
            .iter()
            .filter(|r| system::level(r).is_some_and(|l| l >= threshold))
            .map(|r| (r.time, Item::System(r)))
            .chain(lines.iter().map(|l| (l.time, Item::Line(l))))
            .collect();
        // Stable: a record and a line read in the same instant keep the record first.
        items.sort_by_key(|(t, _)| *t);
        let mut events = Vec::new();
        for (time, item) in items {
            let (timestamp_ms, messages) = match item {
                Item::System(r) if config.format.is_json() => (time.timestamp_millis(), vec![json_line(r)]),
                Item::System(r) => (time.timestamp_millis(), system::text_lines(r)),
                Item::Line(l) => match application_line(config, l) {
                    Some(kept) => kept,
                    None => continue,
                },
            };
            for message in messages {
                events.extend(cut(&message, MAX_EVENT_BYTES).into_iter().map(|piece| LogEvent {
                    timestamp_ms,
                    message: piece.to_owned(),
                }));
            }
        }
        Self {
            name: config.group_name(function_name),
            destination: config.destination,
            events,
        }
    }
}

/// A record as one JSON system line, its members in Lambda's order: `time`, `type`, `record`.
fn json_line(r: &TelemetryRecord) -> String {
    format!(
        "{{\"time\":{},\"type\":{},\"record\":{}}}",
        Value::String(crate::telemetry::records::format_time(r.time)),
        Value::String(r.kind.clone()),
        r.record
    )
}

/// A process's line in the group, with its timestamp; `None` when the level filter drops it.
///
/// With the JSON format a line that is a JSON object with a valid `"level"` (TRACE … FATAL, any
/// case) has that level and any other line is INFO; a line below the application level is not
/// sent (a, "Log-level filtering"). The level is read from the whole line, before it is cut
/// (d). An extension's line is filtered the same way unless `filter_extensions` is off (d: the
/// guide speaks only of the function's logs). An empty line is no event: CloudWatch Logs takes
/// no empty message (a: `InputLogEvent.message` has at least one character).
fn application_line(config: &LoggingConfig, line: &OutputLine) -> Option<(i64, Vec<String>)> {
    if line.text.is_empty() {
        return None;
    }
    let object = config
        .format
        .is_json()
        .then(|| serde_json::from_str::<Value>(line.text.trim()).ok())
        .flatten()
        .filter(Value::is_object);
    let filtered = match line.source {
        Source::Function => true,
        Source::Extension(_) => config.filter_extensions,
    };
    if let Some(threshold) = config.application_threshold().filter(|_| filtered) {
        let level = object
            .as_ref()
            .and_then(|o| o.get("level"))
            .and_then(Value::as_str)
            .and_then(LogLevel::parse)
            .unwrap_or(LogLevel::Info);
        if level < threshold {
            return None;
        }
    }
    // "For Lambda to use the timestamp field, you must specify the time in valid RFC 3339" (a).
    // The guide adds that without a valid timestamp Lambda "will assign the log the level INFO
    // and add a timestamp": the sandbox reads a line's level from `"level"` alone, as the
    // guide's rule for levels says, and only adds the timestamp (d).
    let timestamp_ms = object
        .as_ref()
        .and_then(|o| o.get("timestamp"))
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map_or_else(|| line.time.timestamp_millis(), |t| t.timestamp_millis());
    Some((timestamp_ms, vec![line.text.clone()]))
}

/// `text` in pieces of at most `max` bytes (at least one character each), each ending on a
/// UTF-8 character boundary; their concatenation is `text`.
pub(crate) fn cut(text: &str, max: usize) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut end = max.min(rest.len());
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        if end == 0 {
            // `max` is smaller than the first character: that character alone.
            end = rest.chars().next().map_or(rest.len(), char::len_utf8);
        }
        let (piece, tail) = rest.split_at(end);
        pieces.push(piece);
        rest = tail;
    }
    pieces
}

#[cfg(test)]
mod tests;
