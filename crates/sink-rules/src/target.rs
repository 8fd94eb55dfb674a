//! The destinations of rules: a Kafka topic or an SNS topic, behind one trait so the stage
//! treats them alike (and tests can stand in for them).

use std::time::Duration;

use aws_sdk_sns::error::{ProvideErrorMetadata, SdkError};
use futures::future::BoxFuture;
use rdkafka::{
    error::KafkaError,
    producer::{FutureProducer, FutureRecord},
    types::RDKafkaErrorCode,
};
use trailpipe_ingest::SecureContext;
use trailpipe_retry::ErrorClass;

/// SNS's limit on a `Publish` message, in bytes (256 KiB).
pub use trailpipe_sink_sns::SNS_MAX_MESSAGE_BYTES;

/// How a delivery attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// It may succeed later: retried with backoff of this class.
    Transient(ErrorClass),
    /// It can never succeed (a missing SNS topic, an event too large): dead-lettered.
    Never,
}

/// One failed delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetError {
    /// What the destination said.
    pub message: String,
    /// Whether to retry.
    pub failure: Failure,
}

/// A destination of events.
pub trait Target: Send + Sync {
    /// One attempt to deliver `payload` (JSON text) keyed by the event's `id`; `Ok` once the
    /// destination holds it durably.
    fn send<'a>(&'a self, id: &'a str, payload: &'a str) -> BoxFuture<'a, Result<(), TargetError>>;
}

/// A Kafka topic, produced to with `acks=all` and idempotence; the key is the event's `id`.
pub struct KafkaTarget {
    producer: FutureProducer<SecureContext>,
    topic: String,
}

impl KafkaTarget {
    /// A target producing to `topic` with `producer` (shared by every Kafka target).
    pub fn new(producer: FutureProducer<SecureContext>, topic: String) -> Self {
        Self { producer, topic }
    }
}

/// How long an event waits for room in the producer's queue before the attempt fails (and is
/// retried).
const QUEUE_TIMEOUT: Duration = Duration::from_secs(10);

/// Kafka errors that no retry can fix: the event itself is refused.
fn kafka_failure(e: &KafkaError) -> Failure {
    use RDKafkaErrorCode as C;
    match e.rdkafka_error_code() {
        Some(
            C::MessageSizeTooLarge
            | C::MessageBatchTooLarge
            | C::InvalidMessageSize
            | C::InvalidRecord
            | C::InvalidMessage,
        ) => Failure::Never,
        Some(C::TopicAuthorizationFailed | C::ClusterAuthorizationFailed) => {
            Failure::Transient(ErrorClass::Permanent)
        }
        Some(C::QueueFull | C::ThrottlingQuotaExceeded) => {
            Failure::Transient(ErrorClass::Throttled)
        }
        _ => Failure::Transient(ErrorClass::Retriable),
    }
}

impl Target for KafkaTarget {
    fn send<'a>(&'a self, id: &'a str, payload: &'a str) -> BoxFuture<'a, Result<(), TargetError>> {
        Box::pin(async move {
            self.producer
                .send(
                    FutureRecord::to(&self.topic).key(id).payload(payload),
                    QUEUE_TIMEOUT,
                )
                .await
                .map(drop)
                .map_err(|(e, _)| TargetError {
                    message: format!("producing to {}: {e}", self.topic),
                    failure: kafka_failure(&e),
                })
        })
    }
}

/// An SNS topic: the event is published as the message, without a subject.
pub struct SnsTarget {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsTarget {
    /// A target publishing to `topic_arn` with `client` (of the topic's region).
    pub fn new(client: aws_sdk_sns::Client, topic_arn: String) -> Self {
        Self { client, topic_arn }
    }
}

/// SNS error codes that no retry can fix.
const SNS_NEVER: &[&str] = &[
    "NotFound",
    "NotFoundException",
    "InvalidParameter",
    "InvalidParameterException",
    "InvalidParameterValue",
    "ParameterValueInvalid",
];

/// Classifies a failed `Publish` by its SNS code and HTTP status.
fn sns_failure(code: &str, status: Option<u16>) -> Failure {
    if SNS_NEVER.contains(&code) {
        return Failure::Never;
    }
    Failure::Transient(match (status, code) {
        (_, "Throttled" | "Throttling" | "ThrottlingException" | "KMSThrottling")
        | (Some(429), _) => ErrorClass::Throttled,
        (None, _) | (Some(500..=599 | 408), _) | (_, "InternalError") => ErrorClass::Retriable,
        // Access denied, KMS key disabled, ...: fixable by configuration; retried slowly.
        _ => ErrorClass::Permanent,
    })
}

impl Target for SnsTarget {
    fn send<'a>(
        &'a self,
        _id: &'a str,
        payload: &'a str,
    ) -> BoxFuture<'a, Result<(), TargetError>> {
        Box::pin(async move {
            if payload.len() > SNS_MAX_MESSAGE_BYTES {
                return Err(TargetError {
                    message: format!(
                        "Publish {}: the event ({} bytes) is larger than SNS's {SNS_MAX_MESSAGE_BYTES}-byte limit",
                        self.topic_arn,
                        payload.len()
                    ),
                    failure: Failure::Never,
                });
            }
            let result = self
                .client
                .publish()
                .topic_arn(&self.topic_arn)
                .message(payload)
                .send()
                .await;
            result.map(drop).map_err(|e| {
                let status = e.raw_response().map(|r| r.status().as_u16());
                let (code, message) = match &e {
                    SdkError::ServiceError(s) => (
                        s.err().code().unwrap_or("error").to_string(),
                        format!(
                            "{} {}",
                            s.err().code().unwrap_or("error"),
                            s.err().message().unwrap_or("")
                        ),
                    ),
                    other => (String::new(), trailpipe_retry::error_chain(other)),
                };
                TargetError {
                    message: format!("Publish {}: {message}", self.topic_arn),
                    failure: sns_failure(&code, status),
                }
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_that_can_never_succeed_are_told_from_transient_ones() {
        assert_eq!(sns_failure("NotFound", Some(404)), Failure::Never);
        assert_eq!(sns_failure("InvalidParameter", Some(400)), Failure::Never);
        assert_eq!(
            sns_failure("Throttled", Some(400)),
            Failure::Transient(ErrorClass::Throttled)
        );
        assert_eq!(
            sns_failure("", None),
            Failure::Transient(ErrorClass::Retriable)
        );
        assert_eq!(
            sns_failure("AuthorizationError", Some(403)),
            Failure::Transient(ErrorClass::Permanent)
        );
        let too_large = KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge);
        assert_eq!(kafka_failure(&too_large), Failure::Never);
        let timeout = KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut);
        assert_eq!(
            kafka_failure(&timeout),
            Failure::Transient(ErrorClass::Retriable)
        );
    }
}
