//! CloudTrail Insights for trailpipe: `ApiCallRateInsight` and `ApiErrorRateInsight` over event
//! time, emitting Start/End records in CloudTrail's exact shape (reference §9).
//!
//! Feed a [`Detector`] the events routed to a trail that has `insight_selectors`; it returns
//! [`InsightRecord`]s to write under `AWSLogs/<acct>/CloudTrail-Insight/<region>/...`. Everything
//! is driven by `eventTime`, never the wall clock, so replays and tests run at any speed and the
//! same input order always yields byte-identical records (ids are name-based UUIDs).
//!
//! # What is measured (per account, region, eventSource, eventName — per minute of eventTime)
//!
//! * **Call rate**: management events with `readOnly: false` (write calls).
//! * **Error rate**: management calls (read and write) and, among them, those with an
//!   `errorCode`. Insights records themselves and non-management events are not counted.
//!
//! # When a minute is analysed
//!
//! Each (account, region) has its own clock: the latest `eventTime` seen. Minute `m` closes when
//! that clock reaches the end of `m` plus `allowed_lateness_secs` (default 120 s), or when
//! [`Detector::advance`] moves the clock there. A record for an already closed minute is ignored
//! and counted in [`DetectorStats::late_records`].
//!
//! # The baseline (what "normal" means)
//!
//! The baseline of a minute is the **168 whole hours (7 days) before its hour**, or less while
//! the (account, region) has less history. Per API it is kept as hourly aggregates of the
//! per-minute counts: Σcount and Σcount² of write calls, Σcalls and Σerrors (about 4 KB per API
//! instead of 10,080 per-minute counters; mean and variance over whole hours are exact).
//!
//! * Call rate compares against the **seasonal** baseline: the same hour of day and its two
//!   neighbours on each of the previous 7 days (up to 21 hours = 1,260 minutes). Its mean `μ`
//!   and standard deviation `σ` of per-minute counts absorb daily cycles; weekday/weekend
//!   differences widen `σ` rather than causing alarms.
//! * Error rate compares against the baseline **error share** `p₀ = Σerrors / Σcalls` over the
//!   whole 7 days.
//!
//! No insight starts until the (account, region) has `min_baseline_minutes` of history (1 day).
//!
//! # Start (entry threshold, minimum volume)
//!
//! Let `α = P(Z > k)` for a standard normal `Z` and `k = threshold_sigmas` (6, so α ≈ 1e-9 per
//! minute and API): the chance that normal traffic alone would cross the threshold.
//!
//! * Call rate: the minute's write calls `x` satisfy `x > T_in = max(q − ½, r·μ, F − ½)`, where
//!   `q` is the smallest count with `P(X ≥ q) ≤ α` for `X ~ Poisson(μ + 2·√max(σ² − μ, 0))`
//!   (Poisson noise around a level whose own spread is the variance beyond Poisson's), `r =
//!   min_ratio` (3) and `F = min_calls_per_minute` (10). Counts are Poisson, not Gaussian: a
//!   "μ + kσ" rule fires daily on APIs called once an hour.
//! * Error rate: errors `e ≥ min_errors_per_minute` (5), the share `e/c` of the minute's `c` calls
//!   exceeds `S_in = max(p₀ + Δ, r·p₀)` with `Δ = min_error_share_increase` (0.2), and
//!   `P(Binomial(c, p₀) ≥ e) ≤ α` (exact), where `p₀ = (Σerrors + 1)/(Σcalls + 2)`.
//!
//! The Start record's `eventTime` is the start of that minute; the baseline (μ, σ or p₀, the
//! averages and attributions) is frozen there for the whole insight.
//!
//! # End (hysteresis)
//!
//! A minute is *normal* again when it is at or below the exit threshold, which sits
//! `exit_fraction` (½) of the way from the expected value to the entry threshold (call rate:
//! `T_out = μ + ½(T_in − μ)`; error rate: share ≤ `p₀ + ½(S_in − p₀)`, or fewer than ½ of
//! `min_errors_per_minute` errors). After `end_after_normal_minutes` (3) consecutive normal
//! minutes the End record is emitted, with `eventTime` = the first of those normal minutes.
//! A silent minute is normal.
//!
//! # What the record says
//!
//! * `baseline.average`: write calls (call rate) or errors (error rate) per minute over the
//!   baseline window; `baselineDuration`: its minutes (10,080 once 7 days of history exist).
//! * `insight.average`: the first minute's count on Start, the average per minute over
//!   `[start, end)` on End; `insightDuration`: 1 on Start (minutes seen so far), `end − start` on
//!   End.
//! * `attributions`: up to 5 values each of `userIdentityArn` (`userIdentity.arn`, else
//!   `invokedBy`, else `"null"`), `userAgent` and `errorCode` (`"null"` when none), with their
//!   average per minute; for the error rate they count only failed calls. Insight attributions
//!   cover the insight's minutes; baseline attributions cover the Start's UTC day up to the Start
//!   and the six days before it (day-granular tables), excluding minutes spent inside an
//!   earlier insight of the same type. Tallies are
//!   Space-Saving summaries (16 values per minute, 12 per day, 32 per insight): exact while
//!   fewer distinct values occurred, upper bounds otherwise.
//!
//! Minutes inside an insight enter the baseline **winsorized** (capped at `T_in`, or at `S_in·c`
//! errors),
//! so an anomaly does not desensitise the detector for the following week, yet a lasting level
//! shift is learned within hours.
//!
//! # Memory and state
//!
//! Per tracked API: ~4 KB of hourly aggregates, plus attribution tables (≤ 8 days × 3 × 12
//! entries per type, allocated only when used) and the open minutes. At most `max_tracked_apis`
//! APIs are tracked; beyond that the least recently seen idle tenth is evicted (an evicted API
//! returns with an empty baseline). [`Detector::snapshot`] / [`Detector::restore`] carry every
//! bit of this across a restart (postcard, with a magic and version prefix).
//!
//! One detector serves one trail; feed it the events routed to that trail, in partition order.

mod config;
mod detector;
mod record;
pub(crate) mod series;
mod signal;
#[cfg(feature = "stage")]
pub mod stage;
mod stats;
mod topk;

pub use config::*;
pub use detector::{Detector, DetectorStats};
pub use record::{InsightRecord, InsightState, InsightType, INSIGHT_EVENT_VERSION};
pub use series::BASELINE_MINUTES;

/// What can go wrong building or restoring a detector.
#[derive(Debug, thiserror::Error)]
pub enum InsightError {
    /// The configuration has mistakes, one message each naming the field.
    #[error("invalid insights configuration: {}", .0.join("; "))]
    Config(Vec<String>),
    /// The snapshot bytes are not a snapshot this version can read.
    #[error("unreadable insights snapshot: {0}")]
    Snapshot(String),
    /// The snapshot was written by an incompatible layout version.
    #[error("insights snapshot has layout version {0}, this build reads only version 1")]
    SnapshotVersion(u8),
}
