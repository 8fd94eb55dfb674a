//! `trailpipe generate`: realistic CloudTrail records for demos, tests and benchmarks, as NDJSON
//! on stdout or a file, or produced straight to a Kafka topic (keyed by account and region, so
//! one partition owns each (account, region)).

use std::{io::Write, path::PathBuf, time::Duration};

use anyhow::Context;
use clap::Args;
use rdkafka::{
    producer::{BaseProducer, BaseRecord, Producer},
    ClientConfig,
};
use trailpipe_generator::{Generator, GeneratorConfig};

/// Options of `trailpipe generate`.
#[derive(Args)]
pub struct GenerateArgs {
    /// Number of records.
    #[arg(long, default_value_t = 1000)]
    records: u64,
    /// Number of distinct AWS accounts.
    #[arg(long, default_value_t = 3)]
    accounts: usize,
    /// Number of regions used (us-east-1 first).
    #[arg(long, default_value_t = 3)]
    regions: usize,
    /// Instead of generating records, cycle through the lines of these NDJSON files (gzip is
    /// detected; repeatable) until `--records` are written: the benchmark's real-sample input.
    #[arg(long = "input", value_name = "FILE")]
    inputs: Vec<PathBuf>,
    /// Random seed: the same seed gives the same records, byte for byte.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// eventTime of the first record, as epoch seconds (default: now minus the stream's span).
    #[arg(long)]
    start: Option<i64>,
    /// Spacing of eventTime, in events per second.
    #[arg(long, default_value_t = 100.0)]
    events_per_second: f64,
    /// Write to this file instead of stdout.
    #[arg(long, short, conflicts_with = "topic")]
    output: Option<PathBuf>,
    /// Produce to this Kafka topic instead of writing NDJSON.
    #[arg(long, requires = "brokers")]
    topic: Option<String>,
    /// Kafka bootstrap servers (with --topic).
    #[arg(long)]
    brokers: Option<String>,
    /// An extra librdkafka property of the producer, KEY=VALUE (repeatable): security settings
    /// for a TLS or SASL cluster, `compression.type`, ...
    #[arg(long = "property", short = 'X', value_name = "KEY=VALUE", value_parser = parse_property)]
    properties: Vec<(String, String)>,
}

pub(crate) fn parse_property(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("{s:?} is not KEY=VALUE"))
}

/// Runs `trailpipe generate`.
pub fn run(a: GenerateArgs) -> anyhow::Result<()> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let span = (a.records as f64 / a.events_per_second.max(1e-9)) as i64;
    let mut source = if a.inputs.is_empty() {
        Source::Generated(Box::new(Generator::new(GeneratorConfig {
            accounts: a.accounts,
            regions: a.regions,
            seed: a.seed,
            start_time: a.start.unwrap_or(now - span),
            events_per_second: a.events_per_second,
        })))
    } else {
        Source::Lines {
            lines: read_lines(&a.inputs)?,
            next: 0,
        }
    };
    let mut buf = Vec::with_capacity(4096);
    if let (Some(topic), Some(brokers)) = (&a.topic, &a.brokers) {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", brokers)
            .set("linger.ms", "20")
            .set("batch.size", "1000000")
            .set("queue.buffering.max.kbytes", "262144");
        for (k, v) in &a.properties {
            config.set(k, v);
        }
        let producer: BaseProducer = config.create().context("creating the Kafka producer")?;
        for _ in 0..a.records {
            buf.clear();
            source.write_record(&mut buf);
            let key = partition_key(&buf);
            let mut record = BaseRecord::<[u8], [u8]>::to(topic)
                .payload(&buf)
                .key(key.as_bytes());
            loop {
                match producer.send(record) {
                    Ok(()) => break,
                    Err((e, r))
                        if e.rdkafka_error_code()
                            == Some(rdkafka::types::RDKafkaErrorCode::QueueFull) =>
                    {
                        producer.poll(Duration::from_millis(10));
                        record = r;
                    }
                    Err((e, _)) => return Err(e).context("producing a record"),
                }
            }
            producer.poll(Duration::ZERO);
        }
        producer
            .flush(Duration::from_secs(60))
            .context("flushing the producer")?;
        eprintln!("produced {} records to {topic}", a.records);
        return Ok(());
    }
    let out: Box<dyn Write> = match &a.output {
        Some(p) => {
            Box::new(std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?)
        }
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = std::io::BufWriter::with_capacity(1 << 20, out);
    for _ in 0..a.records {
        buf.clear();
        source.write_record(&mut buf);
        buf.push(b'\n');
        out.write_all(&buf)?;
    }
    out.flush()?;
    Ok(())
}

/// Where the records come from: the generator, or the lines of `--input` files in a cycle.
enum Source {
    Generated(Box<Generator>),
    Lines { lines: Vec<Vec<u8>>, next: usize },
}

impl Source {
    fn write_record(&mut self, buf: &mut Vec<u8>) {
        match self {
            Self::Generated(g) => g.write_record(buf),
            Self::Lines { lines, next } => {
                buf.extend_from_slice(&lines[*next]);
                *next = (*next + 1) % lines.len();
            }
        }
    }
}

/// The non-empty lines of `paths` (each NDJSON, gzip when it starts with gzip's magic bytes).
fn read_lines(paths: &[PathBuf]) -> anyhow::Result<Vec<Vec<u8>>> {
    use std::io::BufRead;
    let mut lines = Vec::new();
    for p in paths {
        let reader = trailpipe_ingest::open_maybe_gzip(p)
            .with_context(|| format!("opening {}", p.display()))?;
        for line in reader.split(b'\n') {
            let line = line.with_context(|| format!("reading {}", p.display()))?;
            if !line.iter().all(u8::is_ascii_whitespace) {
                lines.push(line);
            }
        }
    }
    anyhow::ensure!(!lines.is_empty(), "the --input files hold no records");
    Ok(lines)
}

/// `account/region` of a generated record, as the Kafka key.
fn partition_key(record: &[u8]) -> String {
    let find = |name: &str| -> &str {
        let pat = format!("\"{name}\":\"");
        std::str::from_utf8(record)
            .ok()
            .and_then(|s| s.find(&pat).map(|i| &s[i + pat.len()..]))
            .and_then(|s| s.split('"').next())
            .unwrap_or("")
    };
    format!("{}/{}", find("recipientAccountId"), find("awsRegion"))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn input_files_are_read_plain_or_gzip_and_cycled() {
        let dir = tempfile::tempdir().expect("tempdir");
        let plain = dir.path().join("a.ndjson");
        std::fs::write(&plain, "{\"n\":1}\n\n  \n{\"n\":2}").expect("write");
        let gz = dir.path().join("b.ndjson.gz");
        let mut enc = flate2::write::GzEncoder::new(
            std::fs::File::create(&gz).expect("create"),
            flate2::Compression::fast(),
        );
        enc.write_all(b"{\"n\":3}\n").expect("gzip");
        enc.finish().expect("finish");
        let mut source = Source::Lines {
            lines: read_lines(&[plain, gz]).expect("read"),
            next: 0,
        };
        let produced: Vec<String> = (0..5)
            .map(|_| {
                let mut buf = Vec::new();
                source.write_record(&mut buf);
                String::from_utf8(buf).expect("utf-8")
            })
            .collect();
        assert_eq!(
            produced,
            [
                "{\"n\":1}",
                "{\"n\":2}",
                "{\"n\":3}",
                "{\"n\":1}",
                "{\"n\":2}"
            ]
        );
        let empty = dir.path().join("empty.ndjson");
        std::fs::write(&empty, "\n").expect("write");
        assert!(read_lines(&[empty]).is_err());
    }
}
