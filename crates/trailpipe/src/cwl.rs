//! CloudWatch Logs in the pipeline. Records of trails with `[trails.cloud_watch_logs]` go to
//! `<account>_CloudTrail_<region>` streams on a fast path of their own: the batcher hands them
//! over as it reads them, and they are put within `[cloudwatch_logs] flush_millis` plus a
//! request, long before the S3 segment holding them is cut. A segment is acknowledged only once
//! all its CloudWatch Logs records are settled (`trailpipe_batcher::cwl_feed` states the
//! invariants). The trail's metric filters (and the CIS set) are evaluated on accepted records
//! and exported on `/metrics`; alarms evaluated on that stream publish state changes to SNS.
//!
//! CloudWatch Logs has no idempotent write: after a crash the records of uncommitted offsets
//! are sent again (at-least-once), unlike the S3 log files.

use std::{
    collections::HashMap,
    panic::AssertUnwindSafe,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use bytes::Bytes;
use futures::{future::BoxFuture, FutureExt};
use tokio::{sync::mpsc, task::JoinSet, time::Instant};
use trailpipe_batcher::{CwlFeed, CwlMessage, CwlPending, Segment};
use trailpipe_config::Config;
use trailpipe_delivery::{Ledger, Sink, Step};
use trailpipe_event::{DeadLetter, Epoch, PartitionId, RejectReason, Rejected};
use trailpipe_sink_cwl::{
    AlarmEvaluator, AlarmNotifier, CwlBatch, CwlSink, CwlSinkConfig, CwlTrailConfig,
    MetricEvaluator, MetricPublisher,
};
use trailpipe_telemetry as names;

/// A trail's log group, filters and alarms.
struct TrailMetrics {
    log_group: String,
    /// Role assumed to write to the log group.
    role_arn: Option<String>,
    evaluator: MetricEvaluator,
    alarms: Mutex<AlarmEvaluator>,
}

/// The CloudWatch Logs stage.
pub struct CwlStage {
    sink: CwlSink,
    /// By trail index; `None` for trails without CloudWatch Logs.
    trails: Vec<Option<TrailMetrics>>,
    notifier: AlarmNotifier,
    /// PutMetricData for trails with `publish_metric_data`.
    publisher: MetricPublisher,
    /// Fast-path records not yet settled (shared with the batcher).
    pending: Arc<CwlPending>,
    /// Longest a record waits in its stream's batch.
    flush: Duration,
    /// Puts in flight at once.
    max_in_flight: usize,
}

/// How often locally computed metrics go to CloudWatch (one statistic set per metric and
/// minute, CloudWatch's standard resolution).
const PUBLISH_EVERY_SECS: u64 = 60;
/// PutMetricData attempts per round before the round's statistics are dropped (they are
/// metrics, not evidence; the failure is logged and counted).
const PUBLISH_ATTEMPTS: u32 = 3;

/// The running CloudWatch Logs sink, for `/readyz` (set by each pipeline that delivers there).
pub type CwlHealthSlot = Arc<std::sync::Mutex<Option<trailpipe_sink_cwl::CwlSink>>>;

impl CwlStage {
    /// Its sink (shares the sink's health).
    pub fn sink(&self) -> trailpipe_sink_cwl::CwlSink {
        self.sink.clone()
    }

    /// The stage for `config`, or `None` when no trail delivers to CloudWatch Logs. Provisions
    /// every trail's metric filters on its log group first (idempotent).
    pub async fn open(config: &Config) -> anyhow::Result<Option<Arc<Self>>> {
        let cfgs: Vec<Option<&CwlTrailConfig>> = config
            .trails
            .iter()
            .map(|t| t.cloud_watch_logs.as_ref())
            .collect();
        if cfgs.iter().all(Option::is_none) {
            return Ok(None);
        }
        let tuning = &config.cloudwatch_logs;
        let mut sink_cfg = CwlSinkConfig::new(config.storage.region.clone());
        sink_cfg.endpoint_url = config.storage.endpoint_url.clone();
        sink_cfg.cloudwatch_logs_max_requests_per_sec = tuning.max_requests_per_sec;
        let sink = CwlSink::new(sink_cfg).await;
        let now = SystemTime::now();
        let mut trails = Vec::new();
        for (t, c) in config.trails.iter().zip(&cfgs) {
            trails.push(match c {
                None => None,
                Some(c) => {
                    match sink.provision(c).await {
                        Ok(o) => tracing::info!(trail = %t.name, put = o.put, unchanged = o.unchanged, "metric filters provisioned"),
                        Err(e) => tracing::warn!(trail = %t.name, error = %e, "provisioning metric filters failed; evaluating them locally anyway"),
                    }
                    Some(TrailMetrics {
                        log_group: c.cloud_watch_logs_log_group.clone(),
                        role_arn: c.cloud_watch_logs_role_arn.clone(),
                        evaluator: MetricEvaluator::new(c).map_err(|e| {
                            anyhow::anyhow!("trails.{}.cloud_watch_logs: {}", t.name, e.join("; "))
                        })?,
                        alarms: Mutex::new(AlarmEvaluator::new(c, now)),
                    })
                }
            });
        }
        let notifier = AlarmNotifier::new(
            sink.sdk_config(),
            trailpipe_sink_cwl::default_max_notifications_per_sec(),
        );
        let publisher = MetricPublisher::new(sink.sdk_config());
        Ok(Some(Arc::new(Self {
            sink,
            trails,
            notifier,
            publisher,
            pending: Arc::default(),
            flush: Duration::from_millis(tuning.flush_millis),
            max_in_flight: tuning.max_concurrent_puts,
        })))
    }

    /// Evaluates every trail's alarms once a second and publishes state changes, and sends the
    /// metrics of trails with `publish_metric_data` to CloudWatch every minute; runs until
    /// aborted.
    pub async fn run_alarms(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut ticks = 0u64;
        loop {
            tick.tick().await;
            ticks += 1;
            if ticks.is_multiple_of(PUBLISH_EVERY_SECS) {
                self.publish_metric_data().await;
            }
            let now = SystemTime::now();
            let transitions: Vec<_> = self
                .trails
                .iter()
                .flatten()
                .flat_map(|t| t.alarms.lock().unwrap_or_else(|p| p.into_inner()).tick(now))
                .collect();
            for t in transitions {
                tracing::info!(alarm = %t.alarm.name, state = %t.new.as_str(), "alarm state changed");
                if let Err(e) = self.notifier.notify(&t).await {
                    tracing::warn!(alarm = %t.alarm.name, error = %e, "alarm notification failed");
                }
            }
        }
    }

    /// One PutMetricData round: every trail's statistics gathered since the last round (also
    /// run when a pipeline stops, so the last minute is not lost).
    pub async fn publish_metric_data(&self) {
        let mut stats: Vec<_> = self
            .trails
            .iter()
            .flatten()
            .flat_map(|t| t.evaluator.take_statistics())
            .collect();
        if stats.is_empty() {
            return;
        }
        let mut backoff = trailpipe_sink_cwl::Backoff::new();
        for attempt in 1..=PUBLISH_ATTEMPTS {
            // After an Err, `stats` holds only what was not sent: nothing is counted twice.
            match self.publisher.publish(&mut stats).await {
                Ok(n) => {
                    tracing::debug!(datums = n, "metric data published");
                    return;
                }
                Err(e) if attempt < PUBLISH_ATTEMPTS => {
                    tracing::warn!(error = %e, attempt, "PutMetricData failed; retrying");
                    tokio::time::sleep(backoff.next_delay(e.class())).await;
                }
                Err(e) => {
                    tracing::error!(error = %e, unsent = stats.len(), "PutMetricData failed; this minute's unsent statistics are dropped")
                }
            }
        }
    }

    /// Sends records that are not part of a segment (Insights events) to trail `trail`'s log
    /// group, when it has one, retrying until CloudWatch Logs holds them; records it refuses
    /// are logged (they are also in the trail's bucket and the history).
    pub async fn deliver_records(
        &self,
        trail: usize,
        account: &str,
        region: &str,
        records: Vec<(i64, bytes::Bytes)>,
    ) {
        let Some(t) = self.trails.get(trail).and_then(Option::as_ref) else {
            return;
        };
        let batch = CwlBatch {
            log_group: t.log_group.clone(),
            account: account.to_string(),
            region: region.to_string(),
            records,
            role_arn: t.role_arn.clone(),
        };
        match self.sink.deliver(batch).await {
            Ok(o) => {
                for (_, reason) in o.rejected {
                    tracing::warn!(log_group = %t.log_group, reason, "CloudWatch Logs refused an Insights event");
                }
            }
            Err(e) => {
                tracing::error!(log_group = %t.log_group, error = %e, "CloudWatch Logs delivery of Insights events failed")
            }
        }
    }

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
                trailpipe_sink_cwl::CwlOutcome {
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
/// A stream batch is full at PutLogEvents' limits (10,000 events; 1,048,576 bytes counting 26
/// per event, with room to spare): it is put at once, as one request.
const BATCH_MAX_EVENTS: usize = 10_000;
const BATCH_MAX_BYTES: usize = 1_000_000;
const EVENT_OVERHEAD: usize = 26;

/// (log group, account, region): one log stream.
type StreamKey = (Arc<str>, Box<str>, Box<str>);

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
        self.entries.len() >= BATCH_MAX_EVENTS || self.bytes >= BATCH_MAX_BYTES
    }
}

/// Adds a message's records to their streams' batches; returns the bytes added and whether a
/// batch is now full. A batch that grows past the limits while every put slot is busy is split
/// into requests by the sink.
fn add_message(streams: &mut HashMap<StreamKey, StreamBatch>, m: CwlMessage) -> (usize, bool) {
    let (mut added, mut full) = (0, false);
    for r in m.records {
        let key: StreamKey = (r.log_group, r.account, r.region);
        let size = r.raw.len() + EVENT_OVERHEAD;
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

/// The message a panic carried (`panic!` with a literal or a format string), for logs.
fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

/// The record's `eventID` (for alarm messages), or empty.
fn event_id(raw: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Id<'a> {
        #[serde(rename = "eventID", borrow)]
        event_id: Option<&'a str>,
    }
    serde_json::from_slice::<Id<'_>>(raw)
        .ok()
        .and_then(|i| i.event_id.map(str::to_string))
        .unwrap_or_default()
}

/// The segment side of the fast path: a segment is acknowledged only once every CloudWatch
/// Logs record in its offsets is settled; the records refused for good come back as its dead
/// letters.
impl Sink for CwlStage {
    fn name(&self) -> &'static str {
        "cloudwatch_logs"
    }

    fn deliver<'a>(&'a self, seg: &'a Segment, ledger: &'a mut Ledger) -> BoxFuture<'a, Step> {
        Box::pin(async move {
            let refused = self
                .pending
                .wait_through(&seg.partition, seg.epoch, seg.end)
                .await;
            ledger.refused.extend(refused);
            Step::Durable
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn event_id_is_read_from_the_record() {
        assert_eq!(super::event_id(br#"{"eventID":"abc","x":1}"#), "abc");
        assert_eq!(super::event_id(b"not json"), "");
    }

    #[test]
    fn panic_messages_are_read_from_literal_and_formatted_panics() {
        let caught = |f: fn()| std::panic::catch_unwind(f).expect_err("panics");
        assert_eq!(super::panic_message(&*caught(|| panic!("plain"))), "plain");
        assert_eq!(
            super::panic_message(&*caught(|| panic!("formatted {}", 7))),
            "formatted 7"
        );
        assert_eq!(
            super::panic_message(&*caught(|| std::panic::panic_any(7u8))),
            "(no message)"
        );
    }
}
