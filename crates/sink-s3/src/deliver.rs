//! The delivery stage: makes each segment durable, then acknowledges it.
//!
//! Order within a segment: the anchor file (`files[0]`), then the other files concurrently,
//! then the dead letters, then the acknowledgement. Segments of one partition go one after
//! another (a worker per partition), so an anchor file that is missing after a crash proves that
//! no later segment of that partition was written — the batcher's replay relies on this.
//!
//! When the anchor file's key already holds a different cut (an earlier owner's upload landed
//! after the replay lookup missed it), nothing of the segment has been written: the worker
//! reports [`Feedback::Rewind`] and drops every later segment of that epoch, and the source
//! re-reads the partition from the segment's start so the replay adopts the stored cut.

use std::{collections::HashMap, sync::Arc};

use bytes::Bytes;
use futures::future::BoxFuture;
use tokio::{sync::mpsc, task::JoinHandle};
use trailpipe_batcher::{InFlight, LogFile, PendingSegment, Segment};
use trailpipe_event::{DeadLetter, Epoch, Feedback, PartitionId, SegmentAck};
use trailpipe_store::{
    meta::{Cut, Listed, LogFileMeta},
    Backoff, ErrorClass, PutOutcome, RecordedCut, Store,
};
use trailpipe_telemetry as names;

use crate::SinkHealth;

/// Another destination of a segment's records (CloudWatch Logs), written after the log files
/// and before the acknowledgement. Returns records it refused for good (they go to the
/// dead-letter destination with the reason); retries everything else itself.
pub trait SegmentSink: Send + Sync {
    /// Delivers the segment's share; resolves once it is durable.
    fn deliver<'a>(&'a self, seg: &'a Segment) -> BoxFuture<'a, Vec<DeadLetter>>;
}

/// Where dead letters are written (Kafka topic or file), as seen by delivery.
pub trait DeadLetterSink: Send + Sync {
    /// Writes every letter durably, or fails (then it is retried).
    fn write<'a>(&'a self, letters: &'a [DeadLetter]) -> BoxFuture<'a, Result<(), String>>;
}

/// How delivering one segment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Durable and acknowledged.
    Acknowledged,
    /// The anchor file holds a different cut; a rewind was requested.
    Rewound,
    /// A non-anchor file contradicts the segment; not acknowledged.
    Stuck,
}

/// The delivery stage.
#[derive(Clone)]
pub struct Delivery {
    store: Store,
    dead: Arc<dyn DeadLetterSink>,
    acks: mpsc::UnboundedSender<Feedback>,
    health: SinkHealth,
    trails: Arc<[DeliveryTrail]>,
    inflight: Arc<InFlight>,
    history: Option<Arc<trailpipe_history::HistoryStore>>,
    notifier: Option<trailpipe_sink_sns::BatchingNotifier>,
    extra: Option<Arc<dyn SegmentSink>>,
    /// Signs every file's metadata, so digests list only files trailpipe wrote.
    mac: Arc<trailpipe_logfile::FileMac>,
}

/// Records per history append: a segment's events are stored in chunks this size, so a write
/// batch stays a few MiB whatever the segment size. Each chunk is durable before the next
/// starts; appends are idempotent, so a crash between chunks replays without duplicates.
const HISTORY_CHUNK: usize = 4096;

/// What delivery needs to know about a trail.
#[derive(Debug, Clone)]
pub struct DeliveryTrail {
    /// Trail name (metric label).
    pub name: Arc<str>,
    /// SSE-KMS key for its log files (SSE-S3 without).
    pub kms_key_id: Option<Arc<str>>,
    /// SNS topic told about each delivered log file.
    pub sns_topic_arn: Option<Arc<str>>,
}

impl Delivery {
    /// A delivery stage writing to `store`, acknowledging on `acks`. `inflight` is the
    /// batcher's: every received segment is marked done once it settles. `mac` signs each
    /// file's metadata ([`trailpipe_logfile::mac`]).
    pub fn new(
        store: Store,
        dead: Arc<dyn DeadLetterSink>,
        acks: mpsc::UnboundedSender<Feedback>,
        health: SinkHealth,
        trails: Vec<DeliveryTrail>,
        inflight: Arc<InFlight>,
        mac: Arc<trailpipe_logfile::FileMac>,
    ) -> Self {
        Self {
            mac,
            store,
            dead,
            acks,
            health,
            trails: trails.into(),
            inflight,
            history: None,
            notifier: None,
            extra: None,
        }
    }

    /// Also delivers each segment to `sink` (CloudWatch Logs) before acknowledging.
    pub fn with_sink(mut self, sink: Option<Arc<dyn SegmentSink>>) -> Self {
        self.extra = sink;
        self
    }

    /// Also stores each segment's management events in the event history before acknowledging.
    pub fn with_history(mut self, history: Option<Arc<trailpipe_history::HistoryStore>>) -> Self {
        self.history = history;
        self
    }

    /// Also publishes each segment's files to their trails' SNS topics before acknowledging.
    pub fn with_notifier(mut self, notifier: Option<trailpipe_sink_sns::BatchingNotifier>) -> Self {
        self.notifier = notifier;
        self
    }

    /// Runs until the input closes and every queued segment is delivered.
    pub async fn run(self, mut rx: mpsc::Receiver<PendingSegment>) {
        let mut workers: HashMap<
            Arc<PartitionId>,
            (Epoch, mpsc::Sender<PendingSegment>, JoinHandle<()>),
        > = HashMap::new();
        let mut retired = Vec::new();
        while let Some(p) = rx.recv().await {
            let stale = workers
                .get(&p.partition)
                .is_some_and(|(e, _, _)| *e != p.epoch);
            if stale {
                if let Some((_, tx, handle)) = workers.remove(&p.partition) {
                    drop(tx);
                    retired.push(handle);
                }
            }
            let (_, tx, _) = workers.entry(p.partition.clone()).or_insert_with(|| {
                let (tx, rx) = mpsc::channel(2);
                (p.epoch, tx, tokio::spawn(self.clone().worker(rx)))
            });
            if tx.send(p).await.is_err() {
                tracing::error!("delivery worker stopped unexpectedly");
            }
        }
        for (_, tx, handle) in workers.into_values() {
            drop(tx);
            retired.push(handle);
        }
        for h in retired {
            let _ = h.await;
        }
    }

    /// Delivers one epoch of one partition, in cut order. After a rewind, every later segment
    /// of the epoch is dropped unwritten: it was cut after a segment the store contradicts.
    async fn worker(self, mut rx: mpsc::Receiver<PendingSegment>) {
        let mut poisoned = false;
        while let Some(p) = rx.recv().await {
            if poisoned {
                p.built.abort();
            } else {
                match p.built.await {
                    Ok(segment) => poisoned = self.deliver(segment).await == Outcome::Rewound,
                    Err(e) => {
                        // Nothing after this segment may be acknowledged: the watermark stops
                        // at its start, and a restart replays it.
                        tracing::error!(partition = %p.partition, error = %e, "building a segment failed; it will be replayed");
                        poisoned = true;
                    }
                }
            }
            self.inflight.done(&p.partition);
        }
    }

    /// Makes one segment durable, retrying until it is, then acknowledges it.
    pub async fn deliver(&self, seg: Segment) -> Outcome {
        let mut files = seg.files.iter();
        let mut delivered = 0u64;
        if let Some(anchor) = files.next() {
            let Some(first) = self.put_file(&seg, anchor).await else {
                metrics::counter!(names::SEGMENT_REWINDS).increment(1);
                tracing::warn!(partition = %seg.partition, start = seg.start, "anchor file holds an earlier owner's cut: re-reading the partition from the segment start");
                let _ = self.acks.send(Feedback::Rewind {
                    partition: seg.partition.clone(),
                    epoch: seg.epoch,
                    start: seg.start,
                });
                return Outcome::Rewound;
            };
            let rest = futures::future::join_all(files.map(|f| self.put_file(&seg, f))).await;
            if rest.iter().any(Option::is_none) {
                // The anchor file agrees with this cut but another file does not: the store
                // holds files this daemon cannot explain. Never acknowledge; the watermark stops
                // here (visible as lag and in /readyz).
                self.health.error(format!(
                    "segment {}[{}..{}) conflicts with delivered files; not committed",
                    seg.partition, seg.start, seg.end
                ));
                return Outcome::Stuck;
            }
            delivered = first + rest.into_iter().flatten().sum::<u64>();
        }
        let mut refused = Vec::new();
        if let Some(sink) = &self.extra {
            refused = sink.deliver(&seg).await;
        }
        let dead_letters: Vec<DeadLetter> = if refused.is_empty() {
            seg.dead_letters.clone()
        } else {
            seg.dead_letters.iter().cloned().chain(refused).collect()
        };
        if !dead_letters.is_empty() {
            let mut backoff = Backoff::new();
            while let Err(e) = self.dead.write(&dead_letters).await {
                tracing::error!(partition = %seg.partition, error = %e, "dead-letter write failed; the partition waits for it (retrying)");
                self.health.dead_letters_failing(e.clone());
                self.health.error(e);
                tokio::time::sleep(backoff.next_delay(ErrorClass::Retriable)).await;
            }
            self.health.dead_letters_written();
            for l in &dead_letters {
                metrics::counter!(names::RECORDS_DEAD_LETTERED, "reason" => l.rejected.reason.code()).increment(1);
            }
        }
        if let Some(n) = &self.notifier {
            self.notify(n, &seg).await;
        }
        if let Some(h) = &self.history {
            // The segment's management events, before the offsets move.
            for chunk in seg.history.chunks(HISTORY_CHUNK) {
                append_history(h, chunk, &self.health).await;
            }
        }
        metrics::histogram!(names::DELIVERY_LATENCY).record(seg.opened_at.elapsed().as_secs_f64());
        let _ = self.acks.send(Feedback::Delivered(SegmentAck {
            partition: seg.partition.clone(),
            epoch: seg.epoch,
            start: seg.start,
            end: seg.end,
            delivered,
        }));
        Outcome::Acknowledged
    }

    /// Publishes every file of the segment to its trail's SNS topic (a replayed file too: the
    /// earlier notification may not have gone out, so notifications are at-least-once) and
    /// waits until SNS accepted them — a notification is part of the delivery.
    async fn notify(&self, n: &trailpipe_sink_sns::BatchingNotifier, seg: &Segment) {
        let mut by_topic: HashMap<(Arc<str>, Arc<str>), Vec<String>> = HashMap::new();
        for f in &seg.files {
            if let Some(topic) = &self.trails[f.trail].sns_topic_arn {
                by_topic
                    .entry((topic.clone(), f.bucket.clone()))
                    .or_default()
                    .push(f.key.clone());
            }
        }
        for ((topic, bucket), keys) in by_topic {
            // The notifier retries internally; an error here means it stopped (shutdown).
            if let Err(e) = n.notify_files(&topic, &bucket, &keys).await {
                tracing::warn!(%topic, error = %e, "SNS notification not confirmed; the segment is not acknowledged");
                self.health.error(format!("SNS {topic}: {e}"));
                std::future::pending::<()>().await;
            }
        }
    }

    /// Writes one file (create-only), retrying until it is durable; returns its record count, 0
    /// when an earlier delivery of the same segment wrote it, or `None` when a different cut is
    /// already stored at its key.
    async fn put_file(&self, seg: &Segment, f: &LogFile) -> Option<u64> {
        let t = &self.trails[f.trail];
        let trail = t.name.clone();
        let anchor = seg.anchor.unwrap_or(seg.start);
        let (sha256, oldest, newest) = (
            f.body.sha256_hex(),
            trailpipe_event::format_epoch_secs(f.oldest_event_time),
            trailpipe_event::format_epoch_secs(f.newest_event_time),
        );
        let mac = self.mac.sign(&trailpipe_logfile::MacInput {
            bucket: &f.bucket,
            key: &f.key,
            sha256_hex: &sha256,
            oldest: &oldest,
            newest: &newest,
        });
        let metadata = LogFileMeta {
            source: format!("{}/{}", seg.partition.source, seg.partition.partition),
            sha256_hex: sha256,
            cut: Some(Cut {
                anchor,
                end: seg.end,
                start: seg.start,
            }),
            listed: Some(Listed {
                oldest,
                newest,
                mac,
            }),
            file_time: seg.file_time.map(|s| s.as_str()),
        }
        .into_map();
        let mut backoff = Backoff::new();
        loop {
            match self
                .store
                .put_new_sse(
                    &f.bucket,
                    &f.key,
                    f.body.gzip.clone().into(),
                    metadata.clone(),
                    t.kms_key_id.as_deref(),
                )
                .await
            {
                Ok(PutOutcome::Created) => {
                    let records = f.body.records as u64;
                    self.health.delivered(records);
                    metrics::counter!(names::FILES_WRITTEN, "trail" => trail.to_string())
                        .increment(1);
                    metrics::counter!(names::RECORDS_DELIVERED, "trail" => trail.to_string())
                        .increment(records);
                    metrics::counter!(names::BYTES_WRITTEN, "trail" => trail.to_string())
                        .increment(f.body.gzip.len() as u64);
                    metrics::histogram!(names::FILE_RECORDS, "trail" => trail.to_string())
                        .record(records as f64);
                    metrics::histogram!(names::FILE_BYTES, "trail" => trail.to_string())
                        .record(f.body.gzip.len() as f64);
                    return Some(records);
                }
                Ok(PutOutcome::AlreadyExists) => {
                    return self
                        .check_existing(seg, f, anchor, &trail)
                        .await
                        .then_some(0);
                }
                Err(e) => {
                    metrics::counter!(names::STORE_ERRORS, "error_type" => e.class.as_str())
                        .increment(1);
                    tracing::warn!(error = %e, "log file write failed; retrying");
                    self.health.error(e.to_string());
                    tokio::time::sleep(backoff.next_delay(e.class)).await;
                }
            }
        }
    }

    /// A file already at our key must be the one an earlier delivery of this very segment wrote.
    async fn check_existing(&self, seg: &Segment, f: &LogFile, anchor: i64, trail: &str) -> bool {
        metrics::counter!(names::FILES_ALREADY_PRESENT, "trail" => trail.to_string()).increment(1);
        let mut backoff = Backoff::new();
        let meta = loop {
            match self.store.head(&f.bucket, &f.key).await {
                Ok(m) => break m.unwrap_or_default(),
                Err(e) => tokio::time::sleep(backoff.next_delay(e.class)).await,
            }
        };
        let recorded = RecordedCut::from_metadata(&meta);
        if recorded
            != Some(RecordedCut {
                first: anchor,
                end: seg.end,
            })
        {
            metrics::counter!(names::SEGMENT_CONFLICTS).increment(1);
            tracing::error!(bucket = %f.bucket, key = %f.key, ?recorded, anchor, end = seg.end, "existing log file records a different cut");
            false
        } else {
            tracing::debug!(key = %f.key, "log file already delivered");
            true
        }
    }
}

/// Stores `records` in the event history, durably, retrying with backoff until it succeeds:
/// the history is a sink like the bucket, acknowledged before offsets move. Stored events and
/// failures are counted; a failure also shows in `health`. Appends are idempotent (eventID,
/// eventTime), so a retry or a replay stores nothing twice.
pub async fn append_history(
    h: &Arc<trailpipe_history::HistoryStore>,
    records: &[Bytes],
    health: &SinkHealth,
) {
    let mut backoff = Backoff::new();
    loop {
        let (h, batch) = (h.clone(), records.to_vec());
        let r = tokio::task::spawn_blocking(move || {
            let refs: Vec<&[u8]> = batch.iter().map(|b| &b[..]).collect();
            h.append(&refs)
        })
        .await;
        match r {
            Ok(Ok(summary)) => {
                metrics::counter!(names::HISTORY_EVENTS_STORED).increment(summary.stored as u64);
                return;
            }
            Ok(Err(e)) => {
                metrics::counter!(names::HISTORY_ERRORS).increment(1);
                tracing::warn!(error = %e, "event history append failed; retrying");
                health.error(format!("event history: {e}"));
            }
            Err(e) => tracing::error!(error = %e, "event history append panicked; retrying"),
        }
        tokio::time::sleep(backoff.next_delay(ErrorClass::Retriable)).await;
    }
}
