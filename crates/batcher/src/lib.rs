//! The batcher: turns each partition's stream of routed records into **segments** — contiguous
//! offset ranges `[start, end)` — and each segment into one log file per (trail, account,
//! region) it holds.
//!
//! Exactly-once rests on three invariants kept here and in delivery:
//! 1. **Files are a pure function of their input.** A file holds, in offset order, the records of
//!    its segment routed to its trail for its account and region; its key's unique part is derived
//!    from (trail, source, partition, *anchor offset*) — the offset of the segment's first routed
//!    record — and its time from that record (Kafka timestamp, else `eventTime`) when that is
//!    plausible, else recorded (see [`file_time`]).
//! 2. **Cut points are a pure function of the input, or recorded.** Size and count cuts depend
//!    only on the records; a wall-clock cut (`delivery_interval_secs`) is recorded in every file's
//!    metadata (`trailpipe_store::meta::END`). After a restart (`Flow::Assigned { replay: true }`) the batcher
//!    looks up the anchor file of each new segment; if it exists, the segment is cut exactly where
//!    the recorded cut says, so the replay rebuilds byte-identical files. The first missing anchor
//!    ends the replay: delivery writes a segment's anchor file first and a partition's segments
//!    one after another, so nothing after a missing anchor was ever written.
//! 3. **Segments of a partition are contiguous**, so acknowledging them in order yields a commit
//!    watermark that never skips an undelivered record.

mod build;
pub mod cwl_feed;
pub mod fast_pending;
pub mod file_time;
mod inflight;
mod partition;
pub mod rules_feed;
mod segment;

pub use build::{LogFile, Segment};
pub use cwl_feed::{CwlFeed, CwlMessage, CwlRecord};
pub use fast_pending::FastPending;
pub use file_time::FileTimeSource;
pub use inflight::InFlight;
pub use rules_feed::{RuleMatch, RulesFeed, RulesMessage};
pub use segment::{Batcher, BatcherConfig, CutLookup, PendingSegment};
pub use trailpipe_store::RecordedCut;

/// Why a segment was cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CutReason {
    /// A file or the segment would have exceeded its byte limit.
    Size,
    /// A file would have exceeded `max_file_records`.
    Records,
    /// `delivery_interval_secs` elapsed (wall clock; recorded in metadata).
    Interval,
    /// A replay reached the cut recorded by an earlier delivery.
    Replay,
    /// Less than a quarter of the memory budget was free (wall clock; recorded in metadata).
    Memory,
    /// End of input, shutdown or revoke.
    End,
}

impl CutReason {
    /// Label for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Size => "size",
            Self::Records => "records",
            Self::Interval => "interval",
            Self::Replay => "replay",
            Self::Memory => "memory",
            Self::End => "end",
        }
    }
}
