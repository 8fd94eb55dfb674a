//! The history indexer: with a Kafka source and `[history]`, each replica reads the **whole**
//! stream with a reader of its own, outside the consumer group, and stores every management
//! and Insights event in its own event history — so `LookupEvents` answers the same through
//! any replica, and a replica with an empty disk rebuilds the history from the topic.
//!
//! It is a [`Feed`] of the whole-stream reader ([`trailpipe_ingest::StreamReader`]: outside the group,
//! never committing, every offset in order; client `group.id` `<group_id>.history`).
//!
//! Invariants:
//! - **Progress lives with the events.** Where to resume is the store's own record: each batch
//!   is appended together with the next offset of every partition it covers in one atomic
//!   commit ([`HistoryStore::append_with_progress`]). A crash re-reads at most the batch that
//!   was not committed, and appends are idempotent (eventID, eventTime), so nothing is stored
//!   twice. Partitions without progress start at the beginning of what the topic retains.
//! - **The pipeline's records, the batcher's choice.** Messages are parsed with
//!   `trailpipe_event::parse_message` under the source's parse limits, so exactly the records
//!   the pipeline accepts are indexed; of those, the management and Insights categories are
//!   kept, as the batcher keeps them for the history on a file source.
//! - **Bounded memory.** A batch holds at most [`MAX_BATCH_EVENTS`] events and about
//!   [`MAX_BATCH_BYTES`] of message bytes (plus one message), and is written within
//!   [`trailpipe_ingest::FLUSH_AFTER`]. While an append fails (retried with backoff, counted in
//!   `trailpipe_history_errors_total`) nothing more is read; delivery is not held back, and
//!   the trails' status (`GetTrailStatus`, `/readyz`) does not show it: the history is not a
//!   trail's destination.
//! - **One at a time.** A process runs at most one indexer ([`RUNNING`]): a pipeline rebuilt
//!   for a reload starts a new one (with the new source settings), which reads the progress
//!   only once the old one has written its last batch and stopped.
//!
//! Cost: each replica reads and parses the whole topic once more than its share (see the
//! README's event history section). Insights events reach every replica's history through the
//! control topic (`insights.rs`).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use bytes::Bytes;
use trailpipe_config::KafkaSource;
use trailpipe_event::PartitionProgress;
use trailpipe_event::{EventCategory, Parsed};
use trailpipe_history::HistoryStore;
use trailpipe_ingest::SecureContext;
use trailpipe_telemetry as names;

use trailpipe_ingest::{Feed, StreamReader};

/// Most events in one append (the delivery path's chunk size).
const MAX_BATCH_EVENTS: usize = 4096;
/// Message bytes a batch may hold before it is appended (events are slices of their messages).
const MAX_BATCH_BYTES: usize = 8 * 1024 * 1024;

/// Held by the running indexer for its whole life (see the module invariants).
static RUNNING: Mutex<()> = Mutex::new(());

/// A running history indexer; stops (after appending what it has read) when dropped.
pub struct HistoryIndexer {
    _reader: StreamReader,
}

impl HistoryIndexer {
    /// Creates the reader for `k`'s topics (its client properties and security `context`)
    /// and starts indexing into `store` on a thread of its own.
    pub fn start(
        k: &KafkaSource,
        context: SecureContext,
        store: Arc<HistoryStore>,
    ) -> anyhow::Result<Self> {
        let feed = HistoryFeed {
            store,
            events: Vec::new(),
            bytes: 0,
        };
        Ok(Self {
            _reader: StreamReader::start(crate::kafka_check::settings(k, context), feed)?,
        })
    }
}

/// Management and Insights events read and not yet appended.
struct HistoryFeed {
    store: Arc<HistoryStore>,
    /// Parsed: the history builds each entry from the fields already read.
    events: Vec<trailpipe_event::Event>,
    /// Bytes of the messages the events are slices of (what the batch keeps alive).
    bytes: usize,
}

impl Feed for HistoryFeed {
    const NAME: &'static str = "history";

    fn one_at_a_time() -> &'static Mutex<()> {
        &RUNNING
    }

    fn recorded(&mut self) -> anyhow::Result<HashMap<(String, i32), i64>> {
        Ok(self
            .store
            .progress()?
            .into_iter()
            .map(|p| ((p.topic, p.partition), p.next_offset))
            .collect())
    }

    fn take(
        &mut self,
        _topic: &str,
        _partition: i32,
        _offset: i64,
        payload: &Bytes,
        records: Vec<Parsed>,
    ) {
        let before = self.events.len();
        for r in records.into_iter().flatten() {
            if matches!(
                r.fields.event_category,
                EventCategory::Management | EventCategory::Insight
            ) {
                self.events.push(r);
            }
        }
        if self.events.len() > before {
            self.bytes += payload.len();
        }
    }

    fn full(&self) -> bool {
        self.events.len() >= MAX_BATCH_EVENTS || self.bytes >= MAX_BATCH_BYTES
    }

    fn flush(&mut self, progress: &[PartitionProgress]) -> anyhow::Result<u64> {
        match self.store.append_with_progress(&self.events, progress) {
            Ok(summary) => {
                self.discard();
                let stored = summary.stored as u64;
                metrics::counter!(names::HISTORY_EVENTS_STORED).increment(stored);
                metrics::counter!(names::HISTORY_INDEXED_EVENTS).increment(stored);
                Ok(stored)
            }
            Err(e) => {
                metrics::counter!(names::HISTORY_ERRORS).increment(1);
                Err(e.into())
            }
        }
    }

    fn discard(&mut self) {
        self.events.clear();
        self.bytes = 0;
    }

    fn lag(&mut self, total: i64, _by_partition: &std::collections::BTreeMap<(String, i32), i64>) {
        metrics::gauge!(names::HISTORY_INDEXER_LAG).set(total as f64);
    }
}
