//! Building a cut segment's files: gzip + SHA-256 on the blocking pool, never on the reactor.
//!
//! Invariant: a segment's files come out in one fixed order — the anchor file first (delivery
//! writes it before the others, so a missing anchor proves the segment was not written), then
//! the others sorted by (trail, account, region) — and each is a pure function of its records,
//! so a replay rebuilds them byte for byte.

use std::{sync::Arc, time::Instant};

use bytes::Bytes;
use trailpipe_event::{DeadLetter, Epoch, PartitionId, Trail};
use trailpipe_logfile::{log_file_key, unique_string, KeyParts, LogFileBody, LogFileWriter};

use crate::{
    partition::{Cutting, Group, GroupKey},
    BatcherConfig, CutReason,
};

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

/// The key of a segment's file for one trail, account and region. The replay lookup of an
/// anchor file and the file itself both use this, so they always agree.
pub(crate) fn file_key(
    t: &Trail,
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

impl Cutting {
    /// Builds the segment: its files in delivery order, compressed and hashed. Pure: same
    /// inputs, same segment, byte for byte (run on the blocking pool).
    pub(crate) fn build(self, cfg: &BatcherConfig) -> Segment {
        let Cutting {
            partition,
            epoch,
            open,
            cut,
        } = self;
        let (files, anchor) = match &open.anchor {
            None => (Vec::new(), None),
            Some(a) => {
                let groups = in_delivery_order(&a.key, open.groups);
                let files = groups
                    .into_iter()
                    .map(|(key, g)| build_file(cfg, &partition, a.offset, a.timestamp, key, g))
                    .collect();
                (files, Some((a.offset, a.source)))
            }
        };
        Segment {
            partition,
            epoch,
            start: open.start,
            end: cut.end,
            anchor: anchor.map(|a| a.0),
            file_time: anchor.map(|a| a.1),
            files,
            dead_letters: open.dead,
            history: open.history,
            cut: cut.reason,
            opened_at: open.opened_at,
            held: open.held,
        }
    }
}

/// The anchor's group first, then the rest sorted by (trail, account, region).
fn in_delivery_order(
    anchor: &GroupKey,
    mut groups: std::collections::HashMap<GroupKey, Group>,
) -> Vec<(GroupKey, Group)> {
    let first = groups.remove_entry(anchor);
    let mut rest: Vec<_> = groups.into_iter().collect();
    rest.sort_by(|a, b| a.0.cmp(&b.0));
    first.into_iter().chain(rest).collect()
}

/// Compresses one group into its file.
fn build_file(
    cfg: &BatcherConfig,
    partition: &PartitionId,
    anchor: i64,
    timestamp: i64,
    (trail, account, region): GroupKey,
    g: Group,
) -> LogFile {
    let t = &cfg.trails[trail];
    let bytes: usize = g.records.iter().map(Bytes::len).sum();
    let mut w = LogFileWriter::new(cfg.compression_level, bytes + g.records.len() + 16);
    for r in &g.records {
        w.push(r);
    }
    LogFile {
        trail,
        bucket: t.bucket.clone(),
        key: file_key(t, partition, anchor, &account, &region, timestamp),
        body: w.finish(),
        oldest_event_time: g.oldest,
        newest_event_time: g.newest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(n: usize) -> Group {
        Group {
            records: vec![Bytes::from(vec![b'x'; n])],
            bytes: n,
            oldest: 0,
            newest: 0,
        }
    }

    #[test]
    fn the_anchor_group_comes_first_and_the_rest_in_key_order() {
        let key = |t: usize, a: &str, r: &str| -> GroupKey { (t, a.into(), r.into()) };
        let anchor = key(1, "222", "us-east-1");
        let groups = [
            key(0, "333", "eu-west-1"),
            key(1, "111", "us-east-1"),
            anchor.clone(),
            key(0, "111", "us-west-2"),
            key(0, "111", "ap-south-1"),
        ]
        .into_iter()
        .enumerate()
        .map(|(i, k)| (k, group(i + 1)))
        .collect();
        let order: Vec<GroupKey> = in_delivery_order(&anchor, groups)
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(
            order,
            [
                anchor,
                key(0, "111", "ap-south-1"),
                key(0, "111", "us-west-2"),
                key(0, "333", "eu-west-1"),
                key(1, "111", "us-east-1"),
            ]
        );
    }
}
