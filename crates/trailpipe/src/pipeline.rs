//! One pipeline: the stages and sinks built from one configuration and wired together —
//! source → router → batcher → delivery (log files, CloudWatch Logs, rules' targets, dead
//! letters, SNS, history, in that order) — plus the Insights stage and the CloudWatch Logs and
//! rules fast paths, run until the source ends, a stop is requested or a reload replaces it.
//!
//! Channels between stages are bounded (messages between ingest, router and batcher; a few
//! segments between batcher and delivery), so a slow store slows the consumer instead of growing
//! memory. Acknowledgements flow back on an unbounded channel: they are small, and delivery must
//! never block on ingest.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use anyhow::Context;
use tokio::sync::{mpsc, watch};
use trailpipe_batcher::{Batcher, BatcherConfig, InFlight};
use trailpipe_config::{Config, SourceConfig};
use trailpipe_delivery::{Delivery, Sink, SinkHealth};
use trailpipe_ingest::{run_file_source, run_kafka_source, DeadLetterWriter};
use trailpipe_insights::stage::{InsightSinks, InsightsStage};
use trailpipe_router::Router;
use trailpipe_sink_s3::LogFiles;
use trailpipe_store::Store;

use crate::{
    adapters::StoreCutLookup,
    lifecycle::TrailStates,
    run::{
        now_secs, reload_config, trail_selector, Control, Ended, KafkaClients, CHANGE_SETTLE,
        MIN_REBUILD_SPACING,
    },
};

/// Messages buffered between ingest, router and batcher (each side).
const FLOW_CHANNEL: usize = 4096;
/// Cut segments waiting to be built or delivered.
const SEGMENT_CHANNEL: usize = 4;
fn batcher_config(config: &Config, trails: Arc<[trailpipe_event::Trail]>) -> BatcherConfig {
    BatcherConfig {
        trails,
        max_segment_bytes: config.delivery.max_segment_bytes,
        compression_level: config.delivery.compression_level,
        // With Kafka the history indexer reads the stream itself: segments need not carry it.
        history: config.history.is_some() && matches!(config.source, SourceConfig::File(_)),
    }
}

/// Aborts a task when dropped (a pipeline's helper tasks end with it).
pub(crate) struct AbortOnDrop(pub(crate) Option<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            t.abort();
        }
    }
}

/// What outlives pipelines: the configuration file, sinks' health, the event history and the
/// control loop's heartbeat.
pub(crate) struct Shared<'a> {
    pub(crate) config_path: &'a std::path::Path,
    pub(crate) health: &'a SinkHealth,
    pub(crate) history: Option<Arc<trailpipe_history::HistoryStore>>,
    pub(crate) notifier: Option<trailpipe_sink_sns::BatchingNotifier>,
    pub(crate) heartbeat: &'a AtomicU64,
    pub(crate) kafka: &'a KafkaClients,
    /// What the API changed about the trails (applied in place on a Kafka source).
    pub(crate) states: TrailStates,
    /// The pipeline's CloudWatch Logs sink, for `/readyz`.
    pub(crate) cwl_health: trailpipe_sink_cwl::CwlHealthSlot,
    /// Signs every log file's metadata.
    pub(crate) file_mac: Arc<trailpipe_logfile::FileMac>,
    /// The group's control topic (Kafka sources).
    pub(crate) control: Option<Arc<crate::control_topic::ControlTopic>>,
}

/// Builds the stages for `config` and runs them until the source ends, a stop is requested, or
/// a reload brings a valid configuration (then the source drains and commits first).
pub(crate) async fn run_pipeline(
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
    let with_insights: Vec<_> = config
        .trails
        .iter()
        .enumerate()
        .filter_map(|(i, t)| Some((i, config.insight_config(t)?)))
        .collect();
    let leader = match (&config.source, with_insights.is_empty()) {
        (SourceConfig::Kafka(k), false) => Some(crate::insights_reader::InsightsLeader::start(k)),
        _ => None,
    };
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
    // The rules fast path: the batcher matches each record as it reads it and hands the
    // matched ones to the rules stage, which delivers them to the rules' targets.
    let rules_context = match &config.source {
        SourceConfig::Kafka(k) if !config.rules.is_empty() => Some(shared.kafka.context(k)?),
        _ => None,
    };
    let rules = trailpipe_sink_rules::RulesStage::open(config, rules_context)
        .await
        .map_err(anyhow::Error::msg)
        .context("setting up the rules' targets")?;
    let (rules_feed, rules_task) = match &rules {
        Some(r) => {
            let (feed, task) = r.start_feed(Arc::new(config.compile_rules()));
            (Some(feed), Some(task))
        }
        None => (None, None),
    };
    let _rules_task = AbortOnDrop(rules_task);
    let budget = trailpipe_event::MemoryBudget::new(config.delivery.max_inflight_bytes);
    let batcher = Batcher::new(
        batcher_config(config, trails.clone()),
        lookup,
        seg_tx,
        inflight.clone(),
    )
    .with_cwl(cwl_feed)
    .with_rules(rules_feed)
    .with_budget(budget.clone());
    tokio::spawn(batcher.run(routed_rx));
    // The sinks every segment visits, in this order (see trailpipe_delivery): the log files
    // (their anchor decides whether the segment may be written), CloudWatch Logs (which may
    // refuse records), the rules' targets (likewise), the dead letters (the segment's and those
    // refused), SNS, the history.
    let delivery = Delivery::new(ack_tx, inflight, health.clone())
        .register(Arc::new(LogFiles::new(
            store.clone(),
            trails.clone(),
            shared.file_mac.clone(),
            health.clone(),
        )))
        .register_some(cwl.clone().map(|c| c as Arc<dyn Sink>))
        .register_some(rules.clone().map(|r| r as Arc<dyn Sink>))
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
