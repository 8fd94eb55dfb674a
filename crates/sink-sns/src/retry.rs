//! Which `Publish` failures are retried and how: exponential backoff with full jitter, like the
//! S3 sink. A notification is part of a delivery, so nothing is ever given up on: permanent
//! errors (missing topic, denied by the topic policy) back off to the longest delay, are counted
//! and show in [`crate::NotifierHealth`] until the topic is fixed.

use std::time::Duration;

use aws_sdk_sns::error::{ProvideErrorMetadata, SdkError};
use rand::Rng;

/// How a failed request should be treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Network trouble, 5xx, timeouts: retry soon.
    Retriable,
    /// `Throttled` / 429: retry with longer backoff.
    Throttled,
    /// `NotFound`, `AuthorizationError`, KMS or parameter problems: retry slowly, report.
    Permanent,
}

impl ErrorClass {
    /// Label for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Retriable => "retriable",
            Self::Throttled => "throttled",
            Self::Permanent => "permanent",
        }
    }
}

/// One failed `Publish` attempt.
#[derive(Debug, Clone, thiserror::Error)]
#[error("Publish {topic_arn}: {message} ({})", class.as_str())]
pub struct PublishFailure {
    /// The topic.
    pub topic_arn: String,
    /// The error text (SNS code and message, or the transport error chain).
    pub message: String,
    /// Its class.
    pub class: ErrorClass,
}

/// Why a notification could not be made.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NotifyError {
    /// One key is too large to fit any message (it cannot be published at all).
    #[error("key {key:?} of bucket {bucket} does not fit a {max_message_bytes}-byte SNS message")]
    KeyTooLarge {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
        /// The limit in force.
        max_message_bytes: usize,
    },
    /// The configuration is invalid (one message per mistake).
    #[error("invalid notification config: {}", .0.join("; "))]
    InvalidConfig(Vec<String>),
    /// The batching notifier stopped before the key was published (the caller must not ack).
    #[error("the batching notifier stopped before the key was published")]
    Closed,
}

/// Classifies an SDK error from its HTTP status and SNS error code.
pub(crate) fn classify<E: ProvideErrorMetadata, R>(
    e: &SdkError<E, R>,
    status: Option<u16>,
) -> ErrorClass {
    let code = e.code().unwrap_or_default();
    match (status, code) {
        (_, "Throttled" | "Throttling" | "ThrottlingException" | "KMSThrottling")
        | (Some(429), _) => ErrorClass::Throttled,
        (None, _)
        | (Some(500..=599 | 408), _)
        | (_, "InternalError" | "InternalErrorException") => ErrorClass::Retriable,
        _ => ErrorClass::Permanent,
    }
}

/// Displays an error with its source chain (the top-level text alone says "dispatch failure").
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

/// Backoff state for one message.
pub(crate) struct Backoff {
    attempt: u32,
}

impl Backoff {
    pub(crate) fn new() -> Self {
        Self { attempt: 0 }
    }

    /// Full-jitter delay: uniform in [ceiling/4, ceiling], ceiling = min(cap, base·2^attempt).
    pub(crate) fn next_delay(&mut self, class: ErrorClass) -> Duration {
        let (base_ms, cap_ms) = match class {
            ErrorClass::Retriable => (100u64, 10_000u64),
            ErrorClass::Throttled => (500, 20_000),
            ErrorClass::Permanent => (5_000, 60_000),
        };
        let ceiling = base_ms
            .saturating_mul(1u64 << self.attempt.min(16))
            .min(cap_ms);
        self.attempt += 1;
        Duration::from_millis(rand::rng().random_range(ceiling / 4..=ceiling))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_within_the_cap_for_each_class() {
        for (class, base, cap) in [
            (ErrorClass::Retriable, 100, 10_000),
            (ErrorClass::Throttled, 500, 20_000),
            (ErrorClass::Permanent, 5_000, 60_000),
        ] {
            let mut b = Backoff::new();
            for attempt in 0..40u32 {
                let d = b.next_delay(class).as_millis() as u64;
                let ceiling = (base << attempt.min(16)).min(cap);
                assert!(
                    (ceiling / 4..=ceiling).contains(&d),
                    "{class:?} attempt {attempt}: {d}ms"
                );
            }
        }
    }

    #[test]
    fn errors_name_their_input() {
        let e = NotifyError::KeyTooLarge {
            bucket: "b".into(),
            key: "k".into(),
            max_message_bytes: 10,
        };
        assert!(e.to_string().contains("\"k\""));
        let f = PublishFailure {
            topic_arn: "arn:aws:sns:us-east-1:1:t".into(),
            message: "NotFound Topic does not exist".into(),
            class: ErrorClass::Permanent,
        };
        assert_eq!(
            f.to_string(),
            "Publish arn:aws:sns:us-east-1:1:t: NotFound Topic does not exist (permanent)"
        );
    }
}
