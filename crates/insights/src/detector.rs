//! The detector: per-(account, region) event-time clocks, per-API open minutes, and the cap on
//! tracked APIs.
//!
//! Invariants: a minute of an (account, region) closes exactly once, when a record of that
//! (account, region) at least `allowed_lateness_secs` after the minute's end arrives, or when
//! [`Detector::advance`] passes that point; a record for a closed minute is counted as late and
//! ignored. Closing depends only on the input order, never on the wall clock, so the same input
//! yields the same records. Records returned by one call are sorted by (eventTime, account,
//! region, eventSource, eventName, insightType, state).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use trailpipe_event::{Event, RoutingFields};

use crate::config::InsightConfig;
use crate::record::{InsightRecord, InsightType};
use crate::series::Series;
use crate::signal::{Ctx, MinuteObs, SignalState};
use crate::topk::{Attrs, Interner, MINUTE_CAP};
use crate::InsightError;

/// Most silent minutes walked in one catch-up while an insight is in progress (two days; a
/// real insight ends after a few quiet minutes).
const MAX_SILENT_CATCH_UP: i64 = 2 * 1440;

/// Counters a caller can export as metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetectorStats {
    /// Records passed to [`Detector::observe`].
    pub records_seen: u64,
    /// Management API calls counted into a minute.
    pub records_analysed: u64,
    /// Records whose minute had already closed (ignored).
    pub late_records: u64,
    /// Records of a new API ignored because every tracked API was busy and the cap was reached.
    pub untracked_records: u64,
    /// APIs evicted to stay under `max_tracked_apis`.
    pub evicted_apis: u64,
    /// Start records emitted.
    pub insights_started: u64,
    /// End records emitted.
    pub insights_ended: u64,
}

/// One (account, region): its own event-time clock.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Scope {
    account_id: Box<str>,
    aws_region: Box<str>,
    /// Latest `eventTime` seen (or passed to `advance`).
    watermark: i64,
    /// Minutes before this one are closed.
    next_open_minute: i64,
    /// First minute of this scope's history (the baseline never reaches before it).
    history_start_minute: i64,
    /// APIs with open minutes, or with an insight in progress (rebuilt on restore).
    #[serde(skip)]
    busy: Vec<u32>,
}

/// One open minute of one API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Pending {
    minute: i64,
    writes: u32,
    calls: u32,
    errors: u32,
    write_attrs: Attrs,
    error_attrs: Attrs,
}

/// One tracked (account, region, eventSource, eventName).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ApiState {
    scope: u32,
    event_source: Box<str>,
    event_name: Box<str>,
    last_seen_minute: i64,
    /// Minutes before this one have been closed for this API.
    next_minute: i64,
    /// Open minutes, ascending.
    pending: Vec<Pending>,
    series: Series,
    call: SignalState,
    error: SignalState,
    #[serde(skip)]
    busy: bool,
}

impl ApiState {
    fn any_active(&self) -> bool {
        self.call.is_active() || self.error.is_active()
    }

    fn lookup_key(&self, scopes: &[Scope]) -> String {
        let s = &scopes[self.scope as usize];
        api_key(
            &s.account_id,
            &s.aws_region,
            &self.event_source,
            &self.event_name,
        )
    }

    /// Closes every minute before `to`.
    fn close_until(
        &mut self,
        to: i64,
        scope: &Scope,
        cfg: &InsightConfig,
        out: &mut Vec<InsightRecord>,
    ) {
        loop {
            let next_pending = self.pending.first().map(|p| p.minute).filter(|m| *m < to);
            let stop = next_pending.unwrap_or(to);
            // Silent minutes only matter while an insight is in progress (they may end it, and
            // do within minutes). At most MAX_SILENT_CATCH_UP of them are walked: a snapshot
            // whose clock lags years behind (corrupt, or hand-edited) costs no more than that.
            let walk_to = stop.min(self.next_minute.saturating_add(MAX_SILENT_CATCH_UP));
            while self.next_minute < walk_to && self.any_active() {
                let none = Pending::default();
                self.close_minute(self.next_minute, &none, scope, cfg, out);
                self.next_minute += 1;
            }
            self.next_minute = self.next_minute.max(stop);
            match next_pending {
                Some(m) => {
                    let p = self.pending.remove(0);
                    self.close_minute(m, &p, scope, cfg, out);
                    self.next_minute = m + 1;
                }
                None => break,
            }
        }
    }

    fn close_minute(
        &mut self,
        m: i64,
        p: &Pending,
        scope: &Scope,
        cfg: &InsightConfig,
        out: &mut Vec<InsightRecord>,
    ) {
        let obs = MinuteObs {
            writes: p.writes,
            calls: p.calls,
            errors: p.errors,
            write_attrs: &p.write_attrs,
            error_attrs: &p.error_attrs,
        };
        let ctx = Ctx {
            cfg,
            account_id: &scope.account_id,
            aws_region: &scope.aws_region,
            event_source: &self.event_source,
            event_name: &self.event_name,
            history_start_minute: scope.history_start_minute,
        };
        let mut writes = p.writes;
        let mut errors = p.errors;
        if cfg.call_rate {
            writes =
                self.call
                    .on_minute(InsightType::ApiCallRate, m, &obs, &self.series, &ctx, out);
        }
        if cfg.error_rate {
            errors =
                self.error
                    .on_minute(InsightType::ApiErrorRate, m, &obs, &self.series, &ctx, out);
        }
        if p.calls > 0 {
            self.series.add_minute(m, writes, p.calls, errors);
        }
    }

    fn heap_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.event_source.len()
            + self.event_name.len()
            + self.series.heap_bytes()
            + self.call.heap_bytes()
            + self.error.heap_bytes()
            + self.pending.capacity() * std::mem::size_of::<Pending>()
    }
}

fn api_key(account: &str, region: &str, source: &str, name: &str) -> String {
    let mut k = String::with_capacity(account.len() + region.len() + source.len() + name.len() + 3);
    push_api_key(&mut k, account, region, source, name);
    k
}

fn push_api_key(k: &mut String, account: &str, region: &str, source: &str, name: &str) {
    k.clear();
    for (i, part) in [account, region, source, name].into_iter().enumerate() {
        if i > 0 {
            k.push('\n');
        }
        k.push_str(part);
    }
}

/// CloudTrail Insights for the events of one trail. See the crate documentation for the model.
#[derive(Debug)]
pub struct Detector {
    cfg: InsightConfig,
    scopes: Vec<Scope>,
    scope_index: HashMap<Box<str>, u32>,
    apis: Vec<Option<ApiState>>,
    free: Vec<u32>,
    api_index: HashMap<Box<str>, u32>,
    interner: Interner,
    stats: DetectorStats,
    key_buf: String,
}

/// What a snapshot holds (after the magic and version bytes).
#[derive(Serialize, Deserialize)]
struct SnapshotBody {
    scopes: Vec<Scope>,
    apis: Vec<ApiState>,
    stats: DetectorStats,
}

/// First bytes of every snapshot.
const SNAPSHOT_MAGIC: &[u8; 4] = b"TPIN";
/// Bumped whenever the snapshot layout changes; older snapshots are refused, not misread.
const SNAPSHOT_VERSION: u8 = 1;

impl Detector {
    /// A detector with no history. Fails if `cfg` does not validate.
    pub fn new(cfg: InsightConfig) -> Result<Self, InsightError> {
        cfg.validate()?;
        Ok(Self {
            cfg,
            scopes: Vec::new(),
            scope_index: HashMap::new(),
            apis: Vec::new(),
            free: Vec::new(),
            api_index: HashMap::new(),
            interner: Interner::default(),
            stats: DetectorStats::default(),
            key_buf: String::new(),
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &InsightConfig {
        &self.cfg
    }

    /// Counters since the detector's history began (they survive snapshots).
    pub fn stats(&self) -> DetectorStats {
        self.stats
    }

    /// APIs currently tracked.
    pub fn tracked_apis(&self) -> usize {
        self.api_index.len()
    }

    /// Approximate heap bytes held (state of every API plus the shared strings).
    pub fn memory_bytes(&self) -> usize {
        self.apis
            .iter()
            .flatten()
            .map(ApiState::heap_bytes)
            .sum::<usize>()
            + self.interner.heap_bytes()
            + self.apis.capacity() * std::mem::size_of::<Option<ApiState>>()
    }

    /// Feeds one record; returns the Insights records it caused (usually none).
    pub fn observe(&mut self, event: &Event) -> Vec<InsightRecord> {
        self.observe_fields(&event.fields)
    }

    /// [`Detector::observe`] for callers that hold only the parsed fields.
    pub fn observe_fields(&mut self, f: &RoutingFields) -> Vec<InsightRecord> {
        self.stats.records_seen = self.stats.records_seen.saturating_add(1);
        let scope = self.scope_for(&f.account_id, &f.aws_region, f.event_time);
        let minute = f.event_time.div_euclid(60);
        if minute < self.scopes[scope as usize].next_open_minute {
            self.stats.late_records = self.stats.late_records.saturating_add(1);
            return Vec::new();
        }
        if let (true, Some(source), Some(name)) = (
            f.is_management() && f.event_type.as_deref() != Some("AwsCloudTrailInsight"),
            &f.event_source,
            &f.event_name,
        ) {
            self.count(scope, source, name, minute, f);
        }
        let mut out = Vec::new();
        self.advance_scope(scope, f.event_time, &mut out);
        self.finish(out)
    }

    /// Moves every (account, region)'s clock to at least `event_time` and closes the minutes
    /// that passes (for idle streams; call it with the stream's own time, not the wall clock,
    /// to stay deterministic).
    pub fn advance(&mut self, event_time: i64) -> Vec<InsightRecord> {
        let mut out = Vec::new();
        for s in 0..self.scopes.len() {
            self.advance_scope(s as u32, event_time, &mut out);
        }
        self.finish(out)
    }

    fn finish(&mut self, mut out: Vec<InsightRecord>) -> Vec<InsightRecord> {
        if out.len() > 1 {
            out.sort_by(|a, b| {
                (
                    a.event_time,
                    &a.account_id,
                    &a.aws_region,
                    &a.event_source,
                    &a.event_name,
                    a.insight_type,
                    a.state,
                )
                    .cmp(&(
                        b.event_time,
                        &b.account_id,
                        &b.aws_region,
                        &b.event_source,
                        &b.event_name,
                        b.insight_type,
                        b.state,
                    ))
            });
        }
        for r in &out {
            match r.state {
                crate::InsightState::Start => {
                    self.stats.insights_started = self.stats.insights_started.saturating_add(1)
                }
                crate::InsightState::End => {
                    self.stats.insights_ended = self.stats.insights_ended.saturating_add(1)
                }
            }
        }
        out
    }

    fn scope_for(&mut self, account: &str, region: &str, event_time: i64) -> u32 {
        self.key_buf.clear();
        self.key_buf.push_str(account);
        self.key_buf.push('\n');
        self.key_buf.push_str(region);
        if let Some(i) = self.scope_index.get(self.key_buf.as_str()) {
            return *i;
        }
        let minute = event_time.div_euclid(60);
        let i = self.scopes.len() as u32;
        self.scopes.push(Scope {
            account_id: account.into(),
            aws_region: region.into(),
            watermark: event_time,
            next_open_minute: minute,
            history_start_minute: minute,
            busy: Vec::new(),
        });
        self.scope_index.insert(self.key_buf.as_str().into(), i);
        i
    }

    fn count(&mut self, scope: u32, source: &str, name: &str, minute: i64, f: &RoutingFields) {
        let s = &self.scopes[scope as usize];
        push_api_key(
            &mut self.key_buf,
            &s.account_id,
            &s.aws_region,
            source,
            name,
        );
        let idx = match self.api_index.get(self.key_buf.as_str()) {
            Some(i) => *i,
            None => match self.insert_api(scope, source, name) {
                Some(i) => i,
                None => {
                    self.stats.untracked_records = self.stats.untracked_records.saturating_add(1);
                    return;
                }
            },
        };
        self.stats.records_analysed = self.stats.records_analysed.saturating_add(1);
        let api = self.apis[idx as usize]
            .as_mut()
            .expect("indexed APIs are live");
        api.last_seen_minute = api.last_seen_minute.max(minute);
        let pos = match api.pending.binary_search_by_key(&minute, |p| p.minute) {
            Ok(p) => p,
            Err(p) => {
                api.pending.insert(
                    p,
                    Pending {
                        minute,
                        ..Pending::default()
                    },
                );
                p
            }
        };
        let p = &mut api.pending[pos];
        let write = f.read_only == Some(false);
        let error = f.error_code.is_some();
        p.calls += 1;
        let values = [
            f.user_identity
                .arn
                .as_deref()
                .or(f.user_identity.invoked_by.as_deref())
                .unwrap_or("null"),
            f.user_agent.as_deref().unwrap_or("null"),
            f.error_code.as_deref().unwrap_or("null"),
        ];
        if write && self.cfg.call_rate {
            p.writes += 1;
            for (t, v) in p.write_attrs.iter_mut().zip(values) {
                t.add_str(v, 1, MINUTE_CAP, &mut self.interner);
            }
        }
        if error && self.cfg.error_rate {
            p.errors += 1;
            for (t, v) in p.error_attrs.iter_mut().zip(values) {
                t.add_str(v, 1, MINUTE_CAP, &mut self.interner);
            }
        } else if error {
            p.errors += 1;
        }
        if !api.busy {
            api.busy = true;
            self.scopes[scope as usize].busy.push(idx);
        }
    }

    /// Creates an API's state, evicting idle ones first if the cap is reached. `None` when
    /// every tracked API has open minutes or an insight in progress.
    fn insert_api(&mut self, scope: u32, source: &str, name: &str) -> Option<u32> {
        if self.api_index.len() >= self.cfg.max_tracked_apis && !self.evict_idle() {
            return None;
        }
        let s = &self.scopes[scope as usize];
        let state = ApiState {
            scope,
            event_source: source.into(),
            event_name: name.into(),
            last_seen_minute: s.next_open_minute,
            next_minute: s.next_open_minute,
            pending: Vec::new(),
            series: Series::default(),
            call: SignalState::default(),
            error: SignalState::default(),
            busy: false,
        };
        let idx = match self.free.pop() {
            Some(i) => {
                self.apis[i as usize] = Some(state);
                i
            }
            None => {
                self.apis.push(Some(state));
                (self.apis.len() - 1) as u32
            }
        };
        self.api_index.insert(self.key_buf.as_str().into(), idx);
        Some(idx)
    }

    /// Evicts the least recently seen tenth of the idle APIs (no open minute, no insight in
    /// progress); ties broken by key so the choice is deterministic. Returns whether any went.
    fn evict_idle(&mut self) -> bool {
        let mut idle: Vec<(i64, String, u32)> = self
            .apis
            .iter()
            .enumerate()
            .filter_map(|(i, a)| a.as_ref().map(|a| (i, a)))
            .filter(|(_, a)| !a.busy && !a.any_active())
            .map(|(i, a)| (a.last_seen_minute, a.lookup_key(&self.scopes), i as u32))
            .collect();
        if idle.is_empty() {
            return false;
        }
        idle.sort();
        let n = (self.cfg.max_tracked_apis / 10).clamp(1, idle.len());
        for (_, key, i) in idle.into_iter().take(n) {
            self.api_index.remove(key.as_str());
            self.apis[i as usize] = None;
            self.free.push(i);
            self.stats.evicted_apis = self.stats.evicted_apis.saturating_add(1);
        }
        self.interner.prune();
        true
    }

    fn advance_scope(&mut self, scope: u32, event_time: i64, out: &mut Vec<InsightRecord>) {
        let lateness = i64::from(self.cfg.allowed_lateness_secs);
        let s = &mut self.scopes[scope as usize];
        s.watermark = s.watermark.max(event_time);
        let to = (s.watermark - lateness).div_euclid(60);
        if to <= s.next_open_minute {
            return;
        }
        s.next_open_minute = to;
        let mut busy = std::mem::take(&mut s.busy);
        busy.sort_unstable();
        busy.dedup();
        let s = &self.scopes[scope as usize];
        let mut still = Vec::new();
        for i in busy {
            let Some(api) = self.apis[i as usize].as_mut() else {
                continue;
            };
            api.close_until(to, s, &self.cfg, out);
            api.busy = !api.pending.is_empty() || api.any_active();
            if api.busy {
                still.push(i);
            }
        }
        self.scopes[scope as usize].busy = still;
    }

    /// The whole state (baselines, open minutes, insights in progress, counters) in a compact
    /// binary form, to be written atomically and given to [`Detector::restore`] after a restart.
    pub fn snapshot(&self) -> Vec<u8> {
        let mut apis: Vec<(String, &ApiState)> = self
            .apis
            .iter()
            .flatten()
            .map(|a| (a.lookup_key(&self.scopes), a))
            .collect();
        apis.sort_by(|a, b| a.0.cmp(&b.0));
        #[derive(Serialize)]
        struct Borrowed<'a> {
            scopes: &'a [Scope],
            apis: Vec<&'a ApiState>,
            stats: DetectorStats,
        }
        let body = Borrowed {
            scopes: &self.scopes,
            apis: apis.into_iter().map(|(_, a)| a).collect(),
            stats: self.stats,
        };
        let mut out = Vec::with_capacity(64 * 1024);
        out.extend_from_slice(SNAPSHOT_MAGIC);
        out.push(SNAPSHOT_VERSION);
        postcard::to_io(&body, &mut out).expect("writing to a Vec cannot fail");
        out
    }

    /// A detector that continues from `snapshot` (made by [`Detector::snapshot`]) under `cfg`.
    pub fn restore(cfg: InsightConfig, snapshot: &[u8]) -> Result<Self, InsightError> {
        let mut d = Self::new(cfg)?;
        let body = match snapshot {
            [m0, m1, m2, m3, v, rest @ ..] if [*m0, *m1, *m2, *m3] == *SNAPSHOT_MAGIC => {
                if *v != SNAPSHOT_VERSION {
                    return Err(InsightError::SnapshotVersion(*v));
                }
                rest
            }
            _ => return Err(InsightError::Snapshot("missing magic bytes".into())),
        };
        let body: SnapshotBody =
            postcard::from_bytes(body).map_err(|e| InsightError::Snapshot(e.to_string()))?;
        d.stats = body.stats;
        d.scopes = body.scopes;
        for (i, s) in d.scopes.iter().enumerate() {
            let key = format!("{}\n{}", s.account_id, s.aws_region);
            d.scope_index.insert(key.into(), i as u32);
        }
        for mut api in body.apis {
            let scope = d.scopes.get_mut(api.scope as usize).ok_or_else(|| {
                InsightError::Snapshot(format!("API refers to missing scope {}", api.scope))
            })?;
            let idx = d.apis.len() as u32;
            api.busy = !api.pending.is_empty() || api.any_active();
            if api.busy {
                scope.busy.push(idx);
            }
            for p in &mut api.pending {
                p.write_attrs
                    .iter_mut()
                    .chain(&mut p.error_attrs)
                    .for_each(|t| t.reintern(&mut d.interner));
            }
            api.call.reintern(&mut d.interner);
            api.error.reintern(&mut d.interner);
            let key = api.lookup_key(&d.scopes);
            d.api_index.insert(key.into(), idx);
            d.apis.push(Some(api));
        }
        Ok(d)
    }
}
