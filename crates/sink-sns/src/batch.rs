//! The batching front: gathers log-file keys per (topic, bucket) for up to `max_wait` or one
//! full message, publishes them together — as CloudTrail names several files in one
//! notification — and tells each caller when *its* key was accepted.
//!
//! Invariant: [`BatchingNotifier::notify_file`] resolves `Ok` only after the sink accepted a
//! message naming that key, so a caller that acknowledges its Kafka offsets afterwards gets
//! at-least-once notifications. A caller that gives up waiting does not withdraw its key.
//! [`BatchingNotifier::flush`] (for shutdown) and dropping every handle publish pending batches
//! at once.

use std::{collections::HashMap, sync::Arc, time::Duration};

use futures::future::BoxFuture;
use tokio::{
    sync::{mpsc, oneshot},
    task::JoinSet,
    time::Instant,
};

use crate::{
    message::{key_cost, overhead},
    NotifyError,
};

/// Where batches go: [`crate::Notifier`] in production, a recorder in tests.
pub trait NotificationSink: Send + Sync + 'static {
    /// Publishes `keys` of `bucket` to `topic_arn`; `Ok` once every key was accepted.
    fn notify<'a>(
        &'a self,
        topic_arn: &'a str,
        bucket: &'a str,
        keys: &'a [String],
    ) -> BoxFuture<'a, Result<(), NotifyError>>;
    /// Most keys in one message: a batch is published once it holds this many.
    fn max_keys_per_message(&self) -> usize;
    /// Most bytes in one message: a batch is published before it would exceed this.
    fn max_message_bytes(&self) -> usize;
}

type Reply = oneshot::Sender<Result<(), NotifyError>>;

enum Command {
    /// Name `key` in the next message to `topic_arn` for `bucket`; answer on `reply`.
    File {
        topic_arn: String,
        bucket: String,
        key: String,
        reply: Reply,
    },
    /// Publish every pending batch now.
    Flush,
}

/// Keys waiting for one (topic, bucket).
struct Batch {
    keys: Vec<String>,
    replies: Vec<Reply>,
    /// Upper bound on the message size (see [`key_cost`]).
    bytes: usize,
    deadline: Instant,
}

/// A cloneable handle to the batching task.
#[derive(Clone)]
pub struct BatchingNotifier {
    tx: mpsc::Sender<Command>,
}

impl BatchingNotifier {
    /// Starts the batching task on the current tokio runtime; a key waits at most `max_wait`
    /// for others to share its message.
    pub fn new(sink: Arc<dyn NotificationSink>, max_wait: Duration) -> Self {
        let (tx, rx) = mpsc::channel(1024);
        tokio::spawn(run(sink, max_wait, rx));
        Self { tx }
    }

    /// Resolves once SNS accepted a message naming `key`.
    pub async fn notify_file(
        &self,
        topic_arn: &str,
        bucket: &str,
        key: &str,
    ) -> Result<(), NotifyError> {
        let (reply, done) = oneshot::channel();
        self.tx
            .send(Command::File {
                topic_arn: topic_arn.to_string(),
                bucket: bucket.to_string(),
                key: key.to_string(),
                reply,
            })
            .await
            .map_err(|_| NotifyError::Closed)?;
        done.await.unwrap_or(Err(NotifyError::Closed))
    }

    /// Resolves once every one of `keys` was accepted (they may share messages with other
    /// callers' keys); the first error otherwise.
    pub async fn notify_files(
        &self,
        topic_arn: &str,
        bucket: &str,
        keys: &[String],
    ) -> Result<(), NotifyError> {
        let results =
            futures::future::join_all(keys.iter().map(|k| self.notify_file(topic_arn, bucket, k)))
                .await;
        results.into_iter().collect()
    }

    /// Publishes every pending batch without waiting for `max_wait` (for shutdown); the keys'
    /// callers still resolve when SNS accepts them.
    pub async fn flush(&self) -> Result<(), NotifyError> {
        self.tx
            .send(Command::Flush)
            .await
            .map_err(|_| NotifyError::Closed)
    }
}

async fn run(sink: Arc<dyn NotificationSink>, max_wait: Duration, mut rx: mpsc::Receiver<Command>) {
    let max_keys = sink.max_keys_per_message().max(1);
    let max_bytes = sink.max_message_bytes();
    let mut pending: HashMap<(String, String), Batch> = HashMap::new();
    let mut publishing = JoinSet::new();
    loop {
        let next_deadline = pending.values().map(|b| b.deadline).min();
        tokio::select! {
            cmd = rx.recv() => {
                let (topic_arn, bucket, key, reply) = match cmd {
                    None => break,
                    Some(Command::Flush) => {
                        for (id, b) in std::mem::take(&mut pending) {
                            publish(&mut publishing, &sink, &id, b);
                        }
                        continue;
                    }
                    Some(Command::File { topic_arn, bucket, key, reply }) => (topic_arn, bucket, key, reply),
                };
                let id = (topic_arn, bucket);
                let cost = key_cost(&key);
                // Publish first when this key would overflow the open message.
                if pending.get(&id).is_some_and(|b| b.bytes + cost > max_bytes) {
                    let b = pending.remove(&id).expect("checked above");
                    publish(&mut publishing, &sink, &id, b);
                }
                let b = pending.entry(id.clone()).or_insert_with(|| Batch {
                    keys: Vec::new(),
                    replies: Vec::new(),
                    bytes: overhead(&id.1),
                    deadline: Instant::now() + max_wait,
                });
                // A key already waiting (a replayed file) is named once; both callers hear back.
                if !b.keys.contains(&key) {
                    b.keys.push(key);
                    b.bytes += cost;
                }
                b.replies.push(reply);
                if b.keys.len() >= max_keys {
                    let b = pending.remove(&id).expect("just inserted");
                    publish(&mut publishing, &sink, &id, b);
                }
            }
            () = tokio::time::sleep_until(next_deadline.unwrap_or_else(Instant::now)), if next_deadline.is_some() => {
                let now = Instant::now();
                let due: Vec<_> = pending.iter().filter(|(_, b)| b.deadline <= now).map(|(id, _)| id.clone()).collect();
                for id in due {
                    let b = pending.remove(&id).expect("listed above");
                    publish(&mut publishing, &sink, &id, b);
                }
            }
            Some(_) = publishing.join_next(), if !publishing.is_empty() => {}
        }
    }
    for (id, b) in std::mem::take(&mut pending) {
        publish(&mut publishing, &sink, &id, b);
    }
    while publishing.join_next().await.is_some() {}
}

fn publish(
    set: &mut JoinSet<()>,
    sink: &Arc<dyn NotificationSink>,
    (topic, bucket): &(String, String),
    b: Batch,
) {
    let sink = sink.clone();
    let (topic, bucket) = (topic.clone(), bucket.clone());
    set.spawn(async move {
        let result = sink.notify(&topic, &bucket, &b.keys).await;
        for r in b.replies {
            // A caller that stopped waiting is fine: its key was published anyway.
            let _ = r.send(result.clone());
        }
    });
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Records every call; fails any batch naming the key `bad`.
    #[derive(Default)]
    struct Recorder {
        calls: Mutex<Vec<(String, String, Vec<String>)>>,
        max_keys: usize,
    }

    impl NotificationSink for Recorder {
        fn notify<'a>(
            &'a self,
            topic_arn: &'a str,
            bucket: &'a str,
            keys: &'a [String],
        ) -> BoxFuture<'a, Result<(), NotifyError>> {
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(10)).await;
                self.calls.lock().expect("not poisoned").push((
                    topic_arn.into(),
                    bucket.into(),
                    keys.to_vec(),
                ));
                if keys.iter().any(|k| k == "bad") {
                    return Err(NotifyError::KeyTooLarge {
                        bucket: bucket.into(),
                        key: "bad".into(),
                        max_message_bytes: 1,
                    });
                }
                Ok(())
            })
        }
        fn max_keys_per_message(&self) -> usize {
            self.max_keys
        }
        fn max_message_bytes(&self) -> usize {
            262_144
        }
    }

    fn recorder(max_keys: usize) -> Arc<Recorder> {
        Arc::new(Recorder {
            max_keys,
            ..Default::default()
        })
    }

    #[tokio::test(start_paused = true)]
    async fn keys_arriving_together_share_one_message_per_topic_and_bucket() {
        let rec = recorder(100);
        let n = BatchingNotifier::new(rec.clone(), Duration::from_secs(1));
        let started = Instant::now();
        let mut all = Vec::new();
        for i in 0..30 {
            let n = n.clone();
            let bucket = if i % 3 == 0 { "b2" } else { "b1" };
            all.push(tokio::spawn(async move {
                n.notify_file("t", bucket, &format!("k{i}")).await
            }));
        }
        for h in all {
            h.await.expect("task").expect("accepted");
        }
        // Published when max_wait ran out, not before.
        assert!(started.elapsed() >= Duration::from_secs(1));
        let calls = rec.calls.lock().expect("not poisoned").clone();
        assert_eq!(calls.len(), 2, "{calls:?}");
        let total: usize = calls.iter().map(|c| c.2.len()).sum();
        assert_eq!(total, 30);
        for (_, bucket, keys) in &calls {
            let want = if bucket == "b2" { 10 } else { 20 };
            assert_eq!(keys.len(), want);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_batch_is_published_without_waiting() {
        let rec = recorder(4);
        let n = BatchingNotifier::new(rec.clone(), Duration::from_secs(3600));
        let keys: Vec<String> = (0..8).map(|i| format!("k{i}")).collect();
        let started = Instant::now();
        n.notify_files("t", "b", &keys).await.expect("accepted");
        assert!(started.elapsed() < Duration::from_secs(1));
        let calls = rec.calls.lock().expect("not poisoned").clone();
        assert_eq!(calls.iter().map(|c| c.2.len()).collect::<Vec<_>>(), [4, 4]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_repeated_key_is_named_once_and_both_callers_resolve() {
        let rec = recorder(100);
        let n = BatchingNotifier::new(rec.clone(), Duration::from_millis(50));
        let (a, b) = tokio::join!(n.notify_file("t", "b", "k"), n.notify_file("t", "b", "k"));
        a.expect("first");
        b.expect("second");
        assert_eq!(rec.calls.lock().expect("not poisoned")[0].2, ["k"]);
    }

    #[tokio::test(start_paused = true)]
    async fn every_caller_of_a_failed_batch_hears_the_error() {
        let rec = recorder(100);
        let n = BatchingNotifier::new(rec.clone(), Duration::from_millis(50));
        let (a, b) = tokio::join!(
            n.notify_file("t", "b", "good"),
            n.notify_file("t", "b", "bad")
        );
        assert!(matches!(a, Err(NotifyError::KeyTooLarge { .. })));
        assert!(matches!(b, Err(NotifyError::KeyTooLarge { .. })));
    }

    #[tokio::test(start_paused = true)]
    async fn flush_publishes_pending_batches_at_once() {
        let rec = recorder(100);
        let n = BatchingNotifier::new(rec.clone(), Duration::from_secs(3600));
        let started = Instant::now();
        let (a, flushed) = tokio::join!(n.notify_file("t", "b", "k"), async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            n.flush().await
        });
        a.expect("accepted");
        flushed.expect("flushed");
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(rec.calls.lock().expect("not poisoned").len(), 1);
    }
}
