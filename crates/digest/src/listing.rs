//! Finding the log files a window lists, from the bucket alone: list the chain's date folders
//! for dates in `[start - lookback, end]`, keep objects whose `LastModified` is in `[start, end)`,
//! and describe each from the metadata written at delivery (`trailpipe-sha256`,
//! `trailpipe-oldest-event-time`, `trailpipe-newest-event-time`), falling back to reading the
//! object (gunzip, hash, `Records[].eventTime`) when the metadata is missing.

use futures::{stream, StreamExt, TryStreamExt};
use serde::Deserialize;
use time::OffsetDateTime;
use trailpipe_sink_s3::Store;

use crate::{
    format::{self, LogFileEntry, HASH_ALGORITHM},
    DigestChainConfig, DigestError,
};

/// Metadata the delivery stage writes on each log file, which digests list.
pub use trailpipe_sink_s3::{META_NEWEST, META_OLDEST, META_SHA256};

/// How many HEAD/GET requests run at once while describing a window's files.
const DESCRIBE_CONCURRENCY: usize = 16;

/// Largest object listed as a log file. trailpipe's own files hold at most
/// `max_file_bytes` (≤ `max_segment_bytes`) before compression; anything bigger under the
/// log-file pattern was written by someone else and is left out (logged), never read.
pub const MAX_LOG_OBJECT_BYTES: u64 = 256 * 1024 * 1024;

/// Most uncompressed bytes read from an object without trailpipe's metadata (to hash it and
/// find its event times); a bigger one is left out with a warning.
pub const MAX_UNCOMPRESSED_BYTES: usize = 512 * 1024 * 1024;

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
    let last = to.date();
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

/// Describes log files for a digest, in order. Files that vanished or are not single-member
/// gzip (so no digest entry could ever verify) are left out and reported in `warnings`.
pub(crate) async fn describe_all(
    store: &Store,
    bucket: &str,
    keys: Vec<String>,
    warnings: &mut Vec<String>,
) -> Result<Vec<LogFileEntry>, DigestError> {
    let described: Vec<Result<LogFileEntry, String>> = stream::iter(keys)
        .map(|k| async move { describe(store, bucket, &k).await })
        .buffered(DESCRIBE_CONCURRENCY)
        .try_collect()
        .await?;
    let mut entries = Vec::with_capacity(described.len());
    for d in described {
        match d {
            Ok(e) => entries.push(e),
            Err(w) => {
                tracing::warn!("{w}");
                warnings.push(w);
            }
        }
    }
    Ok(entries)
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// One file's entry: `Ok(Err(warning))` when it cannot be listed.
async fn describe(
    store: &Store,
    bucket: &str,
    key: &str,
) -> Result<Result<LogFileEntry, String>, DigestError> {
    let entry = |hash: String, oldest: Option<String>, newest: Option<String>| LogFileEntry {
        s3_bucket: bucket.to_string(),
        s3_object: key.to_string(),
        hash_value: hash,
        hash_algorithm: HASH_ALGORITHM.to_string(),
        newest_event_time: newest,
        oldest_event_time: oldest,
    };
    let Some(meta) = store.head(bucket, key).await? else {
        return Ok(Err(format!(
            "s3://{bucket}/{key} vanished before it was digested"
        )));
    };
    let norm = |k: &str| {
        meta.get(k)
            .and_then(|v| format::parse_time(v))
            .map(format::format_time)
    };
    if let (Some(hash), Some(oldest), Some(newest)) =
        (meta.get(META_SHA256), norm(META_OLDEST), norm(META_NEWEST))
    {
        if is_sha256_hex(hash) {
            return Ok(Ok(entry(hash.clone(), Some(oldest), Some(newest))));
        }
    }
    let Some(body) = store.get(bucket, key).await? else {
        return Ok(Err(format!(
            "s3://{bucket}/{key} vanished before it was digested"
        )));
    };
    let key_owned = key.to_string();
    let parsed = tokio::task::spawn_blocking(move || hash_and_times(&body))
        .await
        .expect("hashing task panicked");
    Ok(match parsed {
        Ok((hash, oldest, newest)) => Ok(entry(hash, oldest, newest)),
        Err(e) => Err(format!(
            "s3://{bucket}/{key_owned} is not a single-member gzip log file ({e}); not digested"
        )),
    })
}

#[derive(Deserialize)]
struct Body {
    #[serde(rename = "Records", default)]
    records: Vec<RecordTime>,
}

#[derive(Deserialize)]
struct RecordTime {
    #[serde(rename = "eventTime")]
    event_time: Option<String>,
}

type Described = (String, Option<String>, Option<String>);

/// SHA-256 of the uncompressed body and the min/max `Records[].eventTime`; an error past
/// [`MAX_UNCOMPRESSED_BYTES`] (a gzip bomb costs no more than that).
fn hash_and_times(gz: &[u8]) -> Result<Described, String> {
    hash_and_times_within(gz, MAX_UNCOMPRESSED_BYTES)
}

fn hash_and_times_within(gz: &[u8], max: usize) -> Result<Described, String> {
    let mut raw = Vec::new();
    let mut over = false;
    format::gunzip_single_with(gz, |c| {
        if raw.len() + c.len() > max {
            over = true;
        } else if !over {
            raw.extend_from_slice(c);
        }
    })
    .map_err(|e| format!("{e:?}"))?;
    if over {
        return Err(format!("more than {max} bytes uncompressed"));
    }
    let hash = format::sha256_hex(&raw);
    // A body that is gzip but not CloudTrail JSON still gets listed by hash, with null times.
    let times: Vec<OffsetDateTime> = serde_json::from_slice::<Body>(&raw)
        .map(|b| {
            b.records
                .iter()
                .filter_map(|r| r.event_time.as_deref().and_then(format::parse_time))
                .collect()
        })
        .unwrap_or_default();
    let oldest = times.iter().min().copied().map(format::format_time);
    let newest = times.iter().max().copied().map(format::format_time);
    Ok((hash, oldest, newest))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(raw: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(raw).expect("gzip");
        e.finish().expect("gzip")
    }

    #[test]
    fn a_body_without_metadata_is_read_only_up_to_the_limit() {
        let body = br#"{"Records":[{"eventTime":"2026-01-01T00:00:00Z"},{"eventTime":"2026-01-01T00:05:00Z"}]}"#;
        let (hash, oldest, newest) =
            hash_and_times_within(&gzip(body), body.len()).expect("within the limit");
        assert_eq!(hash, format::sha256_hex(body));
        assert_eq!(
            (oldest.as_deref(), newest.as_deref()),
            (Some("2026-01-01T00:00:00Z"), Some("2026-01-01T00:05:00Z"))
        );
        let over = hash_and_times_within(&gzip(body), body.len() - 1).expect_err("over");
        assert!(over.contains("bytes uncompressed"), "{over}");
    }
}
