//! `trailpipe bench-floor` (hidden; for `scripts/bench.sh`): the hardware's floor for a
//! benchmark topic — a bare consumer with the group consumer's librdkafka settings that only
//! turns batches of the record bytes into log-file bodies (`trailpipe_logfile::LogFileWriter`:
//! the same gzip, level and SHA-256 as trailpipe's files) on `--threads` threads, as
//! `../shared/design.md` §8 measures it: no parsing, no routing, no upload, no commit. The
//! benchmark prints trailpipe's records/s as a ratio of this one, measured in the same run on
//! the same topic.

use std::{
    sync::mpsc,
    time::{Duration, Instant},
};

use anyhow::Context;
use rdkafka::{
    consumer::{BaseConsumer, Consumer},
    Message as _,
};

/// `trailpipe bench-floor` arguments.
#[derive(clap::Args)]
pub struct FloorArgs {
    /// Kafka bootstrap servers.
    #[arg(long)]
    brokers: String,
    /// The topic to read from its beginning.
    #[arg(long)]
    topic: String,
    /// Stop after this many messages.
    #[arg(long)]
    records: u64,
    /// Threads compressing and hashing batches.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Uncompressed bytes per batch (one log file's worth).
    #[arg(long, default_value_t = 10 * 1024 * 1024)]
    batch_bytes: usize,
    /// An extra librdkafka property, KEY=VALUE (repeatable), as for `generate`.
    #[arg(long = "property", short = 'X', value_name = "KEY=VALUE", value_parser = crate::generate::parse_property)]
    properties: Vec<(String, String)>,
}

/// Reads `records` messages and compresses and hashes them; prints the rate.
pub fn run(args: FloorArgs) -> anyhow::Result<()> {
    let settings = trailpipe_ingest::KafkaSettings {
        brokers: args.brokers.clone(),
        topics: vec![args.topic.clone()],
        group_id: format!("trailpipe-floor-{}", std::process::id()),
        limits: Default::default(),
        properties: args.properties.clone(),
        context: trailpipe_ingest::SecureContext::new("floor", None, Default::default()),
        assignment: None,
    };
    let consumer: BaseConsumer = settings
        .client_config()
        .create()
        .context("creating the consumer")?;
    consumer.subscribe(&[&args.topic])?;
    let start = Instant::now();
    let (tx, rx) = mpsc::sync_channel::<Vec<bytes::Bytes>>(args.threads);
    let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
    let workers: Vec<_> = (0..args.threads.max(1))
        .map(|_| {
            let rx = rx.clone();
            std::thread::spawn(move || {
                let mut compressed = 0usize;
                loop {
                    let batch = match rx.lock().expect("queue").recv() {
                        Ok(b) => b,
                        Err(_) => return compressed,
                    };
                    let bytes: usize = batch.iter().map(|r| r.len() + 1).sum();
                    let mut w = trailpipe_logfile::LogFileWriter::new(
                        trailpipe_logfile::DEFAULT_COMPRESSION_LEVEL,
                        bytes + 16,
                    );
                    for r in &batch {
                        w.push(r);
                    }
                    let body = std::hint::black_box(w.finish());
                    compressed += body.gzip.len();
                }
            })
        })
        .collect();
    let (mut read, mut batch, mut bytes) = (0u64, Vec::new(), 0usize);
    // The rate is timed from the first record (as the benchmark times trailpipe's steady rate
    // past its start-up): joining the group is not work per record.
    let mut first: Option<Instant> = None;
    while read < args.records {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                first.get_or_insert_with(Instant::now);
                // One copy out of librdkafka's buffer, as the pipeline makes.
                let record = bytes::Bytes::copy_from_slice(m.payload().unwrap_or_default());
                bytes += record.len() + 1;
                batch.push(record);
                read += 1;
                if bytes >= args.batch_bytes {
                    tx.send(std::mem::take(&mut batch))?;
                    bytes = 0;
                }
            }
            Some(Err(e)) => anyhow::bail!("reading {}: {e}", args.topic),
            None if start.elapsed() > Duration::from_secs(600) => {
                anyhow::bail!("only {read} of {} messages in 10 minutes", args.records)
            }
            None => {}
        }
    }
    tx.send(batch)?;
    drop(tx);
    let compressed: usize = workers.into_iter().map(|w| w.join().expect("worker")).sum();
    let secs = first.unwrap_or(start).elapsed().as_secs_f64();
    println!(
        "floor {read} records in {secs:.1}s from the first = {:.0} records/s (consume + log-file gzip and SHA-256 on {} threads; {:.1} MiB compressed)",
        read as f64 / secs,
        args.threads,
        compressed as f64 / (1 << 20) as f64
    );
    Ok(())
}
