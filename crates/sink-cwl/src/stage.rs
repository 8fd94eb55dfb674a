//! The CloudWatch Logs stage of the pipeline. Records of trails with
//! `[trails.cloud_watch_logs]` go to `<account>_CloudTrail_<region>` streams on a fast path of
//! their own ([`crate::fast_path`]): the batcher hands them over as it reads them, and they are
//! put within `[cloudwatch_logs] flush_millis` plus a request, long before the S3 segment
//! holding them is cut. As a segment [`Sink`], the stage resolves once every CloudWatch Logs
//! record of the segment is settled (`trailpipe_batcher::cwl_feed` states the invariants), and
//! passes the records CloudWatch Logs refused for good to the dead letters. The trail's metric
//! filters (and the CIS set) are evaluated on accepted records and exported on `/metrics`;
//! alarms evaluated on that stream publish state changes to SNS.
//!
//! CloudWatch Logs has no idempotent write: after a crash the records of uncommitted offsets
//! are sent again (at-least-once), unlike the S3 log files.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use futures::future::BoxFuture;
use trailpipe_batcher::{FastPending, Segment};
use trailpipe_delivery::{Ledger, Sink, Step};

use crate::{
    default_max_notifications_per_sec, AlarmEvaluator, AlarmNotifier, Backoff,
    CloudWatchLogsConfig, CwlBatch, CwlError, CwlSink, CwlSinkConfig, CwlTrailConfig,
    MetricEvaluator, MetricPublisher,
};

/// A trail's log group, filters and alarms.
pub(crate) struct TrailMetrics {
    pub(crate) log_group: String,
    /// Role assumed to write to the log group.
    pub(crate) role_arn: Option<String>,
    pub(crate) evaluator: MetricEvaluator,
    pub(crate) alarms: Mutex<AlarmEvaluator>,
}

/// The CloudWatch Logs stage.
pub struct CwlStage {
    pub(crate) sink: CwlSink,
    /// By trail index; `None` for trails without CloudWatch Logs.
    pub(crate) trails: Vec<Option<TrailMetrics>>,
    pub(crate) notifier: AlarmNotifier,
    /// PutMetricData for trails with `publish_metric_data`.
    pub(crate) publisher: MetricPublisher,
    /// Fast-path records not yet settled (shared with the batcher).
    pub(crate) pending: Arc<FastPending>,
    /// Longest a record waits in its stream's batch.
    pub(crate) flush: Duration,
    /// Puts in flight at once.
    pub(crate) max_in_flight: usize,
}

/// How often locally computed metrics go to CloudWatch (one statistic set per metric and
/// minute, CloudWatch's standard resolution).
const PUBLISH_EVERY_SECS: u64 = 60;
/// PutMetricData attempts per round before the round's statistics are dropped (they are
/// metrics, not evidence; the failure is logged and counted).
const PUBLISH_ATTEMPTS: u32 = 3;

/// The running CloudWatch Logs sink, for `/readyz` (set by each pipeline that delivers there).
pub type CwlHealthSlot = Arc<std::sync::Mutex<Option<CwlSink>>>;

impl CwlStage {
    /// Its sink (shares the sink's health).
    pub fn sink(&self) -> CwlSink {
        self.sink.clone()
    }

    /// The stage for `trails` (name and CloudWatch Logs settings of each configured trail, in
    /// the configuration's order), or `None` when none delivers to CloudWatch Logs. Provisions
    /// every trail's metric filters on its log group first (idempotent).
    pub async fn open(
        trails: &[(&str, Option<&CwlTrailConfig>)],
        tuning: &CloudWatchLogsConfig,
        mut sink_cfg: CwlSinkConfig,
    ) -> Result<Option<Arc<Self>>, CwlError> {
        if trails.iter().all(|(_, c)| c.is_none()) {
            return Ok(None);
        }
        sink_cfg.cloudwatch_logs_max_requests_per_sec = tuning.max_requests_per_sec;
        let sink = CwlSink::new(sink_cfg).await;
        let now = SystemTime::now();
        let mut metrics = Vec::new();
        for (name, c) in trails {
            metrics.push(match c {
                None => None,
                Some(c) => {
                    match sink.provision(c).await {
                        Ok(o) => tracing::info!(trail = %name, put = o.put, unchanged = o.unchanged, "metric filters provisioned"),
                        Err(e) => tracing::warn!(trail = %name, error = %e, "provisioning metric filters failed; evaluating them locally anyway"),
                    }
                    Some(TrailMetrics {
                        log_group: c.cloud_watch_logs_log_group.clone(),
                        role_arn: c.cloud_watch_logs_role_arn.clone(),
                        evaluator: MetricEvaluator::new(c).map_err(|e| {
                            CwlError::Config(format!("trails.{name}.cloud_watch_logs: {}", e.join("; ")))
                        })?,
                        alarms: Mutex::new(AlarmEvaluator::new(c, now)),
                    })
                }
            });
        }
        let notifier = AlarmNotifier::new(sink.sdk_config(), default_max_notifications_per_sec());
        let publisher = MetricPublisher::new(sink.sdk_config());
        Ok(Some(Arc::new(Self {
            sink,
            trails: metrics,
            notifier,
            publisher,
            pending: Arc::default(),
            flush: Duration::from_millis(tuning.flush_millis),
            max_in_flight: tuning.max_concurrent_puts,
        })))
    }

    /// Evaluates every trail's alarms once a second and publishes state changes, and sends the
    /// metrics of trails with `publish_metric_data` to CloudWatch every minute; runs until
    /// aborted.
    pub async fn run_alarms(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut ticks = 0u64;
        loop {
            tick.tick().await;
            ticks += 1;
            if ticks.is_multiple_of(PUBLISH_EVERY_SECS) {
                self.publish_metric_data().await;
            }
            let now = SystemTime::now();
            let transitions: Vec<_> = self
                .trails
                .iter()
                .flatten()
                .flat_map(|t| t.alarms.lock().unwrap_or_else(|p| p.into_inner()).tick(now))
                .collect();
            for t in transitions {
                tracing::info!(alarm = %t.alarm.name, state = %t.new.as_str(), "alarm state changed");
                if let Err(e) = self.notifier.notify(&t).await {
                    tracing::warn!(alarm = %t.alarm.name, error = %e, "alarm notification failed");
                }
            }
        }
    }

    /// One PutMetricData round: every trail's statistics gathered since the last round (also
    /// run when a pipeline stops, so the last minute is not lost).
    pub async fn publish_metric_data(&self) {
        let mut stats: Vec<_> = self
            .trails
            .iter()
            .flatten()
            .flat_map(|t| t.evaluator.take_statistics())
            .collect();
        if stats.is_empty() {
            return;
        }
        let mut backoff = Backoff::new();
        for attempt in 1..=PUBLISH_ATTEMPTS {
            // After an Err, `stats` holds only what was not sent: nothing is counted twice.
            match self.publisher.publish(&mut stats).await {
                Ok(n) => {
                    tracing::debug!(datums = n, "metric data published");
                    return;
                }
                Err(e) if attempt < PUBLISH_ATTEMPTS => {
                    tracing::warn!(error = %e, attempt, "PutMetricData failed; retrying");
                    tokio::time::sleep(backoff.next_delay(e.class())).await;
                }
                Err(e) => {
                    tracing::error!(error = %e, unsent = stats.len(), "PutMetricData failed; this minute's unsent statistics are dropped")
                }
            }
        }
    }

    /// Sends records that are not part of a segment (Insights events) to trail `trail`'s log
    /// group, when it has one, retrying until CloudWatch Logs holds them; records it refuses
    /// are logged (they are also in the trail's bucket and the history).
    pub async fn deliver_records(
        &self,
        trail: usize,
        account: &str,
        region: &str,
        records: Vec<(i64, bytes::Bytes)>,
    ) {
        let Some(t) = self.trails.get(trail).and_then(Option::as_ref) else {
            return;
        };
        let batch = CwlBatch {
            log_group: t.log_group.clone(),
            account: account.to_string(),
            region: region.to_string(),
            records,
            role_arn: t.role_arn.clone(),
        };
        match self.sink.deliver(batch).await {
            Ok(o) => {
                for (_, reason) in o.rejected {
                    tracing::warn!(log_group = %t.log_group, reason, "CloudWatch Logs refused an Insights event");
                }
            }
            Err(e) => {
                tracing::error!(log_group = %t.log_group, error = %e, "CloudWatch Logs delivery of Insights events failed")
            }
        }
    }
}

/// The segment side of the fast path: a segment is acknowledged only once every CloudWatch
/// Logs record in its offsets is settled; the records refused for good come back as its dead
/// letters.
impl Sink for CwlStage {
    fn name(&self) -> &'static str {
        "cloudwatch_logs"
    }

    fn deliver<'a>(&'a self, seg: &'a Segment, ledger: &'a mut Ledger) -> BoxFuture<'a, Step> {
        Box::pin(trailpipe_delivery::fast_path_step(
            &self.pending,
            seg,
            ledger,
        ))
    }
}

/// The record's `eventID` (for alarm messages), or empty.
pub(crate) fn event_id(raw: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Id<'a> {
        #[serde(rename = "eventID", borrow)]
        event_id: Option<&'a str>,
    }
    serde_json::from_slice::<Id<'_>>(raw)
        .ok()
        .and_then(|i| i.event_id.map(str::to_string))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn event_id_is_read_from_the_record() {
        assert_eq!(super::event_id(br#"{"eventID":"abc","x":1}"#), "abc");
        assert_eq!(super::event_id(b"not json"), "");
    }
}
