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
        self.parse_limits().max_record_bytes
    }

    /// What a message may be before it is parsed, and an envelope while it is split.
    pub fn parse_limits(&self) -> trailpipe_event::ParseLimits {
        match self {
            Self::Kafka(k) => k.parse_limits(),
            Self::File(f) => trailpipe_event::ParseLimits {
                max_record_bytes: f.max_record_bytes,
                max_message_bytes: f.max_message_bytes,
                max_envelope_records: f.max_envelope_records,
            },
        }
    }
}

const fn default_max_record_bytes() -> usize {
    trailpipe_event::DEFAULT_MAX_RECORD_BYTES
}

const fn default_max_message_bytes() -> usize {
    trailpipe_event::DEFAULT_MAX_MESSAGE_BYTES
}

const fn default_max_envelope_records() -> usize {
    trailpipe_event::DEFAULT_MAX_ENVELOPE_RECORDS
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
    /// Compacted topic holding what the CloudTrail API changed (trail logging, selectors,
    /// tags), shared by every replica of the group; created (1 partition,
    /// `cleanup.policy=compact`) when missing. Default: `<group_id>.control`.
    #[serde(default)]
    pub control_topic: Option<String>,
    /// Records larger than this go to the dead-letter topic.
    #[serde(default = "default_max_record_bytes")]
    pub max_record_bytes: usize,
    /// Messages (a record or a `{"Records":[...]}` envelope, after decompression) larger than
    /// this are dead-lettered whole, unparsed.
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
    /// Envelopes with more records than this are dead-lettered whole.
    #[serde(default = "default_max_envelope_records")]
    pub max_envelope_records: usize,
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
    /// The control topic's name: `control_topic`, else `<group_id>.control`.
    pub fn control_topic_name(&self) -> String {
        self.control_topic
            .clone()
            .unwrap_or_else(|| format!("{}.control", self.group_id))
    }

    fn default_group_id() -> String {
        "trailpipe".into()
    }

    /// What a message may be before it is parsed, and an envelope while it is split.
    pub fn parse_limits(&self) -> trailpipe_event::ParseLimits {
        trailpipe_event::ParseLimits {
            max_record_bytes: self.max_record_bytes,
            max_message_bytes: self.max_message_bytes,
            max_envelope_records: self.max_envelope_records,
        }
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
    /// Lines (or whole `.json` files) larger than this are dead-lettered whole, unparsed.
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
    /// Envelopes with more records than this are dead-lettered whole.
    #[serde(default = "default_max_envelope_records")]
    pub max_envelope_records: usize,
}
