//! `trailpipe run`: builds the stages from the configuration and runs them.
//!
//! Channels between stages are bounded (messages between ingest, router and batcher; a few
//! segments between batcher and delivery), so a slow store slows the consumer instead of growing
//! memory. Acknowledgements flow back on an unbounded channel: they are small, and delivery must
//! never block on ingest.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use tokio::sync::{mpsc, watch};
use trailpipe_batcher::{Batcher, BatcherConfig, InFlight, TrailOutput};
use trailpipe_config::{Config, SourceConfig, StorageKind};
use trailpipe_ingest::{run_file_source, run_kafka_source, DeadLetterWriter, KafkaSettings};
use trailpipe_router::Router;
use trailpipe_sink_s3::{Delivery, SinkHealth, Store};

use crate::adapters::{DeadLetters, StoreCutLookup};

/// Messages buffered between ingest, router and batcher (each side).
const FLOW_CHANNEL: usize = 4096;
/// Cut segments waiting to be built or delivered.
const SEGMENT_CHANNEL: usize = 4;

fn batcher_config(config: &Config) -> BatcherConfig {
    BatcherConfig {
        trails: config
            .trails
            .iter()
            .map(|t| TrailOutput {
                name: t.name.as_str().into(),
                bucket: t.s3_bucket_name.as_str().into(),
                prefix: t
                    .s3_key_prefix
                    .as_deref()
                    .filter(|p| !p.is_empty())
                    .map(Into::into),
                max_file_bytes: t.max_file_bytes,
                max_file_records: t.max_file_records,
                delivery_interval: Duration::from_secs(t.delivery_interval_secs),
            })
            .collect(),
        max_segment_bytes: config.delivery.max_segment_bytes,
        compression_level: config.delivery.compression_level,
    }
}

async fn open_store(config: &Config) -> Store {
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

/// Runs the pipeline until the source ends (files) or a signal arrives (Kafka).
pub async fn run(config: Config) -> anyhow::Result<()> {
    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .context("installing the metrics recorder")?;
    trailpipe_telemetry::describe();
    let health = SinkHealth::default();
    let listener = tokio::spawn(crate::http::serve(
        config.server.listen,
        prometheus,
        health.clone(),
    ));

    let store = open_store(&config).await;
    let dead = match &config.source {
        SourceConfig::Kafka(k) => {
            DeadLetterWriter::kafka(&k.brokers, &k.dead_letter_topic, &librdkafka(k))
                .context("creating the dead-letter producer")?
        }
        SourceConfig::File(f) => DeadLetterWriter::file(f.dead_letter_path.clone()),
    };
    let selectors = config
        .trails
        .iter()
        .map(|t| {
            (
                t.name.clone(),
                config.trail_selector(t).expect("validated by Config::load"),
            )
        })
        .collect();
    let trail_names = config
        .trails
        .iter()
        .map(|t| Arc::from(t.name.as_str()))
        .collect();

    let (src_tx, src_rx) = mpsc::channel(FLOW_CHANNEL);
    let (routed_tx, routed_rx) = mpsc::channel(FLOW_CHANNEL);
    let (seg_tx, seg_rx) = mpsc::channel(SEGMENT_CHANNEL);
    let (ack_tx, ack_rx) = mpsc::unbounded_channel();
    tokio::spawn(Router::new(selectors).run(src_rx, routed_tx));
    // Shared so that a replay looks up recorded cuts only after earlier deliveries settled.
    let inflight = Arc::new(InFlight::default());
    let lookup = Arc::new(StoreCutLookup(store.clone()));
    let batcher = Batcher::new(batcher_config(&config), lookup, seg_tx, inflight.clone());
    tokio::spawn(batcher.run(routed_rx));
    let dead = Arc::new(DeadLetters(dead));
    let delivery = Delivery::new(store.clone(), dead, ack_tx, health, trail_names, inflight);
    let delivery = tokio::spawn(delivery.run(seg_rx));

    let result = match &config.source {
        SourceConfig::Kafka(k) => {
            let (stop_tx, stop_rx) = watch::channel(false);
            tokio::spawn(async move {
                wait_for_signal().await;
                tracing::info!("signal received: shutting down (a second signal exits at once)");
                let _ = stop_tx.send(true);
                wait_for_signal().await;
                tracing::warn!("second signal: exiting now; undelivered records will be replayed");
                std::process::exit(130);
            });
            let settings = KafkaSettings {
                brokers: k.brokers.clone(),
                topics: k.topics.clone(),
                group_id: k.group_id.clone(),
                max_record_bytes: k.max_record_bytes,
                librdkafka: librdkafka(k),
            };
            run_kafka_source(
                settings,
                src_tx,
                ack_rx,
                stop_rx,
                Duration::from_secs(config.delivery.shutdown_grace_secs),
            )
            .await
            .context("kafka source")
        }
        SourceConfig::File(f) => {
            let summary = tokio::select! {
                s = run_file_source(f.path.clone(), f.max_record_bytes, src_tx, ack_rx) => s.context("file source")?,
                _ = wait_for_signal() => anyhow::bail!("interrupted before every file was delivered"),
            };
            let _ = delivery.await;
            print_summary(&config, &store, &summary, &f.dead_letter_path).await;
            Ok(())
        }
    };
    listener.abort();
    result
}

fn librdkafka(k: &trailpipe_config::KafkaSource) -> Vec<(String, String)> {
    k.librdkafka
        .iter()
        .map(|(a, b)| (a.clone(), b.clone()))
        .collect()
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
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
        let prefix = match &t.s3_key_prefix {
            Some(p) if !p.is_empty() => format!("{p}/AWSLogs/"),
            _ => "AWSLogs/".to_string(),
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
