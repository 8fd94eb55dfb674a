//! The dead-letter destination: records trailpipe cannot deliver, kept with their reason and
//! source coordinates. A Kafka source writes to `dead_letter_topic` (the original bytes as the
//! value, the reason and coordinates in headers, like Kafka Connect's DLQ); a file source appends
//! NDJSON to `dead_letter_path`. A dead letter's offset counts as done only once this write
//! succeeded.
//!
//! Invariant: a letter can always be written while the topic accepts small messages. Reasons
//! are cut to [`MAX_REASON_BYTES`]; a letter whose original is larger than the producer sends
//! (`max_letter_bytes`), or that the broker refuses for its size, is written in its *pointer*
//! form instead — the source coordinates, size, SHA-256 and reason, enough to find the original
//! in the source topic while its retention keeps it — so no input can stop the partition.

use std::{
    io::Write,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use rdkafka::{
    message::{Header, OwnedHeaders},
    producer::{FutureProducer, FutureRecord},
};
use trailpipe_event::DeadLetter;

use crate::client::SecureContext;

/// Room above the largest record for what a dead letter adds: its headers (reason, source
/// coordinates) and the record batch's framing.
const HEADER_ROOM: usize = 64 * 1024;

/// Longest reason a letter carries (header or NDJSON field), in bytes; a longer one is cut at
/// a character boundary and ends with `…`.
pub const MAX_REASON_BYTES: usize = 1024;

/// `reason` as a letter carries it: at most [`MAX_REASON_BYTES`].
pub fn capped_reason(reason: &str) -> std::borrow::Cow<'_, str> {
    if reason.len() <= MAX_REASON_BYTES {
        return reason.into();
    }
    let mut end = MAX_REASON_BYTES - '…'.len_utf8();
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &reason[..end]).into()
}

/// The pointer form of a letter whose original cannot be carried (`why`): where the original
/// is, its size and SHA-256, and the reason it was refused.
pub fn pointer_letter(l: &DeadLetter, why: &str) -> Vec<u8> {
    use sha2::Digest;
    let sha256: String = sha2::Sha256::digest(&l.rejected.raw)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let reason = l.rejected.reason.to_string();
    let mut v = serde_json::json!({
        "trailpipe_dead_letter": "pointer",
        "why": capped_reason(why),
        "code": l.rejected.reason.code(),
        "reason": capped_reason(&reason),
        "source": &*l.partition.source,
        "partition": l.partition.partition,
        "offset": l.offset,
        "bytes": l.rejected.raw.len(),
        "sha256": sha256,
    });
    if let Some(i) = l.rejected.envelope_index {
        v["envelope_index"] = i.into();
    }
    serde_json::to_vec(&v).expect("serialising a JSON value")
}

/// Whether the broker (or librdkafka's own check) refused a message for its size.
fn refused_for_size(e: &rdkafka::error::KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode as C;
    matches!(
        e.rdkafka_error_code(),
        Some(C::MessageSizeTooLarge | C::MessageBatchTooLarge | C::InvalidMessageSize)
    )
}

/// A failed dead-letter write (retriable: the caller retries, the offset stays uncommitted).
#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    /// The producer could not deliver to the dead-letter topic.
    #[error("producing to dead-letter topic {topic}: {error}")]
    Kafka {
        /// The topic.
        topic: String,
        /// The error.
        error: rdkafka::error::KafkaError,
    },
    /// The dead-letter file could not be written.
    #[error("writing dead-letter file {path}: {error}")]
    File {
        /// The file.
        path: String,
        /// The error.
        error: std::io::Error,
    },
}

/// Where dead letters go.
#[derive(Clone)]
pub enum DeadLetterWriter {
    /// A Kafka topic.
    Kafka {
        /// Producer (acks=all), connected with the consumer's security settings.
        producer: FutureProducer<SecureContext>,
        /// Topic name.
        topic: Arc<str>,
        /// Largest original carried; larger ones are written as pointers.
        max_letter_bytes: usize,
    },
    /// An NDJSON file, appended to.
    File {
        /// The file path.
        path: PathBuf,
        /// Serialises appends.
        lock: Arc<Mutex<()>>,
    },
}

impl DeadLetterWriter {
    /// A writer appending to `path` (created if missing).
    pub fn file(path: PathBuf) -> Self {
        Self::File {
            path,
            lock: Arc::new(Mutex::new(())),
        }
    }

    /// Writes every letter durably, or fails without partial acknowledgement.
    pub async fn write(&self, letters: &[DeadLetter]) -> Result<(), DeadLetterError> {
        if letters.is_empty() {
            return Ok(());
        }
        match self {
            Self::Kafka {
                producer,
                topic,
                max_letter_bytes,
            } => {
                let sends = letters.iter().map(|l| async move {
                    if l.rejected.raw.len() > *max_letter_bytes {
                        let why = format!(
                            "the original ({} bytes) is larger than the largest dead letter ({max_letter_bytes} bytes, source.max_message_bytes)",
                            l.rejected.raw.len()
                        );
                        return send_letter(producer, topic, l, Some(&why)).await;
                    }
                    match send_letter(producer, topic, l, None).await {
                        Err(e) if refused_for_size(&e) => {
                            let why =
                                format!("the dead-letter topic refused the original: {e}");
                            tracing::warn!(topic = %topic, offset = l.offset, error = %e, "dead letter refused for its size: writing its pointer form");
                            send_letter(producer, topic, l, Some(&why)).await
                        }
                        other => other,
                    }
                });
                for result in futures::future::join_all(sends).await {
                    result.map_err(|error| DeadLetterError::Kafka {
                        topic: topic.to_string(),
                        error,
                    })?;
                }
                Ok(())
            }
            Self::File { path, lock } => {
                let mut buf = Vec::new();
                for l in letters {
                    serde_json::to_writer(&mut buf, &file_entry(l))
                        .expect("serialising a JSON value");
                    buf.push(b'\n');
                }
                let shown = path.display().to_string();
                let (path, lock) = (path.clone(), lock.clone());
                tokio::task::spawn_blocking(move || {
                    let _guard = lock.lock().unwrap_or_else(|p| p.into_inner());
                    let mut f = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&path)?;
                    f.write_all(&buf)?;
                    f.sync_data()
                })
                .await
                .expect("dead-letter writer task panicked")
                .map_err(|error| DeadLetterError::File { path: shown, error })
            }
        }
    }
}

/// One NDJSON dead-letter line: reason, code, file/line and the record — as text when it is
/// UTF-8, else as the array of its bytes, so nothing is lost.
fn file_entry(l: &DeadLetter) -> serde_json::Value {
    let mut v = serde_json::json!({
        "reason": capped_reason(&l.rejected.reason.to_string()),
        "code": l.rejected.reason.code(),
        "file": &*l.partition.source,
        "line": l.offset + 1,
    });
    if let Some(i) = l.rejected.envelope_index {
        v["envelope_index"] = i.into();
    }
    match std::str::from_utf8(&l.rejected.raw) {
        Ok(text) => v["record"] = text.into(),
        Err(_) => v["record_bytes"] = l.rejected.raw.iter().copied().collect::<Vec<u8>>().into(),
    }
    v
}

/// Sends one letter: the original with its reason and coordinates in headers, or (`pointer:
/// Some(why)`) its pointer form with the same headers.
async fn send_letter(
    producer: &FutureProducer<SecureContext>,
    topic: &str,
    l: &DeadLetter,
    pointer: Option<&str>,
) -> Result<(), rdkafka::error::KafkaError> {
    let offset = l.offset.to_string();
    let partition = l.partition.partition.to_string();
    let index = l.rejected.envelope_index.map(|i| i.to_string());
    let reason = l.rejected.reason.to_string();
    let mut headers = OwnedHeaders::new()
        .insert(Header {
            key: "trailpipe.error.code",
            value: Some(l.rejected.reason.code()),
        })
        .insert(Header {
            key: "trailpipe.error.reason",
            value: Some(&*capped_reason(&reason)),
        })
        .insert(Header {
            key: "trailpipe.source.topic",
            value: Some(&*l.partition.source),
        })
        .insert(Header {
            key: "trailpipe.source.partition",
            value: Some(partition.as_str()),
        })
        .insert(Header {
            key: "trailpipe.source.offset",
            value: Some(offset.as_str()),
        })
        .insert(Header {
            key: "trailpipe.dead_letter.form",
            value: Some(if pointer.is_some() {
                "pointer"
            } else {
                "original"
            }),
        });
    if let Some(i) = &index {
        headers = headers.insert(Header {
            key: "trailpipe.source.envelope_index",
            value: Some(i.as_str()),
        });
    }
    let body = pointer.map(|why| pointer_letter(l, why));
    let payload = body.as_deref().unwrap_or(&l.rejected.raw[..]);
    let mut record: FutureRecord<'_, [u8], [u8]> =
        FutureRecord::to(topic).payload(payload).headers(headers);
    if let Some(k) = &l.key {
        record = record.key(&k[..]);
    }
    producer
        .send(record, Duration::from_secs(30))
        .await
        .map(|_| ())
        .map_err(|(error, _)| error)
}

impl DeadLetterWriter {
    /// A writer producing to `topic` (acks from all in-sync replicas before a letter counts),
    /// configured by [`producer_config`] to carry originals of up to `max_letter_bytes`
    /// (`source.max_message_bytes`: any message the source reads); `context` is the
    /// consumer's, so both clients authenticate alike and report errors to the same health.
    pub fn kafka(
        brokers: &str,
        topic: &str,
        properties: &[(String, String)],
        max_letter_bytes: usize,
        context: SecureContext,
    ) -> Result<Self, rdkafka::error::KafkaError> {
        Ok(Self::Kafka {
            producer: producer_config(brokers, properties, max_letter_bytes).create_with_context(
                SecureContext {
                    role: "dead-letter producer",
                    ..context
                },
            )?,
            topic: topic.into(),
            max_letter_bytes,
        })
    }
}

/// The configuration of a producer to the source's cluster (the dead-letter producer, the API's
/// self-records). Of `properties` (the consumer's, see
/// `KafkaSource::client_properties`) only the connection and security settings apply.
/// `message.max.bytes` leaves room for the largest record the source accepts plus the dead
/// letter's headers (the topic's own `max.message.bytes` must allow as much).
pub fn producer_config(
    brokers: &str,
    properties: &[(String, String)],
    max_record_bytes: usize,
) -> rdkafka::ClientConfig {
    let mut c = rdkafka::ClientConfig::new();
    c.set("bootstrap.servers", brokers)
        .set("acks", "all")
        .set("linger.ms", "5")
        .set(
            "message.max.bytes",
            (max_record_bytes + HEADER_ROOM).max(1_000_000).to_string(),
        )
        .set("statistics.interval.ms", crate::client::STATS_INTERVAL_MS);
    for (k, v) in properties {
        if is_connection_property(k) {
            c.set(k, v);
        }
    }
    c
}

/// Whether a consumer property also applies to the dead-letter producer: how to reach and
/// authenticate to the cluster, not how to consume.
fn is_connection_property(k: &str) -> bool {
    k.starts_with("security.")
        || k.starts_with("sasl.")
        || k.starts_with("ssl.")
        || k.starts_with("enable.ssl.")
        || matches!(
            k,
            "client.id" | "client.rack" | "broker.address.family" | "socket.timeout.ms"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_cut_at_a_character_boundary() {
        assert_eq!(capped_reason("short"), "short");
        let exact = "x".repeat(MAX_REASON_BYTES);
        assert_eq!(capped_reason(&exact), exact.as_str());
        // Multi-byte characters straddling the cut are dropped whole.
        let long = "é".repeat(MAX_REASON_BYTES);
        let cut = capped_reason(&long);
        assert!(cut.len() <= MAX_REASON_BYTES, "{}", cut.len());
        assert!(cut.ends_with('…') && cut.starts_with("éé"), "{cut}");
        assert!(cut.len() > MAX_REASON_BYTES - 8);
    }

    #[test]
    fn a_pointer_names_the_original_and_its_digest() {
        use trailpipe_event::{PartitionId, RejectReason, Rejected};
        let l = DeadLetter {
            partition: std::sync::Arc::new(PartitionId {
                source: "events".into(),
                partition: 3,
            }),
            offset: 41,
            key: None,
            rejected: Rejected {
                raw: bytes::Bytes::from_static(b"abc"),
                reason: RejectReason::Malformed {
                    field: "awsRegion",
                    detail: "z".repeat(5000),
                },
                envelope_index: Some(7),
            },
        };
        let v: serde_json::Value =
            serde_json::from_slice(&pointer_letter(&l, "too big")).expect("JSON");
        assert_eq!(v["trailpipe_dead_letter"], "pointer");
        assert_eq!(
            v["sha256"],
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            (&v["source"], &v["partition"], &v["offset"], &v["bytes"]),
            (&"events".into(), &3.into(), &41.into(), &3.into())
        );
        assert_eq!(v["envelope_index"], 7);
        assert_eq!(v["code"], "malformed_field");
        assert!(v["reason"].as_str().expect("reason").len() <= MAX_REASON_BYTES);
        assert_eq!(v["why"], "too big");
    }

    #[test]
    fn producer_shares_security_settings_and_fits_the_largest_record() {
        let props: Vec<(String, String)> = [
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.password", "s3cret"),
            ("ssl.ca.location", "/etc/ca.pem"),
            ("enable.ssl.certificate.verification", "true"),
            ("client.id", "audit"),
            ("group.id", "trailpipe"),
            ("fetch.wait.max.ms", "10"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let c = producer_config("b:9093", &props, 4 * 1024 * 1024);
        for k in [
            "security.protocol",
            "sasl.mechanism",
            "sasl.password",
            "ssl.ca.location",
            "enable.ssl.certificate.verification",
            "client.id",
        ] {
            assert!(c.get(k).is_some(), "{k} not passed to the producer");
        }
        assert_eq!(c.get("group.id"), None);
        assert_eq!(c.get("fetch.wait.max.ms"), None);
        let max: usize = c.get("message.max.bytes").unwrap().parse().unwrap();
        assert!(max >= 4 * 1024 * 1024 + 1024, "{max}");
        // librdkafka accepts the configuration (a real client, no broker needed to create it).
        DeadLetterWriter::kafka(
            "127.0.0.1:1",
            "dlq",
            &props[4..],
            4 << 20,
            SecureContext::default(),
        )
        .expect("producer created");
    }
}
