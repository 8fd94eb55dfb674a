//! The CloudWatch Logs fast path's contract with the batcher and delivery.
//!
//! CloudWatch Logs is where people watch in near real time, so its records cannot wait for a
//! segment to be cut (`delivery_interval_secs`, minutes). The batcher hands each message's
//! CloudWatch Logs records to the CWL stage the moment it reads them ([`CwlFeed`]); the stage
//! batches them per stream for a fraction of a second and puts them.
//!
//! Offsets still move only past delivered records: the records are tracked in a
//! [`FastPending`], whose invariants ([`crate::fast_pending`]) hold here with "the stage
//! completes a record" meaning that CloudWatch Logs accepted it, or refused it for good (then
//! with the dead letter that carries the reason). Nothing is acknowledged that CloudWatch Logs
//! does not hold and the dead-letter destination does not explain.

use std::{sync::Arc, time::Instant};

use bytes::Bytes;
use tokio::sync::mpsc;
use trailpipe_event::{Epoch, PartitionId};

use crate::FastPending;

/// One record bound for a trail's log group.
#[derive(Debug, Clone)]
pub struct CwlRecord {
    /// Index of the trail.
    pub trail: usize,
    /// Log group name or ARN.
    pub log_group: Arc<str>,
    /// Account (stream `<account>_CloudTrail_<region>`).
    pub account: trailpipe_event::FieldStr,
    /// Region.
    pub region: trailpipe_event::FieldStr,
    /// `eventTime` in milliseconds (the log event's timestamp).
    pub time_ms: i64,
    /// The record's JSON exactly as received.
    pub raw: Bytes,
}

/// The CloudWatch Logs records of one message, in record order.
#[derive(Debug)]
pub struct CwlMessage {
    /// Where it came from.
    pub partition: Arc<PartitionId>,
    /// The assignment it was read under.
    pub epoch: Epoch,
    /// Its offset.
    pub offset: i64,
    /// Kafka message key, kept for dead letters.
    pub key: Option<Bytes>,
    /// When the source read it (for the delivery-latency metric).
    pub read_at: Instant,
    /// Its records for CloudWatch Logs (at least one).
    pub records: Vec<CwlRecord>,
}

/// The batcher's end of the fast path: a bounded channel (a slow CloudWatch Logs slows the
/// batcher, and with it the consumer) and the pending-record tracker.
#[derive(Debug, Clone)]
pub struct CwlFeed {
    /// To the CWL stage.
    pub tx: mpsc::Sender<CwlMessage>,
    /// Shared with the CWL stage and delivery.
    pub pending: Arc<FastPending>,
}

impl CwlFeed {
    /// Registers `m`'s records, then sends it; false when the stage has stopped.
    pub async fn send(&self, m: CwlMessage) -> bool {
        self.pending
            .register(&m.partition, m.epoch, m.offset, m.records.len());
        self.tx.send(m).await.is_ok()
    }
}
