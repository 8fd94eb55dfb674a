//! A library `aws cloudtrail validate-logs` (reference §3.5): list a chain's digests in a time
//! range, walk each chain (standard, then backfill) newest to oldest following
//! `previousDigestS3Object`, verify every digest's signature with the public key named by its
//! fingerprint, then re-hash every log file a valid digest lists (concurrently, bounded).
//!
//! It reports what awscli reports, with the same outcomes and texts ([`render`]), plus one check
//! awscli skips: a digest reached through a pointer must hash to the pointing digest's
//! `previousDigestHashValue` and carry its `previousDigestSignature`.

mod render;

use std::{collections::HashMap, time::Duration};

/// Largest digest body read (uncompressed). A digest lists one hour's log files of one
/// account and region: a few MiB at the very most.
const MAX_DIGEST_BYTES: usize = 64 * 1024 * 1024;

use futures::{stream, StreamExt};
use serde_json::Value;
use time::OffsetDateTime;
use trailpipe_store::{ErrorClass, Store};

use crate::{
    format::{self, KeyLayout},
    keys::{self, PublicKeyInfo},
    DigestError,
};

pub use render::{render, Rendered};

/// What to validate.
#[derive(Debug, Clone)]
pub struct ValidateRequest {
    /// Bucket holding the digests.
    pub bucket: String,
    /// The trail's `s3_key_prefix`.
    pub prefix: Option<String>,
    /// `o-...` for organization trails.
    pub organization_id: Option<String>,
    /// Account id.
    pub account: String,
    /// Region whose digests are validated.
    pub source_region: String,
    /// Trail name.
    pub trail_name: String,
    /// Trail home region.
    pub home_region: String,
    /// Trail ARN (only printed).
    pub trail_arn: String,
    /// Range start (inclusive).
    pub start: OffsetDateTime,
    /// Range end.
    pub end: OffsetDateTime,
    /// Log files fetched at once.
    pub concurrency: usize,
}

impl ValidateRequest {
    fn layout(&self) -> KeyLayout<'_> {
        KeyLayout {
            prefix: self.prefix.as_deref(),
            organization_id: self.organization_id.as_deref(),
            account_id: &self.account,
            source_region: &self.source_region,
            trail_name: &self.trail_name,
            home_region: &self.home_region,
        }
    }
}

/// The outcome for one digest file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DigestStatus {
    /// Signature verified.
    Valid,
    /// Listed or pointed to, but absent.
    NotFound,
    /// Not gzip/JSON, or a required field or metadata is missing.
    InvalidFormat,
    /// Signature metadata missing or the signature does not verify.
    SignatureFailed,
    /// `digestS3Bucket`/`digestS3Object` differ from where it was read.
    Moved,
    /// No public key with the digest's fingerprint.
    PublicKeyNotFound {
        /// The trail's home region (as awscli prints it).
        region: String,
        /// The digest's fingerprint.
        fingerprint: String,
    },
    /// The public key with that fingerprint is not a usable PKCS#1 key.
    KeyUnusable(String),
    /// Signature valid, but its hash or signature differs from what the next digest recorded
    /// (`previousDigestHashValue` / `previousDigestSignature`) — not checked by awscli.
    ChainMismatch,
}

/// The outcome for one log file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStatus {
    /// Hash matches.
    Valid,
    /// Hash differs from `hashValue`.
    HashMismatch,
    /// Absent.
    NotFound,
    /// Not gzip, or the digest entry is malformed.
    InvalidFormat,
    /// Bytes after the first gzip member.
    TrailingData,
}

/// One step of a validation, in report order; also what the progress callback receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValidationEvent {
    /// Digest keys found in range (sent first; `log_files` of valid digests follow later).
    Listed {
        /// Standard digests.
        standard: usize,
        /// Backfill digests.
        backfill: usize,
    },
    /// A digest was checked.
    Digest {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
        /// In the backfill chain.
        backfill: bool,
        /// Result.
        status: DigestStatus,
    },
    /// A chain break with older digests beyond it (not a failure).
    Gap {
        /// In the backfill chain.
        backfill: bool,
        /// End time of the next older digest.
        next_end: OffsetDateTime,
        /// Start time of the digest without a previous pointer.
        last_start: OffsetDateTime,
    },
    /// Log files to check from now on (sent once digests are walked).
    LogFilesQueued(usize),
    /// A log file was checked.
    LogFile {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
        /// Result.
        status: LogStatus,
    },
}

/// Counts, as awscli's summary prints them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationSummary {
    /// Valid standard digests.
    pub valid_digests: usize,
    /// Invalid or missing standard digests.
    pub invalid_digests: usize,
    /// Valid backfill digests.
    pub valid_backfill_digests: usize,
    /// Invalid or missing backfill digests.
    pub invalid_backfill_digests: usize,
    /// Valid log files.
    pub valid_logs: usize,
    /// Invalid or missing log files.
    pub invalid_logs: usize,
    /// Chain gaps reported.
    pub gaps: usize,
    /// Earliest valid `digestStartTime`, clipped to the requested start.
    pub found_start: Option<OffsetDateTime>,
    /// Latest valid `digestEndTime`, clipped to the requested end.
    pub found_end: Option<OffsetDateTime>,
}

impl ValidationSummary {
    /// awscli's exit status: 1 iff any digest or log file is invalid (gaps are not failures).
    pub fn exit_code(&self) -> i32 {
        i32::from(self.invalid_digests + self.invalid_backfill_digests + self.invalid_logs > 0)
    }
}

/// The whole result.
#[derive(Debug, Clone)]
pub struct ValidationReport {
    /// Range start.
    pub start: OffsetDateTime,
    /// Range end.
    pub end: OffsetDateTime,
    /// Trail ARN.
    pub trail_arn: String,
    /// Every event in awscli's output order.
    pub events: Vec<ValidationEvent>,
    /// Counts.
    pub summary: ValidationSummary,
}

/// A log file a valid digest lists, remembered until log checks run.
struct LogJob {
    bucket: String,
    key: String,
    hash: Option<String>,
    /// Index in `events` after which its result goes.
    after: usize,
}

/// Validates a chain. `public_keys` are what ListPublicKeys would return for the range (extra
/// keys are harmless); `progress` sees every event as it happens.
pub async fn validate(
    store: &Store,
    req: &ValidateRequest,
    public_keys: &[PublicKeyInfo],
    progress: &(dyn Fn(&ValidationEvent) + Send + Sync),
) -> Result<ValidationReport, DigestError> {
    let keys: HashMap<&str, &PublicKeyInfo> = public_keys
        .iter()
        .map(|k| (k.fingerprint.as_str(), k))
        .collect();
    let (standard, backfill) = list_in_range(store, req).await?;
    let mut w = Walk {
        store,
        keys,
        events: Vec::new(),
        summary: ValidationSummary::default(),
        jobs: Vec::new(),
        progress,
        req,
    };
    w.emit(ValidationEvent::Listed {
        standard: standard.len(),
        backfill: backfill.len(),
    });
    w.chain(standard, false).await?;
    w.chain(backfill, true).await?;
    w.emit(ValidationEvent::LogFilesQueued(w.jobs.len()));

    // Log files: fetched concurrently, results kept in listing order.
    let jobs = std::mem::take(&mut w.jobs);
    let concurrency = req.concurrency.max(1);
    let mut results = stream::iter(jobs)
        .map(|j| async move {
            let status = check_log(store, &j).await?;
            Ok::<_, DigestError>((j, status))
        })
        .buffered(concurrency);
    let mut placed: Vec<(usize, ValidationEvent)> = Vec::new();
    while let Some(r) = results.next().await {
        let (j, status) = r?;
        if status == LogStatus::Valid {
            w.summary.valid_logs += 1;
        } else {
            w.summary.invalid_logs += 1;
        }
        let ev = ValidationEvent::LogFile {
            bucket: j.bucket,
            key: j.key,
            status,
        };
        progress(&ev);
        placed.push((j.after, ev));
    }
    // Interleave log results after their digest, as awscli prints them.
    let mut events = Vec::with_capacity(w.events.len() + placed.len());
    let mut placed = placed.into_iter().peekable();
    for (i, ev) in w.events.into_iter().enumerate() {
        events.push(ev);
        while let Some((_, ev)) = placed.next_if(|(after, _)| *after == i) {
            events.push(ev);
        }
    }
    events.extend(placed.map(|(_, e)| e));
    Ok(ValidationReport {
        start: req.start,
        end: req.end,
        trail_arn: req.trail_arn.clone(),
        events,
        summary: w.summary,
    })
}

/// Digest keys in range, as awscli lists them: from the key a digest would have at
/// `start - 1 min`, stopping at the first key dated after `end + 1 h`, skipping keys before
/// `start`; split into (standard, backfill).
async fn list_in_range(
    store: &Store,
    req: &ValidateRequest,
) -> Result<(Vec<(String, OffsetDateTime)>, Vec<(String, OffsetDateTime)>), DigestError> {
    let layout = req.layout();
    let marker = layout.digest_key(req.start - time::Duration::minutes(1), false);
    let listed = store
        .list_objects(&req.bucket, &layout.digest_prefix(), Some(&marker))
        .await?;
    let start = req.start.replace_nanosecond(0).unwrap_or(req.start);
    let stop = req.end + time::Duration::hours(1);
    let (mut standard, mut backfill) = (Vec::new(), Vec::new());
    for o in listed {
        let Some((date, is_backfill)) = layout.parse_digest_key(&o.key) else {
            continue;
        };
        if date.unix_timestamp() > stop.unix_timestamp() {
            break;
        }
        if date < start {
            continue;
        }
        if is_backfill {
            backfill.push((o.key, date));
        } else {
            standard.push((o.key, date));
        }
    }
    Ok((standard, backfill))
}

/// A digest that verified, with what the previous digest must match.
struct Verified {
    start: OffsetDateTime,
    end: OffsetDateTime,
    previous: Option<(String, String)>,
    previous_hash: Option<String>,
    previous_signature: Option<String>,
    sha256_hex: String,
    signature_hex: String,
    log_files: Vec<Value>,
}

struct Walk<'a> {
    store: &'a Store,
    keys: HashMap<&'a str, &'a PublicKeyInfo>,
    events: Vec<ValidationEvent>,
    summary: ValidationSummary,
    jobs: Vec<LogJob>,
    progress: &'a (dyn Fn(&ValidationEvent) + Send + Sync),
    req: &'a ValidateRequest,
}

/// awscli's `_get_last_digest`: pop the newest listed key, or the newest one dated before
/// `before`.
fn next_listed(
    digests: &mut Vec<(String, OffsetDateTime)>,
    before: Option<OffsetDateTime>,
) -> Option<(String, OffsetDateTime)> {
    while let Some((k, d)) = digests.pop() {
        if before.is_none_or(|b| d < b) {
            return Some((k, d));
        }
    }
    None
}

impl Walk<'_> {
    fn emit(&mut self, ev: ValidationEvent) {
        (self.progress)(&ev);
        self.events.push(ev);
    }

    fn digest_event(&mut self, bucket: &str, key: &str, backfill: bool, status: DigestStatus) {
        let valid = status == DigestStatus::Valid;
        match (backfill, valid) {
            (false, true) => self.summary.valid_digests += 1,
            (false, false) => self.summary.invalid_digests += 1,
            (true, true) => self.summary.valid_backfill_digests += 1,
            (true, false) => self.summary.invalid_backfill_digests += 1,
        }
        self.emit(ValidationEvent::Digest {
            bucket: bucket.into(),
            key: key.into(),
            backfill,
            status,
        });
    }

    /// Walks one chain newest to oldest (awscli's `_traverse_digest_chain`).
    async fn chain(
        &mut self,
        mut digests: Vec<(String, OffsetDateTime)>,
        backfill: bool,
    ) -> Result<(), DigestError> {
        let mut bucket = self.req.bucket.clone();
        let Some((mut key, mut key_date)) = next_listed(&mut digests, None) else {
            return Ok(());
        };
        let mut last_start = key_date;
        // What the digest we came from says its previous digest is: (hash, signature).
        let mut expected: Option<(Option<String>, Option<String>)> = None;
        // Digests already walked: a chain that comes back to one (a digest naming itself as
        // its previous one, or two naming each other) is broken, not followed forever.
        let mut visited = std::collections::HashSet::new();
        while self.req.start <= last_start {
            if !visited.insert((bucket.clone(), key.clone())) {
                self.digest_event(&bucket, &key, backfill, DigestStatus::ChainMismatch);
                return Ok(());
            }
            match self.load_and_verify(&bucket, &key, backfill).await? {
                Ok(v) => {
                    let mismatch = expected.take().is_some_and(|(h, s)| {
                        h.is_some_and(|h| h != v.sha256_hex)
                            || s.is_some_and(|s| !s.eq_ignore_ascii_case(&v.signature_hex))
                    });
                    last_start = v.start;
                    let status = if mismatch {
                        DigestStatus::ChainMismatch
                    } else {
                        self.track_found(v.start, v.end);
                        DigestStatus::Valid
                    };
                    let valid = status == DigestStatus::Valid;
                    self.digest_event(&bucket, &key, backfill, status);
                    if valid {
                        let after = self.events.len() - 1;
                        for f in &v.log_files {
                            let s = |n: &str| f.get(n).and_then(Value::as_str).map(String::from);
                            self.jobs.push(LogJob {
                                bucket: s("s3Bucket").unwrap_or_default(),
                                key: s("s3Object").unwrap_or_default(),
                                hash: s("hashValue"),
                                after,
                            });
                        }
                    }
                    match v.previous {
                        None => match next_listed(&mut digests, Some(key_date)) {
                            Some((k, d)) => {
                                self.summary.gaps += 1;
                                self.emit(ValidationEvent::Gap {
                                    backfill,
                                    next_end: d,
                                    last_start,
                                });
                                (key, key_date) = (k, d);
                            }
                            None => return Ok(()),
                        },
                        Some((b, k)) => {
                            expected = Some((v.previous_hash, v.previous_signature));
                            if b != bucket {
                                // Digests of another bucket are not in our listing; follow
                                // pointers only (awscli re-lists that bucket).
                                digests.clear();
                                bucket = b;
                            }
                            key_date = self
                                .req
                                .layout()
                                .parse_digest_key(&k)
                                .map_or(v.start, |(d, _)| d);
                            key = k;
                        }
                    }
                }
                Err(status) => {
                    expected = None;
                    self.digest_event(&bucket, &key, backfill, status);
                    match next_listed(&mut digests, Some(key_date)) {
                        Some((k, d)) => (key, key_date) = (k, d),
                        None => return Ok(()),
                    }
                }
            }
        }
        Ok(())
    }

    fn track_found(&mut self, start: OffsetDateTime, end: OffsetDateTime) {
        let s = start.max(self.req.start);
        let e = end.min(self.req.end);
        self.summary.found_start = Some(self.summary.found_start.map_or(s, |f| f.min(s)));
        self.summary.found_end = Some(self.summary.found_end.map_or(e, |f| f.max(e)));
    }

    /// awscli's `fetch_digest` + `_load_and_validate_digest`. The inner `Err` is the digest's
    /// outcome; the outer one a store failure that stops validation.
    async fn load_and_verify(
        &self,
        bucket: &str,
        key: &str,
        backfill: bool,
    ) -> Result<Result<Verified, DigestStatus>, DigestError> {
        let Some(gz) = get_retrying(self.store, bucket, key).await? else {
            return Ok(Err(DigestStatus::NotFound));
        };
        let meta = self.store.head(bucket, key).await?.unwrap_or_default();
        Ok(self.verify(bucket, key, backfill, &gz, &meta))
    }

    fn verify(
        &self,
        bucket: &str,
        key: &str,
        backfill: bool,
        gz: &[u8],
        meta: &HashMap<String, String>,
    ) -> Result<Verified, DigestStatus> {
        // Read before the signature is checked: a body inflating past any real digest's size
        // is refused, not allocated.
        let mut raw = Vec::new();
        let mut over = false;
        format::gunzip_single_with(gz, |c| {
            over |= raw.len() + c.len() > MAX_DIGEST_BYTES;
            if !over {
                raw.extend_from_slice(c);
            }
        })
        .map_err(|_| DigestStatus::InvalidFormat)?;
        if over {
            return Err(DigestStatus::InvalidFormat);
        }
        let json: serde_json::Map<String, Value> =
            serde_json::from_slice(&raw).map_err(|_| DigestStatus::InvalidFormat)?;
        let (Some(sig_hex), Some(_)) = (
            meta.get(format::META_SIGNATURE),
            meta.get(format::META_SIGNATURE_ALGORITHM),
        ) else {
            return Err(DigestStatus::SignatureFailed);
        };
        if backfill && !meta.contains_key(format::META_BACKFILL_GENERATION) {
            return Err(DigestStatus::InvalidFormat);
        }
        let str_field = |n: &str| json.get(n).and_then(Value::as_str);
        let required = [
            "digestPublicKeyFingerprint",
            "digestS3Bucket",
            "digestS3Object",
            "previousDigestSignature",
            "digestEndTime",
            "digestStartTime",
        ];
        if required.iter().any(|k| !json.contains_key(*k)) {
            return Err(DigestStatus::InvalidFormat);
        }
        let (Some(fp), Some(d_bucket), Some(d_key), Some(end_s), Some(start_s)) = (
            str_field("digestPublicKeyFingerprint"),
            str_field("digestS3Bucket"),
            str_field("digestS3Object"),
            str_field("digestEndTime"),
            str_field("digestStartTime"),
        ) else {
            return Err(DigestStatus::InvalidFormat);
        };
        if d_bucket != bucket || d_key != key {
            return Err(DigestStatus::Moved);
        }
        let Some(public) = self.keys.get(fp) else {
            return Err(DigestStatus::PublicKeyNotFound {
                region: self.req.home_region.clone(),
                fingerprint: fp.to_string(),
            });
        };
        if keys::to_pkcs1_der(&public.der_pkcs1).is_err() {
            return Err(DigestStatus::KeyUnusable(fp.to_string()));
        }
        let prev_sig = match json.get("previousDigestSignature") {
            Some(Value::String(s)) => Some(s.as_str()),
            Some(Value::Null) => None,
            _ => return Err(DigestStatus::InvalidFormat),
        };
        let sha256_hex = format::sha256_hex(&raw);
        let to_sign = format::string_to_sign(end_s, d_bucket, d_key, &sha256_hex, prev_sig);
        let signature = hex::decode(sig_hex).map_err(|_| DigestStatus::SignatureFailed)?;
        if !keys::verify(&public.der_pkcs1, to_sign.as_bytes(), &signature) {
            return Err(DigestStatus::SignatureFailed);
        }
        let (Some(start), Some(end)) = (format::parse_time(start_s), format::parse_time(end_s))
        else {
            return Err(DigestStatus::InvalidFormat);
        };
        let previous = match (
            str_field("previousDigestS3Bucket"),
            str_field("previousDigestS3Object"),
        ) {
            (Some(b), Some(k)) => Some((b.to_string(), k.to_string())),
            _ => None,
        };
        let log_files = match json.get("logFiles") {
            Some(Value::Array(a)) => a.clone(),
            _ => Vec::new(),
        };
        Ok(Verified {
            start,
            end,
            previous,
            previous_hash: str_field("previousDigestHashValue").map(String::from),
            previous_signature: prev_sig.map(String::from),
            sha256_hex,
            signature_hex: sig_hex.clone(),
            log_files,
        })
    }
}

/// GET with a few retries for transient errors (a 10 000-file validation should not die on one).
async fn get_retrying(
    store: &Store,
    bucket: &str,
    key: &str,
) -> Result<Option<bytes::Bytes>, DigestError> {
    let mut attempt = 0u32;
    loop {
        match store.get(bucket, key).await {
            Ok(b) => return Ok(b),
            Err(e) if attempt < 3 && e.class != ErrorClass::Permanent => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

async fn check_log(store: &Store, job: &LogJob) -> Result<LogStatus, DigestError> {
    let Some(expected) = job.hash.clone() else {
        return Ok(LogStatus::InvalidFormat);
    };
    if job.bucket.is_empty() || job.key.is_empty() {
        return Ok(LogStatus::InvalidFormat);
    }
    let Some(body) = get_retrying(store, &job.bucket, &job.key).await? else {
        return Ok(LogStatus::NotFound);
    };
    let hashed = tokio::task::spawn_blocking(move || format::gunzip_sha256_hex(&body))
        .await
        .expect("hashing task panicked");
    Ok(match hashed {
        Ok(h) if h == expected => LogStatus::Valid,
        Ok(_) => LogStatus::HashMismatch,
        Err(format::GunzipError::TrailingData) => LogStatus::TrailingData,
        Err(format::GunzipError::Invalid(_)) => LogStatus::InvalidFormat,
    })
}
