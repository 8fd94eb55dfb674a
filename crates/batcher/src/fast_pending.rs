//! The pending-record tracker of a fast path (CloudWatch Logs, rules): records the batcher hands
//! to a stage as it reads them, so that a segment is acknowledged only once every such record
//! in its offsets is settled.
//!
//! Invariants (each fast path states what "settled" means for it):
//! - The batcher **registers** a message's records in [`FastPending`] before it sends them, and
//!   before the segment holding that offset can be cut. So when delivery asks
//!   [`FastPending::wait_through`] for a segment, every fast-path record of that segment is
//!   either still registered (then delivery waits) or completed.
//! - The stage **completes** each registered record exactly once, only after its destination
//!   accepted it or refused it for good — then with the dead letter that carries the reason,
//!   which the segment's delivery writes before acknowledging.
//! - State is kept per (partition, epoch): completions of a revoked assignment can never satisfy
//!   a wait of a newer one, whose offsets may repeat the old ones.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
};

use tokio::sync::Notify;
use trailpipe_event::{DeadLetter, Epoch, PartitionId};

#[derive(Debug, Default)]
struct Assignment {
    /// Records not yet completed, by offset.
    counts: BTreeMap<i64, usize>,
    /// Records refused for good, not yet collected by a segment's delivery.
    refused: Vec<DeadLetter>,
}

/// Records handed to a fast-path stage and not yet completed, per (partition, epoch).
#[derive(Debug, Default)]
pub struct FastPending {
    state: Mutex<HashMap<(Arc<PartitionId>, Epoch), Assignment>>,
    changed: Notify,
}

impl FastPending {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(Arc<PartitionId>, Epoch), Assignment>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `n` records of `offset` are on their way to the stage.
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

    use bytes::Bytes;
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
        pending: &Arc<FastPending>,
        p: &Arc<PartitionId>,
        epoch: Epoch,
        end: i64,
    ) -> tokio::task::JoinHandle<Vec<DeadLetter>> {
        let (pending, p) = (pending.clone(), p.clone());
        tokio::spawn(async move { pending.wait_through(&p, epoch, end).await })
    }

    /// The offsets of the dead letters `wait_through` returns.
    async fn letter_offsets(pending: &FastPending, p: &Arc<PartitionId>, end: i64) -> Vec<i64> {
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
        let (p, pending) = (part(), Arc::new(FastPending::default()));
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
        let (p, pending) = (part(), FastPending::default());
        for o in [1, 2, 3] {
            pending.register(&p, 1, o, 1);
            pending.complete(&p, 1, o, Some(letter(&p, o)));
        }
        assert_eq!(letter_offsets(&pending, &p, 3).await, [1, 2]);
        assert_eq!(letter_offsets(&pending, &p, 4).await, [3]);
    }

    #[tokio::test]
    async fn epochs_are_fenced_from_each_other() {
        let (p, pending) = (part(), Arc::new(FastPending::default()));
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
