//! Signing with an AWS KMS asymmetric key (`RSA_2048`, usage `SIGN_VERIFY`): `Sign` with
//! `RSASSA_PKCS1_V1_5_SHA_256` over the raw string to sign (KMS hashes it), public key from
//! `GetPublicKey` (DER SPKI, converted to PKCS#1 for the fingerprint and ListPublicKeys).
//! The private key never leaves KMS; KMS asymmetric keys do not rotate, so the announced
//! validity window is configured.

use aws_sdk_kms::{
    primitives::Blob,
    types::{MessageType, SigningAlgorithmSpec},
    Client,
};
use futures::future::BoxFuture;
use time::OffsetDateTime;
use trailpipe_retry::error_chain;

use super::{fingerprint, to_pkcs1_der, wrong_key, DigestSigner, PublicKeyInfo};
use crate::DigestError;

/// A KMS key that signs digests.
pub struct KmsSigner {
    client: Client,
    key_id: String,
    public: PublicKeyInfo,
}

impl KmsSigner {
    /// A KMS client in `region` (endpoint from `endpoint`, else `AWS_ENDPOINT_URL`, else AWS;
    /// credentials from the default chain), then [`KmsSigner::new`].
    pub async fn connect(
        region: String,
        endpoint: Option<String>,
        key_id: String,
        validity_start: OffsetDateTime,
        validity_end: OffsetDateTime,
    ) -> Result<Self, DigestError> {
        let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(region))
            .load()
            .await;
        let mut b = aws_sdk_kms::config::Builder::from(&shared);
        if let Some(ep) = endpoint {
            b = b.endpoint_url(ep);
        }
        Self::new(
            Client::from_conf(b.build()),
            key_id,
            validity_start,
            validity_end,
        )
        .await
    }

    /// Fetches the key's public half (`GetPublicKey`) and checks it is an RSA signing key.
    pub async fn new(
        client: Client,
        key_id: String,
        validity_start: OffsetDateTime,
        validity_end: OffsetDateTime,
    ) -> Result<Self, DigestError> {
        let what = format!("KMS key {key_id}");
        let out = client
            .get_public_key()
            .key_id(&key_id)
            .send()
            .await
            .map_err(|e| DigestError::key(&what, error_chain(&e)))?;
        if !out
            .signing_algorithms()
            .contains(&SigningAlgorithmSpec::RsassaPkcs1V15Sha256)
        {
            return Err(DigestError::key(
                &what,
                "does not support RSASSA_PKCS1_V1_5_SHA_256 (need an RSA SIGN_VERIFY key)",
            ));
        }
        let spki = out
            .public_key()
            .ok_or_else(|| DigestError::key(&what, "GetPublicKey returned no key"))?;
        let der_pkcs1 = to_pkcs1_der(spki.as_ref())?;
        Ok(Self {
            client,
            key_id,
            public: PublicKeyInfo {
                fingerprint: fingerprint(&der_pkcs1),
                der_pkcs1,
                validity_start,
                validity_end,
            },
        })
    }

    /// The key as [`PublicKeyInfo`].
    pub fn public_key(&self) -> &PublicKeyInfo {
        &self.public
    }
}

impl DigestSigner for KmsSigner {
    fn fingerprint(&self, _digest_end: OffsetDateTime) -> String {
        self.public.fingerprint.clone()
    }

    fn sign<'a>(
        &'a self,
        fingerprint: &'a str,
        message: &'a [u8],
    ) -> BoxFuture<'a, Result<Vec<u8>, DigestError>> {
        Box::pin(async move {
            if fingerprint != self.public.fingerprint {
                return Err(wrong_key(fingerprint));
            }
            let out = self
                .client
                .sign()
                .key_id(&self.key_id)
                .message(Blob::new(message))
                .message_type(MessageType::Raw)
                .signing_algorithm(SigningAlgorithmSpec::RsassaPkcs1V15Sha256)
                .send()
                .await
                .map_err(|e| DigestError::Sign {
                    fingerprint: fingerprint.into(),
                    message: error_chain(&e),
                })?;
            out.signature()
                .map(|b| b.as_ref().to_vec())
                .ok_or_else(|| DigestError::Sign {
                    fingerprint: fingerprint.into(),
                    message: "KMS Sign returned no signature".into(),
                })
        })
    }

    fn public_keys(&self, start: OffsetDateTime, end: OffsetDateTime) -> Vec<PublicKeyInfo> {
        if self.public.overlaps(start, end) {
            vec![self.public.clone()]
        } else {
            Vec::new()
        }
    }
}
