//! The pipeline's memory budget, in bytes of input held: the source takes a share for every
//! message before it passes it on ([`MemoryBudget::hold`]), the share travels with the message
//! ([`Held`]) into its segment, and is given back when the segment is delivered (or dropped).
//! So whatever producers send — 1 MiB records, 16 MiB envelopes, a sink outage — the records
//! in channels, open segments and delivery never hold more than the budget; the source waits
//! instead (and Kafka keeps the rest).
//!
//! Invariant: a share is at most the whole budget, so one message larger than the budget still
//! passes (alone) instead of waiting forever.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Estimated bytes a parsed record costs beyond its raw bytes (its routing fields).
pub const RECORD_OVERHEAD_BYTES: usize = 512;

/// A shared budget of bytes; cloning shares it.
#[derive(Debug, Clone)]
pub struct MemoryBudget {
    permits: Arc<Semaphore>,
    total: u32,
}

impl MemoryBudget {
    /// A budget of `bytes` (at most 4 GiB; at least 1 byte).
    pub fn new(bytes: usize) -> Self {
        let total = u32::try_from(bytes).unwrap_or(u32::MAX).max(1);
        Self {
            permits: Arc::new(Semaphore::new(total as usize)),
            total,
        }
    }

    /// What a message of `bytes` holding `records` records costs.
    pub fn cost(bytes: usize, records: usize) -> usize {
        bytes.saturating_add(records.saturating_mul(RECORD_OVERHEAD_BYTES))
    }

    /// Waits until `bytes` (capped at the whole budget) are free, and takes them.
    pub async fn hold(&self, bytes: usize) -> Held {
        let n = u32::try_from(bytes).unwrap_or(u32::MAX).min(self.total);
        let permit = self
            .permits
            .clone()
            .acquire_many_owned(n)
            .await
            .expect("the budget's semaphore is never closed");
        Held(Some(permit))
    }

    /// Bytes of the budget not held.
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }

    /// The whole budget.
    pub fn total(&self) -> usize {
        self.total as usize
    }

    /// Whether less than a quarter of the budget is free: time to cut open segments early
    /// rather than wait for their interval.
    pub fn under_pressure(&self) -> bool {
        self.available() < self.total() / 4
    }
}

/// A share of a [`MemoryBudget`], given back when dropped; shares of one budget merge.
#[derive(Debug, Default)]
pub struct Held(Option<OwnedSemaphorePermit>);

impl Held {
    /// Adds `other`'s share to this one.
    pub fn merge(&mut self, other: Held) {
        match (&mut self.0, other.0) {
            (Some(mine), Some(theirs)) => mine.merge(theirs),
            (mine @ None, theirs) => *mine = theirs,
            (Some(_), None) => {}
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.0.as_ref().map_or(0, OwnedSemaphorePermit::num_permits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn shares_are_capped_merged_and_given_back_on_drop() {
        let b = MemoryBudget::new(1000);
        let mut a = b.hold(300).await;
        a.merge(b.hold(200).await);
        a.merge(Held::default());
        assert_eq!((a.bytes(), b.available()), (500, 500));
        assert!(!b.under_pressure());
        // More than the whole budget is the whole budget, once the rest is back.
        drop(a);
        let all = b.hold(5000).await;
        assert_eq!((all.bytes(), b.available()), (1000, 0));
        assert!(b.under_pressure());
        // A waiting share is granted when one is given back.
        let waiting = tokio::spawn({
            let b = b.clone();
            async move { b.hold(10).await.bytes() }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(all);
        assert_eq!(waiting.await.expect("task"), 10);
        assert_eq!(b.available(), 1000);
    }
}
