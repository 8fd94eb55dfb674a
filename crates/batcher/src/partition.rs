//! One partition's open segment and its cut rules, as pure state: every method here decides
//! from the records and the configuration alone (plus the instants it is handed) and returns
//! what to do; the batcher ([`crate::segment`]) does the I/O those answers ask for — replay
//! lookups, file-time markers, sending cut segments.
//!
//! Invariant: a segment's records are contiguous offsets `[start, end)` and the next segment
//! starts where the last one was cut (`next_start`), so acknowledging segments in order never
//! skips an offset.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use trailpipe_event::{DeadLetter, Epoch, EventCategory, FieldStr, Message, PartitionId};

use crate::{
    build::file_key,
    file_time::{self, FileTimeSource},
    BatcherConfig, CutReason, CwlRecord, RecordedCut,
};

/// (trail, account, region): one log file of a segment.
pub(crate) type GroupKey = (usize, FieldStr, FieldStr);

/// The records of one file of the open segment.
pub(crate) struct Group {
    pub records: Vec<Bytes>,
    pub bytes: usize,
    pub oldest: i64,
    pub newest: i64,
}

/// The segment's first routed record: it names every file of the segment and dates them.
pub(crate) struct Anchor {
    pub key: GroupKey,
    pub offset: i64,
    /// The files' time (see [`crate::file_time`]).
    pub timestamp: i64,
    pub source: FileTimeSource,
    /// Its own time was outside the window: the time to use is read from, or recorded in, a
    /// marker before the segment goes on.
    pub unresolved: bool,
}

/// The segment being filled.
pub(crate) struct Open {
    pub start: i64,
    pub last: i64,
    pub anchor: Option<Anchor>,
    pub groups: HashMap<GroupKey, Group>,
    pub dead: Vec<DeadLetter>,
    /// Management and Insights events for the event history (routed or not).
    pub history: Vec<Bytes>,
    pub bytes: usize,
    pub opened_at: Instant,
    pub deadline: Option<Instant>,
    /// Cut recorded by an earlier delivery of this segment (replay).
    pub forced_end: Option<i64>,
    /// Its messages' shares of the memory budget.
    pub held: trailpipe_event::Held,
}

/// Where and why to cut a partition's open segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cut {
    pub end: i64,
    pub reason: CutReason,
}

/// A segment taken out of its partition at a cut, to be built into files (see
/// [`crate::build`]).
pub(crate) struct Cutting {
    pub partition: Arc<PartitionId>,
    pub epoch: Epoch,
    pub open: Open,
    pub cut: Cut,
}

/// The replay lookup a new anchor asks for: the recorded cut of its file, if it was delivered.
pub(crate) struct Lookup {
    pub bucket: Arc<str>,
    pub key: String,
}

/// One assignment (epoch) of a partition.
pub(crate) struct PartitionState {
    pub id: Arc<PartitionId>,
    pub epoch: Epoch,
    /// Still rebuilding segments an earlier owner may have delivered.
    pub replay: bool,
    /// Whether the earlier epochs' in-flight segments were awaited (before the first lookup).
    pub settled: bool,
    next_start: Option<i64>,
    pub open: Option<Open>,
}

/// The trails of `mask` that accept `account`: where a record goes. Adding, sizing and the
/// overflow check all walk a record's destinations through this one function.
pub(crate) fn destinations<'a>(
    cfg: &'a BatcherConfig,
    mask: u64,
    account: &'a str,
) -> impl Iterator<Item = usize> + 'a {
    (0..cfg.trails.len()).filter(move |&t| mask & (1 << t) != 0 && cfg.trails[t].accepts(account))
}

/// Whether the event history keeps this record.
fn for_history(cfg: &BatcherConfig, category: &EventCategory) -> bool {
    cfg.history && matches!(category, EventCategory::Management | EventCategory::Insight)
}

/// The bytes an open segment holds for `m`: one copy of each record per trail it is routed to
/// (and accepted by), each rejected record (a dead letter), and each record kept only for the
/// event history. A pure function of the input and the configuration, so size cuts are too.
pub(crate) fn held_bytes(cfg: &BatcherConfig, m: &Message) -> usize {
    m.records
        .iter()
        .enumerate()
        .map(|(i, record)| match record {
            Err(rejected) => rejected.raw.len() + 1,
            Ok(event) => {
                let mask = m.routes.get(i).copied().unwrap_or(0);
                let copies = destinations(cfg, mask, &event.fields.account_id).count();
                let history_only = copies == 0 && for_history(cfg, &event.fields.event_category);
                (event.raw.len() + 1) * (copies + usize::from(history_only))
            }
        })
        .sum()
}

impl PartitionState {
    /// A new assignment; `replay` when an earlier owner may have delivered its segments.
    pub fn new(id: Arc<PartitionId>, epoch: Epoch, replay: bool) -> Self {
        Self {
            id,
            epoch,
            replay,
            settled: false,
            next_start: None,
            open: None,
        }
    }

    /// The cut `m` forces before it is added: the recorded cut of a replayed segment it lies
    /// beyond, or a size or count limit it would break (see [`held_bytes`] for `held`).
    pub fn cut_before(&self, cfg: &BatcherConfig, m: &Message, held: usize) -> Option<Cut> {
        let open = self.open.as_ref()?;
        if let Some(end) = open.forced_end {
            return (m.offset >= end).then_some(Cut {
                end,
                reason: CutReason::Replay,
            });
        }
        let reason = overflow(cfg, open, m, held)?;
        Some(Cut {
            end: m.offset,
            reason,
        })
    }

    /// Adds `m` to the open segment (opening one at the last cut); returns its records bound
    /// for CloudWatch Logs. `now` dates the deadline, `wall` (epoch seconds) checks whether an
    /// anchor's own time is plausible.
    pub fn push(
        &mut self,
        cfg: &BatcherConfig,
        m: &mut Message,
        held: usize,
        now: Instant,
        wall: i64,
    ) -> Vec<CwlRecord> {
        let open = self.open.get_or_insert_with(|| Open {
            start: self.next_start.unwrap_or(m.offset),
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
        let mut cwl = Vec::new();
        for (i, record) in std::mem::take(&mut m.records).into_iter().enumerate() {
            let event = match record {
                Err(rejected) => {
                    open.dead.push(DeadLetter {
                        partition: m.partition.clone(),
                        offset: m.offset,
                        key: m.key.clone(),
                        rejected,
                    });
                    continue;
                }
                Ok(event) => event,
            };
            if for_history(cfg, &event.fields.event_category) {
                open.history.push(event.raw.clone());
            }
            let f = &event.fields;
            let mask = m.routes.get(i).copied().unwrap_or(0);
            for trail in destinations(cfg, mask, &f.account_id) {
                let key: GroupKey = (trail, f.account_id.clone(), f.aws_region.clone());
                if open.anchor.is_none() {
                    let (timestamp, source) = file_time::own_time(m.timestamp_ms, f.event_time);
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
                    cwl.push(CwlRecord {
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
        cwl
    }

    /// The open segment's anchor, while its time still has to be settled by a marker.
    pub fn unresolved_anchor(&self) -> Option<&Anchor> {
        self.open.as_ref()?.anchor.as_ref().filter(|a| a.unresolved)
    }

    /// Dates the open segment's files (the marker's answer).
    pub fn resolve_anchor(&mut self, timestamp: i64, source: FileTimeSource) {
        if let Some(a) = self.open.as_mut().and_then(|o| o.anchor.as_mut()) {
            (a.timestamp, a.source, a.unresolved) = (timestamp, source, false);
        }
    }

    /// During a replay, a segment whose anchor is the message at `offset` asks where an earlier
    /// delivery of it was cut.
    pub fn replay_lookup(&self, cfg: &BatcherConfig, offset: i64) -> Option<Lookup> {
        let open = self.open.as_ref()?;
        let a = open.anchor.as_ref()?;
        if !self.replay || a.offset != offset || open.forced_end.is_some() {
            return None;
        }
        let t = &cfg.trails[a.key.0];
        Some(Lookup {
            bucket: t.bucket.clone(),
            key: file_key(t, &self.id, a.offset, &a.key.1, &a.key.2, a.timestamp),
        })
    }

    /// Applies the replay lookup's answer for the anchor at `offset`: a recorded cut is adopted
    /// (the segment is rebuilt to it); none ends the replay.
    pub fn adopt(&mut self, found: Option<RecordedCut>, offset: i64) {
        match found {
            Some(cut) if cut.first == offset && cut.end > offset => {
                tracing::info!(partition = %self.id, anchor = offset, end = cut.end, "replay: segment already delivered, rebuilding it to its recorded cut");
                if let Some(open) = self.open.as_mut() {
                    open.forced_end = Some(cut.end);
                }
            }
            other => {
                if let Some(cut) = other {
                    tracing::error!(partition = %self.id, anchor = offset, ?cut, "replay: recorded cut does not match its key; treating as not delivered");
                }
                tracing::info!(partition = %self.id, offset, "replay over: resuming normal cuts");
                self.replay = false;
            }
        }
    }

    /// The recorded cut of a replayed segment, once the message at `offset` completes it.
    pub fn replay_complete(&self, offset: i64) -> Option<Cut> {
        let end = self.open.as_ref()?.forced_end?;
        (offset + 1 >= end).then_some(Cut {
            end,
            reason: CutReason::Replay,
        })
    }

    /// The wall-clock cut due at `now`: the open segment's interval passed, or (with the
    /// memory budget `under_pressure`) it holds any share of the budget. A replayed segment is
    /// only ever cut where it was recorded.
    pub fn due(&self, now: Instant, under_pressure: bool) -> Option<Cut> {
        let o = self.open.as_ref().filter(|o| o.forced_end.is_none())?;
        let end = o.last + 1;
        if o.deadline.is_some_and(|d| d <= now) {
            Some(Cut {
                end,
                reason: CutReason::Interval,
            })
        } else if under_pressure && o.held.bytes() > 0 {
            // Open segments hold shares only delivery gives back (a wall-clock cut, recorded in
            // the files' metadata like an interval cut).
            Some(Cut {
                end,
                reason: CutReason::Memory,
            })
        } else {
            None
        }
    }

    /// The cut at the end of input, shutdown or revoke. A replayed segment cut short would
    /// differ from the delivered one: it is dropped for the next run to replay in full (its
    /// offsets are not committed).
    pub fn end(&mut self) -> Option<Cut> {
        let open = self.open.as_ref()?;
        if open.forced_end.is_some() {
            self.open = None;
            return None;
        }
        Some(Cut {
            end: open.last + 1,
            reason: CutReason::End,
        })
    }

    /// Takes the open segment out at `cut`; the next one starts at its end.
    pub fn take(&mut self, cut: Cut) -> Option<Cutting> {
        let open = self.open.take()?;
        self.next_start = Some(cut.end);
        Some(Cutting {
            partition: self.id.clone(),
            epoch: self.epoch,
            open,
            cut,
        })
    }
}

/// Whether adding `m` (holding `added` bytes) to `open` would break a size or count limit.
fn overflow(cfg: &BatcherConfig, open: &Open, m: &Message, added: usize) -> Option<CutReason> {
    for (i, record) in m.records.iter().enumerate() {
        let (Ok(event), Some(&mask)) = (record, m.routes.get(i)) else {
            continue;
        };
        let f = &event.fields;
        for trail in destinations(cfg, mask, &f.account_id) {
            let t = &cfg.trails[trail];
            let key: GroupKey = (trail, f.account_id.clone(), f.aws_region.clone());
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
    (open.bytes > 0 && open.bytes + added > cfg.max_segment_bytes).then_some(CutReason::Size)
}
