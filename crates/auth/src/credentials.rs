//! The credentials the API accepts and the principal a verified request acts as.
//!
//! Invariant: a [`CredentialStore`] maps every access key id to exactly one [`Credential`] with a
//! non-empty id and secret ([`CredentialStore::new`] refuses anything else), so a signature
//! check can never pick between two secrets or succeed with an empty one.

use std::{collections::HashMap, fmt};

/// What a credential may do: CloudTrail's two managed policies, `AWSCloudTrail_ReadOnlyAccess`
/// and `AWSCloudTrail_FullAccess`, reduced to trailpipe's operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Policy {
    /// `Describe*`, `Get*`, `List*`, `Lookup*`: read trails, status, selectors, tags, keys and
    /// event history.
    Read,
    /// Everything, including operations that change a trail (`StopLogging`, `PutEventSelectors`,
    /// `AddTags`, ...).
    Admin,
}

/// A secret access key. `Debug` and `Display` print `<redacted>`; the value is reachable only
/// through [`SecretAccessKey::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct SecretAccessKey(String);

impl SecretAccessKey {
    /// A secret from its value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that hands it to the signer.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretAccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for SecretAccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// One access key the API accepts (an `[[api.credentials]]` entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// The principal's name: the IAM user name in `arn:aws:iam::<account>:user/<name>`.
    pub name: String,
    /// The access key id clients sign with (`AWS_ACCESS_KEY_ID`).
    pub access_key_id: String,
    /// The secret access key (`AWS_SECRET_ACCESS_KEY`).
    pub secret_access_key: SecretAccessKey,
    /// What the credential may do.
    pub policy: Policy,
    /// The trails it may touch; `None`: all trails.
    pub trails: Option<Vec<String>>,
    /// The account the principal belongs to (`userIdentity.accountId`, the account in its ARN).
    pub account_id: String,
}

/// Why a set of credentials cannot be used. The messages name the credential, never a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// Two credentials share an access key id: a signature could not say which secret to use.
    #[error("access key id {access_key_id:?} is used by more than one credential")]
    DuplicateAccessKeyId {
        /// The shared id.
        access_key_id: String,
    },
    /// An access key id is empty.
    #[error("credential {name:?} has an empty access key id")]
    EmptyAccessKeyId {
        /// The credential's name.
        name: String,
    },
    /// A secret is empty: anyone could compute its signatures.
    #[error("credential {name:?} has an empty secret access key")]
    EmptySecret {
        /// The credential's name.
        name: String,
    },
}

/// The credentials, by access key id.
#[derive(Debug, Clone, Default)]
pub struct CredentialStore {
    by_access_key_id: HashMap<String, Credential>,
}

impl CredentialStore {
    /// A store of `credentials`; refuses duplicate access key ids and empty ids or secrets.
    pub fn new(credentials: impl IntoIterator<Item = Credential>) -> Result<Self, CredentialError> {
        let mut by_access_key_id = HashMap::new();
        for c in credentials {
            if c.access_key_id.is_empty() {
                return Err(CredentialError::EmptyAccessKeyId { name: c.name });
            }
            if c.secret_access_key.expose().is_empty() {
                return Err(CredentialError::EmptySecret { name: c.name });
            }
            if by_access_key_id.contains_key(&c.access_key_id) {
                return Err(CredentialError::DuplicateAccessKeyId {
                    access_key_id: c.access_key_id,
                });
            }
            by_access_key_id.insert(c.access_key_id.clone(), c);
        }
        Ok(Self { by_access_key_id })
    }

    /// The credential with this access key id.
    pub fn get(&self, access_key_id: &str) -> Option<&Credential> {
        self.by_access_key_id.get(access_key_id)
    }

    /// Whether no credential is configured (the API then runs unauthenticated; see
    /// [`crate::ApiAccess`]).
    pub fn is_empty(&self) -> bool {
        self.by_access_key_id.is_empty()
    }

    /// How many credentials there are.
    pub fn len(&self) -> usize {
        self.by_access_key_id.len()
    }
}

/// Who a verified request acts as: its credential without the secret, plus the region of the
/// request's credential scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The access key id that signed the request.
    pub access_key_id: String,
    /// The credential's name (the IAM user name).
    pub name: String,
    /// What it may do.
    pub policy: Policy,
    /// The trails it may touch; `None`: all trails.
    pub trails: Option<Vec<String>>,
    /// Its account (`userIdentity.accountId`).
    pub account_id: String,
    /// The region the request was signed for (its credential scope): the region the client
    /// addressed, as CloudTrail reads it from the endpoint.
    pub region: String,
}

impl Principal {
    /// The principal for `credential` signing in `region`.
    pub fn new(credential: &Credential, region: impl Into<String>) -> Self {
        Self {
            access_key_id: credential.access_key_id.clone(),
            name: credential.name.clone(),
            policy: credential.policy,
            trails: credential.trails.clone(),
            account_id: credential.account_id.clone(),
            region: region.into(),
        }
    }

    /// Its ARN, as an IAM user: `arn:aws:iam::<account_id>:user/<name>` (`userIdentity.arn`).
    pub fn arn(&self) -> String {
        format!("arn:aws:iam::{}:user/{}", self.account_id, self.name)
    }

    /// Whether its trail limit allows `trail`: a trail name, or a trail ARN
    /// (`arn:aws:cloudtrail:<region>:<account>:trail/<name>`, compared by its name).
    pub fn may_access_trail(&self, trail: &str) -> bool {
        match &self.trails {
            None => true,
            Some(allowed) => {
                let name = trail_name(trail);
                allowed.iter().any(|t| t == name)
            }
        }
    }
}

/// The trail name in a trail name or trail ARN (CloudTrail accepts both wherever a trail is
/// named).
fn trail_name(trail: &str) -> &str {
    if trail.starts_with("arn:") {
        trail.rsplit_once(":trail/").map_or(trail, |(_, name)| name)
    } else {
        trail
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cred(id: &str, secret: &str) -> Credential {
        Credential {
            name: format!("user-{id}"),
            access_key_id: id.into(),
            secret_access_key: SecretAccessKey::new(secret),
            policy: Policy::Read,
            trails: None,
            account_id: "123456789012".into(),
        }
    }

    #[test]
    fn the_store_refuses_duplicate_ids_and_empty_ids_or_secrets() {
        let dup = CredentialStore::new([cred("AKID1", "a"), cred("AKID1", "b")]).unwrap_err();
        assert_eq!(
            dup,
            CredentialError::DuplicateAccessKeyId {
                access_key_id: "AKID1".into()
            }
        );
        assert!(matches!(
            CredentialStore::new([cred("", "a")]),
            Err(CredentialError::EmptyAccessKeyId { .. })
        ));
        assert!(matches!(
            CredentialStore::new([cred("AKID1", "")]),
            Err(CredentialError::EmptySecret { .. })
        ));
        let store = CredentialStore::new([cred("AKID1", "a"), cred("AKID2", "b")]).unwrap();
        assert_eq!(store.len(), 2);
        assert_eq!(store.get("AKID2").unwrap().name, "user-AKID2");
        assert!(store.get("AKID3").is_none());
    }

    #[test]
    fn secrets_are_never_printed() {
        let c = cred("AKID1", "hunter2-very-secret");
        let shown = format!("{c:?} {}", c.secret_access_key);
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn principal_arn_and_trail_limits() {
        let mut c = cred("AKID1", "a");
        c.trails = Some(vec!["management".into()]);
        let p = Principal::new(&c, "eu-west-1");
        assert_eq!(p.arn(), "arn:aws:iam::123456789012:user/user-AKID1");
        assert!(p.may_access_trail("management"));
        assert!(p.may_access_trail("arn:aws:cloudtrail:us-east-1:123456789012:trail/management"));
        assert!(!p.may_access_trail("data-events"));
        assert!(!p.may_access_trail("arn:aws:cloudtrail:us-east-1:123456789012:trail/data"));
        c.trails = None;
        assert!(Principal::new(&c, "eu-west-1").may_access_trail("anything"));
    }
}
