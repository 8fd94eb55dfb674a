//! [`LogFiles`]: a segment's log files, anchor first, each written create-only with its cut, hash
//! and MAC in the object's metadata, retried until durable.

use std::sync::Arc;

use futures::future::BoxFuture;
use trailpipe_batcher::{LogFile, Segment};
use trailpipe_delivery::{Ledger, Sink, SinkHealth, Step};
use trailpipe_event::Trail;
use trailpipe_store::{
    meta::{Cut, Listed, LogFileMeta},
    Backoff, PutOutcome, RecordedCut, Store,
};
use trailpipe_telemetry as names;

/// The log-file sink.
pub struct LogFiles {
    store: Store,
    trails: Arc<[Trail]>,
    /// Signs every file's metadata, so digests list only files trailpipe wrote.
    mac: Arc<trailpipe_logfile::FileMac>,
    health: SinkHealth,
}

impl LogFiles {
    /// Writes the files of `trails` to `store`; `mac` signs each file's metadata
    /// ([`trailpipe_logfile::mac`]); deliveries and errors are reported in `health`.
    pub fn new(
        store: Store,
        trails: Arc<[Trail]>,
        mac: Arc<trailpipe_logfile::FileMac>,
        health: SinkHealth,
    ) -> Self {
        Self {
            store,
            trails,
            mac,
            health,
        }
    }

    /// Writes one file (create-only), retrying until it is durable; returns its record count, 0
    /// when an earlier delivery of the same segment wrote it, or `None` when a different cut is
    /// already stored at its key.
    async fn put_file(&self, seg: &Segment, f: &LogFile) -> Option<u64> {
        let t = &self.trails[f.trail];
        let anchor = seg.anchor.unwrap_or(seg.start);
        let (sha256, oldest, newest) = (
            f.body.sha256_hex(),
            trailpipe_event::format_epoch_secs(f.oldest_event_time),
            trailpipe_event::format_epoch_secs(f.newest_event_time),
        );
        let mac = self.mac.sign(&trailpipe_logfile::MacInput {
            bucket: &f.bucket,
            key: &f.key,
            sha256_hex: &sha256,
            oldest: &oldest,
            newest: &newest,
        });
        let metadata = LogFileMeta {
            source: format!("{}/{}", seg.partition.source, seg.partition.partition),
            sha256_hex: sha256,
            cut: Some(Cut {
                anchor,
                end: seg.end,
                start: seg.start,
            }),
            listed: Some(Listed {
                oldest,
                newest,
                mac,
            }),
            file_time: seg.file_time.map(|s| s.as_str()),
        }
        .into_map();
        let mut backoff = Backoff::new();
        loop {
            match self
                .store
                .put_new_sse(
                    &f.bucket,
                    &f.key,
                    f.body.gzip.clone().into(),
                    metadata.clone(),
                    t.kms_key_id.as_deref(),
                )
                .await
            {
                Ok(PutOutcome::Created) => {
                    let records = f.body.records as u64;
                    let trail = t.name.to_string();
                    self.health.delivered(records);
                    metrics::counter!(names::FILES_WRITTEN, "trail" => trail.clone()).increment(1);
                    metrics::counter!(names::RECORDS_DELIVERED, "trail" => trail.clone())
                        .increment(records);
                    metrics::counter!(names::BYTES_WRITTEN, "trail" => trail.clone())
                        .increment(f.body.gzip.len() as u64);
                    metrics::histogram!(names::FILE_RECORDS, "trail" => trail.clone())
                        .record(records as f64);
                    metrics::histogram!(names::FILE_BYTES, "trail" => trail)
                        .record(f.body.gzip.len() as f64);
                    return Some(records);
                }
                Ok(PutOutcome::AlreadyExists) => {
                    return self
                        .check_existing(seg, f, anchor, &t.name)
                        .await
                        .then_some(0);
                }
                Err(e) => {
                    metrics::counter!(names::STORE_ERRORS, "error_type" => e.class.as_str())
                        .increment(1);
                    tracing::warn!(error = %e, "log file write failed; retrying");
                    self.health.error(e.to_string());
                    tokio::time::sleep(backoff.next_delay(e.class)).await;
                }
            }
        }
    }

    /// A file already at our key must be the one an earlier delivery of this very segment wrote.
    async fn check_existing(&self, seg: &Segment, f: &LogFile, anchor: i64, trail: &str) -> bool {
        metrics::counter!(names::FILES_ALREADY_PRESENT, "trail" => trail.to_string()).increment(1);
        let meta = trailpipe_retry::until_ok(
            || self.store.head(&f.bucket, &f.key),
            |e| e.class,
            |e| tracing::warn!(error = %e, "reading an existing log file's metadata failed; retrying"),
        )
        .await
        .unwrap_or_default();
        let recorded = RecordedCut::from_metadata(&meta);
        if recorded
            != Some(RecordedCut {
                first: anchor,
                end: seg.end,
            })
        {
            metrics::counter!(names::SEGMENT_CONFLICTS).increment(1);
            tracing::error!(bucket = %f.bucket, key = %f.key, ?recorded, anchor, end = seg.end, "existing log file records a different cut");
            false
        } else {
            tracing::debug!(key = %f.key, "log file already delivered");
            true
        }
    }
}

impl Sink for LogFiles {
    fn name(&self) -> &'static str {
        "log_files"
    }

    /// The anchor file, then the others concurrently. An anchor holding another cut means
    /// nothing was written ([`Step::Rewind`]); another file holding one means the store holds
    /// files this daemon cannot explain ([`Step::Stuck`]).
    fn deliver<'a>(&'a self, seg: &'a Segment, ledger: &'a mut Ledger) -> BoxFuture<'a, Step> {
        Box::pin(async move {
            let mut files = seg.files.iter();
            let Some(anchor) = files.next() else {
                return Step::Durable;
            };
            let Some(first) = self.put_file(seg, anchor).await else {
                return Step::Rewind;
            };
            let rest = futures::future::join_all(files.map(|f| self.put_file(seg, f))).await;
            if rest.iter().any(Option::is_none) {
                return Step::Stuck("conflicts with delivered files".into());
            }
            ledger.delivered += first + rest.into_iter().flatten().sum::<u64>();
            Step::Durable
        })
    }
}
