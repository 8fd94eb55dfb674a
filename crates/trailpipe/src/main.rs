//! The `trailpipe` binary: parses flags and wires the stages together
//! (`ingest → router → batcher → delivery`). Pipeline logic lives in the stage crates.

mod adapters;
mod api;
mod audit;
mod control_topic;
mod floor;
mod generate;
mod group_status;
mod history_indexer;
mod http;
mod insights_reader;
mod integrity;
mod kafka_check;
mod lifecycle;
mod listener;
mod lookup;
mod pipeline;
mod run;
mod validate_logs;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// trailpipe records API calls the way AWS CloudTrail does: it reads CloudTrail records from
/// Kafka (or files), routes them to trails by event selectors, and delivers gzip log files to S3
/// with CloudTrail's exact key layout — each record exactly once.
#[derive(Parser)]
#[command(name = "trailpipe", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the pipeline until SIGTERM/SIGINT (or, for a file source, until every file is delivered).
    Run {
        /// Configuration file (TOML).
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Check a configuration file; prints one line per mistake and exits non-zero if any.
    /// For a Kafka source this builds the real client: TLS/SASL support of this build, CA,
    /// certificate and key files (and that they match), MSK IAM credentials.
    Validate {
        /// Configuration file (TOML).
        #[arg(long, short)]
        config: PathBuf,
        /// Also connect to the brokers and fetch the topics' metadata (reports TLS and
        /// authentication failures, unreachable brokers and missing topics).
        #[arg(long)]
        connect: bool,
    },
    /// Write realistic generated CloudTrail records as NDJSON to stdout, or to a Kafka topic.
    Generate(generate::GenerateArgs),
    /// The benchmark's floor: consume a topic and only gzip and hash its records (see
    /// `scripts/bench.sh`).
    #[command(hide = true)]
    BenchFloor(floor::FloorArgs),
    /// Check delivered log files against their signed digests, like `aws cloudtrail validate-logs`
    /// (exit 1 when any digest or log file is invalid).
    ValidateLogs(validate_logs::ValidateLogsArgs),
    /// Search the running daemon's event history (like `aws cloudtrail lookup-events`).
    Lookup(lookup::LookupArgs),
    /// Print the metrics reference (every metric, its labels and meaning) as Markdown.
    Metrics,
    /// The local twin of `aws logs test-metric-filter`: print the records (NDJSON, optionally
    /// gzip) that a CloudWatch Logs filter pattern matches, unchanged, one per line; a summary
    /// goes to stderr. A pattern that does not parse exits 2 naming the column.
    TestFilter {
        /// The filter pattern, e.g. '{ $.userIdentity.type = "Root" }'.
        #[arg(long, short)]
        pattern: String,
        /// NDJSON records (gzip is detected); `-` or nothing reads stdin.
        file: Option<PathBuf>,
    },
    /// The local twin of `aws events test-event-pattern`: prints `{"Result": true|false}` for
    /// an EventBridge event pattern and an event — or a CloudTrail record, matched in the
    /// envelope EventBridge would deliver for it. Arguments are JSON text or `file://PATH`. A
    /// pattern that is not valid exits 2 with EventBridge's reason.
    TestEventPattern {
        /// The event pattern.
        #[arg(long)]
        event_pattern: String,
        /// An EventBridge event.
        #[arg(long, required_unless_present = "record", conflicts_with = "record")]
        event: Option<String>,
        /// A CloudTrail record (one JSON object), wrapped in its EventBridge envelope.
        #[arg(long)]
        record: Option<String>,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate { config, connect } => match trailpipe_config::Config::load(&config) {
            Ok(c) => {
                if let Err(problems) = check_source(&c, connect) {
                    for p in &problems {
                        eprintln!("{}: {p}", config.display());
                    }
                    return std::process::ExitCode::from(2);
                }
                println!(
                    "{}: valid ({} trail{})",
                    config.display(),
                    c.trails.len(),
                    if c.trails.len() == 1 { "" } else { "s" }
                );
                std::process::ExitCode::SUCCESS
            }
            Err(errors) => {
                for e in &errors {
                    eprintln!("{}: {e}", config.display());
                }
                std::process::ExitCode::from(2)
            }
        },
        Command::Generate(args) => exit(generate::run(args)),
        Command::BenchFloor(args) => exit(floor::run(args)),
        Command::Lookup(args) => exit(lookup::run(args)),
        Command::Metrics => {
            print!("{}", trailpipe_telemetry::markdown());
            std::process::ExitCode::SUCCESS
        }
        Command::TestFilter { pattern, file } => test_filter(&pattern, file.as_deref()),
        Command::TestEventPattern {
            event_pattern,
            event,
            record,
        } => test_event_pattern(&event_pattern, event, record),
        Command::ValidateLogs(args) => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            match rt.block_on(validate_logs::run(args)) {
                Ok(0) => std::process::ExitCode::SUCCESS,
                Ok(_) => std::process::ExitCode::from(1),
                Err(e) => {
                    eprintln!("error: {e:#}");
                    std::process::ExitCode::from(2)
                }
            }
        }
        Command::Run { config: path } => {
            let config = match trailpipe_config::Config::load(&path) {
                Ok(c) => c,
                Err(errors) => {
                    for e in &errors {
                        eprintln!("{}: {e}", path.display());
                    }
                    return std::process::ExitCode::from(2);
                }
            };
            init_tracing();
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            exit(rt.block_on(run::run(path, config)))
        }
    }
}

/// `validate`'s checks of a Kafka source's client (see `kafka_check`); `connect` adds the probe.
fn check_source(
    c: &trailpipe_config::Config,
    connect: bool,
) -> Result<(), Vec<kafka_check::Problem>> {
    let trailpipe_config::SourceConfig::Kafka(k) = &c.source else {
        return Ok(());
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let msk = kafka_check::preflight(k).await?;
        if connect {
            kafka_check::probe(k, msk, std::time::Duration::from_secs(10)).await?;
        }
        Ok(())
    })
}

fn test_filter(pattern: &str, file: Option<&std::path::Path>) -> std::process::ExitCode {
    use std::io::{BufReader, Write};
    let input: Box<dyn std::io::BufRead> = match file {
        None => Box::new(std::io::stdin().lock()),
        Some(p) if p.as_os_str() == "-" => Box::new(std::io::stdin().lock()),
        Some(p) => match std::fs::File::open(p) {
            Ok(f) => Box::new(BufReader::with_capacity(1 << 16, f)),
            Err(e) => {
                eprintln!("error: {}: {e}", p.display());
                return std::process::ExitCode::FAILURE;
            }
        },
    };
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let result = trailpipe_sink_cwl::test_filter(pattern, input, &mut out);
    let flushed = out.flush();
    match (result, flushed) {
        (Ok((matched, total)), Ok(())) => {
            eprintln!("{matched} of {total} records matched");
            std::process::ExitCode::SUCCESS
        }
        (Err(e @ trailpipe_sink_cwl::TestFilterError::Pattern(_)), _) => {
            eprintln!("error: {e}");
            std::process::ExitCode::from(2)
        }
        (Err(e), _) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
        (_, Err(e)) => {
            eprintln!("error: writing the output: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn test_event_pattern(
    pattern: &str,
    event: Option<String>,
    record: Option<String>,
) -> std::process::ExitCode {
    use trailpipe_rules::EventKind;
    // `file://PATH` reads the file, as the aws CLI does.
    let load = |arg: &str| match arg.strip_prefix("file://") {
        Some(path) => std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}")),
        None => Ok(arg.to_string()),
    };
    let (text, kind) = match (event, record) {
        (Some(e), _) => (e, EventKind::EventBridge),
        (None, Some(r)) => (r, EventKind::CloudTrailRecord),
        (None, None) => unreachable!("clap requires --event or --record"),
    };
    let (pattern, text) = match (load(pattern), load(&text)) {
        (Ok(p), Ok(t)) => (p, t),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match trailpipe_rules::test_event_pattern(&pattern, &text, kind) {
        Ok(result) => {
            println!("{{\n    \"Result\": {result}\n}}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::from(2)
        }
    }
}

fn exit(r: anyhow::Result<()>) -> std::process::ExitCode {
    match r {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Human-readable logs on a terminal, JSON lines otherwise (journald, Kubernetes).
fn init_tracing() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("TRAILPIPE_LOG")
        .unwrap_or_else(|_| "info,rdkafka=warn".into());
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::io::stderr().is_terminal() {
        b.init();
    } else {
        b.json().init();
    }
}
