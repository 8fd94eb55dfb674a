//! The batcher stage: routes each flow item to its partition's state ([`crate::partition`],
//! which decides) and does the I/O those decisions ask for, in one place — CloudWatch Logs
//! hand-over, file-time markers, the replay lookup of recorded cuts, and sending cut segments
//! to be built on the blocking pool and delivered.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use futures::future::BoxFuture;
use tokio::{sync::mpsc, task::JoinHandle};
use trailpipe_event::{Epoch, Flow, Message, PartitionId, Trail};
use trailpipe_retry::ErrorClass;
use trailpipe_telemetry as names;

use crate::{
    build::file_key,
    file_time::{self, FileTimeSource},
    partition::{held_bytes, Cut, Cutting, PartitionState},
    CwlFeed, CwlMessage, InFlight, RecordedCut, RulesFeed, RulesMessage, Segment,
};

/// The batcher's configuration.
#[derive(Debug, Clone)]
pub struct BatcherConfig {
    /// The pipeline's trails (route bit `i` = `trails[i]`).
    pub trails: Arc<[Trail]>,
    /// Largest uncompressed size of all of a segment's records.
    pub max_segment_bytes: usize,
    /// gzip level.
    pub compression_level: u32,
    /// Whether segments carry their management and Insights events for the event history.
    pub history: bool,
}

/// What the batcher reads from (and records in) the object store: the cut recorded on an
/// existing log file, and the markers of recorded file times (see [`crate::file_time`]).
pub trait CutLookup: Send + Sync {
    /// The cut recorded on the log file `bucket/key` (`Ok(None)`: no such file).
    fn lookup(
        &self,
        bucket: Arc<str>,
        key: String,
    ) -> BoxFuture<'static, Result<Option<RecordedCut>, String>>;

    /// The body of `bucket/key` (`Ok(None)`: no such object).
    fn read(
        &self,
        bucket: Arc<str>,
        key: String,
    ) -> BoxFuture<'static, Result<Option<Bytes>, String>>;

    /// Writes `body` at `bucket/key` unless an object is already there: `Ok(true)` when written.
    fn create(
        &self,
        bucket: Arc<str>,
        key: String,
        body: Bytes,
    ) -> BoxFuture<'static, Result<bool, String>>;
}

/// A cut segment whose files are being built on the blocking pool. Sent in cut order per
/// partition; delivery awaits `built` in that order.
pub struct PendingSegment {
    /// The partition.
    pub partition: Arc<PartitionId>,
    /// Its epoch.
    pub epoch: Epoch,
    /// The segment being built.
    pub built: JoinHandle<Segment>,
}

/// The batcher stage.
pub struct Batcher {
    cfg: Arc<BatcherConfig>,
    lookup: Arc<dyn CutLookup>,
    parts: HashMap<Arc<PartitionId>, PartitionState>,
    out: mpsc::Sender<PendingSegment>,
    inflight: Arc<InFlight>,
    /// CloudWatch Logs records go here as they are read (see [`crate::cwl_feed`]).
    cwl: Option<CwlFeed>,
    /// Records some EventBridge rule matches go here as they are read (see
    /// [`crate::rules_feed`]).
    rules: Option<RulesFeed>,
    /// The memory budget the source takes shares of: when it runs low, open segments are cut
    /// early, so their shares come back once delivered instead of after their interval.
    budget: Option<trailpipe_event::MemoryBudget>,
    /// Epoch seconds now (the system clock; tests pin it).
    clock: fn() -> i64,
}

impl Batcher {
    /// A batcher sending cut segments to `out`. Delivery must call [`InFlight::done`] on
    /// `inflight` for every segment it receives.
    pub fn new(
        cfg: BatcherConfig,
        lookup: Arc<dyn CutLookup>,
        out: mpsc::Sender<PendingSegment>,
        inflight: Arc<InFlight>,
    ) -> Self {
        Self {
            cfg: Arc::new(cfg),
            lookup,
            parts: HashMap::new(),
            out,
            inflight,
            cwl: None,
            rules: None,
            budget: None,
            clock: file_time::system_now,
        }
    }

    /// Reads the time from `clock` instead of the system clock (tests).
    pub fn with_clock(mut self, clock: fn() -> i64) -> Self {
        self.clock = clock;
        self
    }

    /// Cuts open segments early while `budget` is under pressure (see
    /// [`trailpipe_event::MemoryBudget::under_pressure`]).
    pub fn with_budget(mut self, budget: trailpipe_event::MemoryBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Also hands every record of a trail with a log group to the CloudWatch Logs stage as
    /// soon as it is read.
    pub fn with_cwl(mut self, feed: Option<CwlFeed>) -> Self {
        self.cwl = feed;
        self
    }

    /// Also matches every accepted record against the EventBridge rules as soon as it is read
    /// and hands the matched ones to the rules stage.
    pub fn with_rules(mut self, feed: Option<RulesFeed>) -> Self {
        self.rules = feed;
        self
    }

    /// The assignment `(partition, epoch)` ended: fast-path records (CloudWatch Logs, rules)
    /// still pending for it no longer hold anything up.
    fn forget_fast(&self, partition: &Arc<PartitionId>, epoch: Epoch) {
        if let Some(feed) = &self.cwl {
            feed.pending.forget(partition, epoch);
        }
        if let Some(feed) = &self.rules {
            feed.pending.forget(partition, epoch);
        }
    }

    /// Runs until the input closes; then cuts every open segment.
    pub async fn run(mut self, mut rx: mpsc::Receiver<Flow>) {
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                flow = rx.recv() => match flow {
                    Some(flow) => if !self.handle(flow).await { return },
                    None => break,
                },
                _ = tick.tick() => if !self.cut_due().await { return },
            }
        }
        let ids: Vec<_> = self.parts.keys().cloned().collect();
        for id in ids {
            self.cut_now(&id).await;
        }
    }

    /// Handles one flow item; false when the output is closed.
    pub async fn handle(&mut self, flow: Flow) -> bool {
        match flow {
            Flow::Assigned {
                partition,
                epoch,
                replay,
            } => {
                if let Some(old) = self.parts.get(&partition) {
                    self.forget_fast(&partition, old.epoch);
                }
                self.parts.insert(
                    partition.clone(),
                    PartitionState::new(partition, epoch, replay),
                );
                true
            }
            Flow::Revoked { partition } => {
                // Unacknowledged work of a revoked partition is abandoned: its new owner replays it.
                if let Some(old) = self.parts.remove(&partition) {
                    self.forget_fast(&partition, old.epoch);
                }
                true
            }
            Flow::Cut { partition, epoch } => {
                if self.parts.get(&partition).is_some_and(|p| p.epoch == epoch) {
                    self.cut_now(&partition).await
                } else {
                    true
                }
            }
            Flow::Message(m) => self.add(m).await,
        }
    }

    /// Adds one message: its partition's state is taken out of the map for the duration, so
    /// the decisions (pure, on the state) and the I/O they ask for (on `self`) never contend.
    async fn add(&mut self, m: Message) -> bool {
        let Some(mut state) = self.parts.remove(&m.partition) else {
            return true;
        };
        let ok = state.epoch != m.epoch || self.add_to(&mut state, m).await;
        self.parts.insert(state.id.clone(), state);
        ok
    }

    async fn add_to(&self, state: &mut PartitionState, mut m: Message) -> bool {
        let cfg = &self.cfg;
        let held = held_bytes(cfg, &m);
        // A replay's recorded cut, or a size limit, comes before this message.
        if let Some(cut) = state.cut_before(cfg, &m, held) {
            if !self.send_cut(state.take(cut)).await {
                return false;
            }
        }
        // Matched before `push` takes the records; sent below, before this offset's segment
        // can be cut.
        let matched = match &self.rules {
            Some(feed) => feed.matches(&m),
            None => Vec::new(),
        };
        let wall = (self.clock)();
        let cwl = state.push(cfg, &mut m, held, Instant::now(), wall);
        // Registered before this offset's segment can be cut (below, or by a later call).
        if let (false, Some(feed)) = (cwl.is_empty(), &self.cwl) {
            let sent = feed
                .send(CwlMessage {
                    partition: m.partition.clone(),
                    epoch: m.epoch,
                    offset: m.offset,
                    key: m.key.clone(),
                    read_at: m.read_at,
                    records: cwl,
                })
                .await;
            if !sent {
                return false;
            }
        }
        // Likewise registered before this offset's segment can be cut.
        if let (false, Some(feed)) = (matched.is_empty(), &self.rules) {
            let sent = feed
                .send(RulesMessage {
                    partition: m.partition.clone(),
                    epoch: m.epoch,
                    offset: m.offset,
                    key: m.key.clone(),
                    read_at: m.read_at,
                    matches: matched,
                })
                .await;
            if !sent {
                return false;
            }
        }
        if state.unresolved_anchor().is_some() {
            self.resolve_file_time(state, wall).await;
        }
        // A new anchor during replay: was this segment delivered before, and where was it cut?
        if let Some(lookup) = state.replay_lookup(cfg, m.offset) {
            // Segments of an earlier epoch may still be landing: before the first lookup of this
            // assignment (nothing of this epoch is in flight yet), wait until they settled.
            if !state.settled {
                self.inflight.settle(&m.partition).await;
                state.settled = true;
            }
            let found = store_call("replay lookup", || {
                self.lookup
                    .lookup(lookup.bucket.clone(), lookup.key.clone())
            })
            .await;
            state.adopt(found, m.offset);
        }
        match state.replay_complete(m.offset) {
            Some(cut) => self.send_cut(state.take(cut)).await,
            None => true,
        }
    }

    /// Settles the time of the open segment whose anchor's own time is outside the window (see
    /// [`crate::file_time`]): the time a marker recorded; on a replay without one, the anchor's
    /// own time if its file exists under it; else `now`, recorded create-only (a racing
    /// writer's time wins).
    async fn resolve_file_time(&self, state: &mut PartitionState, now: i64) {
        let Some(a) = state.unresolved_anchor() else {
            return;
        };
        let id = &state.id;
        let t = &self.cfg.trails[a.key.0];
        let unique = trailpipe_logfile::unique_string(&t.name, &id.source, id.partition, a.offset);
        let marker = file_time::marker_key(t.prefix.as_deref(), &unique);
        let (own, own_source, offset) = (a.timestamp, a.source, a.offset);
        let own_key = file_key(t, id, a.offset, &a.key.1, &a.key.2, own);
        let (lookup, bucket) = (&self.lookup, &t.bucket);
        let recorded = |body: Option<Bytes>| {
            let body = body?;
            let time = file_time::parse_marker(&body);
            if time.is_none() {
                tracing::error!(%bucket, %marker, "file-time marker unreadable; dating the segment by the clock");
            }
            time
        };
        let mut chosen = None;
        if state.replay {
            let body = store_call("file-time marker read", || {
                lookup.read(bucket.clone(), marker.clone())
            })
            .await;
            chosen = recorded(body).map(|t| (t, FileTimeSource::Recorded));
            if chosen.is_none()
                && store_call("replay lookup", || {
                    lookup.lookup(bucket.clone(), own_key.clone())
                })
                .await
                .is_some()
            {
                chosen = Some((own, own_source));
            }
        }
        let (timestamp, source) = match chosen {
            Some(c) => c,
            None => {
                let at = format!("{}/{}@{offset}", id.source, id.partition);
                let body = Bytes::from(file_time::marker_body(now, own, own_source, &at));
                let created = store_call("file-time marker write", || {
                    lookup.create(bucket.clone(), marker.clone(), body.clone())
                })
                .await;
                let time = if created {
                    Some(now)
                } else {
                    let body = store_call("file-time marker read", || {
                        lookup.read(bucket.clone(), marker.clone())
                    })
                    .await;
                    recorded(body)
                };
                tracing::info!(partition = %id, anchor = offset, own, file_time = time.unwrap_or(now), "anchor time outside the window; files dated by the recorded read time");
                metrics::counter!(names::FILE_TIMES_RECORDED).increment(1);
                (time.unwrap_or(now), FileTimeSource::Recorded)
            }
        };
        state.resolve_anchor(timestamp, source);
    }

    /// Cuts every open segment whose wall-clock cut is due (its interval, or memory pressure).
    async fn cut_due(&mut self) -> bool {
        let now = Instant::now();
        let pressure = self.budget.as_ref().is_some_and(|b| b.under_pressure());
        let due: Vec<Cutting> = self
            .parts
            .values_mut()
            .filter_map(|s| {
                let cut = s.due(now, pressure)?;
                s.take(cut)
            })
            .collect();
        for c in due {
            if !self.send_cut(Some(c)).await {
                return false;
            }
        }
        true
    }

    /// Cuts the open segment of `id` at the end of input, shutdown or revoke.
    async fn cut_now(&mut self, id: &Arc<PartitionId>) -> bool {
        let Some(state) = self.parts.get_mut(id) else {
            return true;
        };
        let cutting = state.end().and_then(|cut: Cut| state.take(cut));
        self.send_cut(cutting).await
    }

    /// Sends a cut segment to be built (on the blocking pool) and delivered; false when the
    /// output is closed.
    async fn send_cut(&self, cutting: Option<Cutting>) -> bool {
        let Some(c) = cutting else {
            return true;
        };
        let (id, epoch) = (c.partition.clone(), c.epoch);
        tracing::debug!(partition = %id, epoch, start = c.open.start, end = c.cut.end, anchor = ?c.open.anchor.as_ref().map(|a| a.offset), reason = c.cut.reason.as_str(), "segment cut");
        metrics::counter!(names::SEGMENTS_CUT, "reason" => c.cut.reason.as_str()).increment(1);
        let cfg = self.cfg.clone();
        let built = tokio::task::spawn_blocking(move || c.build(&cfg));
        self.inflight.add(&id);
        self.out
            .send(PendingSegment {
                partition: id,
                epoch,
                built,
            })
            .await
            .is_ok()
    }
}

/// Runs a store call until it answers: guessing "not delivered" or "no marker" on an error
/// could duplicate records, so the segment waits for an answer.
async fn store_call<T>(what: &str, call: impl Fn() -> BoxFuture<'static, Result<T, String>>) -> T {
    trailpipe_retry::until_ok(
        call,
        |_| ErrorClass::Retriable,
        |e| {
            tracing::warn!(error = %e, "{what} failed; retrying");
        },
    )
    .await
}

#[cfg(test)]
mod tests;
