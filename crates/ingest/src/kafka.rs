//! The Kafka source: one consumer-group poll loop.
//!
//! Invariants:
//! - auto-commit and auto offset store are off; the loop commits a partition only up to its
//!   [`Watermarks`] value, i.e. the end of the acknowledged contiguous segments;
//! - each assignment of a partition gets a fresh epoch, announced downstream
//!   (`Flow::Assigned { replay: true }`) before any of its messages, so the batcher recovers cut
//!   points of segments an earlier owner may already have delivered; acknowledgements from a
//!   revoked epoch are ignored;
//! - on shutdown the loop stops reading, asks for every open segment to be cut, and commits what
//!   was acknowledged before the grace period ends.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use rdkafka::{
    config::ClientConfig,
    consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer},
    message::Message as _,
    ClientContext, Offset, TopicPartitionList,
};
use tokio::sync::{mpsc, watch};
use trailpipe_event::{parse_message, Epoch, Flow, Message, PartitionId, SegmentAck};
use trailpipe_telemetry as names;

use crate::{IngestError, Watermarks};

/// What the Kafka source needs from the configuration.
#[derive(Debug, Clone)]
pub struct KafkaSettings {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// Topics to subscribe to.
    pub topics: Vec<String>,
    /// Consumer group.
    pub group_id: String,
    /// Largest accepted record.
    pub max_record_bytes: usize,
    /// Extra librdkafka properties (override the defaults below).
    pub librdkafka: Vec<(String, String)>,
}

impl KafkaSettings {
    /// The consumer's librdkafka configuration: trailpipe's defaults, then the user's overrides.
    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("group.id", &self.group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("partition.assignment.strategy", "cooperative-sticky")
            // Large fetches, short waits: high throughput without holding fetches open.
            .set("fetch.wait.max.ms", "10")
            .set("fetch.max.bytes", "52428800")
            .set("max.partition.fetch.bytes", "10485760")
            // Cap librdkafka's prefetch so memory stays flat whatever the backlog.
            .set("queued.max.messages.kbytes", "32768");
        for (k, v) in &self.librdkafka {
            c.set(k, v);
        }
        c
    }
}

#[derive(Debug)]
enum GroupEvent {
    Assigned(Vec<(String, i32)>),
    Revoked(Vec<(String, i32)>),
}

/// Records rebalances; runs inside `recv()`, so events are drained in order before the next
/// message is handled.
struct GroupContext {
    events: Mutex<Vec<GroupEvent>>,
}

impl ClientContext for GroupContext {}

fn partitions(tpl: &TopicPartitionList) -> Vec<(String, i32)> {
    tpl.elements()
        .iter()
        .map(|e| (e.topic().to_string(), e.partition()))
        .collect()
}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, _c: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            self.events
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(GroupEvent::Revoked(partitions(tpl)));
        }
    }

    fn post_rebalance(&self, _c: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            self.events
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(GroupEvent::Assigned(partitions(tpl)));
        }
    }
}

struct Assigned {
    id: Arc<PartitionId>,
    epoch: Epoch,
    /// One past the last offset read under this epoch.
    read_end: Option<i64>,
    committed: Option<i64>,
}

struct Loop {
    consumer: StreamConsumer<GroupContext>,
    marks: Watermarks,
    parts: HashMap<(String, i32), Assigned>,
    next_epoch: Epoch,
    tx: mpsc::Sender<Flow>,
    max_record_bytes: usize,
}

impl Loop {
    async fn send(&self, flow: Flow) -> Result<(), IngestError> {
        self.tx
            .send(flow)
            .await
            .map_err(|_| IngestError::PipelineClosed)
    }

    async fn apply_group_events(&mut self) -> Result<(), IngestError> {
        let events = std::mem::take(
            &mut *self
                .consumer
                .context()
                .events
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        for event in events {
            match event {
                GroupEvent::Assigned(list) => {
                    for (topic, partition) in list {
                        self.next_epoch += 1;
                        let id = Arc::new(PartitionId {
                            source: topic.as_str().into(),
                            partition,
                        });
                        tracing::info!(partition = %id, epoch = self.next_epoch, "partition assigned");
                        self.marks.assign(id.clone(), self.next_epoch);
                        self.parts.insert(
                            (topic, partition),
                            Assigned {
                                id: id.clone(),
                                epoch: self.next_epoch,
                                read_end: None,
                                committed: None,
                            },
                        );
                        self.send(Flow::Assigned {
                            partition: id,
                            epoch: self.next_epoch,
                            replay: true,
                        })
                        .await?;
                    }
                }
                GroupEvent::Revoked(list) => {
                    for key in list {
                        if let Some(a) = self.parts.remove(&key) {
                            tracing::info!(partition = %a.id, "partition revoked");
                            self.marks.revoke(&a.id);
                            self.send(Flow::Revoked { partition: a.id }).await?;
                        }
                    }
                }
            }
        }
        metrics::gauge!(names::PARTITIONS_ASSIGNED).set(self.parts.len() as f64);
        Ok(())
    }

    async fn handle_message(
        &mut self,
        topic: String,
        partition: i32,
        offset: i64,
        ts: Option<i64>,
        key: Option<Bytes>,
        payload: Bytes,
    ) -> Result<(), IngestError> {
        let Some(a) = self.parts.get_mut(&(topic, partition)) else {
            // A message of a partition no longer assigned: it will be read again by its owner.
            return Ok(());
        };
        if a.read_end.is_none() {
            self.marks.begin(&a.id, a.epoch, offset);
        }
        a.read_end = Some(offset + 1);
        let mut records = Vec::with_capacity(1);
        parse_message(&payload, self.max_record_bytes, &mut records);
        metrics::counter!(names::RECORDS_RECEIVED, "source" => "kafka")
            .increment(records.len() as u64);
        let msg = Message {
            partition: a.id.clone(),
            epoch: a.epoch,
            offset,
            timestamp_ms: ts,
            key,
            records,
            routes: Vec::new(),
        };
        self.send(Flow::Message(msg)).await
    }

    fn handle_ack(&mut self, ack: &SegmentAck) {
        if let Some(w) = self.marks.ack(ack) {
            let key = (ack.partition.source.to_string(), ack.partition.partition);
            if let Some(a) = self.parts.get_mut(&key) {
                a.committed = Some(w);
                let mut tpl = TopicPartitionList::new();
                if tpl
                    .add_partition_offset(&key.0, key.1, Offset::Offset(w))
                    .is_ok()
                {
                    if let Err(e) = self.consumer.commit(&tpl, CommitMode::Async) {
                        tracing::warn!(partition = %a.id, offset = w, error = %e, "commit failed; will retry with the next acknowledgement");
                    }
                }
                let labels = [("topic", key.0.clone()), ("partition", key.1.to_string())];
                metrics::gauge!(names::COMMITTED_OFFSET, &labels).set(w as f64);
                metrics::gauge!(names::CONSUMER_LAG, &labels)
                    .set((a.read_end.unwrap_or(w) - w).max(0) as f64);
            }
        }
    }

    fn all_delivered(&self) -> bool {
        self.parts.values().all(|a| match a.read_end {
            None => true,
            Some(end) => self.marks.reached(&a.id, end),
        })
    }

    fn commit_sync(&self) {
        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), a) in &self.parts {
            if let Some(w) = self.marks.watermark(&a.id) {
                let _ = tpl.add_partition_offset(topic, *partition, Offset::Offset(w));
            }
        }
        if tpl.count() > 0 {
            if let Err(e) = self.consumer.commit(&tpl, CommitMode::Sync) {
                tracing::warn!(error = %e, "final commit failed");
            }
        }
    }
}

/// Runs the consumer until `shutdown` turns true, then cuts, drains (up to `grace`), commits.
pub async fn run_kafka_source(
    settings: KafkaSettings,
    tx: mpsc::Sender<Flow>,
    mut acks: mpsc::UnboundedReceiver<SegmentAck>,
    mut shutdown: watch::Receiver<bool>,
    grace: Duration,
) -> Result<(), IngestError> {
    let consumer: StreamConsumer<GroupContext> =
        settings.client_config().create_with_context(GroupContext {
            events: Mutex::new(Vec::new()),
        })?;
    let topics: Vec<&str> = settings.topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topics)?;
    let mut lp = Loop {
        consumer,
        marks: Watermarks::default(),
        parts: HashMap::new(),
        next_epoch: 0,
        tx,
        max_record_bytes: settings.max_record_bytes,
    };
    loop {
        lp.apply_group_events().await?;
        tokio::select! {
            biased;
            _ = shutdown.changed() => break,
            Some(ack) = acks.recv() => lp.handle_ack(&ack),
            m = lp.consumer.recv() => match m {
                Ok(m) => {
                    let (topic, partition, offset) = (m.topic().to_string(), m.partition(), m.offset());
                    let ts = m.timestamp().to_millis();
                    let key = m.key().map(Bytes::copy_from_slice);
                    let payload = Bytes::copy_from_slice(m.payload().unwrap_or_default());
                    drop(m);
                    lp.apply_group_events().await?;
                    lp.handle_message(topic, partition, offset, ts, key, payload).await?;
                }
                Err(e) => tracing::warn!(error = %e, "kafka consumer error"),
            },
        }
    }
    tracing::info!("shutting down: cutting open segments and draining");
    for a in lp.parts.values() {
        let _ = lp
            .tx
            .send(Flow::Cut {
                partition: a.id.clone(),
                epoch: a.epoch,
            })
            .await;
    }
    let deadline = tokio::time::Instant::now() + grace;
    while !lp.all_delivered() {
        match tokio::time::timeout_at(deadline, acks.recv()).await {
            Ok(Some(ack)) => lp.handle_ack(&ack),
            Ok(None) => break,
            Err(_) => {
                tracing::warn!("shutdown grace period over with segments still in flight; they will be replayed");
                break;
            }
        }
    }
    lp.commit_sync();
    Ok(())
}
