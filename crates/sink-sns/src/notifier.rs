//! Publishes log-file notifications to SNS: splits keys into CloudTrail messages, paces every
//! `Publish` through one rate limiter, and retries each message until SNS accepts it.
//!
//! Invariant: [`Notifier::notify`] returns `Ok` only once SNS has accepted a message naming
//! every key it was given (each key in exactly one accepted message, barring SDK-level retries
//! of an accepted-but-unanswered request, which may repeat one: notifications are
//! at-least-once). It never gives up on an SNS error; only input that can never be published
//! (a key larger than a message) is an `Err`.

use std::{collections::HashMap, num::NonZeroU32, sync::Arc, time::Instant};

use aws_sdk_sns::{
    error::{ProvideErrorMetadata, SdkError},
    Client,
};
use futures::future::BoxFuture;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::{
    message::{split, Message},
    metrics as names,
    retry::{classify, error_chain, Backoff},
    NotificationSink, NotifierConfig, NotifierHealth, NotifyError, PublishFailure,
};

/// Sends CloudTrail log-file notifications to SNS topics.
pub struct Notifier {
    client: Client,
    config: NotifierConfig,
    /// One limiter for every topic: SNS's `Publish` quota is per account and region.
    limiter: DefaultDirectRateLimiter,
    health: NotifierHealth,
    /// Metric label per topic ARN (the trail names using it).
    trails: HashMap<String, Arc<str>>,
}

impl Notifier {
    /// A notifier with the default [`NotifierConfig`].
    pub fn new(client: Client) -> Self {
        Self::with_config(client, NotifierConfig::default())
            .expect("the default notifier config is valid")
    }

    /// A notifier with `config`, refused when [`NotifierConfig::validate`] finds mistakes.
    pub fn with_config(client: Client, config: NotifierConfig) -> Result<Self, NotifyError> {
        let errors = config.validate();
        let rate = NonZeroU32::new(config.sns_max_publishes_per_sec)
            .filter(|_| errors.is_empty())
            .ok_or(NotifyError::InvalidConfig(errors))?;
        Ok(Self {
            client,
            limiter: RateLimiter::direct(Quota::per_second(rate)),
            config,
            health: NotifierHealth::default(),
            trails: HashMap::new(),
        })
    }

    /// A notifier with its own SNS client for `region`; `endpoint` overrides the AWS endpoint
    /// (`AWS_ENDPOINT_URL` is honoured too). Credentials come from the default chain.
    pub async fn from_region(
        region: &str,
        endpoint: Option<&str>,
        config: NotifierConfig,
    ) -> Result<Self, NotifyError> {
        Self::with_config(client(region, endpoint).await, config)
    }

    /// Labels `topic_arn`'s metrics with `trail` (several trails sharing a topic are joined
    /// with `,`). Unregistered topics are labelled with their topic name.
    pub fn with_trail(mut self, topic_arn: &str, trail: &str) -> Self {
        let label = match self.trails.get(topic_arn) {
            Some(old) if old.split(',').any(|t| t == trail) => old.clone(),
            Some(old) => format!("{old},{trail}").into(),
            None => trail.into(),
        };
        self.trails.insert(topic_arn.to_string(), label);
        self
    }

    /// The health this notifier updates.
    pub fn health(&self) -> NotifierHealth {
        self.health.clone()
    }

    /// The configuration in force.
    pub fn config(&self) -> &NotifierConfig {
        &self.config
    }

    fn trail_label(&self, topic_arn: &str) -> Arc<str> {
        self.trails.get(topic_arn).cloned().unwrap_or_else(|| {
            topic_arn
                .rsplit(':')
                .next()
                .unwrap_or(topic_arn)
                .to_string()
                .into()
        })
    }

    /// Publishes `keys` of `bucket` to `topic_arn` in as few messages as the limits allow, and
    /// returns once SNS accepted all of them. Messages go out concurrently, paced by the rate
    /// limiter; each is retried on its own, so an accepted message is never re-sent.
    pub async fn notify(
        &self,
        topic_arn: &str,
        bucket: &str,
        keys: &[String],
    ) -> Result<(), NotifyError> {
        let started = Instant::now();
        let messages = split(
            bucket,
            keys,
            self.config.max_keys_per_message,
            self.config.max_message_bytes,
        )?;
        if messages.is_empty() {
            return Ok(());
        }
        let trail = self.trail_label(topic_arn);
        futures::future::join_all(
            messages
                .iter()
                .map(|m| self.publish_until_accepted(topic_arn, m, &trail)),
        )
        .await;
        metrics::histogram!(names::SNS_NOTIFY_LATENCY).record(started.elapsed().as_secs_f64());
        Ok(())
    }

    async fn publish_until_accepted(&self, topic_arn: &str, m: &Message, trail: &str) {
        let mut backoff = Backoff::new();
        loop {
            self.limiter.until_ready().await;
            self.health.attempt(topic_arn);
            match self.publish_once(topic_arn, &m.body).await {
                Ok(()) => {
                    self.health.notified(topic_arn, m.keys as u64);
                    metrics::counter!(names::SNS_NOTIFICATIONS, "trail" => trail.to_string())
                        .increment(1);
                    metrics::counter!(names::SNS_NOTIFIED_KEYS, "trail" => trail.to_string())
                        .increment(m.keys as u64);
                    metrics::histogram!(names::SNS_MESSAGE_KEYS, "trail" => trail.to_string())
                        .record(m.keys as f64);
                    return;
                }
                Err(e) => {
                    metrics::counter!(names::SNS_ERRORS, "error_type" => e.class.as_str())
                        .increment(1);
                    tracing::warn!(error = %e, keys = m.keys, "SNS notification failed; retrying");
                    self.health.error(topic_arn, e.to_string());
                    tokio::time::sleep(backoff.next_delay(e.class)).await;
                }
            }
        }
    }

    async fn publish_once(&self, topic_arn: &str, body: &str) -> Result<(), PublishFailure> {
        // No Subject: CloudTrail's notifications carry none (reference §4).
        let result = self
            .client
            .publish()
            .topic_arn(topic_arn)
            .message(body)
            .send()
            .await;
        result.map(|_| ()).map_err(|e| {
            let status = e.raw_response().map(|r| r.status().as_u16());
            let message = match &e {
                SdkError::ServiceError(s) => format!(
                    "{} {}",
                    s.err().code().unwrap_or("error"),
                    s.err().message().unwrap_or("")
                ),
                other => error_chain(other),
            };
            PublishFailure {
                topic_arn: topic_arn.to_string(),
                message,
                class: classify(&e, status),
            }
        })
    }
}

/// An SNS client for `region`; `endpoint` overrides the AWS endpoint (`AWS_ENDPOINT_URL` is
/// honoured too). Credentials come from the default chain. Each attempt is bounded (a hung
/// connection surfaces as a retriable error, not a stall); callers retry with backoff.
pub async fn client(region: &str, endpoint: Option<&str>) -> Client {
    let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_string()))
        .load()
        .await;
    let mut b = aws_sdk_sns::config::Builder::from(&shared);
    if let Some(ep) = endpoint {
        b = b.endpoint_url(ep);
    }
    b = b.timeout_config(
        aws_sdk_sns::config::timeout::TimeoutConfig::builder()
            .connect_timeout(std::time::Duration::from_secs(5))
            .operation_attempt_timeout(std::time::Duration::from_secs(30))
            .build(),
    );
    Client::from_conf(b.build())
}

impl NotificationSink for Notifier {
    fn notify<'a>(
        &'a self,
        topic_arn: &'a str,
        bucket: &'a str,
        keys: &'a [String],
    ) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(Notifier::notify(self, topic_arn, bucket, keys))
    }

    fn max_keys_per_message(&self) -> usize {
        self.config.max_keys_per_message
    }

    fn max_message_bytes(&self) -> usize {
        self.config.max_message_bytes
    }
}
