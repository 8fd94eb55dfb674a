//! CloudTrail Insights in the pipeline: every record routed to a trail with
//! `insight_selectors` comes to this stage on a bounded channel (a slow stage slows its
//! feeder) — from the router's tap on a file source, from a whole-stream reader with Kafka
//! (the binary's `insights_reader`) — one [`Detector`] per such trail turns them into Start/End
//! Insights records, and each is delivered like CloudTrail does: a log file under
//! `AWSLogs/<acct>/CloudTrail-Insight/<region>/...`, the trail's CloudWatch Logs group when it
//! has one, and the event history (`LookupEvents` with `EventCategory=insight`).
//!
//! Invariants:
//! - One Insights log file per record, named from its `eventID`, which the detector derives
//!   from the insight itself, and written create-only: re-emitting the same insight after a
//!   restart, or another replica writing it, finds its file and writes nothing new.
//! - With several replicas only the group's leader writes (files, CloudWatch Logs, the
//!   control-topic records that put them in every replica's history); the others keep what
//!   their detectors emitted for [`HANDOVER`] and write it if they become the leader.
//! - With a Kafka source each detector's state is snapshotted (atomically, with the next offset
//!   it has observed per partition) to `<state.dir>/insights/<trail>.snapshot` every minute and
//!   when the pipeline stops; records replayed below those offsets are not counted twice. A
//!   `kill -9` loses at most the last minute of counts from the baselines, never a written file.
//! - The detector runs on event time. When no record arrives for [`IDLE_ADVANCE`] the wall clock
//!   closes the open minutes, so an insight ends even when its API goes quiet for good.

use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use futures::future::BoxFuture;
use tokio::sync::{mpsc, watch};
use trailpipe_delivery::SinkHealth;
use trailpipe_logfile::{insight_file_key, unique_string, KeyParts, LogFileWriter};
use trailpipe_router::Tapped;
use trailpipe_sink_cwl::CwlStage;
use trailpipe_store::{meta::LogFileMeta, Backoff, Store};
use trailpipe_telemetry as names;

use trailpipe_event::Trail;

use crate::{Detector, InsightConfig, InsightRecord};

mod snapshot;

use snapshot::{read_snapshot, write_snapshot, Positions};

/// Records observed with no new input for this long close the open minutes by the wall clock.
pub const IDLE_ADVANCE: Duration = Duration::from_secs(60);
/// How often detector state is snapshotted (and the idle check runs).
const SNAPSHOT_EVERY: Duration = Duration::from_secs(60);
/// Tapped messages buffered between the router and this stage.
pub const TAP_CHANNEL: usize = 1024;
/// How long a replica that is not the group's Insights writer keeps what its detectors emitted,
/// to write it if it takes over (longer than the consumer group needs to hand a dead writer's
/// partition 0 to another replica: session timeout plus rebalance, 47 s in the replicas test).
pub const HANDOVER: Duration = Duration::from_secs(300);

/// One trail with Insights.
struct InsightTrail {
    /// The trail (name, bucket, key layout, KMS key).
    trail: Trail,
    /// The trail's position in the pipeline's trails: its route bit is `1 << index`, and
    /// CloudWatch Logs looks trails up by it.
    index: usize,
    detector: Detector,
    /// Next offset not yet observed, per `source/partition` (Kafka sources only).
    positions: Positions,
    /// `trailpipe_insights_active`: the detector's Starts minus its Ends.
    active: metrics::Gauge,
    snapshot_path: Option<PathBuf>,
}

/// Where Insights records go besides the trail's bucket.
pub struct InsightSinks {
    /// The bucket (or local directory) store.
    pub store: Store,
    /// The event history, when `[history]` is configured.
    pub history: Option<Arc<trailpipe_history::HistoryStore>>,
    /// CloudWatch Logs, when a trail has a log group.
    pub cwl: Option<Arc<CwlStage>>,
    /// Sink health for `/readyz`.
    pub health: SinkHealth,
    /// Whether this replica writes (`None`: always, a single process).
    pub leading: Option<watch::Receiver<bool>>,
    /// With Kafka: Insights events go to every replica's history through the control topic.
    pub publish: Option<Arc<dyn PublishInsights>>,
}

/// Puts Insights records where every replica's event history reads them (the control topic),
/// instead of this replica's history alone.
pub trait PublishInsights: Send + Sync {
    /// Publishes `records` durably; an error is retried by the stage.
    fn publish<'a>(&'a self, records: &'a [InsightRecord]) -> BoxFuture<'a, Result<(), String>>;
}

/// The Insights stage of one pipeline.
pub struct InsightsStage {
    trails: Vec<InsightTrail>,
    sinks: InsightSinks,
    /// Latest `eventTime` observed (a file run closes its last minutes from it at the end).
    latest_event_time: i64,
    /// What the detectors emitted while this replica was not the writer: (when, trail, records).
    held: std::collections::VecDeque<(Instant, usize, Vec<InsightRecord>)>,
    /// Records the feeder holds back (merging partitions by event time): while any are held,
    /// the wall clock closes no minute, or they would arrive late.
    upstream_held: Option<Arc<std::sync::atomic::AtomicUsize>>,
}

impl InsightsStage {
    /// The stage for the trails with `insight_selectors` — `(index in trails, detector
    /// settings)` — with the route mask they occupy, or `None` when there are none. With
    /// `snapshot_dir`, detector state is kept across restarts in
    /// `<snapshot_dir>/<trail>.snapshot` (Kafka sources; a file run reads its input once and
    /// starts fresh).
    pub fn open(
        trails_all: &[Trail],
        with_insights: Vec<(usize, InsightConfig)>,
        sinks: InsightSinks,
        snapshot_dir: Option<&Path>,
    ) -> anyhow::Result<Option<(Self, u64)>> {
        let mut trails = Vec::new();
        let mut mask = 0u64;
        for (i, cfg) in with_insights {
            let t = &trails_all[i];
            let snapshot_path = snapshot_dir.map(|d| d.join(format!("{}.snapshot", t.name)));
            let (detector, positions) = match snapshot_path.as_deref().map(read_snapshot) {
                Some(Ok(Some((positions, body)))) => match Detector::restore(cfg.clone(), &body) {
                    Ok(d) => {
                        tracing::info!(trail = %t.name, apis = d.tracked_apis(), "Insights state restored");
                        (d, positions)
                    }
                    Err(e) => {
                        tracing::warn!(trail = %t.name, error = %e, "Insights snapshot not usable; baselines start over");
                        (Detector::new(cfg)?, BTreeMap::new())
                    }
                },
                Some(Err(e)) => {
                    tracing::warn!(trail = %t.name, error = %e, "Insights snapshot unreadable; baselines start over");
                    (Detector::new(cfg)?, BTreeMap::new())
                }
                _ => (Detector::new(cfg)?, BTreeMap::new()),
            };
            mask |= 1u64 << i;
            let active = metrics::gauge!(names::INSIGHTS_ACTIVE, "trail" => t.name.to_string());
            set_active(&active, &detector);
            trails.push(InsightTrail {
                trail: t.clone(),
                index: i,
                detector,
                positions,
                active,
                snapshot_path,
            });
        }
        if trails.is_empty() {
            return Ok(None);
        }
        Ok(Some((
            Self {
                trails,
                sinks,
                latest_event_time: i64::MIN,
                held: Default::default(),
                upstream_held: None,
            },
            mask,
        )))
    }

    /// Where a whole-stream reader resumes: per `(topic, partition)`, the lowest next offset any
    /// trail's snapshot records; a partition some trail has no position for is not listed
    /// (read from its start).
    pub fn resume_positions(&self) -> HashMap<(String, i32), i64> {
        let mut out: HashMap<(String, i32), i64> = HashMap::new();
        let Some(first) = self.trails.first() else {
            return out;
        };
        for key in first.positions.keys() {
            let all: Option<Vec<i64>> = self
                .trails
                .iter()
                .map(|t| t.positions.get(key).copied())
                .collect();
            if let (Some(all), Some((topic, partition))) = (all, key.rsplit_once('/')) {
                if let (Some(min), Ok(p)) = (all.into_iter().min(), partition.parse()) {
                    out.insert((topic.to_string(), p), min);
                }
            }
        }
        out
    }

    /// Counts what the feeder holds back (the binary's `insights_reader::InsightsFeed`).
    pub fn with_upstream(mut self, held: Arc<std::sync::atomic::AtomicUsize>) -> Self {
        self.upstream_held = Some(held);
        self
    }

    fn leading(&self) -> bool {
        self.sinks.leading.as_ref().is_none_or(|l| *l.borrow())
    }

    /// Runs until the router's side of the channel closes (the pipeline drains), then
    /// snapshots every detector. A file run (no snapshots) has read all of its input by then:
    /// its last minutes are closed from the latest event time, so an insight in progress at
    /// the end of the data gets its End once enough normal minutes follow, or stays open.
    pub async fn run(mut self, mut rx: mpsc::Receiver<Tapped>) {
        let mut tick = tokio::time::interval(SNAPSHOT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_input = Instant::now();
        let mut leading = self.sinks.leading.clone();
        loop {
            tokio::select! {
                changed = async { leading.as_mut().expect("checked").changed().await }, if leading.is_some() => {
                    match changed {
                        Ok(()) if self.leading() => self.take_over().await,
                        Ok(()) => {}
                        // The election stopped (the pipeline is ending).
                        Err(_) => leading = None,
                    }
                }
                t = rx.recv() => match t {
                    Some(t) => {
                        last_input = Instant::now();
                        self.observe(&t).await;
                    }
                    None => break,
                },
                _ = tick.tick() => {
                    let held = self
                        .upstream_held
                        .as_ref()
                        .is_some_and(|h| h.load(std::sync::atomic::Ordering::Relaxed) > 0);
                    if last_input.elapsed() >= IDLE_ADVANCE && !held {
                        let now = time::OffsetDateTime::now_utc().unix_timestamp();
                        for i in 0..self.trails.len() {
                            let out = self.trails[i].detector.advance(now);
                            self.deliver(i, out).await;
                        }
                    }
                    self.snapshot_all();
                }
            }
        }
        if self.latest_event_time != i64::MIN
            && self.trails.iter().all(|t| t.snapshot_path.is_none())
        {
            for i in 0..self.trails.len() {
                let lateness = i64::from(self.trails[i].detector.config().allowed_lateness_secs);
                let out = self.trails[i]
                    .detector
                    .advance(self.latest_event_time + lateness + 60);
                self.deliver(i, out).await;
            }
        }
        self.snapshot_all();
    }

    async fn observe(&mut self, t: &Tapped) {
        let key = format!("{}/{}", t.partition.source, t.partition.partition);
        if let Some(max) = t.records.iter().map(|(_, f)| f.event_time).max() {
            self.latest_event_time = self.latest_event_time.max(max);
        }
        for i in 0..self.trails.len() {
            let trail = &mut self.trails[i];
            if trail.snapshot_path.is_some() {
                match trail.positions.get_mut(&key) {
                    Some(next) if t.offset < *next => continue, // counted before a restart
                    Some(next) => *next = t.offset + 1,
                    None => {
                        trail.positions.insert(key.clone(), t.offset + 1);
                    }
                }
            }
            let mut out = Vec::new();
            for (route, fields) in &t.records {
                if route & (1u64 << trail.index) != 0 {
                    out.extend(trail.detector.observe_fields(fields));
                }
            }
            if !out.is_empty() {
                self.deliver(i, out).await;
            }
        }
    }

    /// Delivers what a trail's detector emitted, if this replica is the writer; keeps it for
    /// [`HANDOVER`] otherwise.
    async fn deliver(&mut self, i: usize, records: Vec<InsightRecord>) {
        if records.is_empty() {
            return;
        }
        set_active(&self.trails[i].active, &self.trails[i].detector);
        if self.leading() {
            self.write(i, records).await;
            return;
        }
        while self.held.front().is_some_and(|h| h.0.elapsed() > HANDOVER) {
            self.held.pop_front();
        }
        self.held.push_back((Instant::now(), i, records));
    }

    /// This replica became the writer: what its detectors emitted within [`HANDOVER`] is
    /// written (what the old writer wrote is found and left as it is).
    async fn take_over(&mut self) {
        let held: Vec<_> = self.held.drain(..).collect();
        let records: usize = held.iter().map(|h| h.2.len()).sum();
        tracing::info!(
            records,
            "Insights writer for the group: writing what was held"
        );
        for (at, i, records) in held {
            if at.elapsed() <= HANDOVER {
                self.write(i, records).await;
            }
        }
    }

    /// Writes one batch of a trail's Insights records: a file per record in the bucket, then
    /// CloudWatch Logs and the history; each retried until it succeeds.
    async fn write(&self, i: usize, records: Vec<InsightRecord>) {
        let trail = &self.trails[i];
        for r in &records {
            let state = r.state.as_str();
            metrics::counter!(names::INSIGHTS_EVENTS, "trail" => trail.trail.name.to_string(), "state" => state)
                .increment(1);
            tracing::info!(trail = %trail.trail.name, state, insight_type = r.insight_type.as_str(), event_source = %r.event_source, event_name = %r.event_name, account = %r.account_id, region = %r.aws_region, "Insights event");
        }
        let mut groups: BTreeMap<(&str, &str), Vec<&InsightRecord>> = BTreeMap::new();
        for r in &records {
            groups
                .entry((&r.account_id, &r.aws_region))
                .or_default()
                .push(r);
        }
        for ((account, region), group) in &groups {
            for r in group {
                self.put_file(trail, account, region, r).await;
            }
            if let Some(cwl) = &self.sinks.cwl {
                let batch: Vec<(i64, Bytes)> = group
                    .iter()
                    .map(|r| (r.event_time * 1000, r.json.clone()))
                    .collect();
                cwl.deliver_records(trail.index, account, region, batch)
                    .await;
            }
        }
        if let Some(h) = &self.sinks.history {
            match &self.sinks.publish {
                Some(p) => publish_for_history(&**p, &records).await,
                None => {
                    let raw: Vec<Bytes> = records.iter().map(|r| r.json.clone()).collect();
                    trailpipe_history::append_durably(h, &raw, &self.sinks.health).await;
                }
            }
        }
    }

    async fn put_file(
        &self,
        trail: &InsightTrail,
        account: &str,
        region: &str,
        first: &InsightRecord,
    ) {
        let mut w = LogFileWriter::new(trailpipe_logfile::DEFAULT_COMPRESSION_LEVEL, 4096);
        w.push(&first.json);
        let body = w.finish();
        let unique = unique_string(&trail.trail.name, &first.event_id, 0, 0);
        let key = insight_file_key(&KeyParts {
            prefix: trail.trail.prefix.as_deref(),
            organization_id: trail.trail.organization_id.as_deref(),
            account_id: account,
            region,
            timestamp: first.event_time,
            unique: &unique,
        });
        let metadata = LogFileMeta {
            source: "insights".into(),
            sha256_hex: body.sha256_hex(),
            ..Default::default()
        }
        .into_map();
        let gzip = Bytes::from(body.gzip);
        let mut backoff = Backoff::new();
        loop {
            match self
                .sinks
                .store
                .put_new_sse(
                    &trail.trail.bucket,
                    &key,
                    gzip.clone(),
                    metadata.clone(),
                    trail.trail.kms_key_id.as_deref(),
                )
                .await
            {
                Ok(outcome) => {
                    tracing::info!(trail = %trail.trail.name, key, ?outcome, "Insights log file");
                    return;
                }
                Err(e) => {
                    tracing::warn!(trail = %trail.trail.name, key, error = %e, "Insights log file not written; retrying");
                    self.sinks.health.error(format!("insights: {e}"));
                    tokio::time::sleep(backoff.next_delay(e.class)).await;
                }
            }
        }
    }

    fn snapshot_all(&self) {
        for t in &self.trails {
            if let Some(path) = &t.snapshot_path {
                if let Err(e) = write_snapshot(path, &t.positions, &t.detector.snapshot()) {
                    tracing::warn!(trail = %t.trail.name, error = %e, "Insights snapshot not written");
                }
            }
        }
    }
}

/// Publishes `records` for every replica's history, retried until they are accepted.
async fn publish_for_history(publish: &dyn PublishInsights, records: &[InsightRecord]) {
    trailpipe_retry::until_ok(
        || publish.publish(records),
        |_| trailpipe_retry::ErrorClass::Retriable,
        |e| tracing::warn!(error = %e, "Insights events not yet in the control topic (for the history); retrying"),
    )
    .await
}

/// Sets a trail's active-insights gauge from its detector's counters (they survive restarts
/// in the snapshot).
fn set_active(gauge: &metrics::Gauge, detector: &Detector) {
    let s = detector.stats();
    gauge.set(s.insights_started.saturating_sub(s.insights_ended) as f64);
}
