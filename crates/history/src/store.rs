//! The store: open, append (durable on return), prune.
//!
//! Invariants:
//! - `append` returns `Ok` only after the batch's journal entry is fsynced (one commit and one
//!   fsync per batch): the pipeline may acknowledge the Kafka segment right after.
//! - A batch is one atomic fjall write batch over all the day keyspaces it touches: after a
//!   crash a record is present with all its index entries or not at all.
//! - Events with `eventTime` before the retention cutoff are neither stored nor returned. The
//!   cutoff only moves forward, by [`HistoryStore::prune`], and is persisted.
//! - The engine (database, meta keyspace, day map) is read-locked by appends and lookups and
//!   write-locked only by pruning, opening a day and reopening, so a keyspace is never deleted
//!   under a reader or writer.
//! - fjall poisons its database for good after a failed journal write or fsync (a full disk):
//!   every later write fails. The next append then closes the database and opens it again
//!   (journal replay: everything acknowledged is there, the failed batch is not), retrying at
//!   each append until the disk takes writes again; meanwhile appends and lookups fail with an
//!   error naming the store, and the pipeline waits, as for any other sink outage.
//! - Source progress (`append_with_progress`) is written in the same write batch as the events
//!   it covers, so it is never durable before them.

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicI64, AtomicU64, Ordering},
        Arc, Mutex, RwLock, Weak,
    },
    time::{Duration, SystemTime},
};

use fjall::{
    config::{BlockSizePolicy, CompressionPolicy, FilterPolicy},
    AbstractTree, CompressionType, Database, Keyspace, KeyspaceCreateOptions, PersistMode,
};

use crate::{
    error::{HistoryError, Result},
    keys::{self, day_of, DAY_SECS},
    posting,
    progress::{self, PartitionProgress},
    record::{from_fields, parse, NotKept},
    HistoryConfig,
};

const META: &str = "meta";
const CUTOFF_KEY: &[u8] = b"cutoff";
/// The secret that authenticates NextTokens (32 random bytes, made when the store is created).
const TOKEN_KEY: &[u8] = b"token-hmac-key";
const NO_CUTOFF: i64 = i64::MIN;
/// Journal size at which fjall flushes memtables and starts a new journal (its minimum). The
/// journal is not part of the `max_bytes` budget: the directory holds up to this much more.
pub const JOURNAL_BYTES: u64 = 64 * 1024 * 1024;
/// Bound on the active memtables of all days together. fjall only flushes a memtable when it
/// reaches its own size (32 MiB) and only rotates journals after a flush, so without this
/// every day written to but not filled kept its memtables in memory, and the journal grew
/// without bound (a run over 80 sparse days: 1.1 GiB of journal, all of it in RAM, and a 5 s
/// replay at open).
const MEMTABLE_BUDGET: u64 = 64 * 1024 * 1024;
/// Appends wait while more memtables than this are sealed and queued for the single flush
/// worker, bounding their memory (fjall's own bound is four per keyspace, of which there are
/// two per day).
const MAX_SEALED: usize = 4;
/// Size at which the `meta` keyspace's active memtable is sealed after an append: progress
/// keys are rewritten with every indexed batch, and each rewrite is a new memtable entry.
const META_MEMTABLE_BYTES: u64 = 1024 * 1024;
/// Block cache: index, filter and data blocks read by lookups.
const CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// One day's keyspaces.
#[derive(Clone)]
pub(crate) struct Day {
    pub(crate) events: Keyspace,
    pub(crate) index: Keyspace,
}

/// One (event, attribute value) of a batch being appended: `event` indexes the batch's kept
/// entries (for the eventID).
struct IndexEntry {
    day: i64,
    hash: u64,
    time: i64,
    event: usize,
}

/// A record as the pipeline hands it over: anything that yields the record's original bytes
/// (one JSON object). The region and every lookup attribute are read from those bytes, or from
/// the fields the event parser already read when the record carries them.
pub trait HistoryRecord {
    /// The record's original bytes.
    fn record_bytes(&self) -> &[u8];

    /// The fields the event parser read from those bytes, if it did (then they are not parsed
    /// again).
    fn fields(&self) -> Option<&trailpipe_event::RoutingFields> {
        None
    }
}

impl HistoryRecord for trailpipe_event::Event {
    fn record_bytes(&self) -> &[u8] {
        &self.raw
    }

    fn fields(&self) -> Option<&trailpipe_event::RoutingFields> {
        Some(&self.fields)
    }
}

impl HistoryRecord for [u8] {
    fn record_bytes(&self) -> &[u8] {
        self
    }
}

impl HistoryRecord for str {
    fn record_bytes(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl HistoryRecord for Vec<u8> {
    fn record_bytes(&self) -> &[u8] {
        self
    }
}

impl HistoryRecord for String {
    fn record_bytes(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl<T: HistoryRecord + ?Sized> HistoryRecord for &T {
    fn record_bytes(&self) -> &[u8] {
        (**self).record_bytes()
    }

    fn fields(&self) -> Option<&trailpipe_event::RoutingFields> {
        (**self).fields()
    }
}

/// What one `append` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppendSummary {
    /// Records written (management and Insights events).
    pub stored: usize,
    /// Data and network-activity events: not part of event history.
    pub not_management: usize,
    /// Events older than the retention cutoff.
    pub expired: usize,
    /// Records without a usable `eventTime`, `eventID` or `awsRegion`.
    pub unusable: usize,
    /// Events dated more than [`MAX_FUTURE_SECS`] after the clock: not stored, so that records
    /// a producer dates tomorrow cannot evict today's from a size-bounded history (they are
    /// still delivered to the trails' files).
    pub future: usize,
}

/// How far past the clock an event may be dated and still be kept (AWS allows requests 15
/// minutes off).
pub const MAX_FUTURE_SECS: i64 = 15 * 60;

/// What one `prune` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneSummary {
    /// Days dropped because all their events are older than the retention cutoff.
    pub expired_days: usize,
    /// Days dropped (oldest first) to get under `max_bytes`.
    pub evicted_days: usize,
    /// Size on disk after pruning, in bytes.
    pub disk_bytes: u64,
}

/// The open fjall database and its keyspaces.
pub(crate) struct Engine {
    db: Database,
    meta: Keyspace,
    pub(crate) days: BTreeMap<i64, Day>,
}

impl Engine {
    /// Opens the database at `cfg.path` (replaying its journal) and every day keyspace in it.
    fn open(cfg: &HistoryConfig) -> fjall::Result<Self> {
        let db = Database::builder(&cfg.path)
            .cache_size(CACHE_BYTES)
            .journal_compression(CompressionType::Lz4)
            .max_journaling_size(JOURNAL_BYTES)
            // One background worker for flushes and compactions. With more, fjall 3.1's worker 0
            // hands every compaction request back to the queue while the others are busy and
            // spins on it, burning a core that ingest needs (callgrind: ~45% of all
            // instructions in a 2-worker run were that loop).
            .worker_threads(1)
            .open()?;
        let meta = db.keyspace(META, KeyspaceCreateOptions::default)?;
        let mut days = BTreeMap::new();
        for name in db.list_keyspace_names() {
            if let Some((b'e', day)) = keys::parse_name(&name) {
                days.insert(day, open_day(&db, day)?);
            }
        }
        Ok(Self { db, meta, days })
    }
}

/// The event history store. Cheap to share (`Arc`); all methods take `&self`.
pub struct HistoryStore {
    /// `None` between closing a poisoned database and opening it again.
    pub(crate) engine: RwLock<Option<Engine>>,
    /// Times the engine was opened again (so concurrent callers reopen it once).
    generation: AtomicU64,
    /// Events before this time are not kept nor returned (`NO_CUTOFF` = none yet).
    pub(crate) cutoff: AtomicI64,
    /// Taken while an append builds and commits its write batch: the store has one journal,
    /// so concurrent appends gain nothing and only multiply the memory their batches hold
    /// (heaptrack: most of the daemon's peak heap with history on).
    writer: Mutex<()>,
    cfg: HistoryConfig,
    /// Authenticates NextTokens, so a client cannot forge a position (see `token`).
    pub(crate) token_key: crate::token::TokenKey,
}

impl std::fmt::Debug for HistoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HistoryStore")
            .field("path", &self.cfg.path)
            .finish_non_exhaustive()
    }
}

fn day_options() -> KeyspaceCreateOptions {
    KeyspaceCreateOptions::default().max_memtable_size(32 * 1024 * 1024)
}

impl HistoryStore {
    /// Opens (or creates) the store at `cfg.path`, replaying its journal after a crash.
    pub fn open(cfg: HistoryConfig) -> Result<Self> {
        if let Some(e) = cfg.validate().into_iter().next() {
            return Err(HistoryError::Config(e));
        }
        let (opened, cutoff, token_key) = {
            let engine = engine_error(&cfg);
            let opened = Engine::open(&cfg).map_err(&engine)?;
            let meta = &opened.meta;
            let cutoff = match meta.get(CUTOFF_KEY).map_err(&engine)? {
                Some(v) => <[u8; 8]>::try_from(&*v).map_or(NO_CUTOFF, i64::from_be_bytes),
                None => NO_CUTOFF,
            };
            let token_key = match meta.get(TOKEN_KEY).map_err(&engine)? {
                Some(v) if v.len() == 32 => <[u8; 32]>::try_from(&*v).expect("length checked"),
                _ => {
                    let key: [u8; 32] = rand::random();
                    meta.insert(TOKEN_KEY, key).map_err(&engine)?;
                    opened.db.persist(PersistMode::SyncAll).map_err(&engine)?;
                    key
                }
            };
            (opened, cutoff, token_key)
        };
        Ok(Self {
            engine: RwLock::new(Some(opened)),
            generation: AtomicU64::new(0),
            cutoff: AtomicI64::new(cutoff),
            writer: Mutex::new(()),
            cfg,
            token_key,
        })
    }

    /// The configuration the store was opened with.
    pub fn config(&self) -> &HistoryConfig {
        &self.cfg
    }

    /// Stores the management and Insights events of `batch` and returns once they are durable
    /// (one atomic commit, one fsync). Storing an event again (same eventID and eventTime) is a
    /// no-op, so replays after a crash do not duplicate. Concurrent appends parse in parallel
    /// and write one at a time. When the engine has poisoned itself (a failed write: a full
    /// disk), it is closed and opened again first; until that works, this fails.
    pub fn append<R: HistoryRecord>(&self, batch: &[R]) -> Result<AppendSummary> {
        self.append_with_progress(batch, &[])
    }

    /// [`HistoryStore::append`], and records `progress` (the next offset of each source
    /// partition the batch covers) **in the same atomic commit**: after a crash the store holds
    /// both the events and the progress, or neither, so a reader resuming at
    /// [`HistoryStore::progress`] re-offers at most this batch (stored again as a no-op).
    /// Progress alone (a batch without management events) is committed too. Progress is
    /// written as given, not compared with what is recorded: the caller owns its order. When
    /// the engine has poisoned itself (a failed write: a full disk), it is closed and opened
    /// again first; until that works, this fails.
    pub fn append_with_progress<R: HistoryRecord>(
        &self,
        batch: &[R],
        progress: &[PartitionProgress],
    ) -> Result<AppendSummary> {
        let generation = self.generation.load(Ordering::Acquire);
        match self.append_once(batch, progress) {
            Err(e) if e.is_poisoned() => {
                self.reopen(generation)?;
                self.append_once(batch, progress)
            }
            r => r,
        }
    }

    /// Closes the engine and opens it again (replaying its journal), unless another caller did
    /// since `seen` was read. On failure the engine stays closed: the next append tries again.
    fn reopen(&self, seen: u64) -> Result<()> {
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let mut slot = self.engine.write().expect("engine lock poisoned");
        if slot.is_some() && self.generation.load(Ordering::Acquire) != seen {
            return Ok(());
        }
        if slot.take().is_some() {
            tracing::warn!(path = %self.cfg.path.display(), "event history: the engine refuses writes after a failed one; closing it to open it again");
        }
        let opened = Engine::open(&self.cfg).map_err(engine_error(&self.cfg))?;
        *slot = Some(opened);
        self.generation.fetch_add(1, Ordering::AcqRel);
        tracing::info!(path = %self.cfg.path.display(), "event history opened again");
        Ok(())
    }

    fn append_once<R: HistoryRecord>(
        &self,
        batch: &[R],
        progress: &[PartitionProgress],
    ) -> Result<AppendSummary> {
        let engine = engine_error(&self.cfg);
        let mut summary = AppendSummary::default();
        let mut entries = Vec::with_capacity(batch.len());
        for r in batch {
            let raw = r.record_bytes();
            let parsed = match r.fields() {
                Some(f) => from_fields(f, raw),
                None => parse(raw),
            };
            match parsed {
                Ok(e) => entries.push((e, raw)),
                Err(NotKept::NotManagement) => summary.not_management += 1,
                Err(NotKept::Unusable(_)) => summary.unusable += 1,
            }
        }
        if entries.is_empty() && progress.is_empty() {
            return Ok(summary);
        }
        // Events dated past this are not kept (and open no day of their own).
        let latest = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(i64::MAX, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .saturating_add(MAX_FUTURE_SECS);
        let needed: Vec<i64> = {
            let guard = self.engine.read().expect("engine lock poisoned");
            let days = &open(&guard, &self.cfg)?.days;
            let cutoff = self.cutoff.load(Ordering::Acquire);
            let mut d: Vec<i64> = entries
                .iter()
                .filter(|(e, _)| e.event_time >= cutoff && e.event_time <= latest)
                .map(|(e, _)| day_of(e.event_time))
                .filter(|d| !days.contains_key(d))
                .collect();
            d.sort_unstable();
            d.dedup();
            d
        };
        if !needed.is_empty() {
            let mut guard = self.engine.write().expect("engine lock poisoned");
            let Engine { db, days, .. } = open_mut(&mut guard, &self.cfg)?;
            for d in needed {
                if let std::collections::btree_map::Entry::Vacant(slot) = days.entry(d) {
                    slot.insert(open_day(db, d).map_err(&engine)?);
                }
            }
        }
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        // Held through the commit: pruning cannot delete a keyspace this batch writes to.
        let guard = self.engine.read().expect("engine lock poisoned");
        let Engine { db, days, meta } = open(&guard, &self.cfg)?;
        let cutoff = self.cutoff.load(Ordering::Acquire);
        let mut wb = db.batch().durability(Some(PersistMode::SyncAll));
        let mut index: Vec<IndexEntry> = Vec::with_capacity(entries.len() * 10);
        let mut record_key = Vec::with_capacity(64);
        for (n, (e, raw)) in entries.iter().enumerate() {
            if e.event_time < cutoff {
                summary.expired += 1;
                continue;
            }
            if e.event_time > latest {
                summary.future += 1;
                continue;
            }
            let d = day_of(e.event_time);
            let Some(day) = days.get(&d) else {
                // Dropped by a prune that ran after the keyspace was opened: expired.
                summary.expired += 1;
                continue;
            };
            record_key.clear();
            keys::push_record_key(
                &mut record_key,
                e.category,
                &e.region,
                e.event_time,
                &e.event_id,
            );
            wb.insert(&day.events, &record_key[..], *raw);
            for (k, v) in e.attribute_values() {
                index.push(IndexEntry {
                    day: d,
                    hash: keys::index_hash(e.category, &e.region, k, v),
                    time: e.event_time,
                    event: n,
                });
            }
            summary.stored += 1;
        }
        let id = |i: &IndexEntry| entries[i.event].0.event_id.as_bytes();
        // Per (day, value), positions in order: newest first, then eventID.
        index.sort_unstable_by(|a, b| {
            (a.day, a.hash, std::cmp::Reverse(a.time))
                .cmp(&(b.day, b.hash, std::cmp::Reverse(b.time)))
                .then_with(|| id(a).cmp(id(b)))
        });
        let mut posting = Vec::with_capacity(64 * 1024);
        for group in index.chunk_by(|a, b| (a.day, a.hash) == (b.day, b.hash)) {
            let (d, hash) = (group[0].day, group[0].hash);
            let day = days
                .get(&d)
                .expect("checked above, under the same read lock");
            let level = posting::choose_level(group.iter().map(|i| i.time));
            let span = posting::LEVEL_SPANS[level];
            for run in group.chunk_by(|a, b| a.time.div_euclid(span) == b.time.div_euclid(span)) {
                posting.clear();
                let max = run[0].time;
                let mut last: Option<(i64, &[u8])> = None;
                for i in run {
                    // The same event twice in one batch: one entry.
                    if last == Some((i.time, id(i))) {
                        continue;
                    }
                    last = Some((i.time, id(i)));
                    posting::push_entry(&mut posting, max, i.time, id(i));
                }
                let key = keys::posting_key(hash, level, max, &posting);
                wb.insert(&day.index, &key[..], &posting[..]);
            }
        }
        // Same batch as the events: the progress never runs ahead of what is stored.
        for p in progress {
            wb.insert(
                meta,
                progress::key(&p.topic, p.partition),
                p.next_offset.to_be_bytes(),
            );
        }
        wb.commit().map_err(&engine)?;
        bound_memtables(days, MEMTABLE_BUDGET, MAX_SEALED).map_err(&engine)?;
        // Progress keys are overwritten a few times a second: seal the meta memtable while it
        // is small, so its versions cannot keep old journals (and memory) alive.
        if meta.tree.active_memtable().size() > META_MEMTABLE_BYTES {
            meta.rotate_memtable().map_err(&engine)?;
        }
        Ok(summary)
    }

    /// The progress recorded by [`HistoryStore::append_with_progress`], by topic and partition
    /// (empty when none was ever recorded).
    pub fn progress(&self) -> Result<Vec<PartitionProgress>> {
        let engine = engine_error(&self.cfg);
        let mut out = Vec::new();
        let guard = self.engine.read().expect("engine lock poisoned");
        let Engine { meta, .. } = open(&guard, &self.cfg)?;
        for kv in meta.prefix(progress::PREFIX) {
            let (k, v) = kv.into_inner().map_err(&engine)?;
            match progress::decode(&k, &v) {
                Some(p) => out.push(p),
                None => tracing::warn!(key = ?k, "unreadable history progress key skipped"),
            }
        }
        Ok(out)
    }

    /// Applies retention and the size budget at time `now` (seconds since the epoch): moves the
    /// cutoff to `now - retention_days`, drops every day entirely before it, then drops the
    /// oldest days while the days' tables exceed `max_bytes` (never the newest day; memtables
    /// not yet flushed and the journal, at most [`JOURNAL_BYTES`], are not counted). Events of
    /// a partly expired day stay on disk until the whole day expires but are never returned.
    pub fn prune(&self, now: i64) -> Result<PruneSummary> {
        let engine = engine_error(&self.cfg);
        let retention = i64::from(self.cfg.retention_days) * DAY_SECS;
        let mut cutoff = now.saturating_sub(retention);
        let mut summary = PruneSummary::default();
        let mut guard = self.engine.write().expect("engine lock poisoned");
        let Engine { db, meta, days } = open_mut(&mut guard, &self.cfg)?;
        let expired: Vec<i64> = days
            .keys()
            .copied()
            .filter(|d| d.saturating_add(1).saturating_mul(DAY_SECS) <= cutoff)
            .collect();
        for d in expired {
            drop_day(db, days, d).map_err(&engine)?;
            summary.expired_days += 1;
        }
        while days.len() > 1 && stored_bytes(days) > self.cfg.max_bytes {
            let oldest = *days.keys().next().expect("len > 1");
            drop_day(db, days, oldest).map_err(&engine)?;
            cutoff = cutoff.max(oldest.saturating_add(1).saturating_mul(DAY_SECS));
            summary.evicted_days += 1;
        }
        let previous = self.cutoff.fetch_max(cutoff, Ordering::AcqRel);
        if cutoff > previous {
            meta.insert(CUTOFF_KEY, cutoff.to_be_bytes())
                .map_err(&engine)?;
            db.persist(PersistMode::SyncAll).map_err(&engine)?;
        }
        summary.disk_bytes = db.disk_space().map_err(&engine)?;
        if summary.evicted_days > 0 {
            tracing::warn!(
                evicted_days = summary.evicted_days,
                max_bytes = self.cfg.max_bytes,
                "event history over its size budget: oldest days dropped"
            );
        }
        Ok(summary)
    }

    /// Size of the store on disk, in bytes (journal and all keyspaces).
    pub fn disk_bytes(&self) -> Result<u64> {
        let guard = self.engine.read().expect("engine lock poisoned");
        open(&guard, &self.cfg)?
            .db
            .disk_space()
            .map_err(engine_error(&self.cfg))
    }

    /// Bytes of flushed tables of all days: what `max_bytes` bounds (0 while closed).
    pub fn stored_bytes(&self) -> u64 {
        let guard = self.engine.read().expect("engine lock poisoned");
        guard.as_ref().map_or(0, |e| stored_bytes(&e.days))
    }

    /// Writes every memtable to tables and waits (for shutdown, tests and size measurements;
    /// not needed for durability, which the journal provides).
    pub fn flush(&self) -> Result<()> {
        let engine = engine_error(&self.cfg);
        let guard = self.engine.read().expect("engine lock poisoned");
        for d in open(&guard, &self.cfg)?.days.values() {
            d.events.rotate_memtable_and_wait().map_err(&engine)?;
            d.index.rotate_memtable_and_wait().map_err(&engine)?;
        }
        Ok(())
    }

    /// Runs [`HistoryStore::prune`] with the wall clock every `every` on a background thread,
    /// until the store is dropped. Failures are logged and retried at the next tick.
    pub fn spawn_pruner(store: &Arc<Self>, every: Duration) -> std::thread::JoinHandle<()> {
        let weak: Weak<Self> = Arc::downgrade(store);
        std::thread::Builder::new()
            .name("history-prune".into())
            .spawn(move || loop {
                let Some(store) = weak.upgrade() else { return };
                let now = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64);
                if let Err(e) = store.prune(now) {
                    tracing::error!(error = %e, "event history prune failed");
                }
                drop(store);
                std::thread::sleep(every);
            })
            .expect("spawning a thread only fails when the OS is out of resources")
    }
}

/// Keeps the memtables of all days within `budget` bytes (active; [`MEMTABLE_BUDGET`]) and
/// `max_sealed` (sealed, waiting for the flush worker; [`MAX_SEALED`]): called after every
/// commit, under the writer lock.
/// Over budget, the largest active memtables are sealed (flushed in the background) until half
/// the budget is left; a flushed memtable also frees the journal files it was the last to
/// need.
fn bound_memtables(days: &BTreeMap<i64, Day>, budget: u64, max_sealed: usize) -> fjall::Result<()> {
    let keyspaces = || days.values().flat_map(|d| [&d.events, &d.index]);
    let mut active: Vec<(u64, &Keyspace)> = keyspaces()
        .map(|k| (k.tree.active_memtable().size(), k))
        .filter(|(size, _)| *size > 0)
        .collect();
    let mut total: u64 = active.iter().map(|(size, _)| size).sum();
    if total > budget {
        active.sort_unstable_by_key(|(size, _)| std::cmp::Reverse(*size));
        for (size, k) in active {
            if total <= budget / 2 {
                break;
            }
            k.rotate_memtable()?;
            total -= size;
        }
    }
    while keyspaces()
        .map(|k| k.tree.sealed_memtable_count())
        .sum::<usize>()
        > max_sealed
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

fn drop_day(db: &Database, days: &mut BTreeMap<i64, Day>, d: i64) -> fjall::Result<()> {
    if let Some(day) = days.remove(&d) {
        db.delete_keyspace(day.events)?;
        db.delete_keyspace(day.index)?;
    }
    Ok(())
}

/// The open engine, or the error a poisoned one gives (it is closed until reopened).
pub(crate) fn open<'a>(engine: &'a Option<Engine>, cfg: &HistoryConfig) -> Result<&'a Engine> {
    engine
        .as_ref()
        .ok_or_else(|| engine_error(cfg)(fjall::Error::Poisoned))
}

fn open_mut<'a>(engine: &'a mut Option<Engine>, cfg: &HistoryConfig) -> Result<&'a mut Engine> {
    engine
        .as_mut()
        .ok_or_else(|| engine_error(cfg)(fjall::Error::Poisoned))
}

fn stored_bytes(days: &BTreeMap<i64, Day>) -> u64 {
    days.values()
        .map(|d| d.events.disk_space() + d.index.disk_space())
        .sum()
}

fn open_day(db: &Database, day: i64) -> fjall::Result<Day> {
    Ok(Day {
        // Records compress far better in larger blocks; lookups read ≤ 51 of them per page.
        events: db.keyspace(&keys::events_name(day), || {
            day_options()
                .data_block_size_policy(BlockSizePolicy::all(32 * 1024))
                .data_block_compression_policy(CompressionPolicy::all(CompressionType::Lz4))
                // Every point read comes from an index entry of the same batch: it hits, so the
                // last level (most of the data) needs no Bloom filter.
                .expect_point_read_hits(true)
        })?,
        // Index entries are only range-scanned, never point-read: no Bloom filters to build.
        index: db.keyspace(&keys::index_name(day), || {
            day_options()
                .data_block_compression_policy(CompressionPolicy::all(CompressionType::Lz4))
                .filter_policy(FilterPolicy::disabled())
        })?,
    })
}

fn engine_error(cfg: &HistoryConfig) -> impl Fn(fjall::Error) -> HistoryError + '_ {
    move |source| HistoryError::Engine {
        path: cfg.path.display().to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn active_bytes(store: &HistoryStore) -> Vec<u64> {
        let guard = store.engine.read().expect("lock");
        guard
            .as_ref()
            .expect("open")
            .days
            .values()
            .flat_map(|d| [&d.events, &d.index])
            .map(|k| k.tree.active_memtable().size())
            .collect()
    }

    #[test]
    fn memtables_of_all_days_stay_within_the_budget() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = HistoryStore::open(HistoryConfig::new(dir.path().join("h"))).expect("open");
        // 40 days, a few events each: no memtable comes near fjall's own 32 MiB trigger.
        let t0 = 1_793_491_200;
        let records: Vec<String> = (0..400)
            .map(|i| {
                format!(
                    r#"{{"eventTime":"{}","eventID":"id-{i}","awsRegion":"us-east-1","eventName":"E{}"}}"#,
                    time::OffsetDateTime::from_unix_timestamp(t0 + i * 8_640)
                        .expect("time")
                        .format(&time::format_description::well_known::Rfc3339)
                        .expect("format"),
                    i % 7
                )
            })
            .collect();
        store.append(&records).expect("append");
        let before: u64 = active_bytes(&store).iter().sum();
        assert!(before > 20_000, "{before}");
        let budget = before / 4;
        bound_memtables(
            &store
                .engine
                .read()
                .expect("lock")
                .as_ref()
                .expect("open")
                .days,
            budget,
            0,
        )
        .expect("bound");
        let after: u64 = active_bytes(&store).iter().sum();
        assert!(after <= budget / 2, "{after} > {budget} / 2");
        // Everything is still there (flushed, not lost).
        let seen = store
            .lookup(&crate::LookupRequest {
                region: "us-east-1".into(),
                attribute: Some((crate::AttributeKey::EventName, "E3".into())),
                ..Default::default()
            })
            .expect("lookup");
        assert_eq!(seen.events.len(), records.len().div_ceil(7).min(50));
    }
}
