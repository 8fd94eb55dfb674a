//! The CloudWatch Logs sink: one [`CwlSink::deliver`] per (trail log group, account, region)
//! share of a segment; returns when every record it did not reject is accepted by the service.
//!
//! Invariants:
//! - A record is counted `delivered` only after a PutLogEvents response that did not list it in
//!   `rejectedLogEventsInfo`; every other record is in `rejected` with a reason. Nothing is
//!   dropped silently: retriable, throttled and permanent errors are retried (with full-jitter
//!   backoff) until they succeed or the caller's deadline passes, and then `deliver` fails.
//! - Delivery is **at-least-once**: CloudWatch Logs has no idempotency key, so a put whose
//!   response was lost, or a segment replayed after a crash before its offsets were committed,
//!   writes its events again. Readers deduplicate on `eventID` if they must.
//! - No sequence tokens and no DescribeLogStreams per batch: the requests of one call run in
//!   parallel (`puts_per_deliver`), across calls too, all under one rate limiter per sink.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use aws_sdk_cloudwatchlogs::config::SharedCredentialsProvider;
use aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata;
use aws_sdk_cloudwatchlogs::Client;
use bytes::Bytes;
use futures::stream::{self, StreamExt};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

use crate::batch::{plan, Reject};
use crate::config::{log_group_name, log_group_region};
use crate::metric_names as m;
use crate::retry::{classify, error_chain, Backoff, ErrorClass};
use crate::CwlError;

/// Default for [`CwlSinkConfig::cloudwatch_logs_max_requests_per_sec`]: the smallest
/// per-account, per-Region PutLogEvents quota AWS has documented (800 TPS outside the three
/// largest regions). Raise it to your Service Quotas value; throttles are retried regardless.
pub const fn default_max_requests_per_sec() -> u32 {
    800
}

/// Default for [`CwlSinkConfig::puts_per_deliver`].
pub const PUTS_PER_DELIVER: usize = 4;

/// Known (region, group, stream) triples kept before the cache is cleared (bounds memory with
/// many accounts/regions; forgetting only costs an idempotent CreateLogStream).
const MAX_KNOWN_STREAMS: usize = 10_000;

/// How the sink connects; one sink per set of credentials (account). Not a configuration
/// section: the daemon builds it from `[storage]` and `[cloudwatch_logs]`
/// ([`crate::CloudWatchLogsConfig`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CwlSinkConfig {
    /// Region of log groups given by name (an ARN names its own region).
    pub region: String,
    /// Endpoint override (tests); `AWS_ENDPOINT_URL` is honoured by the SDK as well.
    pub endpoint_url: Option<String>,
    /// Requests per second over all CloudWatch Logs calls of this sink.
    pub cloudwatch_logs_max_requests_per_sec: u32,
    /// PutLogEvents requests in flight per `deliver` call (a batch larger than one request is
    /// split; the fast path's own limit over all streams is `max_concurrent_puts`).
    pub puts_per_deliver: usize,
}

impl CwlSinkConfig {
    /// Defaults for `region`.
    pub fn new(region: impl Into<String>) -> Self {
        Self {
            region: region.into(),
            endpoint_url: None,
            cloudwatch_logs_max_requests_per_sec: default_max_requests_per_sec(),
            puts_per_deliver: PUTS_PER_DELIVER,
        }
    }
}

/// Records of one trail for one (account, region), bound for one log stream.
#[derive(Debug, Clone, Default)]
pub struct CwlBatch {
    /// Log group name or ARN.
    pub log_group: String,
    /// Account of the records (stream `<account>_CloudTrail_<region>`).
    pub account: String,
    /// Region of the records.
    pub region: String,
    /// `(eventTime in ms, the record's JSON exactly as received)`, in offset order.
    pub records: Vec<(i64, Bytes)>,
    /// IAM role assumed to write (the trail's `cloud_watch_logs_role_arn`); `None`: the
    /// daemon's own credentials.
    pub role_arn: Option<String>,
}

/// What became of a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CwlOutcome {
    /// Records accepted by CloudWatch Logs.
    pub delivered: usize,
    /// `(index in CwlBatch::records, reason)`, sorted by index: send these to the dead letters.
    pub rejected: Vec<(usize, String)>,
}

/// Last success and failure, for `/readyz`.
#[derive(Debug, Clone, Default)]
pub struct CwlHealth {
    /// When a put last succeeded.
    pub last_success: Option<SystemTime>,
    /// The last error and when it happened.
    pub last_error: Option<(SystemTime, String)>,
}

/// Delivers records to CloudWatch Logs.
#[derive(Clone)]
pub struct CwlSink {
    inner: Arc<Inner>,
}

struct Inner {
    shared: aws_config::SdkConfig,
    cfg: CwlSinkConfig,
    /// By (region, role).
    clients: Mutex<HashMap<(String, Option<String>), Client>>,
    /// Credentials of each assumed role (refreshed by the provider before they expire).
    roles: tokio::sync::Mutex<HashMap<String, SharedCredentialsProvider>>,
    limiter: DefaultDirectRateLimiter,
    known: Mutex<HashSet<(String, String, String)>>,
    health: Mutex<CwlHealth>,
}

/// The stream CloudTrail writes a (account, region)'s records to.
pub fn stream_name(account: &str, region: &str) -> String {
    format!("{account}_CloudTrail_{region}")
}

impl CwlSink {
    /// Loads credentials with the default chain and builds the sink.
    pub async fn new(cfg: CwlSinkConfig) -> Self {
        let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(cfg.region.clone()))
            .load()
            .await;
        Self::from_sdk_config(&shared, cfg)
    }

    /// Builds the sink from an already loaded SDK config.
    pub fn from_sdk_config(shared: &aws_config::SdkConfig, cfg: CwlSinkConfig) -> Self {
        let rps = NonZeroU32::new(cfg.cloudwatch_logs_max_requests_per_sec.max(1))
            .expect("max(1) is non-zero");
        Self {
            inner: Arc::new(Inner {
                shared: shared.clone(),
                limiter: RateLimiter::direct(Quota::per_second(rps)),
                cfg,
                clients: Mutex::default(),
                roles: tokio::sync::Mutex::default(),
                known: Mutex::default(),
                health: Mutex::default(),
            }),
        }
    }

    /// Last success and error.
    pub fn health(&self) -> CwlHealth {
        self.inner.health.lock().expect("health lock").clone()
    }

    /// The shared SDK config (for the metric publisher and notifier of the same account).
    pub fn sdk_config(&self) -> &aws_config::SdkConfig {
        &self.inner.shared
    }

    /// The CloudWatch Logs client for the region of `log_group` (name or ARN), with the
    /// daemon's own credentials.
    pub fn client_for(&self, log_group: &str) -> Client {
        self.client_with(log_group, None)
    }

    /// The client for `log_group` acting as `role_arn` (assumed with STS, like CloudTrail's
    /// `CloudWatchLogsRoleArn`), or with the daemon's credentials.
    pub async fn client_as(&self, log_group: &str, role_arn: Option<&str>) -> Client {
        let Some(role) = role_arn else {
            return self.client_for(log_group);
        };
        let provider = {
            let mut roles = self.inner.roles.lock().await;
            match roles.get(role) {
                Some(p) => p.clone(),
                None => {
                    let p = SharedCredentialsProvider::new(
                        aws_config::sts::AssumeRoleProvider::builder(role)
                            .session_name("trailpipe")
                            .configure(&self.inner.shared)
                            .build()
                            .await,
                    );
                    roles.insert(role.to_string(), p.clone());
                    p
                }
            }
        };
        self.client_with(log_group, Some((role, provider)))
    }

    fn client_with(
        &self,
        log_group: &str,
        role: Option<(&str, SharedCredentialsProvider)>,
    ) -> Client {
        let region = log_group_region(log_group).unwrap_or(&self.inner.cfg.region);
        let mut clients = self.inner.clients.lock().expect("clients lock");
        clients
            .entry((
                region.to_string(),
                role.as_ref().map(|(r, _)| r.to_string()),
            ))
            .or_insert_with(|| {
                let mut b = aws_sdk_cloudwatchlogs::config::Builder::from(&self.inner.shared)
                    .region(aws_config::Region::new(region.to_string()))
                    .timeout_config(
                        aws_config::timeout::TimeoutConfig::builder()
                            .connect_timeout(std::time::Duration::from_secs(5))
                            .operation_attempt_timeout(std::time::Duration::from_secs(30))
                            .build(),
                    );
                if let Some(ep) = &self.inner.cfg.endpoint_url {
                    b = b.endpoint_url(ep);
                }
                if let Some((_, provider)) = role {
                    b = b.credentials_provider(provider);
                }
                Client::from_conf(b.build())
            })
            .clone()
    }

    /// Waits for the rate limiter: every CloudWatch Logs call goes through here.
    pub(crate) async fn permit(&self) {
        self.inner.limiter.until_ready().await;
    }

    pub(crate) fn note_success(&self) {
        self.inner.health.lock().expect("health lock").last_success = Some(SystemTime::now());
    }

    pub(crate) fn note_error(&self, class: ErrorClass, message: String) {
        metrics::counter!(m::CWL_ERRORS, "error_type" => class.as_str()).increment(1);
        tracing::warn!(error_type = class.as_str(), "{message}");
        self.inner.health.lock().expect("health lock").last_error =
            Some((SystemTime::now(), message));
    }

    /// Delivers `batch`, retrying until every non-rejected record is accepted (no deadline).
    pub async fn deliver(&self, batch: CwlBatch) -> Result<CwlOutcome, CwlError> {
        self.deliver_until(batch, None).await
    }

    /// [`CwlSink::deliver`] giving up with [`CwlError::Deadline`] once `deadline` passes; some
    /// requests may have landed by then, so re-delivering the batch can duplicate events.
    pub async fn deliver_until(
        &self,
        batch: CwlBatch,
        deadline: Option<Instant>,
    ) -> Result<CwlOutcome, CwlError> {
        let group = log_group_name(&batch.log_group).to_string();
        let stream = stream_name(&batch.account, &batch.region);
        let client = self
            .client_as(&batch.log_group, batch.role_arn.as_deref())
            .await;
        let now_ms = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let plan = plan(&batch.records, now_ms);
        let mut rejected = plan.rejected;
        if !plan.requests.is_empty() {
            self.ensure_stream(&client, &batch.log_group, &group, &stream, deadline)
                .await?;
        }
        let records = &batch.records;
        let results: Vec<Result<Vec<(usize, Reject)>, CwlError>> = stream::iter(plan.requests)
            .map(|req| {
                self.put(
                    &client,
                    &batch.log_group,
                    &group,
                    &stream,
                    records,
                    req,
                    deadline,
                )
            })
            .buffer_unordered(self.inner.cfg.puts_per_deliver.max(1))
            .collect()
            .await;
        for r in results {
            rejected.extend(r?);
        }
        rejected.sort_unstable_by_key(|&(i, _)| i);
        for (_, why) in &rejected {
            metrics::counter!(m::CWL_EVENTS_REJECTED, "reason" => why.code()).increment(1);
        }
        let delivered = records.len() - rejected.len();
        metrics::counter!(m::CWL_EVENTS_DELIVERED, "log_group" => group)
            .increment(delivered as u64);
        Ok(CwlOutcome {
            delivered,
            rejected: rejected
                .into_iter()
                .map(|(i, why)| (i, why.message().to_string()))
                .collect(),
        })
    }

    pub(crate) fn forget(&self, client: &Client, group: &str, stream: &str) {
        let region = client
            .config()
            .region()
            .map(|r| r.to_string())
            .unwrap_or_default();
        self.inner.known.lock().expect("known lock").remove(&(
            region,
            group.to_string(),
            stream.to_string(),
        ));
    }

    /// Creates the group and stream unless known to exist (idempotent: "already exists" is success).
    pub(crate) async fn ensure_stream(
        &self,
        client: &Client,
        _group_arg: &str,
        group: &str,
        stream: &str,
        deadline: Option<Instant>,
    ) -> Result<(), CwlError> {
        let region = client
            .config()
            .region()
            .map(|r| r.to_string())
            .unwrap_or_default();
        let key = (region, group.to_string(), stream.to_string());
        if self.inner.known.lock().expect("known lock").contains(&key) {
            return Ok(());
        }
        self.ensure_group(client, group, deadline).await?;
        let mut backoff = Backoff::new();
        loop {
            self.permit().await;
            metrics::counter!(m::CWL_REQUESTS, "operation" => "CreateLogStream").increment(1);
            let r = client
                .create_log_stream()
                .log_group_name(group)
                .log_stream_name(stream)
                .send()
                .await;
            let e = match r {
                Ok(_) => break,
                Err(e) if e.code() == Some("ResourceAlreadyExistsException") => break,
                Err(e) => e,
            };
            let status = e.raw_response().map(|r| r.status().as_u16());
            let class = classify(&e, status);
            let message = format!("CreateLogStream {group}/{stream}: {}", error_chain(&e));
            self.note_error(class, message.clone());
            if class == ErrorClass::NotFound {
                // The group vanished between the two calls: create it again.
                self.ensure_group(client, group, deadline).await?;
            }
            sleep_or_deadline(backoff.next_delay(class), deadline, &message).await?;
        }
        let mut known = self.inner.known.lock().expect("known lock");
        if known.len() >= MAX_KNOWN_STREAMS {
            known.clear();
        }
        known.insert(key);
        Ok(())
    }

    /// Creates the log group if missing.
    pub(crate) async fn ensure_group(
        &self,
        client: &Client,
        group: &str,
        deadline: Option<Instant>,
    ) -> Result<(), CwlError> {
        let mut backoff = Backoff::new();
        loop {
            self.permit().await;
            metrics::counter!(m::CWL_REQUESTS, "operation" => "CreateLogGroup").increment(1);
            let e = match client.create_log_group().log_group_name(group).send().await {
                Ok(_) => return Ok(()),
                Err(e) if e.code() == Some("ResourceAlreadyExistsException") => return Ok(()),
                Err(e) => e,
            };
            let status = e.raw_response().map(|r| r.status().as_u16());
            let class = classify(&e, status);
            let message = format!("CreateLogGroup {group}: {}", error_chain(&e));
            self.note_error(class, message.clone());
            sleep_or_deadline(backoff.next_delay(class), deadline, &message).await?;
        }
    }
}

/// Sleeps `delay`, or fails with [`CwlError::Deadline`] if that would pass `deadline`.
pub(crate) async fn sleep_or_deadline(
    delay: std::time::Duration,
    deadline: Option<Instant>,
    last_error: &str,
) -> Result<(), CwlError> {
    if let Some(d) = deadline {
        if Instant::now() + delay >= d {
            return Err(CwlError::Deadline {
                last_error: last_error.to_string(),
            });
        }
    }
    tokio::time::sleep(delay).await;
    Ok(())
}
