//! [`HistorySink`]: the event history as a segment sink — a segment's management and Insights
//! events stored durably before its offsets move, in chunks, retried until stored.

use std::sync::Arc;

use futures::future::BoxFuture;
use trailpipe_batcher::Segment;
use trailpipe_delivery::{Ledger, Sink, SinkHealth, Step};
use trailpipe_telemetry as names;

use crate::HistoryStore;

/// Records per history append: a segment's events are stored in chunks this size, so a write
/// batch stays a few MiB whatever the segment size. Each chunk is durable before the next
/// starts; appends are idempotent, so a crash between chunks replays without duplicates.
const CHUNK: usize = 4096;

/// Stores each segment's history events (a file source; with Kafka every replica's history
/// indexer reads the whole stream instead).
pub struct HistorySink {
    store: Arc<HistoryStore>,
    health: SinkHealth,
}

impl HistorySink {
    /// Appends to `store`; failures are shown in `health` while they last.
    pub fn new(store: Arc<HistoryStore>, health: SinkHealth) -> Self {
        Self { store, health }
    }
}

impl Sink for HistorySink {
    fn name(&self) -> &'static str {
        "history"
    }

    fn deliver<'a>(&'a self, seg: &'a Segment, _: &'a mut Ledger) -> BoxFuture<'a, Step> {
        Box::pin(async move {
            for chunk in seg.history.chunks(CHUNK) {
                append_durably(&self.store, chunk, &self.health).await;
            }
            Step::Durable
        })
    }
}

/// Stores `records` in the event history, durably, retrying with backoff until it succeeds
/// (on the blocking pool: an append fsyncs). Stored events and failures are counted; a failure
/// also shows in `health`. Appends are idempotent (eventID, eventTime), so a retry or a replay
/// stores nothing twice.
pub async fn append_durably(
    store: &Arc<HistoryStore>,
    records: &[bytes::Bytes],
    health: &SinkHealth,
) {
    let append = || {
        let (h, batch) = (store.clone(), records.to_vec());
        async move {
            let r = tokio::task::spawn_blocking(move || {
                let refs: Vec<&[u8]> = batch.iter().map(|b| &b[..]).collect();
                h.append(&refs)
            })
            .await;
            match r {
                Ok(Ok(summary)) => Ok(summary),
                Ok(Err(e)) => Err(format!("event history: {e}")),
                Err(e) => Err(format!("event history append panicked: {e}")),
            }
        }
    };
    let summary = trailpipe_retry::until_ok(
        append,
        |_| trailpipe_retry::ErrorClass::Retriable,
        |e| {
            metrics::counter!(names::HISTORY_ERRORS).increment(1);
            tracing::warn!(error = %e, "event history append failed; retrying");
            health.error(e.clone());
        },
    )
    .await;
    metrics::counter!(names::HISTORY_EVENTS_STORED).increment(summary.stored as u64);
}
