//! A reader of the **whole** stream outside the consumer group, for what every replica (or the
//! Insights leader) must see of every partition, not just its share: the event history
//! (the binary's `history_indexer`) and Insights (its `insights_reader`). What is done with the records is a
//! [`Feed`]; reading them in order is this module's.
//!
//! Invariants:
//! - **Outside the group, never committing.** The reader `assign`s every partition of every
//!   source topic (found from metadata at start and every [`DISCOVER_EVERY`]); it never
//!   subscribes and never commits (its `group.id` only names the client).
//! - **Progress lives with the feed.** Where to resume is the feed's own record
//!   ([`Feed::recorded`]), made durable with what it covers ([`Feed::flush`] gets the next
//!   offset of every partition the flushed records came from). Partitions without progress
//!   start at the beginning of what the topic retains.
//! - **The pipeline's records.** Messages are parsed with `trailpipe_event::parse_message`
//!   under the source's parse limits, so exactly the records the pipeline accepts are fed.
//! - **Every offset in order.** Each message must be at its partition's expected offset
//!   ([`PartitionCursor`], the same type the group consumer decides with): a jump is verified by seeking
//!   back before it is accepted, and a partition that reads nothing below the high watermark
//!   is sought back, because tansu 0.6 answers fetches from inside a record batch with the
//!   next batch or with nothing.
//! - **Bounded.** The feed says when it holds enough ([`Feed::full`]); it is flushed then and
//!   at least every [`FLUSH_AFTER`]; librdkafka's prefetch is capped by
//!   `queued.max.messages.kbytes` as the group consumer's is. While a flush fails (retried with
//!   backoff) nothing more is read.
//! - **One at a time.** A process runs at most one reader per feed kind
//!   ([`Feed::one_at_a_time`]): a reader started for a rebuilt pipeline reads the progress only
//!   once the old one has flushed and stopped.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
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
use trailpipe_event::{parse_message, ParseLimits, Parsed, PartitionProgress};

use crate::{
    Check, KafkaSettings, PartitionCursor, SecureContext, StallChecks, Verdict, SEEK_BACK_FIRST,
};

/// Longest a record waits in a feed before it is flushed.
pub const FLUSH_AFTER: Duration = Duration::from_millis(200);
/// How often partitions are looked up again (new partitions are read from their start).
const DISCOVER_EVERY: Duration = Duration::from_secs(30);
/// How often high watermarks are fetched: the lag and stall checks.
const CHECK_EVERY: Duration = Duration::from_secs(2);
/// Broker round trips of the reader (metadata, watermarks, seeks).
const BROKER_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait between retries of a failed flush or progress read.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(10);

/// What a whole-stream reader does with the records it reads, in each partition's order.
pub trait Feed: Send + 'static {
    /// Names the reader in logs, its thread and its client (`<group_id>.<name>`).
    const NAME: &'static str;
    /// Held by the running reader of this kind for its whole life.
    fn one_at_a_time() -> &'static Mutex<()>;
    /// A partition is about to be read (called for each, before any of its messages).
    fn assigned(&mut self, _topic: &str, _partition: i32) {}
    /// Where each partition resumes: the next offset not yet fed durably.
    fn recorded(&mut self) -> anyhow::Result<HashMap<(String, i32), i64>>;
    /// One message at its expected offset, parsed (`payload` is what the records slice).
    fn take(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        payload: &Bytes,
        records: Vec<Parsed>,
    );
    /// Whether what was taken should be flushed now, before the next message.
    fn full(&self) -> bool;
    /// Makes what was taken durable together with `progress` (the next offset of every
    /// partition read since the last flush, where it changed); the number of records flushed.
    fn flush(&mut self, progress: &[PartitionProgress]) -> anyhow::Result<u64>;
    /// Forgets what was taken and not flushed (the reader stops; the next one re-reads it).
    fn discard(&mut self);
    /// At each check: the records behind the high watermarks in all, and per partition whose
    /// high watermark could be read.
    fn lag(&mut self, _total: i64, _by_partition: &BTreeMap<(String, i32), i64>) {}
    /// Partitions not to fetch for now (the feed holds enough of theirs); checked every
    /// [`PAUSE_EVERY`].
    fn wants_paused(&self) -> HashSet<(String, i32)> {
        HashSet::new()
    }
}

/// How often the feed's wish of paused partitions is applied.
const PAUSE_EVERY: Duration = Duration::from_millis(100);

/// A running whole-stream reader; stops (after flushing what it has read) when dropped.
pub struct StreamReader {
    stop: Arc<AtomicBool>,
}

impl Drop for StreamReader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl StreamReader {
    /// Creates the reader for the topics of `settings` (the group consumer's: client
    /// properties, security context, parse limits; its client is named `<group_id>.<NAME>`) and
    /// feeds `feed` on a thread of its own.
    pub fn start<F: Feed>(mut settings: KafkaSettings, feed: F) -> anyhow::Result<Self> {
        let context = settings.context.clone();
        settings.group_id = format!("{}.{}", settings.group_id, F::NAME);
        // The group consumer's configuration (prefetch cap included) with the user's
        // overrides; never committing, and reading from the start where nothing is recorded.
        let consumer: BaseConsumer<SecureContext> = settings
            .client_config()
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .create_with_context(SecureContext {
                role: F::NAME,
                ..context
            })?;
        let stop = Arc::new(AtomicBool::new(false));
        let reader = Reader {
            consumer,
            topics: settings.topics.clone(),
            limits: settings.limits,
            feed,
            stop: stop.clone(),
            parts: BTreeMap::new(),
            progress: BTreeMap::new(),
            since: None,
            received: false,
            lagging: None,
            paused: HashSet::new(),
        };
        std::thread::Builder::new()
            .name(F::NAME.into())
            .spawn(move || reader.run())?;
        Ok(Self { stop })
    }
}

/// What the reader knows of one partition.
struct Part {
    cursor: PartitionCursor,
    /// Next offset last flushed (progress not yet flushed is in `Reader::progress`).
    stored: Option<i64>,
}

struct Reader<F> {
    consumer: BaseConsumer<SecureContext>,
    topics: Vec<String>,
    limits: ParseLimits,
    feed: F,
    stop: Arc<AtomicBool>,
    parts: BTreeMap<(String, i32), Part>,
    /// Next offset per partition read since the last flush.
    progress: BTreeMap<(String, i32), i64>,
    /// When the oldest unflushed message was read.
    since: Option<Instant>,
    /// Whether any message arrived since the last check.
    received: bool,
    /// Since when the reader has been behind (from its start, then from any check that finds
    /// it lagging) and the records flushed then: for the log line when it catches up.
    lagging: Option<(Instant, u64)>,
    /// Partitions paused at the feed's wish.
    paused: HashSet<(String, i32)>,
}

impl<F: Feed> Reader<F> {
    fn run(mut self) {
        let _one = F::one_at_a_time().lock().unwrap_or_else(|p| p.into_inner());
        let Some(recorded) = self.recorded_progress() else {
            return;
        };
        tracing::info!(
            reader = F::NAME,
            topics = ?self.topics,
            partitions_recorded = recorded.len(),
            "whole-stream reader started"
        );
        // Behind until a check finds no lag: a replica starting empty logs how long it took.
        self.lagging = Some((Instant::now(), 0));
        let (mut discovered, mut checked) = (None::<Instant>, Instant::now());
        let mut pauses_applied = Instant::now();
        let mut flushed_total = 0u64;
        while !self.stop.load(Ordering::Relaxed) {
            if discovered.is_none_or(|t| {
                t.elapsed() >= DISCOVER_EVERY
                    || (self.parts.is_empty() && t.elapsed() >= CHECK_EVERY)
            }) {
                self.discover(&recorded);
                discovered = Some(Instant::now());
            }
            let wait = self.since.map_or(Duration::from_millis(100), |t| {
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
                    Err(e) => tracing::debug!(reader = F::NAME, error = %e, "read"),
                }
            }
            if self.feed.full() || self.since.is_some_and(|t| t.elapsed() >= FLUSH_AFTER) {
                flushed_total += self.flush();
            }
            if checked.elapsed() >= CHECK_EVERY {
                self.check(flushed_total);
                checked = Instant::now();
            }
            if pauses_applied.elapsed() >= PAUSE_EVERY {
                self.apply_pauses();
                pauses_applied = Instant::now();
            }
        }
        // What was read is flushed before the next reader (a reload) reads the progress.
        self.flush();
        tracing::info!(reader = F::NAME, "whole-stream reader stopped");
    }

    /// The feed's progress by partition, retried until it reads (`None`: stopped meanwhile).
    fn recorded_progress(&mut self) -> Option<HashMap<(String, i32), i64>> {
        let mut delay = Duration::from_millis(200);
        loop {
            match self.feed.recorded() {
                Ok(p) => return Some(p),
                Err(e) => {
                    tracing::error!(reader = F::NAME, error = %format!("{e:#}"), "reading where to resume failed; retrying")
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
                    tracing::warn!(reader = F::NAME, %topic, error = %e, "no metadata; retrying later");
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
                        tracing::warn!(reader = F::NAME, %topic, partition = p.id(), next, low, "records after the recorded progress were deleted by retention; continuing at the oldest one left");
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
                    tracing::warn!(reader = F::NAME, %topic, partition = p.id(), error = %e, "bad start offset");
                    continue;
                }
                tracing::info!(reader = F::NAME, %topic, partition = p.id(), ?start, ?expect, "reading partition");
                self.feed.assigned(topic, p.id());
                self.parts.insert(
                    key.clone(),
                    Part {
                        cursor: PartitionCursor::new(expect, StallChecks::READER),
                        stored: recorded.get(&key).copied(),
                    },
                );
            }
        }
        if tpl.count() > 0 {
            if let Err(e) = self.consumer.incremental_assign(&tpl) {
                tracing::error!(reader = F::NAME, error = %e, "assigning partitions failed; retrying");
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
                tracing::info!(reader = F::NAME, %topic, partition, expected = ?part.cursor.expect(), offset, target, "offsets missing before this message; seeking back to verify");
                self.seek(&topic, partition, target);
                return;
            }
            Verdict::Gap { expected } => {
                tracing::warn!(reader = F::NAME, %topic, partition, expected, offset, "offsets do not exist (compaction, transaction markers or retention); continuing");
            }
            Verdict::Accept => {}
        }
        let mut records = Vec::with_capacity(1);
        parse_message(&payload, &self.limits, &mut records);
        self.feed.take(&topic, partition, offset, &payload, records);
        self.progress.insert((topic, partition), offset + 1);
        self.since.get_or_insert_with(Instant::now);
    }

    /// Flushes the feed with its progress, retrying until it is durable; the records flushed.
    fn flush(&mut self) -> u64 {
        if self.progress.is_empty() {
            return 0;
        }
        let progress: Vec<PartitionProgress> = self
            .progress
            .iter()
            .filter(|(k, next)| self.parts.get(*k).is_none_or(|p| p.stored != Some(**next)))
            .map(|((t, p), next)| PartitionProgress::new(t.as_str(), *p, *next))
            .collect();
        let mut delay = Duration::from_millis(100);
        let flushed = loop {
            match self.feed.flush(&progress) {
                Ok(n) => break n,
                Err(e) => {
                    tracing::warn!(reader = F::NAME, error = %format!("{e:#}"), "flush failed; retrying (nothing more is read meanwhile)");
                }
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(MAX_RETRY_DELAY);
            if self.stop.load(Ordering::Relaxed) {
                // Not recorded: the next reader reads these records again.
                self.feed.discard();
                self.progress.clear();
                self.since = None;
                return 0;
            }
        };
        for p in progress {
            if let Some(part) = self.parts.get_mut(&(p.topic, p.partition)) {
                part.stored = Some(p.next_offset);
            }
        }
        self.progress.clear();
        self.since = None;
        flushed
    }

    /// Fetches every partition's high watermark: reports the lag and seeks back partitions
    /// that read nothing below it (see [`PartitionCursor::on_check`]).
    fn check(&mut self, flushed_total: u64) {
        let consumer_idle = !std::mem::take(&mut self.received);
        let mut lag = 0i64;
        let mut by_partition = BTreeMap::new();
        let mut reachable = true;
        let mut seeks = Vec::new();
        for (key, part) in &mut self.parts {
            let (topic, partition) = key;
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
            // `expect` is one past the last record read (flushed or not).
            if let (Some(high), Some(next)) = (high, part.cursor.expect()) {
                lag += (high - next).max(0);
                by_partition.insert(key.clone(), (high - next).max(0));
            } else if let (Some(high), None) = (high, part.cursor.expect()) {
                by_partition.insert(key.clone(), high);
            }
            // A paused partition reads nothing on purpose: that is no stall.
            if self.paused.contains(key) {
                part.cursor.on_paused();
                continue;
            }
            if let Check::Seek(target) = part.cursor.on_check(high, consumer_idle) {
                seeks.push((topic.clone(), *partition, target, high));
            }
        }
        for (topic, partition, target, high) in seeks {
            tracing::info!(reader = F::NAME, %topic, partition, ?high, target, "nothing read below the high watermark; seeking back to re-read");
            self.seek(&topic, partition, target);
        }
        if reachable {
            self.feed.lag(lag, &by_partition);
            match (lag > 0, self.lagging) {
                (true, None) => self.lagging = Some((Instant::now(), flushed_total)),
                (false, Some((since, at))) => {
                    let secs = since.elapsed().as_secs_f64();
                    let records = flushed_total - at;
                    tracing::info!(
                        reader = F::NAME,
                        records,
                        seconds = format!("{secs:.1}"),
                        records_per_sec = (records as f64 / secs.max(0.001)) as u64,
                        "whole-stream reader caught up with the source"
                    );
                    self.lagging = None;
                }
                _ => {}
            }
        }
    }

    /// Pauses the partitions the feed wants paused and resumes the others.
    fn apply_pauses(&mut self) {
        let want = self.feed.wants_paused();
        if want == self.paused {
            return;
        }
        let list = |keys: &mut dyn Iterator<Item = &(String, i32)>| {
            let mut tpl = TopicPartitionList::new();
            for (t, p) in keys {
                tpl.add_partition(t, *p);
            }
            tpl
        };
        let pause = list(&mut want.difference(&self.paused));
        let resume = list(&mut self.paused.difference(&want));
        if pause.count() > 0 {
            if let Err(e) = self.consumer.pause(&pause) {
                tracing::warn!(reader = F::NAME, error = %e, "pausing partitions failed");
                return;
            }
        }
        if resume.count() > 0 {
            if let Err(e) = self.consumer.resume(&resume) {
                tracing::warn!(reader = F::NAME, error = %e, "resuming partitions failed");
                return;
            }
        }
        self.paused = want;
    }

    fn seek(&self, topic: &str, partition: i32, target: i64) {
        if let Err(e) = self
            .consumer
            .seek(topic, partition, Offset::Offset(target), BROKER_TIMEOUT)
        {
            tracing::warn!(reader = F::NAME, %topic, partition, target, error = %e, "corrective seek failed");
        }
    }
}
