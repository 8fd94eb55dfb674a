//! The crate's error type. Store errors keep their retry class so a caller can back off.

use trailpipe_store::StoreError;

/// What went wrong while producing or validating digests.
#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    /// An object-store request failed (retry according to its class).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A signing key could not be loaded, generated, parsed or saved.
    #[error("signing key {what}: {message}")]
    Key {
        /// Which key or file.
        what: String,
        /// Why.
        message: String,
    },
    /// A signature could not be produced (local key or KMS).
    #[error("signing with key {fingerprint}: {message}")]
    Sign {
        /// The key's fingerprint.
        fingerprint: String,
        /// Why.
        message: String,
    },
    /// An object in the bucket is not what it should be (bad gzip, JSON, times).
    #[error("s3://{bucket}/{key}: {message}")]
    Malformed {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// Another writer (a replica) wrote this window's digest from a different view of the
    /// chain: nothing is written over it (no fork); the chain waits for an operator.
    #[error("digest chain conflict at {key}: {detail}; another writer saw a different chain (are all replicas configured alike?)")]
    ChainConflict {
        /// The digest's key.
        key: String,
        /// How the two views differ.
        detail: String,
    },
}

impl DigestError {
    pub(crate) fn key(what: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Self::Key {
            what: what.into(),
            message: message.to_string(),
        }
    }

    pub(crate) fn malformed(bucket: &str, key: &str, message: impl std::fmt::Display) -> Self {
        Self::Malformed {
            bucket: bucket.into(),
            key: key.into(),
            message: message.to_string(),
        }
    }
}
