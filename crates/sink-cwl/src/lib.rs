//! CloudWatch Logs for trailpipe trails (issue 6): delivery of records to a trail's log group
//! ([`CwlSink::deliver`]), metric filters provisioned on the group ([`CwlSink::provision`]) and
//! evaluated locally on every record ([`MetricEvaluator`]), alarms on those metrics with SNS
//! notifications ([`AlarmEvaluator`], [`AlarmNotifier`]), optional PutMetricData
//! ([`MetricPublisher`]) and the `test-filter` subcommand ([`test_filter`]).
//!
//! [`CwlStage`] is the pipeline's CloudWatch Logs stage built from these parts: it provisions
//! each trail's filters at start ([`CwlStage::open`]), takes the batcher's records on the fast
//! path ([`CwlStage::start_feed`]: batched per stream, put, settled in the batcher's
//! `FastPending`, accepted records evaluated by the filters and alarms), ticks alarms and
//! publishes metric data ([`CwlStage::run_alarms`]), and as a `trailpipe_delivery::Sink` holds a
//! segment's acknowledgement until its CloudWatch Logs records are settled.
//!
//! Delivery guarantees: **at-least-once** (CloudWatch Logs has no dedupe key; a replay after a
//! crash re-sends what was not committed). `deliver` retries until done; `deliver_until` bounds
//! it with a deadline. A trail's `cloud_watch_logs_role_arn` is assumed with STS (aws-config's
//! `AssumeRoleProvider`, refreshed before expiry) for its log group's calls — delivery and
//! provisioning — as CloudTrail does; without one, the daemon's credential chain is used.

mod alarm;
mod batch;
mod config;
mod evaluator;
mod fast_path;
mod notify;
mod provision;
mod publish;
mod request;
mod retry;
mod sink;
mod stage;
mod test_filter;
mod tuning;

pub use alarm::{AlarmEvaluator, AlarmState, AlarmTransition, MAX_EVENT_IDS};
pub use batch::{
    plan, refused_positions, Plan, PutRequest, Reject, EVENT_OVERHEAD_BYTES, MAX_AGE_MS,
    MAX_BATCH_BYTES, MAX_BATCH_EVENTS, MAX_EVENT_BYTES, MAX_FUTURE_MS, MAX_SPAN_MS,
};
pub use config::{
    log_group_name, log_group_region, AlarmConfig, ComparisonOperator, CwlTrailConfig,
    MetricFilterConfig, MetricTransformationConfig, Statistic, DEFAULT_CIS_NAMESPACE,
};
pub use evaluator::{MetricEvaluator, MetricPoint, StatisticSet, MAX_DIMENSION_SETS_PER_HOUR};
pub use notify::{default_max_notifications_per_sec, AlarmNotifier, MAX_PUBLISH_ATTEMPTS};
pub use provision::{cis_filter_name, ProvisionOutcome, MAX_PROVISION_ATTEMPTS};
pub use publish::{MetricPublisher, MAX_DATUMS_PER_CALL};
pub use retry::{classify_code, Backoff, ErrorClass};
pub use sink::{
    default_max_requests_per_sec, stream_name, CwlBatch, CwlHealth, CwlOutcome, CwlSink,
    CwlSinkConfig, PUTS_PER_DELIVER,
};
pub use stage::{CwlHealthSlot, CwlStage};
pub use test_filter::{test_filter, TestFilterError};
pub use tuning::CloudWatchLogsConfig;

/// The crate's one error type.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CwlError {
    /// An AWS request failed and was not (or no longer) retried.
    #[error("{message} ({})", class.as_str())]
    Request {
        /// Operation, resource and the service's error text.
        message: String,
        /// Its retry class.
        class: ErrorClass,
    },
    /// `deliver_until`'s deadline passed while retrying; some requests may have landed.
    #[error("deadline passed while retrying; last error: {last_error}")]
    Deadline {
        /// The error that was being retried.
        last_error: String,
    },
    /// The trail's CloudWatch settings are invalid (validate's messages, joined).
    #[error("cloudwatch logs config: {0}")]
    Config(String),
}

impl CwlError {
    /// Retry class (a deadline is retriable: the caller may try again later).
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Request { class, .. } => *class,
            Self::Deadline { .. } => ErrorClass::Retriable,
            Self::Config(_) => ErrorClass::Permanent,
        }
    }
}

/// Metric names this crate emits (defined with their help texts in `trailpipe-telemetry`).
pub mod metric_names {
    pub use trailpipe_telemetry::{
        ALARM_NOTIFICATIONS, ALARM_STATE, CWL_ERRORS, CWL_EVENTS_DELIVERED, CWL_EVENTS_REJECTED,
        CWL_REQUESTS, METRIC_DATA_PUBLISHED, METRIC_FILTER_SAMPLES, METRIC_FILTER_VALUE_SUM,
    };
}
