//! What identifies a digest chain — one per (trail, account, source region) — and how to find
//! the chains a bucket already holds log files for, so a restarted daemon resumes all of them.

use std::time::Duration;

use trailpipe_store::Store;

use crate::{format::KeyLayout, DigestError};

/// One digest chain and its timing.
#[derive(Debug, Clone)]
pub struct DigestChainConfig {
    /// Bucket holding the trail's log files and digests.
    pub bucket: String,
    /// The trail's `s3_key_prefix` (no trailing `/`).
    pub prefix: Option<String>,
    /// `o-...` for organization trails (keys gain `<o-id>/` before the account).
    pub organization_id: Option<String>,
    /// Account whose log files the chain covers.
    pub account: String,
    /// Region whose log files the chain covers.
    pub source_region: String,
    /// Trail name (in digest file names).
    pub trail_name: String,
    /// Region the trail was created in (in digest file names).
    pub home_region: String,
    /// Window length (`digest_interval_secs`; CloudTrail: 3600 s).
    pub interval: Duration,
    /// A window is digested only once `now >= end + settle`, so in-flight PUTs have landed.
    pub settle: Duration,
    /// How far back (folder date) a file delivered in a window may be filed: a file's folder
    /// is its *record* time, so a late record lands in an older folder. Files filed more than
    /// `lookback` before the window start are not found (documented limit).
    pub lookback: Duration,
    /// How far after its delivery a file may be dated (the batcher's
    /// `file_time::MAX_FUTURE_SECS`): the date folder of `end + lookahead` is listed too.
    pub lookahead: Duration,
    /// How many of the latest digested windows are re-listed on each run to catch late PUTs
    /// (they go into a backfill digest). Late files of older windows are not digested.
    pub backfill_windows: u32,
    /// SSE-KMS key for the digest files (as for the trail's log files); SSE-S3 without.
    pub kms_key_id: Option<String>,
}

impl DigestChainConfig {
    /// A chain with CloudTrail-like timing: 1 h windows, 120 s settle, 7 days lookback,
    /// 24 windows re-checked for late files.
    pub fn new(
        bucket: impl Into<String>,
        account: impl Into<String>,
        source_region: impl Into<String>,
        trail_name: impl Into<String>,
        home_region: impl Into<String>,
    ) -> Self {
        Self {
            bucket: bucket.into(),
            prefix: None,
            organization_id: None,
            account: account.into(),
            source_region: source_region.into(),
            trail_name: trail_name.into(),
            home_region: home_region.into(),
            interval: Duration::from_secs(3600),
            settle: Duration::from_secs(120),
            lookback: Duration::from_secs(7 * 86_400),
            lookahead: Duration::from_secs(15 * 60),
            backfill_windows: 24,
            kms_key_id: None,
        }
    }

    /// The chain's key layout.
    pub fn layout(&self) -> KeyLayout<'_> {
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

/// An (account, source region) pair that has log files under a trail's prefix.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ChainId {
    /// Account id.
    pub account: String,
    /// Source region.
    pub region: String,
}

/// Lists `[prefix/]AWSLogs/[org/]<acct>/CloudTrail/<region>/` folders: every chain that has
/// log files (folder listings only, no object listing).
pub async fn discover_chains(
    store: &Store,
    bucket: &str,
    prefix: Option<&str>,
    organization_id: Option<&str>,
) -> Result<Vec<ChainId>, DigestError> {
    let mut root = String::new();
    if let Some(p) = prefix.filter(|p| !p.is_empty()) {
        root.push_str(p);
        root.push('/');
    }
    root.push_str("AWSLogs/");
    if let Some(o) = organization_id.filter(|o| !o.is_empty()) {
        root.push_str(o);
        root.push('/');
    }
    let mut chains = Vec::new();
    for account_dir in store.list_folders(bucket, &root).await? {
        let account = account_dir[root.len()..].trim_end_matches('/');
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let logs = format!("{account_dir}CloudTrail/");
        for region_dir in store.list_folders(bucket, &logs).await? {
            let region = region_dir[logs.len()..].trim_end_matches('/');
            if !region.is_empty() {
                chains.push(ChainId {
                    account: account.to_string(),
                    region: region.to_string(),
                });
            }
        }
    }
    chains.sort();
    Ok(chains)
}
