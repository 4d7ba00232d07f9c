//! The invocation payload: which behaviours to run, parsed and validated by hand so that every
//! rejection names the field, the accepted values and what was received.

use serde_json::{Map, Value};

use crate::error::SampleError;
use crate::order::Order;

/// Fifteen minutes, the longest a Lambda invocation can run.
const MAX_DURATION_MS: u64 = 900_000;
/// 10,240 MB, the largest Lambda memory size.
const MAX_ALLOCATE_MB: u64 = 10_240;
/// Lines per invocation; far more than any test needs, small enough not to flood CloudWatch.
const MAX_LOG_LINES: u64 = 1_000_000;
/// 32 MiB: above Lambda's 6 MB synchronous limit on purpose, so the limit itself can be exercised.
const MAX_RESPONSE_BYTES: u64 = 32 * 1024 * 1024;
/// 10,240 MiB, the largest ephemeral storage Lambda offers.
const MAX_TMP_BYTES: u64 = 10_240 * 1024 * 1024;
/// Above Lambda's 1,024 descriptor limit on purpose, so EMFILE can be exercised.
const MAX_OPEN_FILES: u64 = 65_536;
/// Above Lambda's 1,024 process/thread limit on purpose, so the limit can be exercised.
const MAX_THREADS: u64 = 4_096;
/// 1 GiB echoed.
const MAX_NETWORK_BYTES: u64 = 1024 * 1024 * 1024;

/// Every field the payload accepts, for the "unknown field" message.
const ACCEPTED_FIELDS: &str = "order, wait_ms, sleep_ms, allocate_mb, cpu_ms, fail, panic, exit, timeout, log_lines, \
     response_bytes, write_tmp_bytes, open_files, threads, network_bytes, network_peer, leak";

/// What one invocation should do. `None`/`false` means "don't".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Payload {
    /// The order to summarise; the built-in sample order when absent.
    pub order: Option<Order>,
    /// Sleep this long before any other work: a sampler that starts with the invocation (an
    /// extension's, at INVOKE) then sees all of the work.
    pub wait_ms: Option<u64>,
    pub sleep_ms: Option<u64>,
    pub allocate_mb: Option<u64>,
    pub cpu_ms: Option<u64>,
    /// Return `SampleFunction.RequestedFailure` with this message.
    pub fail: Option<String>,
    /// Panic with this message.
    pub panic: Option<String>,
    /// Exit the process with this code.
    pub exit: Option<i32>,
    /// Never answer: wait until Lambda kills the sandbox.
    pub timeout: bool,
    pub log_lines: Option<u64>,
    pub response_bytes: Option<u64>,
    pub write_tmp_bytes: Option<u64>,
    pub open_files: Option<u64>,
    pub threads: Option<u64>,
    pub network_bytes: Option<u64>,
    /// Echo `network_bytes` through the echo server at this `ip:port` instead of over loopback.
    pub network_peer: Option<std::net::SocketAddr>,
    /// Keep `open_files` and `threads` after the invocation (a leak, as a buggy function has).
    pub leak: bool,
}

impl Payload {
    /// Parses the raw event. `null` is the empty payload; anything but an object is rejected.
    /// A field set to `null` counts as absent.
    pub(crate) fn parse(event: &Value) -> Result<Self, SampleError> {
        match event {
            Value::Null => Ok(Self::default()),
            Value::Object(fields) => Self::from_fields(fields),
            other => Err(invalid(format!(
                "the payload must be a JSON object (or null), got {}",
                kind(other)
            ))),
        }
    }

    fn from_fields(fields: &Map<String, Value>) -> Result<Self, SampleError> {
        let mut payload = Self::default();
        for (name, value) in fields.iter().filter(|(_, value)| !value.is_null()) {
            let name = name.as_str();
            match name {
                "order" => {
                    payload.order = Some(
                        Order::deserialize_value(value)
                            .map_err(|error| invalid(format!("`order` is not a valid order: {error}")))?,
                    );
                }
                "wait_ms" => payload.wait_ms = Some(bounded(name, value, MAX_DURATION_MS)?),
                "sleep_ms" => payload.sleep_ms = Some(bounded(name, value, MAX_DURATION_MS)?),
                "allocate_mb" => payload.allocate_mb = Some(bounded(name, value, MAX_ALLOCATE_MB)?),
                "cpu_ms" => payload.cpu_ms = Some(bounded(name, value, MAX_DURATION_MS)?),
                "fail" => payload.fail = flag_or_message(name, value, "failure requested by the payload")?,
                "panic" => payload.panic = flag_or_message(name, value, "panic requested by the payload")?,
                "exit" => payload.exit = Some(exit_code(value)?),
                "timeout" => payload.timeout = boolean(name, value)?,
                "log_lines" => payload.log_lines = Some(bounded(name, value, MAX_LOG_LINES)?),
                "response_bytes" => payload.response_bytes = Some(bounded(name, value, MAX_RESPONSE_BYTES)?),
                "write_tmp_bytes" => payload.write_tmp_bytes = Some(bounded(name, value, MAX_TMP_BYTES)?),
                "open_files" => payload.open_files = Some(bounded(name, value, MAX_OPEN_FILES)?),
                "threads" => payload.threads = Some(bounded(name, value, MAX_THREADS)?),
                "network_bytes" => payload.network_bytes = Some(bounded(name, value, MAX_NETWORK_BYTES)?),
                "network_peer" => {
                    payload.network_peer =
                        Some(value.as_str().and_then(|text| text.parse().ok()).ok_or_else(|| {
                            invalid(format!("`network_peer` must be \"ip:port\", got {value}"))
                        })?);
                }
                "leak" => payload.leak = boolean(name, value)?,
                unknown => {
                    return Err(invalid(format!(
                        "unknown field `{unknown}`; accepted fields are: {ACCEPTED_FIELDS}"
                    )));
                }
            }
        }
        Ok(payload)
    }
}

fn invalid(message: String) -> SampleError {
    SampleError::InvalidPayload(message)
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A whole number in `0..=max`.
fn bounded(name: &str, value: &Value, max: u64) -> Result<u64, SampleError> {
    match value.as_u64() {
        Some(number) if number <= max => Ok(number),
        _ => Err(invalid(format!(
            "`{name}` must be a whole number from 0 to {max}, got {value}"
        ))),
    }
}

fn boolean(name: &str, value: &Value) -> Result<bool, SampleError> {
    value
        .as_bool()
        .ok_or_else(|| invalid(format!("`{name}` must be true or false, got {value}")))
}

/// `true` (use the default message), `false` (off) or a non-empty string (the message).
fn flag_or_message(name: &str, value: &Value, default: &str) -> Result<Option<String>, SampleError> {
    match value {
        Value::Bool(true) => Ok(Some(default.to_owned())),
        Value::Bool(false) => Ok(None),
        Value::String(message) if !message.is_empty() => Ok(Some(message.clone())),
        _ => Err(invalid(format!(
            "`{name}` must be true, false or a non-empty message string, got {value}"
        ))),
    }
}

fn exit_code(value: &Value) -> Result<i32, SampleError> {
    value
        .as_u64()
        .and_then(|code| u8::try_from(code).ok())
        .map(i32::from)
        .ok_or_else(|| invalid(format!("`exit` must be an exit code from 0 to 255, got {value}")))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn message(result: Result<Payload, SampleError>) -> String {
        match result {
            Err(SampleError::InvalidPayload(message)) => message,
            other => panic!("expected InvalidPayload, got {other:?}"),
        }
    }

    #[test]
    fn empty_object_and_null_mean_default_work_only() {
        assert_eq!(Payload::parse(&json!({})).unwrap(), Payload::default());
        assert_eq!(Payload::parse(&Value::Null).unwrap(), Payload::default());
    }

    #[test]
    fn every_control_field_is_read() {
        let payload = Payload::parse(&json!({
            "wait_ms": 5, "sleep_ms": 10, "allocate_mb": 64, "cpu_ms": 20, "fail": "custom", "panic": true,
            "exit": 3, "timeout": true, "log_lines": 5, "response_bytes": 1000,
            "write_tmp_bytes": 4096, "open_files": 7, "threads": 2, "network_bytes": 100,
            "network_peer": "169.254.64.1:7", "order": {"order_id": "o-1", "customer": "Ada", "currency": "EUR",
                      "items": [{"sku": "A", "quantity": 2, "unit_price_cents": 150}]}
        }))
        .unwrap();
        assert_eq!(payload.wait_ms, Some(5));
        assert_eq!(payload.sleep_ms, Some(10));
        assert_eq!(payload.allocate_mb, Some(64));
        assert_eq!(payload.cpu_ms, Some(20));
        assert_eq!(payload.fail.as_deref(), Some("custom"));
        assert_eq!(payload.panic.as_deref(), Some("panic requested by the payload"));
        assert_eq!(payload.exit, Some(3));
        assert!(payload.timeout);
        assert_eq!(payload.log_lines, Some(5));
        assert_eq!(payload.response_bytes, Some(1000));
        assert_eq!(payload.write_tmp_bytes, Some(4096));
        assert_eq!(payload.open_files, Some(7));
        assert_eq!(payload.threads, Some(2));
        assert_eq!(payload.network_bytes, Some(100));
        assert_eq!(payload.network_peer, Some("169.254.64.1:7".parse().unwrap()));
        assert_eq!(payload.order.unwrap().customer, "Ada");
    }

    #[test]
    fn null_and_false_fields_are_off() {
        let payload =
            Payload::parse(&json!({"sleep_ms": null, "fail": false, "panic": null, "timeout": false}))
                .unwrap();
        assert_eq!(payload, Payload::default());
    }

    #[test]
    fn bad_numbers_name_the_field_and_the_range() {
        for bad in [json!(-1), json!(1.5), json!("10"), json!(900_001)] {
            let text = message(Payload::parse(&json!({ "sleep_ms": bad })));
            assert!(
                text.contains("`sleep_ms` must be a whole number from 0 to 900000"),
                "{text}"
            );
        }
        let text = message(Payload::parse(&json!({"allocate_mb": 20_000})));
        assert!(text.contains("`allocate_mb`") && text.contains("20000"), "{text}");
    }

    #[test]
    fn exit_code_must_fit_a_byte() {
        assert_eq!(Payload::parse(&json!({"exit": 0})).unwrap().exit, Some(0));
        assert_eq!(Payload::parse(&json!({"exit": 255})).unwrap().exit, Some(255));
        for bad in [json!(256), json!(-1), json!(true)] {
            let text = message(Payload::parse(&json!({ "exit": bad })));
            assert!(text.contains("from 0 to 255"), "{text}");
        }
    }

    #[test]
    fn flags_reject_empty_messages_and_other_types() {
        for bad in [json!(""), json!(1), json!([])] {
            let text = message(Payload::parse(&json!({ "fail": bad })));
            assert!(
                text.contains("`fail` must be true, false or a non-empty message"),
                "{text}"
            );
        }
        let text = message(Payload::parse(&json!({"timeout": "yes"})));
        assert!(text.contains("`timeout` must be true or false"), "{text}");
    }

    #[test]
    fn unknown_fields_and_non_objects_are_rejected() {
        let text = message(Payload::parse(&json!({"sleepms": 10})));
        assert!(
            text.contains("unknown field `sleepms`") && text.contains("sleep_ms"),
            "{text}"
        );
        let text = message(Payload::parse(&json!([1, 2])));
        assert!(text.contains("must be a JSON object"), "{text}");
        let text = message(Payload::parse(&json!({"network_peer": "example.com"})));
        assert!(text.contains("`network_peer` must be \"ip:port\""), "{text}");
    }

    #[test]
    fn a_malformed_order_is_rejected() {
        let text = message(Payload::parse(&json!({"order": {"order_id": "x"}})));
        assert!(text.starts_with("`order` is not a valid order"), "{text}");
    }
}
