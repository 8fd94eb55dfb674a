//! The CloudWatch Logs fast path: the batcher's records batched per log stream for at most
//! `flush_millis` and put, a bounded number at a time; each record is settled in the pending
//! tracker exactly once, accepted (then evaluated by the trail's metric filters and alarms) or
//! refused with its reason.

use std::{collections::HashMap, panic::AssertUnwindSafe, sync::Arc, time::SystemTime};

use bytes::Bytes;
use futures::FutureExt;
use tokio::{sync::mpsc, task::JoinSet, time::Instant};
use trailpipe_batcher::{CwlFeed, CwlMessage};
use trailpipe_delivery::panic_message;
use trailpipe_event::{DeadLetter, Epoch, PartitionId, RejectReason, Rejected};
use trailpipe_telemetry as names;

use crate::{
    stage::event_id, CwlBatch, CwlOutcome, CwlStage, EVENT_OVERHEAD_BYTES, MAX_BATCH_BYTES,
    MAX_BATCH_EVENTS,
};

impl CwlStage {
    /// Starts the fast path: returns the batcher's feed and the task that batches its records
    /// per stream and puts them. The task ends once the feed's senders are gone and everything
    /// received is settled.
    pub fn start_feed(self: &Arc<Self>) -> (CwlFeed, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(FEED_CHANNEL);
        let feed = CwlFeed {
            tx,
            pending: self.pending.clone(),
        };
        (feed, tokio::spawn(self.clone().run_feed(rx)))
    }

    /// The fast path's loop. A stream's batch is put when it is full (PutLogEvents' count or
    /// size limit) or its oldest record has waited `flush`; at most `max_in_flight` puts run at
    /// once, and while `MAX_BUFFERED_BYTES` are held nothing more is received, so the bounded
    /// feed fills and the batcher (and the consumer) wait.
    async fn run_feed(self: Arc<Self>, mut rx: mpsc::Receiver<CwlMessage>) {
        let mut streams: HashMap<StreamKey, StreamBatch> = HashMap::new();
        let mut puts: JoinSet<usize> = JoinSet::new();
        let mut buffered = 0usize;
        let mut closed = false;
        let mut tick = tokio::time::interval(self.flush / 4);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Whether a batch may have become due (a tick, a full batch, a freed slot, the end):
        // the scan over all streams runs only then, not per message.
        let mut check = false;
        loop {
            let now = Instant::now();
            while check && puts.len() < self.max_in_flight {
                let due = streams
                    .iter()
                    .filter(|(_, b)| b.is_full() || closed || now >= b.since + self.flush)
                    .min_by_key(|(_, b)| b.since)
                    .map(|(k, _)| k.clone());
                let Some(key) = due else {
                    check = false;
                    break;
                };
                let batch = streams.remove(&key).expect("found above");
                let stage = self.clone();
                puts.spawn(async move { stage.put_batch(key, batch).await });
            }
            if closed && streams.is_empty() && puts.is_empty() {
                return;
            }
            tokio::select! {
                m = rx.recv(), if !closed && buffered < MAX_BUFFERED_BYTES => match m {
                    Some(m) => {
                        let (added, full) = add_message(&mut streams, m);
                        buffered += added;
                        check |= full;
                    }
                    None => (closed, check) = (true, true),
                },
                Some(done) = puts.join_next() => {
                    check = true;
                    match done {
                        Ok(bytes) => buffered -= bytes,
                        // put_batch catches panics and settles every record, so this is a bug
                        // outside those guards. Its records would never settle and their offsets
                        // never commit: stop the process (crash-only, like kill -9) so the
                        // supervisor restarts it and the uncommitted records are read again.
                        Err(e) => {
                            tracing::error!(error = %e, "CloudWatch Logs put task failed; exiting so that its records are read again");
                            std::process::exit(70);
                        }
                    }
                }
                _ = tick.tick() => check = true,
            }
        }
    }

    /// Puts one stream's batch, then settles each record in the pending tracker: accepted ones
    /// are evaluated by the trail's metric filters and alarms; refused ones become dead letters
    /// the segment's delivery writes. Returns the batch's buffered bytes.
    async fn put_batch(&self, key: StreamKey, batch: StreamBatch) -> usize {
        let StreamBatch { entries, bytes, .. } = batch;
        // Every record of a stream comes from trails sharing its log group: the first one's
        // role writes them.
        let role_arn = entries
            .first()
            .and_then(|e| self.trails.get(e.trail)?.as_ref()?.role_arn.clone());
        let records: Vec<(i64, Bytes)> =
            entries.iter().map(|e| (e.time_ms, e.raw.clone())).collect();
        // Invariant: every entry is settled exactly once below, whatever happens — a record
        // left unsettled would hold its segment's acknowledgement (and the partition's
        // offsets) forever. So a panic in the SDK call or in a filter is caught here, not
        // left to unwind the task.
        let put = AssertUnwindSafe(self.sink.deliver(CwlBatch {
            log_group: key.0.to_string(),
            account: key.1.to_string(),
            region: key.2.to_string(),
            records,
            role_arn,
        }));
        let outcome = match put.catch_unwind().await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(p) => Err(format!("delivery panicked: {}", panic_message(&*p))),
        };
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => {
                // `deliver` retries until durable; an error here is a configuration
                // problem (or a bug). Keep the records: send them to the dead letters with
                // the reason.
                tracing::error!(log_group = %key.0, error = %e, "CloudWatch Logs delivery failed");
                CwlOutcome {
                    delivered: 0,
                    rejected: (0..entries.len()).map(|i| (i, e.to_string())).collect(),
                }
            }
        };
        let mut rejected = outcome.rejected.into_iter().peekable();
        let now = SystemTime::now();
        for (i, e) in entries.into_iter().enumerate() {
            let refused = match rejected.next_if(|(r, _)| *r == i) {
                Some((_, reason)) => Some(DeadLetter {
                    partition: e.partition.clone(),
                    offset: e.offset,
                    key: e.key,
                    rejected: Rejected {
                        raw: e.raw,
                        reason: RejectReason::SinkRejected {
                            sink: "cloudwatch_logs",
                            reason,
                        },
                        envelope_index: None,
                    },
                }),
                None => {
                    metrics::histogram!(names::CWL_LATENCY)
                        .record(e.read_at.elapsed().as_secs_f64());
                    if let Some(m) = self.trails.get(e.trail).and_then(Option::as_ref) {
                        // Metrics are best effort: a filter that panics on a record costs that
                        // record's metric points, never its settlement.
                        let observed = std::panic::catch_unwind(AssertUnwindSafe(|| {
                            let points = m.evaluator.observe(&e.raw);
                            if !points.is_empty() {
                                let id = event_id(&e.raw);
                                m.alarms
                                    .lock()
                                    .unwrap_or_else(|p| p.into_inner())
                                    .observe(&points, &id, now);
                            }
                        }));
                        if let Err(p) = observed {
                            tracing::error!(log_group = %key.0, event_id = %event_id(&e.raw), panic = %panic_message(&*p), "metric filter evaluation panicked; the record's metric points are lost");
                        }
                    }
                    None
                }
            };
            self.pending
                .complete(&e.partition, e.epoch, e.offset, refused);
        }
        bytes
    }
}

/// Messages buffered between the batcher and the fast path.
const FEED_CHANNEL: usize = 1024;
/// Record bytes the fast path holds (batching or in flight) before it stops receiving.
const MAX_BUFFERED_BYTES: usize = 16 * 1024 * 1024;
/// A stream batch is full at PutLogEvents' event limit or at 95% of its byte limit (room to
/// spare): it is put at once, as one request.
const FULL_BYTES: usize = MAX_BATCH_BYTES / 100 * 95;

/// (log group, account, region): one log stream.
type StreamKey = (
    Arc<str>,
    trailpipe_event::FieldStr,
    trailpipe_event::FieldStr,
);

/// One record waiting in its stream's batch, with where it came from.
struct Entry {
    trail: usize,
    time_ms: i64,
    raw: Bytes,
    partition: Arc<PartitionId>,
    epoch: Epoch,
    offset: i64,
    key: Option<Bytes>,
    read_at: std::time::Instant,
}

/// A stream's records waiting to be put.
struct StreamBatch {
    entries: Vec<Entry>,
    /// Their size as PutLogEvents counts it.
    bytes: usize,
    /// When the oldest was added.
    since: Instant,
}

impl StreamBatch {
    fn is_full(&self) -> bool {
        self.entries.len() >= MAX_BATCH_EVENTS || self.bytes >= FULL_BYTES
    }
}

/// Adds a message's records to their streams' batches; returns the bytes added and whether a
/// batch is now full. A batch that grows past the limits while every put slot is busy is split
/// into requests by the sink.
fn add_message(streams: &mut HashMap<StreamKey, StreamBatch>, m: CwlMessage) -> (usize, bool) {
    let (mut added, mut full) = (0, false);
    for r in m.records {
        let key: StreamKey = (r.log_group, r.account, r.region);
        let size = r.raw.len() + EVENT_OVERHEAD_BYTES;
        let b = streams.entry(key).or_insert_with(|| StreamBatch {
            entries: Vec::new(),
            bytes: 0,
            since: Instant::now(),
        });
        b.bytes += size;
        added += size;
        b.entries.push(Entry {
            trail: r.trail,
            time_ms: r.time_ms,
            raw: r.raw,
            partition: m.partition.clone(),
            epoch: m.epoch,
            offset: m.offset,
            key: m.key.clone(),
            read_at: m.read_at,
        });
        full |= b.is_full();
    }
    (added, full)
}
