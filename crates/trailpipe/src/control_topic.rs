//! The group's control topic: what the CloudTrail API changed (trail logging, selectors, tags),
//! shared by every replica through Kafka, so a trail does the same whichever pod answered the
//! call. See [`crate::lifecycle`] for the records and the precedence over the file.
//!
//! Invariants:
//! - **Applied before routing.** [`ControlTopic::open`] reads the topic to the end it had when
//!   the replica started, before the first pipeline is built.
//! - **Durable before answered.** [`ControlTopic::publish`] returns once the broker acknowledged
//!   every record (idempotent producer, `acks=all`) *and* this replica's reader applied them,
//!   so the call's own answer and any later read on this replica see the change; the other
//!   replicas apply it as they read it, within their poll interval.
//! - **One order.** The topic has one partition: every replica applies the same records in the
//!   same order, and the last write of a field wins, as compaction keeps it.
//!
//! - **Insights for every history.** Records under `insight/<eventID>` are the Insights events
//!   the group's Insights leader wrote; every replica's reader appends them to its own event
//!   history (idempotent, so re-reading the topic at start is harmless), so `lookup-events
//!   --event-category insight` answers the same through any replica. They are not kept in
//!   memory: a failed append is retried from a bounded queue.
//!
//! The topic is created when missing (1 partition, `cleanup.policy=compact`, the broker's
//! replication factor); when it cannot be created, or exists but is not compacted, the daemon
//! refuses to start and says how to fix it.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use rdkafka::{
    admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication},
    consumer::{BaseConsumer, Consumer},
    producer::{FutureProducer, FutureRecord},
    Message, Offset, TopicPartitionList,
};
use tokio::sync::{mpsc, watch};
use trailpipe_config::KafkaSource;
use trailpipe_ingest::SecureContext;

use crate::lifecycle::{ControlRecord, TrailStates};

/// How long a call waits for its change to be durable and applied.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);
/// How long start-up waits for the broker (metadata, creation, reading to the end).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Records other than trail changes (shared keys), by key: `(offset, value)`.
type Extras = Arc<std::sync::Mutex<std::collections::BTreeMap<String, (i64, Vec<u8>)>>>;

/// Key prefix of Insights events published for every replica's history.
pub const INSIGHT_PREFIX: &str = "insight/";
/// Insights events waiting for a failed history append to succeed (beyond: dropped, loudly).
const MAX_PENDING_INSIGHTS: usize = 100_000;

/// Where the reader puts `insight/` records: the event history, through a queue that survives
/// failed appends.
#[derive(Clone, Default)]
struct InsightSink {
    history: Option<Arc<trailpipe_history::HistoryStore>>,
    pending: Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
}

impl InsightSink {
    fn push(&self, value: &[u8]) {
        if self.history.is_none() {
            return;
        }
        let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if p.len() >= MAX_PENDING_INSIGHTS {
            tracing::error!("event history unwritable: an Insights event from the control topic is dropped from this replica's history");
            return;
        }
        p.push(value.to_vec());
    }

    /// Appends what is queued; kept for the next call when the append fails.
    fn append(&self) {
        let Some(h) = &self.history else {
            return;
        };
        let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if p.is_empty() {
            return;
        }
        let refs: Vec<&[u8]> = p.iter().map(Vec::as_slice).collect();
        match h.append(&refs) {
            Ok(summary) => {
                metrics::counter!(trailpipe_telemetry::HISTORY_EVENTS_STORED)
                    .increment(summary.stored as u64);
                p.clear();
            }
            Err(e) => {
                metrics::counter!(trailpipe_telemetry::HISTORY_ERRORS).increment(1);
                tracing::warn!(error = %e, queued = p.len(), "Insights events from the control topic not stored in the history; retrying");
            }
        }
    }
}

/// The control topic: a producer for changes and a reader applying them to [`TrailStates`]
/// (records under `trail/`) or keeping them for [`ControlTopic::records`] (everything else:
/// `signing-key/…`, `file-mac-key/…`).
pub struct ControlTopic {
    name: String,
    extras: Extras,
    producer: FutureProducer<SecureContext>,
    /// Next offset the reader will apply (everything below it is applied).
    applied: watch::Receiver<i64>,
    stop: Arc<AtomicBool>,
}

impl Drop for ControlTopic {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl ControlTopic {
    /// Ensures the topic exists and is compacted, reads it to its current end into `states`
    /// (seeding an empty topic from the `trails.json` state `states` was opened with), and
    /// keeps applying what any replica publishes afterwards, sending `changed` after each
    /// record that changed a trail.
    pub async fn open(
        k: &KafkaSource,
        context: SecureContext,
        states: &TrailStates,
        changed: mpsc::UnboundedSender<()>,
        history: Option<Arc<trailpipe_history::HistoryStore>>,
    ) -> anyhow::Result<Arc<Self>> {
        let name = k.control_topic_name();
        ensure_topic(k, &name, context.clone()).await?;

        let mut c = trailpipe_ingest::producer_config(&k.brokers, &k.client_properties(), 1 << 20);
        c.set("enable.idempotence", "true")
            .set("linger.ms", "0")
            .set(
                "message.timeout.ms",
                PUBLISH_TIMEOUT.as_millis().to_string(),
            );
        let producer: FutureProducer<SecureContext> = c.create_with_context(SecureContext {
            role: "control topic producer",
            ..context.clone()
        })?;

        let mut settings = crate::kafka_check::settings(k, context.clone());
        settings.group_id = format!("{}.control-reader", k.group_id);
        let consumer: BaseConsumer<SecureContext> = settings
            .client_config()
            .set("enable.auto.commit", "false")
            .set("fetch.wait.max.ms", "10")
            .create_with_context(SecureContext {
                role: "control topic reader",
                ..context
            })?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&name, 0, Offset::Beginning)?;
        consumer.assign(&tpl)?;

        // Read to the end the topic has now, before anything is routed.
        let seed = states.all_records();
        states.clear();
        let extras = Extras::default();
        let insights = InsightSink {
            history,
            ..Default::default()
        };
        let (topic, st, ex, ins) = (
            name.clone(),
            states.clone(),
            extras.clone(),
            insights.clone(),
        );
        let (consumer, end, applied_records) =
            tokio::task::spawn_blocking(move || catch_up(consumer, &topic, &st, &ex, &ins))
                .await?
                .map_err(|e| anyhow::anyhow!("reading the control topic {name}: {e}"))?;
        tracing::info!(topic = %name, records = applied_records, end, "control topic applied");

        let (applied_tx, applied) = watch::channel(end);
        let stop = Arc::new(AtomicBool::new(false));
        let reader = Reader {
            consumer,
            states: states.clone(),
            extras: extras.clone(),
            insights,
            applied: applied_tx,
            changed,
            stop: stop.clone(),
            topic: name.clone(),
        };
        std::thread::Builder::new()
            .name("control-topic".into())
            .spawn(move || reader.run())?;
        let topic = Arc::new(Self {
            name: name.clone(),
            extras,
            producer,
            applied,
            stop,
        });
        if end == 0 && !seed.is_empty() {
            tracing::info!(topic = %name, records = seed.len(), "seeding the empty control topic from trails.json");
            topic
                .publish(seed)
                .await
                .map_err(|e| anyhow::anyhow!("seeding the control topic {name}: {e}"))?;
        }
        Ok(topic)
    }

    /// The topic's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Every record applied so far whose key starts with `prefix` (not `trail/`): `(key,
    /// offset, value)`, oldest first.
    pub fn records(&self, prefix: &str) -> Vec<(String, i64, Vec<u8>)> {
        let extras = self.extras.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<_> = extras
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, (o, v))| (k.clone(), *o, v.clone()))
            .collect();
        out.sort_by_key(|r| r.1);
        out
    }

    /// Publishes `records` and waits until the broker has them and this replica applied them.
    pub async fn publish(&self, records: Vec<ControlRecord>) -> Result<(), String> {
        let mut last = -1;
        for (key, value) in &records {
            let mut r = FutureRecord::<str, [u8]>::to(&self.name).key(key.as_str());
            if let Some(v) = value {
                r = r.payload(v.as_slice());
            }
            let delivery = self
                .producer
                .send(r, PUBLISH_TIMEOUT)
                .await
                .map_err(|(e, _)| format!("producing to the control topic {}: {e}", self.name))?;
            last = last.max(delivery.offset);
        }
        let mut applied = self.applied.clone();
        let outcome = tokio::time::timeout(PUBLISH_TIMEOUT, async {
            applied.wait_for(|&next| next > last).await.map(drop)
        })
        .await;
        match outcome {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(format!("the control topic {} reader stopped", self.name)),
            Err(_) => Err(format!(
                "the change is in the control topic {} (offset {last}) but was not read back within {PUBLISH_TIMEOUT:?}",
                self.name
            )),
        }
    }
}

/// Reads `topic` from its start to the high watermark it has now, applying every record;
/// returns the consumer, the end offset and how many records were read.
fn catch_up(
    consumer: BaseConsumer<SecureContext>,
    topic: &str,
    states: &TrailStates,
    extras: &Extras,
    insights: &InsightSink,
) -> Result<(BaseConsumer<SecureContext>, i64, usize), String> {
    let (_, high) = consumer
        .fetch_watermarks(topic, 0, START_TIMEOUT)
        .map_err(|e| e.to_string())?;
    let deadline = std::time::Instant::now() + START_TIMEOUT;
    let mut next = 0;
    let mut read = 0;
    while next < high {
        if std::time::Instant::now() > deadline {
            return Err(format!(
                "read to offset {next} of {high} within {START_TIMEOUT:?}"
            ));
        }
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                apply(states, extras, insights, topic, &m);
                next = m.offset() + 1;
                read += 1;
            }
            Some(Err(e)) => tracing::warn!(%topic, error = %e, "control topic read"),
            None => {
                // Compaction may have removed the records before the high watermark.
                if let Ok(Some(p)) = consumer.position().map(|tpl| {
                    tpl.find_partition(topic, 0)
                        .and_then(|p| p.offset().to_raw())
                }) {
                    next = next.max(p);
                }
            }
        }
    }
    Ok((consumer, high, read))
}

/// Applies one record; whether it changed a trail. Unreadable records are skipped, loudly:
/// they were not written by this version, and guessing could start or stop a trail.
fn apply(
    states: &TrailStates,
    extras: &Extras,
    insights: &InsightSink,
    topic: &str,
    m: &rdkafka::message::BorrowedMessage<'_>,
) -> bool {
    let key = m.key().map(String::from_utf8_lossy).unwrap_or_default();
    if key.starts_with(INSIGHT_PREFIX) {
        if let Some(v) = m.payload() {
            insights.push(v);
        }
        return false;
    }
    if !key.starts_with("trail/") {
        let mut extras = extras.lock().unwrap_or_else(|p| p.into_inner());
        match m.payload() {
            Some(v) => extras.insert(key.into_owned(), (m.offset(), v.to_vec())),
            None => extras.remove(key.as_ref()),
        };
        return false;
    }
    match states.apply_record(&key, m.payload()) {
        Ok(changed) => changed,
        Err(e) => {
            tracing::error!(%topic, offset = m.offset(), error = %e, "control record skipped");
            false
        }
    }
}

/// The reader thread: applies every record published after start-up.
struct Reader {
    consumer: BaseConsumer<SecureContext>,
    states: TrailStates,
    extras: Extras,
    insights: InsightSink,
    applied: watch::Sender<i64>,
    changed: mpsc::UnboundedSender<()>,
    stop: Arc<AtomicBool>,
    topic: String,
}

impl Reader {
    fn run(self) {
        while !self.stop.load(Ordering::Relaxed) {
            self.insights.append();
            match self.consumer.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => {
                    if apply(&self.states, &self.extras, &self.insights, &self.topic, &m) {
                        tracing::info!(topic = %self.topic, offset = m.offset(), key = %String::from_utf8_lossy(m.key().unwrap_or_default()), "trail change applied");
                        let _ = self.changed.send(());
                    }
                    let _ = self.applied.send(m.offset() + 1);
                }
                Some(Err(e)) => {
                    tracing::warn!(topic = %self.topic, error = %e, "control topic read")
                }
                None => {}
            }
        }
    }
}

/// Creates `name` (1 partition, compacted) when missing; refuses a topic that is not compacted.
async fn ensure_topic(k: &KafkaSource, name: &str, context: SecureContext) -> anyhow::Result<()> {
    let settings = crate::kafka_check::settings(k, context.clone());
    let admin: AdminClient<SecureContext> =
        settings
            .client_config()
            .create_with_context(SecureContext {
                role: "control topic admin",
                ..context
            })?;
    let opts = AdminOptions::new().operation_timeout(Some(START_TIMEOUT));
    let topic =
        NewTopic::new(name, 1, TopicReplication::Fixed(-1)).set("cleanup.policy", "compact");
    let how = format!(
        "create it yourself: one partition, cleanup.policy=compact (e.g. kafka-topics.sh --create --topic {name} --partitions 1 --config cleanup.policy=compact), or name another with source.control_topic"
    );
    match admin.create_topics([&topic], &opts).await {
        Ok(results) => {
            for r in results {
                match r {
                    Ok(_) => tracing::info!(topic = %name, "created the control topic"),
                    Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => {}
                    Err((_, code)) => anyhow::bail!(
                        "the control topic {name} (source.control_topic) does not exist and cannot be created ({code}): {how}"
                    ),
                }
            }
        }
        Err(e) => anyhow::bail!(
            "the control topic {name} (source.control_topic) cannot be created ({e}): {how}"
        ),
    }
    // An existing topic must be compacted, or retention deletes trail changes.
    if let Ok(described) = admin
        .describe_configs([&ResourceSpecifier::Topic(name)], &opts)
        .await
    {
        for r in described.into_iter().flatten() {
            if let Some(policy) = r.get("cleanup.policy").and_then(|e| e.value.clone()) {
                if !policy.split(',').any(|p| p.trim() == "compact") {
                    anyhow::bail!(
                        "the control topic {name} has cleanup.policy={policy}: trail changes would be deleted by retention; set cleanup.policy=compact on it, or name another with source.control_topic"
                    );
                }
            }
        }
    }
    Ok(())
}
