//! Segments of each partition that are cut but not yet delivered, shared by the batcher and
//! delivery.
//!
//! Invariant: a replay looks up recorded cuts only once every segment cut under an earlier
//! epoch of the partition has settled (delivered, or abandoned by a failed build). Otherwise a
//! lookup could miss an anchor file that an older delivery is still about to write, and the
//! replay would cut differently from what then lands in the store.

use std::{collections::HashMap, sync::Mutex};

use tokio::sync::Notify;
use trailpipe_event::PartitionId;

/// In-flight segment counts per partition.
#[derive(Debug, Default)]
pub struct InFlight {
    counts: Mutex<HashMap<PartitionId, usize>>,
    settled: Notify,
}

impl InFlight {
    /// A segment of `p` was cut and handed to delivery.
    pub fn add(&self, p: &PartitionId) {
        *self
            .counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(p.clone())
            .or_default() += 1;
    }

    /// A segment of `p` settled.
    pub fn done(&self, p: &PartitionId) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = counts.get_mut(p) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(p);
            }
        }
        drop(counts);
        self.settled.notify_waiters();
    }

    /// Waits until no segment of `p` is in flight.
    pub async fn settle(&self, p: &PartitionId) {
        loop {
            let notified = self.settled.notified();
            if !self
                .counts
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains_key(p)
            {
                return;
            }
            notified.await;
        }
    }
}
