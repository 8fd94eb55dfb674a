//! Checks a Kafka source's client configuration before anything connects, so `trailpipe
//! validate`, `run` and a SIGHUP reload refuse what cannot work with a message naming the field:
//! a protocol or mechanism this build lacks (librdkafka's `builtin.features`), unreadable CA,
//! certificate or key files, a key that does not match its certificate or whose password is
//! wrong (librdkafka loads them when the client is created), and MSK IAM credentials that
//! cannot be had. [`probe`] goes further and connects (`trailpipe validate --connect`).

use std::time::Duration;

use rdkafka::{consumer::BaseConsumer, consumer::Consumer, ClientConfig};
use trailpipe_config::KafkaSource;
use trailpipe_ingest::{KafkaHealth, KafkaSettings, MskIamAuth, SecureContext};

/// A check that failed: the field to fix and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The configuration field (`source.tls.key_file`, `source.librdkafka."ssl.ca.location"`).
    pub field: String,
    /// What is wrong (never a secret value).
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

fn problem(field: impl Into<String>, message: impl Into<String>) -> Problem {
    Problem {
        field: field.into(),
        message: message.into(),
    }
}

/// librdkafka's `builtin.features` of this build (`gzip,snappy,ssl,sasl,...`).
pub fn builtin_features() -> Vec<String> {
    ClientConfig::new()
        .create_native_config()
        .and_then(|c| c.get("builtin.features"))
        .map(|f| f.split(',').map(str::to_owned).collect())
        .unwrap_or_default()
}

/// The consumer settings `k` runs with (the dead-letter producer takes its connection subset).
pub fn settings(k: &KafkaSource, context: SecureContext) -> KafkaSettings {
    KafkaSettings {
        brokers: k.brokers.clone(),
        topics: k.topics.clone(),
        group_id: k.group_id.clone(),
        limits: k.parse_limits(),
        properties: k.client_properties(),
        context,
        assignment: None,
    }
}

/// The files librdkafka reads at client creation, by property.
const FILE_PROPERTIES: &[&str] = &[
    "ssl.ca.location",
    "ssl.certificate.location",
    "ssl.key.location",
];

/// Everything that can be checked without connecting. Returns the MSK IAM token source
/// (credentials found, one token signed) when `[source.aws_msk_iam]` is set; `run` hands it to
/// the clients so the first token is not fetched twice.
pub async fn preflight(k: &KafkaSource) -> Result<Option<MskIamAuth>, Vec<Problem>> {
    let mut problems = Vec::new();
    let field = |key: &str, fallback: &str| field_of(k, key, fallback);
    let mut s = settings(
        k,
        SecureContext::new("preflight", None, KafkaHealth::default()),
    );
    let features = builtin_features();
    let has = |f: &str| features.iter().any(|x| x == f);
    if k.tls_enabled() && !has("ssl") {
        problems.push(problem(
            field("security.protocol", "source.tls"),
            "TLS is not built into this trailpipe (librdkafka builtin.features lacks ssl)",
        ));
    }
    if let Some(m) = k.sasl_mechanism() {
        if !has(m.builtin_feature()) {
            problems.push(problem(
                field("sasl.mechanism", "source.sasl.mechanism"),
                format!(
                    "SASL {} is not built into this trailpipe (librdkafka builtin.features lacks {})",
                    m.as_str(),
                    m.builtin_feature()
                ),
            ));
        }
    }
    for key in FILE_PROPERTIES {
        let Some((_, path)) = s.properties.iter().find(|(p, _)| p == key) else {
            continue;
        };
        if *key == "ssl.ca.location" && path == "probe" {
            continue;
        }
        if let Err(e) = std::fs::File::open(path) {
            problems.push(problem(field(key, key), format!("cannot read {path}: {e}")));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut msk = None;
    if let Some(m) = &k.aws_msk_iam {
        let field = "source.aws_msk_iam";
        match MskIamAuth::from_env(&m.region, m.role_arn.as_deref()).await {
            Ok(auth) => {
                let probe = auth.clone();
                match tokio::task::spawn_blocking(move || probe.token()).await {
                    Ok(Ok(_)) => msk = Some(auth),
                    Ok(Err(e)) => problems.push(problem(field, e.to_string())),
                    Err(e) => problems.push(problem(field, e.to_string())),
                }
            }
            Err(e) => problems.push(problem(field, e.to_string())),
        }
    }
    // Creating a client makes librdkafka load the CA, certificate and key and check that the
    // key matches the certificate and decrypts with its password; no connection is made yet.
    s.context.msk = msk.clone();
    if let Err(e) = s
        .client_config()
        .create_with_context::<_, BaseConsumer<SecureContext>>(s.context.clone())
    {
        problems.push(client_problem(k, &e.to_string()));
    }
    if problems.is_empty() {
        Ok(msk)
    } else {
        Err(problems)
    }
}

/// The field that sets librdkafka property `key` (see `KafkaSource::property_field`), or
/// `fallback` when nothing does.
fn field_of(k: &KafkaSource, key: &str, fallback: &str) -> String {
    k.property_field(key).unwrap_or_else(|| fallback.to_owned())
}

/// Names the field behind librdkafka's client-creation error (it says which property failed).
fn client_problem(k: &KafkaSource, error: &str) -> Problem {
    let named = |key: &str, fallback: &str| field_of(k, key, fallback);
    let lower = error.to_ascii_lowercase();
    let field = if lower.contains("ssl.key")
        || lower.contains("private key")
        || lower.contains("key values mismatch")
        || lower.contains("bad decrypt")
    {
        let key = named("ssl.key.location", "source.tls.key_file");
        let cert = named("ssl.certificate.location", "source.tls.cert_file");
        format!("{key} / {cert}")
    } else if lower.contains("ssl.certificate") {
        named("ssl.certificate.location", "source.tls.cert_file")
    } else if lower.contains("ssl.ca") || lower.contains("ca certificate") {
        named("ssl.ca.location", "source.tls.ca_file")
    } else if lower.contains("sasl") {
        named("sasl.mechanism", "source.sasl")
    } else {
        "source".to_owned()
    };
    let hint = if lower.contains("pem lib") || lower.contains("bad decrypt") {
        // OpenSSL's words for a key it could not decrypt or parse.
        " (a wrong key password, or not a PEM private key)"
    } else {
        ""
    };
    problem(
        field,
        format!("the Kafka client cannot be created: {error}{hint}"),
    )
}

/// Connects with the real settings and fetches the subscribed topics' metadata within
/// `timeout`: a TLS or authentication failure comes back as librdkafka reported it, and a topic
/// the cluster does not have is named.
pub async fn probe(
    k: &KafkaSource,
    msk: Option<MskIamAuth>,
    timeout: Duration,
) -> Result<(), Vec<Problem>> {
    let health = KafkaHealth::default();
    let s = settings(k, SecureContext::new("probe", msk, health.clone()));
    let ctx = s.context.clone();
    let topics: Vec<(&'static str, String)> = k
        .topics
        .iter()
        .map(|t| ("source.topics", t.clone()))
        .chain([("source.dead_letter_topic", k.dead_letter_topic.clone())])
        .collect();
    let brokers = k.brokers.clone();
    let ca = s
        .properties
        .iter()
        .find(|(key, _)| key == "ssl.ca.location")
        .map(|(_, v)| v.clone());
    let oauth = k.sasl_mechanism() == Some(trailpipe_config::SaslMechanism::OAuthBearer);
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer<SecureContext> = s
            .client_config()
            .create_with_context(ctx)
            .map_err(|e| vec![problem("source", e.to_string())])?;
        let mut problems = Vec::new();
        let deadline = std::time::Instant::now() + timeout;
        if oauth {
            // The first token is set from the refresh event, served by polling.
            for _ in 0..10 {
                let _ = consumer.poll(Duration::from_millis(100));
            }
        }
        for (field, topic) in &topics {
            // Serving the client's events while waiting answers token refreshes and reports
            // TLS and authentication errors to `health`.
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let _ = consumer.poll(Duration::ZERO);
            match topic_missing(&consumer, topic, left) {
                Ok(true) => problems.push(problem(
                    *field,
                    format!("topic {topic} does not exist on {brokers}"),
                )),
                Ok(false) => {}
                Err(e) => {
                    let _ = consumer.poll(Duration::from_millis(100));
                    let st = health.status();
                    let why = st.latest_error.unwrap_or_else(|| e.to_string());
                    let kind = st.latest_error_kind.map_or("connection", |k| k.as_str());
                    let mut message =
                        format!("cannot fetch metadata from {brokers} ({kind}): {why}");
                    if st.latest_error_kind == Some(trailpipe_ingest::ClientErrorKind::Tls) {
                        if let Some(verdict) = diagnose_tls(&brokers, ca.as_deref()) {
                            message = format!("{message}; the broker's certificate: {verdict}");
                        }
                    }
                    problems.push(problem("source.brokers", message));
                    break;
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    })
    .await
    .map_err(|e| vec![problem("source", e.to_string())])?
}

/// Whether the cluster lacks `topic` (metadata names it with an error, or without partitions).
fn topic_missing(
    consumer: &BaseConsumer<SecureContext>,
    topic: &str,
    timeout: Duration,
) -> rdkafka::error::KafkaResult<bool> {
    let md = consumer.fetch_metadata(Some(topic), timeout)?;
    Ok(md
        .topics()
        .iter()
        .any(|t| t.name() == topic && (t.error().is_some() || t.partitions().is_empty())))
}

/// At start: a dead-letter topic the cluster does not have cannot take the first rejected
/// record, and the partition holding it would stop there. Returns what to tell the operator
/// when it is missing; `None` when it exists or cannot be told (brokers unreachable: the
/// consumer reports that itself).
pub async fn missing_dead_letter_topic(k: &KafkaSource, context: SecureContext) -> Option<String> {
    let s = settings(k, context.clone());
    let (topic, brokers) = (k.dead_letter_topic.clone(), k.brokers.clone());
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer<SecureContext> =
            s.client_config().create_with_context(context).ok()?;
        let _ = consumer.poll(Duration::ZERO);
        topic_missing(&consumer, &topic, Duration::from_secs(30))
            .ok()?
            .then(|| {
                format!(
                    "dead-letter topic {topic} does not exist on {brokers} (source.dead_letter_topic): create it, or rejected records cannot be written and their partitions stop at them"
                )
            })
    })
    .await
    .ok()
    .flatten()
}

/// Why the first bootstrap broker's certificate is refused, in words librdkafka's handshake
/// error lacks ("certificate verify failed" covers an expired certificate, an unknown issuer and
/// a wrong name alike): a rustls handshake against `ca_file` names the reason. `None` when the
/// certificate verifies (the failure was elsewhere, e.g. the client certificate), when no CA
/// file is configured, or when the broker cannot be reached.
fn diagnose_tls(brokers: &str, ca_file: Option<&str>) -> Option<String> {
    use std::{net::ToSocketAddrs, sync::Arc};

    use rustls::pki_types::{pem::PemObject, CertificateDer, ServerName};

    let broker = brokers.split(',').next()?.trim();
    let broker = broker.rsplit_once("://").map_or(broker, |(_, b)| b);
    let (host, port) = broker.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_file?).ok()? {
        roots.add(cert.ok()?).ok()?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from(host.to_owned()).ok()?;
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).ok()?;
    let addr = (host, port.parse::<u16>().ok()?)
        .to_socket_addrs()
        .ok()?
        .next()?;
    let timeout = Duration::from_secs(5);
    let mut sock = std::net::TcpStream::connect_timeout(&addr, timeout).ok()?;
    sock.set_read_timeout(Some(timeout)).ok()?;
    sock.set_write_timeout(Some(timeout)).ok()?;
    while conn.is_handshaking() {
        if let Err(e) = conn.complete_io(&mut sock) {
            return match e.get_ref()?.downcast_ref::<rustls::Error>()? {
                err @ rustls::Error::InvalidCertificate(_) => Some(err.to_string()),
                _ => None,
            };
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_build_has_tls_every_sasl_mechanism_it_documents_and_every_codec() {
        let f = builtin_features();
        for needed in [
            "ssl",
            "sasl_plain",
            "sasl_scram",
            "sasl_oauthbearer",
            "gzip",
            "snappy",
            "lz4",
            "zstd",
        ] {
            assert!(f.iter().any(|x| x == needed), "{needed} missing from {f:?}");
        }
    }
}
