//! Provisioning a trail's metric filters on its log group (PutMetricFilter), so CloudWatch
//! computes the same metrics trailpipe evaluates locally. CIS filters are stored with their
//! patterns verbatim (compliance scanners compare the strings).
//!
//! Invariant: idempotent — existing filters are read first (DescribeMetricFilters) and only
//! missing or changed ones are put (PutMetricFilter replaces by name); the group is created only
//! if missing; filters not named in the config are left alone (never deleted).

use aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata;
use std::collections::HashMap;

use aws_sdk_cloudwatchlogs::types::{MetricTransformation, StandardUnit};
use trailpipe_filterpattern::CIS_FILTERS;

use crate::config::CwlTrailConfig;
use crate::metric_names as m;
use crate::retry::{classify, error_chain, Backoff, ErrorClass};
use crate::sink::CwlSink;
use crate::CwlError;

/// Attempts per PutMetricFilter before provisioning fails.
pub const MAX_PROVISION_ATTEMPTS: u32 = 6;

/// Name of the metric filter provisioned for a CIS control: `CIS-<id>-<metric>`.
pub fn cis_filter_name(id: &str, metric: &str) -> String {
    format!("CIS-{id}-{metric}")
}

/// What [`CwlSink::provision`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProvisionOutcome {
    /// Filters created or changed.
    pub put: usize,
    /// Filters already as configured.
    pub unchanged: usize,
}

/// Whether a stored transformation already says what the config says (unit `None` = unset).
fn same(a: &MetricTransformation, b: &MetricTransformation) -> bool {
    let unit = |t: &MetricTransformation| t.unit().filter(|u| **u != StandardUnit::None).cloned();
    let dims = |t: &MetricTransformation| t.dimensions().cloned().unwrap_or_default();
    a.metric_name() == b.metric_name()
        && a.metric_namespace() == b.metric_namespace()
        && a.metric_value() == b.metric_value()
        && a.default_value() == b.default_value()
        && dims(a) == dims(b)
        && unit(a) == unit(b)
}

/// One filter to put: (name, pattern, transformation).
fn desired(cfg: &CwlTrailConfig) -> Vec<(String, String, MetricTransformation)> {
    let mut out = Vec::new();
    for f in &cfg.metric_filters {
        for t in &f.metric_transformations {
            let mut b = MetricTransformation::builder()
                .metric_name(&t.metric_name)
                .metric_namespace(&t.metric_namespace)
                .metric_value(&t.metric_value)
                .set_default_value(t.default_value);
            for (k, v) in &t.dimensions {
                b = b.dimensions(k, v);
            }
            if let Some(u) = &t.unit {
                b = b.unit(StandardUnit::from(u.as_str()));
            }
            let t = b.build().expect("name, namespace and value are set");
            out.push((f.filter_name.clone(), f.filter_pattern.clone(), t));
        }
    }
    if cfg.cis_benchmark_filters {
        for c in CIS_FILTERS {
            let t = MetricTransformation::builder()
                .metric_name(c.metric_name)
                .metric_namespace(&cfg.cis_metric_namespace)
                .metric_value("1")
                .build()
                .expect("name, namespace and value are set");
            out.push((
                cis_filter_name(c.id, c.metric_name),
                c.pattern.to_string(),
                t,
            ));
        }
    }
    out
}

impl CwlSink {
    /// Creates the log group if missing and puts every metric filter of `cfg` (user filters,
    /// then CIS) that is missing or differs. Fails on the first filter that cannot be put after
    /// [`MAX_PROVISION_ATTEMPTS`] (or at once if refused as invalid).
    pub async fn provision(&self, cfg: &CwlTrailConfig) -> Result<ProvisionOutcome, CwlError> {
        let errs = cfg.validate();
        if !errs.is_empty() {
            return Err(CwlError::Config(errs.join("; ")));
        }
        let client = self
            .client_as(
                &cfg.cloud_watch_logs_log_group,
                cfg.cloud_watch_logs_role_arn.as_deref(),
            )
            .await;
        let group = cfg.log_group();
        self.ensure_group(&client, group, None).await?;
        let existing = self.existing_filters(&client, group).await?;
        let mut outcome = ProvisionOutcome {
            put: 0,
            unchanged: 0,
        };
        for (name, pattern, t) in &desired(cfg) {
            if existing
                .get(name)
                .is_some_and(|(p, ts)| p == pattern && ts.len() == 1 && same(&ts[0], t))
            {
                outcome.unchanged += 1;
                continue;
            }
            outcome.put += 1;
            let mut backoff = Backoff::new();
            loop {
                self.permit().await;
                metrics::counter!(m::CWL_REQUESTS, "operation" => "PutMetricFilter").increment(1);
                let r = client
                    .put_metric_filter()
                    .log_group_name(group)
                    .filter_name(name)
                    .filter_pattern(pattern)
                    .metric_transformations(t.clone())
                    .send()
                    .await;
                let e = match r {
                    Ok(_) => break,
                    Err(e) => e,
                };
                let status = e.raw_response().map(|r| r.status().as_u16());
                let class = classify(&e, status);
                let message = format!(
                    "PutMetricFilter {group}/{name}: {} {}",
                    e.code().unwrap_or(""),
                    error_chain(&e)
                );
                self.note_error(class, message.clone());
                if class == ErrorClass::NotFound {
                    self.ensure_group(&client, group, None).await?;
                }
                if matches!(class, ErrorClass::Rejected | ErrorClass::Permanent)
                    || backoff.attempts() + 1 >= MAX_PROVISION_ATTEMPTS
                {
                    return Err(CwlError::Request { message, class });
                }
                tokio::time::sleep(backoff.next_delay(class)).await;
            }
        }
        Ok(outcome)
    }

    /// The group's metric filters by name: (pattern, transformations).
    async fn existing_filters(
        &self,
        client: &aws_sdk_cloudwatchlogs::Client,
        group: &str,
    ) -> Result<HashMap<String, (String, Vec<MetricTransformation>)>, CwlError> {
        let mut out = HashMap::new();
        let mut token: Option<String> = None;
        loop {
            self.permit().await;
            metrics::counter!(m::CWL_REQUESTS, "operation" => "DescribeMetricFilters").increment(1);
            let r = client
                .describe_metric_filters()
                .log_group_name(group)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| {
                    let status = e.raw_response().map(|r| r.status().as_u16());
                    let class = classify(&e, status);
                    let message = format!("DescribeMetricFilters {group}: {}", error_chain(&e));
                    self.note_error(class, message.clone());
                    CwlError::Request { message, class }
                })?;
            for f in r.metric_filters() {
                if let Some(name) = f.filter_name() {
                    out.insert(
                        name.to_string(),
                        (
                            f.filter_pattern().unwrap_or_default().to_string(),
                            f.metric_transformations().to_vec(),
                        ),
                    );
                }
            }
            token = r.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(out);
            }
        }
    }
}
