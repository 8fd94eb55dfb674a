//! Which AWS errors are retried and how: exponential backoff with full jitter (AWS's
//! recommended scheme), slower for throttling and slowest for configuration problems.
//!
//! Invariant: classification depends only on the error code and HTTP status, so a test can pin
//! it; `ResourceNotFoundException` is its own class because the cure (re-create the group or
//! stream) differs from waiting.

// The SDKs share one SdkError type (aws-smithy-runtime-api); the Logs crate re-exports it.
use aws_sdk_cloudwatchlogs::error::{ProvideErrorMetadata, SdkError};
pub(crate) use trailpipe_retry::error_chain;
pub use trailpipe_retry::Backoff;
use trailpipe_retry::{Bounds, RetryClass};

/// How a failed request should be treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Network trouble, 5xx, timeouts, aborted concurrent operations: retry soon.
    Retriable,
    /// `ThrottlingException`, `ServiceUnavailableException`, HTTP 429: retry with longer backoff.
    Throttled,
    /// The log group or stream is gone (deleted): re-create it, then retry.
    NotFound,
    /// The request itself is refused (`InvalidParameterException`): retrying cannot help.
    Rejected,
    /// Credentials, permissions, quotas (`AccessDenied`, `UnrecognizedClient`,
    /// `LimitExceeded`): retried slowly, reported in health, never silently dropped.
    Permanent,
}

impl ErrorClass {
    /// Label for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Retriable => "retriable",
            Self::Throttled => "throttled",
            Self::NotFound => "not_found",
            Self::Rejected => "rejected",
            Self::Permanent => "permanent",
        }
    }
}

/// Classifies an error code and HTTP status.
pub fn classify_code(code: Option<&str>, status: Option<u16>) -> ErrorClass {
    match (code.unwrap_or(""), status) {
        (
            "ThrottlingException"
            | "Throttling"
            | "ServiceUnavailableException"
            | "TooManyRequestsException"
            | "RequestLimitExceeded",
            _,
        )
        | (_, Some(429 | 503)) => ErrorClass::Throttled,
        ("ResourceNotFoundException", _) => ErrorClass::NotFound,
        (
            "InvalidParameterException"
            | "InvalidParameterValue"
            | "ValidationException"
            | "MalformedQueryException",
            _,
        ) => ErrorClass::Rejected,
        (
            "OperationAbortedException"
            | "InternalFailure"
            | "InternalError"
            | "RequestTimeout"
            | "InvalidSequenceTokenException",
            _,
        )
        | (_, None | Some(500..=599 | 408)) => ErrorClass::Retriable,
        _ => ErrorClass::Permanent,
    }
}

/// Classifies an SDK error (service errors by code; timeouts and I/O as retriable).
pub fn classify<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>, status: Option<u16>) -> ErrorClass {
    match e {
        SdkError::ServiceError(_) => classify_code(e.code(), status),
        SdkError::ConstructionFailure(_) => ErrorClass::Rejected,
        _ => ErrorClass::Retriable,
    }
}

impl RetryClass for ErrorClass {
    fn bounds(self) -> Bounds {
        let (base_ms, cap_ms) = match self {
            Self::Retriable | Self::NotFound => (50, 10_000),
            Self::Throttled => (200, 20_000),
            Self::Permanent | Self::Rejected => (5_000, 60_000),
        };
        Bounds { base_ms, cap_ms }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_and_unavailable_are_throttled() {
        assert_eq!(
            classify_code(Some("ThrottlingException"), Some(400)),
            ErrorClass::Throttled
        );
        assert_eq!(
            classify_code(Some("ServiceUnavailableException"), Some(500)),
            ErrorClass::Throttled
        );
        assert_eq!(classify_code(None, Some(429)), ErrorClass::Throttled);
    }

    #[test]
    fn other_codes_are_classified() {
        assert_eq!(
            classify_code(Some("ResourceNotFoundException"), Some(400)),
            ErrorClass::NotFound
        );
        assert_eq!(
            classify_code(Some("InvalidParameterException"), Some(400)),
            ErrorClass::Rejected
        );
        assert_eq!(
            classify_code(Some("AccessDeniedException"), Some(400)),
            ErrorClass::Permanent
        );
        assert_eq!(
            classify_code(Some("UnrecognizedClientException"), Some(400)),
            ErrorClass::Permanent
        );
        assert_eq!(
            classify_code(Some("OperationAbortedException"), Some(400)),
            ErrorClass::Retriable
        );
        assert_eq!(classify_code(None, Some(502)), ErrorClass::Retriable);
        assert_eq!(classify_code(None, None), ErrorClass::Retriable);
    }

    #[test]
    fn not_found_retries_as_fast_as_transient_errors_and_rejections_as_slow_as_permanent_ones() {
        // Re-creating a deleted group or stream is the cure, not waiting; a refused request
        // is re-sent only after a configuration change, so it waits like a permanent error.
        assert_eq!(
            ErrorClass::NotFound.bounds(),
            ErrorClass::Retriable.bounds()
        );
        assert_eq!(
            ErrorClass::Rejected.bounds(),
            ErrorClass::Permanent.bounds()
        );
        assert!(ErrorClass::Throttled.bounds().base_ms > ErrorClass::Retriable.bounds().base_ms);
    }
}
