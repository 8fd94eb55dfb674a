//! Alarms on the metrics trailpipe's own filters produce, evaluated the way CloudWatch does:
//! on **wall-clock** periods aligned to multiples of `period_secs` since the epoch. A record's
//! points count in the period during which trailpipe evaluated it, not its `eventTime` (a
//! replayed backlog therefore alarms when replayed, as CloudWatch would on late log events).
//!
//! State rule, decided here (CloudWatch's "M out of N" with M = N and missing data "missing"):
//! the window is the last `evaluation_periods` completed periods; `Sum` and `SampleCount` of a
//! period without points are 0 (trailpipe sees every record, so silence is a true zero), the
//! other statistics are missing. No value in the window → `INSUFFICIENT_DATA`; a full window
//! whose every value breaches → `ALARM`; otherwise `OK`. Alarms start in `INSUFFICIENT_DATA`.
//!
//! Invariant: the evaluator is pure (time is an argument); a transition is produced exactly
//! once, when the period that causes it is closed, and `trailpipe_alarm_state{alarm}` always
//! holds the current state (0 OK, 1 ALARM, 2 INSUFFICIENT_DATA).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, SystemTime};

use crate::config::{AlarmConfig, CwlTrailConfig, Statistic};
use crate::evaluator::MetricPoint;
use crate::metric_names as m;

/// Most triggering eventIDs carried in one notification.
pub const MAX_EVENT_IDS: usize = 50;

/// CloudWatch alarm states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlarmState {
    /// Not breaching.
    Ok,
    /// Breaching for the whole window.
    Alarm,
    /// No data in the window.
    InsufficientData,
}

impl AlarmState {
    /// CloudWatch's name (`OK`, `ALARM`, `INSUFFICIENT_DATA`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Alarm => "ALARM",
            Self::InsufficientData => "INSUFFICIENT_DATA",
        }
    }

    /// Gauge value: 0 OK, 1 ALARM, 2 INSUFFICIENT_DATA.
    pub fn gauge_value(self) -> f64 {
        match self {
            Self::Ok => 0.0,
            Self::Alarm => 1.0,
            Self::InsufficientData => 2.0,
        }
    }
}

/// A state change, ready to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmTransition {
    /// The alarm's configuration.
    pub alarm: AlarmConfig,
    /// Previous state.
    pub old: AlarmState,
    /// New state.
    pub new: AlarmState,
    /// Human-readable reason, CloudWatch style.
    pub reason: String,
    /// When the period that caused it ended.
    pub at: SystemTime,
    /// eventIDs of records that contributed to the window (≤ [`MAX_EVENT_IDS`], oldest first).
    pub event_ids: Vec<String>,
}

impl AlarmTransition {
    /// The SNS message body (JSON, CloudWatch's field names plus `TriggeringEventIds`).
    pub fn to_json(&self) -> String {
        let a = &self.alarm;
        serde_json::json!({
            "AlarmName": a.name,
            "NewStateValue": self.new.as_str(),
            "OldStateValue": self.old.as_str(),
            "NewStateReason": self.reason,
            "StateChangeTime": format_time(self.at),
            "Trigger": {
                "MetricName": a.metric_name,
                "Statistic": statistic_name(a.statistic),
                "Period": a.period_secs,
                "EvaluationPeriods": a.evaluation_periods,
                "ComparisonOperator": format!("{:?}", a.comparison_operator),
                "Threshold": a.threshold,
            },
            "TriggeringEventIds": self.event_ids,
        })
        .to_string()
    }
}

fn statistic_name(s: Statistic) -> &'static str {
    match s {
        Statistic::Sum => "SUM",
        Statistic::Average => "AVERAGE",
        Statistic::Maximum => "MAXIMUM",
        Statistic::Minimum => "MINIMUM",
        Statistic::SampleCount => "SAMPLE_COUNT",
    }
}

/// CloudWatch's notification time format: `2024-05-01T12:00:00.000+0000`.
fn format_time(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let dt = time::OffsetDateTime::UNIX_EPOCH + d;
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]+0000"
    );
    dt.format(&f).unwrap_or_default()
}

#[derive(Debug, Default, Clone)]
struct Bucket {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    event_ids: Vec<String>,
}

impl Bucket {
    fn value(&self, s: Statistic) -> Option<f64> {
        match s {
            Statistic::Sum => Some(self.sum),
            Statistic::SampleCount => Some(self.count as f64),
            _ if self.count == 0 => None,
            Statistic::Average => Some(self.sum / self.count as f64),
            Statistic::Maximum => Some(self.max),
            Statistic::Minimum => Some(self.min),
        }
    }
}

#[derive(Debug)]
struct AlarmRun {
    cfg: AlarmConfig,
    state: AlarmState,
    /// Period number (`secs / period_secs`) of `current`.
    period: u64,
    current: Bucket,
    /// Completed periods, oldest first, at most `evaluation_periods`.
    window: VecDeque<(Option<f64>, Vec<String>)>,
}

/// Evaluates a trail's alarms.
#[derive(Debug)]
pub struct AlarmEvaluator {
    alarms: Vec<AlarmRun>,
    by_metric: HashMap<String, Vec<usize>>,
    pending: Vec<AlarmTransition>,
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl AlarmEvaluator {
    /// The trail's alarms, all `INSUFFICIENT_DATA`, periods starting at `now`.
    pub fn new(cfg: &CwlTrailConfig, now: SystemTime) -> Self {
        let mut by_metric: HashMap<String, Vec<usize>> = HashMap::new();
        let alarms = cfg
            .alarms
            .iter()
            .enumerate()
            .map(|(i, a)| {
                by_metric.entry(a.metric_name.clone()).or_default().push(i);
                metrics::gauge!(m::ALARM_STATE, "alarm" => a.name.clone())
                    .set(AlarmState::InsufficientData.gauge_value());
                AlarmRun {
                    period: secs(now) / a.period_secs.max(1),
                    cfg: a.clone(),
                    state: AlarmState::InsufficientData,
                    current: Bucket::default(),
                    window: VecDeque::new(),
                }
            })
            .collect();
        Self {
            alarms,
            by_metric,
            pending: Vec::new(),
        }
    }

    /// Whether any alarm is configured.
    pub fn is_empty(&self) -> bool {
        self.alarms.is_empty()
    }

    /// Current state of alarm `name`.
    pub fn state(&self, name: &str) -> Option<AlarmState> {
        self.alarms
            .iter()
            .find(|a| a.cfg.name == name)
            .map(|a| a.state)
    }

    /// Adds one record's points (from [`crate::MetricEvaluator::observe`]) at wall time `now`.
    pub fn observe(&mut self, points: &[MetricPoint<'_>], event_id: &str, now: SystemTime) {
        for p in points {
            let Some(ids) = self.by_metric.get(p.metric) else {
                continue;
            };
            for &i in ids {
                let at = Self::advance(&mut self.alarms[i], now);
                self.pending.extend(at);
                let b = &mut self.alarms[i].current;
                if b.count == 0 {
                    b.min = p.value;
                    b.max = p.value;
                } else {
                    b.min = b.min.min(p.value);
                    b.max = b.max.max(p.value);
                }
                b.count += 1;
                b.sum += p.value;
                if p.matched
                    && b.event_ids.len() < MAX_EVENT_IDS
                    && b.event_ids.last().map(String::as_str) != Some(event_id)
                {
                    b.event_ids.push(event_id.to_string());
                }
            }
        }
    }

    /// Closes every period that ended by `now` and returns the resulting transitions (call it
    /// about once a second).
    pub fn tick(&mut self, now: SystemTime) -> Vec<AlarmTransition> {
        for i in 0..self.alarms.len() {
            let t = Self::advance(&mut self.alarms[i], now);
            self.pending.extend(t);
        }
        std::mem::take(&mut self.pending)
    }

    fn advance(a: &mut AlarmRun, now: SystemTime) -> Vec<AlarmTransition> {
        let period = a.cfg.period_secs.max(1);
        let target = secs(now) / period;
        let n = a.cfg.evaluation_periods.max(1) as usize;
        let mut out = Vec::new();
        while a.period < target {
            let closed = std::mem::take(&mut a.current);
            a.window
                .push_back((closed.value(a.cfg.statistic), closed.event_ids));
            a.period += 1;
            if a.window.len() > n {
                a.window.pop_front();
            }
            let end = SystemTime::UNIX_EPOCH + Duration::from_secs(a.period * period);
            if let Some(t) = Self::evaluate(a, n, end) {
                out.push(t);
            }
            // Idle for longer than the window: the remaining empty periods all look alike.
            if target - a.period > n as u64 + 1 {
                a.period = target - n as u64 - 1;
            }
        }
        out
    }

    fn evaluate(a: &mut AlarmRun, n: usize, end: SystemTime) -> Option<AlarmTransition> {
        let values: Vec<f64> = a.window.iter().filter_map(|(v, _)| *v).collect();
        let breach = |v: f64| a.cfg.comparison_operator.breaches(v, a.cfg.threshold);
        let new = if values.is_empty() {
            AlarmState::InsufficientData
        } else if values.len() == n && values.iter().all(|&v| breach(v)) {
            AlarmState::Alarm
        } else {
            AlarmState::Ok
        };
        if new == a.state {
            return None;
        }
        let old = std::mem::replace(&mut a.state, new);
        metrics::gauge!(m::ALARM_STATE, "alarm" => a.cfg.name.clone()).set(new.gauge_value());
        let shown: Vec<String> = values.iter().map(|v| format!("{v}")).collect();
        let op = match a.cfg.comparison_operator {
            crate::config::ComparisonOperator::GreaterThanOrEqualToThreshold => {
                "greater than or equal to"
            }
            crate::config::ComparisonOperator::GreaterThanThreshold => "greater than",
            crate::config::ComparisonOperator::LessThanThreshold => "less than",
            crate::config::ComparisonOperator::LessThanOrEqualToThreshold => {
                "less than or equal to"
            }
        };
        let reason = match new {
            AlarmState::InsufficientData => format!(
                "Insufficient Data: no datapoints in the last {n} period(s) of {}s.",
                a.cfg.period_secs
            ),
            AlarmState::Alarm => format!(
                "Threshold Crossed: {n} datapoint(s) [{}] were {op} the threshold ({}).",
                shown.join(", "),
                a.cfg.threshold
            ),
            AlarmState::Ok => format!(
                "Threshold Crossed: datapoints [{}] were not all {op} the threshold ({}) for {n} period(s).",
                shown.join(", "),
                a.cfg.threshold
            ),
        };
        let event_ids = a
            .window
            .iter()
            .flat_map(|(_, ids)| ids.iter().cloned())
            .take(MAX_EVENT_IDS)
            .collect();
        Some(AlarmTransition {
            alarm: a.cfg.clone(),
            old,
            new,
            reason,
            at: end,
            event_ids,
        })
    }
}
