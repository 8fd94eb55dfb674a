//! What every trailpipe Kafka client (the group consumer and the dead-letter producer) runs
//! with: the [`ClientContext`] that answers librdkafka's OAUTHBEARER refreshes with MSK IAM
//! tokens and reports client errors, and [`KafkaHealth`], the connection's state for `/readyz`.
//!
//! Invariants:
//! - an authentication, TLS or transport failure is recorded (kind, message, time) the moment
//!   librdkafka reports it, counted in `trailpipe_kafka_client_errors_total{kind}` and logged
//!   once at `error`/`warn`; it stays until librdkafka's statistics show a broker `UP` again
//!   (connected *and* authenticated), so `/readyz` cannot flap green between retries;
//! - error messages come from librdkafka, which never includes passwords or tokens in them.

use std::{
    collections::HashMap,
    error::Error,
    sync::{Arc, Mutex},
    time::SystemTime,
};

use rdkafka::{
    client::OAuthToken,
    error::{KafkaError, RDKafkaErrorCode},
    ClientContext,
};
use serde::Deserialize;
use trailpipe_telemetry as names;

use crate::MskIamAuth;

/// How often librdkafka reports statistics, from which [`KafkaHealth`] learns that a broker is
/// `UP` again after an error (`statistics.interval.ms`).
pub const STATS_INTERVAL_MS: &str = "5000";

/// What a client error was about, as a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientErrorKind {
    /// SASL authentication failed (wrong password, expired or refused token).
    Authentication,
    /// The TLS handshake failed (unknown CA, expired or mismatched certificate, wrong host).
    Tls,
    /// Brokers unreachable: connection refused or reset, name not resolved, all brokers down.
    Transport,
    /// Anything else librdkafka reports as a client-level error.
    Other,
}

impl ClientErrorKind {
    /// The metric label and the `/readyz` field value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Authentication => "authentication",
            Self::Tls => "tls",
            Self::Transport => "transport",
            Self::Other => "other",
        }
    }

    /// Classifies a librdkafka error code.
    pub fn of(error: &KafkaError) -> Self {
        match error.rdkafka_error_code() {
            Some(RDKafkaErrorCode::Authentication)
            | Some(RDKafkaErrorCode::SaslAuthenticationFailed)
            | Some(RDKafkaErrorCode::TopicAuthorizationFailed)
            | Some(RDKafkaErrorCode::GroupAuthorizationFailed)
            | Some(RDKafkaErrorCode::ClusterAuthorizationFailed) => Self::Authentication,
            Some(RDKafkaErrorCode::SSL) => Self::Tls,
            Some(RDKafkaErrorCode::BrokerTransportFailure)
            | Some(RDKafkaErrorCode::AllBrokersDown)
            | Some(RDKafkaErrorCode::Resolve) => Self::Transport,
            _ => Self::Other,
        }
    }
}

/// The Kafka connection's latest error, as `/readyz` shows it.
#[derive(Debug, Clone, Default)]
pub struct KafkaStatus {
    /// What the latest unresolved error was about (`None` once a broker is up again).
    pub latest_error_kind: Option<ClientErrorKind>,
    /// librdkafka's description of it.
    pub latest_error: Option<String>,
    /// When it was reported.
    pub latest_error_time: Option<SystemTime>,
    /// When a broker was last seen up (connected and authenticated).
    pub latest_connected: Option<SystemTime>,
}

impl KafkaStatus {
    /// Ready unless an authentication, TLS or transport error is unresolved.
    pub fn is_healthy(&self) -> bool {
        !matches!(
            self.latest_error_kind,
            Some(
                ClientErrorKind::Authentication | ClientErrorKind::Tls | ClientErrorKind::Transport
            )
        )
    }
}

/// Shared, cheaply cloned view of the Kafka clients' connection health.
#[derive(Debug, Clone, Default)]
pub struct KafkaHealth(Arc<Mutex<KafkaStatus>>);

impl KafkaHealth {
    /// Records a client error. A transport error ("1/1 brokers are down") does not replace an
    /// unresolved TLS or authentication error: it is that error's consequence, and the cause
    /// is what the operator must see.
    pub fn error(&self, kind: ClientErrorKind, message: String) {
        let mut s = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let cause = |k| {
            matches!(
                k,
                Some(ClientErrorKind::Tls | ClientErrorKind::Authentication)
            )
        };
        if cause(s.latest_error_kind) && !cause(Some(kind)) {
            return;
        }
        s.latest_error_kind = Some(kind);
        s.latest_error = Some(message);
        s.latest_error_time = Some(SystemTime::now());
    }

    /// Records that a broker is up (clears the error).
    pub fn connected(&self) {
        let mut s = self.0.lock().unwrap_or_else(|p| p.into_inner());
        s.latest_error_kind = None;
        s.latest_error = None;
        s.latest_connected = Some(SystemTime::now());
    }

    /// The current status.
    pub fn status(&self) -> KafkaStatus {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The part of librdkafka's statistics JSON the health needs (the rest is skipped unparsed).
#[derive(Deserialize)]
struct Stats {
    #[serde(default)]
    brokers: HashMap<String, BrokerStats>,
}

#[derive(Deserialize)]
struct BrokerStats {
    state: String,
    /// -1 for bootstrap entries that are not yet a known broker.
    #[serde(default)]
    nodeid: i32,
}

/// The [`ClientContext`] of trailpipe's Kafka clients (see the module's invariants).
#[derive(Clone, Default)]
pub struct SecureContext {
    /// Token source for `[source.aws_msk_iam]`.
    pub msk: Option<MskIamAuth>,
    /// Where client errors and recoveries are recorded.
    pub health: KafkaHealth,
    /// Which client this is, in logs (`consumer`, `dead-letter producer`).
    pub role: &'static str,
}

impl SecureContext {
    /// A context for the client `role`.
    pub fn new(role: &'static str, msk: Option<MskIamAuth>, health: KafkaHealth) -> Self {
        Self { msk, health, role }
    }
}

impl ClientContext for SecureContext {
    // rust-rdkafka always subscribes to librdkafka's token-refresh event, so librdkafka's own
    // unsecured-JWT default cannot run anyway: answer it, with an MSK IAM token or a clear error.
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn error(&self, error: KafkaError, reason: &str) {
        let kind = ClientErrorKind::of(&error);
        metrics::counter!(names::KAFKA_CLIENT_ERRORS, "kind" => kind.as_str()).increment(1);
        let message = if reason.is_empty() {
            error.to_string()
        } else {
            reason.to_string()
        };
        match kind {
            ClientErrorKind::Other => {
                tracing::warn!(client = self.role, kind = kind.as_str(), error = %message, "kafka client error")
            }
            _ => {
                tracing::error!(client = self.role, kind = kind.as_str(), error = %message, "kafka client error")
            }
        }
        self.health.error(kind, message);
    }

    fn stats_raw(&self, statistics: &[u8]) {
        match serde_json::from_slice::<Stats>(statistics) {
            Ok(s) => {
                if s.brokers.values().any(|b| b.nodeid >= 0 && b.state == "UP") {
                    self.health.connected();
                }
            }
            Err(e) => tracing::debug!(error = %e, "unreadable librdkafka statistics"),
        }
    }

    fn generate_oauth_token(
        &self,
        _oauthbearer_config: Option<&str>,
    ) -> Result<OAuthToken, Box<dyn Error>> {
        match &self.msk {
            Some(m) => m.oauth_token().inspect_err(|e| {
                tracing::error!(client = self.role, error = %e, "MSK IAM token could not be made");
            }),
            None => Err(
                "SASL OAUTHBEARER needs [source.aws_msk_iam]: this build answers token \
                         refreshes with MSK IAM tokens only (librdkafka's OIDC is not built in)"
                    .into(),
            ),
        }
    }
}

/// Lets a plain `BaseConsumer` (the configuration probe) use the context; the group consumer
/// has its own context wrapping this one.
impl rdkafka::consumer::ConsumerContext for SecureContext {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_classified_by_code() {
        let k = |c| ClientErrorKind::of(&KafkaError::Global(c));
        assert_eq!(
            k(RDKafkaErrorCode::Authentication),
            ClientErrorKind::Authentication
        );
        assert_eq!(k(RDKafkaErrorCode::SSL), ClientErrorKind::Tls);
        assert_eq!(
            k(RDKafkaErrorCode::AllBrokersDown),
            ClientErrorKind::Transport
        );
        assert_eq!(k(RDKafkaErrorCode::MessageTimedOut), ClientErrorKind::Other);
    }

    #[test]
    fn an_error_stays_until_a_broker_is_up() {
        let ctx = SecureContext::new("test", None, KafkaHealth::default());
        assert!(ctx.health.status().is_healthy());
        ctx.error(
            KafkaError::Global(RDKafkaErrorCode::SSL),
            "ssl://localhost:19094/bootstrap: SSL handshake failed: certificate has expired",
        );
        let s = ctx.health.status();
        assert!(!s.is_healthy());
        assert_eq!(s.latest_error_kind, Some(ClientErrorKind::Tls));
        assert!(s.latest_error.unwrap().contains("certificate has expired"));
        // Its consequence does not hide the cause.
        ctx.error(
            KafkaError::Global(RDKafkaErrorCode::AllBrokersDown),
            "1/1 brokers are down",
        );
        assert_eq!(
            ctx.health.status().latest_error_kind,
            Some(ClientErrorKind::Tls)
        );
        // A bootstrap entry that is merely connecting does not clear it ...
        ctx.stats_raw(
            br#"{"brokers":{"ssl://localhost:19094/bootstrap":{"state":"CONNECT","nodeid":-1}},"topics":{}}"#,
        );
        assert!(!ctx.health.status().is_healthy());
        // ... a broker that is up does.
        ctx.stats_raw(br#"{"brokers":{"ssl://localhost:19094/1":{"state":"UP","nodeid":1}}}"#);
        let s = ctx.health.status();
        assert!(s.is_healthy() && s.latest_error.is_none() && s.latest_connected.is_some());
    }

    #[test]
    fn oauthbearer_without_msk_iam_is_a_clear_error() {
        let ctx = SecureContext::new("test", None, KafkaHealth::default());
        let Err(e) = ctx.generate_oauth_token(None) else {
            panic!("a token without [source.aws_msk_iam]")
        };
        let e = e.to_string();
        assert!(e.contains("[source.aws_msk_iam]"), "{e}");
    }
}
