//! SNS log-file notifications, as CloudTrail sends them when log files land in S3 (reference
//! §4): `{"s3Bucket":"<bucket>","s3ObjectKey":["<key>",...]}`, no subject.
//!
//! [`Notifier`] publishes keys (split into as many messages as SNS's 256 KiB limit and
//! [`NotifierConfig::max_keys_per_message`] require), paced by one `governor` rate limiter and
//! retried with full-jitter backoff until accepted; [`BatchingNotifier`] gathers keys landing
//! together into one message and tells each caller when its key was accepted, so offsets are
//! acknowledged only after the notification (at-least-once). A notification is part of a
//! delivery: SNS errors are retried forever, counted and shown in [`NotifierHealth`].

mod batch;
mod config;
mod health;
mod message;
pub mod metrics;
mod notifier;
mod retry;
mod segment;

pub use batch::{BatchingNotifier, NotificationSink};
pub use config::{NotifierConfig, SNS_MAX_MESSAGE_BYTES};
pub use health::{NotificationStatus, NotifierHealth};
pub use message::notification_message;
pub use notifier::{client, Notifier};
pub use retry::{ErrorClass, NotifyError, PublishFailure};
pub use segment::FileNotifications;
