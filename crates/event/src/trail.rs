//! [`Trail`]: a configured trail compiled once per pipeline — what stages and sinks need to know
//! about it, in one place.

use std::{sync::Arc, time::Duration};

/// A trail as the pipeline sees it, built from the configuration (`Config::compile_trails`)
/// and shared as `Arc<[Trail]>`.
///
/// Invariant: trail `i` of that slice is bit `1 << i` of a record's route (the router's order),
/// and every stage indexes the same slice — no stage keeps a parallel per-trail vector or
/// re-derives these facts from the configuration.
#[derive(Debug, Clone)]
pub struct Trail {
    /// Trail name (metric label, part of each file's unique name).
    pub name: Arc<str>,
    /// Destination bucket.
    pub bucket: Arc<str>,
    /// Key prefix (`None` when unset or empty).
    pub prefix: Option<Arc<str>>,
    /// `o-...` of an organization trail, placed before the account in keys.
    pub organization_id: Option<Arc<str>>,
    /// SSE-KMS key of its files (SSE-S3 without).
    pub kms_key_id: Option<Arc<str>>,
    /// SNS topic told about each delivered log file.
    pub sns_topic_arn: Option<Arc<str>>,
    /// CloudWatch Logs log group (name or ARN) the trail also delivers to.
    pub cwl_log_group: Option<Arc<str>>,
    /// Accounts the trail accepts (empty: all).
    pub accounts: Arc<[Box<str>]>,
    /// Largest uncompressed body of a file.
    pub max_file_bytes: usize,
    /// Most records in a file.
    pub max_file_records: usize,
    /// Longest a record waits before its file is cut.
    pub delivery_interval: Duration,
}

impl Trail {
    /// Whether records of `account` go to this trail.
    pub fn accepts(&self, account: &str) -> bool {
        self.accounts.is_empty() || self.accounts.iter().any(|a| &**a == account)
    }
}
