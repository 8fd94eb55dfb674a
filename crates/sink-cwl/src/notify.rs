//! Alarm state changes published to SNS, rate-limited so a flapping alarm cannot flood a topic.
//!
//! Invariant: notifications are best-effort side effects — they never hold back Kafka offsets.
//! A publish is retried (full-jitter backoff) up to [`MAX_PUBLISH_ATTEMPTS`] times, then counted
//! in `trailpipe_alarm_notifications_total{result="failed"}` and returned as an error.

use std::num::NonZeroU32;

use aws_sdk_sns::error::ProvideErrorMetadata;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::alarm::AlarmTransition;
use crate::metric_names as m;
use crate::retry::{classify, error_chain, Backoff, ErrorClass};
use crate::CwlError;

/// Attempts per notification.
pub const MAX_PUBLISH_ATTEMPTS: u32 = 5;

/// Default notifications per second over all alarms of a notifier.
pub const fn default_max_notifications_per_sec() -> u32 {
    10
}

/// Publishes [`AlarmTransition`]s to their alarm's `sns_topic_arn`.
pub struct AlarmNotifier {
    client: aws_sdk_sns::Client,
    limiter: DefaultDirectRateLimiter,
}

impl AlarmNotifier {
    /// A notifier using `shared`'s credentials and region (a topic ARN's region must match it).
    pub fn new(shared: &aws_config::SdkConfig, max_per_sec: u32) -> Self {
        let rps = NonZeroU32::new(max_per_sec.max(1)).expect("max(1) is non-zero");
        Self {
            client: aws_sdk_sns::Client::new(shared),
            limiter: RateLimiter::direct(Quota::per_second(rps)),
        }
    }

    /// Publishes one transition (no-op without a topic). Returns the SNS message id.
    pub async fn notify(&self, t: &AlarmTransition) -> Result<Option<String>, CwlError> {
        let Some(topic) = &t.alarm.sns_topic_arn else {
            return Ok(None);
        };
        let mut subject = format!("{}: \"{}\"", t.new.as_str(), t.alarm.name);
        subject.retain(|c| c.is_ascii() && !c.is_ascii_control());
        subject.truncate(100);
        let message = t.to_json();
        let mut backoff = Backoff::new();
        loop {
            self.limiter.until_ready().await;
            let r = self
                .client
                .publish()
                .topic_arn(topic)
                .subject(&subject)
                .message(&message)
                .send()
                .await;
            let e = match r {
                Ok(out) => {
                    metrics::counter!(m::ALARM_NOTIFICATIONS, "result" => "published").increment(1);
                    return Ok(out.message_id().map(str::to_string));
                }
                Err(e) => e,
            };
            let status = e.raw_response().map(|r| r.status().as_u16());
            let class = classify(&e, status);
            let msg = format!(
                "SNS Publish {topic}: {} {}",
                e.code().unwrap_or(""),
                error_chain(&e)
            );
            if backoff.attempts() + 1 >= MAX_PUBLISH_ATTEMPTS
                || matches!(
                    class,
                    ErrorClass::Permanent | ErrorClass::Rejected | ErrorClass::NotFound
                )
            {
                metrics::counter!(m::ALARM_NOTIFICATIONS, "result" => "failed").increment(1);
                return Err(CwlError::Request {
                    message: msg,
                    class,
                });
            }
            tokio::time::sleep(backoff.next_delay(class)).await;
        }
    }
}
