//! Insights with a Kafka source and several replicas: one detector over the whole stream, one
//! writer for the group.
//!
//! - **Every replica's detectors see every record.** A whole-stream reader
//!   ([`trailpipe_ingest::StreamReader`], client `<group_id>.insights`) feeds the Insights stage every
//!   record of every partition that the trails' current selectors route to a trail with
//!   Insights, merged by event time across partitions ([`InsightsFeed`]), so call rates and
//!   baselines are the whole account's, whatever the partitioning and however many replicas
//!   run, and a rebalance moves nothing. It resumes where the
//!   detectors' snapshots say (the lowest next offset of each partition over the trails; a
//!   partition no snapshot knows is read from its start, which builds the baseline from what the
//!   topic retains).
//! - **One replica writes.** [`InsightsLeader`]: the replica the consumer group gives partition
//!   0 of the first source topic writes Insights files, CloudWatch Logs events and the
//!   control-topic records that carry them to every replica's history. The others run the same detectors and keep what they
//!   emit for [`trailpipe_insights::stage::HANDOVER`], so a replica that takes over writes what the old
//!   leader may not have (files are create-only and named from the insight's id: what both
//!   wrote is one file).
//!
//! Cost: each replica reads and parses the whole stream once more for Insights (and once for
//! the history); the detectors' memory is per replica as before.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
};

use bytes::Bytes;
use tokio::sync::{mpsc, watch};
use trailpipe_config::KafkaSource;
use trailpipe_event::PartitionProgress;
use trailpipe_event::{Parsed, PartitionId};
use trailpipe_ingest::SecureContext;
use trailpipe_router::Tapped;
use trailpipe_selectors::TrailSelector;

use trailpipe_ingest::{Feed, StreamReader};

/// Held by the running Insights reader for its whole life.
static RUNNING: Mutex<()> = Mutex::new(());
/// Messages one partition may hold in the feed before it is paused.
const LANE_CAP: usize = 4096;

/// One partition in the feed: what it read that waits for the others, and how far it got.
#[derive(Default)]
struct Lane {
    /// Tapped messages not yet passed on, with their latest `eventTime`, in offset order.
    queue: VecDeque<(i64, Tapped)>,
    /// Latest `eventTime` of any record read from it.
    frontier: Option<i64>,
    /// Nothing left to read below its high watermark (at the last check).
    caught_up: bool,
}

/// Feeds the Insights stage from the whole stream (see the module), merging the partitions by
/// event time: a message is passed on once every partition that still has records to read has
/// read past its time (partitions that are caught up do not hold the others). The detectors
/// close a minute when their event-time clock passes it, so a partition read ahead of another
/// (fetches come in per-partition batches, and one partition may be hours behind after a
/// restart) would otherwise make the other's records late, and ignored.
pub struct InsightsFeed {
    /// Route bits of the trails with Insights.
    mask: u64,
    /// Every trail's selector, in configuration order (bit `i` is trail `i`).
    selectors: Vec<TrailSelector>,
    /// The trails' selectors as lifecycle changes set them.
    updates: watch::Receiver<Vec<TrailSelector>>,
    /// Where to resume, per `(topic, partition)`.
    resume: HashMap<(String, i32), i64>,
    tx: mpsc::Sender<Tapped>,
    lanes: BTreeMap<(String, i32), Lane>,
    /// Messages held in lanes (the stage does not close minutes by the wall clock meanwhile).
    held: Arc<AtomicUsize>,
    /// Topic names shared by the records of one partition.
    sources: HashMap<String, Arc<str>>,
}

impl InsightsFeed {
    /// Feeds `tx` with the records that the selectors in `updates` route to a trail in `mask`,
    /// from `resume` on; `held` counts what waits in the merge.
    pub fn new(
        mask: u64,
        updates: watch::Receiver<Vec<TrailSelector>>,
        resume: HashMap<(String, i32), i64>,
        tx: mpsc::Sender<Tapped>,
        held: Arc<AtomicUsize>,
    ) -> Self {
        let selectors = updates.borrow().clone();
        Self {
            mask,
            selectors,
            updates,
            resume,
            tx,
            lanes: BTreeMap::new(),
            held,
            sources: HashMap::new(),
        }
    }

    /// Starts reading `k`'s topics into the feed.
    pub fn start(self, k: &KafkaSource, context: SecureContext) -> anyhow::Result<StreamReader> {
        StreamReader::start(crate::kafka_check::settings(k, context), self)
    }

    /// The event time every partition with records left to read has reached (`i64::MAX` when
    /// all are caught up, `i64::MIN` while one has read nothing yet).
    fn watermark(&self) -> i64 {
        self.lanes
            .values()
            .filter(|l| !l.caught_up)
            .map(|l| l.frontier.unwrap_or(i64::MIN))
            .min()
            .unwrap_or(i64::MAX)
    }

    /// Passes on, oldest first, every held message at or before the watermark.
    fn release(&mut self) {
        let w = self.watermark();
        loop {
            let next = self
                .lanes
                .iter()
                .filter_map(|(k, l)| l.queue.front().map(|(t, _)| (*t, k.clone())))
                .filter(|(t, _)| *t <= w)
                .min();
            let Some((_, key)) = next else {
                break;
            };
            let Some((_, tapped)) = self.lanes.get_mut(&key).and_then(|l| l.queue.pop_front())
            else {
                break;
            };
            self.held.fetch_sub(1, Ordering::Relaxed);
            // Blocks while the stage is busy: a slow detector slows this reader only.
            let _ = self.tx.blocking_send(tapped);
        }
    }
}

impl Feed for InsightsFeed {
    const NAME: &'static str = "insights";

    fn one_at_a_time() -> &'static Mutex<()> {
        &RUNNING
    }

    fn recorded(&mut self) -> anyhow::Result<HashMap<(String, i32), i64>> {
        Ok(self.resume.clone())
    }

    /// Holds the others until it has read something or is found caught up.
    fn assigned(&mut self, topic: &str, partition: i32) {
        self.lanes
            .entry((topic.to_string(), partition))
            .or_default();
    }

    fn take(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        _payload: &Bytes,
        records: Vec<Parsed>,
    ) {
        if self.updates.has_changed().unwrap_or(false) {
            let new = self.updates.borrow_and_update().clone();
            if new.len() == self.selectors.len() {
                self.selectors = new;
            }
        }
        let mut routed = Vec::new();
        let mut latest = None::<i64>;
        for r in records.into_iter().flatten() {
            latest = latest.max(Some(r.fields.event_time));
            let mut route = 0u64;
            for (i, sel) in self.selectors.iter().enumerate() {
                if self.mask & (1 << i) != 0 && sel.matches(&r.fields) {
                    route |= 1 << i;
                }
            }
            if route != 0 {
                routed.push((route, r.fields));
            }
        }
        let key = (topic.to_string(), partition);
        let lane = self.lanes.entry(key).or_default();
        lane.frontier = lane.frontier.max(latest);
        // Read after the last check: not known to be caught up any more.
        lane.caught_up = false;
        if !routed.is_empty() {
            let t = routed
                .iter()
                .map(|(_, f)| f.event_time)
                .max()
                .unwrap_or(i64::MIN);
            let source = self
                .sources
                .entry(topic.to_string())
                .or_insert_with(|| topic.into())
                .clone();
            lane.queue.push_back((
                t,
                Tapped {
                    partition: Arc::new(PartitionId { source, partition }),
                    offset,
                    records: routed,
                },
            ));
            self.held.fetch_add(1, Ordering::Relaxed);
        }
        self.release();
    }

    fn full(&self) -> bool {
        false
    }

    /// The detectors' snapshots hold the positions (with the state they cover).
    fn flush(&mut self, _progress: &[PartitionProgress]) -> anyhow::Result<u64> {
        Ok(0)
    }

    fn discard(&mut self) {}

    fn lag(&mut self, _total: i64, by_partition: &BTreeMap<(String, i32), i64>) {
        for (key, lag) in by_partition {
            self.lanes.entry(key.clone()).or_default().caught_up = *lag == 0;
        }
        self.release();
    }

    fn wants_paused(&self) -> HashSet<(String, i32)> {
        self.lanes
            .iter()
            .filter(|(_, l)| l.queue.len() >= LANE_CAP)
            .map(|(k, _)| k.clone())
            .collect()
    }
}

/// Whether this replica is the group's Insights writer: the replica the consumer group gave
/// partition 0 of the first source topic. Kafka's group protocol makes that one replica at a
/// time (a crashed one loses it when its session times out), and it needs nothing besides the
/// group the pipeline is already in.
pub struct InsightsLeader {
    /// `true` while this replica owns the partition.
    pub leading: watch::Receiver<bool>,
    assignment: watch::Sender<BTreeSet<(String, i32)>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for InsightsLeader {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl InsightsLeader {
    /// Follows the assignment of `k`'s group consumer (see [`Self::assignment`]).
    pub fn start(k: &KafkaSource) -> Self {
        let first = (k.topics.first().cloned().unwrap_or_default(), 0);
        let (assignment, mut owned) = watch::channel(BTreeSet::new());
        let (tx, leading) = watch::channel(false);
        let task = tokio::spawn(async move {
            while owned.changed().await.is_ok() {
                let now = owned.borrow_and_update().contains(&first);
                if tx.send_replace(now) != now {
                    tracing::info!(leading = now, topic = %first.0, "Insights writer for the group (owner of the first partition)");
                }
            }
        });
        Self {
            leading,
            assignment,
            task,
        }
    }

    /// Where the group consumer reports what it owns ([`trailpipe_ingest::KafkaSettings`]).
    pub fn assignment(&self) -> watch::Sender<BTreeSet<(String, i32)>> {
        self.assignment.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trailpipe_selectors::RegionScope;

    fn feed() -> (InsightsFeed, mpsc::Receiver<Tapped>, Arc<AtomicUsize>) {
        let all = TrailSelector::new(
            RegionScope {
                is_multi_region_trail: true,
                home_region: "us-east-1".into(),
                include_global_service_events: true,
            },
            &[],
            &[],
        )
        .expect("selector");
        let (_updates_tx, updates) = watch::channel(vec![all]);
        let (tx, rx) = mpsc::channel(2 * LANE_CAP);
        let held = Arc::new(AtomicUsize::new(0));
        let feed = InsightsFeed::new(1, updates, HashMap::new(), tx, held.clone());
        (feed, rx, held)
    }

    /// A management write call at `minute` (of some hour) of event time.
    fn take(f: &mut InsightsFeed, partition: i32, offset: i64, minute: u32) {
        let body = format!(
            r#"{{"eventVersion":"1.08","eventTime":"2026-03-01T10:{minute:02}:00Z","eventSource":"iam.amazonaws.com","eventName":"CreateUser","awsRegion":"us-east-1","eventID":"e-{partition}-{offset}","eventType":"AwsApiCall","readOnly":false,"managementEvent":true,"recipientAccountId":"111122223333","userIdentity":{{"type":"IAMUser"}}}}"#
        );
        let payload = Bytes::from(body);
        let mut records = Vec::new();
        trailpipe_event::parse_message(&payload, &Default::default(), &mut records);
        f.take("t", partition, offset, &payload, records);
    }

    fn released(rx: &mut mpsc::Receiver<Tapped>) -> Vec<(i32, i64)> {
        std::iter::from_fn(|| rx.try_recv().ok())
            .map(|t| (t.partition.partition, t.offset))
            .collect()
    }

    #[test]
    fn partitions_are_merged_by_event_time_and_caught_up_ones_do_not_hold_the_others() {
        let (mut f, mut rx, held) = feed();
        f.assigned("t", 0);
        f.assigned("t", 1);
        // Partition 0 reads a whole batch before partition 1 reads anything: held.
        for (offset, minute) in [(0, 1), (1, 2), (2, 3)] {
            take(&mut f, 0, offset, minute);
        }
        assert!(released(&mut rx).is_empty());
        assert_eq!(held.load(Ordering::Relaxed), 3);
        // Partition 1 reaches minute 2: everything up to it goes, oldest first.
        take(&mut f, 1, 0, 0);
        take(&mut f, 1, 1, 2);
        assert_eq!(released(&mut rx), vec![(1, 0), (0, 0), (0, 1), (1, 1)]);
        // Partition 1 is found caught up: it no longer holds partition 0's minute 3.
        f.lag(
            0,
            &BTreeMap::from([(("t".into(), 0), 5), (("t".into(), 1), 0)]),
        );
        assert_eq!(released(&mut rx), vec![(0, 2)]);
        assert_eq!(held.load(Ordering::Relaxed), 0);
        // A partition that holds too much is paused until the others catch up.
        f.lag(0, &BTreeMap::from([(("t".into(), 1), 7)]));
        for offset in 3..3 + LANE_CAP as i64 {
            take(&mut f, 0, offset, 30);
        }
        assert_eq!(f.wants_paused(), HashSet::from([("t".to_string(), 0)]));
        take(&mut f, 1, 2, 31);
        assert_eq!(released(&mut rx).len(), LANE_CAP);
        assert!(f.wants_paused().is_empty());
    }
}
