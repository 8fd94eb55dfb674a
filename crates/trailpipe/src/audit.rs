//! Where the daemon stores the self-records of its CloudTrail API calls (built by
//! `trailpipe_api::audit`): produced to the Kafka source's first topic, idempotently and
//! acknowledged by every in-sync replica, before the call is answered. From there they are read
//! back like any record — routed, written to log files and digests exactly once, kept in the
//! event history, seen by metric filters — and a crash right after the answer loses nothing.
//!
//! A file source has no topic to write to: its records are only logged (a file run reads its
//! inputs once, so its API is for looking, not for changing trails).

use std::time::Duration;

use rdkafka::producer::{FutureProducer, FutureRecord};
use trailpipe_config::{Config, SourceConfig};
use trailpipe_ingest::SecureContext;

/// The producer of self-records and the topic they go to.
pub struct AuditSink {
    producer: FutureProducer<SecureContext>,
    topic: String,
}

impl AuditSink {
    /// The sink for `config`'s Kafka source (`None` for a file source), connecting with the
    /// source's security settings through `context`.
    pub fn open(config: &Config, context: SecureContext) -> anyhow::Result<Option<Self>> {
        let SourceConfig::Kafka(k) = &config.source else {
            return Ok(None);
        };
        let Some(topic) = k.topics.first() else {
            return Ok(None);
        };
        let mut c = trailpipe_ingest::producer_config(
            &k.brokers,
            &k.client_properties(),
            k.max_record_bytes,
        );
        // A call waits for its record: fail it within seconds when the cluster cannot take it
        // (the client retries) rather than after librdkafka's default five minutes.
        c.set("enable.idempotence", "true")
            .set("linger.ms", "0")
            .set("message.timeout.ms", "10000");
        let producer = c.create_with_context(SecureContext {
            role: "API self-record producer",
            ..context
        })?;
        Ok(Some(Self {
            producer,
            topic: topic.clone(),
        }))
    }

    /// Produces `record` and waits for its acknowledgement.
    pub async fn store(&self, record: &serde_json::Value) -> Result<(), String> {
        let payload = record.to_string();
        let key = record["eventID"].as_str().unwrap_or_default().to_owned();
        self.producer
            .send(
                FutureRecord::to(&self.topic).payload(&payload).key(&key),
                Duration::from_secs(10),
            )
            .await
            .map(drop)
            .map_err(|(e, _)| format!("producing to {}: {e}", self.topic))
    }
}
