//! Which store errors are retried and how: exponential backoff with full jitter
//! ([`trailpipe_retry::Backoff`], bounds per [`ErrorClass`]). Nothing is
//! ever given up on — an undelivered file keeps its offsets uncommitted — but permanent errors
//! (access denied, missing bucket) back off to the longest delay and show in `/readyz`.

pub use trailpipe_retry::{Backoff, ErrorClass};

/// A failed store request.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation} s3://{bucket}/{key}: {message} ({})", class.as_str())]
pub struct StoreError {
    /// What was attempted (`PutObject`, `HeadObject`, ...).
    pub operation: &'static str,
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// The error text.
    pub message: String,
    /// Its class.
    pub class: ErrorClass,
}
