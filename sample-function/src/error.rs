//! The function's error type and the `errorType` each variant reports to the Runtime API.

use lambda_runtime::Diagnostic;

/// `errorType` for a payload that could not be parsed or validated.
pub(crate) const INVALID_PAYLOAD: &str = "SampleFunction.InvalidPayload";
/// `errorType` for a failure asked for with `"fail"`.
pub(crate) const REQUESTED_FAILURE: &str = "SampleFunction.RequestedFailure";
/// `errorType` for a behaviour that hit an OS or resource limit (EMFILE, ENOSPC, thread limit...).
pub(crate) const RESOURCE_ERROR: &str = "SampleFunction.ResourceError";

/// Everything the handler can fail with. Each variant maps to one stable `errorType`.
#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    /// The payload is not what the function accepts; the message names the field and the fix.
    #[error("invalid payload: {0}")]
    InvalidPayload(String),
    /// The payload asked for an error (`"fail"`).
    #[error("{0}")]
    RequestedFailure(String),
    /// A behaviour could not be carried out (what was attempted, then the OS error).
    #[error("{what}: {source}")]
    Resource {
        /// What was being attempted, e.g. "opening file handle 1021 of 2000".
        what: String,
        /// The underlying error (usually an OS error).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl SampleError {
    /// Builds a [`SampleError::Resource`] from a description and an I/O error.
    pub fn resource(
        what: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Resource {
            what: what.into(),
            source: source.into(),
        }
    }

    /// The `errorType` sent to the Runtime API for this error.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::InvalidPayload(_) => INVALID_PAYLOAD,
            Self::RequestedFailure(_) => REQUESTED_FAILURE,
            Self::Resource { .. } => RESOURCE_ERROR,
        }
    }
}

impl From<SampleError> for Diagnostic {
    fn from(error: SampleError) -> Self {
        Diagnostic {
            error_type: error.error_type().to_owned(),
            error_message: error.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_variant_has_its_own_error_type() {
        let invalid: Diagnostic = SampleError::InvalidPayload("`sleep_ms` must be...".into()).into();
        assert_eq!(invalid.error_type, INVALID_PAYLOAD);
        assert_eq!(invalid.error_message, "invalid payload: `sleep_ms` must be...");

        let failed: Diagnostic = SampleError::RequestedFailure("boom".into()).into();
        assert_eq!(failed.error_type, REQUESTED_FAILURE);
        assert_eq!(failed.error_message, "boom");

        let io = std::io::Error::other("Too many open files");
        let resource: Diagnostic = SampleError::resource("opening file handle 3 of 9", io).into();
        assert_eq!(resource.error_type, RESOURCE_ERROR);
        assert_eq!(
            resource.error_message,
            "opening file handle 3 of 9: Too many open files"
        );
    }
}
