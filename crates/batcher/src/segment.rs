//! Per-partition open segments, their cut rules, and the replay lookup of recorded cuts.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use futures::future::BoxFuture;
use tokio::{sync::mpsc, task::JoinHandle};
use trailpipe_event::{DeadLetter, Epoch, EventCategory, Flow, Message, PartitionId};
use trailpipe_telemetry as names;

use crate::{
    build::{build_files, file_key, GroupInput},
    file_time::{self, FileTimeSource},
    CutReason, CwlFeed, CwlMessage, CwlRecord, InFlight, RecordedCut, Segment,
};

/// What the batcher needs to know about a trail.
#[derive(Debug, Clone)]
pub struct TrailOutput {
    /// Trail name (part of the unique file name).
    pub name: Arc<str>,
    /// Destination bucket.
    pub bucket: Arc<str>,
    /// Key prefix.
    pub prefix: Option<Arc<str>>,
    /// Largest uncompressed body of a file.
    pub max_file_bytes: usize,
    /// Most records in a file.
    pub max_file_records: usize,
    /// Longest a record waits before its file is cut.
    pub delivery_interval: Duration,
    /// Organization trails: `o-...`, placed before the account in keys.
    pub organization_id: Option<Arc<str>>,
    /// Accounts the trail accepts (empty: all).
    pub accounts: Arc<[Box<str>]>,
    /// CloudWatch Logs log group (name or ARN) the trail also delivers to.
    pub cwl_log_group: Option<Arc<str>>,
}

impl TrailOutput {
    /// Whether records of `account` go to this trail.
    pub fn accepts(&self, account: &str) -> bool {
        self.accounts.is_empty() || self.accounts.iter().any(|a| &**a == account)
    }
}

/// The batcher's configuration.
#[derive(Debug, Clone)]
pub struct BatcherConfig {
    /// Trails in configuration order (route bit `i` = `trails[i]`).
    pub trails: Vec<TrailOutput>,
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

type GroupKey = (usize, Box<str>, Box<str>);

struct Group {
    records: Vec<bytes::Bytes>,
    bytes: usize,
    oldest: i64,
    newest: i64,
}

struct Anchor {
    key: GroupKey,
    offset: i64,
    /// The files' time (see [`crate::file_time`]).
    timestamp: i64,
    source: FileTimeSource,
    /// Its own time was outside the window: the time to use is read from, or recorded in, a
    /// marker before the segment goes on.
    unresolved: bool,
}

struct Open {
    start: i64,
    last: i64,
    anchor: Option<Anchor>,
    groups: HashMap<GroupKey, Group>,
    dead: Vec<DeadLetter>,
    /// Management and Insights events for the event history (routed or not).
    history: Vec<bytes::Bytes>,
    bytes: usize,
    opened_at: Instant,
    deadline: Option<Instant>,
    /// Cut recorded by an earlier delivery of this segment (replay).
    forced_end: Option<i64>,
    /// Its messages' shares of the memory budget.
    held: trailpipe_event::Held,
}

struct PartitionState {
    id: Arc<PartitionId>,
    epoch: Epoch,
    replay: bool,
    /// Whether the earlier epochs' in-flight segments were awaited (before the first lookup).
    settled: bool,
    next_start: Option<i64>,
    open: Option<Open>,
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

    /// The assignment `(partition, epoch)` ended: CloudWatch Logs records still pending for it
    /// no longer hold anything up.
    fn forget_cwl(&self, partition: &Arc<PartitionId>, epoch: Epoch) {
        if let Some(feed) = &self.cwl {
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
                    self.forget_cwl(&partition, old.epoch);
                }
                self.parts.insert(
                    partition.clone(),
                    PartitionState {
                        id: partition,
                        epoch,
                        replay,
                        settled: false,
                        next_start: None,
                        open: None,
                    },
                );
                true
            }
            Flow::Revoked { partition } => {
                // Unacknowledged work of a revoked partition is abandoned: its new owner replays it.
                if let Some(old) = self.parts.remove(&partition) {
                    self.forget_cwl(&partition, old.epoch);
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

    async fn add(&mut self, mut m: Message) -> bool {
        let Some(state) = self.parts.get_mut(&m.partition) else {
            return true;
        };
        if state.epoch != m.epoch {
            return true;
        }
        let held = held_bytes(&self.cfg, &m);
        // Replay: the recorded cut comes before this message.
        if let Some(open) = &state.open {
            if open.forced_end.is_some_and(|e| m.offset >= e) {
                let end = open.forced_end.unwrap_or(m.offset);
                if !self.cut(&m.partition.clone(), end, CutReason::Replay).await {
                    return false;
                }
            } else if open.forced_end.is_none() {
                if let Some(reason) = self.would_overflow(&m, held) {
                    if !self.cut(&m.partition.clone(), m.offset, reason).await {
                        return false;
                    }
                }
            }
        }
        let cfg = self.cfg.clone();
        let wall = (self.clock)();
        let state = self.parts.get_mut(&m.partition).expect("present above");
        let now = Instant::now();
        let open = state.open.get_or_insert_with(|| Open {
            start: state.next_start.unwrap_or(m.offset),
            last: m.offset,
            anchor: None,
            groups: HashMap::new(),
            dead: Vec::new(),
            history: Vec::new(),
            bytes: 0,
            opened_at: now,
            deadline: None,
            forced_end: None,
            held: trailpipe_event::Held::default(),
        });
        open.last = m.offset;
        open.held.merge(std::mem::take(&mut m.held));
        // Everything the segment holds counts towards `max_segment_bytes`, not only routed
        // records: a partition of rejected or history-only records is cut by size too.
        open.bytes += held;
        let mut cwl_records = Vec::new();
        for (i, record) in m.records.into_iter().enumerate() {
            match record {
                Err(rejected) => open.dead.push(DeadLetter {
                    partition: m.partition.clone(),
                    offset: m.offset,
                    key: m.key.clone(),
                    rejected,
                }),
                Ok(event) => {
                    if cfg.history
                        && matches!(
                            event.fields.event_category,
                            EventCategory::Management | EventCategory::Insight
                        )
                    {
                        open.history.push(event.raw.clone());
                    }
                    let mask = m.routes.get(i).copied().unwrap_or(0);
                    if mask == 0 {
                        continue;
                    }
                    let f = &event.fields;
                    for trail in (0..cfg.trails.len())
                        .filter(|&t| mask & (1 << t) != 0 && cfg.trails[t].accepts(&f.account_id))
                    {
                        let key: GroupKey = (trail, f.account_id.clone(), f.aws_region.clone());
                        if open.anchor.is_none() {
                            let (timestamp, source) =
                                file_time::own_time(m.timestamp_ms, f.event_time);
                            open.anchor = Some(Anchor {
                                key: key.clone(),
                                offset: m.offset,
                                timestamp,
                                source,
                                unresolved: !file_time::within_window(timestamp, wall),
                            });
                        }
                        let deadline = now + cfg.trails[trail].delivery_interval;
                        open.deadline = Some(open.deadline.map_or(deadline, |d| d.min(deadline)));
                        let g = open.groups.entry(key).or_insert_with(|| Group {
                            records: Vec::new(),
                            bytes: 0,
                            oldest: f.event_time,
                            newest: f.event_time,
                        });
                        g.bytes += event.raw.len() + 1;
                        g.oldest = g.oldest.min(f.event_time);
                        g.newest = g.newest.max(f.event_time);
                        g.records.push(event.raw.clone());
                        if let Some(log_group) = &cfg.trails[trail].cwl_log_group {
                            cwl_records.push(CwlRecord {
                                trail,
                                log_group: log_group.clone(),
                                account: f.account_id.clone(),
                                region: f.aws_region.clone(),
                                time_ms: f.event_time.saturating_mul(1000),
                                raw: event.raw.clone(),
                            });
                        }
                    }
                }
            }
        }
        if open.deadline.is_none() {
            // Nothing routed yet: dead letters, records no trail selects, history-only records
            // (the API's own calls, say). They still need a cut for their offsets to be
            // committed (and the history's records stored): the shortest trail interval,
            // rather than waiting for a routed record that may never come.
            let shortest = cfg
                .trails
                .iter()
                .map(|t| t.delivery_interval)
                .min()
                .unwrap_or(Duration::from_secs(1));
            open.deadline = Some(now + shortest);
        }
        // Registered before this offset's segment can be cut (below, or by a later call).
        if !cwl_records.is_empty() {
            if let Some(feed) = &self.cwl {
                let sent = feed
                    .send(CwlMessage {
                        partition: m.partition.clone(),
                        epoch: m.epoch,
                        offset: m.offset,
                        key: m.key.clone(),
                        read_at: m.read_at,
                        records: cwl_records,
                    })
                    .await;
                if !sent {
                    return false;
                }
            }
        }
        if self.parts[&m.partition]
            .open
            .as_ref()
            .and_then(|o| o.anchor.as_ref())
            .is_some_and(|a| a.unresolved)
        {
            self.resolve_file_time(&m.partition, wall).await;
        }
        let state = self.parts.get_mut(&m.partition).expect("present above");
        let open = state.open.as_mut().expect("opened above");
        // A new anchor during replay: was this segment delivered before, and where was it cut?
        let needs_lookup = state.replay
            && open.anchor.as_ref().is_some_and(|a| a.offset == m.offset)
            && open.forced_end.is_none();
        if needs_lookup {
            let a = open.anchor.as_ref().expect("checked");
            let t = &cfg.trails[a.key.0];
            let key = file_key(t, &m.partition, a.offset, &a.key.1, &a.key.2, a.timestamp);
            // Segments of an earlier epoch may still be landing: before the first lookup of this
            // assignment (nothing of this epoch is in flight yet), wait until they settled.
            if !self.parts.get(&m.partition).is_some_and(|s| s.settled) {
                self.inflight.settle(&m.partition).await;
                if let Some(s) = self.parts.get_mut(&m.partition) {
                    s.settled = true;
                }
            }
            let found = {
                let (lookup, bucket) = (&self.lookup, &t.bucket);
                retry("replay lookup", || {
                    lookup.lookup(bucket.clone(), key.clone())
                })
                .await
            };
            let state = self.parts.get_mut(&m.partition).expect("present above");
            match found {
                Some(cut) if cut.first == m.offset && cut.end > m.offset => {
                    tracing::info!(partition = %m.partition, anchor = m.offset, end = cut.end, "replay: segment already delivered, rebuilding it to its recorded cut");
                    if let Some(open) = state.open.as_mut() {
                        open.forced_end = Some(cut.end);
                    }
                }
                other => {
                    if let Some(cut) = other {
                        tracing::error!(partition = %m.partition, anchor = m.offset, ?cut, "replay: recorded cut does not match its key; treating as not delivered");
                    }
                    tracing::info!(partition = %m.partition, offset = m.offset, "replay over: resuming normal cuts");
                    state.replay = false;
                }
            }
        }
        let state = self.parts.get(&m.partition).expect("present above");
        if let Some(e) = state.open.as_ref().and_then(|o| o.forced_end) {
            if m.offset + 1 >= e {
                return self.cut(&m.partition.clone(), e, CutReason::Replay).await;
            }
        }
        true
    }

    /// Settles the time of the open segment of `id` whose anchor's own time is outside the
    /// window (see [`crate::file_time`]): the time a marker recorded; on a replay without one,
    /// the anchor's own time if its file exists under it; else `now`, recorded create-only (a
    /// racing writer's time wins).
    async fn resolve_file_time(&mut self, id: &Arc<PartitionId>, now: i64) {
        let Some(state) = self.parts.get(id) else {
            return;
        };
        let Some(a) = state.open.as_ref().and_then(|o| o.anchor.as_ref()) else {
            return;
        };
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
            let body = retry("file-time marker read", || {
                lookup.read(bucket.clone(), marker.clone())
            })
            .await;
            chosen = recorded(body).map(|t| (t, FileTimeSource::Recorded));
            if chosen.is_none()
                && retry("replay lookup", || {
                    lookup.lookup(bucket.clone(), own_key.clone())
                })
                .await
                .is_some()
            {
                chosen = Some((own, own_source));
            }
        }
        let chosen = match chosen {
            Some(c) => c,
            None => {
                let at = format!("{}/{}@{offset}", id.source, id.partition);
                let body = Bytes::from(file_time::marker_body(now, own, own_source, &at));
                let created = retry("file-time marker write", || {
                    lookup.create(bucket.clone(), marker.clone(), body.clone())
                })
                .await;
                let time = if created {
                    Some(now)
                } else {
                    let body = retry("file-time marker read", || {
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
        if let Some(a) = self
            .parts
            .get_mut(id)
            .and_then(|s| s.open.as_mut())
            .and_then(|o| o.anchor.as_mut())
        {
            (a.timestamp, a.source, a.unresolved) = (chosen.0, chosen.1, false);
        }
    }

    /// Whether adding `m` (holding `added` bytes, see [`held_bytes`]) to its partition's open
    /// segment would break a size or count limit.
    fn would_overflow(&self, m: &Message, added: usize) -> Option<CutReason> {
        let open = self.parts.get(&m.partition)?.open.as_ref()?;
        for (i, record) in m.records.iter().enumerate() {
            let (Ok(event), Some(&mask)) = (record, m.routes.get(i)) else {
                continue;
            };
            for trail in (0..self.cfg.trails.len()).filter(|&t| {
                mask & (1 << t) != 0 && self.cfg.trails[t].accepts(&event.fields.account_id)
            }) {
                let t = &self.cfg.trails[trail];
                let key: GroupKey = (
                    trail,
                    event.fields.account_id.clone(),
                    event.fields.aws_region.clone(),
                );
                if let Some(g) = open.groups.get(&key) {
                    if g.records.len() + 1 > t.max_file_records {
                        return Some(CutReason::Records);
                    }
                    if g.bytes + event.raw.len() + 1 > t.max_file_bytes {
                        return Some(CutReason::Size);
                    }
                }
            }
        }
        (open.bytes > 0 && open.bytes + added > self.cfg.max_segment_bytes)
            .then_some(CutReason::Size)
    }

    async fn cut_due(&mut self) -> bool {
        let now = Instant::now();
        let due: Vec<_> = self
            .parts
            .values()
            .filter_map(|s| {
                let o = s.open.as_ref()?;
                (o.forced_end.is_none() && o.deadline.is_some_and(|d| d <= now))
                    .then(|| (s.id.clone(), o.last + 1))
            })
            .collect();
        for (id, end) in due {
            if !self.cut(&id, end, CutReason::Interval).await {
                return false;
            }
        }
        if self.budget.as_ref().is_some_and(|b| b.under_pressure()) {
            // Open segments hold shares only delivery gives back: cut every one holding any
            // (a wall-clock cut, recorded in the files' metadata like an interval cut).
            let holding: Vec<_> = self
                .parts
                .values()
                .filter_map(|s| {
                    let o = s.open.as_ref()?;
                    (o.forced_end.is_none() && o.held.bytes() > 0)
                        .then(|| (s.id.clone(), o.last + 1))
                })
                .collect();
            for (id, end) in holding {
                if !self.cut(&id, end, CutReason::Memory).await {
                    return false;
                }
            }
        }
        true
    }

    async fn cut_now(&mut self, id: &Arc<PartitionId>) -> bool {
        let Some(open) = self.parts.get(id).and_then(|s| s.open.as_ref()) else {
            return true;
        };
        if open.forced_end.is_some() {
            // A replayed segment cut short would differ from the delivered one: leave it for the
            // next run to replay in full (its offsets are not committed).
            if let Some(s) = self.parts.get_mut(id) {
                s.open = None;
            }
            return true;
        }
        let end = open.last + 1;
        self.cut(id, end, CutReason::End).await
    }

    /// Cuts the open segment of `id` at `end` and sends it to be built and delivered.
    async fn cut(&mut self, id: &Arc<PartitionId>, end: i64, reason: CutReason) -> bool {
        let Some(state) = self.parts.get_mut(id) else {
            return true;
        };
        let Some(open) = state.open.take() else {
            return true;
        };
        state.next_start = Some(end);
        tracing::debug!(partition = %id, epoch = state.epoch, start = open.start, end, anchor = ?open.anchor.as_ref().map(|a| a.offset), reason = reason.as_str(), "segment cut");
        metrics::counter!(names::SEGMENTS_CUT, "reason" => reason.as_str()).increment(1);
        let (cfg, partition, epoch) = (self.cfg.clone(), id.clone(), state.epoch);
        let built = tokio::task::spawn_blocking(move || {
            let Open {
                start,
                anchor,
                mut groups,
                dead,
                history,
                opened_at,
                held,
                ..
            } = open;
            let (files, anchor_offset) = match anchor {
                None => (Vec::new(), None),
                Some(a) => {
                    // The anchor file first; the rest in a fixed order.
                    let mut keys: Vec<GroupKey> =
                        groups.keys().filter(|k| **k != a.key).cloned().collect();
                    keys.sort();
                    keys.insert(0, a.key.clone());
                    let inputs: Vec<GroupInput> = keys
                        .into_iter()
                        .filter_map(|k| {
                            let g = groups.remove(&k)?;
                            Some(GroupInput {
                                trail: k.0,
                                account: k.1,
                                region: k.2,
                                records: g.records,
                                oldest: g.oldest,
                                newest: g.newest,
                            })
                        })
                        .collect();
                    (
                        build_files(
                            &cfg.trails,
                            &partition,
                            a.offset,
                            a.timestamp,
                            inputs,
                            cfg.compression_level,
                        ),
                        Some((a.offset, a.source)),
                    )
                }
            };
            Segment {
                partition,
                epoch,
                start,
                end,
                anchor: anchor_offset.map(|a| a.0),
                file_time: anchor_offset.map(|a| a.1),
                files,
                dead_letters: dead,
                history,
                cut: reason,
                opened_at,
                held,
            }
        });
        self.inflight.add(id);
        self.out
            .send(PendingSegment {
                partition: id.clone(),
                epoch,
                built,
            })
            .await
            .is_ok()
    }
}

/// The bytes an open segment holds for `m`: one copy of each record per trail it is routed to
/// (and accepted by), each rejected record (a dead letter), and each record kept only for the
/// event history. A pure function of the input and the configuration, so size cuts are too.
fn held_bytes(cfg: &BatcherConfig, m: &Message) -> usize {
    m.records
        .iter()
        .enumerate()
        .map(|(i, record)| match record {
            Err(rejected) => rejected.raw.len() + 1,
            Ok(event) => {
                let mask = m.routes.get(i).copied().unwrap_or(0);
                let copies = (0..cfg.trails.len())
                    .filter(|&t| {
                        mask & (1 << t) != 0 && cfg.trails[t].accepts(&event.fields.account_id)
                    })
                    .count();
                let history_only = copies == 0
                    && cfg.history
                    && matches!(
                        event.fields.event_category,
                        EventCategory::Management | EventCategory::Insight
                    );
                (event.raw.len() + 1) * (copies + usize::from(history_only))
            }
        })
        .sum()
}

/// Runs a store call until it answers, retrying errors with capped exponential backoff:
/// guessing "not delivered" or "no marker" on an error could duplicate records, so the segment
/// waits for an answer.
async fn retry<T>(what: &str, call: impl Fn() -> BoxFuture<'static, Result<T, String>>) -> T {
    let mut delay = Duration::from_millis(100);
    loop {
        match call().await {
            Ok(found) => return found,
            Err(e) => {
                tracing::warn!(error = %e, "{what} failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    }
}

#[cfg(test)]
mod tests;
