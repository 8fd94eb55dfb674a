//! How trailpipe's AWS sinks (S3, CloudWatch Logs, SNS, KMS) wait between attempts: exponential
//! backoff with full jitter, AWS's recommended scheme — each delay is uniform in
//! `[0, min(cap, base · 2^attempt)]` — with base and cap chosen per class of failure by the
//! sink (each has its own error classes, see their `retry` modules); and how they print an
//! error with its causes.
//!
//! Invariant: a delay never exceeds its class's cap, whatever the attempt count (the exponent
//! saturates), so a sink that retries until durable waits at most `cap` between attempts.

use std::time::Duration;

use rand::Rng;

/// Base and cap of the exponential ceiling for one class of failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Ceiling of the first delay.
    pub base_ms: u64,
    /// Largest ceiling.
    pub cap_ms: u64,
}

/// How a failed request should be treated, for sinks that need no finer classes (S3, SNS;
/// CloudWatch Logs has its own, with `NotFound` and `Rejected`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Network trouble, 5xx, timeouts: retry soon.
    Retriable,
    /// Throttling (S3's 503 SlowDown, SNS's `Throttled`, HTTP 429): retry with longer backoff.
    Throttled,
    /// Configuration problems (AccessDenied, NoSuchBucket, a missing topic, KMS or parameter
    /// errors): retry slowly, report.
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

/// A class of failure that knows its backoff bounds (each sink's `ErrorClass`).
pub trait RetryClass: Copy {
    /// The bounds of this class's delays.
    fn bounds(self) -> Bounds;
}

/// Backoff state for one request (or one message) being retried.
#[derive(Debug, Default)]
pub struct Backoff {
    attempt: u32,
}

impl Backoff {
    /// A fresh backoff: the first delay has the smallest ceiling.
    pub fn new() -> Self {
        Self::default()
    }

    /// Delays handed out so far.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// The next delay for a failure of `class`: uniform in `[0, min(cap, base · 2^attempt)]`.
    pub fn next_delay(&mut self, class: impl RetryClass) -> Duration {
        let Bounds { base_ms, cap_ms } = class.bounds();
        let ceiling = base_ms
            .saturating_mul(1u64 << self.attempt.min(16))
            .min(cap_ms);
        self.attempt = self.attempt.saturating_add(1);
        Duration::from_millis(rand::rng().random_range(0..=ceiling))
    }
}

/// Runs `call` until it succeeds and returns its value: the one retry loop of the sinks and
/// stages that must not give up (a durable write, a lookup whose wrong guess would duplicate
/// records). Each failure is shown to `on_error` (logs, health, metrics) and followed by a
/// full-jitter delay of the class `class` gives it; a fresh backoff starts with every call.
pub async fn until_ok<T, E, C, F>(
    mut call: impl FnMut() -> F,
    class: impl Fn(&E) -> C,
    mut on_error: impl FnMut(&E),
) -> T
where
    C: RetryClass,
    F: std::future::Future<Output = Result<T, E>>,
{
    let mut backoff = Backoff::new();
    loop {
        match call().await {
            Ok(v) => return v,
            Err(e) => {
                on_error(&e);
                let delay = backoff.next_delay(class(&e));
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// Displays an error with its source chain, `outer: cause: root cause` (the AWS SDKs' top-level
/// text alone often says only "dispatch failure" or "service error").
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy)]
    struct Class(u64, u64);

    impl RetryClass for Class {
        fn bounds(self) -> Bounds {
            Bounds {
                base_ms: self.0,
                cap_ms: self.1,
            }
        }
    }

    #[test]
    fn delays_stay_under_the_growing_ceiling_and_the_cap() {
        for (base, cap) in [(50, 10_000), (200, 20_000), (5_000, 60_000)] {
            let mut b = Backoff::new();
            for attempt in 0..40u32 {
                let d = b.next_delay(Class(base, cap)).as_millis() as u64;
                let ceiling = (base << attempt.min(16)).min(cap);
                assert!(d <= ceiling, "{base}/{cap} attempt {attempt}: {d}ms");
            }
            assert_eq!(b.attempts(), 40);
        }
    }

    #[test]
    fn delays_are_spread_over_the_whole_range() {
        // Full jitter: late attempts (ceiling = cap) land in every quarter of [0, cap].
        let mut b = Backoff::new();
        let mut quarters = [0u32; 4];
        for _ in 0..20 {
            b.next_delay(Class(100, 1_000));
        }
        for _ in 0..400 {
            let d = b.next_delay(Class(100, 1_000)).as_millis() as usize;
            quarters[(d * 4 / 1_001).min(3)] += 1;
        }
        assert!(quarters.iter().all(|&n| n > 40), "{quarters:?}");
    }

    #[test]
    fn error_chain_lists_every_cause() {
        #[derive(Debug)]
        struct E(&'static str, Option<Box<E>>);
        impl std::fmt::Display for E {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.0)
            }
        }
        impl std::error::Error for E {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                self.1.as_deref().map(|e| e as _)
            }
        }
        let e = E(
            "dispatch failure",
            Some(Box::new(E("io", Some(Box::new(E("refused", None)))))),
        );
        assert_eq!(error_chain(&e), "dispatch failure: io: refused");
    }
}
