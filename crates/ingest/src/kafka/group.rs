//! The consumer's group context: rebalance callbacks (recorded for the poll loop, which
//! applies them in order before its next message) and the one record of what may be committed.
//!
//! Invariant: the partitions' [`Watermarks`] live here and nowhere else — a revoke commits
//! them synchronously from inside `recv()`, and the poll loop reads them for every other commit.

use std::{collections::BTreeSet, sync::Mutex};

use rdkafka::{
    consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer},
    ClientContext, Offset, TopicPartitionList,
};
use tokio::sync::watch;
use trailpipe_event::PartitionId;

use crate::{client::SecureContext, Watermarks};

#[derive(Debug)]
pub(super) enum GroupEvent {
    /// Partitions the group gave this member.
    Assigned(Vec<(String, i32)>),
    /// Partitions the group took away.
    Revoked(Vec<(String, i32)>),
}

/// Records rebalances; runs inside `recv()`, so events are drained in order before the next
/// message is handled.
pub(super) struct GroupContext {
    pub(super) events: Mutex<Vec<GroupEvent>>,
    /// The partitions' watermarks: the only record of what may be committed. Here (not in the
    /// loop) because a revoke commits them synchronously from inside `recv()`; the loop and
    /// the callbacks run on the same task, so the lock is never contended.
    pub(super) marks: Mutex<Watermarks>,
    /// Token refreshes, client errors and health (shared with the dead-letter producer's).
    pub(super) client: SecureContext,
    /// See [`KafkaSettings::assignment`].
    pub(super) assignment: Option<watch::Sender<BTreeSet<(String, i32)>>>,
}

impl ClientContext for GroupContext {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = SecureContext::ENABLE_REFRESH_OAUTH_TOKEN;

    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        self.client.error(error, reason);
    }

    fn stats_raw(&self, statistics: &[u8]) {
        self.client.stats_raw(statistics);
    }

    fn generate_oauth_token(
        &self,
        config: Option<&str>,
    ) -> Result<rdkafka::client::OAuthToken, Box<dyn std::error::Error>> {
        self.client.generate_oauth_token(config)
    }
}

fn partitions(tpl: &TopicPartitionList) -> Vec<(String, i32)> {
    tpl.elements()
        .iter()
        .map(|e| (e.topic().to_string(), e.partition()))
        .collect()
}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, c: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            // Commit what is delivered before the partitions leave, so their next owner replays
            // as little as possible (late completions after this are fenced by epoch).
            let mut commit = TopicPartitionList::new();
            {
                let marks = self.marks.lock().unwrap_or_else(|p| p.into_inner());
                for (t, p) in partitions(tpl) {
                    let id = PartitionId {
                        source: t.as_str().into(),
                        partition: p,
                    };
                    if let Some(w) = marks.watermark(&id) {
                        let _ = commit.add_partition_offset(&t, p, Offset::Offset(w));
                    }
                }
            }
            if commit.count() > 0 {
                if let Err(e) = c.commit(&commit, CommitMode::Sync) {
                    tracing::warn!(error = %e, "commit of revoked partitions failed");
                }
            }
            if let Some(a) = &self.assignment {
                a.send_modify(|owned| {
                    for p in partitions(tpl) {
                        owned.remove(&p);
                    }
                });
            }
            self.events
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(GroupEvent::Revoked(partitions(tpl)));
        }
    }

    fn post_rebalance(&self, _c: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            if let Some(a) = &self.assignment {
                a.send_modify(|owned| owned.extend(partitions(tpl)));
            }
            self.events
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(GroupEvent::Assigned(partitions(tpl)));
        }
    }
}

/// The watermarks (see [`GroupContext::marks`]); never held across an await.
pub(super) fn marks(
    consumer: &StreamConsumer<GroupContext>,
) -> std::sync::MutexGuard<'_, Watermarks> {
    consumer
        .context()
        .marks
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}
