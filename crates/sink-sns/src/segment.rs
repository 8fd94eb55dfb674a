//! [`FileNotifications`]: the SNS sink of a segment — every log file of the segment named to its
//! trail's topic, and acknowledged only once SNS accepted the messages.

use std::{collections::HashMap, sync::Arc};

use futures::future::BoxFuture;
use trailpipe_batcher::Segment;
use trailpipe_delivery::{Ledger, Sink, SinkHealth, Step};
use trailpipe_event::Trail;

use crate::BatchingNotifier;

/// Publishes each delivered log file to its trail's SNS topic, as CloudTrail does.
pub struct FileNotifications {
    notifier: BatchingNotifier,
    /// The pipeline's trails (each file names its trail's index).
    trails: Arc<[Trail]>,
    health: SinkHealth,
}

impl FileNotifications {
    /// Notifies the topics of `trails` through `notifier`.
    pub fn new(notifier: BatchingNotifier, trails: Arc<[Trail]>, health: SinkHealth) -> Self {
        Self {
            notifier,
            trails,
            health,
        }
    }
}

impl Sink for FileNotifications {
    fn name(&self) -> &'static str {
        "sns"
    }

    /// Publishes every file of the segment (a replayed file too: the earlier notification may
    /// not have gone out, so notifications are at-least-once) and waits until SNS accepted
    /// them. The notifier retries internally; an error means it stopped (shutdown), and then
    /// the segment is never acknowledged.
    fn deliver<'a>(&'a self, seg: &'a Segment, _: &'a mut Ledger) -> BoxFuture<'a, Step> {
        Box::pin(async move {
            let mut by_topic: HashMap<(Arc<str>, Arc<str>), Vec<String>> = HashMap::new();
            for f in &seg.files {
                if let Some(topic) = self
                    .trails
                    .get(f.trail)
                    .and_then(|t| t.sns_topic_arn.as_ref())
                {
                    by_topic
                        .entry((topic.clone(), f.bucket.clone()))
                        .or_default()
                        .push(f.key.clone());
                }
            }
            for ((topic, bucket), keys) in by_topic {
                if let Err(e) = self.notifier.notify_files(&topic, &bucket, &keys).await {
                    tracing::warn!(%topic, error = %e, "SNS notification not confirmed; the segment is not acknowledged");
                    self.health.error(format!("SNS {topic}: {e}"));
                    std::future::pending::<()>().await;
                }
            }
            Step::Durable
        })
    }
}
