//! Finding the log files a window lists, from the bucket alone: list the chain's date folders
//! for dates in `[start - lookback, end + lookahead]`, keep objects whose `LastModified` is in
//! `[start, end)`, and describe each from the metadata written at delivery (`trailpipe-sha256`,
//! `trailpipe-oldest-event-time`, `trailpipe-newest-event-time`) once its `trailpipe-mac`
//! verifies. Objects without a valid MAC were not written by trailpipe and are never listed.

use futures::{stream, StreamExt, TryStreamExt};
use time::OffsetDateTime;
use trailpipe_logfile::{FileMac, MacCheck, MacInput};
use trailpipe_store::{
    meta::{MAC, NEWEST, OLDEST, SHA256},
    Store,
};

use crate::{
    format::{self, LogFileEntry, HASH_ALGORITHM},
    DigestChainConfig, DigestError,
};

/// How many HEAD/GET requests run at once while describing a window's files.
const DESCRIBE_CONCURRENCY: usize = 16;

/// Largest object listed as a log file. trailpipe's own files hold at most
/// `max_file_bytes` (≤ `max_segment_bytes`) before compression; anything bigger under the
/// log-file pattern was written by someone else and is left out (logged), never read.
pub const MAX_LOG_OBJECT_BYTES: u64 = 256 * 1024 * 1024;

/// A log object and its delivery time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Delivered {
    pub key: String,
    pub last_modified: OffsetDateTime,
}

/// Log objects of the chain delivered in `[from, to)`, sorted by key.
pub(crate) async fn list_delivered(
    store: &Store,
    cfg: &DigestChainConfig,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Result<Vec<Delivered>, DigestError> {
    let layout = cfg.layout();
    let name_start = format!("{}_CloudTrail_{}_", cfg.account, cfg.source_region);
    let first = (from - cfg.lookback).date();
    let last = (to + cfg.lookahead).date();
    let mut dates = Vec::new();
    let mut d = first;
    while d <= last {
        dates.push(d);
        d = match d.next_day() {
            Some(n) => n,
            None => break,
        };
    }
    let folders: Vec<Vec<_>> = stream::iter(dates)
        .map(|d| {
            let folder = layout.log_folder(d);
            async move { store.list_objects(&cfg.bucket, &folder, None).await }
        })
        .buffered(8)
        .try_collect()
        .await?;
    let mut out: Vec<Delivered> = folders
        .into_iter()
        .flatten()
        .filter(|o| {
            o.key
                .rsplit('/')
                .next()
                .is_some_and(|n| n.starts_with(&name_start) && n.ends_with(".json.gz"))
        })
        .filter(|o| {
            let fits = o.size <= MAX_LOG_OBJECT_BYTES;
            if !fits {
                tracing::warn!(bucket = %cfg.bucket, key = %o.key, size = o.size, "an object of {} bytes under the log-file pattern is larger than any log file trailpipe writes; not digested", o.size);
            }
            fits
        })
        .map(|o| Delivered {
            key: o.key,
            last_modified: OffsetDateTime::from(o.last_modified),
        })
        .filter(|o| o.last_modified >= from && o.last_modified < to)
        .collect();
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

/// Describes log files for a digest, in order. Files that vanished, and objects whose
/// `trailpipe-mac` does not verify (not written by trailpipe: see [`trailpipe_logfile::mac`]),
/// are left out and reported in `warnings`; the second value holds the latter's keys.
pub(crate) async fn describe_all(
    store: &Store,
    bucket: &str,
    keys: Vec<String>,
    mac: &FileMac,
    warnings: &mut Vec<String>,
) -> Result<(Vec<LogFileEntry>, Vec<String>), DigestError> {
    let described: Vec<(String, Described)> = stream::iter(keys)
        .map(|k| async move {
            let d = describe(store, bucket, &k, mac).await?;
            Ok::<_, DigestError>((k, d))
        })
        .buffered(DESCRIBE_CONCURRENCY)
        .try_collect()
        .await?;
    let mut entries = Vec::with_capacity(described.len());
    let mut unverified = Vec::new();
    for (key, d) in described {
        match d {
            Described::Listed(e) => entries.push(e),
            Described::Vanished(w) => {
                tracing::warn!("{w}");
                warnings.push(w);
            }
            Described::Unverified(w) => {
                tracing::error!("{w}");
                warnings.push(w);
                unverified.push(key);
            }
        }
    }
    Ok((entries, unverified))
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// What became of one listed object.
enum Described {
    /// Verified: its digest entry.
    Listed(LogFileEntry),
    /// Gone before it was described.
    Vanished(String),
    /// Not verifiably trailpipe's: left out.
    Unverified(String),
}

/// One file's entry, from the metadata delivery wrote, once its MAC verifies. The body is
/// never read: a file trailpipe wrote carries its hash, and nothing else is listed.
async fn describe(
    store: &Store,
    bucket: &str,
    key: &str,
    mac: &FileMac,
) -> Result<Described, DigestError> {
    let Some(meta) = store.head(bucket, key).await? else {
        return Ok(Described::Vanished(format!(
            "s3://{bucket}/{key} vanished before it was digested"
        )));
    };
    let get = |k: &str| meta.get(k).map(String::as_str);
    let (Some(hash), Some(oldest), Some(newest)) = (get(SHA256), get(OLDEST), get(NEWEST)) else {
        return Ok(Described::Unverified(format!(
            "s3://{bucket}/{key} is named like a log file but has no trailpipe metadata: not written by trailpipe, not digested"
        )));
    };
    let input = MacInput {
        bucket,
        key,
        sha256_hex: hash,
        oldest,
        newest,
    };
    let times = (format::parse_time(oldest), format::parse_time(newest));
    match (mac.verify(&input, get(MAC)), times) {
        (MacCheck::Valid, (Some(o), Some(n))) if is_sha256_hex(hash) => {
            Ok(Described::Listed(LogFileEntry {
                s3_bucket: bucket.to_string(),
                s3_object: key.to_string(),
                hash_value: hash.to_string(),
                hash_algorithm: HASH_ALGORITHM.to_string(),
                newest_event_time: Some(format::format_time(n)),
                oldest_event_time: Some(format::format_time(o)),
            }))
        }
        (MacCheck::UnknownKey(id), _) => Ok(Described::Unverified(format!(
            "s3://{bucket}/{key} was signed with file MAC key {id}, this daemon holds {}: every replica must share integrity.file_mac_key (not digested)",
            mac.id()
        ))),
        (check, _) => Ok(Described::Unverified(format!(
            "s3://{bucket}/{key} is named like a log file but its trailpipe-mac is {}: not digested",
            if check == MacCheck::Missing { "missing" } else { "not valid for its metadata" }
        ))),
    }
}
