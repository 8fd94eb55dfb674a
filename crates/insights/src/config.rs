//! What the user chooses: which Insights types run, and the detector's tunables.
//!
//! Field names carry their units (`_minutes`, `_secs`, `_per_minute`). [`InsightConfig::validate`]
//! turns every impossible value into one message naming the field; [`crate::Detector::new`]
//! refuses a configuration that does not validate.

use serde::{Deserialize, Serialize};

use crate::InsightError;

/// Insights configuration of one trail (`insight_selectors` in the trail's TOML block), plus the
/// detector's tunables. Every tunable has a named default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InsightConfig {
    /// `ApiCallRateInsight`: write management calls per minute per (eventSource, eventName).
    pub call_rate: bool,
    /// `ApiErrorRateInsight`: share of management calls that returned an `errorCode`.
    pub error_rate: bool,
    /// A minute closes when a record of its (account, region) at least this much later arrives.
    pub allowed_lateness_secs: u32,
    /// Entry threshold as a Gaussian-equivalent number of sigmas: a minute starts an insight
    /// only if normal traffic reaches its count with probability at most `P(Z > this)`
    /// (Poisson for call counts, binomial for error counts).
    pub threshold_sigmas: f64,
    /// Entry threshold is also at least this multiple of the seasonal mean (or baseline share).
    pub min_ratio: f64,
    /// Call rate: a minute with fewer write calls than this is never anomalous.
    pub min_calls_per_minute: u32,
    /// Error rate: a minute with fewer errors than this is never anomalous.
    pub min_errors_per_minute: u32,
    /// Error rate: the share must exceed the baseline share by at least this much (0..1).
    pub min_error_share_increase: f64,
    /// Hysteresis: the exit threshold sits this fraction of the way from the seasonal mean to
    /// the entry threshold (0 = back to the mean, 1 = same as entry).
    pub exit_fraction: f64,
    /// Hysteresis: an insight ends after this many consecutive normal minutes.
    pub end_after_normal_minutes: u32,
    /// No insight starts before the (account, region) has this much history.
    pub min_baseline_minutes: u32,
    /// Cap on tracked (account, region, eventSource, eventName) keys; idle ones are evicted first.
    pub max_tracked_apis: usize,
}

/// Default of [`InsightConfig::allowed_lateness_secs`].
pub const fn default_allowed_lateness_secs() -> u32 {
    120
}
/// Default of [`InsightConfig::threshold_sigmas`].
pub const fn default_threshold_sigmas() -> f64 {
    6.0
}
/// Default of [`InsightConfig::min_ratio`].
pub const fn default_min_ratio() -> f64 {
    3.0
}
/// Default of [`InsightConfig::min_calls_per_minute`].
pub const fn default_min_calls_per_minute() -> u32 {
    10
}
/// Default of [`InsightConfig::min_errors_per_minute`].
pub const fn default_min_errors_per_minute() -> u32 {
    5
}
/// Default of [`InsightConfig::min_error_share_increase`].
pub const fn default_min_error_share_increase() -> f64 {
    0.2
}
/// Default of [`InsightConfig::exit_fraction`].
pub const fn default_exit_fraction() -> f64 {
    0.5
}
/// Default of [`InsightConfig::end_after_normal_minutes`].
pub const fn default_end_after_normal_minutes() -> u32 {
    3
}
/// Default of [`InsightConfig::min_baseline_minutes`] (one day).
pub const fn default_min_baseline_minutes() -> u32 {
    1440
}
/// Default of [`InsightConfig::max_tracked_apis`].
pub const fn default_max_tracked_apis() -> usize {
    20_000
}

impl Default for InsightConfig {
    fn default() -> Self {
        Self {
            call_rate: true,
            error_rate: true,
            allowed_lateness_secs: default_allowed_lateness_secs(),
            threshold_sigmas: default_threshold_sigmas(),
            min_ratio: default_min_ratio(),
            min_calls_per_minute: default_min_calls_per_minute(),
            min_errors_per_minute: default_min_errors_per_minute(),
            min_error_share_increase: default_min_error_share_increase(),
            exit_fraction: default_exit_fraction(),
            end_after_normal_minutes: default_end_after_normal_minutes(),
            min_baseline_minutes: default_min_baseline_minutes(),
            max_tracked_apis: default_max_tracked_apis(),
        }
    }
}

impl InsightConfig {
    /// Every mistake, one message each, naming the field.
    pub fn validate(&self) -> Result<(), InsightError> {
        let mut errors = Vec::new();
        let mut check = |ok: bool, msg: &str| {
            if !ok {
                errors.push(msg.to_owned());
            }
        };
        check(
            self.threshold_sigmas.is_finite() && self.threshold_sigmas > 0.0,
            "threshold_sigmas: must be a finite number > 0",
        );
        check(
            self.min_ratio.is_finite() && self.min_ratio >= 1.0,
            "min_ratio: must be a finite number >= 1",
        );
        check(
            self.min_calls_per_minute >= 1,
            "min_calls_per_minute: must be >= 1",
        );
        check(
            self.min_errors_per_minute >= 1,
            "min_errors_per_minute: must be >= 1",
        );
        check(
            (0.0..1.0).contains(&self.min_error_share_increase),
            "min_error_share_increase: must be in [0, 1)",
        );
        check(
            (0.0..=1.0).contains(&self.exit_fraction),
            "exit_fraction: must be in [0, 1]",
        );
        check(
            self.end_after_normal_minutes >= 1,
            "end_after_normal_minutes: must be >= 1",
        );
        check(
            self.min_baseline_minutes <= crate::series::BASELINE_MINUTES as u32,
            "min_baseline_minutes: must be <= 10080 (seven days)",
        );
        check(self.max_tracked_apis >= 1, "max_tracked_apis: must be >= 1");
        check(
            self.allowed_lateness_secs <= 3600,
            "allowed_lateness_secs: must be <= 3600",
        );
        if errors.is_empty() {
            Ok(())
        } else {
            Err(InsightError::Config(errors))
        }
    }
}
