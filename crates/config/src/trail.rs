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
}

impl TrailConfig {
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
}
