//! CloudTrail Insights in the pipeline: every record routed to a trail with
//! `insight_selectors` comes to this stage on a bounded channel (a slow stage slows its
//! feeder) — from the router's tap on a file source, from a whole-stream reader with Kafka
//! ([`crate::insights_reader`]) — one [`Detector`] per such trail turns them into Start/End
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

use anyhow::Context;
use bytes::Bytes;
use tokio::sync::{mpsc, watch};
use trailpipe_config::Config;
use trailpipe_delivery::SinkHealth;
use trailpipe_insights::{Detector, InsightRecord};
use trailpipe_logfile::{insight_file_key, unique_string, KeyParts, LogFileWriter};
use trailpipe_router::Tapped;
use trailpipe_store::{meta::LogFileMeta, Backoff, Store};
use trailpipe_telemetry as names;

use trailpipe_sink_cwl::CwlStage;

/// Records observed with no new input for this long close the open minutes by the wall clock.
pub const IDLE_ADVANCE: Duration = Duration::from_secs(60);
/// How often detector state is snapshotted (and the idle check runs).
const SNAPSHOT_EVERY: Duration = Duration::from_secs(60);
/// Tapped messages buffered between the router and this stage.
pub const TAP_CHANNEL: usize = 1024;
/// First bytes of a snapshot file (then a u32 length and the offsets, then the detector's own).
const FILE_MAGIC: &[u8; 8] = b"TPINSv1\n";
/// How long a replica that is not the group's Insights writer keeps what its detectors emitted,
/// to write it if it takes over (longer than the consumer group needs to hand a dead writer's
/// partition 0 to another replica: session timeout plus rebalance, 47 s in the replicas test).
pub const HANDOVER: Duration = Duration::from_secs(300);

/// Next offset not yet observed, per `source/partition`.
type Positions = BTreeMap<String, i64>;

/// One trail with Insights.
struct InsightTrail {
    /// Bit of the trail in a route.
    bit: u64,
    name: String,
    bucket: String,
    prefix: Option<String>,
    organization_id: Option<String>,
    kms_key_id: Option<String>,
    /// The trail's position in the configuration (CloudWatch Logs looks trails up by it).
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
    pub control: Option<Arc<crate::control_topic::ControlTopic>>,
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
    /// The stage for the trails of `config` with `insight_selectors`, with the route mask they
    /// occupy, or `None` when no trail has Insights. `persist` keeps detector state across
    /// restarts (Kafka sources; a file run reads its input once and starts fresh).
    pub fn open(
        config: &Config,
        sinks: InsightSinks,
        persist: bool,
    ) -> anyhow::Result<Option<(Self, u64)>> {
        let mut trails = Vec::new();
        let mut mask = 0u64;
        for (i, t) in config.trails.iter().enumerate() {
            let Some(cfg) = config.insight_config(t) else {
                continue;
            };
            let snapshot_path = persist.then(|| {
                config
                    .state
                    .dir
                    .join("insights")
                    .join(format!("{}.snapshot", t.name))
            });
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
            let bit = 1u64 << i;
            mask |= bit;
            let active = metrics::gauge!(names::INSIGHTS_ACTIVE, "trail" => t.name.clone());
            set_active(&active, &detector);
            trails.push(InsightTrail {
                bit,
                name: t.name.clone(),
                bucket: t.s3_bucket_name.clone(),
                prefix: t.key_prefix().map(str::to_string),
                organization_id: t.key_organization_id().map(str::to_string),
                kms_key_id: t.kms_key_id.clone(),
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

    /// Counts what the feeder holds back (see [`crate::insights_reader::InsightsFeed`]).
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
                if route & trail.bit != 0 {
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
            metrics::counter!(names::INSIGHTS_EVENTS, "trail" => trail.name.clone(), "state" => state)
                .increment(1);
            tracing::info!(trail = %trail.name, state, insight_type = r.insight_type.as_str(), event_source = %r.event_source, event_name = %r.event_name, account = %r.account_id, region = %r.aws_region, "Insights event");
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
            match &self.sinks.control {
                Some(control) => publish_for_history(control, &records).await,
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
        let unique = unique_string(&trail.name, &first.event_id, 0, 0);
        let key = insight_file_key(&KeyParts {
            prefix: trail.prefix.as_deref(),
            organization_id: trail.organization_id.as_deref(),
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
                    &trail.bucket,
                    &key,
                    gzip.clone(),
                    metadata.clone(),
                    trail.kms_key_id.as_deref(),
                )
                .await
            {
                Ok(outcome) => {
                    tracing::info!(trail = %trail.name, key, ?outcome, "Insights log file");
                    return;
                }
                Err(e) => {
                    tracing::warn!(trail = %trail.name, key, error = %e, "Insights log file not written; retrying");
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
                    tracing::warn!(trail = %t.name, error = %e, "Insights snapshot not written");
                }
            }
        }
    }
}

/// Puts `records` in the control topic under `insight/<eventID>`, for every replica's reader to
/// store in its history; retried until the broker has them.
async fn publish_for_history(
    control: &crate::control_topic::ControlTopic,
    records: &[InsightRecord],
) {
    let batch: Vec<crate::lifecycle::ControlRecord> = records
        .iter()
        .map(|r| {
            (
                format!("{}{}", crate::control_topic::INSIGHT_PREFIX, r.event_id),
                Some(r.json.to_vec()),
            )
        })
        .collect();
    let mut backoff = Backoff::new();
    while let Err(e) = control.publish(batch.clone()).await {
        tracing::warn!(error = %e, "Insights events not yet in the control topic (for the history); retrying");
        tokio::time::sleep(backoff.next_delay(trailpipe_store::ErrorClass::Retriable)).await;
    }
}

/// Sets a trail's active-insights gauge from its detector's counters (they survive restarts
/// in the snapshot).
fn set_active(gauge: &metrics::Gauge, detector: &Detector) {
    let s = detector.stats();
    gauge.set(s.insights_started.saturating_sub(s.insights_ended) as f64);
}

/// Snapshot file: magic, u32 LE length of the JSON offsets, the offsets, the detector snapshot.
/// Written to a temporary file, synced and renamed, so a crash leaves the old or the new one.
fn write_snapshot(path: &Path, positions: &Positions, detector: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let dir = path.parent().context("snapshot path has a directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let offsets = serde_json::to_vec(positions)?;
    let tmp = path.with_extension("snapshot.tmp");
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(FILE_MAGIC)?;
    f.write_all(&(offsets.len() as u32).to_le_bytes())?;
    f.write_all(&offsets)?;
    f.write_all(detector)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

/// The offsets and detector snapshot in `path`, `None` when there is no snapshot yet.
fn read_snapshot(path: &Path) -> anyhow::Result<Option<(Positions, Vec<u8>)>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let rest = bytes
        .strip_prefix(FILE_MAGIC.as_slice())
        .context("not an Insights snapshot (magic bytes)")?;
    anyhow::ensure!(rest.len() >= 4, "truncated snapshot");
    let n = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
    anyhow::ensure!(rest.len() >= 4 + n, "truncated snapshot");
    let positions = serde_json::from_slice(&rest[4..4 + n]).context("snapshot offsets")?;
    Ok(Some((positions, rest[4 + n..].to_vec())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_file_round_trips_and_refuses_garbage() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("insights").join("t.snapshot");
        assert!(read_snapshot(&path).expect("missing is fine").is_none());
        let positions = BTreeMap::from([("topic/0".to_string(), 42i64), ("topic/3".into(), 7)]);
        write_snapshot(&path, &positions, b"DETECTOR").expect("written");
        let (p, body) = read_snapshot(&path).expect("read").expect("present");
        assert_eq!(p, positions);
        assert_eq!(body, b"DETECTOR");
        std::fs::write(&path, b"garbage").expect("overwrite");
        assert!(read_snapshot(&path).is_err());
        std::fs::write(
            &path,
            [FILE_MAGIC.as_slice(), &[200, 0, 0, 0], b"{}"].concat(),
        )
        .expect("overwrite");
        assert!(
            read_snapshot(&path).is_err(),
            "length past the end is refused"
        );
    }
}
