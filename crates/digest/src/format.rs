//! The digest file format, with no I/O (reference §3.1–§3.3): the JSON document and its exact
//! field names, the S3 key of a digest, the string to sign, and the single-member gzip body.
//!
//! Invariants: every §3.2 field is always present (JSON `null` where CloudTrail writes null);
//! times are `YYYY-MM-DDTHH:MM:SSZ`; the key's timestamp is exactly 16 characters immediately
//! before `.json.gz` / `_backfill.json.gz` (awscli slices it at fixed offsets); hashes are
//! lowercase hex of the *uncompressed* bytes, and the bytes hashed are the bytes gzipped.

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use time::{format_description::BorrowedFormatItem, macros::format_description, OffsetDateTime};

/// `digestSignatureAlgorithm` and the `signature-algorithm` metadata value.
pub const SIGNATURE_ALGORITHM: &str = "SHA256withRSA";
/// `hashAlgorithm` / `previousDigestHashAlgorithm`.
pub const HASH_ALGORITHM: &str = "SHA-256";
/// User-metadata key holding the lowercase hex signature.
pub const META_SIGNATURE: &str = "signature";
/// User-metadata key holding [`SIGNATURE_ALGORITHM`].
pub const META_SIGNATURE_ALGORITHM: &str = "signature-algorithm";
/// User-metadata key present on backfill digests only.
pub const META_BACKFILL_GENERATION: &str = "backfill-generation-timestamp";

const KEY_TS: &[BorrowedFormatItem<'static>] =
    format_description!("[year][month][day]T[hour][minute][second]Z");

pub use trailpipe_event::format_time;

/// Parses `YYYY-MM-DDTHH:MM:SSZ`, also accepting RFC 3339 with fractions (record `eventTime`s).
pub fn parse_time(s: &str) -> Option<OffsetDateTime> {
    time::PrimitiveDateTime::parse(s, trailpipe_event::CLOUDTRAIL_TIME)
        .map(|p| p.assume_utc())
        .ok()
        .or_else(|| OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok())
}

/// Formats the 16-character `YYYYMMDDTHHMMSSZ` of a digest key.
pub fn format_key_timestamp(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(KEY_TS)
        .expect("a UTC date in range formats")
}

fn parse_key_timestamp(s: &str) -> Option<OffsetDateTime> {
    time::PrimitiveDateTime::parse(s, KEY_TS)
        .ok()
        .map(|p| p.assume_utc())
}

/// One listed log file (`logFiles[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogFileEntry {
    /// Bucket of the log file.
    #[serde(rename = "s3Bucket")]
    pub s3_bucket: String,
    /// Key of the log file.
    #[serde(rename = "s3Object")]
    pub s3_object: String,
    /// Lowercase hex SHA-256 of the uncompressed log file.
    #[serde(rename = "hashValue")]
    pub hash_value: String,
    /// Always [`HASH_ALGORITHM`].
    #[serde(rename = "hashAlgorithm")]
    pub hash_algorithm: String,
    /// Newest `eventTime` in the file (`null` if the file has no records).
    #[serde(rename = "newestEventTime")]
    pub newest_event_time: Option<String>,
    /// Oldest `eventTime` in the file.
    #[serde(rename = "oldestEventTime")]
    pub oldest_event_time: Option<String>,
}

/// A digest file (§3.2), fields in AWS's order. `previous*` are all `None` on a chain's first
/// digest; event times are `None` when `log_files` is empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestFile {
    /// Account the digest is for (the member account for organization trails).
    #[serde(rename = "awsAccountId")]
    pub aws_account_id: String,
    /// Window start (delivery time), inclusive.
    #[serde(rename = "digestStartTime")]
    pub digest_start_time: String,
    /// Window end (delivery time), exclusive; also the key's timestamp.
    #[serde(rename = "digestEndTime")]
    pub digest_end_time: String,
    /// Where this digest lives: bucket.
    #[serde(rename = "digestS3Bucket")]
    pub digest_s3_bucket: String,
    /// Where this digest lives: key.
    #[serde(rename = "digestS3Object")]
    pub digest_s3_object: String,
    /// MD5 fingerprint of the signing key's PKCS#1 DER.
    #[serde(rename = "digestPublicKeyFingerprint")]
    pub digest_public_key_fingerprint: String,
    /// Always [`SIGNATURE_ALGORITHM`].
    #[serde(rename = "digestSignatureAlgorithm")]
    pub digest_signature_algorithm: String,
    /// Newest `eventTime` over all listed files.
    #[serde(rename = "newestEventTime")]
    pub newest_event_time: Option<String>,
    /// Oldest `eventTime` over all listed files.
    #[serde(rename = "oldestEventTime")]
    pub oldest_event_time: Option<String>,
    /// Previous digest's bucket.
    #[serde(rename = "previousDigestS3Bucket")]
    pub previous_digest_s3_bucket: Option<String>,
    /// Previous digest's key.
    #[serde(rename = "previousDigestS3Object")]
    pub previous_digest_s3_object: Option<String>,
    /// Lowercase hex SHA-256 of the previous digest's uncompressed bytes.
    #[serde(rename = "previousDigestHashValue")]
    pub previous_digest_hash_value: Option<String>,
    /// [`HASH_ALGORITHM`] when there is a previous digest.
    #[serde(rename = "previousDigestHashAlgorithm")]
    pub previous_digest_hash_algorithm: Option<String>,
    /// The previous digest's signature (hex), as in its `signature` metadata.
    #[serde(rename = "previousDigestSignature")]
    pub previous_digest_signature: Option<String>,
    /// The log files delivered in the window.
    #[serde(rename = "logFiles")]
    pub log_files: Vec<LogFileEntry>,
}

impl DigestFile {
    /// Sets `newestEventTime`/`oldestEventTime` to the max/min over `log_files` (times compare
    /// correctly as strings: one fixed-width format).
    pub fn set_event_times_from_files(&mut self) {
        self.newest_event_time = self
            .log_files
            .iter()
            .filter_map(|f| f.newest_event_time.clone())
            .max();
        self.oldest_event_time = self
            .log_files
            .iter()
            .filter_map(|f| f.oldest_event_time.clone())
            .min();
    }

    /// Serialises to the exact bytes that are hashed, signed and gzipped.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a digest of strings serialises")
    }
}

/// Where a chain's digests live: everything in a digest key but the time.
#[derive(Debug, Clone, Copy)]
pub struct KeyLayout<'a> {
    /// The trail's `s3_key_prefix` (no trailing `/`), if any.
    pub prefix: Option<&'a str>,
    /// `o-...` for organization trails.
    pub organization_id: Option<&'a str>,
    /// Account id.
    pub account_id: &'a str,
    /// Region whose log files the chain covers.
    pub source_region: &'a str,
    /// Trail name.
    pub trail_name: &'a str,
    /// Region where the trail was created.
    pub home_region: &'a str,
}

impl KeyLayout<'_> {
    fn account_root(&self) -> String {
        let mut s = String::with_capacity(96);
        if let Some(p) = self.prefix.filter(|p| !p.is_empty()) {
            s.push_str(p);
            s.push('/');
        }
        s.push_str("AWSLogs/");
        if let Some(o) = self.organization_id.filter(|o| !o.is_empty()) {
            s.push_str(o);
            s.push('/');
        }
        s.push_str(self.account_id);
        s.push('/');
        s
    }

    /// `[prefix/]AWSLogs/[org/]<acct>/CloudTrail-Digest/<src>/`.
    pub fn digest_prefix(&self) -> String {
        format!(
            "{}CloudTrail-Digest/{}/",
            self.account_root(),
            self.source_region
        )
    }

    /// `[prefix/]AWSLogs/[org/]<acct>/CloudTrail/<src>/`: the chain's log-file folders.
    pub fn log_prefix(&self) -> String {
        format!("{}CloudTrail/{}/", self.account_root(), self.source_region)
    }

    /// The log-file folder of one UTC date: `.../CloudTrail/<src>/YYYY/MM/DD/`.
    pub fn log_folder(&self, date: time::Date) -> String {
        format!(
            "{}{:04}/{:02}/{:02}/",
            self.log_prefix(),
            date.year(),
            date.month() as u8,
            date.day()
        )
    }

    /// The file-name start shared by all digests of the chain.
    fn name_stem(&self) -> String {
        format!(
            "{a}_CloudTrail-Digest_{s}_{t}_{h}_",
            a = self.account_id,
            s = self.source_region,
            t = self.trail_name,
            h = self.home_region
        )
    }

    /// The key of the digest whose `digestEndTime` is `end` (§3.1); date folders are the end date.
    pub fn digest_key(&self, end: OffsetDateTime, backfill: bool) -> String {
        let d = end.to_offset(time::UtcOffset::UTC).date();
        format!(
            "{}{:04}/{:02}/{:02}/{}{}{}.json.gz",
            self.digest_prefix(),
            d.year(),
            d.month() as u8,
            d.day(),
            self.name_stem(),
            format_key_timestamp(end),
            if backfill { "_backfill" } else { "" }
        )
    }

    /// If `key` is a digest of this chain, its end time and whether it is a backfill digest.
    /// Mirrors awscli's key regex plus the fixed-offset timestamp slice.
    pub fn parse_digest_key(&self, key: &str) -> Option<(OffsetDateTime, bool)> {
        let rest = key.strip_prefix(&self.digest_prefix())?;
        let mut parts = rest.splitn(4, '/');
        for _ in 0..3 {
            let p = parts.next()?;
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
        }
        let name = parts.next()?.strip_prefix(&self.name_stem())?;
        let (ts, backfill) = match name.strip_suffix("_backfill.json.gz") {
            Some(ts) => (ts, true),
            None => (name.strip_suffix(".json.gz")?, false),
        };
        if ts.len() != 16 {
            return None;
        }
        Some((parse_key_timestamp(ts)?, backfill))
    }
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The string a digest's signature covers (§3.3):
/// `digestEndTime \n bucket/object \n sha256hex(uncompressed) \n previousDigestSignature|"null"`.
pub fn string_to_sign(
    digest_end_time: &str,
    digest_s3_bucket: &str,
    digest_s3_object: &str,
    uncompressed_sha256_hex: &str,
    previous_digest_signature: Option<&str>,
) -> String {
    format!(
        "{digest_end_time}\n{digest_s3_bucket}/{digest_s3_object}\n{uncompressed_sha256_hex}\n{}",
        previous_digest_signature.unwrap_or("null")
    )
}

/// Gzips `bytes` as one member.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 4 + 64),
        flate2::Compression::default(),
    );
    enc.write_all(bytes).expect("writing to a Vec cannot fail");
    enc.finish().expect("writing to a Vec cannot fail")
}

/// Why a gzip body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GunzipError {
    /// Not gzip, or truncated/corrupt.
    Invalid(String),
    /// Bytes after the end of the first member (awscli: "unexpected data after end of
    /// compressed stream").
    TrailingData,
}

/// Streams the single gzip member in `gz` into `sink` (decompressed chunks), refusing trailing
/// data, exactly as awscli's `zlib.decompressobj(MAX_WBITS | 16)` does.
pub fn gunzip_single_with(gz: &[u8], mut sink: impl FnMut(&[u8])) -> Result<(), GunzipError> {
    // The bufread decoder consumes exactly the member's bytes, so what remains is trailing data.
    let mut dec = flate2::bufread::GzDecoder::new(gz);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match dec.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => sink(&buf[..n]),
            Err(e) => return Err(GunzipError::Invalid(e.to_string())),
        }
    }
    if dec.into_inner().is_empty() {
        Ok(())
    } else {
        Err(GunzipError::TrailingData)
    }
}

/// Decompresses a single-member gzip body.
pub fn gunzip_single(gz: &[u8]) -> Result<Vec<u8>, GunzipError> {
    let mut out = Vec::with_capacity(gz.len() * 4);
    gunzip_single_with(gz, |c| out.extend_from_slice(c))?;
    Ok(out)
}

/// SHA-256 (lowercase hex) of the uncompressed content of a single-member gzip body.
pub fn gunzip_sha256_hex(gz: &[u8]) -> Result<String, GunzipError> {
    let mut h = Sha256::new();
    gunzip_single_with(gz, |c| h.update(c))?;
    Ok(hex::encode(h.finalize()))
}

#[cfg(test)]
mod tests;
