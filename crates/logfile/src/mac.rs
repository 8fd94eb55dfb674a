//! Proof that trailpipe wrote a log file: an HMAC-SHA256, under a key only trailpipe holds,
//! over the file's bucket, key, body SHA-256 and event-time range, stored in the object's
//! metadata (`trailpipe_store::meta::MAC`) when the file is written.
//!
//! Digests list only files whose MAC verifies, so whoever can write to the bucket cannot get a
//! forged file certified by naming it like a log file: without the key, no metadata they write
//! verifies, and metadata copied from a real file names that file, not theirs. A real file
//! whose body was replaced keeps its MAC, and is listed with the SHA-256 trailpipe wrote — which
//! is exactly what `validate-logs` then finds changed.
//!
//! The value is `v1:<key id>:<64 hex>`; the key id (the first 8 hex digits of the key's
//! SHA-256) tells a file signed under another key — another replica's, or a rotated one —
//! from a forged one.

use hmac::{KeyInit, Mac};
use sha2::Digest;

/// Shortest accepted key, in bytes.
pub const MIN_KEY_BYTES: usize = 32;

type HmacSha256 = hmac::Hmac<sha2_11::Sha256>;

/// What a log file's MAC covers.
#[derive(Debug, Clone, Copy)]
pub struct MacInput<'a> {
    /// Its bucket.
    pub bucket: &'a str,
    /// Its key.
    pub key: &'a str,
    /// SHA-256 of its uncompressed body, lowercase hex (the `trailpipe-sha256` metadata).
    pub sha256_hex: &'a str,
    /// Its oldest record's `eventTime`, as written in its metadata.
    pub oldest: &'a str,
    /// Its newest record's `eventTime`, as written in its metadata.
    pub newest: &'a str,
}

/// The outcome of checking a file's MAC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MacCheck {
    /// Written by trailpipe under this key, with this metadata.
    Valid,
    /// No MAC: not written by trailpipe (or by a version before MACs).
    Missing,
    /// Made with another key (the id): another replica's key, or a rotated one.
    UnknownKey(String),
    /// Malformed, or does not match the metadata: forged or altered.
    Invalid,
}

/// An HMAC key for log files' metadata, and the other keys files may carry (replicas that
/// raced to create the shared key; earlier keys).
#[derive(Clone)]
pub struct FileMac {
    key: Vec<u8>,
    id: String,
    /// Verify-only keys, by id.
    others: Vec<FileMac>,
}

impl std::fmt::Debug for FileMac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FileMac({})", self.id)
    }
}

impl FileMac {
    /// A MAC under `key`; at least [`MIN_KEY_BYTES`] bytes.
    pub fn new(key: &[u8]) -> Result<Self, String> {
        if key.len() < MIN_KEY_BYTES {
            return Err(format!(
                "a file MAC key needs at least {MIN_KEY_BYTES} bytes, this one has {}",
                key.len()
            ));
        }
        let id = hex8(&sha2::Sha256::digest(key));
        Ok(Self {
            key: key.to_vec(),
            id,
            others: Vec::new(),
        })
    }

    /// Also accepts files signed under `other` (verification only; this key still signs).
    pub fn also_accept(mut self, other: FileMac) -> Self {
        if other.id != self.id && self.others.iter().all(|o| o.id != other.id) {
            self.others.push(FileMac {
                others: Vec::new(),
                ..other
            });
        }
        self
    }

    /// The key's id (first 8 hex digits of its SHA-256), safe to print.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn tag(&self, f: &MacInput<'_>) -> HmacSha256 {
        let mut h = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        h.update(b"trailpipe-file-mac-v1");
        // Length-prefixed, so no two different inputs share a message.
        for part in [f.bucket, f.key, f.sha256_hex, f.oldest, f.newest] {
            h.update(&(part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        h
    }

    /// The metadata value for `f`.
    pub fn sign(&self, f: &MacInput<'_>) -> String {
        let tag = self.tag(f).finalize().into_bytes();
        let mut out = format!("v1:{}:", self.id);
        for b in tag.iter() {
            out.push_str(&format!("{b:02x}"));
        }
        out
    }

    /// Checks `value` (the metadata, if any) against `f`, in constant time.
    pub fn verify(&self, f: &MacInput<'_>, value: Option<&str>) -> MacCheck {
        let Some(value) = value else {
            return MacCheck::Missing;
        };
        let mut parts = value.splitn(3, ':');
        let (Some("v1"), Some(id), Some(tag)) = (parts.next(), parts.next(), parts.next()) else {
            return MacCheck::Invalid;
        };
        let Some(key) = std::iter::once(self)
            .chain(&self.others)
            .find(|k| k.id == id)
        else {
            return if id.len() == 8 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
                MacCheck::UnknownKey(id.to_string())
            } else {
                MacCheck::Invalid
            };
        };
        let Some(tag) = unhex(tag) else {
            return MacCheck::Invalid;
        };
        match key.tag(f).verify_slice(&tag) {
            Ok(()) => MacCheck::Valid,
            Err(_) => MacCheck::Invalid,
        }
    }
}

fn hex8(d: &[u8]) -> String {
    d[..4].iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() != 64 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(key: &'a str, sha: &'a str) -> MacInput<'a> {
        MacInput {
            bucket: "b",
            key,
            sha256_hex: sha,
            oldest: "2026-01-01T00:00:00Z",
            newest: "2026-01-01T00:05:00Z",
        }
    }

    #[test]
    fn a_signed_file_verifies_and_any_change_does_not() {
        let mac = FileMac::new(&[7; 32]).expect("key");
        let f = input("AWSLogs/x.json.gz", "ab");
        let v = mac.sign(&f);
        assert!(v.starts_with(&format!("v1:{}:", mac.id())), "{v}");
        assert_eq!(mac.verify(&f, Some(&v)), MacCheck::Valid);
        assert_eq!(
            mac.verify(&input("AWSLogs/y.json.gz", "ab"), Some(&v)),
            MacCheck::Invalid
        );
        assert_eq!(
            mac.verify(&input("AWSLogs/x.json.gz", "ac"), Some(&v)),
            MacCheck::Invalid
        );
        let other_bucket = MacInput { bucket: "c", ..f };
        assert_eq!(mac.verify(&other_bucket, Some(&v)), MacCheck::Invalid);
        assert_eq!(mac.verify(&f, None), MacCheck::Missing);
        let mut flipped = v.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
        let flipped = String::from_utf8(flipped).expect("ascii");
        assert_eq!(mac.verify(&f, Some(&flipped)), MacCheck::Invalid);
        for junk in ["", "v1", "v1:x", "v2:00000000:00", "v1:zz:00", "v1:é:é"] {
            assert_eq!(mac.verify(&f, Some(junk)), MacCheck::Invalid, "{junk}");
        }
    }

    #[test]
    fn another_key_is_told_apart_from_a_forgery() {
        let (a, b) = (
            FileMac::new(&[1; 32]).expect("a"),
            FileMac::new(&[2; 40]).expect("b"),
        );
        assert_ne!(a.id(), b.id());
        let f = input("k", "00");
        assert_eq!(
            a.verify(&f, Some(&b.sign(&f))),
            MacCheck::UnknownKey(b.id().to_string())
        );
    }

    #[test]
    fn accepted_other_keys_verify_but_never_sign() {
        let (a, b) = (
            FileMac::new(&[1; 32]).expect("a"),
            FileMac::new(&[2; 32]).expect("b"),
        );
        let both = a.clone().also_accept(b.clone());
        let f = input("k", "00");
        assert_eq!(both.verify(&f, Some(&b.sign(&f))), MacCheck::Valid);
        assert_eq!(both.verify(&f, Some(&a.sign(&f))), MacCheck::Valid);
        assert_eq!(both.sign(&f), a.sign(&f));
        let forged = format!("v1:{}:{}", b.id(), "0".repeat(64));
        assert_eq!(both.verify(&f, Some(&forged)), MacCheck::Invalid);
    }

    #[test]
    fn fields_cannot_slide_into_each_other() {
        let mac = FileMac::new(&[3; 32]).expect("key");
        let a = MacInput {
            bucket: "ab",
            key: "c",
            ..input("", "")
        };
        let b = MacInput {
            bucket: "a",
            key: "bc",
            ..input("", "")
        };
        assert_ne!(mac.sign(&a), mac.sign(&b));
    }

    #[test]
    fn short_keys_are_refused() {
        assert!(FileMac::new(&[0; 31]).unwrap_err().contains("32 bytes"));
    }
}
