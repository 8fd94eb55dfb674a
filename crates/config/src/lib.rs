//! trailpipe's configuration file (TOML): what the user writes, with defaults as named
//! `const fn`s and units in field names. Field names follow the CloudTrail API
//! (`s3_bucket_name`, `is_multi_region_trail`, `event_selectors`, ...) so trail definitions carry
//! over.
//!
//! Invariant: a [`Config`] returned by [`Config::load`] has passed [`Config::validate`]; every
//! mistake in a file is reported at once, each as one message naming the field
//! (`trails[1].s3_key_prefix: must not end with '/'`), before anything connects.

mod api;
mod rules;
mod secret;
mod security;
mod source;
mod storage;
mod trail;
mod validate;

use std::{collections::BTreeMap, net::SocketAddr, path::Path};

use serde::Deserialize;

pub use api::{ApiConfig, ApiCredentialConfig, ApiPolicy, ApiTlsConfig, MIN_SECRET_CHARS};
pub use rules::{RuleConfig, RuleTargetConfig, TargetKind};
pub use secret::Secret;
pub use security::{is_secret_property, MskIamConfig, SaslConfig, SaslMechanism, TlsConfig};
pub use source::{FileSource, KafkaSource, SourceConfig};
pub use storage::{StorageConfig, StorageKind};
pub use trail::{InsightSelector, TrailConfig, INSIGHT_TYPES};
pub use trailpipe_sink_cwl::CloudWatchLogsConfig;
pub use validate::ConfigError;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where records come from.
    pub source: SourceConfig,
    /// Where log files go.
    pub storage: StorageConfig,
    /// The HTTP server for `/metrics`, `/healthz`, `/readyz`.
    #[serde(default)]
    pub server: ServerConfig,
    /// Pipeline-wide delivery settings.
    #[serde(default)]
    pub delivery: DeliveryConfig,
    /// Durable local state (signing keys, trail lifecycle state).
    #[serde(default)]
    pub state: StateConfig,
    /// Digest signing (log file integrity validation).
    #[serde(default)]
    pub integrity: IntegrityConfig,
    /// Event history (LookupEvents): every management event, searchable for
    /// `retention_days`; absent: no history.
    #[serde(default)]
    pub history: Option<trailpipe_history::HistoryConfig>,
    /// The Insights detector's tunables (`[insights]`), shared by every trail with
    /// `insight_selectors`.
    #[serde(default)]
    pub insights: InsightTuning,
    /// How CloudWatch Logs delivery behaves for every trail with `[trails.cloud_watch_logs]`.
    #[serde(default)]
    pub cloudwatch_logs: CloudWatchLogsConfig,
    /// Who may call the CloudTrail API (`[api]`: credentials and their policies).
    #[serde(default)]
    pub api: ApiConfig,
    /// The trails (at most 64: routing keeps one bit per trail).
    #[serde(default)]
    pub trails: Vec<TrailConfig>,
    /// EventBridge rules (`[[rules]]`): every accepted record's EventBridge event goes to the
    /// targets of each rule whose pattern matches it, at least once.
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
}

/// `[insights]`: the detector's tunables (see `trailpipe_insights::InsightConfig`: thresholds,
/// minimum volumes, hysteresis, baseline length). Which insight types run is chosen per trail
/// by `insight_selectors`, so `call_rate` / `error_rate` are refused here.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InsightTuning(pub trailpipe_insights::InsightConfig);

impl<'de> Deserialize<'de> for InsightTuning {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let table = toml::Table::deserialize(d)?;
        for k in ["call_rate", "error_rate"] {
            if table.contains_key(k) {
                return Err(D::Error::custom(format!(
                    "{k}: Insights types are chosen per trail with insight_selectors"
                )));
            }
        }
        table
            .try_into()
            .map(InsightTuning)
            .map_err(D::Error::custom)
    }
}

/// Durable local state.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateConfig {
    /// Directory for the generated signing keys and the trails' lifecycle state (created if
    /// missing). systemd: `StateDirectory=`; Kubernetes: a volume.
    #[serde(default = "StateConfig::default_dir")]
    pub dir: std::path::PathBuf,
}

impl StateConfig {
    fn default_dir() -> std::path::PathBuf {
        "trailpipe-state".into()
    }
}

impl Default for StateConfig {
    fn default() -> Self {
        Self {
            dir: Self::default_dir(),
        }
    }
}

/// How digests are signed and paced.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntegrityConfig {
    /// RSA private key (PEM, PKCS#1 or PKCS#8) to sign digests with. Without it (and without
    /// `kms_key_id`) keys are generated in `state.dir` and rotated.
    #[serde(default)]
    pub signing_key_pem: Option<std::path::PathBuf>,
    /// KMS asymmetric key (RSA_2048, SIGN_VERIFY) that signs digests; the private key never
    /// reaches the daemon.
    #[serde(default)]
    pub kms_key_id: Option<String>,
    /// Generated keys: a new key every this many days (validity 30 days, so keys overlap).
    #[serde(default = "IntegrityConfig::default_rotation_days")]
    pub signing_key_rotation_days: u32,
    /// A digest window is written this long after it ends, so uploads in flight have landed.
    #[serde(default = "IntegrityConfig::default_settle_secs")]
    pub digest_settle_secs: u64,
    /// Account id in trail ARNs served by the CloudTrail API (`arn:aws:cloudtrail:<home>:<account>:trail/<name>`).
    #[serde(default = "IntegrityConfig::default_account_id")]
    pub account_id: String,
    /// Key (at least 32 bytes; `${ENV}`, or `file_mac_key_file`) of the HMAC each log file's
    /// metadata carries, so digests list only files trailpipe wrote. Every replica delivering
    /// to the same buckets must hold the same key. Without it, a key is generated in
    /// `state.dir/file-mac-key` (fine for one replica).
    #[serde(default)]
    pub file_mac_key: Option<crate::secret::Secret>,
    /// File holding `file_mac_key` (a Kubernetes Secret volume, systemd `LoadCredential=`).
    #[serde(default)]
    pub file_mac_key_file: Option<std::path::PathBuf>,
}

impl IntegrityConfig {
    const fn default_rotation_days() -> u32 {
        20
    }
    const fn default_settle_secs() -> u64 {
        120
    }
    fn default_account_id() -> String {
        "000000000000".into()
    }
}

impl Default for IntegrityConfig {
    fn default() -> Self {
        Self {
            signing_key_pem: None,
            kms_key_id: None,
            signing_key_rotation_days: Self::default_rotation_days(),
            digest_settle_secs: Self::default_settle_secs(),
            account_id: Self::default_account_id(),
            file_mac_key: None,
            file_mac_key_file: None,
        }
    }
}

/// The HTTP server for `/metrics`, `/healthz`, `/readyz` (and the CloudTrail API when
/// `api.listen` is absent and `listen` is a loopback address).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on; `/metrics`, `/healthz`, `/readyz` are served there.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Most connections open at once on `listen`; more are closed as soon as accepted, so
    /// clients that hold connections cannot exhaust file descriptors.
    #[serde(default = "ServerConfig::default_max_connections")]
    pub max_connections: usize,
    /// Seconds a client has to send a request's headers (and, on the API, its body), and the
    /// longest a kept-alive connection may sit idle; then it is closed. Applies to every
    /// listener.
    #[serde(default = "ServerConfig::default_header_read_timeout_secs")]
    pub header_read_timeout_secs: u64,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9464))
}

impl ServerConfig {
    fn default_max_connections() -> usize {
        64
    }
    fn default_header_read_timeout_secs() -> u64 {
        10
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            max_connections: Self::default_max_connections(),
            header_read_timeout_secs: Self::default_header_read_timeout_secs(),
        }
    }
}

/// Settings shared by all trails.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    /// A partition's open segment (all its pending records across trails) is cut before it
    /// would exceed this many uncompressed bytes; bounds memory per partition.
    #[serde(default = "DeliveryConfig::default_max_segment_bytes")]
    pub max_segment_bytes: usize,
    /// On SIGTERM, stop consuming, deliver and commit within this many seconds, then exit.
    #[serde(default = "DeliveryConfig::default_shutdown_grace_secs")]
    pub shutdown_grace_secs: u64,
    /// gzip level (0–9) for log files.
    #[serde(default = "DeliveryConfig::default_compression_level")]
    pub compression_level: u32,
    /// Bytes of input (raw messages, plus 512 per parsed record) the pipeline holds at once,
    /// from the source's read to the segment's delivery: in channels, open segments, dead
    /// letters, history events, CloudWatch Logs batches and delivery. The source waits when
    /// it is used up; open segments are cut early when less than a quarter is free.
    #[serde(default = "DeliveryConfig::default_max_inflight_bytes")]
    pub max_inflight_bytes: usize,
}

impl DeliveryConfig {
    const fn default_max_segment_bytes() -> usize {
        16 * 1024 * 1024
    }
    const fn default_shutdown_grace_secs() -> u64 {
        20
    }
    const fn default_compression_level() -> u32 {
        6
    }
    const fn default_max_inflight_bytes() -> usize {
        192 * 1024 * 1024
    }
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            max_segment_bytes: Self::default_max_segment_bytes(),
            shutdown_grace_secs: Self::default_shutdown_grace_secs(),
            compression_level: Self::default_compression_level(),
            max_inflight_bytes: Self::default_max_inflight_bytes(),
        }
    }
}

/// Extra librdkafka properties, passed through verbatim. `Debug` shows the keys and redacts
/// the values of secret ones ([`is_secret_property`]), so printing a configuration never
/// prints a password.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct LibrdkafkaProperties(pub BTreeMap<String, String>);

impl std::ops::Deref for LibrdkafkaProperties {
    type Target = BTreeMap<String, String>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for LibrdkafkaProperties {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl std::fmt::Debug for LibrdkafkaProperties {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| {
                let shown = if is_secret_property(k) {
                    "<redacted>"
                } else {
                    v.as_str()
                };
                (k, shown)
            }))
            .finish()
    }
}

impl Config {
    /// Parses TOML text and validates it; all mistakes are returned together.
    /// Secret fields' `${ENV}` references are expanded from the process environment and their
    /// `*_file` forms read.
    pub fn parse(text: &str) -> Result<Config, Vec<ConfigError>> {
        Self::parse_with_env(text, |name| std::env::var(name).ok())
    }

    /// [`Config::parse`] with `${ENV}` references looked up in `env`.
    pub fn parse_with_env(
        text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, Vec<ConfigError>> {
        let mut config: Config =
            toml::from_str(text).map_err(|e| vec![ConfigError::from_toml(&e)])?;
        let mut errors = Vec::new();
        if let SourceConfig::Kafka(k) = &mut config.source {
            k.resolve_secrets(&env, &mut errors);
        }
        secret::expand_path(
            "integrity.signing_key_pem",
            &mut config.integrity.signing_key_pem,
            &env,
            &mut errors,
        );
        secret::resolve_field(
            "integrity.file_mac_key",
            &mut config.integrity.file_mac_key,
            &mut config.integrity.file_mac_key_file,
            &env,
            &mut errors,
        );
        if let Some(k) = &config.integrity.file_mac_key {
            if k.expose().len() < 32 {
                errors.push(ConfigError::new(
                    "integrity.file_mac_key",
                    format!(
                        "needs at least 32 bytes (e.g. `openssl rand -hex 32`), has {}",
                        k.expose().len()
                    ),
                ));
            }
        }
        config.api.resolve_secrets(&env, &mut errors);
        errors.extend(config.validate());
        config
            .api
            .validate(&config.trails, &config.server, &mut errors);
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(errors)
        }
    }

    /// Reads, parses and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, Vec<ConfigError>> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            vec![ConfigError::new(
                "config",
                format!("cannot read {}: {e}", path.display()),
            )]
        })?;
        Self::parse(&text)
    }
}
