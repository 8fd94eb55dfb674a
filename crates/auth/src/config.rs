//! `ApiAccess::from_config` (feature `config`): the `[api]` section of a loaded configuration as
//! access rules.
//!
//! Invariant: the mapping is field for field; defaults (a credential's account) come from
//! `trailpipe_config` itself ([`trailpipe_config::Config::api_account_id`]), so they live in one
//! place.

use trailpipe_config::{ApiPolicy, Config};

use crate::{ApiAccess, Credential, CredentialError, CredentialStore, Policy, SecretAccessKey};

impl ApiAccess {
    /// The rules of `config`'s `[api]` section. A configuration that passed
    /// `Config::load` always converts; the error is for one built by hand.
    pub fn from_config(config: &Config) -> Result<Self, CredentialError> {
        let credentials = config.api.credentials.iter().map(|c| Credential {
            name: c.name.clone(),
            access_key_id: c.access_key_id.clone(),
            secret_access_key: SecretAccessKey::new(
                c.secret_access_key.as_ref().map_or("", |s| s.expose()),
            ),
            policy: match c.policy {
                ApiPolicy::Read => Policy::Read,
                ApiPolicy::Admin => Policy::Admin,
            },
            trails: c.trails.clone(),
            account_id: config.api_account_id(c).to_owned(),
        });
        Ok(Self::new(
            config.api.allow_unauthenticated,
            CredentialStore::new(credentials)?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_section_becomes_the_access_rules() {
        let text = r#"
[source]
kind = "file"
path = "events.ndjson"
dead_letter_path = "dead-letters.ndjson"
[storage]
kind = "local"
local_root = "out"
[integrity]
account_id = "210987654321"
[[trails]]
name = "management"
s3_bucket_name = "audit-logs"
[[api.credentials]]
name = "siem"
access_key_id = "AKIATRAILPIPESIEM001"
secret_access_key = "siem-literal-secret-0123"
policy = "read"
trails = ["management"]
"#;
        let config = Config::parse_with_env(text, |_| None).unwrap();
        let access = ApiAccess::from_config(&config).unwrap();
        assert!(!access.allow_unauthenticated());
        let c = access.credentials().get("AKIATRAILPIPESIEM001").unwrap();
        assert_eq!(c.name, "siem");
        assert_eq!(c.policy, Policy::Read);
        assert_eq!(c.secret_access_key.expose(), "siem-literal-secret-0123");
        assert_eq!(c.trails.as_deref(), Some(&["management".to_string()][..]));
        assert_eq!(c.account_id, "210987654321");
    }
}
