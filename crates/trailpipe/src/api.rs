//! The daemon's side of the CloudTrail API: trails and their status from the running
//! configuration and the sinks' health, public keys from the digest signer, lifecycle changes
//! persisted in [`TrailStates`] and applied by restarting the pipeline (drain, commit, rebuild).

use std::{
    sync::{Arc, RwLock},
    time::Duration,
};

use time::OffsetDateTime;
use tokio::sync::mpsc;
use trailpipe_api::{
    AdvancedEventSelector as ApiAdvanced, AdvancedFieldSelector, ApiBackend, ApiError,
    DataResource as ApiDataResource, EventSelector as ApiSelector, PublicKey,
    ReadWriteType as ApiRw, SelectorsInfo, Tag, TrailInfo, TrailStatus,
};
use trailpipe_config::{Config, TrailConfig};
use trailpipe_delivery::SinkHealth;
use trailpipe_digest::DigestSigner;
use trailpipe_selectors::{
    AdvancedEventSelector, DataResource, EventSelector, FieldSelector, ReadWriteType,
};

use crate::{
    integrity::{home_region, DigestStatuses},
    lifecycle::{Selectors, TrailStates},
    run::Control,
};

/// Everything the API reads, shared with the control loop.
#[derive(Clone)]
pub struct Backend {
    /// The configuration file as loaded (lifecycle changes are applied on top).
    pub config: Arc<RwLock<Arc<Config>>>,
    /// S3 delivery health.
    pub health: SinkHealth,
    /// Digest statuses by trail.
    pub digests: DigestStatuses,
    /// The digest signer, when any trail validates log files (set once keys are read).
    pub signer: SignerSlot,
    /// The event history, when `[history]` is configured.
    pub history: Option<Arc<trailpipe_history::HistoryStore>>,
    /// Lifecycle changes.
    pub states: TrailStates,
    /// Asks the control loop to rebuild the pipeline after a lifecycle change.
    pub control: mpsc::UnboundedSender<Control>,
    /// When the daemon started (the start time of trails never stopped).
    pub started: OffsetDateTime,
    /// Who may call what (`[api]`), replaced on every reload.
    pub access: Arc<RwLock<Arc<trailpipe_auth::ApiAccess>>>,
    /// Where the API's self-records go (`None`: a file source), replaced on every reload.
    pub audit: Arc<RwLock<Option<Arc<crate::audit::AuditSink>>>>,
    /// The rate of unsigned and badly signed calls per address (`api.max_unverified_calls_per_sec`).
    pub unverified: Arc<UnverifiedLimit>,
    /// Permits for `LookupEvents` (`api.max_concurrent_lookups`): one more is throttled, so
    /// deep lookups cannot take every blocking thread or the history's read bandwidth.
    pub lookups: Arc<tokio::sync::Semaphore>,
    /// The control topic, when there is one, and this replica's name: the other replicas'
    /// statuses are read from it (set once the topic was read).
    pub group: GroupSlot,
    /// SNS notification health per topic (this replica's), when a trail notifies.
    pub notifications: Option<trailpipe_sink_sns::NotifierHealth>,
}

/// The control topic and this replica's name, set once the topic was read at start.
pub type GroupSlot = Arc<std::sync::OnceLock<(Arc<crate::control_topic::ControlTopic>, String)>>;
/// How long a call waits at start for the control topic to be applied (and `ListPublicKeys`
/// for the signer's keys) before it is answered a retriable error.
const STATE_WAIT: Duration = Duration::from_secs(10);

/// The value of `slot` once it is set, waiting up to [`STATE_WAIT`]; else a retriable error
/// saying what is `still` being read.
async fn wait_for<'a, T>(slot: &'a std::sync::OnceLock<T>, still: &str) -> Result<&'a T, ApiError> {
    let deadline = tokio::time::Instant::now() + STATE_WAIT;
    loop {
        if let Some(v) = slot.get() {
            return Ok(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ApiError::Internal(format!(
                "{still} is still being read; retry"
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The digest signer, set once its keys were read at start (never without validated trails).
pub type SignerSlot = Arc<std::sync::OnceLock<Arc<dyn DigestSigner>>>;

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(e.to_string())
}

/// How many unsigned or badly signed calls one address may make: `per_sec`, in bursts of five
/// times as many. IPv6 addresses count per /64 (one host usually holds a whole /64).
pub struct UnverifiedLimit(
    governor::RateLimiter<
        std::net::IpAddr,
        governor::state::keyed::HashMapStateStore<std::net::IpAddr>,
        governor::clock::DefaultClock,
    >,
);

impl UnverifiedLimit {
    /// Addresses remembered before those whose budget is full again are forgotten.
    const TRACKED: usize = 10_000;

    /// A limit of `per_sec` calls per second per address.
    pub fn new(per_sec: u32) -> Self {
        let rate = std::num::NonZeroU32::new(per_sec).unwrap_or(std::num::NonZeroU32::MIN);
        let quota = governor::Quota::per_second(rate)
            .allow_burst(rate.saturating_mul(std::num::NonZeroU32::new(5).expect("5 is not zero")));
        Self(governor::RateLimiter::hashmap(quota))
    }

    /// Whether one more call from `ip` fits; a refusal is counted
    /// (`trailpipe_api_calls_throttled_total`).
    pub fn admit(&self, ip: Option<std::net::IpAddr>) -> bool {
        use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
        let key = match ip {
            Some(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
                IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX)))
            }
            Some(IpAddr::V6(v6)) => IpAddr::V4(v6.to_ipv4_mapped().expect("checked")),
            Some(v4) => v4,
            None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        };
        if self.0.len() > Self::TRACKED {
            self.0.retain_recent();
        }
        let admitted = self.0.check_key(&key).is_ok();
        if !admitted {
            metrics::counter!(trailpipe_telemetry::API_CALLS_THROTTLED).increment(1);
        }
        admitted
    }
}

impl Backend {
    fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn effective(&self) -> Config {
        self.states.apply(&self.config())
    }

    fn info(&self, config: &Config, t: &TrailConfig) -> TrailInfo {
        let home = home_region(config, t).to_string();
        TrailInfo {
            arn: trailpipe_api::trail_arn("aws", &home, &config.integrity.account_id, &t.name),
            name: t.name.clone(),
            home_region: home,
            s3_bucket_name: t.s3_bucket_name.clone(),
            s3_key_prefix: t.key_prefix().map(str::to_string),
            sns_topic_name: t
                .sns_topic_arn
                .as_deref()
                .and_then(|a| a.rsplit(':').next())
                .map(str::to_string),
            sns_topic_arn: t.sns_topic_arn.clone(),
            include_global_service_events: t.include_global_service_events,
            is_multi_region_trail: t.is_multi_region_trail,
            is_organization_trail: t.is_organization_trail,
            log_file_validation_enabled: t.enable_log_file_validation,
            kms_key_id: t.kms_key_id.clone(),
            cloud_watch_logs_log_group_arn: None,
            cloud_watch_logs_role_arn: None,
            has_custom_event_selectors: !t.event_selectors.is_empty()
                || !t.advanced_event_selectors.is_empty(),
            insight_types: t
                .insight_selectors
                .iter()
                .map(|s| s.insight_type.clone())
                .collect(),
            is_logging: self.states.is_logging(&t.name),
        }
    }

    /// Persists a lifecycle change and has the pipeline rebuilt with it; a call that changes
    /// nothing (a second `StartLogging`) persists and rebuilds nothing.
    async fn change(
        &self,
        trail: &str,
        f: impl FnOnce(&mut crate::lifecycle::TrailState),
    ) -> Result<(), ApiError> {
        if self.states.update(trail, f).await.map_err(internal)? {
            let _ = self.control.send(Control::Apply);
        }
        Ok(())
    }
}

fn to_api(t: &TrailConfig) -> SelectorsInfo {
    if !t.advanced_event_selectors.is_empty() {
        return SelectorsInfo::Advanced(
            t.advanced_event_selectors
                .iter()
                .map(|a| ApiAdvanced {
                    name: a.name.clone(),
                    field_selectors: a
                        .field_selectors
                        .iter()
                        .map(|f| AdvancedFieldSelector {
                            field: f.field.clone(),
                            equals: f.equals.clone(),
                            starts_with: f.starts_with.clone(),
                            ends_with: f.ends_with.clone(),
                            not_equals: f.not_equals.clone(),
                            not_starts_with: f.not_starts_with.clone(),
                            not_ends_with: f.not_ends_with.clone(),
                        })
                        .collect(),
                })
                .collect(),
        );
    }
    if t.event_selectors.is_empty() {
        return SelectorsInfo::cloudtrail_default();
    }
    SelectorsInfo::Basic(
        t.event_selectors
            .iter()
            .map(|s| ApiSelector {
                read_write_type: match s.read_write_type {
                    ReadWriteType::ReadOnly => ApiRw::ReadOnly,
                    ReadWriteType::WriteOnly => ApiRw::WriteOnly,
                    ReadWriteType::All => ApiRw::All,
                },
                include_management_events: s.include_management_events,
                data_resources: s
                    .data_resources
                    .iter()
                    .map(|d| ApiDataResource {
                        resource_type: d.resource_type.clone(),
                        values: d.values.clone(),
                    })
                    .collect(),
                exclude_management_event_sources: s.exclude_management_event_sources.clone(),
            })
            .collect(),
    )
}

fn from_api(s: SelectorsInfo) -> Selectors {
    match s {
        SelectorsInfo::Basic(b) => Selectors::Basic(
            b.into_iter()
                .map(|s| EventSelector {
                    read_write_type: match s.read_write_type {
                        ApiRw::ReadOnly => ReadWriteType::ReadOnly,
                        ApiRw::WriteOnly => ReadWriteType::WriteOnly,
                        ApiRw::All => ReadWriteType::All,
                    },
                    include_management_events: s.include_management_events,
                    exclude_management_event_sources: s.exclude_management_event_sources,
                    data_resources: s
                        .data_resources
                        .into_iter()
                        .map(|d| DataResource {
                            resource_type: d.resource_type,
                            values: d.values,
                        })
                        .collect(),
                })
                .collect(),
        ),
        SelectorsInfo::Advanced(a) => Selectors::Advanced(
            a.into_iter()
                .map(|a| AdvancedEventSelector {
                    name: a.name,
                    field_selectors: a
                        .field_selectors
                        .into_iter()
                        .map(|f| FieldSelector {
                            field: f.field,
                            equals: f.equals,
                            not_equals: f.not_equals,
                            starts_with: f.starts_with,
                            not_starts_with: f.not_starts_with,
                            ends_with: f.ends_with,
                            not_ends_with: f.not_ends_with,
                        })
                        .collect(),
                })
                .collect(),
        ),
    }
}

impl ApiBackend for Backend {
    fn default_region(&self) -> &str {
        "us-east-1"
    }

    fn access(&self) -> Arc<trailpipe_auth::ApiAccess> {
        self.access
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn account_id(&self) -> String {
        self.config().integrity.account_id.clone()
    }

    fn admit_unverified(&self, source_ip: Option<std::net::IpAddr>) -> bool {
        self.unverified.admit(source_ip)
    }

    /// A Kafka source's replica answers only once it applied the group's control topic (what
    /// the API changed through any replica); a file source has no control topic.
    async fn ready(&self) -> Result<(), ApiError> {
        if matches!(
            self.config().source,
            trailpipe_config::SourceConfig::File(_)
        ) {
            return Ok(());
        }
        wait_for(&self.group, "the control topic").await.map(|_| ())
    }

    async fn record_call(&self, record: serde_json::Value) -> Result<(), ApiError> {
        let sink = self.audit.read().unwrap_or_else(|p| p.into_inner()).clone();
        match sink {
            Some(s) => s.store(&record).await.map_err(internal),
            None => {
                tracing::info!(record = %record, "CloudTrail API call (a file source keeps no self-records)");
                Ok(())
            }
        }
    }

    async fn trails(&self) -> Vec<TrailInfo> {
        let c = self.effective();
        c.trails.iter().map(|t| self.info(&c, t)).collect()
    }

    async fn trail_status(&self, trail: &str) -> Option<TrailStatus> {
        let c = self.effective();
        let sns_topic = c
            .trails
            .iter()
            .find(|t| t.name == trail)?
            .sns_topic_arn
            .clone();
        // This replica's status combined with what the others published (group_status).
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let (replica, others) = match self.group.get() {
            Some((topic, replica)) => (
                replica.as_str(),
                crate::group_status::others(topic, replica),
            ),
            None => ("", Vec::new()),
        };
        let own = crate::group_status::snapshot(replica, &self.health, &self.digests, now);
        let g = crate::group_status::combine(&own, &others, trail, now);
        let st = self.states.get(trail);
        let at = |t: Option<i64>| t.and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok());
        // Notifications as this replica made them (its own files' messages).
        let sns = match (sns_topic.as_deref(), &self.notifications) {
            (Some(topic), Some(h)) => h.status(topic),
            _ => Default::default(),
        };
        let system = |t: Option<std::time::SystemTime>| t.map(OffsetDateTime::from);
        Some(TrailStatus {
            latest_notification_time: system(sns.latest_notification),
            latest_notification_attempt_time: system(sns.latest_attempt),
            latest_notification_error: sns.latest_error,
            is_logging: !st.stopped,
            latest_delivery_time: at(g.latest_delivery),
            latest_delivery_attempt_time: at(g.latest_delivery.max(g.latest_error_time)),
            latest_delivery_error: g.latest_error,
            latest_digest_delivery_time: at(g.latest_digest),
            latest_digest_delivery_error: g.latest_digest_error,
            start_logging_time: at(st.start_logging_time).or(Some(self.started)),
            stop_logging_time: at(st.stop_logging_time),
            ..TrailStatus::default()
        })
    }

    async fn event_selectors(&self, trail: &str) -> Option<SelectorsInfo> {
        let c = self.states.apply(&self.config());
        let mut t = c.trails.into_iter().find(|t| t.name == trail)?;
        // A stopped trail still reports the selectors it will use again when started.
        if let Some(s) = self.states.get(trail).selectors {
            match s {
                Selectors::Basic(b) => {
                    t.event_selectors = b;
                    t.advanced_event_selectors.clear();
                }
                Selectors::Advanced(a) => {
                    t.advanced_event_selectors = a;
                    t.event_selectors.clear();
                }
            }
        } else if !self.states.is_logging(trail) {
            let file = self.config();
            if let Some(orig) = file.trails.iter().find(|o| o.name == trail) {
                t = orig.clone();
            }
        }
        Some(to_api(&t))
    }

    async fn public_keys(
        &self,
        start: Option<OffsetDateTime>,
        end: Option<OffsetDateTime>,
    ) -> Result<Vec<PublicKey>, ApiError> {
        if !self
            .config()
            .trails
            .iter()
            .any(|t| t.enable_log_file_validation)
        {
            return Ok(Vec::new());
        }
        // The signer is set once its keys were read (the control topic, at start): wait a
        // little for it, then answer a retriable error, never an empty list.
        let signer = wait_for(&self.signer, "the digest signing keys (control topic)").await?;
        let now = OffsetDateTime::now_utc();
        Ok(signer
            .public_keys(start.unwrap_or(now), end.unwrap_or(now))
            .into_iter()
            .map(|k| PublicKey {
                value_der: k.der_pkcs1,
                validity_start: k.validity_start,
                validity_end: k.validity_end,
                fingerprint: k.fingerprint,
            })
            .collect())
    }

    async fn lookup_events(
        &self,
        region: &str,
        body: &[u8],
    ) -> Result<serde_json::Value, ApiError> {
        let Some(h) = self.history.clone() else {
            return Err(ApiError::UnsupportedOperation(
                "event history is not enabled on this daemon ([history] in the configuration)"
                    .into(),
            ));
        };
        let aws = |e: trailpipe_history::LookupError| ApiError::Other {
            error_type: e.aws_error_type(),
            message: e.to_string(),
        };
        let req = trailpipe_history::LookupRequest::from_json(body, region).map_err(aws)?;
        let permit = self.lookups.clone().try_acquire_owned().map_err(|_| {
            ApiError::Throttling(
                "as many LookupEvents requests as api.max_concurrent_lookups allows are running; retry later"
                    .into(),
            )
        })?;
        let resp = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            h.lookup(&req)
        })
        .await
        .map_err(internal)?
        .map_err(aws)?;
        serde_json::to_value(resp).map_err(internal)
    }

    async fn start_logging(&self, trail: &str) -> Result<(), ApiError> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        self.change(trail, |s| {
            if s.stopped {
                s.stopped = false;
                s.start_logging_time = Some(now);
            }
        })
        .await
    }

    async fn stop_logging(&self, trail: &str) -> Result<(), ApiError> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        self.change(trail, |s| {
            if !s.stopped {
                s.stopped = true;
                s.stop_logging_time = Some(now);
            }
        })
        .await
    }

    async fn put_event_selectors(
        &self,
        trail: &str,
        selectors: SelectorsInfo,
    ) -> Result<SelectorsInfo, ApiError> {
        // Check the meaning (resource types, fields, operators) exactly as the config does.
        let new = from_api(selectors.clone());
        let c = self.config().as_ref().clone();
        if let Some(i) = c.trails.iter().position(|t| t.name == trail) {
            let mut t = c.trails[i].clone();
            match &new {
                Selectors::Basic(b) => {
                    t.event_selectors = b.clone();
                    t.advanced_event_selectors.clear();
                }
                Selectors::Advanced(a) => {
                    t.advanced_event_selectors = a.clone();
                    t.event_selectors.clear();
                }
            }
            if let Err(errors) = c.trail_selector(&t) {
                return Err(ApiError::InvalidEventSelectors(
                    errors
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; "),
                ));
            }
        }
        self.change(trail, |s| s.selectors = Some(new)).await?;
        Ok(selectors)
    }

    async fn add_tags(&self, trail: &str, tags: Vec<Tag>) -> Result<(), ApiError> {
        self.states
            .update(trail, |s| {
                for t in tags {
                    s.tags.insert(t.key, t.value);
                }
            })
            .await
            .map(drop)
            .map_err(internal)
    }

    async fn remove_tags(&self, trail: &str, tags: Vec<Tag>) -> Result<(), ApiError> {
        self.states
            .update(trail, |s| {
                for t in tags {
                    s.tags.remove(&t.key);
                }
            })
            .await
            .map(drop)
            .map_err(internal)
    }

    async fn list_tags(&self, trail: &str) -> Result<Vec<Tag>, ApiError> {
        Ok(self
            .states
            .get(trail)
            .tags
            .into_iter()
            .map(|(key, value)| Tag { key, value })
            .collect())
    }
}
