//! Digest signing keys: RSA-2048, RSASSA-PKCS1-v1_5 with SHA-256 (`SHA256withRSA`), all crypto
//! through aws-lc-rs (or AWS KMS). A key is identified by its fingerprint: lowercase hex MD5 of
//! its public key as DER PKCS#1 `RSAPublicKey` — the bytes ListPublicKeys returns as `Value`.
//!
//! Sources: a PEM file ([`StaticKey`]), keys generated and kept in a state directory with
//! rotation ([`KeyRing`]), or an AWS KMS asymmetric key ([`KmsSigner`]).

mod kms;
mod ring;

use std::sync::Arc;

use aws_lc_rs::{
    encoding::AsDer,
    rand::SystemRandom,
    signature::{self, KeyPair as _, RsaKeyPair},
};
use futures::future::BoxFuture;
use md5::{Digest as _, Md5};
use time::OffsetDateTime;

pub use kms::KmsSigner;
pub use ring::{KeyRing, KeyRingConfig, StoredKey};

use crate::DigestError;

/// A public key as ListPublicKeys serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKeyInfo {
    /// DER PKCS#1 `RSAPublicKey` (not SPKI); base64 of this is the API's `Value`.
    pub der_pkcs1: Vec<u8>,
    /// Lowercase hex MD5 of `der_pkcs1`.
    pub fingerprint: String,
    /// Start of the window in which digests signed by this key may end.
    pub validity_start: OffsetDateTime,
    /// End of that window.
    pub validity_end: OffsetDateTime,
}

impl PublicKeyInfo {
    /// Whether the validity window overlaps `[start, end]` (ListPublicKeys' filter).
    pub fn overlaps(&self, start: OffsetDateTime, end: OffsetDateTime) -> bool {
        self.validity_start <= end && self.validity_end >= start
    }
}

/// The fingerprint of a DER PKCS#1 public key: lowercase hex MD5 (reference §3.4).
pub fn fingerprint(der_pkcs1: &[u8]) -> String {
    hex::encode(Md5::digest(der_pkcs1))
}

/// Converts an RSA public key in DER SPKI (or PKCS#1) form to DER PKCS#1 `RSAPublicKey`.
pub fn to_pkcs1_der(der: &[u8]) -> Result<Vec<u8>, DigestError> {
    aws_lc_rs::rsa::PublicKey::from_der(der)
        .map(|k| k.as_ref().to_vec())
        .map_err(|e| DigestError::key("public key DER", e))
}

/// Verifies an RSASSA-PKCS1-v1_5 SHA-256 signature with a DER PKCS#1 public key.
pub fn verify(der_pkcs1: &[u8], message: &[u8], signature: &[u8]) -> bool {
    signature::UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, der_pkcs1)
        .verify(message, signature)
        .is_ok()
}

/// Something that signs digests. Implementations may hold several keys (rotation): the digester
/// asks which key signs a digest ending at a time, writes that fingerprint into the JSON, then
/// asks for a signature by exactly that key — so a rotation in between cannot mismatch them.
pub trait DigestSigner: Send + Sync {
    /// Fingerprint of the key that signs a digest whose `digestEndTime` is `digest_end`.
    fn fingerprint(&self, digest_end: OffsetDateTime) -> String;

    /// Signs `message` (RSASSA-PKCS1-v1_5, SHA-256) with the key `fingerprint`.
    fn sign<'a>(
        &'a self,
        fingerprint: &'a str,
        message: &'a [u8],
    ) -> BoxFuture<'a, Result<Vec<u8>, DigestError>>;

    /// Every public key whose validity overlaps `[start, end]`, for ListPublicKeys.
    fn public_keys(&self, start: OffsetDateTime, end: OffsetDateTime) -> Vec<PublicKeyInfo>;

    /// Housekeeping before a digest run (key rotation). Default: nothing.
    fn maintain(&self, _now: OffsetDateTime) -> Result<(), DigestError> {
        Ok(())
    }
}

/// An RSA private key held in memory, with its public half precomputed.
pub(crate) struct LocalKey {
    pair: RsaKeyPair,
    der_pkcs1: Vec<u8>,
    fingerprint: String,
}

impl LocalKey {
    /// From DER PKCS#8 `PrivateKeyInfo` or PKCS#1 `RSAPrivateKey`.
    pub(crate) fn from_der(der: &[u8]) -> Result<Self, DigestError> {
        let pair = RsaKeyPair::from_pkcs8(der)
            .or_else(|_| RsaKeyPair::from_der(der))
            .map_err(|e| DigestError::key("RSA private key", e))?;
        Ok(Self::new(pair))
    }

    pub(crate) fn generate() -> Result<Self, DigestError> {
        let pair = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
            .map_err(|e| DigestError::key("RSA-2048 generation", e))?;
        Ok(Self::new(pair))
    }

    fn new(pair: RsaKeyPair) -> Self {
        let der_pkcs1 = pair.public_key().as_ref().to_vec();
        let fingerprint = fingerprint(&der_pkcs1);
        Self {
            pair,
            der_pkcs1,
            fingerprint,
        }
    }

    pub(crate) fn pkcs8_der(&self) -> Result<Vec<u8>, DigestError> {
        self.pair
            .as_der()
            .map(|d| d.as_ref().to_vec())
            .map_err(|e| DigestError::key("PKCS#8 encoding", e))
    }

    pub(crate) fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    pub(crate) fn der_pkcs1(&self) -> &[u8] {
        &self.der_pkcs1
    }

    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, DigestError> {
        let mut sig = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                message,
                &mut sig,
            )
            .map_err(|e| DigestError::Sign {
                fingerprint: self.fingerprint.clone(),
                message: e.to_string(),
            })?;
        Ok(sig)
    }
}

/// Reads an RSA private key from PEM text: `BEGIN PRIVATE KEY` (PKCS#8) or
/// `BEGIN RSA PRIVATE KEY` (PKCS#1).
pub(crate) fn private_key_from_pem(pem: &[u8], what: &str) -> Result<LocalKey, DigestError> {
    use rustls_pki_types::{pem::PemObject, PrivateKeyDer};
    let der = PrivateKeyDer::from_pem_slice(pem).map_err(|e| DigestError::key(what, e))?;
    match der {
        PrivateKeyDer::Pkcs8(_) | PrivateKeyDer::Pkcs1(_) => {
            LocalKey::from_der(der.secret_der()).map_err(|e| DigestError::key(what, e))
        }
        _ => Err(DigestError::key(what, "not an RSA key (SEC1 EC key)")),
    }
}

/// One fixed local key (e.g. from a PEM file named in the config), valid in a configured window.
pub struct StaticKey {
    key: LocalKey,
    validity_start: OffsetDateTime,
    validity_end: OffsetDateTime,
}

impl StaticKey {
    /// Loads a PEM file (PKCS#1 or PKCS#8). The key is announced as valid over
    /// `[validity_start, validity_end]`; a key given by the operator has no natural expiry, so
    /// callers usually pass a wide window (it must cover every digest it signs).
    pub fn from_pem_file(
        path: &std::path::Path,
        validity_start: OffsetDateTime,
        validity_end: OffsetDateTime,
    ) -> Result<Self, DigestError> {
        let what = path.display().to_string();
        let pem = std::fs::read(path).map_err(|e| DigestError::key(&what, e))?;
        Self::from_pem(&pem, validity_start, validity_end)
    }

    /// Like [`StaticKey::from_pem_file`] from PEM text.
    pub fn from_pem(
        pem: &[u8],
        validity_start: OffsetDateTime,
        validity_end: OffsetDateTime,
    ) -> Result<Self, DigestError> {
        Ok(Self {
            key: private_key_from_pem(pem, "PEM private key")?,
            validity_start,
            validity_end,
        })
    }

    /// A fresh in-memory RSA-2048 key (tests, demos).
    pub fn generate(
        validity_start: OffsetDateTime,
        validity_end: OffsetDateTime,
    ) -> Result<Self, DigestError> {
        Ok(Self {
            key: LocalKey::generate()?,
            validity_start,
            validity_end,
        })
    }

    /// The key as [`PublicKeyInfo`].
    pub fn public_key(&self) -> PublicKeyInfo {
        PublicKeyInfo {
            der_pkcs1: self.key.der_pkcs1().to_vec(),
            fingerprint: self.key.fingerprint().to_string(),
            validity_start: self.validity_start,
            validity_end: self.validity_end,
        }
    }

    /// The private key as DER PKCS#8 (for tests that export it).
    pub fn pkcs8_der(&self) -> Result<Vec<u8>, DigestError> {
        self.key.pkcs8_der()
    }

    /// As a shared signer.
    pub fn into_signer(self) -> Arc<dyn DigestSigner> {
        Arc::new(self)
    }
}

pub(crate) fn wrong_key(fingerprint: &str) -> DigestError {
    DigestError::Sign {
        fingerprint: fingerprint.into(),
        message: "no such key in this signer".into(),
    }
}

impl DigestSigner for StaticKey {
    fn fingerprint(&self, _digest_end: OffsetDateTime) -> String {
        self.key.fingerprint().to_string()
    }

    fn sign<'a>(
        &'a self,
        fingerprint: &'a str,
        message: &'a [u8],
    ) -> BoxFuture<'a, Result<Vec<u8>, DigestError>> {
        Box::pin(async move {
            if fingerprint != self.key.fingerprint() {
                return Err(wrong_key(fingerprint));
            }
            self.key.sign(message)
        })
    }

    fn public_keys(&self, start: OffsetDateTime, end: OffsetDateTime) -> Vec<PublicKeyInfo> {
        let k = self.public_key();
        if k.overlaps(start, end) {
            vec![k]
        } else {
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests;
