//! The rules fast path's contract with the batcher and delivery: every accepted record is
//! matched against the configured EventBridge rules as the batcher reads it, and the events of
//! the records some rule matches go to the rules stage at once, not when their segment is cut.
//!
//! Offsets still move only past delivered events: each (record, matching rule) is one unit in
//! the feed's [`FastPending`] (see [`crate::fast_pending`] for the invariants), registered
//! before the message is sent and before the segment holding its offset can be cut, and
//! completed by the stage only once every target of the rule accepted the event or refused it
//! for good (then with a dead letter naming the rule, the target and the reason).

use std::{sync::Arc, time::Instant};

use bytes::Bytes;
use tokio::sync::mpsc;
use trailpipe_event::{Epoch, Message, PartitionId};
use trailpipe_rules::Rules;

use crate::FastPending;

/// One record some rules matched.
#[derive(Debug, Clone)]
pub struct RuleMatch {
    /// Indexes of the matching rules (into the configuration's `[[rules]]`), ascending.
    pub rules: Vec<usize>,
    /// The record's EventBridge event (JSON text).
    pub envelope: Arc<str>,
    /// The event's `id` (the same on every replay): the Kafka key of what targets receive.
    pub id: Arc<str>,
    /// The record as received, for dead letters.
    pub raw: Bytes,
}

/// The matched records of one message, in record order.
#[derive(Debug)]
pub struct RulesMessage {
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
    /// Its matched records (at least one).
    pub matches: Vec<RuleMatch>,
}

impl RulesMessage {
    /// Its units in the pending tracker: one per (record, matching rule).
    pub fn units(&self) -> usize {
        self.matches.iter().map(|m| m.rules.len()).sum()
    }
}

/// The batcher's end of the rules fast path: the compiled rules, a bounded channel to the
/// rules stage (a slow target slows the batcher, and with it the consumer) and the tracker.
#[derive(Debug, Clone)]
pub struct RulesFeed {
    /// The rules, in configuration order.
    pub rules: Arc<Rules>,
    /// To the rules stage.
    pub tx: mpsc::Sender<RulesMessage>,
    /// Shared with the rules stage and delivery.
    pub pending: Arc<FastPending>,
}

impl RulesFeed {
    /// The records of `m` (its accepted ones) that some rule matches.
    pub fn matches(&self, m: &Message) -> Vec<RuleMatch> {
        m.records
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .filter_map(|event| {
                let matched = self.rules.matching(event);
                let (envelope, id) = (matched.envelope?, matched.id?);
                Some(RuleMatch {
                    rules: matched.rules,
                    envelope: envelope.into(),
                    id: id.into(),
                    raw: event.raw.clone(),
                })
            })
            .collect()
    }

    /// Registers `m`'s units, then sends it; false when the stage has stopped.
    pub async fn send(&self, m: RulesMessage) -> bool {
        self.pending
            .register(&m.partition, m.epoch, m.offset, m.units());
        self.tx.send(m).await.is_ok()
    }
}
