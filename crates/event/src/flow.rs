//! What travels between the pipeline stages (`ingest → router → batcher → delivery`) and back.
//!
//! Every input message is identified by its [`PartitionId`] and offset; acknowledgements travel
//! back as [`SegmentAck`]s covering contiguous offset ranges, from which ingest derives the
//! offsets it may commit. An [`Epoch`] numbers each assignment of a partition, so that work
//! finished for a partition after it was revoked can be recognised and ignored (fencing).

use std::{fmt, sync::Arc};

use bytes::Bytes;

use crate::Parsed;

/// Generation of a partition assignment; acknowledgements from an older one are fenced.
pub type Epoch = u64;

/// An input partition: a Kafka topic partition, or one input file (partition 0).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitionId {
    /// Kafka topic, or the input file's path.
    pub source: Arc<str>,
    /// Kafka partition (0 for files).
    pub partition: i32,
}

impl fmt::Display for PartitionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]", self.source, self.partition)
    }
}

/// One input message (a Kafka message, a file line, or a whole CloudTrail log file).
#[derive(Debug)]
pub struct Message {
    /// Where it came from.
    pub partition: Arc<PartitionId>,
    /// The assignment it was read under.
    pub epoch: Epoch,
    /// Kafka offset, or line/file index for file sources.
    pub offset: i64,
    /// Kafka message timestamp in milliseconds, when the broker gave one.
    pub timestamp_ms: Option<i64>,
    /// Kafka message key, kept for dead letters.
    pub key: Option<Bytes>,
    /// When the source read it (latency metrics measure from here).
    pub read_at: std::time::Instant,
    /// One entry per record the message held (an envelope holds many).
    pub records: Vec<Parsed>,
    /// Per accepted record (same index as `records`), a bit per trail that routes it; filled by
    /// the router, empty before.
    pub routes: Vec<u64>,
    /// Its share of the pipeline's memory budget, given back when its segment is delivered.
    pub held: crate::Held,
}

/// Pipeline items: messages in partition order, interleaved with partition lifecycle events.
#[derive(Debug)]
pub enum Flow {
    /// A partition was assigned (or a file opened) under a new epoch. `replay` says that records
    /// may already have been delivered past the resume point (a Kafka partition resumed from
    /// committed offsets), so segment cut points must be recovered from the store.
    Assigned {
        /// The partition.
        partition: Arc<PartitionId>,
        /// Its new epoch.
        epoch: Epoch,
        /// Whether earlier runs may have delivered past the resume point.
        replay: bool,
    },
    /// One message.
    Message(Message),
    /// The partition's open segment must be cut now (end of file, revoke, shutdown).
    Cut {
        /// The partition.
        partition: Arc<PartitionId>,
        /// Its epoch.
        epoch: Epoch,
    },
    /// The partition was revoked: drop its state.
    Revoked {
        /// The partition.
        partition: Arc<PartitionId>,
    },
}

/// Acknowledgement that every message of `[start, end)` of a partition is durably delivered
/// (log files written, dead letters written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentAck {
    /// The partition.
    pub partition: Arc<PartitionId>,
    /// The epoch the segment was built under.
    pub epoch: Epoch,
    /// First offset covered.
    pub start: i64,
    /// One past the last offset covered (the offset to commit).
    pub end: i64,
    /// Records delivered in log files (counted once per trail).
    pub delivered: u64,
}

/// What delivery reports back to the source about a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Feedback {
    /// The segment is durable: it may move the commit watermark.
    Delivered(SegmentAck),
    /// The store already holds a *different* cut for the segment starting at `start` — an
    /// earlier owner's write landed after this assignment's replay lookup missed it (a killed
    /// process's upload still completing, or a revoked owner finishing late). Nothing of the
    /// segment was written and none of its successors will be: the source must re-read the
    /// partition from `start` under a new epoch in replay mode, which adopts the stored cut.
    Rewind {
        /// The partition.
        partition: Arc<PartitionId>,
        /// The epoch whose segment conflicted.
        epoch: Epoch,
        /// First offset of the conflicting segment (the watermark when it was found).
        start: i64,
    },
}

/// A record that cannot be delivered, with where it came from; written to the dead-letter
/// destination before its offset counts as done.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// The partition it was read from.
    pub partition: Arc<PartitionId>,
    /// Its message's offset (for files: the 0-based line, or 0 for a whole-file record).
    pub offset: i64,
    /// The Kafka message key, if any.
    pub key: Option<Bytes>,
    /// The refused bytes and the reason.
    pub rejected: crate::Rejected,
}

/// How far a reader of the source has durably processed one partition: the next offset (the
/// event history's indexer and the Insights reader record it with what it covers).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PartitionProgress {
    /// Kafka topic.
    pub topic: String,
    /// Partition of the topic.
    pub partition: i32,
    /// The first offset not yet processed: every record below it is durably handled.
    pub next_offset: i64,
}

impl PartitionProgress {
    /// `topic`/`partition` processed up to (not including) `next_offset`.
    pub fn new(topic: impl Into<String>, partition: i32, next_offset: i64) -> Self {
        Self {
            topic: topic.into(),
            partition,
            next_offset,
        }
    }
}
