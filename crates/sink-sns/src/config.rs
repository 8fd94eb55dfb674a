//! What the user writes about notifications, and the limits SNS and CloudTrail impose on it.
//!
//! Invariant kept by [`NotifierConfig::validate`]: every limit is at least 1 and a message never
//! exceeds SNS's 256 KiB, so the notifier can always place at least one key in a message.

use std::time::Duration;

use serde::Deserialize;

/// SNS's hard limit on a `Publish` message body, in bytes (256 KiB).
pub const SNS_MAX_MESSAGE_BYTES: usize = 262_144;

const fn default_max_publishes_per_sec() -> u32 {
    30
}
const fn default_max_keys_per_message() -> usize {
    // CloudTrail documents no maximum ("may contain multiple logs"); at ~150 bytes a key, 100
    // keys keep a message near 16 KiB — a size every SQS/Lambda consumer handles comfortably.
    100
}
const fn default_max_message_bytes() -> usize {
    SNS_MAX_MESSAGE_BYTES
}
const fn default_batch_max_wait_ms() -> u64 {
    1_000
}

/// Notification settings, shared by every trail with an `sns_topic_arn`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifierConfig {
    /// `Publish` calls per second across all topics (SNS quotas are per account and region);
    /// also the burst size.
    #[serde(default = "default_max_publishes_per_sec")]
    pub sns_max_publishes_per_sec: u32,
    /// Most keys in one message's `s3ObjectKey` array.
    #[serde(default = "default_max_keys_per_message")]
    pub max_keys_per_message: usize,
    /// Most bytes in one message body (at most [`SNS_MAX_MESSAGE_BYTES`]).
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
    /// How long [`crate::BatchingNotifier`] holds a key to gather others for the same topic
    /// and bucket before publishing.
    #[serde(default = "default_batch_max_wait_ms")]
    pub batch_max_wait_ms: u64,
}

impl Default for NotifierConfig {
    fn default() -> Self {
        Self {
            sns_max_publishes_per_sec: default_max_publishes_per_sec(),
            max_keys_per_message: default_max_keys_per_message(),
            max_message_bytes: default_max_message_bytes(),
            batch_max_wait_ms: default_batch_max_wait_ms(),
        }
    }
}

impl NotifierConfig {
    /// One message per mistake, naming the field.
    pub fn validate(&self) -> Vec<String> {
        let mut errors = Vec::new();
        if self.sns_max_publishes_per_sec == 0 {
            errors.push("sns_max_publishes_per_sec: must be at least 1".to_string());
        }
        if self.max_keys_per_message == 0 {
            errors.push("max_keys_per_message: must be at least 1".to_string());
        }
        // The smallest useful message holds one maximal key (1,024 bytes, JSON-escaped at most 6x)
        // beside a maximal bucket name (63 bytes).
        if self.max_message_bytes < crate::message::MIN_MESSAGE_BYTES
            || self.max_message_bytes > SNS_MAX_MESSAGE_BYTES
        {
            errors.push(format!(
                "max_message_bytes: must be between {} and {SNS_MAX_MESSAGE_BYTES}",
                crate::message::MIN_MESSAGE_BYTES
            ));
        }
        errors
    }

    /// [`Self::batch_max_wait_ms`] as a duration.
    pub fn batch_max_wait(&self) -> Duration {
        Duration::from_millis(self.batch_max_wait_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_fill_missing_fields() {
        let c: NotifierConfig = serde_json::from_str("{}").expect("empty config parses");
        assert_eq!(c, NotifierConfig::default());
        assert!(c.validate().is_empty());
    }

    #[test]
    fn validate_names_each_bad_field() {
        let c = NotifierConfig {
            sns_max_publishes_per_sec: 0,
            max_keys_per_message: 0,
            max_message_bytes: SNS_MAX_MESSAGE_BYTES + 1,
            batch_max_wait_ms: 0,
        };
        let errors = c.validate();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].starts_with("sns_max_publishes_per_sec"));
        assert!(errors[1].starts_with("max_keys_per_message"));
        assert!(errors[2].starts_with("max_message_bytes"));
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(serde_json::from_str::<NotifierConfig>(r#"{"max_keys":3}"#).is_err());
    }
}
