//! `trailpipe run`: builds the stages from the configuration and runs them.
//!
//! Channels between stages are bounded (messages between ingest, router and batcher; a few
//! segments between batcher and delivery), so a slow store slows the consumer instead of growing
//! memory. Acknowledgements flow back on an unbounded channel: they are small, and delivery must
//! never block on ingest.
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
use tokio::sync::{mpsc, watch};
use trailpipe_batcher::{Batcher, BatcherConfig, InFlight};
use trailpipe_config::{Config, SourceConfig, StorageKind};
use trailpipe_delivery::{Delivery, Sink, SinkHealth};
use trailpipe_ingest::{
    run_file_source, run_kafka_source, DeadLetterWriter, KafkaHealth, MskIamAuth, SecureContext,
};
use trailpipe_insights::stage::{InsightSinks, InsightsStage};
use trailpipe_router::Router;
use trailpipe_sink_s3::LogFiles;
use trailpipe_store::Store;

use crate::{adapters::StoreCutLookup, integrity::DigestStatuses, lifecycle::TrailStates};

/// What the Kafka clients of successive pipelines share: the connection health `/readyz`
/// shows, and the MSK IAM token source the last successful preflight made.
#[derive(Default)]
struct KafkaClients {
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
    fn context(&self, k: &trailpipe_config::KafkaSource) -> anyhow::Result<SecureContext> {
        let msk = if k.aws_msk_iam.is_some() {
            let m = self.msk.lock().unwrap_or_else(|p| p.into_inner()).clone();
            Some(m.context("source.aws_msk_iam: no token source (preflight did not run)")?)
        } else {
            None
        };
        Ok(SecureContext::new("consumer", msk, self.health.clone()))
    }
}

/// Messages buffered between ingest, router and batcher (each side).
const FLOW_CHANNEL: usize = 4096;
/// Cut segments waiting to be built or delivered.
const SEGMENT_CHANNEL: usize = 4;
/// Least time between the starts of two pipelines rebuilt for lifecycle changes: a rebuild
/// drains, commits and rejoins the consumer group, so a burst of changes (a script looping
/// over `StopLogging`/`StartLogging`) costs one rebuild per this interval, not one per call.
/// The trails' state changes at once (`GetTrailStatus` answers it); the pipeline follows
/// within this interval.
const MIN_REBUILD_SPACING: Duration = Duration::from_secs(3);
/// Least time between a lifecycle change and the rebuild that applies it. The call's own
/// self-record is in Kafka before the API answers; this gives the running pipeline time to
/// read and route it, so a trail records its own `StopLogging` (CIS 3.5 watches exactly
/// that, and CloudTrail logs it in the trail it stops) unless the consumer lags behind by more.
const CHANGE_SETTLE: Duration = Duration::from_secs(2);

/// `t`'s compiled selectors in `config` (validated when it was loaded).
fn trail_selector(
    config: &Config,
    t: &trailpipe_config::TrailConfig,
) -> trailpipe_selectors::TrailSelector {
    config.trail_selector(t).expect("validated by Config::load")
}

fn batcher_config(config: &Config, trails: Arc<[trailpipe_event::Trail]>) -> BatcherConfig {
    BatcherConfig {
        trails,
        max_segment_bytes: config.delivery.max_segment_bytes,
        compression_level: config.delivery.compression_level,
        // With Kafka the history indexer reads the stream itself: segments need not carry it.
        history: config.history.is_some() && matches!(config.source, SourceConfig::File(_)),
    }
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
enum Ended {
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

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Reads and validates the configuration file again for a reload, and preflights its Kafka
/// client (`kafka_check::preflight`: build support, readable and matching TLS files, MSK IAM
/// credentials); `None` (and the reasons logged) when it is bad.
async fn reload_config(path: &std::path::Path, kafka: &KafkaClients) -> Option<Config> {
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

/// Builds the stages for `config` and runs them until the source ends, a stop is requested, or
/// a reload brings a valid configuration (then the source drains and commits first).
/// Aborts a task when dropped (a pipeline's helper tasks end with it).
struct AbortOnDrop(Option<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            t.abort();
        }
    }
}

/// What outlives pipelines: the configuration file, sinks' health, the event history and the
/// control loop's heartbeat.
struct Shared<'a> {
    config_path: &'a std::path::Path,
    health: &'a SinkHealth,
    history: Option<Arc<trailpipe_history::HistoryStore>>,
    notifier: Option<trailpipe_sink_sns::BatchingNotifier>,
    heartbeat: &'a AtomicU64,
    kafka: &'a KafkaClients,
    /// What the API changed about the trails (applied in place on a Kafka source).
    states: TrailStates,
    /// The pipeline's CloudWatch Logs sink, for `/readyz`.
    cwl_health: trailpipe_sink_cwl::CwlHealthSlot,
    /// Signs every log file's metadata.
    file_mac: Arc<trailpipe_logfile::FileMac>,
    /// The group's control topic (Kafka sources).
    control: Option<Arc<crate::control_topic::ControlTopic>>,
}

async fn run_pipeline(
    shared: &Shared<'_>,
    file_config: &Config,
    config: &Config,
    store: Store,
    ctl: &mut mpsc::UnboundedReceiver<Control>,
) -> anyhow::Result<Ended> {
    let (config_path, health, heartbeat) = (shared.config_path, shared.health, shared.heartbeat);
    let history = shared.history.clone();
    // With Kafka, every replica indexes the whole stream into its own history with a reader
    // of its own, outside the group (`history_indexer`); delivery leaves the history alone.
    // A file run is one process: delivery stores the events of the segments it delivers.
    let _history_indexer = match (&config.source, &history) {
        (SourceConfig::Kafka(k), Some(h)) => Some(
            crate::history_indexer::HistoryIndexer::start(k, shared.kafka.context(k)?, h.clone())
                .context("starting the event history indexer")?,
        ),
        _ => None,
    };
    let cwl_trails: Vec<_> = config
        .trails
        .iter()
        .map(|t| (t.name.as_str(), t.cloud_watch_logs.as_ref()))
        .collect();
    let mut cwl_sink = trailpipe_sink_cwl::CwlSinkConfig::new(config.storage.region.clone());
    cwl_sink.endpoint_url = config.storage.endpoint_url.clone();
    let cwl = trailpipe_sink_cwl::CwlStage::open(&cwl_trails, &config.cloudwatch_logs, cwl_sink)
        .await
        .context("setting up CloudWatch Logs delivery")?;
    *shared.cwl_health.lock().unwrap_or_else(|p| p.into_inner()) = cwl.as_ref().map(|c| c.sink());
    let alarms = cwl.clone().map(|c| tokio::spawn(c.run_alarms()));
    let _alarms = AbortOnDrop(alarms);
    let dead = match &config.source {
        SourceConfig::Kafka(k) => {
            let context = shared.kafka.context(k)?;
            DeadLetterWriter::kafka(
                &k.brokers,
                &k.dead_letter_topic,
                &k.client_properties(),
                k.max_message_bytes,
                context,
            )
            .context("creating the dead-letter producer")?
        }
        SourceConfig::File(f) => DeadLetterWriter::file(f.dead_letter_path.clone()),
    };
    let selectors: Vec<(String, trailpipe_selectors::TrailSelector)> = config
        .trails
        .iter()
        .map(|t| (t.name.clone(), trail_selector(config, t)))
        .collect();
    // Lifecycle changes swap the router's selectors in place (see the Kafka control loop).
    let (routes_tx, routes_rx) = watch::channel(selectors.iter().map(|s| s.1.clone()).collect());
    // Every stage and sink indexes this one slice by the route bit.
    let trails = config.compile_trails();

    let (src_tx, src_rx) = mpsc::channel(FLOW_CHANNEL);
    let (routed_tx, routed_rx) = mpsc::channel(FLOW_CHANNEL);
    let (seg_tx, seg_rx) = mpsc::channel(SEGMENT_CHANNEL);
    let (ack_tx, ack_rx) = mpsc::unbounded_channel();
    // With Kafka, Insights see the whole stream through a reader of their own, and the
    // group's leader writes (see `insights_reader`); a file run taps the router.
    let leader = match (
        &config.source,
        config
            .trails
            .iter()
            .any(|t| config.insight_config(t).is_some()),
    ) {
        (SourceConfig::Kafka(k), true) => Some(crate::insights_reader::InsightsLeader::start(k)),
        _ => None,
    };
    let with_insights = config
        .trails
        .iter()
        .enumerate()
        .filter_map(|(i, t)| Some((i, config.insight_config(t)?)))
        .collect();
    let insights = InsightsStage::open(
        &trails,
        with_insights,
        InsightSinks {
            store: store.clone(),
            history: history.clone(),
            cwl: cwl.clone(),
            health: health.clone(),
            leading: leader.as_ref().map(|l| l.leading.clone()),
            publish: shared
                .control
                .clone()
                .map(|c| Arc::new(crate::adapters::ControlInsights(c)) as _),
        },
        // A file run reads its input once and starts fresh.
        matches!(config.source, SourceConfig::Kafka(_))
            .then(|| config.state.dir.join("insights"))
            .as_deref(),
    )
    .context("setting up Insights")?;
    let mut router = Router::new(selectors).with_updates(routes_rx.clone());
    let mut insights_task = None;
    let mut insights_reader = None;
    if let Some((mut stage, mask)) = insights {
        let (tap_tx, tap_rx) = mpsc::channel(trailpipe_insights::stage::TAP_CHANNEL);
        match &config.source {
            SourceConfig::Kafka(k) => {
                let held = Arc::new(std::sync::atomic::AtomicUsize::new(0));
                let feed = crate::insights_reader::InsightsFeed::new(
                    mask,
                    routes_rx,
                    stage.resume_positions(),
                    tap_tx,
                    held.clone(),
                );
                stage = stage.with_upstream(held);
                insights_reader = Some(
                    feed.start(k, shared.kafka.context(k)?)
                        .context("starting the Insights reader")?,
                );
            }
            SourceConfig::File(_) => router = router.with_tap(mask, tap_tx),
        }
        insights_task = Some(tokio::spawn(stage.run(tap_rx)));
    }
    // Ends when the source's side closes, and with it the Insights stage's input.
    tokio::spawn(router.run(src_rx, routed_tx));
    // Shared so that a replay looks up recorded cuts only after earlier deliveries settled.
    let inflight = Arc::new(InFlight::default());
    let lookup = Arc::new(StoreCutLookup(store.clone()));
    // The CloudWatch Logs fast path: fed by the batcher as it reads, ends after it.
    let (cwl_feed, cwl_task) = match &cwl {
        Some(c) => {
            let (feed, task) = c.start_feed();
            (Some(feed), Some(task))
        }
        None => (None, None),
    };
    let _cwl_task = AbortOnDrop(cwl_task);
    let budget = trailpipe_event::MemoryBudget::new(config.delivery.max_inflight_bytes);
    let batcher = Batcher::new(
        batcher_config(config, trails.clone()),
        lookup,
        seg_tx,
        inflight.clone(),
    )
    .with_cwl(cwl_feed)
    .with_budget(budget.clone());
    tokio::spawn(batcher.run(routed_rx));
    // The sinks every segment visits, in this order (see trailpipe_delivery): the log files
    // (their anchor decides whether the segment may be written), CloudWatch Logs (which may
    // refuse records), the dead letters (the segment's and those refused), SNS, the history.
    let delivery = Delivery::new(ack_tx, inflight, health.clone())
        .register(Arc::new(LogFiles::new(
            store.clone(),
            trails.clone(),
            shared.file_mac.clone(),
            health.clone(),
        )))
        .register_some(cwl.clone().map(|c| c as Arc<dyn Sink>))
        .register(Arc::new(trailpipe_ingest::DeadLetters::new(
            dead,
            health.clone(),
        )))
        .register_some(shared.notifier.clone().map(|n| {
            Arc::new(trailpipe_sink_sns::FileNotifications::new(
                n,
                trails.clone(),
                health.clone(),
            )) as Arc<dyn Sink>
        }))
        .register_some(match config.source {
            // With Kafka every replica's history indexer reads the whole stream instead.
            SourceConfig::File(_) => history.map(|h| {
                Arc::new(trailpipe_history::HistorySink::new(h, health.clone())) as Arc<dyn Sink>
            }),
            SourceConfig::Kafka(_) => None,
        });
    let mut delivery = tokio::spawn(delivery.run(seg_rx));
    let grace = Duration::from_secs(config.delivery.shutdown_grace_secs);
    let mut tick = tokio::time::interval(Duration::from_secs(1));

    match &config.source {
        SourceConfig::Kafka(k) => {
            let (stop_tx, stop_rx) = watch::channel(false);
            let (barrier_tx, barrier_rx) = mpsc::unbounded_channel();
            let mut settings = crate::kafka_check::settings(k, shared.kafka.context(k)?);
            settings.assignment = leader.as_ref().map(|l| l.assignment());
            let mut source = tokio::spawn(run_kafka_source(
                settings, budget, src_tx, ack_rx, barrier_rx, stop_rx, grace,
            ));
            trailpipe_service::notify_ready();
            let mut ended = Ended::Done;
            let mut stopping = false;
            // When lifecycle changes are applied (see MIN_REBUILD_SPACING).
            let mut earliest_rebuild = tokio::time::Instant::now() + MIN_REBUILD_SPACING;
            let mut rebuild_at: Option<tokio::time::Instant> = None;
            loop {
                tokio::select! {
                    r = &mut source => {
                        r.context("kafka source task")?.context("kafka source")?;
                        break;
                    }
                    _ = tick.tick() => heartbeat.store(now_secs(), Ordering::Relaxed),
                    _ = tokio::time::sleep_until(rebuild_at.unwrap_or(earliest_rebuild)), if rebuild_at.is_some() && !stopping => {
                        // In place, without leaving the consumer group: every record read so
                        // far is delivered and committed under the old selectors, then the
                        // router takes the trails' state as it is at that moment.
                        tracing::info!("trail lifecycle changed: delivering what was read, then routing by the new state");
                        let (states, file_config, routes) =
                            (shared.states.clone(), file_config.clone(), routes_tx.clone());
                        let _ = barrier_tx.send(trailpipe_ingest::Barrier {
                            then: Box::new(move || {
                                let effective = states.apply(&file_config);
                                let selectors = effective
                                    .trails
                                    .iter()
                                    .map(|t| trail_selector(&effective, t))
                                    .collect();
                                let _ = routes.send(selectors);
                                tracing::info!("trail lifecycle applied: routing by the new state");
                            }),
                        });
                        rebuild_at = None;
                        earliest_rebuild = tokio::time::Instant::now() + MIN_REBUILD_SPACING;
                    }
                    c = ctl.recv(), if !stopping => match c {
                        Some(Control::Reload) => {
                            if let Some(new) = reload_config(config_path, shared.kafka).await {
                                ended = Ended::Reload(Box::new(new));
                                stopping = true;
                                let _ = stop_tx.send(true);
                            }
                        }
                        // Changes made before the barrier completes are in it: the router
                        // takes the trails' state then.
                        Some(Control::Apply) => {
                            rebuild_at.get_or_insert(earliest_rebuild.max(tokio::time::Instant::now() + CHANGE_SETTLE));
                        }
                        Some(Control::Stop) | None => {
                            ended = Ended::Done;
                            stopping = true;
                            let _ = stop_tx.send(true);
                        }
                    },
                }
            }
            // The source has drained and committed; let deliveries still in flight finish
            // before the next pipeline's replay looks at the store.
            let _ = tokio::time::timeout(grace, &mut delivery).await;
            // The Insights reader stops (dropping its sender), then the stage snapshots.
            drop(insights_reader);
            if let Some(t) = insights_task {
                let _ = tokio::time::timeout(grace, t).await;
            }
            drop(leader);
            if let Some(c) = &cwl {
                let _ = tokio::time::timeout(grace, c.publish_metric_data()).await;
            }
            Ok(ended)
        }
        SourceConfig::File(f) => {
            trailpipe_service::notify_ready();
            let files = run_file_source(
                f.path.clone(),
                config.source.parse_limits(),
                budget,
                src_tx,
                ack_rx,
            );
            tokio::pin!(files);
            let summary = loop {
                tokio::select! {
                    s = &mut files => break s.context("file source")?,
                    _ = tick.tick() => heartbeat.store(now_secs(), Ordering::Relaxed),
                    c = ctl.recv() => match c {
                        Some(Control::Reload) | Some(Control::Apply) => {
                            tracing::warn!("a file run reads its inputs once; configuration changes apply to the next run");
                            trailpipe_service::notify_ready();
                        }
                        Some(Control::Stop) | None => anyhow::bail!("interrupted before every file was delivered"),
                    },
                }
            };
            let _ = delivery.await;
            if let Some(t) = insights_task {
                let _ = t.await;
            }
            if let Some(c) = &cwl {
                c.publish_metric_data().await;
            }
            print_summary(config, &store, &summary, &f.dead_letter_path).await;
            Ok(Ended::Done)
        }
    }
}

/// What a file run delivered, for people running the demo or a backfill.
async fn print_summary(
    config: &Config,
    store: &Store,
    s: &trailpipe_ingest::FileSourceSummary,
    dead: &std::path::Path,
) {
    println!(
        "read {} record(s) from {} file(s); {} record(s) written to log files; {} dead letter(s){}",
        s.records,
        s.files,
        s.delivered,
        s.dead_letters,
        if s.dead_letters > 0 {
            format!(" in {}", dead.display())
        } else {
            String::new()
        }
    );
    for t in &config.trails {
        let prefix = match t.key_prefix() {
            Some(p) => format!("{p}/AWSLogs/"),
            None => "AWSLogs/".to_string(),
        };
        match store.list(&t.s3_bucket_name, &prefix).await {
            Ok(keys) => {
                println!(
                    "trail {:?}: {} log file(s) under {}/{}",
                    t.name,
                    keys.len(),
                    t.s3_bucket_name,
                    prefix
                );
                for k in keys.iter().take(3) {
                    println!("  {k}");
                }
                if keys.len() > 3 {
                    println!("  ...");
                }
            }
            Err(e) => println!("trail {:?}: cannot list {}: {e}", t.name, t.s3_bucket_name),
        }
    }
}
