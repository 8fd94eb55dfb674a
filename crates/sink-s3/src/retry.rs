//! Which store errors are retried and how: exponential backoff with full jitter
//! ([`trailpipe_retry::Backoff`], bounds per [`ErrorClass`]). Nothing is
//! ever given up on — an undelivered file keeps its offsets uncommitted — but permanent errors
//! (access denied, missing bucket) back off to the longest delay and show in `/readyz`.

pub use trailpipe_retry::Backoff;
use trailpipe_retry::{Bounds, RetryClass};

/// How a failed request should be treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Network trouble, 5xx, timeouts: retry soon.
    Retriable,
    /// 503 SlowDown / throttling: retry with longer backoff.
    Throttled,
    /// 4xx configuration problems (AccessDenied, NoSuchBucket): retry slowly, report.
    Permanent,
}

impl ErrorClass {
    /// Label for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Retriable => "retriable",
            Self::Throttled => "throttled",
            Self::Permanent => "permanent",
        }
    }
}

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

impl RetryClass for ErrorClass {
    fn bounds(self) -> Bounds {
        let (base_ms, cap_ms) = match self {
            Self::Retriable => (100, 10_000),
            Self::Throttled => (500, 20_000),
            Self::Permanent => (5_000, 60_000),
        };
        Bounds { base_ms, cap_ms }
    }
}
