//! trailpipe's configuration file (TOML): what the user writes, with defaults as named
//! `const fn`s and units in field names. Field names follow the CloudTrail API
//! (`s3_bucket_name`, `is_multi_region_trail`, `event_selectors`, ...) so trail definitions carry
//! over.
//!
//! Invariant: a [`Config`] returned by [`Config::load`] has passed [`Config::validate`]; every
//! mistake in a file is reported at once, each as one message naming the field
//! (`trails[1].s3_key_prefix: must not end with '/'`), before anything connects.

mod source;
mod storage;
mod trail;
mod validate;

use std::{collections::BTreeMap, net::SocketAddr, path::Path};

use serde::Deserialize;

pub use source::{FileSource, KafkaSource, SourceConfig};
pub use storage::{StorageConfig, StorageKind};
pub use trail::TrailConfig;
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
    /// The trails (at most 64: routing keeps one bit per trail).
    #[serde(default)]
    pub trails: Vec<TrailConfig>,
}

/// The HTTP server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on; `/metrics`, `/healthz`, `/readyz` are served there.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9464))
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
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
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            max_segment_bytes: Self::default_max_segment_bytes(),
            shutdown_grace_secs: Self::default_shutdown_grace_secs(),
            compression_level: Self::default_compression_level(),
        }
    }
}

/// Extra librdkafka properties, passed through verbatim.
pub type LibrdkafkaProperties = BTreeMap<String, String>;

impl Config {
    /// Parses TOML text and validates it; all mistakes are returned together.
    pub fn parse(text: &str) -> Result<Config, Vec<ConfigError>> {
        let config: Config = toml::from_str(text).map_err(|e| vec![ConfigError::from_toml(&e)])?;
        let errors = config.validate();
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
