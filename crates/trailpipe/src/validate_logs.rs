//! `trailpipe validate-logs`: the checks of `aws cloudtrail validate-logs` (walk each digest
//! chain newest to oldest, verify signatures, re-hash every log file, report gaps) over the
//! trail's bucket in S3 or the local store, with the keys the daemon signs with.

use std::{
    io::IsTerminal,
    sync::atomic::{AtomicUsize, Ordering},
};

use anyhow::Context;
use time::OffsetDateTime;
use trailpipe_config::Config;
use trailpipe_digest::validate::{render, validate, ValidateRequest, ValidationEvent};

/// Flags of `trailpipe validate-logs`.
#[derive(clap::Args)]
pub struct ValidateLogsArgs {
    /// Configuration file of the daemon (storage, trails, signing keys).
    #[arg(long, short)]
    config: std::path::PathBuf,
    /// Trail name.
    #[arg(long)]
    trail: String,
    /// Start of the range (RFC 3339, e.g. 2026-11-21T00:00:00Z).
    #[arg(long)]
    start_time: String,
    /// End of the range (default: now).
    #[arg(long)]
    end_time: Option<String>,
    /// Account whose digests are validated.
    #[arg(long)]
    account_id: String,
    /// Source region whose digests are validated (default: the trail's home region).
    #[arg(long)]
    region: Option<String>,
    /// Print every digest and log file, not only the summary.
    #[arg(long)]
    verbose: bool,
}

fn parse_time(s: &str) -> anyhow::Result<OffsetDateTime> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .with_context(|| format!("{s:?} is not an RFC 3339 time"))
}

/// Runs the validation; the exit code is 1 when any digest or log file is invalid.
pub async fn run(args: ValidateLogsArgs) -> anyhow::Result<i32> {
    let config = Config::load(&args.config).map_err(|errors| {
        anyhow::anyhow!(
            "{}",
            errors
                .iter()
                .map(|e| format!("{}: {e}", args.config.display()))
                .collect::<Vec<_>>()
                .join("\n")
        )
    })?;
    let t = config
        .trails
        .iter()
        .find(|t| t.name == args.trail)
        .with_context(|| format!("no trail named {:?} in the configuration", args.trail))?;
    let home = crate::integrity::home_region(&config, t).to_string();
    let start = parse_time(&args.start_time)?;
    let end = match &args.end_time {
        Some(e) => parse_time(e)?,
        None => OffsetDateTime::now_utc(),
    };
    let req = ValidateRequest {
        bucket: t.s3_bucket_name.clone(),
        prefix: t.key_prefix().map(str::to_string),
        organization_id: t.key_organization_id().map(str::to_string),
        account: args.account_id.clone(),
        source_region: args.region.clone().unwrap_or_else(|| home.clone()),
        trail_name: t.name.clone(),
        home_region: home.clone(),
        trail_arn: trailpipe_api::trail_arn("aws", &home, &config.integrity.account_id, &t.name),
        start,
        end,
        concurrency: 32,
    };
    // Generated keys of a Kafka deployment live in its control topic: read them from there
    // (without changing anything in it).
    let control = match &config.source {
        trailpipe_config::SourceConfig::Kafka(k)
            if config.integrity.signing_key_pem.is_none()
                && config.integrity.kms_key_id.is_none() =>
        {
            let msk = crate::kafka_check::preflight(k).await.map_err(|p| {
                anyhow::anyhow!(p
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "))
            })?;
            let context = trailpipe_ingest::SecureContext::new(
                "validate-logs",
                msk,
                trailpipe_ingest::KafkaHealth::default(),
            );
            let states = crate::lifecycle::TrailStates::in_memory();
            let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
            Some(crate::control_topic::ControlTopic::open(k, context, &states, tx, None).await?)
        }
        _ => None,
    };
    let signer = crate::integrity::open_signer(&config, control.as_ref(), false).await?;
    let keys = signer.public_keys(
        start - time::Duration::days(1),
        end + time::Duration::hours(2),
    );
    let store = crate::run::open_store(&config).await;
    let tty = std::io::stderr().is_terminal();
    let checked = AtomicUsize::new(0);
    let queued = AtomicUsize::new(0);
    let progress = |e: &ValidationEvent| {
        if !tty {
            return;
        }
        match e {
            ValidationEvent::LogFilesQueued(n) => {
                queued.fetch_add(*n, Ordering::Relaxed);
            }
            ValidationEvent::LogFile { .. } => {
                let n = checked.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_multiple_of(100) {
                    eprint!(
                        "\rchecked {n} of {} log files",
                        queued.load(Ordering::Relaxed)
                    );
                }
            }
            _ => {}
        }
    };
    let report = validate(&store, &req, &keys, &progress)
        .await
        .context("validating")?;
    if tty && checked.load(Ordering::Relaxed) >= 100 {
        eprintln!();
    }
    let out = render(&report, args.verbose);
    print!("{}", out.stdout);
    eprint!("{}", out.stderr);
    Ok(report.summary.exit_code())
}
