//! The Kafka source: one consumer-group poll loop.
//!
//! Invariants:
//! - auto-commit and auto offset store are off; every commit (on an acknowledgement, the
//!   periodic re-commit, a revoke, the shutdown) reads the partition's [`Watermarks`] value —
//!   the end of the acknowledged contiguous segments — and nothing else records an offset to
//!   commit;
//! - each assignment of a partition gets a fresh epoch, announced downstream
//!   (`Flow::Assigned { replay: true }`) before any of its messages, so the batcher recovers cut
//!   points of segments an earlier owner may already have delivered; acknowledgements from a
//!   revoked epoch are ignored;
//! - every accepted message is at its expected offset: the committed offset fetched at
//!   assignment (or a rewind's start) for the first, the previous one plus one after that. An
//!   earlier offset (queued before a seek) is skipped; a later one is verified by seeking back
//!   before it is accepted as a real gap (see `handle_message`), so a broker that drops records
//!   from a fetch cannot make the watermark pass them;
//! - a partition that stays below its high watermark with nothing returned for
//!   [`STALL_TICKS`] checks while the whole consumer reads nothing (or for [`STARVED_TICKS`]
//!   checks in any case) is sought back the same way: the broker above can also answer a fetch
//!   from inside the *last* record batch with nothing, which would stall the tail of a
//!   partition until new records arrive. While other partitions are read, a partition can go
//!   seconds without records simply because librdkafka's capped prefetch queue is full of
//!   theirs (seen in a 1M-record backlog), which is not a stall;
//! - owned partitions' watermarks are committed again every [`RECOMMIT_EVERY`] checks, so a
//!   commit that failed (or that another member overwrote during a rebalance) is repaired
//!   even when no further acknowledgement comes; re-committing a watermark is always safe;
//! - a [`Feedback::Rewind`] re-reads a partition from the conflicting segment's start under a
//!   new epoch in replay mode (seek, `Revoked`, then `Assigned { replay: true }` downstream);
//! - on shutdown the loop stops reading, asks for every open segment to be cut, and commits what
//!   was acknowledged before the grace period ends.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use rdkafka::{
    config::ClientConfig,
    consumer::{CommitMode, Consumer, StreamConsumer},
    message::Message as _,
    Offset, TopicPartitionList,
};
use tokio::sync::{mpsc, watch};
use trailpipe_event::{
    parse_message, Epoch, Feedback, Flow, MemoryBudget, Message, ParseLimits, PartitionId,
    SegmentAck,
};
use trailpipe_telemetry as names;

mod group;

use group::{marks, GroupContext, GroupEvent};

use crate::{
    client::SecureContext,
    cursor::{Check, PartitionCursor, StallChecks, Verdict},
    IngestError, Watermarks,
};

/// What the Kafka source needs from the configuration.
#[derive(Clone)]
pub struct KafkaSettings {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// Topics to subscribe to.
    pub topics: Vec<String>,
    /// Consumer group.
    pub group_id: String,
    /// What a message may be before it is parsed (and its records).
    pub limits: ParseLimits,
    /// The user's librdkafka properties, typed security settings included (override the
    /// defaults below). Secrets are in clear here: `Debug` prints the keys only.
    pub properties: Vec<(String, String)>,
    /// Answers OAUTHBEARER refreshes (MSK IAM) and records client errors for `/readyz`.
    pub context: SecureContext,
    /// Kept up to date with the partitions the group assigned to this consumer (revoked ones
    /// leave before their revocation completes), for stages that elect a writer by ownership.
    pub assignment: Option<watch::Sender<BTreeSet<(String, i32)>>>,
}

impl std::fmt::Debug for KafkaSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSettings")
            .field("brokers", &self.brokers)
            .field("topics", &self.topics)
            .field("group_id", &self.group_id)
            .field("limits", &self.limits)
            .field(
                "properties",
                &self.properties.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("msk_iam", &self.context.msk.is_some())
            .finish()
    }
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
            .set("queued.max.messages.kbytes", "32768")
            // When a partition is due for a fetch while the prefetch queue is over that cap
            // (one response of 4 partitions x 10 MB already overshoots it), librdkafka postpones
            // the partition's next fetch by this long — 1 s by default, during which the queue
            // drains and the pipeline idles (measured: ~1/3 of a bench run waiting, 32k instead
            // of 48k records/s). Re-checking after a short wait keeps the queue topped up at
            // the same memory bound, for one cheap check per partition every few ms.
            .set("fetch.queue.backoff.ms", "10")
            // Feeds `KafkaHealth`: a broker seen UP clears an authentication or TLS error.
            .set("statistics.interval.ms", crate::client::STATS_INTERVAL_MS);
        for (k, v) in &self.properties {
            c.set(k, v);
        }
        c
    }
}

/// How often the loop checks for stalled partitions (and counts towards a re-commit).
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// Checks between re-commits of every owned partition's watermark.
const RECOMMIT_EVERY: u32 = 5;

struct Assigned {
    id: Arc<PartitionId>,
    epoch: Epoch,
    /// Offset continuity: where the next message must be (from the committed offset or a
    /// rewind point), and the corrective seeks that verify jumps and stalls.
    cursor: PartitionCursor,
    /// One past the last offset read under this epoch.
    read_end: Option<i64>,
}

/// A request to bring every record read so far to delivery, then run `then` before reading on
/// (see [`run_kafka_source`]): how a change of the trails' routing applies in place, without
/// leaving the consumer group.
pub struct Barrier {
    /// Runs once every record read before it is delivered and committed, before the next is
    /// read (e.g. swaps the router's selectors).
    pub then: Box<dyn FnOnce() + Send + Sync>,
}

struct Loop {
    /// Whether a message (of any partition) arrived since the last periodic check.
    received: bool,
    /// Barriers waiting for every read record to be delivered; while any waits, every
    /// assigned partition is paused.
    barriers: Vec<Barrier>,
    consumer: StreamConsumer<GroupContext>,
    parts: HashMap<(String, i32), Assigned>,
    next_epoch: Epoch,
    tx: mpsc::Sender<Flow>,
    limits: ParseLimits,
    budget: MemoryBudget,
    /// `trailpipe_records_received_total{source="kafka"}`, resolved once (not per message).
    records_received: metrics::Counter,
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
        if events.is_empty() {
            // The common case, checked twice per message: no gauge update needed.
            return Ok(());
        }
        for event in events {
            match event {
                GroupEvent::Assigned(list) => {
                    let committed = self.committed(&list);
                    for (topic, partition) in list {
                        self.next_epoch += 1;
                        let expect = committed.get(&(topic.clone(), partition)).copied();
                        let id = Arc::new(PartitionId {
                            source: topic.as_str().into(),
                            partition,
                        });
                        tracing::info!(partition = %id, epoch = self.next_epoch, ?expect, "partition assigned");
                        marks(&self.consumer).assign(id.clone(), self.next_epoch);
                        self.parts.insert(
                            (topic, partition),
                            Assigned {
                                id: id.clone(),
                                epoch: self.next_epoch,
                                cursor: PartitionCursor::new(expect, StallChecks::GROUP),
                                read_end: None,
                            },
                        );
                        self.send(Flow::Assigned {
                            partition: id,
                            epoch: self.next_epoch,
                            replay: true,
                        })
                        .await?;
                    }
                    if !self.barriers.is_empty() {
                        // Nothing of a partition assigned during a barrier may be read before it.
                        self.pause_all();
                    }
                }
                GroupEvent::Revoked(list) => {
                    for key in list {
                        if let Some(a) = self.parts.remove(&key) {
                            tracing::info!(partition = %a.id, "partition revoked");
                            marks(&self.consumer).revoke(&a.id);
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
        // Re-reads after a corrective seek (or queued before a rewind's seek) are skipped;
        // a jump is verified by seeking back before it is believed (see `crate::cursor`).
        let expected = a.cursor.expect();
        match a.cursor.on_message(offset) {
            Verdict::Accept => {}
            Verdict::Skip => return Ok(()),
            Verdict::SeekBack(target) => {
                seek(&self.consumer, &a.id, target);
                tracing::info!(partition = %a.id, ?expected, offset, target, "offsets missing before this message; seeking back to verify");
                return Ok(());
            }
            Verdict::Gap { expected } => {
                metrics::counter!(names::OFFSET_GAPS).increment(1);
                tracing::warn!(partition = %a.id, expected, offset, "offsets do not exist (compaction, transaction markers or retention); continuing");
            }
        }
        if a.read_end.is_none() {
            tracing::info!(partition = %a.id, epoch = a.epoch, offset, "first message of this assignment");
            marks(&self.consumer).begin(&a.id, a.epoch, offset);
        }
        a.read_end = Some(offset + 1);
        let mut records = Vec::with_capacity(1);
        parse_message(&payload, &self.limits, &mut records);
        self.records_received.increment(records.len() as u64);
        let partition = a.id.clone();
        let epoch = a.epoch;
        // Waits while the pipeline holds its whole budget (the broker keeps the rest).
        let held = self
            .budget
            .hold(MemoryBudget::cost(payload.len(), records.len()))
            .await;
        let msg = Message {
            partition,
            epoch,
            offset,
            timestamp_ms: ts,
            key,
            read_at: std::time::Instant::now(),
            records,
            routes: Vec::new(),
            held,
        };
        self.send(Flow::Message(msg)).await
    }

    /// The group's committed offsets for newly assigned partitions (absent: none committed, or
    /// the broker did not answer — then the first message read is trusted as the resume point).
    fn committed(&self, list: &[(String, i32)]) -> HashMap<(String, i32), i64> {
        let mut tpl = TopicPartitionList::new();
        for (t, p) in list {
            tpl.add_partition(t, *p);
        }
        match self
            .consumer
            .committed_offsets(tpl, Duration::from_secs(10))
        {
            Ok(got) => got
                .elements()
                .iter()
                .filter_map(|e| match e.offset() {
                    Offset::Offset(o) => Some(((e.topic().to_string(), e.partition()), o)),
                    _ => None,
                })
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "could not fetch committed offsets of new partitions");
                HashMap::new()
            }
        }
    }

    /// One periodic check: seeks back partitions that read nothing for [`STALL_TICKS`] checks
    /// (while the consumer read nothing since the last check; [`STARVED_TICKS`] otherwise) and
    /// whose broker holds records past the expected offset, and every [`RECOMMIT_EVERY`] checks
    /// commits the watermarks of owned partitions again.
    fn check(&mut self, n: u32) {
        // Between two checks the loop was either waiting for messages or handling one it
        // received (a full pipeline blocks it inside that handling), so "nothing received"
        // means the consumer really had nothing to hand out.
        let consumer_idle = !std::mem::take(&mut self.received);
        let marks = marks(&self.consumer);
        for a in self.parts.values_mut() {
            let high = cached_high_watermark(&self.consumer, &a.id);
            report_lag(a, marks.watermark(&a.id), high);
            let expected = a.cursor.expect();
            match a.cursor.on_check(high, consumer_idle) {
                Check::Wait => {}
                Check::Quiet => {
                    tracing::info!(partition = %a.id, ?expected, high_watermark = ?high, "no records between the expected offset and the high watermark (transaction markers or compaction)");
                }
                Check::Seek(target) => {
                    seek(&self.consumer, &a.id, target);
                    metrics::counter!(names::FETCH_STALLS).increment(1);
                    tracing::info!(partition = %a.id, ?expected, high_watermark = ?high, target, "nothing read below the high watermark; seeking back to re-read");
                }
            }
        }
        drop(marks);
        if n.is_multiple_of(RECOMMIT_EVERY) {
            let tpl = self.watermarks();
            if tpl.count() > 0 {
                if let Err(e) = self.consumer.commit(&tpl, CommitMode::Async) {
                    tracing::warn!(error = %e, "periodic re-commit failed; will retry");
                }
            }
        }
    }

    async fn handle_feedback(&mut self, f: Feedback) -> Result<(), IngestError> {
        match f {
            Feedback::Delivered(ack) => {
                self.handle_ack(&ack);
                Ok(())
            }
            Feedback::Rewind {
                partition,
                epoch,
                start,
            } => self.rewind(&partition, epoch, start).await,
        }
    }

    /// Re-reads `partition` from `start` under a new epoch in replay mode.
    async fn rewind(
        &mut self,
        partition: &Arc<PartitionId>,
        epoch: Epoch,
        start: i64,
    ) -> Result<(), IngestError> {
        let key = (partition.source.to_string(), partition.partition);
        let Some(a) = self.parts.get_mut(&key) else {
            return Ok(());
        };
        if a.epoch != epoch {
            return Ok(());
        }
        if let Err(e) = self.consumer.seek(
            &key.0,
            key.1,
            Offset::Offset(start),
            Duration::from_secs(10),
        ) {
            // Without the seek the partition cannot be re-read in this process: give it up
            // uncommitted past `start`; the watermark stays at `start` until a restart.
            tracing::error!(partition = %a.id, start, error = %e, "rewind seek failed");
            return Ok(());
        }
        self.next_epoch += 1;
        a.epoch = self.next_epoch;
        a.cursor.restart(start);
        a.read_end = None;
        let id = a.id.clone();
        tracing::warn!(partition = %id, start, epoch = self.next_epoch, "rewinding partition");
        marks(&self.consumer).assign(id.clone(), self.next_epoch);
        self.send(Flow::Revoked {
            partition: id.clone(),
        })
        .await?;
        self.send(Flow::Assigned {
            partition: id,
            epoch: self.next_epoch,
            replay: true,
        })
        .await
    }

    fn handle_ack(&mut self, ack: &SegmentAck) {
        let advanced = marks(&self.consumer).ack(ack);
        if let Some(w) = advanced {
            let key = (ack.partition.source.to_string(), ack.partition.partition);
            if let Some(a) = self.parts.get(&key) {
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
                let high = cached_high_watermark(&self.consumer, &a.id);
                report_lag(a, Some(w), high);
            }
        }
    }

    /// Starts `b`: pauses every partition and cuts every open segment; completes at once when
    /// nothing is in flight.
    async fn begin_barrier(&mut self, b: Barrier) -> Result<(), IngestError> {
        self.barriers.push(b);
        if self.barriers.len() == 1 {
            self.pause_all();
            for a in self.parts.values() {
                self.send(Flow::Cut {
                    partition: a.id.clone(),
                    epoch: a.epoch,
                })
                .await?;
            }
        }
        self.finish_barriers();
        Ok(())
    }

    /// Completes the waiting barriers once every read record is delivered: commits, runs
    /// their `then`s in order, and resumes reading.
    fn finish_barriers(&mut self) {
        if self.barriers.is_empty() || !self.all_delivered() {
            return;
        }
        self.commit_sync();
        for b in self.barriers.drain(..) {
            (b.then)();
        }
        if let Ok(tpl) = self.consumer.assignment() {
            if let Err(e) = self.consumer.resume(&tpl) {
                tracing::error!(error = %e, "resuming the partitions after a barrier failed");
            }
        }
    }

    fn pause_all(&self) {
        if let Ok(tpl) = self.consumer.assignment() {
            if let Err(e) = self.consumer.pause(&tpl) {
                // Liveness only: records read while "paused" are delivered before the barrier
                // completes like any other.
                tracing::warn!(error = %e, "pausing the partitions for a barrier failed");
            }
        }
    }

    fn all_delivered(&self) -> bool {
        let marks = marks(&self.consumer);
        self.parts.values().all(|a| match a.read_end {
            None => true,
            Some(end) => marks.reached(&a.id, end),
        })
    }

    /// Every owned partition's watermark, as a commit request.
    fn watermarks(&self) -> TopicPartitionList {
        let marks = marks(&self.consumer);
        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), a) in &self.parts {
            if let Some(w) = marks.watermark(&a.id) {
                let _ = tpl.add_partition_offset(topic, *partition, Offset::Offset(w));
            }
        }
        tpl
    }

    fn commit_sync(&self) {
        let tpl = self.watermarks();
        if tpl.count() > 0 {
            if let Err(e) = self.consumer.commit(&tpl, CommitMode::Sync) {
                tracing::warn!(error = %e, "final commit failed");
            }
        }
    }
}

/// Executes a corrective seek the partition's cursor decided on.
fn seek(consumer: &StreamConsumer<GroupContext>, id: &PartitionId, target: i64) {
    if let Err(err) = consumer.seek(
        &id.source,
        id.partition,
        Offset::Offset(target),
        Duration::from_secs(10),
    ) {
        tracing::warn!(partition = %id, error = %err, "corrective seek failed");
    }
}

/// Sets the partition's lag: records up to the broker's high watermark (as of the last fetch,
/// else what was read) not yet committed, so a consumer that reads nothing still shows the
/// backlog growing.
fn report_lag(a: &Assigned, committable: Option<i64>, high: Option<i64>) {
    let Some(base) = committable.or(a.cursor.expect()) else {
        return;
    };
    let Some(top) = high.or(a.read_end) else {
        return;
    };
    let labels = [
        ("topic", a.id.source.to_string()),
        ("partition", a.id.partition.to_string()),
    ];
    metrics::gauge!(names::CONSUMER_LAG, &labels).set((top - base).max(0) as f64);
}

/// The partition's high watermark as of librdkafka's last fetch response (no request is made);
/// `None` when librdkafka has none yet.
fn cached_high_watermark(consumer: &StreamConsumer<GroupContext>, p: &PartitionId) -> Option<i64> {
    let topic = std::ffi::CString::new(&*p.source).ok()?;
    let (mut low, mut high) = (-1i64, -1i64);
    // SAFETY: the handle is the live consumer's (borrowed for the call), `topic` is a
    // NUL-terminated string that outlives the call, and `low`/`high` are valid for writes.
    // rd_kafka_get_watermark_offsets only reads librdkafka's cached partition state under its
    // own lock. rust-rdkafka 0.39 wraps only the querying variant (`fetch_watermarks`, a
    // broker round trip per call), which the periodic check should not pay per partition.
    let err = unsafe {
        rdkafka::bindings::rd_kafka_get_watermark_offsets(
            consumer.client().native_ptr(),
            topic.as_ptr(),
            p.partition,
            &mut low,
            &mut high,
        )
    };
    (err == rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0)
        .then_some(high)
}

/// Runs the consumer until `shutdown` turns true, then cuts, drains (up to `grace`), commits.
/// Each message takes its share of `budget` before it is passed on (see `MemoryBudget`).
///
/// A [`Barrier`] from `barriers` pauses every partition, cuts every open segment, and once
/// every record read so far is delivered and committed runs its `then` and resumes: records
/// read before it and after it never share a segment, and nothing read after it is seen by
/// the stages before `then` ran.
pub async fn run_kafka_source(
    settings: KafkaSettings,
    budget: MemoryBudget,
    tx: mpsc::Sender<Flow>,
    mut acks: mpsc::UnboundedReceiver<Feedback>,
    mut barriers: mpsc::UnboundedReceiver<Barrier>,
    mut shutdown: watch::Receiver<bool>,
    grace: Duration,
) -> Result<(), IngestError> {
    let consumer: StreamConsumer<GroupContext> =
        settings.client_config().create_with_context(GroupContext {
            events: Mutex::new(Vec::new()),
            marks: Mutex::new(Watermarks::default()),
            client: settings.context.clone(),
            assignment: settings.assignment.clone(),
        })?;
    let topics: Vec<&str> = settings.topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topics)?;
    let mut lp = Loop {
        received: false,
        barriers: Vec::new(),
        consumer,
        parts: HashMap::new(),
        next_epoch: 0,
        tx,
        limits: settings.limits,
        budget,
        records_received: metrics::counter!(names::RECORDS_RECEIVED, "source" => "kafka"),
    };
    let mut checks = tokio::time::interval(CHECK_EVERY);
    checks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n: u32 = 0;
    loop {
        lp.apply_group_events().await?;
        lp.finish_barriers();
        tokio::select! {
            biased;
            _ = shutdown.changed() => break,
            Some(f) = acks.recv() => {
                lp.handle_feedback(f).await?;
                lp.finish_barriers();
            }
            Some(b) = barriers.recv() => lp.begin_barrier(b).await?,
            _ = checks.tick() => {
                n = n.wrapping_add(1);
                lp.check(n);
            }
            m = lp.consumer.recv() => match m {
                Ok(m) => {
                    lp.received = true;
                    let (topic, partition, offset) = (m.topic().to_string(), m.partition(), m.offset());
                    let ts = m.timestamp().to_millis();
                    let key = m.key().map(Bytes::copy_from_slice);
                    let payload = Bytes::copy_from_slice(m.payload().unwrap_or_default());
                    drop(m);
                    lp.apply_group_events().await?;
                    lp.handle_message(topic, partition, offset, ts, key, payload).await?;
                }
                // Client-level errors are already logged, counted and recorded for /readyz
                // by `SecureContext::error`.
                Err(e @ rdkafka::error::KafkaError::Global(_)) => {
                    tracing::debug!(error = %e, "kafka consumer error")
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
            Ok(Some(Feedback::Delivered(ack))) => lp.handle_ack(&ack),
            Ok(Some(Feedback::Rewind {
                partition, start, ..
            })) => {
                tracing::warn!(%partition, start, "segment conflicts during shutdown; the next run replays it");
                if let Some(a) = lp.parts.values_mut().find(|a| a.id == partition) {
                    a.read_end = None;
                }
            }
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
