//! Which AWS errors are retried and how: exponential backoff with full jitter (AWS's
//! recommended scheme), slower for throttling and slowest for configuration problems.
//!
//! Invariant: classification depends only on the error code and HTTP status, so a test can pin
//! it; `ResourceNotFoundException` is its own class because the cure (re-create the group or
//! stream) differs from waiting.

use std::time::Duration;

// The SDKs share one SdkError type (aws-smithy-runtime-api); the Logs crate re-exports it.
use aws_sdk_cloudwatchlogs::error::{ProvideErrorMetadata, SdkError};
use rand::Rng;

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

/// Displays an error with its source chain (the SDK's top-level text alone says "dispatch failure").
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Backoff state for one request.
#[derive(Debug, Default)]
pub struct Backoff {
    attempt: u32,
}

impl Backoff {
    /// A fresh backoff.
    pub fn new() -> Self {
        Self::default()
    }

    /// Attempts so far.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// Full-jitter delay: uniform in [0, min(cap, base·2^attempt)].
    pub fn next_delay(&mut self, class: ErrorClass) -> Duration {
        let (base_ms, cap_ms) = match class {
            ErrorClass::Retriable | ErrorClass::NotFound => (50u64, 10_000u64),
            ErrorClass::Throttled => (200, 20_000),
            ErrorClass::Permanent | ErrorClass::Rejected => (5_000, 60_000),
        };
        let ceiling = base_ms
            .saturating_mul(1u64 << self.attempt.min(16))
            .min(cap_ms);
        self.attempt += 1;
        Duration::from_millis(rand::rng().random_range(0..=ceiling))
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
    fn backoff_is_capped_and_grows() {
        let mut b = Backoff::new();
        for _ in 0..40 {
            assert!(b.next_delay(ErrorClass::Throttled) <= Duration::from_millis(20_000));
        }
        assert_eq!(b.attempts(), 40);
    }
}
