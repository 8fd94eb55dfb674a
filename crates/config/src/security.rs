//! `[source.tls]`, `[source.sasl]` and `[source.aws_msk_iam]`: how the Kafka client proves who it
//! talks to and who it is, typed and documented, mapped onto librdkafka's properties.
//!
//! Invariants:
//! - [`KafkaSource::client_properties`] is the only place typed settings become librdkafka
//!   properties; the consumer and the dead-letter producer both use it, so they connect alike;
//! - a raw `[source.librdkafka]` key wins over the typed field that sets the same property, but
//!   a raw key that *disagrees* with a typed field is a validation error naming both, so two
//!   places in one file can never silently say different things.

use std::path::PathBuf;

use serde::Deserialize;

use crate::{secret::Secret, ConfigError, KafkaSource};

/// `[source.tls]`: TLS to the brokers (`security.protocol` `SSL`, or `SASL_SSL` with `[source.sasl]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Whether TLS is on (lets a file keep the table and switch it off).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// PEM file of the CA certificate(s) that sign the brokers' certificates
    /// (`ssl.ca.location`); without it the system's trust store is used.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate for mutual TLS (`ssl.certificate.location`); needs `key_file`.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file` (`ssl.key.location`).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Passphrase of an encrypted `key_file` (`ssl.key.password`); or `key_password_file`.
    #[serde(default)]
    pub key_password: Option<Secret>,
    /// File holding `key_password`.
    #[serde(default)]
    pub key_password_file: Option<PathBuf>,
    /// Check that the broker's certificate names the host connected to
    /// (`ssl.endpoint.identification.algorithm = https`).
    #[serde(default = "yes")]
    pub verify_hostname: bool,
    /// Check the broker's certificate chain at all (`enable.ssl.certificate.verification`).
    /// Turning it off lets anyone on the path read and forge the audit stream: tests only.
    #[serde(default = "yes")]
    pub verify_certificate: bool,
}

const fn yes() -> bool {
    true
}

/// A SASL mechanism librdkafka speaks (`sasl.mechanism`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum SaslMechanism {
    /// User name and password in clear text (use it only over TLS).
    #[serde(rename = "PLAIN")]
    Plain,
    /// Salted challenge-response with SHA-256.
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    /// Salted challenge-response with SHA-512.
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
    /// Bearer tokens: only through `[source.aws_msk_iam]` (see `OAUTHBEARER_SOURCES`).
    #[serde(rename = "OAUTHBEARER")]
    OAuthBearer,
}

impl SaslMechanism {
    /// librdkafka's name of the mechanism.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha512 => "SCRAM-SHA-512",
            Self::OAuthBearer => "OAUTHBEARER",
        }
    }

    /// The `builtin.features` entry librdkafka needs for this mechanism.
    pub fn builtin_feature(self) -> &'static str {
        match self {
            Self::Plain => "sasl_plain",
            Self::ScramSha256 | Self::ScramSha512 => "sasl_scram",
            Self::OAuthBearer => "sasl_oauthbearer",
        }
    }
}

/// `[source.sasl]`: SASL authentication (`SASL_SSL` with `[source.tls]`, else `SASL_PLAINTEXT`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaslConfig {
    /// `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512` or `OAUTHBEARER`.
    pub mechanism: SaslMechanism,
    /// User name (`sasl.username`); `${ENV}` references are expanded.
    #[serde(default)]
    pub username: Option<String>,
    /// Password (`sasl.password`): `${ENV}` or `password_file`, never inline outside tests.
    #[serde(default)]
    pub password: Option<Secret>,
    /// File holding `password`.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
}

/// `[source.aws_msk_iam]`: Amazon MSK IAM access control. Tokens are SigV4-presigned with the
/// AWS default credential chain (optionally assuming `role_arn`) and refreshed by librdkafka's
/// OAUTHBEARER refresh callback before they expire. Implies `SASL_SSL` + `OAUTHBEARER`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MskIamConfig {
    /// The cluster's region (the token is signed for `kafka.<region>.amazonaws.com`).
    pub region: String,
    /// A role to assume with STS for the cluster's credentials.
    #[serde(default)]
    pub role_arn: Option<String>,
}

/// Why OAUTHBEARER is accepted only with `[source.aws_msk_iam]`: trailpipe's clients answer
/// librdkafka's token-refresh event themselves (rust-rdkafka routes it to the application), so
/// librdkafka's own token sources (unsecured JWT; OIDC, which needs libcurl, is not built) would
/// race with that answer.
const OAUTHBEARER_SOURCES: &str = "OAUTHBEARER tokens come only from [source.aws_msk_iam] (Amazon MSK IAM) in this build; librdkafka's own token sources (OIDC, unsecured JWT) are not supported: use [source.aws_msk_iam], or SCRAM or PLAIN credentials";

/// One property a typed field sets: librdkafka's key, the value, and the user's field name.
struct Typed {
    key: &'static str,
    value: String,
    field: &'static str,
    secret: bool,
}

/// librdkafka accepts these aliases for the same property; a raw alias counts as the key.
const ALIASES: &[(&str, &str)] = &[("sasl.mechanisms", "sasl.mechanism")];

fn canonical(key: &str) -> &str {
    ALIASES
        .iter()
        .find(|(alias, _)| *alias == key)
        .map_or(key, |(_, k)| k)
}

/// Whether a librdkafka property carries a secret (never logged, printed or exported).
pub fn is_secret_property(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.contains("password")
        || k.contains("secret")
        || k.ends_with(".pem")
        || k.contains("token")
        // OAUTHBEARER extensions and config carry credentials (e.g. Confluent's logical
        // cluster and API keys, unsecured JWT claims).
        || k.starts_with("sasl.oauthbearer.extensions")
        || k == "sasl.oauthbearer.config"
}

impl KafkaSource {
    /// Whether the typed settings ask for TLS.
    pub fn tls_enabled(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.enabled) || self.aws_msk_iam.is_some()
    }

    /// The SASL mechanism in use (`[source.aws_msk_iam]` means OAUTHBEARER).
    pub fn sasl_mechanism(&self) -> Option<SaslMechanism> {
        if self.aws_msk_iam.is_some() {
            Some(SaslMechanism::OAuthBearer)
        } else {
            self.sasl.as_ref().map(|s| s.mechanism)
        }
    }

    fn typed_properties(&self) -> Vec<Typed> {
        let mut out = Vec::new();
        let mut put = |key, value: String, field, secret| {
            out.push(Typed {
                key,
                value,
                field,
                secret,
            })
        };
        let protocol = match (self.tls_enabled(), self.sasl_mechanism().is_some()) {
            (false, false) => None,
            (true, false) => Some("SSL"),
            (false, true) => Some("SASL_PLAINTEXT"),
            (true, true) => Some("SASL_SSL"),
        };
        if let Some(p) = protocol {
            put(
                "security.protocol",
                p.into(),
                "source.tls / source.sasl",
                false,
            );
        }
        if let Some(t) = self.tls.as_ref().filter(|t| t.enabled) {
            let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
            if let Some(v) = path(&t.ca_file) {
                put("ssl.ca.location", v, "source.tls.ca_file", false);
            }
            if let Some(v) = path(&t.cert_file) {
                put("ssl.certificate.location", v, "source.tls.cert_file", false);
            }
            if let Some(v) = path(&t.key_file) {
                put("ssl.key.location", v, "source.tls.key_file", false);
            }
            if let Some(v) = &t.key_password {
                put(
                    "ssl.key.password",
                    v.expose().into(),
                    "source.tls.key_password",
                    true,
                );
            }
            put(
                "ssl.endpoint.identification.algorithm",
                if t.verify_hostname { "https" } else { "none" }.into(),
                "source.tls.verify_hostname",
                false,
            );
            put(
                "enable.ssl.certificate.verification",
                t.verify_certificate.to_string(),
                "source.tls.verify_certificate",
                false,
            );
        }
        if let Some(m) = self.sasl_mechanism() {
            let field = if self.aws_msk_iam.is_some() {
                "source.aws_msk_iam"
            } else {
                "source.sasl.mechanism"
            };
            put("sasl.mechanism", m.as_str().into(), field, false);
        }
        if let Some(s) = &self.sasl {
            if let Some(u) = &s.username {
                put("sasl.username", u.clone(), "source.sasl.username", false);
            }
            if let Some(p) = &s.password {
                put(
                    "sasl.password",
                    p.expose().into(),
                    "source.sasl.password",
                    true,
                );
            }
        }
        out
    }

    /// The client's connection and security properties: the typed fields' properties, then
    /// every raw `[source.librdkafka]` property (which wins). Secret values are in clear here:
    /// hand the list to librdkafka only, never to a log (see [`is_secret_property`]).
    pub fn client_properties(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for t in self.typed_properties() {
            if !self.librdkafka.keys().any(|k| canonical(k) == t.key) {
                out.push((t.key.into(), t.value));
            }
        }
        out.extend(self.librdkafka.iter().map(|(k, v)| (k.clone(), v.clone())));
        out
    }

    /// The configuration field that sets librdkafka property `key`, for error messages:
    /// the raw `[source.librdkafka]` key when there is one (it wins), else the typed field;
    /// `None` when neither sets it (librdkafka's default applies).
    pub fn property_field(&self, key: &str) -> Option<String> {
        if let Some(raw) = self.librdkafka.keys().find(|k| canonical(k) == key) {
            return Some(format!("source.librdkafka.\"{raw}\""));
        }
        self.typed_properties()
            .into_iter()
            .find(|t| t.key == key)
            .map(|t| t.field.to_string())
    }

    /// Mistakes in the security settings, each naming its field(s).
    pub(crate) fn security_errors(&self, errors: &mut Vec<ConfigError>) {
        for t in self.typed_properties() {
            for (k, v) in self.librdkafka.iter() {
                if canonical(k) == t.key && !v.eq_ignore_ascii_case(&t.value) {
                    let shown = if t.secret { "<redacted>" } else { v.as_str() };
                    errors.push(ConfigError::new(
                        format!("source.librdkafka.\"{k}\""),
                        format!(
                            "= \"{shown}\" disagrees with {} (which sets {} differently); keep one of the two",
                            t.field, t.key
                        ),
                    ));
                }
            }
        }
        if let Some(t) = self.tls.as_ref().filter(|t| t.enabled) {
            match (&t.cert_file, &t.key_file) {
                (Some(_), None) => errors.push(ConfigError::new(
                    "source.tls.key_file",
                    "is required with source.tls.cert_file (the client certificate's private key)",
                )),
                (None, Some(_)) => errors.push(ConfigError::new(
                    "source.tls.cert_file",
                    "is required with source.tls.key_file",
                )),
                _ => {}
            }
            if t.key_password.is_some() && t.key_file.is_none() {
                errors.push(ConfigError::new(
                    "source.tls.key_password",
                    "is set but source.tls.key_file is not",
                ));
            }
        }
        if let (Some(_), Some(_)) = (&self.sasl, &self.aws_msk_iam) {
            errors.push(ConfigError::new(
                "source.sasl",
                "cannot be combined with source.aws_msk_iam (which authenticates with OAUTHBEARER tokens itself); remove one",
            ));
        }
        if let Some(m) = &self.aws_msk_iam {
            if m.region.trim().is_empty() {
                errors.push(ConfigError::new(
                    "source.aws_msk_iam.region",
                    "must name the cluster's region",
                ));
            }
            if self.tls.as_ref().is_some_and(|t| !t.enabled) {
                errors.push(ConfigError::new(
                    "source.tls.enabled",
                    "must not be false with source.aws_msk_iam (MSK's IAM listener is TLS only)",
                ));
            }
        }
        if let Some(s) = &self.sasl {
            let has = |k: &str| self.librdkafka.keys().any(|r| canonical(r) == k);
            match s.mechanism {
                SaslMechanism::Plain | SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512 => {
                    if s.username.as_deref().is_none_or(str::is_empty) && !has("sasl.username") {
                        errors.push(ConfigError::new(
                            "source.sasl.username",
                            format!("is required for {}", s.mechanism.as_str()),
                        ));
                    }
                    if s.password.as_ref().is_none_or(Secret::is_empty) && !has("sasl.password") {
                        errors.push(ConfigError::new(
                            "source.sasl.password",
                            format!(
                                "is required for {} (as \"${{ENV_VAR}}\" or source.sasl.password_file)",
                                s.mechanism.as_str()
                            ),
                        ));
                    }
                }
                SaslMechanism::OAuthBearer => {
                    errors.push(ConfigError::new(
                        "source.sasl.mechanism",
                        OAUTHBEARER_SOURCES,
                    ));
                    if s.username.is_some() || s.password.is_some() {
                        errors.push(ConfigError::new(
                            "source.sasl.username",
                            "username/password are not used by OAUTHBEARER; remove them",
                        ));
                    }
                }
            }
        }
        if self.aws_msk_iam.is_none() && self.sasl.is_none() {
            for (k, v) in self.librdkafka.iter() {
                if canonical(k) == "sasl.mechanism" && v.eq_ignore_ascii_case("OAUTHBEARER") {
                    errors.push(ConfigError::new(
                        format!("source.librdkafka.\"{k}\""),
                        OAUTHBEARER_SOURCES,
                    ));
                }
            }
        }
        if !self.tls_enabled() && self.sasl_mechanism() == Some(SaslMechanism::Plain) {
            let raw_tls = self
                .librdkafka
                .get("security.protocol")
                .is_some_and(|p| p.to_ascii_uppercase().contains("SSL"));
            if !raw_tls {
                errors.push(ConfigError::new(
                    "source.sasl.mechanism",
                    "PLAIN sends the password in clear text: add [source.tls] (or set source.librdkafka.\"security.protocol\" = \"SASL_PLAINTEXT\" to accept that)",
                ));
            }
        }
    }

    /// Resolves secret fields (`${ENV}` references, `*_file` contents) in place.
    pub(crate) fn resolve_secrets(
        &mut self,
        lookup: &impl Fn(&str) -> Option<String>,
        errors: &mut Vec<ConfigError>,
    ) {
        use crate::secret::{expand_path, resolve_field};
        if let Some(t) = &mut self.tls {
            expand_path("source.tls.ca_file", &mut t.ca_file, lookup, errors);
            expand_path("source.tls.cert_file", &mut t.cert_file, lookup, errors);
            expand_path("source.tls.key_file", &mut t.key_file, lookup, errors);
            resolve_field(
                "source.tls.key_password",
                &mut t.key_password,
                &mut t.key_password_file,
                lookup,
                errors,
            );
        }
        if let Some(s) = &mut self.sasl {
            resolve_field(
                "source.sasl.password",
                &mut s.password,
                &mut s.password_file,
                lookup,
                errors,
            );
            if let Some(u) = &s.username {
                match crate::secret::expand(u, lookup) {
                    Ok(v) => s.username = Some(v),
                    Err(m) => errors.push(ConfigError::new("source.sasl.username", m)),
                }
            }
        }
        // Raw librdkafka values may hold secrets too (`sasl.password`, `sasl.oauthbearer.*`).
        for (k, v) in self.librdkafka.iter_mut() {
            match crate::secret::expand(v, lookup) {
                Ok(x) => *v = x,
                Err(m) => errors.push(ConfigError::new(format!("source.librdkafka.\"{k}\""), m)),
            }
        }
    }
}

#[cfg(test)]
mod tests;
