//! The digester of one chain. Each [`Digester::run_once`] reads the chain head from the bucket
//! (newest digest: previous pointer, hash, signature; its `digestEndTime` starts the next
//! window), writes one digest per window `[Ta, Ta + interval)` with `Ta + interval + settle <=
//! now` (empty windows included), then re-lists the latest `backfill_windows` windows and puts
//! files that their digests miss (late PUTs) into a backfill digest.
//!
//! Decisions:
//! - First window: starts at the first log delivery (`LastModified`, whole seconds) found within
//!   `lookback` of the first run; a chain with no log file yet has no digest.
//! - Backfill digests form their own chain (awscli validates them as one): each points to the
//!   previous backfill digest (null for the first), `digestStartTime` = the previous backfill's
//!   end (first: the start of the oldest re-checked window), `digestEndTime` and
//!   `backfill-generation-timestamp` = the current head's `digestEndTime`. So backfill keys are
//!   deterministic (a replay rewrites the same object) and in chain order; at most one backfill
//!   per head — late files found after it wait for the next window's run.
//! - Two writers that disagree (replicas with different intervals, or one racing with a stale
//!   head) are caught both ways: a 412 on a window whose digest has another start or previous
//!   digest is a [`DigestError::ChainConflict`] (nothing written over it), and a re-checked
//!   digest the chain from the head does not reach is reported in
//!   [`DigestRunReport::off_chain`] (create-only keys cannot stop two different windows; the
//!   chain goes on from the newest head, so validation still passes over one chain).
//! - A head that cannot be parsed (tampered) starts a new chain (previous* null) at its key time;
//!   store errors are returned untouched so a transient failure never forks the chain.

use std::{collections::HashSet, sync::Arc};

use time::OffsetDateTime;
use trailpipe_logfile::FileMac;
use trailpipe_store::{PutOutcome, Store};

use crate::{
    format::{self, DigestFile, LogFileEntry},
    listing::{describe_all, list_delivered},
    DigestChainConfig, DigestError, DigestSigner,
};

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DigestRunReport {
    /// Digest keys this run created, oldest first.
    pub written: Vec<String>,
    /// Digest keys another writer had already created (412), adopted as the chain head.
    pub adopted: Vec<String>,
    /// Backfill digest keys this run created.
    pub backfills: Vec<String>,
    /// Log files listed by the digests this run created (backfills included).
    pub log_files: usize,
    /// Start of the next window to digest (`None` while the chain has no log file).
    pub next_window_start: Option<OffsetDateTime>,
    /// Files left out (vanished, or not verifiably trailpipe's), unreadable heads, postponed
    /// backfills.
    pub warnings: Vec<String>,
    /// Objects named like log files left out because their `trailpipe-mac` did not verify.
    pub unverified_files: u64,
    /// Digests of the re-checked windows that the chain from the head does not reach (a
    /// writer with another interval, or with a stale head, wrote them).
    /// Validation follows the chain and passes; these say the replicas disagree.
    pub off_chain: Vec<String>,
}

/// A chain as one writer read it from the bucket: [`Digester::read_chain`], then
/// [`Digester::run_from`].
pub struct ChainView {
    /// Normal digests (key, end), by end time.
    normals: Vec<(String, OffsetDateTime)>,
    /// Backfill digests (key, end), by end time.
    backfills: Vec<(String, OffsetDateTime)>,
    head: Option<Link>,
    /// Start of the next window (`None` while the chain has no log file).
    next_start: Option<OffsetDateTime>,
    warnings: Vec<String>,
}

/// A digest as the next one in its chain needs it.
#[derive(Debug, Clone)]
struct Link {
    key: String,
    end: OffsetDateTime,
    sha256_hex: String,
    signature_hex: String,
}

/// A digest read back from the bucket.
struct Loaded {
    file: DigestFile,
    link: Link,
}

/// Writes the digests of one chain. Cheap to clone the inputs; holds no state between runs.
pub struct Digester {
    cfg: DigestChainConfig,
    store: Store,
    signer: Arc<dyn DigestSigner>,
    /// Verifies that a listed object was written by trailpipe.
    mac: Arc<FileMac>,
    interval: time::Duration,
    settle: time::Duration,
}

impl Digester {
    /// A digester for `cfg`'s chain. The interval is rounded to whole seconds (at least 1 s):
    /// digest times have second precision. Only objects whose `trailpipe-mac` verifies under
    /// `mac` are listed.
    pub fn new(
        cfg: DigestChainConfig,
        store: Store,
        signer: Arc<dyn DigestSigner>,
        mac: Arc<FileMac>,
    ) -> Self {
        let interval = time::Duration::seconds(cfg.interval.as_secs().max(1) as i64);
        let settle = time::Duration::try_from(cfg.settle).unwrap_or(time::Duration::MAX);
        Self {
            cfg,
            store,
            signer,
            mac,
            interval,
            settle,
        }
    }

    /// The chain's configuration.
    pub fn config(&self) -> &DigestChainConfig {
        &self.cfg
    }

    /// Digests every window that has settled by `now`, then backfills late files. Idempotent:
    /// a second call with the same `now` writes nothing.
    pub async fn run_once(&self, now: OffsetDateTime) -> Result<DigestRunReport, DigestError> {
        let view = self.read_chain(now).await?;
        self.run_from(view, now).await
    }

    /// The first half of a run: the chain as the bucket has it now (its digests and head).
    /// Two writers that read the chain before either writes race exactly here.
    pub async fn read_chain(&self, now: OffsetDateTime) -> Result<ChainView, DigestError> {
        self.signer.maintain(now)?;
        let mut warnings = Vec::new();
        let recent = self.list_digests(Some(self.recent_marker(now))).await?;
        let all;
        let digests = if recent.iter().any(|d| !d.2) {
            &recent
        } else {
            all = self.list_digests(None).await?;
            &all
        };
        let normals: Vec<(String, OffsetDateTime)> = digests
            .iter()
            .filter(|d| !d.2)
            .map(|d| (d.0.clone(), d.1))
            .collect();
        let backfills: Vec<(String, OffsetDateTime)> = digests
            .iter()
            .filter(|d| d.2)
            .map(|d| (d.0.clone(), d.1))
            .collect();

        // Chain head: previous pointer and next window start.
        let mut head: Option<Link> = None;
        let next_start = match normals.last() {
            Some((key, key_end)) => match self.load(key).await {
                Ok(Some(l)) => {
                    let end = l.link.end;
                    head = Some(l.link);
                    Some(end)
                }
                Ok(None) | Err(DigestError::Malformed { .. }) => {
                    warnings.push(format!(
                        "chain head s3://{}/{key} is unreadable or unsigned; starting a new chain",
                        self.cfg.bucket
                    ));
                    Some(*key_end)
                }
                Err(e) => return Err(e),
            },
            None => {
                let found =
                    list_delivered(&self.store, &self.cfg, now - self.cfg.lookback, now).await?;
                found
                    .iter()
                    .map(|d| d.last_modified)
                    .min()
                    .map(|t| t.replace_nanosecond(0).expect("0 is a valid nanosecond"))
            }
        };
        Ok(ChainView {
            normals,
            backfills,
            head,
            next_start,
            warnings,
        })
    }

    /// The second half of a run: writes the windows settled by `now` after `view`'s head,
    /// then backfills late files.
    pub async fn run_from(
        &self,
        view: ChainView,
        now: OffsetDateTime,
    ) -> Result<DigestRunReport, DigestError> {
        let ChainView {
            mut normals,
            backfills,
            mut head,
            next_start,
            warnings,
        } = view;
        let mut report = DigestRunReport {
            warnings,
            ..Default::default()
        };
        let Some(mut next_start) = next_start else {
            return Ok(report);
        };

        // Settled windows.
        let mut windows = Vec::new();
        while next_start + self.interval + self.settle <= now {
            windows.push((next_start, next_start + self.interval));
            next_start += self.interval;
        }
        report.next_window_start = Some(next_start);
        let mut listed_now: Vec<Window> = Vec::new();
        let mut unverified_now: HashSet<String> = HashSet::new();
        if let (Some(first), Some(last)) = (windows.first(), windows.last()) {
            let delivered = list_delivered(&self.store, &self.cfg, first.0, last.1).await?;
            for (ta, tb) in windows {
                let keys: Vec<String> = delivered
                    .iter()
                    .filter(|d| d.last_modified >= ta && d.last_modified < tb)
                    .map(|d| d.key.clone())
                    .collect();
                let (entries, unverified) = self.describe(keys, &mut report).await?;
                unverified_now.extend(unverified);
                let (link, outcome, file) =
                    self.write(ta, tb, entries, head.as_ref(), false).await?;
                match outcome {
                    PutOutcome::Created => {
                        report.log_files += file.log_files.len();
                        report.written.push(link.key.clone());
                    }
                    PutOutcome::AlreadyExists => report.adopted.push(link.key.clone()),
                }
                listed_now.push(Window {
                    key: link.key.clone(),
                    start: ta,
                    previous: file.previous_digest_s3_object.clone(),
                    objects: objects(&file),
                });
                normals.push((link.key.clone(), link.end));
                head = Some(link);
            }
        }
        if let Some(head) = head {
            self.backfill(
                &head,
                &normals,
                &backfills,
                listed_now,
                unverified_now,
                &mut report,
            )
            .await?;
        }
        Ok(report)
    }

    /// `start_after` for listing only recent digests: the digest folder of the first date that
    /// can hold a re-checked window, with two days of margin.
    fn recent_marker(&self, now: OffsetDateTime) -> String {
        let horizon =
            self.interval * self.cfg.backfill_windows.saturating_add(1) + time::Duration::days(2);
        let d = (now - horizon).date();
        format!(
            "{}{:04}/{:02}/{:02}",
            self.cfg.layout().digest_prefix(),
            d.year(),
            d.month() as u8,
            d.day()
        )
    }

    /// This chain's digests: (key, end time, is backfill), sorted by end time.
    async fn list_digests(
        &self,
        start_after: Option<String>,
    ) -> Result<Vec<(String, OffsetDateTime, bool)>, DigestError> {
        let layout = self.cfg.layout();
        let objects = self
            .store
            .list_objects(
                &self.cfg.bucket,
                &layout.digest_prefix(),
                start_after.as_deref(),
            )
            .await?;
        let mut out: Vec<_> = objects
            .into_iter()
            .filter_map(|o| {
                let (end, backfill) = layout.parse_digest_key(&o.key)?;
                Some((o.key, end, backfill))
            })
            .collect();
        out.sort_by_key(|d| (d.1, d.2));
        Ok(out)
    }

    /// Reads a digest back: `Ok(None)` if it is gone, `Malformed` if it is not a parseable,
    /// signed digest.
    async fn load(&self, key: &str) -> Result<Option<Loaded>, DigestError> {
        let bucket = &self.cfg.bucket;
        let Some(gz) = self.store.get(bucket, key).await? else {
            return Ok(None);
        };
        let Some(meta) = self.store.head(bucket, key).await? else {
            return Ok(None);
        };
        let raw = format::gunzip_single(&gz)
            .map_err(|e| DigestError::malformed(bucket, key, format!("{e:?}")))?;
        let file: DigestFile =
            serde_json::from_slice(&raw).map_err(|e| DigestError::malformed(bucket, key, e))?;
        let end = format::parse_time(&file.digest_end_time)
            .ok_or_else(|| DigestError::malformed(bucket, key, "bad digestEndTime"))?;
        let signature_hex = meta
            .get(format::META_SIGNATURE)
            .cloned()
            .ok_or_else(|| DigestError::malformed(bucket, key, "no signature metadata"))?;
        Ok(Some(Loaded {
            link: Link {
                key: key.to_string(),
                end,
                sha256_hex: format::sha256_hex(&raw),
                signature_hex,
            },
            file,
        }))
    }

    /// The digest entries of `keys`, reporting (and counting) what is left out; the keys of
    /// objects left out because their MAC did not verify.
    async fn describe(
        &self,
        keys: Vec<String>,
        report: &mut DigestRunReport,
    ) -> Result<(Vec<LogFileEntry>, Vec<String>), DigestError> {
        let (entries, unverified) = describe_all(
            &self.store,
            &self.cfg.bucket,
            keys,
            &self.mac,
            &mut report.warnings,
        )
        .await?;
        report.unverified_files += unverified.len() as u64;
        Ok((entries, unverified))
    }

    /// Builds, signs and create-only writes one digest; on 412 adopts what is there.
    async fn write(
        &self,
        start: OffsetDateTime,
        end: OffsetDateTime,
        log_files: Vec<LogFileEntry>,
        prev: Option<&Link>,
        backfill: bool,
    ) -> Result<(Link, PutOutcome, DigestFile), DigestError> {
        let bucket = &self.cfg.bucket;
        let key = self.cfg.layout().digest_key(end, backfill);
        let fingerprint = self.signer.fingerprint(end);
        let mut file = DigestFile {
            aws_account_id: self.cfg.account.clone(),
            digest_start_time: format::format_time(start),
            digest_end_time: format::format_time(end),
            digest_s3_bucket: bucket.clone(),
            digest_s3_object: key.clone(),
            digest_public_key_fingerprint: fingerprint.clone(),
            digest_signature_algorithm: format::SIGNATURE_ALGORITHM.into(),
            newest_event_time: None,
            oldest_event_time: None,
            previous_digest_s3_bucket: prev.map(|_| bucket.clone()),
            previous_digest_s3_object: prev.map(|p| p.key.clone()),
            previous_digest_hash_value: prev.map(|p| p.sha256_hex.clone()),
            previous_digest_hash_algorithm: prev.map(|_| format::HASH_ALGORITHM.into()),
            previous_digest_signature: prev.map(|p| p.signature_hex.clone()),
            log_files,
        };
        file.set_event_times_from_files();
        let json = file.to_json();
        let sha256_hex = format::sha256_hex(&json);
        let to_sign = format::string_to_sign(
            &file.digest_end_time,
            bucket,
            &key,
            &sha256_hex,
            file.previous_digest_signature.as_deref(),
        );
        let signature_hex = hex::encode(self.signer.sign(&fingerprint, to_sign.as_bytes()).await?);
        let mut meta = std::collections::HashMap::from([
            (format::META_SIGNATURE.to_string(), signature_hex.clone()),
            (
                format::META_SIGNATURE_ALGORITHM.to_string(),
                format::SIGNATURE_ALGORITHM.to_string(),
            ),
        ]);
        if backfill {
            meta.insert(
                format::META_BACKFILL_GENERATION.to_string(),
                file.digest_end_time.clone(),
            );
        }
        let outcome = self
            .store
            .put_new_sse(
                bucket,
                &key,
                format::gzip(&json).into(),
                meta,
                self.cfg.kms_key_id.as_deref(),
            )
            .await?;
        match outcome {
            PutOutcome::Created => Ok((
                Link {
                    key,
                    end,
                    sha256_hex,
                    signature_hex,
                },
                outcome,
                file,
            )),
            PutOutcome::AlreadyExists => {
                let loaded = self.load(&key).await?.ok_or_else(|| {
                    DigestError::malformed(bucket, &key, "exists (412) but cannot be read")
                })?;
                // Another writer (a replica) wrote this window first: the chain stays single,
                // but only if it saw the same window start and chain head as we did.
                // (Backfill digests only gather late files: whichever replica wrote one, the
                // next backfill continues from it.)
                let theirs = &loaded.file;
                if !backfill
                    && (theirs.digest_start_time != file.digest_start_time
                        || theirs.previous_digest_s3_object != file.previous_digest_s3_object)
                {
                    return Err(DigestError::ChainConflict {
                        key,
                        detail: format!(
                            "its start {} and previous digest {:?} differ from this writer's {} and {:?}",
                            theirs.digest_start_time,
                            theirs.previous_digest_s3_object,
                            file.digest_start_time,
                            file.previous_digest_s3_object
                        ),
                    });
                }
                Ok((loaded.link, outcome, loaded.file))
            }
        }
    }

    /// Lists files delivered in the latest `backfill_windows` digested windows that no digest
    /// lists, and writes them into one backfill digest chained to the previous backfill.
    /// `unverified_now`: objects this run already left out (not reported twice).
    async fn backfill(
        &self,
        head: &Link,
        normals: &[(String, OffsetDateTime)],
        backfills: &[(String, OffsetDateTime)],
        listed_now: Vec<Window>,
        unverified_now: HashSet<String>,
        report: &mut DigestRunReport,
    ) -> Result<(), DigestError> {
        let n = self.cfg.backfill_windows as usize;
        if n == 0 {
            return Ok(());
        }
        let checked = &normals[normals.len().saturating_sub(n)..];
        let mut digested: HashSet<String> = unverified_now;
        let mut oldest_start = head.end;
        // Each re-checked window whose digest could be read: (key, start, end, previous).
        let mut spans: Vec<(&str, OffsetDateTime, OffsetDateTime, Option<String>)> = Vec::new();
        for (key, end) in checked {
            let file = match listed_now.iter().find(|w| &w.key == key) {
                Some(w) => {
                    digested.extend(w.objects.iter().cloned());
                    spans.push((key, w.start, *end, w.previous.clone()));
                    oldest_start = oldest_start.min(w.start);
                    continue;
                }
                None => self.load(key).await.ok().flatten().map(|l| l.file),
            };
            match file
                .as_ref()
                .and_then(|f| Some((f, format::parse_time(&f.digest_start_time)?)))
            {
                Some((file, start)) => {
                    digested.extend(objects(file));
                    spans.push((key, start, *end, file.previous_digest_s3_object.clone()));
                    oldest_start = oldest_start.min(start);
                }
                None => oldest_start = oldest_start.min(*end - self.interval),
            }
        }
        report.off_chain = off_chain(&head.key, &spans);
        for (key, end) in backfills {
            if *end >= oldest_start {
                if let Some(l) = self.load(key).await.ok().flatten() {
                    digested.extend(objects(&l.file));
                }
            }
        }
        let late: Vec<String> = list_delivered(&self.store, &self.cfg, oldest_start, head.end)
            .await?
            .into_iter()
            .map(|d| d.key)
            .filter(|k| !digested.contains(k))
            .collect();
        if late.is_empty() {
            return Ok(());
        }
        // The newest backfill may predate the recent listing: then list everything.
        let all_backfills;
        let backfills = if backfills.is_empty() {
            all_backfills = self
                .list_digests(None)
                .await?
                .into_iter()
                .filter(|d| d.2)
                .map(|d| (d.0, d.1))
                .collect::<Vec<_>>();
            &all_backfills
        } else {
            backfills
        };
        let prev = match backfills.last() {
            Some((_, end)) if *end >= head.end => {
                report.warnings.push(format!(
                    "{} late file(s) wait for the next window: a backfill digest for {} exists",
                    late.len(),
                    format::format_time(head.end)
                ));
                return Ok(());
            }
            Some((key, _)) => self.load(key).await?.map(|l| l.link),
            None => None,
        };
        let start = prev.as_ref().map_or(oldest_start, |p| p.end);
        let (entries, _) = self.describe(late, report).await?;
        if entries.is_empty() {
            return Ok(());
        }
        let (link, outcome, file) = self
            .write(start, head.end, entries, prev.as_ref(), true)
            .await?;
        if outcome == PutOutcome::Created {
            report.log_files += file.log_files.len();
            report.backfills.push(link.key);
        }
        Ok(())
    }
}

/// A window digested by this run, as the backfill re-check needs it.
struct Window {
    key: String,
    start: OffsetDateTime,
    previous: Option<String>,
    objects: Vec<String>,
}

/// The digests of `spans` (key, start, end, previous) that the chain from `head` does not
/// reach although they end after the oldest start it reaches: another writer's windows. Older
/// digests before a restarted chain (an unreadable head) are not counted.
fn off_chain(
    head: &str,
    spans: &[(&str, OffsetDateTime, OffsetDateTime, Option<String>)],
) -> Vec<String> {
    let mut on = HashSet::new();
    let mut oldest = None;
    let mut at = Some(head);
    while let Some(key) = at {
        let Some((_, start, _, prev)) = spans.iter().find(|s| s.0 == key) else {
            break;
        };
        if !on.insert(key) {
            break;
        }
        oldest = Some(*start);
        at = prev.as_deref();
    }
    let Some(oldest) = oldest else {
        return Vec::new();
    };
    spans
        .iter()
        .filter(|(key, _, end, _)| !on.contains(key) && *end > oldest)
        .map(|(key, ..)| key.to_string())
        .collect()
}

fn objects(file: &DigestFile) -> Vec<String> {
    file.log_files.iter().map(|f| f.s3_object.clone()).collect()
}
