//! One Insights type (call rate or error rate) of one API: the Start/End state machine.
//!
//! Invariant: an insight is Started by exactly one closed minute that crosses the entry
//! threshold and Ended by exactly one run of `end_after_normal_minutes` consecutive minutes at or
//! below the exit threshold; the thresholds and the baseline are frozen at Start, so Start and
//! End describe the same comparison. Minutes inside an insight enter the baseline winsorized
//! (capped at the entry threshold) and their attributions stay out of the baseline's day tables,
//! so one anomaly neither hides the next one nor shows up as "normal" callers.

use serde::{Deserialize, Serialize};

use crate::config::InsightConfig;
use crate::record::{
    AttributionSpec, Averages, InsightRecord, InsightState, InsightType, RecordSpec,
};
use crate::series::{Series, BASELINE_MINUTES};
use crate::stats::{binomial_upper_tail, normal_upper_tail, poisson_quantile};
use crate::topk::{merge_attrs, Attrs, Interner, TopK, ATTRIBUTES, DAY_CAP, INSIGHT_CAP, REPORTED};

/// Days of attribution tables kept: seven baseline days and the current one.
const DAYS: usize = 8;

/// One closed minute of one API.
pub(crate) struct MinuteObs<'a> {
    pub writes: u32,
    pub calls: u32,
    pub errors: u32,
    pub write_attrs: &'a Attrs,
    pub error_attrs: &'a Attrs,
}

/// Who the API is, for the records.
pub(crate) struct Ctx<'a> {
    pub cfg: &'a InsightConfig,
    pub account_id: &'a str,
    pub aws_region: &'a str,
    pub event_source: &'a str,
    pub event_name: &'a str,
    /// First minute of the (account, region)'s history.
    pub history_start_minute: i64,
}

/// Attribution tallies of one day.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct DayTable {
    day: i64,
    attrs: Attrs,
}

/// An insight in progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Active {
    start_minute: i64,
    /// Seasonal mean per minute (call rate) or baseline error share (error rate).
    expected: f64,
    /// Call rate: entry and exit thresholds in calls per minute.
    t_in: f64,
    t_out: f64,
    baseline_average: f64,
    baseline_minutes: u32,
    baseline_attrs: Vec<Averages>,
    /// Σ value over the anomaly's minutes so far (up to the last abnormal one).
    sum: u64,
    attrs: Attrs,
    /// The current run of normal minutes, not yet known to end the anomaly.
    quiet: u32,
    quiet_sum: u64,
    quiet_attrs: Attrs,
}

/// The state of one signal of one API.
///
/// Invariant: `days` is empty or holds exactly [`DAYS`] tables (checked when a snapshot is
/// read).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "SignalStateRepr")]
pub(crate) struct SignalState {
    days: Vec<DayTable>,
    active: Option<Box<Active>>,
}

/// [`SignalState`] as a snapshot holds it, before its invariant is checked.
#[derive(Deserialize)]
struct SignalStateRepr {
    days: Vec<DayTable>,
    active: Option<Box<Active>>,
}

impl TryFrom<SignalStateRepr> for SignalState {
    type Error = String;

    fn try_from(r: SignalStateRepr) -> Result<Self, String> {
        if r.days.is_empty() || r.days.len() == DAYS {
            Ok(Self {
                days: r.days,
                active: r.active,
            })
        } else {
            Err(format!(
                "a signal has {} day tables, not 0 or {DAYS}",
                r.days.len()
            ))
        }
    }
}

fn value(kind: InsightType, o: &MinuteObs<'_>) -> u32 {
    match kind {
        InsightType::ApiCallRate => o.writes,
        InsightType::ApiErrorRate => o.errors,
    }
}

fn attrs<'a>(kind: InsightType, o: &MinuteObs<'a>) -> &'a Attrs {
    match kind {
        InsightType::ApiCallRate => o.write_attrs,
        InsightType::ApiErrorRate => o.error_attrs,
    }
}

/// Error-share floor of the entry threshold: the share must exceed this (besides being
/// improbable under the baseline share).
fn share_in(cfg: &InsightConfig, p0: f64) -> f64 {
    (p0 + cfg.min_error_share_increase)
        .max(cfg.min_ratio * p0)
        .min(0.999)
}

fn share_out(cfg: &InsightConfig, p0: f64) -> f64 {
    p0 + cfg.exit_fraction * (share_in(cfg, p0) - p0)
}

/// Largest per-minute probability of an entry under the baseline: the normal tail beyond
/// `threshold_sigmas`.
fn alpha(cfg: &InsightConfig) -> f64 {
    normal_upper_tail(cfg.threshold_sigmas)
}

impl Active {
    /// The minute is still part of the anomaly (above the exit threshold).
    fn above_exit(&self, kind: InsightType, cfg: &InsightConfig, o: &MinuteObs<'_>) -> bool {
        match kind {
            InsightType::ApiCallRate => f64::from(o.writes) > self.t_out,
            InsightType::ApiErrorRate => {
                let floor = (f64::from(cfg.min_errors_per_minute) * cfg.exit_fraction)
                    .ceil()
                    .max(1.0);
                f64::from(o.errors) >= floor
                    && f64::from(o.errors) / f64::from(o.calls.max(1))
                        > share_out(cfg, self.expected)
            }
        }
    }

    /// The minute's value as it enters the baseline: capped at the entry threshold.
    fn clip(&self, kind: InsightType, cfg: &InsightConfig, o: &MinuteObs<'_>) -> u32 {
        let cap = match kind {
            InsightType::ApiCallRate => self.t_in.floor(),
            InsightType::ApiErrorRate => {
                (share_in(cfg, self.expected) * f64::from(o.calls)).floor()
            }
        };
        value(kind, o).min(cap.max(0.0) as u32)
    }
}

impl SignalState {
    /// Whether an insight is in progress.
    pub(crate) fn is_active(&self) -> bool {
        self.active.is_some()
    }

    /// Closes minute `m` for this signal; pushes a Start or End record if one happens. Returns
    /// the minute's value as it enters the baseline.
    pub(crate) fn on_minute(
        &mut self,
        kind: InsightType,
        m: i64,
        o: &MinuteObs<'_>,
        series: &Series,
        ctx: &Ctx<'_>,
        out: &mut Vec<InsightRecord>,
    ) -> u32 {
        let cfg = ctx.cfg;
        let v = value(kind, o);
        let minute_attrs = attrs(kind, o);
        if let Some(a) = self.active.as_deref_mut() {
            let clipped = a.clip(kind, cfg, o);
            if a.above_exit(kind, cfg, o) {
                a.sum += a.quiet_sum + u64::from(v);
                a.quiet = 0;
                a.quiet_sum = 0;
                let quiet = std::mem::take(&mut a.quiet_attrs);
                merge_attrs(&mut a.attrs, &quiet, INSIGHT_CAP);
                merge_attrs(&mut a.attrs, minute_attrs, INSIGHT_CAP);
            } else {
                a.quiet += 1;
                a.quiet_sum += u64::from(v);
                merge_attrs(&mut a.quiet_attrs, minute_attrs, INSIGHT_CAP);
                if a.quiet >= cfg.end_after_normal_minutes {
                    let a = *self.active.take().expect("checked above");
                    let end_minute = m + 1 - i64::from(a.quiet);
                    out.push(end_record(kind, &a, end_minute, ctx));
                    self.add_to_day(m, &a.quiet_attrs);
                }
            }
            return clipped;
        }
        if v == 0 {
            return 0;
        }
        let floor = match kind {
            InsightType::ApiCallRate => cfg.min_calls_per_minute,
            InsightType::ApiErrorRate => cfg.min_errors_per_minute,
        };
        if v < floor {
            self.add_to_day(m, minute_attrs);
            return v;
        }
        let hour = m.div_euclid(60);
        let base = series.baseline(hour, ctx.history_start_minute);
        if base.minutes < u64::from(cfg.min_baseline_minutes) {
            self.add_to_day(m, minute_attrs);
            return v;
        }
        let minutes = base.minutes as f64;
        let (expected, t_in, t_out, baseline_average, entry) = match kind {
            InsightType::ApiCallRate => {
                let seasonal = series.seasonal(hour, ctx.history_start_minute);
                let (mu, sd) = if seasonal.minutes > 0 {
                    seasonal.write_mean_sd()
                } else {
                    base.write_mean_sd()
                };
                // Poisson noise around a level that itself varies: the level's own spread
                // (variance beyond Poisson's) is added twice to the mean.
                let level_sd = (sd * sd - mu).max(0.0).sqrt();
                let q = poisson_quantile(mu + 2.0 * level_sd, alpha(cfg));
                let t_in = (q - 0.5)
                    .max(cfg.min_ratio * mu)
                    .max(f64::from(cfg.min_calls_per_minute) - 0.5);
                let t_out = mu + cfg.exit_fraction * (t_in - mu);
                let avg = base.writes as f64 / minutes;
                (mu, t_in, t_out, avg, f64::from(v) > t_in)
            }
            InsightType::ApiErrorRate => {
                // Laplace-smoothed, so an API that never failed does not make one error
                // "impossible".
                let p0 = (base.errors as f64 + 1.0) / (base.calls as f64 + 2.0);
                let share = f64::from(v) / f64::from(o.calls.max(1));
                let avg = base.errors as f64 / minutes;
                let entry =
                    share > share_in(cfg, p0) && binomial_upper_tail(o.calls, p0, v) <= alpha(cfg);
                (p0, 0.0, 0.0, avg, entry)
            }
        };
        if !entry {
            self.add_to_day(m, minute_attrs);
            return v;
        }
        let active = Active {
            start_minute: m,
            expected,
            t_in,
            t_out,
            baseline_average,
            baseline_minutes: base.minutes.min(BASELINE_MINUTES as u64) as u32,
            baseline_attrs: self.baseline_attrs(m, ctx.history_start_minute),
            sum: u64::from(v),
            attrs: minute_attrs.clone(),
            quiet: 0,
            quiet_sum: 0,
            quiet_attrs: Attrs::default(),
        };
        out.push(start_record(kind, &active, v, minute_attrs, ctx));
        let clipped = active.clip(kind, cfg, o);
        self.active = Some(Box::new(active));
        clipped
    }

    fn add_to_day(&mut self, minute: i64, attrs: &Attrs) {
        if attrs.iter().all(TopK::is_empty) {
            return;
        }
        let day = minute.div_euclid(1440);
        if self.days.is_empty() {
            self.days = vec![DayTable::default(); DAYS];
        }
        let slot = &mut self.days[day.rem_euclid(DAYS as i64) as usize];
        if slot.day != day || slot.attrs.iter().all(TopK::is_empty) {
            *slot = DayTable {
                day,
                attrs: Attrs::default(),
            };
        }
        merge_attrs(&mut slot.attrs, attrs, DAY_CAP);
    }

    /// Top values of each attribute over the current UTC day (up to `minute`) and the six
    /// before it, as averages per minute of that span (from the history start on).
    fn baseline_attrs(&self, minute: i64, history_start_minute: i64) -> Vec<Averages> {
        let day = minute.div_euclid(1440);
        let first = (day - 6) * 1440;
        let minutes = (minute - history_start_minute.max(first)).max(0);
        let mut merged = Attrs::default();
        for t in &self.days {
            if t.day >= day - 6 && t.day <= day {
                merge_attrs(&mut merged, &t.attrs, usize::MAX);
            }
        }
        merged.iter().map(|t| averages(t, minutes)).collect()
    }

    /// Replaces every attribution value with the interner's copy (after a restore).
    pub(crate) fn reintern(&mut self, interner: &mut Interner) {
        for d in &mut self.days {
            d.attrs.iter_mut().for_each(|t| t.reintern(interner));
        }
        if let Some(a) = self.active.as_deref_mut() {
            a.attrs.iter_mut().for_each(|t| t.reintern(interner));
            a.quiet_attrs.iter_mut().for_each(|t| t.reintern(interner));
            for (v, _) in a.baseline_attrs.iter_mut().flatten() {
                *v = interner.intern(v);
            }
        }
    }

    /// Heap bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        let days: usize = self
            .days
            .iter()
            .map(|d| {
                std::mem::size_of::<DayTable>()
                    + d.attrs.iter().map(TopK::heap_bytes).sum::<usize>()
            })
            .sum();
        let active = self.active.as_deref().map_or(0, |a| {
            std::mem::size_of::<Active>()
                + a.attrs
                    .iter()
                    .chain(&a.quiet_attrs)
                    .map(TopK::heap_bytes)
                    .sum::<usize>()
                + a.baseline_attrs
                    .iter()
                    .map(|l| l.capacity() * 24)
                    .sum::<usize>()
        });
        days + active
    }
}

/// The top [`REPORTED`] values of a tally as averages over `minutes`.
fn averages(t: &TopK, minutes: i64) -> Averages {
    if minutes <= 0 {
        return Vec::new();
    }
    t.top(REPORTED)
        .into_iter()
        .map(|(v, n)| (v, f64::from(n) / minutes as f64))
        .collect()
}

fn attributions(insight: &Attrs, insight_minutes: i64, a: &Active) -> Vec<AttributionSpec> {
    ATTRIBUTES
        .iter()
        .enumerate()
        .map(|(i, name)| {
            (
                *name,
                averages(&insight[i], insight_minutes),
                a.baseline_attrs.get(i).cloned().unwrap_or_default(),
            )
        })
        .collect()
}

fn start_record(
    kind: InsightType,
    a: &Active,
    v: u32,
    minute_attrs: &Attrs,
    ctx: &Ctx<'_>,
) -> InsightRecord {
    RecordSpec {
        account_id: ctx.account_id,
        aws_region: ctx.aws_region,
        event_source: ctx.event_source,
        event_name: ctx.event_name,
        insight_type: kind,
        state: InsightState::Start,
        start_minute: a.start_minute,
        event_minute: a.start_minute,
        baseline_average: a.baseline_average,
        insight_average: f64::from(v),
        insight_duration_minutes: 1,
        baseline_duration_minutes: a.baseline_minutes,
        attributions: attributions(minute_attrs, 1, a),
    }
    .build()
}

fn end_record(kind: InsightType, a: &Active, end_minute: i64, ctx: &Ctx<'_>) -> InsightRecord {
    let duration = (end_minute - a.start_minute).max(1);
    RecordSpec {
        account_id: ctx.account_id,
        aws_region: ctx.aws_region,
        event_source: ctx.event_source,
        event_name: ctx.event_name,
        insight_type: kind,
        state: InsightState::End,
        start_minute: a.start_minute,
        event_minute: end_minute,
        baseline_average: a.baseline_average,
        insight_average: a.sum as f64 / duration as f64,
        insight_duration_minutes: duration as u32,
        baseline_duration_minutes: a.baseline_minutes,
        attributions: attributions(&a.attrs, duration, a),
    }
    .build()
}
