//! Which store errors are retried and how: exponential backoff with full jitter. Nothing is
//! ever given up on — an undelivered file keeps its offsets uncommitted — but permanent errors
//! (access denied, missing bucket) back off to the longest delay and show in `/readyz`.

use std::time::Duration;

use rand::Rng;

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

/// Backoff state for one request (full jitter, capped per [`ErrorClass`]); other sinks that
/// retry until durable share it.
pub struct Backoff {
    attempt: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

impl Backoff {
    /// A fresh backoff (first delay is the smallest).
    pub fn new() -> Self {
        Self { attempt: 0 }
    }

    /// Full-jitter delay: uniform in [0, min(cap, base·2^attempt)].
    pub fn next_delay(&mut self, class: ErrorClass) -> Duration {
        let (base_ms, cap_ms) = match class {
            ErrorClass::Retriable => (100u64, 10_000u64),
            ErrorClass::Throttled => (500, 20_000),
            ErrorClass::Permanent => (5_000, 60_000),
        };
        let ceiling = base_ms
            .saturating_mul(1u64 << self.attempt.min(16))
            .min(cap_ms);
        self.attempt += 1;
        Duration::from_millis(rand::rng().random_range(ceiling / 4..=ceiling))
    }
}
