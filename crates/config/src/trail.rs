//! `[[trails]]`: one CloudTrail-style trail.

use serde::Deserialize;
use trailpipe_selectors::{AdvancedEventSelector, EventSelector};

/// One trail: which records it logs and where its log files go.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrailConfig {
    /// Trail name (3–128 characters, CloudTrail's rules).
    pub name: String,
    /// Destination bucket.
    pub s3_bucket_name: String,
    /// Key prefix, without a trailing `/`.
    #[serde(default)]
    pub s3_key_prefix: Option<String>,
    /// Logs every region (true) or only `home_region` (false, CloudTrail's API default).
    #[serde(default)]
    pub is_multi_region_trail: bool,
    /// The trail's home region; defaults to `storage.region`.
    #[serde(default)]
    pub home_region: Option<String>,
    /// Logs global service events (IAM, STS global endpoint, CloudFront, ...).
    #[serde(default = "TrailConfig::default_true")]
    pub include_global_service_events: bool,
    /// A record waits at most this long before its log file is written.
    #[serde(default = "TrailConfig::default_delivery_interval_secs")]
    pub delivery_interval_secs: u64,
    /// A log file is cut before its uncompressed body would exceed this many bytes.
    #[serde(default = "TrailConfig::default_max_file_bytes")]
    pub max_file_bytes: usize,
    /// A log file holds at most this many records.
    #[serde(default = "TrailConfig::default_max_file_records")]
    pub max_file_records: usize,
    /// Basic event selectors.
    #[serde(default)]
    pub event_selectors: Vec<EventSelector>,
    /// Advanced event selectors (instead of basic ones).
    #[serde(default)]
    pub advanced_event_selectors: Vec<AdvancedEventSelector>,
    /// Write signed hourly digest files (reference §3) for this trail's log files.
    #[serde(default)]
    pub enable_log_file_validation: bool,
    /// Length of a digest window (CloudTrail: 3600). Shorter only for tests.
    #[serde(default = "TrailConfig::default_digest_interval_secs")]
    pub digest_interval_secs: u64,
    /// SSE-KMS key (id, alias or ARN) for log files and digests; SSE-S3 (`AES256`) without it.
    #[serde(default)]
    pub kms_key_id: Option<String>,
    /// SNS topic notified of every delivered log file.
    #[serde(default)]
    pub sns_topic_arn: Option<String>,
    /// An organization trail: keys gain `<organization_id>/` before the account.
    #[serde(default)]
    pub is_organization_trail: bool,
    /// `o-...`, required for organization trails.
    #[serde(default)]
    pub organization_id: Option<String>,
    /// Accounts whose records this trail accepts (empty: all).
    #[serde(default)]
    pub account_ids: Vec<String>,
    /// CloudWatch Logs delivery, metric filters and alarms (`[trails.cloud_watch_logs]`).
    #[serde(default)]
    pub cloud_watch_logs: Option<trailpipe_sink_cwl::CwlTrailConfig>,
    /// CloudTrail Insights on the management events this trail logs:
    /// `insight_selectors = [{ insight_type = "ApiCallRateInsight" }, { insight_type =
    /// "ApiErrorRateInsight" }]`; empty: no Insights. The detector's tunables are `[insights]`.
    #[serde(default)]
    pub insight_selectors: Vec<InsightSelector>,
}

/// One entry of `insight_selectors`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InsightSelector {
    /// `ApiCallRateInsight` or `ApiErrorRateInsight`.
    pub insight_type: String,
}

/// The Insights types CloudTrail defines (and trailpipe detects).
pub const INSIGHT_TYPES: [&str; 2] = ["ApiCallRateInsight", "ApiErrorRateInsight"];

impl TrailConfig {
    /// The key prefix files go under (`s3_key_prefix`, `None` when unset or empty).
    pub fn key_prefix(&self) -> Option<&str> {
        self.s3_key_prefix.as_deref().filter(|p| !p.is_empty())
    }

    /// The `o-...` folder before the account in keys: `organization_id` of an organization
    /// trail, `None` for any other trail.
    pub fn key_organization_id(&self) -> Option<&str> {
        self.organization_id
            .as_deref()
            .filter(|_| self.is_organization_trail)
    }

    const fn default_true() -> bool {
        true
    }
    const fn default_delivery_interval_secs() -> u64 {
        300
    }
    const fn default_max_file_bytes() -> usize {
        8 * 1024 * 1024
    }
    const fn default_max_file_records() -> usize {
        50_000
    }
    const fn default_digest_interval_secs() -> u64 {
        3600
    }
}
