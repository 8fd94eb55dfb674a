//! `trailpipe run`: the daemon's lifetime around its pipelines ([`crate::pipeline`]).
//!
//! The control loop outlives pipelines: SIGHUP re-validates the configuration file and, when it
//! is good, drains the running pipeline (cut, deliver, commit — as on shutdown) and starts one
//! with the new configuration; a bad file is refused with one log line per mistake and the old
//! pipeline never stops. systemd is told READY, RELOADING, STOPPING and a STATUS line, and the
//! watchdog is petted while the control loop ticks.

use std::{
    path::PathBuf,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, RwLock,
    },
    time::Duration,
};

use anyhow::Context;
use tokio::sync::mpsc;
use trailpipe_config::{Config, SourceConfig, StorageKind};
use trailpipe_delivery::SinkHealth;
use trailpipe_ingest::{KafkaHealth, MskIamAuth, SecureContext};
use trailpipe_store::Store;

use crate::{
    integrity::DigestStatuses,
    lifecycle::TrailStates,
    pipeline::{run_pipeline, AbortOnDrop, Shared},
};

/// What the Kafka clients of successive pipelines share: the connection health `/readyz`
/// shows, and the MSK IAM token source the last successful preflight made.
#[derive(Default)]
pub(crate) struct KafkaClients {
    health: KafkaHealth,
    msk: std::sync::Mutex<Option<MskIamAuth>>,
}

impl KafkaClients {
    /// Runs `kafka_check::preflight` for `config`'s Kafka source (if any) and keeps its token
    /// source; the problems, each naming its field, when a check fails.
    async fn preflight(&self, config: &Config) -> Result<(), String> {
        let SourceConfig::Kafka(k) = &config.source else {
            return Ok(());
        };
        match crate::kafka_check::preflight(k).await {
            Ok(msk) => {
                *self.msk.lock().unwrap_or_else(|p| p.into_inner()) = msk;
                Ok(())
            }
            Err(problems) => Err(problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")),
        }
    }

    /// The client context for `k`, after a successful [`Self::preflight`] of it.
    pub(crate) fn context(
        &self,
        k: &trailpipe_config::KafkaSource,
    ) -> anyhow::Result<SecureContext> {
        let msk = if k.aws_msk_iam.is_some() {
            let m = self.msk.lock().unwrap_or_else(|p| p.into_inner()).clone();
            Some(m.context("source.aws_msk_iam: no token source (preflight did not run)")?)
        } else {
            None
        };
        Ok(SecureContext::new("consumer", msk, self.health.clone()))
    }
}

/// Least time between the starts of two pipelines rebuilt for lifecycle changes: a rebuild
/// drains, commits and rejoins the consumer group, so a burst of changes (a script looping
/// over `StopLogging`/`StartLogging`) costs one rebuild per this interval, not one per call.
/// The trails' state changes at once (`GetTrailStatus` answers it); the pipeline follows
/// within this interval.
pub(crate) const MIN_REBUILD_SPACING: Duration = Duration::from_secs(3);
/// Least time between a lifecycle change and the rebuild that applies it. The call's own
/// self-record is in Kafka before the API answers; this gives the running pipeline time to
/// read and route it, so a trail records its own `StopLogging` (CIS 3.5 watches exactly
/// that, and CloudTrail logs it in the trail it stops) unless the consumer lags behind by more.
pub(crate) const CHANGE_SETTLE: Duration = Duration::from_secs(2);

/// `t`'s compiled selectors in `config` (validated when it was loaded).
pub(crate) fn trail_selector(
    config: &Config,
    t: &trailpipe_config::TrailConfig,
) -> trailpipe_selectors::TrailSelector {
    config.trail_selector(t).expect("validated by Config::load")
}

/// The store `[storage]` names.
pub async fn open_store(config: &Config) -> Store {
    if config.storage.kind == StorageKind::Local {
        Store::local(
            config
                .storage
                .local_root
                .clone()
                .expect("validated: local_root is set"),
        )
    } else {
        Store::s3(
            config.storage.region.clone(),
            config.storage.endpoint_url.clone(),
            config.storage.force_path_style,
        )
        .await
    }
}

/// What the control loop asks of a running pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// SIGTERM / SIGINT: drain, commit, exit.
    Stop,
    /// SIGHUP: validate the configuration file again; apply it if it is good.
    Reload,
    /// A trail's lifecycle changed through the API (StartLogging, StopLogging,
    /// PutEventSelectors): rebuild the pipeline with the same file and the new state.
    Apply,
}

/// How a pipeline run ended.
pub(crate) enum Ended {
    /// The source is done (files) or a stop was requested.
    Done,
    /// A valid new configuration is to be applied.
    Reload(Box<Config>),
}

/// Runs the daemon: the HTTP endpoints for the whole process, and the pipeline, rebuilt when
/// SIGHUP brings a valid new configuration (a bad one is refused and the old one keeps running).
pub async fn run(config_path: PathBuf, mut config: Config) -> anyhow::Result<()> {
    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .context("installing the metrics recorder")?;
    trailpipe_telemetry::describe();
    let health = SinkHealth::default();
    let kafka = KafkaClients::default();
    kafka
        .preflight(&config)
        .await
        .map_err(|e| anyhow::anyhow!("{}: {e}", config_path.display()))?;
    let states = TrailStates::open(&config.state.dir)?;
    let (ctl_tx, mut ctl_rx) = mpsc::unbounded_channel();
    // Set once the control topic was read (below, after the HTTP endpoints are up, so that
    // /readyz can say why when the brokers cannot be reached).
    let group_slot: crate::api::GroupSlot = Arc::default();
    let replica = crate::group_status::replica_id();
    let signer_slot: crate::api::SignerSlot = Arc::default();
    let digests = DigestStatuses::default();
    let history = match &config.history {
        Some(h) => {
            let store = Arc::new(
                trailpipe_history::HistoryStore::open(h.clone()).with_context(|| {
                    format!("opening the event history at {}", h.path.display())
                })?,
            );
            let _ = store.prune(time::OffsetDateTime::now_utc().unix_timestamp());
            trailpipe_history::HistoryStore::spawn_pruner(&store, Duration::from_secs(60));
            Some(store)
        }
        None => None,
    };
    let (notifier, notifications) = open_notifier(&config).await?.unzip();
    let ctl_again = ctl_tx.clone();
    let shared = Arc::new(RwLock::new(Arc::new(config.clone())));
    let access = Arc::new(RwLock::new(Arc::new(api_access(&config)?)));
    let audit = Arc::new(RwLock::new(audit_sink(&config, &kafka)?));
    let backend = crate::api::Backend {
        config: shared.clone(),
        health: health.clone(),
        digests: digests.clone(),
        signer: signer_slot.clone(),
        history: history.clone(),
        states: states.clone(),
        control: ctl_tx.clone(),
        started: time::OffsetDateTime::now_utc(),
        access: access.clone(),
        audit: audit.clone(),
        lookups: Arc::new(tokio::sync::Semaphore::new(
            config.api.max_concurrent_lookups,
        )),
        unverified: Arc::new(crate::api::UnverifiedLimit::new(
            config.api.max_unverified_calls_per_sec,
        )),
        group: group_slot.clone(),
        notifications,
    };
    let api_tls = match (&config.api.tls, config.api.listen) {
        (Some(t), Some(_)) => Some(Arc::new(RwLock::new(crate::listener::load_tls(t)?))),
        _ => None,
    };
    let mut tls_watch = match (&api_tls, &config.api.tls) {
        (Some(slot), Some(t)) => Some(crate::listener::watch_tls(t.clone(), slot.clone())),
        _ => None,
    };
    let cwl_health = trailpipe_sink_cwl::CwlHealthSlot::default();
    let listeners = crate::http::start(
        &config,
        prometheus,
        health.clone(),
        kafka.health.clone(),
        cwl_health.clone(),
        backend,
        api_tls.clone(),
    )
    .await?;
    if let SourceConfig::Kafka(k) = &config.source {
        let (k, context, health) = (k.clone(), kafka.context(k)?, health.clone());
        tokio::spawn(async move {
            if let Some(why) = crate::kafka_check::missing_dead_letter_topic(&k, context).await {
                tracing::error!("{why}");
                health.dead_letters_failing(why);
            }
        });
    }
    tokio::spawn(signals(ctl_tx.clone()));
    // With Kafka, trail changes (and generated keys) live in the group's control topic: read
    // it to the end before anything is routed (retrying while the brokers cannot be reached:
    // /readyz says why meanwhile), and apply what any replica changes.
    let control_topic = match &config.source {
        SourceConfig::Kafka(k) => {
            let (changed_tx, mut changed_rx) = mpsc::unbounded_channel();
            let mut delay = Duration::from_secs(1);
            let topic = loop {
                let opened = crate::control_topic::ControlTopic::open(
                    k,
                    kafka.context(k)?,
                    &states,
                    changed_tx.clone(),
                    history.clone(),
                );
                tokio::select! {
                    r = opened => match r {
                        Ok(t) => break t,
                        Err(e) => {
                            tracing::error!(error = %format!("{e:#}"), "reading the control topic failed; retrying");
                        }
                    },
                    c = ctl_rx.recv() => if matches!(c, Some(Control::Stop) | None) {
                        return Ok(());
                    },
                }
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    c = ctl_rx.recv() => if matches!(c, Some(Control::Stop) | None) {
                        return Ok(());
                    },
                }
                delay = (delay * 2).min(Duration::from_secs(30));
            };
            states.use_topic(topic.clone());
            let _ = group_slot.set((topic.clone(), replica.clone()));
            let ctl = ctl_tx.clone();
            tokio::spawn(async move {
                while changed_rx.recv().await.is_some() {
                    if ctl.send(Control::Apply).is_err() {
                        break;
                    }
                }
            });
            Some(topic)
        }
        SourceConfig::File(_) => None,
    };
    let signer = if config.trails.iter().any(|t| t.enable_log_file_validation) {
        Some(crate::integrity::open_signer(&config, control_topic.as_ref(), true).await?)
    } else {
        None
    };
    if let Some(s) = &signer {
        let _ = signer_slot.set(s.clone());
    }
    let file_mac = crate::integrity::open_file_mac(&config, control_topic.as_ref()).await?;
    // Every replica publishes its delivery status for the others' GetTrailStatus answers.
    let _status_publisher = control_topic.clone().map(|t| {
        AbortOnDrop(Some(crate::group_status::spawn_publisher(
            t,
            replica.clone(),
            health.clone(),
            digests.clone(),
        )))
    });
    // The watchdog pings only while the control loop keeps ticking.
    let heartbeat = Arc::new(AtomicU64::new(now_secs()));
    let beat = heartbeat.clone();
    let _watchdog = trailpipe_service::spawn_watchdog(move || {
        now_secs().saturating_sub(beat.load(Ordering::Relaxed)) < 30
    });
    let status_health = health.clone();
    let mut throughput = trailpipe_service::Throughput::new();
    let _status = trailpipe_service::spawn_status_updates(Duration::from_secs(10), move || {
        let st = status_health.status();
        let line = throughput.status_line(st.records, st.files);
        match st.latest_error {
            Some(e) => format!("{line}; delivery failing: {e}"),
            None => line,
        }
    });
    let result = loop {
        let effective = Arc::new(states.apply(&config));
        let store = open_store(&effective).await;
        let digest_task = signer.clone().map(|s| {
            tokio::spawn(crate::integrity::run_digests(
                effective.clone(),
                store.clone(),
                s,
                file_mac.clone(),
                digests.clone(),
            ))
        });
        let ended = run_pipeline(
            &Shared {
                config_path: &config_path,
                health: &health,
                history: history.clone(),
                notifier: notifier.clone(),
                heartbeat: &heartbeat,
                kafka: &kafka,
                states: states.clone(),
                cwl_health: cwl_health.clone(),
                file_mac: file_mac.clone(),
                control: control_topic.clone(),
            },
            &config,
            &effective,
            store,
            &mut ctl_rx,
        )
        .await;
        if let Some(t) = digest_task {
            t.abort();
        }
        match ended {
            Ok(Ended::Done) => break Ok(()),
            Ok(Ended::Reload(new)) => {
                warn_restart_only(&config, &new);
                if let (Some(slot), Some(t)) = (&api_tls, &new.api.tls) {
                    if let Some(w) =
                        tls_watch.replace(crate::listener::watch_tls(t.clone(), slot.clone()))
                    {
                        w.abort();
                    }
                    crate::listener::reload_tls(t, slot, "configuration reloaded");
                }
                match audit_sink(&new, &kafka) {
                    Ok(a) => *audit.write().unwrap_or_else(|p| p.into_inner()) = a,
                    Err(e) => {
                        tracing::error!(error = %e, "the API self-record producer of the reloaded configuration could not be made; keeping the previous one")
                    }
                }
                match api_access(&new) {
                    Ok(a) => *access.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(a),
                    Err(e) => {
                        tracing::error!(error = %e, "[api] of the reloaded configuration refused; keeping the previous API access rules")
                    }
                }
                config = *new;
                *shared.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(config.clone());
                tracing::info!(trails = config.trails.len(), "configuration reloaded");
                coalesce_applies(&mut ctl_rx, &ctl_again);
            }
            Err(e) => break Err(e),
        }
    };
    for l in listeners.into_iter().chain(tls_watch) {
        l.abort();
    }
    result
}

/// Warns about changed settings that only a restart applies: the listeners and their limits.
fn warn_restart_only(old: &Config, new: &Config) {
    let listeners = |c: &Config| {
        (
            c.server.listen,
            c.server.max_connections,
            c.server.header_read_timeout_secs,
            c.api.listen,
            c.api.tls.is_some(),
            c.api.max_connections,
            c.api.max_concurrent_lookups,
            c.api.max_unverified_calls_per_sec,
        )
    };
    if listeners(old) != listeners(new) {
        tracing::warn!("[server] listen/limits and [api] listen/tls/limits change only at restart (certificates are reloaded)");
    }
}

/// The SNS notifier when a trail has `sns_topic_arn` (one client and rate limit for all topics:
/// the publish quota is per account and region), with its per-topic health for GetTrailStatus.
async fn open_notifier(
    config: &Config,
) -> anyhow::Result<
    Option<(
        trailpipe_sink_sns::BatchingNotifier,
        trailpipe_sink_sns::NotifierHealth,
    )>,
> {
    let topics: Vec<(&str, &str)> = config
        .trails
        .iter()
        .filter_map(|t| Some((t.sns_topic_arn.as_deref()?, t.name.as_str())))
        .collect();
    if topics.is_empty() {
        return Ok(None);
    }
    let mut n = trailpipe_sink_sns::Notifier::from_region(
        &config.storage.region,
        config.storage.endpoint_url.as_deref(),
        trailpipe_sink_sns::NotifierConfig::default(),
    )
    .await
    .context("creating the SNS client")?;
    for (topic, trail) in topics {
        n = n.with_trail(topic, trail);
    }
    let health = n.health();
    Ok(Some((
        trailpipe_sink_sns::BatchingNotifier::new(Arc::new(n), Duration::from_millis(500)),
        health,
    )))
}

/// Turns signals into control requests: SIGTERM/SIGINT stop (a second one exits at once:
/// nothing is lost, the replay covers it), SIGHUP reloads.
async fn signals(tx: mpsc::UnboundedSender<Control>) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    let mut hup = signal(SignalKind::hangup()).expect("installing a SIGHUP handler");
    let mut stopping = false;
    loop {
        let control = tokio::select! {
            _ = term.recv() => Control::Stop,
            _ = tokio::signal::ctrl_c() => Control::Stop,
            _ = hup.recv() => Control::Reload,
        };
        if control == Control::Stop {
            if stopping {
                tracing::warn!("second signal: exiting now; undelivered records will be replayed");
                std::process::exit(130);
            }
            stopping = true;
            trailpipe_service::notify_stopping();
            tracing::info!("signal received: shutting down (a second signal exits at once)");
        }
        if tx.send(control).is_err() {
            return;
        }
    }
}

/// Drops the lifecycle changes that arrived while the last pipeline drained: the next
/// pipeline is built from the trails' current state, which already holds them all, so a burst
/// of API calls costs one rebuild, not one each. Signals seen meanwhile are queued again, in
/// order.
fn coalesce_applies(
    ctl_rx: &mut mpsc::UnboundedReceiver<Control>,
    ctl_tx: &mpsc::UnboundedSender<Control>,
) {
    let mut dropped = 0;
    let mut keep = Vec::new();
    while let Ok(c) = ctl_rx.try_recv() {
        match c {
            Control::Apply => dropped += 1,
            other => keep.push(other),
        }
    }
    if dropped > 0 {
        tracing::info!(
            changes = dropped,
            "lifecycle changes made during the rebuild are in it already"
        );
    }
    for c in keep {
        let _ = ctl_tx.send(c);
    }
}

/// The producer of the API's self-records for `config`'s source (see `audit`).
fn audit_sink(
    config: &Config,
    kafka: &KafkaClients,
) -> anyhow::Result<Option<Arc<crate::audit::AuditSink>>> {
    let SourceConfig::Kafka(k) = &config.source else {
        return Ok(None);
    };
    let sink = crate::audit::AuditSink::open(config, kafka.context(k)?)
        .context("creating the API self-record producer")?;
    Ok(sink.map(Arc::new))
}

/// The CloudTrail API's access rules from `[api]`, warning loudly when anyone may change trails.
fn api_access(config: &Config) -> anyhow::Result<trailpipe_auth::ApiAccess> {
    let access = trailpipe_auth::ApiAccess::from_config(config).context("[api] credentials")?;
    if access.allow_unauthenticated() {
        tracing::warn!(
            listen = %config.server.listen,
            "[api] allow_unauthenticated = true: ANYONE who reaches this port can stop trails, change their selectors and read every stored event; use it for demos only and configure [[api.credentials]] instead"
        );
    } else if access.credentials().is_empty() {
        tracing::info!("no [[api.credentials]] configured: the CloudTrail API is read-only (mutating calls are refused)");
    }
    Ok(access)
}

pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Reads and validates the configuration file again for a reload, and preflights its Kafka
/// client (`kafka_check::preflight`: build support, readable and matching TLS files, MSK IAM
/// credentials); `None` (and the reasons logged) when it is bad.
pub(crate) async fn reload_config(path: &std::path::Path, kafka: &KafkaClients) -> Option<Config> {
    trailpipe_service::notify_reloading();
    let loaded = match Config::load(path) {
        Ok(c) => match kafka.preflight(&c).await {
            Ok(()) => Ok(c),
            Err(e) => Err(vec![e]),
        },
        Err(errors) => Err(errors.iter().map(ToString::to_string).collect()),
    };
    match loaded {
        Ok(c) => Some(c),
        Err(errors) => {
            for e in &errors {
                tracing::error!(config = %path.display(), error = %e, "reload refused: keeping the running configuration");
            }
            trailpipe_service::notify_status(&format!(
                "reload refused ({} mistake(s) in {}); running the previous configuration",
                errors.len(),
                path.display()
            ));
            trailpipe_service::notify_ready();
            None
        }
    }
}
