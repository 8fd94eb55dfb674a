//! Event history: every management event (and Insights event) trailpipe ingests, whether or
//! not a trail routes it, kept in an embedded store on local disk and searchable with
//! CloudTrail's `LookupEvents` semantics.
//!
//! Invariants: [`HistoryStore::append`] returns `Ok` only once its batch is durable (one atomic
//! commit and one fsync per batch) and is idempotent on (eventID, eventTime);
//! [`HistoryStore::append_with_progress`] commits a source reader's next offsets in that same
//! batch, so the recorded progress never covers an event that is not stored; lookups return
//! events newest first, scoped to one region, and a `NextToken` resumes strictly after the last
//! event shown, so pages neither lose nor repeat events while new ones arrive.
//!
//! Engine: [fjall](https://crates.io/crates/fjall), an LSM-tree key-value store in safe Rust.
//! Chosen over SQLite/redb because ingest is write-heavy (about ten index entries per event)
//! and an LSM turns them into sequential writes; its journal gives atomic cross-keyspace
//! batches with crash recovery, blocks are LZ4-compressed, and one keyspace per day makes
//! retention a cheap keyspace drop instead of millions of deletes.

#![warn(missing_docs)]

mod config;
mod error;
mod keys;
mod posting;
mod progress;
mod query;
mod record;
mod request;
mod sink;
mod store;
mod table;
mod token;

pub use config::{default_max_bytes, default_retention_days, HistoryConfig};
pub use error::{HistoryError, Result};
pub use progress::PartitionProgress;
pub use query::{LookupEvent, LookupEventResource, LookupResponse};
pub use record::{
    arn_short_name, entry_from_fields, extract, parse_event_time, HistoryCategory, HistoryEntry,
    LookupResource, NotKept, MAX_INDEXED_RESOURCES,
};
pub use request::{weighted_len, AttributeKey, LookupError, LookupRequest, MAX_RESULTS};
pub use sink::{append_durably, HistorySink};
pub use store::{
    AppendSummary, HistoryRecord, HistoryStore, PruneSummary, JOURNAL_BYTES, MAX_FUTURE_SECS,
};
pub use table::{render, render_table, OutputFormat};
