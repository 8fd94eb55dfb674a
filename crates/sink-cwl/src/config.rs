//! What the user writes in a trail to get CloudWatch Logs delivery, metric filters and alarms.
//! Field names follow the CloudTrail / CloudWatch APIs (snake_cased) so definitions carry over.
//!
//! Invariant: a config that [`CwlTrailConfig::validate`] accepts provisions without a
//! validation error from CloudWatch Logs (PutMetricFilter's documented limits are checked here)
//! and builds a [`crate::MetricEvaluator`] and [`crate::AlarmEvaluator`] without failing.

use std::collections::BTreeMap;

use serde::Deserialize;
use trailpipe_filterpattern::{FilterPattern, ValuePath};

/// CloudWatch Logs settings of one trail (embedded in the trail config by the lead).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CwlTrailConfig {
    /// Log group name, or its ARN (`arn:aws:logs:<region>:<acct>:log-group:<name>[:*]`).
    pub cloud_watch_logs_log_group: String,
    /// Role assumed (STS AssumeRole) for every call on the log group, e.g. to write to a group
    /// in another account; none: the daemon's own credentials.
    #[serde(default)]
    pub cloud_watch_logs_role_arn: Option<String>,
    /// User metric filters, provisioned on the group and evaluated locally.
    #[serde(default)]
    pub metric_filters: Vec<MetricFilterConfig>,
    /// Add the 14 CIS v1.2.0 CloudTrail filters (patterns verbatim) in [`Self::cis_metric_namespace`].
    #[serde(default)]
    pub cis_benchmark_filters: bool,
    /// Namespace of the CIS filters' metrics.
    #[serde(default = "default_cis_namespace")]
    pub cis_metric_namespace: String,
    /// Alarms on the metrics the filters produce, evaluated by trailpipe itself.
    #[serde(default)]
    pub alarms: Vec<AlarmConfig>,
    /// Also send the locally computed metrics to CloudWatch (PutMetricData, one statistic set per
    /// metric and minute). Do not combine with provisioned filters on the same namespace: AWS
    /// would count the same events twice. Sent every minute and when the pipeline stops.
    /// aws-sdk-cloudwatch speaks only CloudWatch's RPCv2-CBOR protocol, which moto (the test
    /// server) does not implement: `tests/put_metric_data.rs` checks the requests on the wire
    /// against a loopback endpoint that decodes them instead.
    #[serde(default)]
    pub publish_metric_data: bool,
}

fn default_cis_namespace() -> String {
    DEFAULT_CIS_NAMESPACE.to_string()
}

/// Namespace AWS's CloudTrail alarm guide uses for the CIS metrics.
pub const DEFAULT_CIS_NAMESPACE: &str = "CloudTrailMetrics";

/// One metric filter (PutMetricFilter).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MetricFilterConfig {
    /// 1–512 characters, no `:` or `*`.
    pub filter_name: String,
    /// A CloudWatch Logs filter pattern.
    pub filter_pattern: String,
    /// Exactly one, as PutMetricFilter requires.
    pub metric_transformations: Vec<MetricTransformationConfig>,
}

/// What a matching event publishes (MetricTransformation).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MetricTransformationConfig {
    /// ≤ 255 characters, none of `: * $`.
    pub metric_name: String,
    /// ≤ 255 characters, none of `: * $`.
    pub metric_namespace: String,
    /// A number (`"1"`) or a reference (`$.field`, `$field` for space-delimited patterns).
    pub metric_value: String,
    /// Published for events the pattern does not match; not combinable with dimensions.
    #[serde(default)]
    pub default_value: Option<f64>,
    /// ≤ 3 dimensions, each value a reference.
    #[serde(default)]
    pub dimensions: BTreeMap<String, String>,
    /// A CloudWatch StandardUnit name (`Count`, `Seconds`, …); none means `None`.
    #[serde(default)]
    pub unit: Option<String>,
}

/// An alarm on a filter metric, evaluated on wall-clock periods.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AlarmConfig {
    /// Alarm name (AlarmName in notifications), unique within the trail.
    pub name: String,
    /// The metric (a transformation's `metric_name` or a CIS filter's metric).
    pub metric_name: String,
    /// How a period's values are combined.
    pub statistic: Statistic,
    /// 10, 30 or a multiple of 60, as CloudWatch allows.
    pub period_secs: u64,
    /// Consecutive breaching periods needed for ALARM (1..=100).
    pub evaluation_periods: u32,
    /// Value compared with the statistic.
    pub threshold: f64,
    /// CloudWatch's operator names.
    pub comparison_operator: ComparisonOperator,
    /// Topic that receives state changes; none means gauge only.
    #[serde(default)]
    pub sns_topic_arn: Option<String>,
}

/// CloudWatch statistics.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub enum Statistic {
    /// Sum of values.
    Sum,
    /// Mean of values.
    Average,
    /// Largest value.
    Maximum,
    /// Smallest value.
    Minimum,
    /// Number of values.
    SampleCount,
}

/// CloudWatch comparison operators (static thresholds).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub enum ComparisonOperator {
    /// statistic ≥ threshold
    GreaterThanOrEqualToThreshold,
    /// statistic > threshold
    GreaterThanThreshold,
    /// statistic < threshold
    LessThanThreshold,
    /// statistic ≤ threshold
    LessThanOrEqualToThreshold,
}

impl ComparisonOperator {
    /// Whether `value` breaches `threshold`.
    pub fn breaches(self, value: f64, threshold: f64) -> bool {
        match self {
            Self::GreaterThanOrEqualToThreshold => value >= threshold,
            Self::GreaterThanThreshold => value > threshold,
            Self::LessThanThreshold => value < threshold,
            Self::LessThanOrEqualToThreshold => value <= threshold,
        }
    }
}

/// CloudWatch's StandardUnit names.
pub const STANDARD_UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// Most metric filters per log group.
pub const MAX_FILTERS_PER_GROUP: usize = 100;

/// The log group name of a name-or-ARN (`arn:aws:logs:r:a:log-group:NAME[:*]`).
pub fn log_group_name(name_or_arn: &str) -> &str {
    match name_or_arn.strip_prefix("arn:") {
        Some(rest) => {
            let name = rest.splitn(6, ':').nth(5).unwrap_or("");
            let name = name.strip_prefix("log-group:").unwrap_or(name);
            name.strip_suffix(":*").unwrap_or(name)
        }
        None => name_or_arn,
    }
}

/// The region named in a log group ARN, if it is one.
pub fn log_group_region(name_or_arn: &str) -> Option<&str> {
    let rest = name_or_arn.strip_prefix("arn:")?;
    rest.split(':').nth(2).filter(|r| !r.is_empty())
}

fn check_metric_ident(errs: &mut Vec<String>, field: &str, v: &str) {
    if v.is_empty() || v.chars().count() > 255 || v.contains([':', '*', '$']) {
        errs.push(format!(
            "{field}: {v:?} must be 1–255 characters without `:`, `*` or `$`"
        ));
    }
}

impl CwlTrailConfig {
    /// Every mistake, one message each naming the field (`metric_filters[2].filter_pattern: …`).
    pub fn validate(&self) -> Vec<String> {
        let mut errs = Vec::new();
        let group = log_group_name(&self.cloud_watch_logs_log_group);
        if group.is_empty()
            || group.len() > 512
            || !group
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-/#".contains(&b))
        {
            errs.push(format!(
                "cloud_watch_logs_log_group: {:?} is not a log group name (1–512 of `A-Za-z0-9._-/#`) or ARN",
                self.cloud_watch_logs_log_group
            ));
        }
        if let Some(role) = &self.cloud_watch_logs_role_arn {
            if !role.starts_with("arn:") || !role.contains(":role/") {
                errs.push(format!(
                    "cloud_watch_logs_role_arn: {role:?} is not an IAM role ARN"
                ));
            }
        }
        let cis = if self.cis_benchmark_filters {
            trailpipe_filterpattern::CIS_FILTERS.len()
        } else {
            0
        };
        if self.metric_filters.len() + cis > MAX_FILTERS_PER_GROUP {
            errs.push(format!(
                "metric_filters: {} filters (+{cis} CIS) exceed CloudWatch Logs' {MAX_FILTERS_PER_GROUP} per log group",
                self.metric_filters.len()
            ));
        }
        if self.cis_benchmark_filters {
            check_metric_ident(
                &mut errs,
                "cis_metric_namespace",
                &self.cis_metric_namespace,
            );
        }
        let mut names = std::collections::HashSet::new();
        for (i, f) in self.metric_filters.iter().enumerate() {
            f.validate(&format!("metric_filters[{i}]"), &mut errs);
            if !names.insert(f.filter_name.as_str()) {
                errs.push(format!(
                    "metric_filters[{i}].filter_name: {:?} is used twice",
                    f.filter_name
                ));
            }
        }
        let metrics = self.metric_names();
        let mut alarm_names = std::collections::HashSet::new();
        for (i, a) in self.alarms.iter().enumerate() {
            let at = format!("alarms[{i}]");
            if a.name.is_empty() || a.name.len() > 255 {
                errs.push(format!("{at}.name: must be 1–255 characters"));
            }
            if !alarm_names.insert(a.name.as_str()) {
                errs.push(format!("{at}.name: {:?} is used twice", a.name));
            }
            if !metrics.contains(&a.metric_name.as_str()) {
                errs.push(format!(
                    "{at}.metric_name: {:?} is produced by no metric filter of this trail",
                    a.metric_name
                ));
            }
            if !(a.period_secs == 10
                || a.period_secs == 30
                || (a.period_secs > 0 && a.period_secs % 60 == 0))
            {
                errs.push(format!(
                    "{at}.period_secs: {} must be 10, 30 or a multiple of 60",
                    a.period_secs
                ));
            }
            if !(1..=100).contains(&a.evaluation_periods) {
                errs.push(format!("{at}.evaluation_periods: must be 1–100"));
            }
            if !a.threshold.is_finite() {
                errs.push(format!("{at}.threshold: must be a finite number"));
            }
            if let Some(t) = &a.sns_topic_arn {
                if !t.starts_with("arn:") || !t.contains(":sns:") {
                    errs.push(format!("{at}.sns_topic_arn: {t:?} is not an SNS topic ARN"));
                }
            }
        }
        errs
    }

    /// Names of every metric this trail's filters produce (user and CIS).
    pub fn metric_names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .metric_filters
            .iter()
            .flat_map(|f| {
                f.metric_transformations
                    .iter()
                    .map(|t| t.metric_name.as_str())
            })
            .collect();
        if self.cis_benchmark_filters {
            v.extend(
                trailpipe_filterpattern::CIS_FILTERS
                    .iter()
                    .map(|c| c.metric_name),
            );
        }
        v
    }

    /// The log group name (ARN resolved).
    pub fn log_group(&self) -> &str {
        log_group_name(&self.cloud_watch_logs_log_group)
    }
}

impl MetricFilterConfig {
    fn validate(&self, at: &str, errs: &mut Vec<String>) {
        let n = self.filter_name.chars().count();
        if n == 0 || n > 512 || self.filter_name.contains([':', '*']) {
            errs.push(format!(
                "{at}.filter_name: {:?} must be 1–512 characters without `:` or `*`",
                self.filter_name
            ));
        }
        if let Err(e) = FilterPattern::parse(&self.filter_pattern) {
            errs.push(format!("{at}.filter_pattern: {e}"));
        }
        if self.metric_transformations.len() != 1 {
            errs.push(format!(
                "{at}.metric_transformations: CloudWatch Logs takes exactly one, found {}",
                self.metric_transformations.len()
            ));
        }
        for (j, t) in self.metric_transformations.iter().enumerate() {
            let at = format!("{at}.metric_transformations[{j}]");
            check_metric_ident(errs, &format!("{at}.metric_name"), &t.metric_name);
            check_metric_ident(errs, &format!("{at}.metric_namespace"), &t.metric_namespace);
            if t.metric_value.is_empty() || t.metric_value.len() > 100 {
                errs.push(format!("{at}.metric_value: must be 1–100 characters"));
            } else if t.metric_value.starts_with('$') {
                if let Err(e) = ValuePath::parse(&t.metric_value) {
                    errs.push(format!("{at}.metric_value: {e}"));
                }
            } else if !t.metric_value.parse::<f64>().is_ok_and(f64::is_finite) {
                errs.push(format!(
                    "{at}.metric_value: {:?} is neither a number nor a `$` reference",
                    t.metric_value
                ));
            }
            if t.default_value.is_some_and(|d| !d.is_finite()) {
                errs.push(format!("{at}.default_value: must be a finite number"));
            }
            if t.default_value.is_some() && !t.dimensions.is_empty() {
                errs.push(format!(
                    "{at}.default_value: cannot be combined with dimensions (CloudWatch Logs refuses it)"
                ));
            }
            if t.dimensions.len() > 3 {
                errs.push(format!(
                    "{at}.dimensions: at most 3, found {}",
                    t.dimensions.len()
                ));
            }
            for (k, v) in &t.dimensions {
                if k.is_empty() || k.len() > 255 || v.len() > 255 {
                    errs.push(format!(
                        "{at}.dimensions.{k}: names and values are 1–255 characters"
                    ));
                }
                if let Err(e) = ValuePath::parse(v) {
                    errs.push(format!("{at}.dimensions.{k}: {e}"));
                }
            }
            if let Some(u) = &t.unit {
                if !STANDARD_UNITS.contains(&u.as_str()) {
                    errs.push(format!("{at}.unit: {u:?} is not a CloudWatch StandardUnit"));
                }
            }
        }
    }
}
