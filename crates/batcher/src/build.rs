//! Building a cut segment's files: gzip + SHA-256 on the blocking pool, never on the reactor.

use std::{sync::Arc, time::Instant};

use bytes::Bytes;
use trailpipe_event::{DeadLetter, Epoch, PartitionId};
use trailpipe_logfile::{log_file_key, unique_string, KeyParts, LogFileBody, LogFileWriter};

use crate::{segment::TrailOutput, CutReason};

/// One log file of a segment, ready to upload.
#[derive(Debug, Clone)]
pub struct LogFile {
    /// Index of the trail in the configuration.
    pub trail: usize,
    /// Destination bucket.
    pub bucket: Arc<str>,
    /// Object key (reference §2.1 layout).
    pub key: String,
    /// Compressed body and its SHA-256.
    pub body: LogFileBody,
    /// Oldest `eventTime` in the file (epoch seconds).
    pub oldest_event_time: i64,
    /// Newest `eventTime` in the file (epoch seconds).
    pub newest_event_time: i64,
}

/// A cut, built segment: everything delivery must make durable before acknowledging
/// `[start, end)`.
#[derive(Debug)]
pub struct Segment {
    /// The partition.
    pub partition: Arc<PartitionId>,
    /// The epoch it was read under.
    pub epoch: Epoch,
    /// First offset.
    pub start: i64,
    /// One past the last offset.
    pub end: i64,
    /// Anchor offset (first routed record), when the segment has files.
    pub anchor: Option<i64>,
    /// Where its files' time came from, when it has files (recorded in their metadata).
    pub file_time: Option<crate::FileTimeSource>,
    /// Log files; `files[0]` is the anchor file and must be written before the others.
    pub files: Vec<LogFile>,
    /// Records for the dead-letter destination.
    pub dead_letters: Vec<DeadLetter>,
    /// Management and Insights events for the event history.
    pub history: Vec<Bytes>,
    /// Why it was cut.
    pub cut: CutReason,
    /// When its first message was read (for delivery latency).
    pub opened_at: Instant,
    /// Its messages' share of the memory budget, given back when the segment is dropped
    /// (delivered, or abandoned to a replay).
    pub held: trailpipe_event::Held,
}

/// A group's records before compression.
pub(crate) struct GroupInput {
    pub trail: usize,
    pub account: Box<str>,
    pub region: Box<str>,
    pub records: Vec<Bytes>,
    pub oldest: i64,
    pub newest: i64,
}

/// The key of a segment's file for one trail, account and region. The replay lookup of an
/// anchor file and the file itself both use this, so they always agree.
pub(crate) fn file_key(
    t: &TrailOutput,
    partition: &PartitionId,
    anchor: i64,
    account: &str,
    region: &str,
    timestamp: i64,
) -> String {
    let unique = unique_string(&t.name, &partition.source, partition.partition, anchor);
    log_file_key(&KeyParts {
        prefix: t.prefix.as_deref(),
        organization_id: t.organization_id.as_deref(),
        account_id: account,
        region,
        timestamp,
        unique: &unique,
    })
}

/// Compresses every group into a file. Pure: same inputs, same files, byte for byte.
pub(crate) fn build_files(
    trails: &[TrailOutput],
    partition: &PartitionId,
    anchor: i64,
    timestamp: i64,
    groups: Vec<GroupInput>,
    level: u32,
) -> Vec<LogFile> {
    groups
        .into_iter()
        .map(|g| {
            let t = &trails[g.trail];
            let bytes: usize = g.records.iter().map(Bytes::len).sum();
            let mut w = LogFileWriter::new(level, bytes + g.records.len() + 16);
            for r in &g.records {
                w.push(r);
            }
            let key = file_key(t, partition, anchor, &g.account, &g.region, timestamp);
            LogFile {
                trail: g.trail,
                bucket: t.bucket.clone(),
                key,
                body: w.finish(),
                oldest_event_time: g.oldest,
                newest_event_time: g.newest,
            }
        })
        .collect()
}
