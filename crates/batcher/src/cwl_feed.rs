//! The CloudWatch Logs fast path's contract with the batcher and delivery.
//!
//! CloudWatch Logs is where people watch in near real time, so its records cannot wait for a
//! segment to be cut (`delivery_interval_secs`, minutes). The batcher hands each message's
//! CloudWatch Logs records to the CWL stage the moment it reads them ([`CwlFeed`]); the stage
//! batches them per stream for a fraction of a second and puts them.
//!
//! Offsets still move only past delivered records. Invariants:
//! - The batcher **registers** a message's records in [`CwlPending`] before it sends them, and
//!   before the segment holding that offset can be cut. So when delivery asks
//!   [`CwlPending::wait_through`] for a segment, every CWL record of that segment is either
//!   still registered (then delivery waits) or completed.
//! - The stage **completes** each record only after CloudWatch Logs accepted it, or refused it
//!   for good — then with the dead letter that carries the reason, which the segment's delivery
//!   writes before acknowledging. Nothing is acknowledged that CloudWatch Logs does not hold
//!   and the dead-letter destination does not explain.
//! - State is kept per (partition, epoch): completions of a revoked assignment can never satisfy
//!   a wait of a newer one, whose offsets may repeat the old ones.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::Instant,
};

use bytes::Bytes;
use tokio::sync::{mpsc, Notify};
use trailpipe_event::{DeadLetter, Epoch, PartitionId};

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
    pub pending: Arc<CwlPending>,
}

impl CwlFeed {
    /// Registers `m`'s records, then sends it; false when the stage has stopped.
    pub async fn send(&self, m: CwlMessage) -> bool {
        self.pending
            .register(&m.partition, m.epoch, m.offset, m.records.len());
        self.tx.send(m).await.is_ok()
    }
}

#[derive(Debug, Default)]
struct Assignment {
    /// Records not yet completed, by offset.
    counts: BTreeMap<i64, usize>,
    /// Records refused for good, not yet collected by a segment's delivery.
    refused: Vec<DeadLetter>,
}

/// Records handed to the CWL stage and not yet completed, per (partition, epoch).
#[derive(Debug, Default)]
pub struct CwlPending {
    state: Mutex<HashMap<(Arc<PartitionId>, Epoch), Assignment>>,
    changed: Notify,
}

impl CwlPending {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(Arc<PartitionId>, Epoch), Assignment>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `n` records of `offset` are on their way to CloudWatch Logs.
    pub fn register(&self, p: &Arc<PartitionId>, epoch: Epoch, offset: i64, n: usize) {
        if n == 0 {
            return;
        }
        *self
            .lock()
            .entry((p.clone(), epoch))
            .or_default()
            .counts
            .entry(offset)
            .or_default() += n;
    }

    /// One record of `offset` is settled: accepted (`refused` is `None`) or refused for good.
    /// A completion for a forgotten assignment is dropped (its offsets will be read again).
    pub fn complete(
        &self,
        p: &Arc<PartitionId>,
        epoch: Epoch,
        offset: i64,
        refused: Option<DeadLetter>,
    ) {
        let mut state = self.lock();
        let key = (p.clone(), epoch);
        let Some(a) = state.get_mut(&key) else {
            return;
        };
        if let std::collections::btree_map::Entry::Occupied(mut c) = a.counts.entry(offset) {
            *c.get_mut() -= 1;
            if *c.get() == 0 {
                c.remove();
            }
        }
        a.refused.extend(refused);
        if a.counts.is_empty() && a.refused.is_empty() {
            state.remove(&key);
        }
        drop(state);
        self.changed.notify_waiters();
    }

    /// Waits until every registered record of `p`/`epoch` below `end` is settled, and returns
    /// (removing them) the dead letters of those refused.
    pub async fn wait_through(
        &self,
        p: &Arc<PartitionId>,
        epoch: Epoch,
        end: i64,
    ) -> Vec<DeadLetter> {
        let key = (p.clone(), epoch);
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut state = self.lock();
                let Some(a) = state.get_mut(&key) else {
                    return Vec::new();
                };
                if a.counts.range(..end).next().is_none() {
                    let (out, keep): (Vec<_>, Vec<_>) =
                        a.refused.drain(..).partition(|l| l.offset < end);
                    a.refused = keep;
                    if a.counts.is_empty() && a.refused.is_empty() {
                        state.remove(&key);
                    }
                    return out;
                }
            }
            notified.await;
        }
    }

    /// The assignment ended (revoked or replaced): its state is dropped, later completions
    /// are ignored and its waits return at once (their acknowledgements are fenced anyway).
    pub fn forget(&self, p: &Arc<PartitionId>, epoch: Epoch) {
        self.lock().remove(&(p.clone(), epoch));
        self.changed.notify_waiters();
    }

    /// Records not yet settled, over all assignments (tests check the tracker with it).
    pub fn outstanding(&self) -> usize {
        self.lock()
            .values()
            .map(|a| a.counts.values().sum::<usize>())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use trailpipe_event::{RejectReason, Rejected};

    use super::*;

    fn part() -> Arc<PartitionId> {
        Arc::new(PartitionId {
            source: "t".into(),
            partition: 0,
        })
    }

    /// `wait_through` on a task of its own, to check whether it is still waiting.
    fn spawn_wait(
        pending: &Arc<CwlPending>,
        p: &Arc<PartitionId>,
        epoch: Epoch,
        end: i64,
    ) -> tokio::task::JoinHandle<Vec<DeadLetter>> {
        let (pending, p) = (pending.clone(), p.clone());
        tokio::spawn(async move { pending.wait_through(&p, epoch, end).await })
    }

    /// The offsets of the dead letters `wait_through` returns.
    async fn letter_offsets(pending: &CwlPending, p: &Arc<PartitionId>, end: i64) -> Vec<i64> {
        pending
            .wait_through(p, 1, end)
            .await
            .iter()
            .map(|l| l.offset)
            .collect()
    }

    fn letter(p: &Arc<PartitionId>, offset: i64) -> DeadLetter {
        DeadLetter {
            partition: p.clone(),
            offset,
            key: None,
            rejected: Rejected {
                raw: Bytes::from_static(b"{}"),
                reason: RejectReason::SinkRejected {
                    sink: "cloudwatch_logs",
                    reason: "too old".into(),
                },
                envelope_index: None,
            },
        }
    }

    #[tokio::test]
    async fn a_wait_ends_only_when_every_record_below_the_end_is_settled() {
        let (p, pending) = (part(), Arc::new(CwlPending::default()));
        pending.register(&p, 1, 5, 2);
        pending.register(&p, 1, 9, 1);
        let waiter = spawn_wait(&pending, &p, 1, 9);
        pending.complete(&p, 1, 5, None);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !waiter.is_finished(),
            "one record of offset 5 is still pending"
        );
        pending.complete(&p, 1, 5, Some(letter(&p, 5)));
        let letters = waiter.await.expect("wait");
        assert_eq!(letters.iter().map(|l| l.offset).collect::<Vec<_>>(), [5]);
        // Offset 9 is beyond that segment; its own wait still blocks until it settles.
        assert_eq!(pending.outstanding(), 1);
        let later = spawn_wait(&pending, &p, 1, 10);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!later.is_finished());
        pending.complete(&p, 1, 9, None);
        assert!(later.await.expect("wait").is_empty());
        assert_eq!(pending.outstanding(), 0);
    }

    #[tokio::test]
    async fn refused_records_go_to_the_segment_that_holds_them() {
        let (p, pending) = (part(), CwlPending::default());
        for o in [1, 2, 3] {
            pending.register(&p, 1, o, 1);
            pending.complete(&p, 1, o, Some(letter(&p, o)));
        }
        assert_eq!(letter_offsets(&pending, &p, 3).await, [1, 2]);
        assert_eq!(letter_offsets(&pending, &p, 4).await, [3]);
    }

    #[tokio::test]
    async fn epochs_are_fenced_from_each_other() {
        let (p, pending) = (part(), Arc::new(CwlPending::default()));
        pending.register(&p, 1, 7, 1);
        pending.register(&p, 2, 7, 1);
        // The old assignment's completion must not release the new one's wait.
        pending.complete(&p, 1, 7, None);
        let waiter = spawn_wait(&pending, &p, 2, 8);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished());
        pending.forget(&p, 1);
        pending.complete(&p, 2, 7, None);
        waiter.await.expect("wait");
        // A forgotten assignment ignores late completions.
        pending.register(&p, 3, 1, 1);
        pending.forget(&p, 3);
        pending.complete(&p, 3, 1, Some(letter(&p, 1)));
        assert_eq!(pending.outstanding(), 0);
        assert!(pending.wait_through(&p, 3, 2).await.is_empty());
    }
}
