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
    discover_chains,
    keys::{KeyRingConfig, StoredKey},
    DigestChainConfig, DigestSigner, Digester, KeyRing, KmsSigner, StaticKey,
};

use crate::control_topic::ControlTopic;
use trailpipe_logfile::FileMac;
use trailpipe_store::Store;
use trailpipe_telemetry as names;

/// Latest digest outcome of a trail, for `GetTrailStatus`.
#[derive(Debug, Clone, Default)]
pub struct DigestStatus {
    /// When a digest of the trail was last written.
    pub latest_delivery: Option<OffsetDateTime>,
    /// The last digest error, if it came after the last success.
    pub latest_error: Option<String>,
    /// The latest chain conflict this replica saw (a digest of another writer's different
    /// window or chain view), with its time; kept, as a record of the disagreement.
    pub chain_conflict: Option<(OffsetDateTime, String)>,
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

/// The signer `[integrity]` asks for: a PEM file, a KMS key, or generated and rotated keys —
/// kept in the group's control topic when there is one (every replica signs with, and lists,
/// the same keys; `generate` false: only list what is there), else in
/// `state.dir/signing-keys`.
pub async fn open_signer(
    config: &Config,
    control: Option<&Arc<ControlTopic>>,
    generate: bool,
) -> anyhow::Result<Arc<dyn DigestSigner>> {
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
    if let Some(topic) = control {
        return Ok(SharedSigner::open(ring, topic.clone(), generate).await?);
    }
    let ring = KeyRing::open(ring, OffsetDateTime::now_utc()).with_context(|| {
        format!(
            "opening the signing keys in {}",
            config.state.dir.join("signing-keys").display()
        )
    })?;
    Ok(ring)
}

/// Generated digest-signing keys shared through the control topic (`signing-key/<id>`
/// records, private halves included: the topic must be readable by trailpipe alone, or use
/// KMS). A new key is stored in the topic before it signs anything, so `ListPublicKeys` on any
/// replica lists every key any replica signed with (once it read the topic that far).
struct SharedSigner {
    ring: Arc<KeyRing>,
    topic: Arc<ControlTopic>,
    /// Record keys already inserted into `ring`.
    known: Mutex<std::collections::HashSet<String>>,
    rotating: Arc<std::sync::atomic::AtomicBool>,
}

impl SharedSigner {
    /// The shared ring, after carrying this replica's keys from before the control topic
    /// (`state.dir/signing-keys`) into it; with `generate`, a first key is made when there is
    /// none (never by the `validate-logs` command, which only lists).
    async fn open(
        config: KeyRingConfig,
        topic: Arc<ControlTopic>,
        generate: bool,
    ) -> anyhow::Result<Arc<Self>> {
        let local = KeyRing::read_stored(&config.state_dir)?;
        let s = Arc::new(Self {
            ring: KeyRing::shared(config)?,
            topic,
            known: Mutex::default(),
            rotating: Arc::default(),
        });
        s.refresh();
        if generate {
            // A key the topic lacks is stored before `open` returns, so before it signs again.
            let known = s.ring.fingerprints();
            for key in local {
                let fingerprint = s.ring.insert(&key)?;
                if !known.contains(&fingerprint) {
                    store_key(&s.topic, &key).await?;
                    tracing::info!(%fingerprint, "carried a signing key from the state directory into the control topic");
                }
            }
            s.refresh();
            if s.ring.due(OffsetDateTime::now_utc()) {
                rotate(s.ring.clone(), s.topic.clone()).await?;
                s.refresh();
            }
        }
        Ok(s)
    }

    /// Inserts the keys other replicas stored since the last call.
    fn refresh(&self) {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        for (key, _, value) in self.topic.records("signing-key/") {
            if known.contains(&key) {
                continue;
            }
            match serde_json::from_slice::<StoredKey>(&value)
                .map_err(|e| e.to_string())
                .and_then(|k| self.ring.insert(&k).map_err(|e| e.to_string()))
            {
                Ok(fingerprint) => {
                    tracing::info!(%key, %fingerprint, "digest signing key from the control topic");
                }
                Err(e) => {
                    tracing::error!(%key, error = %e, "unreadable signing key record skipped")
                }
            }
            known.insert(key);
        }
    }
}

/// Generates a key, stores it in the control topic (durably, read back), then signs with it.
async fn rotate(ring: Arc<KeyRing>, topic: Arc<ControlTopic>) -> anyhow::Result<()> {
    let key = ring.generate(OffsetDateTime::now_utc())?;
    store_key(&topic, &key).await?;
    ring.insert(&key)?;
    Ok(())
}

/// Stores `key` as `signing-key/<id>` (the id derived from the record, so storing the same key
/// twice is one record).
async fn store_key(topic: &ControlTopic, key: &StoredKey) -> anyhow::Result<()> {
    let json = serde_json::to_vec(key)?;
    let id = trailpipe_logfile::unique_string("signing-key", &String::from_utf8_lossy(&json), 0, 0);
    topic
        .publish(vec![(format!("signing-key/{id}"), Some(json))])
        .await
        .map_err(anyhow::Error::msg)
        .context("storing a digest signing key in the control topic")
}

impl DigestSigner for SharedSigner {
    fn fingerprint(&self, digest_end: OffsetDateTime) -> String {
        self.refresh();
        self.ring.fingerprint(digest_end)
    }

    fn sign<'a>(
        &'a self,
        fingerprint: &'a str,
        message: &'a [u8],
    ) -> futures::future::BoxFuture<'a, Result<Vec<u8>, trailpipe_digest::DigestError>> {
        self.ring.sign(fingerprint, message)
    }

    fn public_keys(
        &self,
        start: OffsetDateTime,
        end: OffsetDateTime,
    ) -> Vec<trailpipe_digest::PublicKeyInfo> {
        self.refresh();
        self.ring.public_keys(start, end)
    }

    /// Rotation runs in the background (a topic round trip); until it lands the current key,
    /// valid for days past its rotation, keeps signing.
    fn maintain(&self, now: OffsetDateTime) -> Result<(), trailpipe_digest::DigestError> {
        self.refresh();
        if self.ring.due(now)
            && !self
                .rotating
                .swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            let (ring, topic, flag) =
                (self.ring.clone(), self.topic.clone(), self.rotating.clone());
            tokio::spawn(async move {
                if let Err(e) = rotate(ring, topic).await {
                    tracing::error!(error = %e, "digest signing key rotation failed; retried");
                }
                flag.store(false, std::sync::atomic::Ordering::Release);
            });
        }
        Ok(())
    }
}

/// The key that signs every log file's metadata (see [`trailpipe_logfile::mac`]):
/// `integrity.file_mac_key`; else, with a control topic, the first `file-mac-key/<id>` record
/// in it (one is generated and stored when there is none; files signed under any of them
/// verify); else one generated once in `state.dir/file-mac-key` (created with mode 0600 by
/// whichever process gets there first, then only read). Without any trail with
/// `enable_log_file_validation` no digest will check the MACs, so the key is random per
/// process and nothing is written (files delivered then are not digested later either).
pub async fn open_file_mac(
    config: &Config,
    control: Option<&Arc<ControlTopic>>,
) -> anyhow::Result<Arc<FileMac>> {
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
    if let Some(topic) = control {
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        if topic.records("file-mac-key/").is_empty() {
            let id = FileMac::new(hex.as_bytes())
                .expect("64 bytes")
                .id()
                .to_string();
            topic
                .publish(vec![(format!("file-mac-key/{id}"), Some(hex.into_bytes()))])
                .await
                .map_err(anyhow::Error::msg)
                .context("storing the file MAC key in the control topic")?;
        }
        // The first stored key signs (the same on every replica, whoever raced to store one);
        // files under the others still verify.
        let mut keys = topic
            .records("file-mac-key/")
            .into_iter()
            .filter_map(|(k, _, v)| match FileMac::new(&v) {
                Ok(m) => Some(m),
                Err(e) => {
                    tracing::error!(key = %k, error = %e, "unreadable file MAC key record skipped");
                    None
                }
            });
        let first = keys
            .next()
            .context("no readable file MAC key in the control topic")?;
        return Ok(Arc::new(keys.fold(first, FileMac::also_accept)));
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

/// Records a chain conflict in the trail's status, then counts it: `/readyz` names a conflict
/// from the moment its metric counts it, not at the end of the round.
fn note_conflict(statuses: &DigestStatuses, trail: &str, at: OffsetDateTime, detail: String) {
    statuses
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(trail.to_string())
        .or_default()
        .chain_conflict = Some((at, detail));
    metrics::counter!(trailpipe_telemetry::DIGEST_CHAIN_CONFLICTS, "trail" => trail.to_string())
        .increment(1);
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
    // Off-chain digests already counted (each is seen again while it is re-checked).
    let mut off_chain_seen: std::collections::HashSet<String> = Default::default();
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
                                for key in &r.off_chain {
                                    if off_chain_seen.len() > 100_000 {
                                        off_chain_seen.clear();
                                    }
                                    if off_chain_seen.insert(key.clone()) {
                                        let detail = format!("digest chain conflict: s3://{}/{key} is off the chain (another writer digested a different window: are all replicas configured alike?)", t.s3_bucket_name);
                                        tracing::error!(trail = %t.name, "{detail}");
                                        note_conflict(&statuses, &t.name, now, detail);
                                    }
                                }
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
                                if matches!(e, trailpipe_digest::DigestError::ChainConflict { .. })
                                {
                                    note_conflict(&statuses, &t.name, now, e.to_string());
                                }
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
