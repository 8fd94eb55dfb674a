//! Who may call trailpipe's CloudTrail API, decided the way AWS decides it: a request is
//! **authenticated** by its SigV4 signature ([`verify`]) and then **authorized** by the policy of
//! the credential that signed it ([`authorize`]). The stock `aws cloudtrail ... --endpoint-url`
//! signs every request, so configuring credentials needs nothing new on the client side.
//!
//! How the daemon uses it, per `POST /` request:
//!
//! ```text
//! let access = ApiAccess::new(allow_unauthenticated, CredentialStore::new(credentials)?);
//! let caller = access.authenticate(&method, &uri, &headers, &body, SystemTime::now())?;
//! access.authorize(&caller, operation, trail)?;   // operation from X-Amz-Target
//! ```
//!
//! and answers an [`AuthError`] as `{"__type": err.code(), "message": err.message()}` with
//! `err.status()`, like every other CloudTrail error.
//!
//! Invariants:
//! - a [`Principal`] exists only for a request whose signature was recomputed with the stored
//!   secret by the `aws-sigv4` crate (the signer of the AWS Rust SDK) and matched in constant
//!   time, within 15 minutes of the verifier's clock, for service `cloudtrail`, with `host` and
//!   `x-amz-date` signed;
//! - no secret access key is ever printed: [`SecretAccessKey`]'s `Debug` is redacted and no
//!   error message contains one;
//! - everything is pure (no I/O, no clock reads): the caller passes the time, so tests are exact.
//!
//! Dependencies: this crate does not depend on `trailpipe-config` (which pulls the AWS SDK
//! clients in through its sinks' settings) unless its `config` feature is on; it defines its own
//! plain [`Credential`], and `config` must never depend on this crate. With the `config` feature,
//! `ApiAccess::from_config` turns the `[api]` section of a loaded configuration into the rules.

mod authorize;
#[cfg(feature = "config")]
mod config;
mod credentials;
mod error;
mod scope;
mod verify;

pub use authorize::{authorize, classify, ApiAccess, Caller, OperationClass};
pub use credentials::{
    Credential, CredentialError, CredentialStore, Policy, Principal, SecretAccessKey,
};
pub use error::{AuthError, Denied};
pub use verify::{verify, SERVICE, TIME_WINDOW};
