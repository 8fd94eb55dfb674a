//! `[source]`: a Kafka consumer group, or files (NDJSON or CloudTrail log files) for the
//! embedded default and for backfills.

use std::path::PathBuf;

use serde::Deserialize;

use crate::{
    security::{MskIamConfig, SaslConfig, TlsConfig},
    LibrdkafkaProperties,
};

/// Where records come from.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum SourceConfig {
    /// A Kafka consumer group.
    Kafka(Box<KafkaSource>),
    /// Files: NDJSON (optionally gzip), or CloudTrail log files (`.json` / `.json.gz`).
    File(FileSource),
}

impl SourceConfig {
    /// Largest accepted record, in bytes.
    pub fn max_record_bytes(&self) -> usize {
        match self {
            Self::Kafka(k) => k.max_record_bytes,
            Self::File(f) => f.max_record_bytes,
        }
    }
}

const fn default_max_record_bytes() -> usize {
    trailpipe_event::DEFAULT_MAX_RECORD_BYTES
}

/// A Kafka consumer group subscribed to `topics`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSource {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// Topics to subscribe to.
    pub topics: Vec<String>,
    /// Consumer group id; daemons sharing it share the partitions.
    #[serde(default = "KafkaSource::default_group_id")]
    pub group_id: String,
    /// Topic that receives records that cannot be delivered, with the reason in headers.
    pub dead_letter_topic: String,
    /// Records larger than this go to the dead-letter topic.
    #[serde(default = "default_max_record_bytes")]
    pub max_record_bytes: usize,
    /// TLS to the brokers (`[source.tls]`).
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// SASL authentication (`[source.sasl]`).
    #[serde(default)]
    pub sasl: Option<SaslConfig>,
    /// Amazon MSK IAM authentication (`[source.aws_msk_iam]`).
    #[serde(default)]
    pub aws_msk_iam: Option<MskIamConfig>,
    /// Extra librdkafka properties, passed verbatim (they override trailpipe's defaults and
    /// the typed fields above; `${ENV}` references in values are expanded).
    #[serde(default)]
    pub librdkafka: LibrdkafkaProperties,
}

impl KafkaSource {
    fn default_group_id() -> String {
        "trailpipe".into()
    }
}

/// Files read once, in path order; a directory is walked recursively.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSource {
    /// A file or directory. `*.ndjson[.gz]` / `*.jsonl[.gz]`: one record per line;
    /// `*.json[.gz]`: a CloudTrail log file (`{"Records":[...]}`) or one record.
    pub path: PathBuf,
    /// NDJSON file receiving rejected records with their reason and file/line.
    pub dead_letter_path: PathBuf,
    /// Records larger than this are dead-lettered.
    #[serde(default = "default_max_record_bytes")]
    pub max_record_bytes: usize,
}
