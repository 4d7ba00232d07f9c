//! The JSON the function answers with: what it did, plus optional padding to a target size.

use serde::Serialize;

use crate::error::SampleError;

/// The response body. Every field is always present (zero or null when the behaviour did not
/// run), so callers can rely on one shape.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Response {
    pub message: String,
    pub request_id: String,
    pub order_id: String,
    pub order_items: u64,
    pub order_total_cents: u64,
    pub order_checksum: String,
    pub slept_ms: u64,
    pub allocated_mb: u64,
    pub pages_touched: u64,
    pub cpu_ms: u64,
    /// `"thread"` (thread CPU time) or `"wall"`; null when `cpu_ms` was not asked for.
    pub cpu_clock: Option<&'static str>,
    pub lines: u64,
    /// The file `write_tmp_bytes` wrote; null when it was not asked for.
    pub tmp_file: Option<String>,
    pub tmp_bytes: u64,
    pub open_files: u64,
    pub threads: u64,
    pub network_bytes_sent: u64,
    pub network_bytes_received: u64,
    /// `x` repeated so that the serialized body reaches `response_bytes`.
    pub padding: String,
}

impl Response {
    /// Sets `padding` so the compact JSON body is exactly `target` bytes, or as small as it can be
    /// (empty padding) when `target` is below the unpadded size.
    pub(crate) fn pad_to(mut self, target: u64) -> Result<Self, SampleError> {
        self.padding.clear();
        let base = self.serialized_len()?;
        let missing = usize::try_from(target.saturating_sub(base)).map_err(|error| {
            SampleError::InvalidPayload(format!(
                "`response_bytes` {target} does not fit in memory: {error}"
            ))
        })?;
        self.padding = "x".repeat(missing);
        Ok(self)
    }

    /// Length of the compact JSON body, as `lambda_runtime` serializes it.
    pub(crate) fn serialized_len(&self) -> Result<u64, SampleError> {
        let mut counter = ByteCounter(0);
        serde_json::to_writer(&mut counter, self)
            .map_err(|error| SampleError::resource("measuring the response size", error))?;
        Ok(counter.0)
    }
}

/// A writer that only counts.
struct ByteCounter(u64);

impl std::io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Response {
        Response {
            message: "Hello, \"Ada\"! ✓".to_owned(),
            request_id: "8476a536-e9f4-11e8-9739-2dfe598c3fcd".to_owned(),
            cpu_clock: Some("thread"),
            ..Response::default()
        }
    }

    #[test]
    fn padded_body_is_exactly_the_target_size() {
        for target in [1_000_u64, 4_096, 100_000, 6 * 1024 * 1024] {
            let response = sample().pad_to(target).unwrap();
            let body = serde_json::to_vec(&response).unwrap();
            assert_eq!(body.len() as u64, target);
        }
    }

    #[test]
    fn a_target_below_the_base_size_leaves_no_padding() {
        let base = sample().serialized_len().unwrap();
        let response = sample().pad_to(10).unwrap();
        assert!(response.padding.is_empty());
        assert_eq!(serde_json::to_vec(&response).unwrap().len() as u64, base);
    }

    #[test]
    fn every_field_is_always_serialized() {
        let value = serde_json::to_value(Response::default()).unwrap();
        let object = value.as_object().unwrap();
        assert_eq!(object.len(), 19);
        assert!(object["tmp_file"].is_null());
        assert!(object["cpu_clock"].is_null());
    }
}
