//! Which `Publish` failures are retried and how: exponential backoff with full jitter, like the
//! S3 sink. A notification is part of a delivery, so nothing is ever given up on: permanent
//! errors (missing topic, denied by the topic policy) back off to the longest delay, are counted
//! and show in [`crate::NotifierHealth`] until the topic is fixed.

use aws_sdk_sns::error::{ProvideErrorMetadata, SdkError};
pub use trailpipe_retry::ErrorClass;
pub(crate) use trailpipe_retry::{error_chain, Backoff};

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

#[cfg(test)]
mod tests {
    use super::*;

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
