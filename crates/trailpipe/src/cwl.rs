//! CloudWatch Logs in the pipeline: each segment's records of trails with
//! `[trails.cloud_watch_logs]` go to `<account>_CloudTrail_<region>` streams before the segment
//! is acknowledged; the trail's metric filters (and the CIS set) are evaluated on them and
//! exported on `/metrics`; alarms evaluated on that stream publish state changes to SNS.
//!
//! CloudWatch Logs has no idempotent write: after a crash the replayed segment is sent again
//! (at-least-once), unlike the S3 log files.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use futures::future::BoxFuture;
use trailpipe_batcher::Segment;
use trailpipe_config::Config;
use trailpipe_event::{DeadLetter, RejectReason, Rejected};
use trailpipe_sink_cwl::{
    AlarmEvaluator, AlarmNotifier, CwlBatch, CwlSink, CwlSinkConfig, CwlTrailConfig,
    MetricEvaluator, MetricPublisher,
};
use trailpipe_sink_s3::SegmentSink;

/// A trail's log group, filters and alarms.
struct TrailMetrics {
    log_group: String,
    evaluator: MetricEvaluator,
    alarms: Mutex<AlarmEvaluator>,
}

/// The CloudWatch Logs stage.
pub struct CwlStage {
    sink: CwlSink,
    /// By trail index; `None` for trails without CloudWatch Logs.
    trails: Vec<Option<TrailMetrics>>,
    notifier: AlarmNotifier,
    /// PutMetricData for trails with `publish_metric_data`.
    publisher: MetricPublisher,
}

/// How often locally computed metrics go to CloudWatch (one statistic set per metric and
/// minute, CloudWatch's standard resolution).
const PUBLISH_EVERY_SECS: u64 = 60;
/// PutMetricData attempts per round before the round's statistics are dropped (they are
/// metrics, not evidence; the failure is logged and counted).
const PUBLISH_ATTEMPTS: u32 = 3;

impl CwlStage {
    /// The stage for `config`, or `None` when no trail delivers to CloudWatch Logs. Provisions
    /// every trail's metric filters on its log group first (idempotent).
    pub async fn open(config: &Config) -> anyhow::Result<Option<Arc<Self>>> {
        let cfgs: Vec<Option<&CwlTrailConfig>> = config
            .trails
            .iter()
            .map(|t| t.cloud_watch_logs.as_ref())
            .collect();
        if cfgs.iter().all(Option::is_none) {
            return Ok(None);
        }
        let mut sink_cfg = CwlSinkConfig::new(config.storage.region.clone());
        sink_cfg.endpoint_url = config.storage.endpoint_url.clone();
        let sink = CwlSink::new(sink_cfg).await;
        let now = SystemTime::now();
        let mut trails = Vec::new();
        for (t, c) in config.trails.iter().zip(&cfgs) {
            trails.push(match c {
                None => None,
                Some(c) => {
                    match sink.provision(c).await {
                        Ok(o) => tracing::info!(trail = %t.name, put = o.put, unchanged = o.unchanged, "metric filters provisioned"),
                        Err(e) => tracing::warn!(trail = %t.name, error = %e, "provisioning metric filters failed; evaluating them locally anyway"),
                    }
                    Some(TrailMetrics {
                        log_group: c.cloud_watch_logs_log_group.clone(),
                        evaluator: MetricEvaluator::new(c).map_err(|e| {
                            anyhow::anyhow!("trails.{}.cloud_watch_logs: {}", t.name, e.join("; "))
                        })?,
                        alarms: Mutex::new(AlarmEvaluator::new(c, now)),
                    })
                }
            });
        }
        let notifier = AlarmNotifier::new(
            sink.sdk_config(),
            trailpipe_sink_cwl::default_max_notifications_per_sec(),
        );
        let publisher = MetricPublisher::new(sink.sdk_config());
        Ok(Some(Arc::new(Self {
            sink,
            trails,
            notifier,
            publisher,
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
        let stats: Vec<_> = self
            .trails
            .iter()
            .flatten()
            .flat_map(|t| t.evaluator.take_statistics())
            .collect();
        if stats.is_empty() {
            return;
        }
        let mut backoff = trailpipe_sink_cwl::Backoff::new();
        for attempt in 1..=PUBLISH_ATTEMPTS {
            match self.publisher.publish(stats.clone()).await {
                Ok(n) => {
                    tracing::debug!(datums = n, "metric data published");
                    return;
                }
                Err(e) if attempt < PUBLISH_ATTEMPTS => {
                    tracing::warn!(error = %e, attempt, "PutMetricData failed; retrying");
                    tokio::time::sleep(backoff.next_delay(e.class())).await;
                }
                Err(e) => {
                    tracing::error!(error = %e, "PutMetricData failed; this minute's statistics are dropped")
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

    async fn deliver_segment(&self, seg: &Segment) -> Vec<DeadLetter> {
        let mut refused = Vec::new();
        for g in &seg.cwl {
            let batch = CwlBatch {
                log_group: g.log_group.to_string(),
                account: g.account.to_string(),
                region: g.region.to_string(),
                records: g.records.iter().map(|(t, _, r)| (*t, r.clone())).collect(),
            };
            let outcome = match self.sink.deliver(batch).await {
                Ok(o) => o,
                Err(e) => {
                    // `deliver` retries until durable; an error here is a configuration
                    // problem. Keep the records: send them to the dead letters with the reason.
                    tracing::error!(log_group = %g.log_group, error = %e, "CloudWatch Logs delivery failed");
                    trailpipe_sink_cwl::CwlOutcome {
                        delivered: 0,
                        rejected: (0..g.records.len()).map(|i| (i, e.to_string())).collect(),
                    }
                }
            };
            let mut rejected = outcome.rejected.iter().peekable();
            let metrics = self.trails.get(g.trail).and_then(Option::as_ref);
            let now = SystemTime::now();
            for (i, (_, offset, raw)) in g.records.iter().enumerate() {
                if rejected.peek().is_some_and(|(r, _)| *r == i) {
                    let (_, reason) = rejected.next().expect("peeked");
                    refused.push(DeadLetter {
                        partition: seg.partition.clone(),
                        offset: *offset,
                        key: None,
                        rejected: Rejected {
                            raw: raw.clone(),
                            reason: RejectReason::SinkRejected {
                                sink: "cloudwatch_logs",
                                reason: reason.clone(),
                            },
                            envelope_index: None,
                        },
                    });
                    continue;
                }
                if let Some(m) = metrics {
                    let points = m.evaluator.observe(raw);
                    if !points.is_empty() {
                        let id = event_id(raw);
                        m.alarms
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .observe(&points, &id, now);
                    }
                }
            }
        }
        refused
    }
}

/// The record's `eventID` (for alarm messages), or empty.
fn event_id(raw: &[u8]) -> String {
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

impl SegmentSink for CwlStage {
    fn deliver<'a>(&'a self, seg: &'a Segment) -> BoxFuture<'a, Vec<DeadLetter>> {
        Box::pin(self.deliver_segment(seg))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn event_id_is_read_from_the_record() {
        assert_eq!(super::event_id(br#"{"eventID":"abc","x":1}"#), "abc");
        assert_eq!(super::event_id(b"not json"), "");
    }
}
