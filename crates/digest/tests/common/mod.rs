//! Shared helpers: a local-directory store in a temp dir, log files delivered at chosen
//! `LastModified` times (file mtime), and tampering with objects and their metadata.
#![allow(dead_code)]

use std::{collections::HashMap, path::PathBuf, sync::Arc, time::Duration};

use time::OffsetDateTime;
use trailpipe_digest::{
    format::{self, KeyLayout},
    validate::{self, ValidateRequest, ValidationReport},
    DigestChainConfig, DigestSigner, StaticKey,
};
use trailpipe_store::{PutOutcome, Store};

pub const BUCKET: &str = "audit-logs";
pub const ACCOUNT: &str = "111122223333";
pub const REGION: &str = "us-east-2";
pub const TRAIL: &str = "management";
pub const HOME: &str = "us-east-1";

pub fn t(s: &str) -> OffsetDateTime {
    format::parse_time(s).expect("test time")
}

pub fn secs(n: i64) -> time::Duration {
    time::Duration::seconds(n)
}

/// A chain with 10 s windows, 2 s settle, 4 windows re-checked for late files.
pub fn chain(prefix: Option<&str>) -> DigestChainConfig {
    let mut c = DigestChainConfig::new(BUCKET, ACCOUNT, REGION, TRAIL, HOME);
    c.prefix = prefix.map(String::from);
    c.interval = Duration::from_secs(10);
    c.settle = Duration::from_secs(2);
    c.lookback = Duration::from_secs(86_400);
    c.backfill_windows = 4;
    c
}

/// The file MAC key the tests' daemon holds.
pub fn file_mac() -> Arc<trailpipe_logfile::FileMac> {
    Arc::new(trailpipe_logfile::FileMac::new(&[42; 32]).expect("key"))
}

pub fn signer() -> (Arc<dyn DigestSigner>, Vec<trailpipe_digest::PublicKeyInfo>) {
    let k =
        StaticKey::generate(t("2020-01-01T00:00:00Z"), t("2030-01-01T00:00:00Z")).expect("keygen");
    let public = vec![k.public_key()];
    (k.into_signer(), public)
}

pub struct Bucket {
    pub dir: tempfile::TempDir,
    pub store: Store,
}

impl Bucket {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::local(dir.path().to_path_buf());
        Self { dir, store }
    }

    pub fn object_path(&self, key: &str) -> PathBuf {
        self.dir.path().join(BUCKET).join(key)
    }

    pub fn meta_path(&self, key: &str) -> PathBuf {
        self.dir
            .path()
            .join(".trailpipe-meta")
            .join(BUCKET)
            .join(format!("{key}.json"))
    }

    /// Delivers a log file whose folder/name time is `file_time` and whose `LastModified` is
    /// `delivered`, with the delivery metadata signed by [`file_mac`] (or, as someone else
    /// would write it, without). Returns its key and body hash.
    pub async fn deliver(
        &self,
        prefix: Option<&str>,
        file_time: OffsetDateTime,
        delivered: OffsetDateTime,
        n: u32,
        with_metadata: bool,
    ) -> (String, String) {
        let unique = trailpipe_logfile::unique_string(TRAIL, "topic", 0, i64::from(n));
        let key = trailpipe_logfile::log_file_key(&trailpipe_logfile::KeyParts {
            prefix,
            organization_id: None,
            account_id: ACCOUNT,
            region: REGION,
            timestamp: file_time.unix_timestamp(),
            unique: &unique,
        });
        let oldest = file_time - secs(30);
        let newest = file_time;
        let body = format!(
            r#"{{"Records":[{{"eventVersion":"1.08","eventTime":"{}","eventID":"{n}-a"}},{{"eventTime":"{}","eventID":"{n}-b"}}]}}"#,
            format::format_time(newest),
            format::format_time(oldest)
        );
        let hash = format::sha256_hex(body.as_bytes());
        let meta = if with_metadata {
            let (oldest, newest) = (format::format_time(oldest), format::format_time(newest));
            let mac = file_mac().sign(&trailpipe_logfile::MacInput {
                bucket: BUCKET,
                key: &key,
                sha256_hex: &hash,
                oldest: &oldest,
                newest: &newest,
            });
            HashMap::from([
                (trailpipe_store::meta::SHA256.to_string(), hash.clone()),
                (trailpipe_store::meta::OLDEST.to_string(), oldest),
                (trailpipe_store::meta::NEWEST.to_string(), newest),
                (trailpipe_store::meta::MAC.to_string(), mac),
            ])
        } else {
            HashMap::new()
        };
        let outcome = self
            .store
            .put_new(BUCKET, &key, format::gzip(body.as_bytes()).into(), meta)
            .await
            .expect("put");
        assert_eq!(outcome, PutOutcome::Created);
        self.set_mtime(&key, delivered);
        (key, hash)
    }

    pub fn set_mtime(&self, key: &str, t: OffsetDateTime) {
        let f = std::fs::File::options()
            .write(true)
            .open(self.object_path(key))
            .expect("open object");
        f.set_modified(t.into()).expect("set mtime");
    }

    pub fn digest(&self, key: &str) -> format::DigestFile {
        let gz = std::fs::read(self.object_path(key)).expect("read digest");
        serde_json::from_slice(&format::gunzip_single(&gz).expect("gunzip")).expect("json")
    }

    pub fn metadata(&self, key: &str) -> HashMap<String, String> {
        serde_json::from_slice(&std::fs::read(self.meta_path(key)).expect("meta")).expect("json")
    }

    pub fn set_metadata(&self, key: &str, meta: &HashMap<String, String>) {
        std::fs::write(self.meta_path(key), serde_json::to_vec(meta).expect("json"))
            .expect("write");
    }

    /// Overwrites an object's bytes in place (keeps metadata and mtime semantics irrelevant).
    pub fn overwrite(&self, key: &str, bytes: &[u8]) {
        std::fs::write(self.object_path(key), bytes).expect("overwrite");
    }

    pub fn delete(&self, key: &str) {
        std::fs::remove_file(self.object_path(key)).expect("delete");
    }
}

pub fn layout(prefix: Option<&str>) -> KeyLayout<'_> {
    KeyLayout {
        prefix,
        organization_id: None,
        account_id: ACCOUNT,
        source_region: REGION,
        trail_name: TRAIL,
        home_region: HOME,
    }
}

pub fn request(
    prefix: Option<&str>,
    start: OffsetDateTime,
    end: OffsetDateTime,
) -> ValidateRequest {
    ValidateRequest {
        bucket: BUCKET.into(),
        prefix: prefix.map(String::from),
        organization_id: None,
        account: ACCOUNT.into(),
        source_region: REGION.into(),
        trail_name: TRAIL.into(),
        home_region: HOME.into(),
        trail_arn: format!("arn:aws:cloudtrail:{HOME}:{ACCOUNT}:trail/{TRAIL}"),
        start,
        end,
        concurrency: 32,
    }
}

pub async fn validate_all(
    b: &Bucket,
    prefix: Option<&str>,
    keys: &[trailpipe_digest::PublicKeyInfo],
    start: OffsetDateTime,
    end: OffsetDateTime,
) -> ValidationReport {
    validate::validate(&b.store, &request(prefix, start, end), keys, &|_| {})
        .await
        .expect("validation runs")
}
