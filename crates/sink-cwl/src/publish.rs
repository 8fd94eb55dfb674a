//! PutMetricData for trails with `publish_metric_data`: the statistic sets a
//! [`crate::MetricEvaluator`] gathered, one datum per (metric, dimensions) and call.
//!
//! Invariant: a statistic set is removed from the caller's list exactly when the call that
//! carried it was accepted. Calls go namespace by namespace, [`MAX_DATUMS_PER_CALL`] datums at
//! a time, and the first failed call ends the round with `Err`, leaving in the list the sets of
//! the failed call and of every call not made. So a caller that retries with what is left
//! sends every set once (CloudWatch would count a re-sent set twice). Nothing is retried here
//! beyond the SDK's own retries of one call.

use aws_sdk_cloudwatch::error::ProvideErrorMetadata;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit, StatisticSet as AwsStats};

use crate::evaluator::{by_namespace, StatisticSet};
use crate::metric_names as m;
use crate::retry::{classify, error_chain};
use crate::CwlError;

/// Datums per PutMetricData call (the API takes 1,000; 500 keeps requests well under 1 MB).
pub const MAX_DATUMS_PER_CALL: usize = 500;

/// Sends filter metrics to CloudWatch.
pub struct MetricPublisher {
    client: aws_sdk_cloudwatch::Client,
}

impl MetricPublisher {
    /// A publisher with `shared`'s credentials and region.
    pub fn new(shared: &aws_config::SdkConfig) -> Self {
        Self {
            client: aws_sdk_cloudwatch::Client::new(shared),
        }
    }

    /// Publishes `stats` (from [`crate::MetricEvaluator::take_statistics`]); returns how many
    /// datums were sent. Sets are removed from `stats` as their call is accepted: after `Ok`
    /// it is empty, after `Err` it holds what was not sent (retry with it).
    pub async fn publish(&self, stats: &mut Vec<StatisticSet>) -> Result<usize, CwlError> {
        let mut sent = 0;
        let mut namespaces = by_namespace(std::mem::take(stats)).into_iter();
        while let Some((namespace, mut sets)) = namespaces.next() {
            while !sets.is_empty() {
                let chunk = &sets[..sets.len().min(MAX_DATUMS_PER_CALL)];
                let datums: Vec<MetricDatum> = chunk.iter().map(datum).collect();
                let r = self
                    .client
                    .put_metric_data()
                    .namespace(&namespace)
                    .set_metric_data(Some(datums))
                    .send()
                    .await;
                if let Err(e) = r {
                    let status = e.raw_response().map(|r| r.status().as_u16());
                    let class = classify(&e, status);
                    metrics::counter!(m::CWL_ERRORS, "error_type" => class.as_str()).increment(1);
                    stats.extend(sets);
                    stats.extend(namespaces.flat_map(|(_, rest)| rest));
                    return Err(CwlError::Request {
                        message: format!(
                            "PutMetricData {namespace}: {} {}",
                            e.code().unwrap_or(""),
                            error_chain(&e)
                        ),
                        class,
                    });
                }
                let n = chunk.len();
                sets.drain(..n);
                sent += n;
                metrics::counter!(m::METRIC_DATA_PUBLISHED).increment(n as u64);
            }
        }
        Ok(sent)
    }
}

fn datum(s: &StatisticSet) -> MetricDatum {
    let mut b = MetricDatum::builder()
        .metric_name(&s.metric)
        .timestamp(aws_sdk_cloudwatch::primitives::DateTime::from(
            std::time::SystemTime::now(),
        ))
        .statistic_values(
            AwsStats::builder()
                .sample_count(s.sample_count)
                .sum(s.sum)
                .minimum(s.minimum)
                .maximum(s.maximum)
                .build(),
        );
    for (k, v) in &s.dimensions {
        b = b.dimensions(Dimension::builder().name(k).value(v).build());
    }
    if let Some(u) = &s.unit {
        b = b.unit(StandardUnit::from(u.as_str()));
    }
    b.build()
}
