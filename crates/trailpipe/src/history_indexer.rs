//! The history indexer: with a Kafka source and `[history]`, each replica reads the **whole**
//! stream with a reader of its own, outside the consumer group, and stores every management
//! and Insights event in its own event history — so `LookupEvents` answers the same through
//! any replica, and a replica with an empty disk rebuilds the history from the topic.
//!
//! Invariants:
//! - **Outside the group, never committing.** The reader `assign`s every partition of every
//!   source topic (found from metadata at start and every [`DISCOVER_EVERY`]); it never
//!   subscribes and never commits (`group.id` `<group_id>.history` only names the client).
//! - **Progress lives with the events.** Where to resume is the store's own record: each batch
//!   is appended together with the next offset of every partition it covers in one atomic
//!   commit ([`HistoryStore::append_with_progress`]). A crash re-reads at most the batch that
//!   was not committed, and appends are idempotent (eventID, eventTime), so nothing is stored
//!   twice. Partitions without progress start at the beginning of what the topic retains.
//! - **The pipeline's records, the batcher's choice.** Messages are parsed with
//!   `trailpipe_event::parse_message` under the source's parse limits, so exactly the records
//!   the pipeline accepts are indexed; of those, the management and Insights categories are
//!   kept, as the batcher keeps them for the history on a file source.
//! - **Every offset in order.** Each message must be at its partition's expected offset
//!   ([`Cursor`], the same checks the group consumer makes): a jump is verified by seeking
//!   back before it is accepted, and a partition that reads nothing below the high watermark
//!   is sought back, because tansu 0.6 answers fetches from inside a record batch with the
//!   next batch or with nothing.
//! - **Bounded memory.** A batch holds at most [`MAX_BATCH_EVENTS`] events and about
//!   [`MAX_BATCH_BYTES`] of message bytes (plus one message), and is written within
//!   [`FLUSH_AFTER`]; librdkafka's prefetch is capped by `queued.max.messages.kbytes` as the
//!   group consumer's is. While an append fails (retried with backoff, counted in
//!   `trailpipe_history_errors_total`) nothing more is read; delivery is not held back, and
//!   the trails' status (`GetTrailStatus`, `/readyz`) does not show it: the history is not a
//!   trail's destination.
//! - **One at a time.** A process runs at most one indexer thread ([`RUNNING`]): a pipeline
//!   rebuilt for a reload starts a new one (with the new source settings), which reads the
//!   progress only once the old one has written its last batch and stopped.
//!
//! Cost: each replica reads and parses the whole topic once more than its share (see the
//! README's event history section). Insights events the replica's own detector writes go to
//! its history directly (`insights.rs`) and are still per replica.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use rdkafka::{
    consumer::{BaseConsumer, Consumer},
    Message as _, Offset, TopicPartitionList,
};
use trailpipe_config::KafkaSource;
use trailpipe_event::{parse_message, EventCategory, ParseLimits};
use trailpipe_history::{HistoryStore, PartitionProgress};
use trailpipe_ingest::SecureContext;
use trailpipe_telemetry as names;

use cursor::{Cursor, Verdict, SEEK_BACK_FIRST};

mod cursor;

/// Most events in one append (the delivery path's chunk size).
const MAX_BATCH_EVENTS: usize = 4096;
/// Message bytes a batch may hold before it is appended (events are slices of their messages).
const MAX_BATCH_BYTES: usize = 8 * 1024 * 1024;
/// Longest an indexed record waits in a batch.
const FLUSH_AFTER: Duration = Duration::from_millis(200);
/// How often partitions are looked up again (new partitions are indexed from their start).
const DISCOVER_EVERY: Duration = Duration::from_secs(30);
/// How often high watermarks are fetched: the lag gauge and stall checks.
const CHECK_EVERY: Duration = Duration::from_secs(2);
/// Broker round trips of the indexer (metadata, watermarks, seeks).
const BROKER_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait between retries of a failed append.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(10);

/// Held by the running indexer thread for its whole life (see the module invariants).
static RUNNING: Mutex<()> = Mutex::new(());

/// A running history indexer; stops (after appending what it has read) when dropped.
pub struct HistoryIndexer {
    stop: Arc<AtomicBool>,
}

impl Drop for HistoryIndexer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl HistoryIndexer {
    /// Creates the reader for `k`'s topics (its client properties and security `context`)
    /// and starts indexing into `store` on a thread of its own.
    pub fn start(
        k: &KafkaSource,
        context: SecureContext,
        store: Arc<HistoryStore>,
    ) -> anyhow::Result<Self> {
        let mut settings = crate::kafka_check::settings(k, context.clone());
        settings.group_id = format!("{}.history", k.group_id);
        // The group consumer's configuration (prefetch cap included) with the user's
        // overrides; never committing, and reading from the start where nothing is recorded.
        let consumer: BaseConsumer<SecureContext> = settings
            .client_config()
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .create_with_context(SecureContext {
                role: "history indexer",
                ..context
            })?;
        let stop = Arc::new(AtomicBool::new(false));
        let indexer = Indexer {
            consumer,
            topics: k.topics.clone(),
            limits: k.parse_limits(),
            store,
            stop: stop.clone(),
            parts: BTreeMap::new(),
            batch: Batch::default(),
            received: false,
            lagging: None,
        };
        std::thread::Builder::new()
            .name("history-indexer".into())
            .spawn(move || indexer.run())?;
        Ok(Self { stop })
    }
}

/// What the reader knows of one partition.
struct Part {
    cursor: Cursor,
    /// Next offset last written to the store (progress not yet written is in the batch).
    stored: Option<i64>,
}

/// Events read and not yet appended, with the progress they bring.
#[derive(Default)]
struct Batch {
    events: Vec<Bytes>,
    /// Bytes of the messages the events are slices of (what the batch keeps alive).
    bytes: usize,
    /// Next offset per partition read since the last append.
    progress: BTreeMap<(String, i32), i64>,
    /// When the oldest unwritten record was read.
    since: Option<Instant>,
}

struct Indexer {
    consumer: BaseConsumer<SecureContext>,
    topics: Vec<String>,
    limits: ParseLimits,
    store: Arc<HistoryStore>,
    stop: Arc<AtomicBool>,
    parts: BTreeMap<(String, i32), Part>,
    batch: Batch,
    /// Whether any message arrived since the last check.
    received: bool,
    /// Since when the indexer has been behind (from its start, then from any check that finds
    /// it lagging) and the events indexed then: for the log line when it catches up.
    lagging: Option<(Instant, u64)>,
}

impl Indexer {
    fn run(mut self) {
        let _one = RUNNING.lock().unwrap_or_else(|p| p.into_inner());
        let Some(recorded) = self.recorded_progress() else {
            return;
        };
        tracing::info!(
            topics = ?self.topics,
            partitions_recorded = recorded.len(),
            "history indexer started: indexing the whole stream into this replica's event history"
        );
        // Behind until a check finds no lag: a replica starting empty logs how long it took.
        self.lagging = Some((Instant::now(), 0));
        let (mut discovered, mut checked) = (None::<Instant>, Instant::now());
        let mut indexed_total = 0u64;
        while !self.stop.load(Ordering::Relaxed) {
            if discovered.is_none_or(|t| {
                t.elapsed() >= DISCOVER_EVERY
                    || (self.parts.is_empty() && t.elapsed() >= CHECK_EVERY)
            }) {
                self.discover(&recorded);
                discovered = Some(Instant::now());
            }
            let wait = self.batch.since.map_or(Duration::from_millis(100), |t| {
                FLUSH_AFTER
                    .saturating_sub(t.elapsed())
                    .min(Duration::from_millis(100))
            });
            if let Some(m) = self.consumer.poll(wait) {
                match m {
                    Ok(m) => {
                        self.received = true;
                        let payload = Bytes::copy_from_slice(m.payload().unwrap_or_default());
                        let (topic, partition, offset) =
                            (m.topic().to_string(), m.partition(), m.offset());
                        drop(m);
                        self.handle(topic, partition, offset, payload);
                    }
                    // Client-level errors are logged, counted and shown in /readyz by
                    // `SecureContext::error`.
                    Err(e) => tracing::debug!(error = %e, "history indexer read"),
                }
            }
            let b = &self.batch;
            if b.events.len() >= MAX_BATCH_EVENTS
                || b.bytes >= MAX_BATCH_BYTES
                || b.since.is_some_and(|t| t.elapsed() >= FLUSH_AFTER)
            {
                indexed_total += self.flush();
            }
            if checked.elapsed() >= CHECK_EVERY {
                self.check(indexed_total);
                checked = Instant::now();
            }
        }
        // What was read is appended before the next indexer (a reload) reads the progress.
        self.flush();
        tracing::info!("history indexer stopped");
    }

    /// The store's progress by partition, retried until it reads (`None`: stopped meanwhile).
    fn recorded_progress(&self) -> Option<HashMap<(String, i32), i64>> {
        let mut delay = Duration::from_millis(200);
        loop {
            match self.store.progress() {
                Ok(p) => {
                    return Some(
                        p.into_iter()
                            .map(|p| ((p.topic, p.partition), p.next_offset))
                            .collect(),
                    )
                }
                Err(e) => {
                    tracing::error!(error = %e, "reading the event history's progress failed; retrying")
                }
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(MAX_RETRY_DELAY);
            if self.stop.load(Ordering::Relaxed) {
                return None;
            }
        }
    }

    /// Assigns partitions not yet read: from their recorded progress (a little before it, to
    /// start on a record batch boundary; earlier offsets are skipped), else from the start.
    fn discover(&mut self, recorded: &HashMap<(String, i32), i64>) {
        let mut tpl = TopicPartitionList::new();
        for topic in &self.topics {
            let md = match self.consumer.fetch_metadata(Some(topic), BROKER_TIMEOUT) {
                Ok(md) => md,
                Err(e) => {
                    tracing::warn!(%topic, error = %e, "history indexer: no metadata; retrying later");
                    continue;
                }
            };
            let Some(t) = md.topics().iter().find(|t| t.name() == topic) else {
                continue;
            };
            for p in t.partitions() {
                let key = (topic.clone(), p.id());
                if self.parts.contains_key(&key) {
                    continue;
                }
                let low = self
                    .consumer
                    .fetch_watermarks(topic, p.id(), BROKER_TIMEOUT)
                    .ok()
                    .map(|(low, _)| low.max(0));
                let (start, expect) = match (recorded.get(&key).copied(), low) {
                    (Some(next), Some(low)) if next < low => {
                        tracing::warn!(%topic, partition = p.id(), next, low, "history indexer: records after the recorded progress were deleted by retention; continuing at the oldest one left");
                        (Offset::Offset(low), Some(low))
                    }
                    (Some(next), low) => (
                        Offset::Offset((next - SEEK_BACK_FIRST).max(low.unwrap_or(0))),
                        Some(next),
                    ),
                    (None, Some(low)) => (Offset::Offset(low), Some(low)),
                    // The first message read is trusted as the start.
                    (None, None) => (Offset::Beginning, None),
                };
                if let Err(e) = tpl.add_partition_offset(topic, p.id(), start) {
                    tracing::warn!(%topic, partition = p.id(), error = %e, "history indexer: bad start offset");
                    continue;
                }
                tracing::info!(%topic, partition = p.id(), ?start, ?expect, "history indexer: reading partition");
                self.parts.insert(
                    key.clone(),
                    Part {
                        cursor: Cursor::new(expect),
                        stored: recorded.get(&key).copied(),
                    },
                );
            }
        }
        if tpl.count() > 0 {
            if let Err(e) = self.consumer.incremental_assign(&tpl) {
                tracing::error!(error = %e, "history indexer: assigning partitions failed; retrying");
                for e in tpl.elements() {
                    self.parts.remove(&(e.topic().to_string(), e.partition()));
                }
            }
        }
    }

    fn handle(&mut self, topic: String, partition: i32, offset: i64, payload: Bytes) {
        let Some(part) = self.parts.get_mut(&(topic.clone(), partition)) else {
            return;
        };
        match part.cursor.on_message(offset) {
            Verdict::Skip => return,
            Verdict::SeekBack(target) => {
                tracing::info!(%topic, partition, expected = ?part.cursor.expect, offset, target, "history indexer: offsets missing before this message; seeking back to verify");
                self.seek(&topic, partition, target);
                return;
            }
            Verdict::Gap { expected } => {
                tracing::warn!(%topic, partition, expected, offset, "history indexer: offsets do not exist (compaction, transaction markers or retention); continuing");
            }
            Verdict::Accept => {}
        }
        let mut records = Vec::with_capacity(1);
        parse_message(&payload, &self.limits, &mut records);
        let before = self.batch.events.len();
        for r in records.into_iter().flatten() {
            if matches!(
                r.fields.event_category,
                EventCategory::Management | EventCategory::Insight
            ) {
                self.batch.events.push(r.raw);
            }
        }
        if self.batch.events.len() > before {
            self.batch.bytes += payload.len();
        }
        self.batch.progress.insert((topic, partition), offset + 1);
        self.batch.since.get_or_insert_with(Instant::now);
    }

    /// Appends the batch with its progress, retrying until it is durable; the events stored.
    fn flush(&mut self) -> u64 {
        if self.batch.progress.is_empty() {
            return 0;
        }
        let progress: Vec<PartitionProgress> = self
            .batch
            .progress
            .iter()
            .filter(|(k, next)| self.parts.get(*k).is_none_or(|p| p.stored != Some(**next)))
            .map(|((t, p), next)| PartitionProgress::new(t.as_str(), *p, *next))
            .collect();
        let events: Vec<&[u8]> = self.batch.events.iter().map(|b| &b[..]).collect();
        let mut delay = Duration::from_millis(100);
        let summary = loop {
            match self.store.append_with_progress(&events, &progress) {
                Ok(s) => break s,
                Err(e) => {
                    metrics::counter!(names::HISTORY_ERRORS).increment(1);
                    tracing::warn!(error = %e, "history indexer: append failed; retrying (nothing more is read meanwhile)");
                }
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(MAX_RETRY_DELAY);
            if self.stop.load(Ordering::Relaxed) {
                // Not recorded: the next indexer reads these records again.
                drop(events);
                self.batch = Batch::default();
                return 0;
            }
        };
        drop(events);
        for p in progress {
            if let Some(part) = self.parts.get_mut(&(p.topic, p.partition)) {
                part.stored = Some(p.next_offset);
            }
        }
        let stored = summary.stored as u64;
        metrics::counter!(names::HISTORY_EVENTS_STORED).increment(stored);
        metrics::counter!(names::HISTORY_INDEXED_EVENTS).increment(stored);
        self.batch = Batch::default();
        stored
    }

    /// Fetches every partition's high watermark: sets the lag gauge and seeks back partitions
    /// that read nothing below it (see [`Cursor::on_check`]).
    fn check(&mut self, indexed_total: u64) {
        let consumer_idle = !std::mem::take(&mut self.received);
        let mut lag = 0i64;
        let mut reachable = true;
        let mut seeks = Vec::new();
        for ((topic, partition), part) in &mut self.parts {
            // One unreachable broker costs one timeout per check, not one per partition.
            let high = if reachable {
                match self
                    .consumer
                    .fetch_watermarks(topic, *partition, BROKER_TIMEOUT)
                {
                    Ok((_, high)) => Some(high),
                    Err(_) => {
                        reachable = false;
                        None
                    }
                }
            } else {
                None
            };
            // `expect` is one past the last record read (in the batch or already stored).
            if let (Some(high), Some(next)) = (high, part.cursor.expect) {
                lag += (high - next).max(0);
            }
            if let Some(target) = part.cursor.on_check(high, consumer_idle) {
                seeks.push((topic.clone(), *partition, target, high));
            }
        }
        for (topic, partition, target, high) in seeks {
            tracing::info!(%topic, partition, ?high, target, "history indexer: nothing read below the high watermark; seeking back to re-read");
            self.seek(&topic, partition, target);
        }
        if reachable {
            metrics::gauge!(names::HISTORY_INDEXER_LAG).set(lag as f64);
            match (lag > 0, self.lagging) {
                (true, None) => self.lagging = Some((Instant::now(), indexed_total)),
                (false, Some((since, at))) => {
                    let secs = since.elapsed().as_secs_f64();
                    let events = indexed_total - at;
                    tracing::info!(
                        events,
                        seconds = format!("{secs:.1}"),
                        events_per_sec = (events as f64 / secs.max(0.001)) as u64,
                        "history indexer caught up with the source"
                    );
                    self.lagging = None;
                }
                _ => {}
            }
        }
    }

    fn seek(&self, topic: &str, partition: i32, target: i64) {
        if let Err(e) = self
            .consumer
            .seek(topic, partition, Offset::Offset(target), BROKER_TIMEOUT)
        {
            tracing::warn!(%topic, partition, target, error = %e, "history indexer: corrective seek failed");
        }
    }
}
