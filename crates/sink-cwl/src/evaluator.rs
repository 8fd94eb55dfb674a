//! Metric filters evaluated by trailpipe itself, on every record of a trail, before delivery:
//! all filters of a trail (user and CIS) share one [`FilterSet`], so a record costs one JSON
//! pass whatever the number of filters.
//!
//! Export (through the `metrics` facade; names in [`crate::metric_names`], help texts in `trailpipe-telemetry`):
//! - `trailpipe_metric_filter_samples_total{namespace, metric, dim_<name>…}` — counter of values
//!   emitted (CloudWatch's SampleCount; for `metric_value = "1"` filters, the match count).
//! - `trailpipe_metric_filter_value_sum{namespace, metric, dim_<name>…}` — running sum of the
//!   values (CloudWatch's Sum); a gauge because values are `f64`, read it with `increase()`.
//!
//! Dimension names become labels prefixed `dim_` (non `[A-Za-z0-9_]` characters → `_`) so they
//! cannot collide with `namespace`/`metric`. Like CloudWatch Logs, which disables a filter past
//! 1,000 dimension-value combinations an hour, a transformation keeps at most
//! [`MAX_DIMENSION_SETS_PER_HOUR`] distinct combinations per wall-clock hour; further ones are
//! exported with every dimension value `__overflow__`.
//!
//! Invariant: a transformation emits exactly one point per record — its value when the pattern
//! matches and the value resolves to a number, its `default_value` when the pattern does not
//! match — or none. A matching record whose `$.field` value is missing or not numeric emits
//! nothing (as CloudWatch Logs does).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::time::SystemTime;

use trailpipe_filterpattern::{FilterPattern, FilterSet, ValuePath, CIS_FILTERS};

use crate::config::CwlTrailConfig;
use crate::metric_names as m;

/// Distinct dimension-value sets a transformation exports per hour.
pub const MAX_DIMENSION_SETS_PER_HOUR: usize = 1_000;
/// Dimension value used past the cap.
pub const OVERFLOW_VALUE: &str = "__overflow__";

/// One value a filter produced for one record.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricPoint<'a> {
    /// Metric namespace.
    pub namespace: &'a str,
    /// Metric name.
    pub metric: &'a str,
    /// The value (the literal, the extracted number, or the default value).
    pub value: f64,
    /// `(dimension name, value)` in name order.
    pub dimensions: Vec<(&'a str, String)>,
    /// Whether the pattern matched (false: a default value).
    pub matched: bool,
    /// Which transformation produced it: user filters' in order, then the CIS ones.
    pub transformation: usize,
}

#[derive(Debug)]
enum MetricValue {
    Literal(f64),
    Path(ValuePath),
}

#[derive(Debug)]
struct Transform {
    namespace: String,
    metric: String,
    value: MetricValue,
    default_value: Option<f64>,
    /// (dimension name, Prometheus label, value path)
    dimensions: Vec<(String, String, ValuePath)>,
    unit: Option<String>,
    /// Hour number and the dimension sets seen in it.
    seen: Mutex<(u64, HashSet<Vec<String>>)>,
}

/// Statistic set of one metric since the last [`MetricEvaluator::take_statistics`].
#[derive(Debug, Clone, PartialEq)]
pub struct StatisticSet {
    /// Namespace.
    pub namespace: String,
    /// Metric name.
    pub metric: String,
    /// Dimensions, name order.
    pub dimensions: Vec<(String, String)>,
    /// StandardUnit name, if configured.
    pub unit: Option<String>,
    /// Number of values.
    pub sample_count: f64,
    /// Sum of values.
    pub sum: f64,
    /// Smallest value.
    pub minimum: f64,
    /// Largest value.
    pub maximum: f64,
}

type StatKey = (usize, Vec<String>);

/// Evaluates a trail's metric filters on records and exports the metrics.
#[derive(Debug)]
pub struct MetricEvaluator {
    set: FilterSet,
    /// Every transformation, user filters' first, then CIS.
    all: Vec<Transform>,
    /// Per pattern in `set`: indexes into `all`.
    transforms: Vec<Vec<usize>>,
    /// Pending PutMetricData statistics when `publish_metric_data` is on.
    pending: Option<Mutex<HashMap<StatKey, StatisticSet>>>,
}

fn label_for(dim: &str) -> String {
    let mut s = String::from("dim_");
    s.extend(dim.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        }
    }));
    s
}

impl MetricEvaluator {
    /// Compiles the trail's filters (user filters, then CIS ones); fails with the
    /// [`CwlTrailConfig::validate`] messages.
    pub fn new(cfg: &CwlTrailConfig) -> Result<Self, Vec<String>> {
        let errs = cfg.validate();
        if !errs.is_empty() {
            return Err(errs);
        }
        let mut patterns = Vec::new();
        let mut transforms: Vec<Vec<usize>> = Vec::new();
        let mut all: Vec<Transform> = Vec::new();
        let path = |p: &str| ValuePath::parse(p).expect("validated");
        for f in &cfg.metric_filters {
            patterns.push(FilterPattern::parse(&f.filter_pattern).expect("validated"));
            let first = all.len();
            all.extend(f.metric_transformations.iter().map(|t| {
                Transform {
                    namespace: t.metric_namespace.clone(),
                    metric: t.metric_name.clone(),
                    value: if t.metric_value.starts_with('$') {
                        MetricValue::Path(path(&t.metric_value))
                    } else {
                        MetricValue::Literal(t.metric_value.parse().expect("validated"))
                    },
                    default_value: t.default_value,
                    dimensions: t
                        .dimensions
                        .iter()
                        .map(|(k, v)| (k.clone(), label_for(k), path(v)))
                        .collect(),
                    unit: t.unit.clone(),
                    seen: Mutex::default(),
                }
            }));
            transforms.push((first..all.len()).collect());
        }
        if cfg.cis_benchmark_filters {
            for c in CIS_FILTERS {
                patterns.push(c.compile());
                transforms.push(vec![all.len()]);
                all.push(Transform {
                    namespace: cfg.cis_metric_namespace.clone(),
                    metric: c.metric_name.to_string(),
                    value: MetricValue::Literal(1.0),
                    default_value: None,
                    dimensions: Vec::new(),
                    unit: None,
                    seen: Mutex::default(),
                });
            }
        }
        Ok(Self {
            set: FilterSet::new(patterns),
            all,
            transforms,
            pending: cfg.publish_metric_data.then(Mutex::default),
        })
    }

    /// Number of filters evaluated per record.
    pub fn filter_count(&self) -> usize {
        self.set.len()
    }

    /// The points `raw` produces, without exporting them (pure; `out` is cleared first).
    pub fn evaluate<'a>(
        &'a self,
        raw: &[u8],
        hits: &mut Vec<bool>,
        out: &mut Vec<MetricPoint<'a>>,
    ) {
        out.clear();
        self.set.matches_into(raw, hits);
        for ((pattern, ts), &hit) in self
            .set
            .patterns()
            .iter()
            .zip(&self.transforms)
            .zip(hits.iter())
        {
            for &ti in ts {
                let t = &self.all[ti];
                if !hit {
                    if let Some(d) = t.default_value {
                        out.push(MetricPoint {
                            namespace: &t.namespace,
                            metric: &t.metric,
                            value: d,
                            dimensions: Vec::new(),
                            matched: false,
                            transformation: ti,
                        });
                    }
                    continue;
                }
                let value = match &t.value {
                    MetricValue::Literal(v) => Some(*v),
                    MetricValue::Path(p) => pattern.extract_number(raw, p),
                };
                let Some(value) = value.filter(|v| v.is_finite()) else {
                    continue;
                };
                let dimensions = t
                    .dimensions
                    .iter()
                    .map(|(name, _, p)| {
                        (name.as_str(), pattern.extract(raw, p).unwrap_or_default())
                    })
                    .collect();
                out.push(MetricPoint {
                    namespace: &t.namespace,
                    metric: &t.metric,
                    value,
                    dimensions,
                    matched: true,
                    transformation: ti,
                });
            }
        }
    }

    /// Evaluates `raw`, exports its points through the `metrics` facade (and keeps them for
    /// PutMetricData when enabled), and returns them (for [`crate::AlarmEvaluator::observe`]).
    pub fn observe(&self, raw: &[u8]) -> Vec<MetricPoint<'_>> {
        let mut hits = Vec::with_capacity(self.set.len());
        let mut out = Vec::new();
        self.evaluate(raw, &mut hits, &mut out);
        if out.is_empty() {
            return out;
        }
        let hour = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() / 3600);
        for p in &mut out {
            let ti = p.transformation;
            let t = &self.all[ti];
            if !t.dimensions.is_empty() {
                cap_dimensions(t, hour, &mut p.dimensions);
            }
            let mut labels = vec![
                metrics::Label::new("namespace", t.namespace.clone()),
                metrics::Label::new("metric", t.metric.clone()),
            ];
            for ((_, label, _), (_, v)) in t.dimensions.iter().zip(&p.dimensions) {
                labels.push(metrics::Label::new(label.clone(), v.clone()));
            }
            metrics::counter!(m::METRIC_FILTER_SAMPLES, labels.clone()).increment(1);
            metrics::gauge!(m::METRIC_FILTER_VALUE_SUM, labels).increment(p.value);
            if let Some(pending) = &self.pending {
                let values: Vec<String> = p.dimensions.iter().map(|(_, v)| v.clone()).collect();
                let mut pending = pending.lock().expect("pending lock");
                let s = pending.entry((ti, values)).or_insert_with(|| StatisticSet {
                    namespace: t.namespace.clone(),
                    metric: t.metric.clone(),
                    dimensions: p
                        .dimensions
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.clone()))
                        .collect(),
                    unit: t.unit.clone(),
                    sample_count: 0.0,
                    sum: 0.0,
                    minimum: f64::INFINITY,
                    maximum: f64::NEG_INFINITY,
                });
                s.sample_count += 1.0;
                s.sum += p.value;
                s.minimum = s.minimum.min(p.value);
                s.maximum = s.maximum.max(p.value);
            }
        }
        out
    }

    /// Drains the statistics gathered for PutMetricData (empty unless `publish_metric_data`).
    pub fn take_statistics(&self) -> Vec<StatisticSet> {
        match &self.pending {
            Some(p) => p
                .lock()
                .expect("pending lock")
                .drain()
                .map(|(_, v)| v)
                .collect(),
            None => Vec::new(),
        }
    }
}

fn cap_dimensions(t: &Transform, hour: u64, dims: &mut [(&str, String)]) {
    let values: Vec<String> = dims.iter().map(|(_, v)| v.clone()).collect();
    let mut seen = t.seen.lock().expect("seen lock");
    if seen.0 != hour {
        *seen = (hour, HashSet::new());
    }
    if seen.1.contains(&values) {
        return;
    }
    if seen.1.len() < MAX_DIMENSION_SETS_PER_HOUR {
        seen.1.insert(values);
    } else {
        for (_, v) in dims.iter_mut() {
            *v = OVERFLOW_VALUE.to_string();
        }
    }
}

/// Groups statistic sets by namespace (PutMetricData takes one namespace per call).
pub fn by_namespace(stats: Vec<StatisticSet>) -> BTreeMap<String, Vec<StatisticSet>> {
    let mut out: BTreeMap<String, Vec<StatisticSet>> = BTreeMap::new();
    for s in stats {
        out.entry(s.namespace.clone()).or_default().push(s);
    }
    out
}
