//! `[api]`: who may call the CloudTrail API on the daemon's port.
//!
//! ```toml
//! [api]
//! allow_unauthenticated = false          # the default
//!
//! [[api.credentials]]
//! name = "ops"                           # the IAM-style user name in the caller's ARN
//! access_key_id = "AKIATRAILPIPEOPS0001"
//! secret_access_key_file = "${CREDENTIALS_DIRECTORY}/api-ops-secret"
//! policy = "admin"                       # or "read"
//!
//! [[api.credentials]]
//! name = "siem"
//! access_key_id = "AKIATRAILPIPESIEM001"
//! secret_access_key = "${SIEM_SECRET_ACCESS_KEY}"
//! policy = "read"
//! trails = ["management"]                # only these trails (absent: all trails)
//! account_id = "123456789012"            # absent: integrity.account_id
//! ```
//!
//! Clients sign with these keys as with AWS keys (`AWS_ACCESS_KEY_ID` /
//! `AWS_SECRET_ACCESS_KEY`, or a profile); the `trailpipe-auth` crate verifies and authorizes.
//! Without credentials the API stays open for reads and refuses changes; `allow_unauthenticated
//! = true` opens everything to anyone who reaches the port (the daemon warns loudly).
//!
//! `secret_access_key` is a secret field (see the `secret` module): `${ENV}` references or
//! `secret_access_key_file`, resolved at load and redacted when printed.
//!
//! Invariant: once a [`crate::Config`] is loaded, every credential has a non-empty secret of at
//! least [`MIN_SECRET_CHARS`] characters and no `secret_access_key_file`, access key ids and
//! names are unique, and every name in `trails` is a configured trail.

use std::{collections::HashSet, net::SocketAddr, path::PathBuf};

use serde::Deserialize;

use crate::{secret::Secret, Config, ConfigError, ServerConfig, TrailConfig};

/// Shortest secret accepted: one signed request lets anyone who sees it test guesses of the
/// secret offline, so a short one is as good as none (AWS's secrets have 40 characters).
pub const MIN_SECRET_CHARS: usize = 16;

/// `[api]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Let unsigned requests call every operation, including those that change trails, even
    /// with credentials configured. Anyone who reaches the port can then stop logging.
    #[serde(default)]
    pub allow_unauthenticated: bool,
    /// The access keys the API accepts (`[[api.credentials]]`).
    #[serde(default)]
    pub credentials: Vec<ApiCredentialConfig>,
    /// The API's own listener (`"127.0.0.1:9465"`, or `"0.0.0.0:9465"` behind a firewall or a
    /// NetworkPolicy). Absent: the API shares `server.listen` when that is a loopback address,
    /// and is not served at all otherwise (exposing `/metrics` must not expose the API).
    #[serde(default)]
    pub listen: Option<SocketAddr>,
    /// `[api.tls]`: serve the API over HTTPS (needs `listen`).
    #[serde(default)]
    pub tls: Option<ApiTlsConfig>,
    /// Most connections open at once on `listen`; more are closed as soon as accepted.
    #[serde(default = "ApiConfig::default_max_connections")]
    pub max_connections: usize,
    /// Most `LookupEvents` running at once; more are refused with `ThrottlingException`
    /// (the AWS CLI and SDKs retry it with backoff).
    #[serde(default = "ApiConfig::default_max_concurrent_lookups")]
    pub max_concurrent_lookups: usize,
    /// Calls per second (in bursts of up to five times as many) that one IP address may make
    /// unsigned or with a signature that does not verify. More are answered
    /// `ThrottlingException` and, unlike every other call, not recorded one by one (they are
    /// counted in `trailpipe_api_calls_throttled_total`): otherwise anyone who reaches the
    /// port could write records into the trails without bound. Signed calls are not limited.
    #[serde(default = "ApiConfig::default_max_unverified_calls_per_sec")]
    pub max_unverified_calls_per_sec: u32,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            allow_unauthenticated: false,
            credentials: Vec::new(),
            listen: None,
            tls: None,
            max_connections: Self::default_max_connections(),
            max_concurrent_lookups: Self::default_max_concurrent_lookups(),
            max_unverified_calls_per_sec: Self::default_max_unverified_calls_per_sec(),
        }
    }
}

impl ApiConfig {
    fn default_max_connections() -> usize {
        256
    }
    fn default_max_concurrent_lookups() -> usize {
        4
    }
    fn default_max_unverified_calls_per_sec() -> u32 {
        10
    }

    /// Where the API is served: its own `listen`, else `server.listen` when that is a loopback
    /// address; `None` when it is not served (`server.listen` is not loopback and `listen` is
    /// absent).
    pub fn served_on(&self, server: &ServerConfig) -> Option<SocketAddr> {
        match self.listen {
            Some(a) => Some(a),
            None if server.listen.ip().is_loopback() => Some(server.listen),
            None => None,
        }
    }
}

/// `[api.tls]`: the API listener's certificate. Both files are read at start and again on
/// each reload (SIGHUP), so a renewed certificate is served without a restart.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiTlsConfig {
    /// PEM certificate chain, the server's certificate first; `${ENV}` references expand.
    pub cert_file: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1, unencrypted: keep the file readable by
    /// trailpipe only); `${ENV}` references expand.
    pub key_file: PathBuf,
}

/// What a credential may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiPolicy {
    /// `Describe*`, `Get*`, `List*`, `Lookup*` (like `AWSCloudTrail_ReadOnlyAccess`).
    Read,
    /// Every operation, including `StartLogging`/`StopLogging`, `PutEventSelectors`, tags
    /// (like `AWSCloudTrail_FullAccess`).
    Admin,
}

impl<'de> Deserialize<'de> for ApiPolicy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = String::deserialize(d)?;
        match value.as_str() {
            "read" => Ok(Self::Read),
            "admin" => Ok(Self::Admin),
            other => Err(serde::de::Error::custom(format!(
                "policy must be \"read\" or \"admin\", not {other:?}"
            ))),
        }
    }
}

/// `[[api.credentials]]`: one access key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiCredentialConfig {
    /// The principal's name (`arn:aws:iam::<account_id>:user/<name>`): 1 to 64 of letters,
    /// digits and `+=,.@_-`, as IAM user names.
    pub name: String,
    /// The access key id clients sign with: 1 to 128 letters, digits or `_`; `${ENV}`
    /// references are expanded.
    pub access_key_id: String,
    /// The secret access key: `${ENV}` or `secret_access_key_file`, never inline outside tests.
    #[serde(default)]
    pub secret_access_key: Option<Secret>,
    /// File holding `secret_access_key`.
    #[serde(default)]
    pub secret_access_key_file: Option<PathBuf>,
    /// `"read"` or `"admin"`.
    pub policy: ApiPolicy,
    /// The trails it may use (names of `[[trails]]`); absent: all. A limited credential cannot
    /// call account-wide operations (`ListTrails`, `LookupEvents`, ...).
    #[serde(default)]
    pub trails: Option<Vec<String>>,
    /// The principal's account (`userIdentity.accountId`); absent: `integrity.account_id`, the
    /// account in the ARNs of the trails the API serves.
    #[serde(default)]
    pub account_id: Option<String>,
}

impl Config {
    /// The account a credential's principal belongs to: its `account_id`, else
    /// `integrity.account_id`.
    pub fn api_account_id<'a>(&'a self, credential: &'a ApiCredentialConfig) -> &'a str {
        credential
            .account_id
            .as_deref()
            .unwrap_or(&self.integrity.account_id)
    }
}

impl ApiConfig {
    /// Resolves secret fields (`${ENV}` references, `secret_access_key_file` contents) and
    /// `${ENV}` references in access key ids, in place.
    pub(crate) fn resolve_secrets(
        &mut self,
        lookup: &impl Fn(&str) -> Option<String>,
        errors: &mut Vec<ConfigError>,
    ) {
        if let Some(t) = &mut self.tls {
            for (field, path) in [
                ("api.tls.cert_file", &mut t.cert_file),
                ("api.tls.key_file", &mut t.key_file),
            ] {
                let mut p = Some(std::mem::take(path));
                crate::secret::expand_path(field, &mut p, lookup, errors);
                *path = p.unwrap_or_default();
            }
        }
        for (i, c) in self.credentials.iter_mut().enumerate() {
            crate::secret::resolve_field(
                &format!("api.credentials[{i}].secret_access_key"),
                &mut c.secret_access_key,
                &mut c.secret_access_key_file,
                lookup,
                errors,
            );
            match crate::secret::expand(&c.access_key_id, lookup) {
                Ok(v) => c.access_key_id = v,
                Err(m) => errors.push(ConfigError::new(
                    format!("api.credentials[{i}].access_key_id"),
                    m,
                )),
            }
        }
    }

    /// Adds every mistake in `[api]` to `errors`, each naming its field; `trails` are the
    /// configured trails. A secret whose resolution already failed (it is in `errors`) is not
    /// checked again, so each mistake is reported once.
    pub(crate) fn validate(
        &self,
        trails: &[TrailConfig],
        server: &ServerConfig,
        errors: &mut Vec<ConfigError>,
    ) {
        if self.listen == Some(server.listen) {
            errors.push(ConfigError::new(
                "api.listen",
                "is server.listen: leave api.listen out to serve the API there (loopback only)",
            ));
        }
        if self.tls.is_some() && self.listen.is_none() {
            errors.push(ConfigError::new(
                "api.tls",
                "needs api.listen (the API's own listener; /metrics stays plain HTTP)",
            ));
        }
        let counts = [
            ("api.max_connections", self.max_connections as u64),
            ("server.max_connections", server.max_connections as u64),
            (
                "server.header_read_timeout_secs",
                server.header_read_timeout_secs,
            ),
            (
                "api.max_unverified_calls_per_sec",
                u64::from(self.max_unverified_calls_per_sec),
            ),
            (
                "api.max_concurrent_lookups",
                self.max_concurrent_lookups as u64,
            ),
        ];
        for (field, value) in counts {
            if value == 0 {
                errors.push(ConfigError::new(field, "must be at least 1"));
            }
        }
        let trail_names: HashSet<&str> = trails.iter().map(|t| t.name.as_str()).collect();
        let mut key_ids = HashSet::new();
        let mut names = HashSet::new();
        for (i, c) in self.credentials.iter().enumerate() {
            let at = |field: &str| format!("api.credentials[{i}].{field}");
            let name_ok = (1..=64).contains(&c.name.len())
                && c.name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
            if !name_ok {
                errors.push(ConfigError::new(
                    at("name"),
                    format!(
                        "{:?} must be 1 to 64 letters, digits or '+=,.@_-' (an IAM user name)",
                        c.name
                    ),
                ));
            } else if !names.insert(c.name.as_str()) {
                errors.push(ConfigError::new(
                    at("name"),
                    format!("{:?} is used by another credential", c.name),
                ));
            }
            let id = &c.access_key_id;
            if !(1..=128).contains(&id.len())
                || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                errors.push(ConfigError::new(
                    at("access_key_id"),
                    format!("{id:?} must be 1 to 128 letters, digits or '_'"),
                ));
            } else if !key_ids.insert(id.as_str()) {
                errors.push(ConfigError::new(
                    at("access_key_id"),
                    format!("{id:?} is used by another credential (each key must be unique)"),
                ));
            }
            let secret_field = at("secret_access_key");
            let unresolved = errors.iter().any(|e| e.field.starts_with(&secret_field));
            match &c.secret_access_key {
                _ if unresolved => {}
                None => errors.push(ConfigError::new(
                    at("secret_access_key"),
                    format!(
                        "is required (as \"${{ENV_VAR}}\" or {})",
                        at("secret_access_key_file")
                    ),
                )),
                Some(s) if s.is_empty() => {
                    errors.push(ConfigError::new(at("secret_access_key"), "must not be empty"))
                }
                Some(s) if s.expose().chars().count() < MIN_SECRET_CHARS => {
                    errors.push(ConfigError::new(
                        at("secret_access_key"),
                        format!(
                            "must be at least {MIN_SECRET_CHARS} characters (one signed request lets anyone test guesses offline)"
                        ),
                    ))
                }
                Some(_) => {}
            }
            if let Some(list) = &c.trails {
                if list.is_empty() {
                    errors.push(ConfigError::new(
                        at("trails"),
                        "must name at least one trail (remove it to allow all trails)",
                    ));
                }
                for (j, t) in list.iter().enumerate() {
                    if !trail_names.contains(t.as_str()) {
                        errors.push(ConfigError::new(
                            format!("api.credentials[{i}].trails[{j}]"),
                            format!("{t:?} is not a configured trail"),
                        ));
                    }
                }
            }
            if let Some(a) = &c.account_id {
                if a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()) {
                    errors.push(ConfigError::new(at("account_id"), "must be 12 digits"));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
