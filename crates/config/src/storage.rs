//! `[storage]`: S3 (any S3-compatible endpoint) or a local directory with S3's key layout.

use std::path::PathBuf;

use serde::Deserialize;

/// Where log files are written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// `s3` or `local`.
    pub kind: StorageKind,
    /// AWS region of the buckets (S3 only).
    #[serde(default = "StorageConfig::default_region")]
    pub region: String,
    /// S3 endpoint (S3-compatible servers); `AWS_ENDPOINT_URL` is honoured when absent.
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// Path-style addressing; defaults to true when an endpoint is set.
    #[serde(default)]
    pub force_path_style: Option<bool>,
    /// Root directory of the local store; objects live at `<local_root>/<bucket>/<key>`.
    #[serde(default)]
    pub local_root: Option<PathBuf>,
}

impl StorageConfig {
    fn default_region() -> String {
        "us-east-1".into()
    }
}

/// Kind of object store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageKind {
    /// Amazon S3 or an S3-compatible server, through the AWS SDK.
    S3,
    /// A local directory.
    Local,
}
