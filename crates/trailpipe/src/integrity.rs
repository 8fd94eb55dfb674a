//! Log file integrity in the daemon: the digest signer chosen by `[integrity]`, and the task
//! that writes every validated trail's digests on a timer.
//!
//! The digester keeps no state of its own (the bucket is the chain), so the task can be
//! stopped anywhere — at a reload, a crash — and the next run continues the chains.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::Context;
use time::OffsetDateTime;
use trailpipe_config::{Config, TrailConfig};
use trailpipe_digest::{
    discover_chains, keys::KeyRingConfig, DigestChainConfig, DigestSigner, Digester, KeyRing,
    KmsSigner, StaticKey,
};
use trailpipe_logfile::FileMac;
use trailpipe_sink_s3::Store;
use trailpipe_telemetry as names;

/// Latest digest outcome of a trail, for `GetTrailStatus`.
#[derive(Debug, Clone, Default)]
pub struct DigestStatus {
    /// When a digest of the trail was last written.
    pub latest_delivery: Option<OffsetDateTime>,
    /// The last digest error, if it came after the last success.
    pub latest_error: Option<String>,
}

/// Digest statuses by trail name, shared with the API.
pub type DigestStatuses = Arc<Mutex<HashMap<String, DigestStatus>>>;

/// Validity announced for an operator-supplied key (PEM or KMS): such keys do not expire by
/// themselves, so the window is wide and must only cover every digest they sign.
fn static_validity() -> (OffsetDateTime, OffsetDateTime) {
    let now = OffsetDateTime::now_utc();
    (
        now - time::Duration::days(3650),
        now + time::Duration::days(3650),
    )
}

/// The signer `[integrity]` asks for: a PEM file, a KMS key, or keys generated and rotated in
/// `state.dir/signing-keys`.
pub async fn open_signer(config: &Config) -> anyhow::Result<Arc<dyn DigestSigner>> {
    let i = &config.integrity;
    if let Some(pem) = &i.signing_key_pem {
        let (from, to) = static_validity();
        return Ok(StaticKey::from_pem_file(pem, from, to)
            .with_context(|| format!("loading integrity.signing_key_pem {}", pem.display()))?
            .into_signer());
    }
    if let Some(key) = &i.kms_key_id {
        let (from, to) = static_validity();
        let signer = KmsSigner::connect(
            config.storage.region.clone(),
            config.storage.endpoint_url.clone(),
            key.clone(),
            from,
            to,
        )
        .await
        .with_context(|| format!("using KMS key {key} to sign digests"))?;
        return Ok(Arc::new(signer));
    }
    let mut ring = KeyRingConfig::new(config.state.dir.join("signing-keys"));
    ring.signing_key_rotation_days = i.signing_key_rotation_days;
    let ring = KeyRing::open(ring, OffsetDateTime::now_utc()).with_context(|| {
        format!(
            "opening the signing keys in {}",
            config.state.dir.join("signing-keys").display()
        )
    })?;
    Ok(ring)
}

/// The key that signs every log file's metadata (see [`trailpipe_logfile::mac`]):
/// `integrity.file_mac_key`, else one generated once in `state.dir/file-mac-key` (created
/// with mode 0600 by whichever process gets there first, then only read). Without any trail
/// with `enable_log_file_validation` no digest will check the MACs, so the key is random per
/// process and nothing is written (files delivered then are not digested later either).
pub fn open_file_mac(config: &Config) -> anyhow::Result<Arc<FileMac>> {
    if let Some(k) = &config.integrity.file_mac_key {
        return FileMac::new(k.expose().as_bytes())
            .map(Arc::new)
            .map_err(|e| anyhow::anyhow!("integrity.file_mac_key: {e}"));
    }
    let mut key = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut key);
    if !config.trails.iter().any(|t| t.enable_log_file_validation) {
        return Ok(Arc::new(FileMac::new(&key).expect("32 bytes")));
    }
    let path = config.state.dir.join("file-mac-key");
    let read = |path: &std::path::Path| -> anyhow::Result<Arc<FileMac>> {
        let key = std::fs::read(path)
            .with_context(|| format!("reading the file MAC key {}", path.display()))?;
        FileMac::new(key.trim_ascii())
            .map(Arc::new)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    };
    if path.exists() {
        return read(&path);
    }
    std::fs::create_dir_all(&config.state.dir)
        .with_context(|| format!("creating {}", config.state.dir.display()))?;
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    match opts.open(&path) {
        Ok(mut f) => {
            use std::io::Write;
            f.write_all(hex.as_bytes())
                .and_then(|()| f.sync_all())
                .with_context(|| format!("writing the file MAC key {}", path.display()))?;
            tracing::info!(path = %path.display(), "generated a file MAC key; replicas delivering to the same buckets must share one (integrity.file_mac_key)");
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(e).with_context(|| format!("creating the file MAC key {}", path.display()))
        }
    }
    read(&path)
}

fn chain(config: &Config, t: &TrailConfig, account: &str, region: &str) -> DigestChainConfig {
    let mut c = DigestChainConfig::new(
        &t.s3_bucket_name,
        account,
        region,
        &t.name,
        home_region(config, t),
    );
    c.prefix = t.key_prefix().map(str::to_string);
    c.organization_id = t.key_organization_id().map(str::to_string);
    c.interval = Duration::from_secs(t.digest_interval_secs);
    c.settle = Duration::from_secs(config.integrity.digest_settle_secs);
    c.kms_key_id = t.kms_key_id.clone();
    c.lookahead = Duration::from_secs(trailpipe_batcher::file_time::MAX_FUTURE_SECS as u64);
    c
}

/// The trail's home region (its own, else the storage region).
pub fn home_region<'a>(config: &'a Config, t: &'a TrailConfig) -> &'a str {
    t.home_region
        .as_deref()
        .unwrap_or(config.storage.region.as_str())
}

/// Writes the digests of every trail with `enable_log_file_validation`, every `tick`, until
/// aborted. Chains are discovered from the bucket each round, so accounts and regions that
/// appear later (and chains from before a restart) are covered.
pub async fn run_digests(
    config: Arc<Config>,
    store: Store,
    signer: Arc<dyn DigestSigner>,
    mac: Arc<FileMac>,
    statuses: DigestStatuses,
) {
    let trails: Vec<&TrailConfig> = config
        .trails
        .iter()
        .filter(|t| t.enable_log_file_validation)
        .collect();
    let Some(shortest) = trails.iter().map(|t| t.digest_interval_secs).min() else {
        return;
    };
    let tick = Duration::from_secs((shortest / 4).clamp(1, 30));
    loop {
        let now = OffsetDateTime::now_utc();
        if let Err(e) = signer.maintain(now) {
            tracing::error!(error = %e, "signing key rotation failed");
        }
        for t in &trails {
            let (org, prefix) = (t.key_organization_id(), t.key_prefix());
            let outcome = match discover_chains(&store, &t.s3_bucket_name, prefix, org).await {
                Err(e) => Err(e.to_string()),
                Ok(chains) => {
                    let mut result = Ok(false);
                    for c in chains {
                        let d = Digester::new(
                            chain(&config, t, &c.account, &c.region),
                            store.clone(),
                            signer.clone(),
                            mac.clone(),
                        );
                        match d.run_once(now).await {
                            Ok(r) => {
                                if r.unverified_files > 0 {
                                    metrics::counter!(names::DIGEST_UNVERIFIED_FILES, "trail" => t.name.clone())
                                        .increment(r.unverified_files);
                                }
                                for w in &r.warnings {
                                    tracing::warn!(trail = %t.name, account = %c.account, region = %c.region, warning = %w, "digest");
                                }
                                for k in r.written.iter().chain(&r.backfills) {
                                    tracing::info!(trail = %t.name, key = %k, "digest written");
                                    metrics::counter!(trailpipe_telemetry::DIGESTS_WRITTEN, "trail" => t.name.clone()).increment(1);
                                }
                                if !r.written.is_empty() || !r.backfills.is_empty() {
                                    result = result.map(|_| true);
                                }
                            }
                            Err(e) => {
                                metrics::counter!(trailpipe_telemetry::DIGEST_ERRORS, "trail" => t.name.clone()).increment(1);
                                tracing::warn!(trail = %t.name, account = %c.account, region = %c.region, error = %e, "digest run failed; retrying next round");
                                result = Err(e.to_string());
                            }
                        }
                    }
                    result
                }
            };
            let mut s = statuses.lock().unwrap_or_else(|p| p.into_inner());
            let st = s.entry(t.name.clone()).or_default();
            match outcome {
                Ok(true) => {
                    st.latest_delivery = Some(now);
                    st.latest_error = None;
                }
                Ok(false) => {}
                Err(e) => st.latest_error = Some(e),
            }
        }
        tokio::time::sleep(tick).await;
    }
}
