//! `[cloudwatch_logs]`: the one set of CloudWatch Logs knobs, read by the configuration and
//! used by the stage and its sink.

use serde::Deserialize;

/// `[cloudwatch_logs]`: the CloudWatch Logs fast path. Records go to their log group as soon as
/// they are read, batched per stream for at most `flush_millis`, independent of the S3 files'
/// `delivery_interval_secs`; offsets are still committed only after both hold them.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CloudWatchLogsConfig {
    /// Requests per second over all CloudWatch Logs calls (a governor limit; throttles are
    /// retried regardless). Set it to your account's PutLogEvents quota.
    #[serde(
        default = "crate::default_max_requests_per_sec",
        alias = "cloudwatch_logs_max_requests_per_sec"
    )]
    pub max_requests_per_sec: u32,
    /// PutLogEvents requests in flight at once, over all streams.
    #[serde(default = "CloudWatchLogsConfig::default_max_concurrent_puts")]
    pub max_concurrent_puts: usize,
    /// Longest a record waits in its stream's batch before the batch is put (a full batch
    /// goes at once).
    #[serde(default = "CloudWatchLogsConfig::default_flush_millis")]
    pub flush_millis: u64,
}

impl CloudWatchLogsConfig {
    const fn default_max_concurrent_puts() -> usize {
        8
    }
    const fn default_flush_millis() -> u64 {
        200
    }
}

impl Default for CloudWatchLogsConfig {
    fn default() -> Self {
        Self {
            max_requests_per_sec: crate::default_max_requests_per_sec(),
            max_concurrent_puts: Self::default_max_concurrent_puts(),
            flush_millis: Self::default_flush_millis(),
        }
    }
}
