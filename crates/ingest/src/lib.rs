//! Ingest: where records enter trailpipe and where their offsets are committed.
//!
//! Sources read messages in partition order, parse each once (`trailpipe_event::parse_message`)
//! and send them down a bounded channel, so a slow pipeline slows the reader instead of growing
//! memory. Acknowledgements of delivered segments come back to the source, which commits only the
//! contiguous [`Watermarks`] — an offset is committed only when every record before it is in a
//! log file or in the dead-letter destination.

mod client;
mod cursor;
mod dead_letter;
mod dead_letter_sink;
mod file;
mod kafka;
mod msk_iam;
mod stream_reader;
mod watermark;

pub use client::{ClientErrorKind, KafkaHealth, KafkaStatus, SecureContext, STATS_INTERVAL_MS};
pub use cursor::{Check, PartitionCursor, StallChecks, Verdict, SEEK_BACK_FIRST};
pub use dead_letter::{
    capped_reason, pointer_letter, producer_config, DeadLetterError, DeadLetterWriter,
    MAX_REASON_BYTES,
};
pub use dead_letter_sink::DeadLetters;
pub use file::{open as open_maybe_gzip, run_file_source, FileSourceSummary};
pub use kafka::{run_kafka_source, Barrier, KafkaSettings};
pub use msk_iam::{MskIamAuth, MskIamError, MskToken};
pub use stream_reader::{Feed, StreamReader, FLUSH_AFTER};
pub use watermark::Watermarks;

/// Failures that stop a source.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The Kafka client could not be created or subscribed.
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// An input file could not be read.
    #[error("reading {path}: {source}")]
    File {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The store holds a different cut for a segment of an input file (another writer raced
    /// this run on the same input).
    #[error("{input}: the store holds a different cut for the segment starting at {offset}")]
    Conflict {
        /// The input file.
        input: String,
        /// The segment's first line.
        offset: i64,
    },
    /// The pipeline behind the source stopped.
    #[error("pipeline closed")]
    PipelineClosed,
}
