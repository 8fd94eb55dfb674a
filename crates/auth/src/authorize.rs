//! Authorization: which operations a caller may call, on which trails.
//!
//! Rules:
//! - every CloudTrail operation is [`OperationClass::Read`] (`Describe*`, `Get*`, `List*`,
//!   `Lookup*`) or [`OperationClass::Admin`] (everything else, including operations trailpipe
//!   does not know: an unknown name is denied unless the caller is an admin);
//! - a [`Policy::Read`] principal may call read operations, a [`Policy::Admin`] principal all;
//! - a principal limited to some trails may call only operations that name one of them: as with
//!   an IAM policy whose `Resource` lists trail ARNs, account-wide operations (`ListTrails`,
//!   `LookupEvents`, `DescribeTrails` without a trail list, `ListPublicKeys`) are denied to it.
//!   An operation naming several trails (`DescribeTrails`' `trailNameList`, `ListTags`'
//!   `ResourceIdList`) is authorized once per trail.
//!
//! [`ApiAccess`] adds who may call without signing:
//! - no `[[api.credentials]]`: signatures are not checked (nothing to check them against; the
//!   `aws` CLI signs with whatever keys it has) and every caller is [`Caller::Anonymous`], which
//!   may call read operations; operations that change trails are refused with a message saying
//!   how to enable them;
//! - credentials configured: a request must be signed by one of them
//!   (`MissingAuthenticationTokenException` otherwise);
//! - `allow_unauthenticated = true`: an unsigned request is [`Caller::Anonymous`] and may call
//!   everything, even with credentials configured (signed requests are still verified and held
//!   to their policy). Anyone who reaches the port can then stop logging: the daemon logs a loud
//!   warning at startup when it is set.

use std::time::SystemTime;

use http::{HeaderMap, Method, Uri};

use crate::{verify, AuthError, CredentialStore, Denied, Policy, Principal};

/// Whether an operation reads or changes state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperationClass {
    /// Reads trails, status, selectors, tags, keys or events.
    Read,
    /// Changes something, or is unknown (treated as a change).
    Admin,
}

/// The read operations trailpipe serves, by name (the prefix rule in [`classify`] covers the
/// rest of CloudTrail's `Describe*`/`Get*`/`List*`/`Lookup*`).
const READ_OPERATIONS: &[&str] = &[
    "DescribeTrails",
    "GetTrail",
    "GetTrailStatus",
    "ListTrails",
    "GetEventSelectors",
    "GetInsightSelectors",
    "ListTags",
    "ListPublicKeys",
    "LookupEvents",
];

/// Prefixes of CloudTrail's read-only operations (`GetEventDataStore`, `ListQueries`,
/// `DescribeQuery`, ...), as in the `AWSCloudTrail_ReadOnlyAccess` managed policy.
const READ_PREFIXES: &[&str] = &["Describe", "Get", "List", "Lookup"];

/// The class of a CloudTrail operation name (`X-Amz-Target`'s last part, e.g. `StopLogging`).
/// `StartLogging`, `StopLogging`, `PutEventSelectors`, `PutInsightSelectors`, `AddTags`,
/// `RemoveTags`, `UpdateTrail`, `CreateTrail`, `DeleteTrail` and any name that is not a read
/// operation are [`OperationClass::Admin`].
pub fn classify(operation: &str) -> OperationClass {
    if READ_OPERATIONS.contains(&operation) {
        return OperationClass::Read;
    }
    let is_read = READ_PREFIXES.iter().any(|prefix| {
        operation.strip_prefix(prefix).is_some_and(|rest| {
            rest.starts_with(|c: char| c.is_ascii_uppercase())
                && rest.bytes().all(|b| b.is_ascii_alphanumeric())
        })
    });
    if is_read {
        OperationClass::Read
    } else {
        OperationClass::Admin
    }
}

/// Whether `principal` may call `operation`, on `trail` when the operation names one (a trail
/// name or ARN, as the request gave it).
pub fn authorize(
    principal: &Principal,
    operation: &str,
    trail: Option<&str>,
) -> Result<(), Denied> {
    let policy_allows = match classify(operation) {
        OperationClass::Read => true,
        OperationClass::Admin => principal.policy == Policy::Admin,
    };
    let trail_allowed = match (&principal.trails, trail) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(_), Some(t)) => principal.may_access_trail(t),
    };
    if policy_allows && trail_allowed {
        Ok(())
    } else {
        Err(Denied::for_principal(&principal.arn(), operation, trail))
    }
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A verified signature's principal.
    Signed(Principal),
    /// Nobody in particular: an unsigned request, or any request while no credentials are
    /// configured.
    Anonymous,
}

/// The API's access rules: the credentials and whether unsigned requests may do everything
/// (the `[api]` section).
#[derive(Debug, Clone, Default)]
pub struct ApiAccess {
    allow_unauthenticated: bool,
    credentials: CredentialStore,
}

impl ApiAccess {
    /// Rules from `[api] allow_unauthenticated` and the credential store.
    pub fn new(allow_unauthenticated: bool, credentials: CredentialStore) -> Self {
        Self {
            allow_unauthenticated,
            credentials,
        }
    }

    /// Whether unsigned requests may call every operation (the daemon warns about it).
    pub fn allow_unauthenticated(&self) -> bool {
        self.allow_unauthenticated
    }

    /// The configured credentials.
    pub fn credentials(&self) -> &CredentialStore {
        &self.credentials
    }

    /// Who is calling: with credentials configured, a signed request is verified ([`verify`])
    /// and an unsigned one is refused unless `allow_unauthenticated`; without credentials every
    /// request is [`Caller::Anonymous`].
    pub fn authenticate(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Caller, AuthError> {
        if self.credentials.is_empty() {
            return Ok(Caller::Anonymous);
        }
        match verify(method, uri, headers, body, now, &self.credentials) {
            Ok(principal) => Ok(Caller::Signed(principal)),
            Err(AuthError::MissingAuthorization) if self.allow_unauthenticated => {
                Ok(Caller::Anonymous)
            }
            Err(e) => Err(e),
        }
    }

    /// Whether `caller` may call `operation` (on `trail`); see [`authorize`] and
    /// [`ApiAccess::unsigned`].
    pub fn authorize(
        &self,
        caller: &Caller,
        operation: &str,
        trail: Option<&str>,
    ) -> Result<(), AuthError> {
        match caller {
            Caller::Signed(principal) => Ok(authorize(principal, operation, trail)?),
            Caller::Anonymous => self.unsigned(operation),
        }
    }

    /// Whether an unsigned request may call `operation`: everything with
    /// `allow_unauthenticated`; read operations when no credentials are configured (operations
    /// that change trails are refused with how to enable them); nothing once credentials are
    /// configured (`MissingAuthenticationTokenException`).
    pub fn unsigned(&self, operation: &str) -> Result<(), AuthError> {
        if self.allow_unauthenticated {
            return Ok(());
        }
        if !self.credentials.is_empty() {
            return Err(AuthError::MissingAuthorization);
        }
        match classify(operation) {
            OperationClass::Read => Ok(()),
            OperationClass::Admin => Err(Denied::unsigned(operation).into()),
        }
    }
}

#[cfg(test)]
mod tests;
