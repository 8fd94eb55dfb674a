//! The digester and validator against a real local-directory store.

mod common;

use common::*;
use trailpipe_digest::{
    format,
    validate::{render, DigestStatus, LogStatus, ValidationEvent},
    Digester,
};

const T0: &str = "2026-03-01T10:00:00Z";

/// Three windows (the second empty) from files delivered at T0+1, T0+3, T0+25.
async fn three_windows(b: &Bucket, prefix: Option<&str>) -> (Vec<String>, Vec<String>) {
    let t0 = t(T0);
    let (f1, _) = b.deliver(prefix, t0, t0 + secs(1), 1, true).await;
    let (f2, _) = b.deliver(prefix, t0, t0 + secs(3), 2, true).await;
    let (f3, _) = b
        .deliver(prefix, t0 + secs(20), t0 + secs(25), 3, true)
        .await;
    (vec![f1, f2, f3], Vec::new())
}

#[tokio::test]
async fn chain_across_three_windows_with_an_empty_one_validates() {
    let b = Bucket::new();
    let (signer, keys) = signer();
    let prefix = Some("prod");
    let (files, _) = three_windows(&b, prefix).await;
    let d = Digester::new(chain(prefix), b.store.clone(), signer, file_mac());
    let t0 = t(T0);
    let r = d.run_once(t0 + secs(40)).await.expect("run");
    assert_eq!(r.written.len(), 3, "{r:?}");
    assert_eq!(r.log_files, 3);
    assert_eq!(r.next_window_start, Some(t0 + secs(31)));
    let l = layout(prefix);
    assert_eq!(r.written[0], l.digest_key(t0 + secs(11), false));

    let d1 = b.digest(&r.written[0]);
    assert_eq!(d1.digest_start_time, "2026-03-01T10:00:01Z");
    assert_eq!(d1.digest_end_time, "2026-03-01T10:00:11Z");
    assert_eq!(d1.previous_digest_signature, None);
    assert_eq!(d1.previous_digest_s3_object, None);
    let listed: Vec<&str> = d1.log_files.iter().map(|f| f.s3_object.as_str()).collect();
    let mut expected = vec![files[0].as_str(), files[1].as_str()];
    expected.sort_unstable();
    assert_eq!(listed, expected);
    for f in &d1.log_files {
        assert_eq!(f.oldest_event_time.as_deref(), Some("2026-03-01T09:59:30Z"));
        assert_eq!(f.newest_event_time.as_deref(), Some("2026-03-01T10:00:00Z"));
    }
    assert_eq!(
        d1.oldest_event_time.as_deref(),
        Some("2026-03-01T09:59:30Z")
    );

    let d2 = b.digest(&r.written[1]);
    assert!(d2.log_files.is_empty());
    assert_eq!(d2.newest_event_time, None);
    assert_eq!(d2.digest_start_time, d1.digest_end_time);
    assert_eq!(
        d2.previous_digest_s3_object.as_deref(),
        Some(r.written[0].as_str())
    );
    assert_eq!(
        d2.previous_digest_signature.as_deref(),
        Some(b.metadata(&r.written[0])["signature"].as_str())
    );
    let raw1 = format::gunzip_single(&std::fs::read(b.object_path(&r.written[0])).expect("read"))
        .expect("gunzip");
    assert_eq!(
        d2.previous_digest_hash_value.as_deref(),
        Some(format::sha256_hex(&raw1).as_str())
    );
    let d3 = b.digest(&r.written[2]);
    assert_eq!(d3.log_files.len(), 1);
    assert_eq!(d3.log_files[0].s3_object, files[2]);
    assert_eq!(
        b.metadata(&r.written[2])["signature-algorithm"],
        "SHA256withRSA"
    );
    assert_eq!(b.metadata(&r.written[2])["signature"].len(), 512);

    // Idempotent.
    let again = d.run_once(t0 + secs(40)).await.expect("run");
    assert!(
        again.written.is_empty() && again.backfills.is_empty(),
        "{again:?}"
    );

    let report = validate_all(&b, prefix, &keys, t0, t0 + secs(40)).await;
    let s = &report.summary;
    assert_eq!((s.valid_digests, s.invalid_digests), (3, 0));
    assert_eq!((s.valid_logs, s.invalid_logs), (3, 0));
    assert_eq!(s.gaps, 0);
    assert_eq!(s.exit_code(), 0);
    let text = render(&report, true);
    assert!(
        text.stdout.contains("3/3 digest files valid"),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains("3/3 log files valid"));
    assert!(text.stdout.contains(&format!(
        "Digest file\ts3://{BUCKET}/{}\tvalid",
        r.written[0]
    )));
    assert!(text.stderr.is_empty(), "{}", text.stderr);
}

#[tokio::test]
async fn no_log_file_means_no_chain_yet() {
    let b = Bucket::new();
    let (signer, _) = signer();
    let d = Digester::new(chain(None), b.store.clone(), signer, file_mac());
    let r = d.run_once(t(T0)).await.expect("run");
    assert!(r.written.is_empty());
    assert_eq!(r.next_window_start, None);
}

#[tokio::test]
async fn file_delivered_before_a_crash_is_listed_by_a_restarted_digester() {
    let b = Bucket::new();
    let (signer, keys) = signer();
    three_windows(&b, None).await;
    let t0 = t(T0);
    let first = Digester::new(chain(None), b.store.clone(), signer.clone(), file_mac());
    let r = first.run_once(t0 + secs(40)).await.expect("run");
    assert_eq!(r.written.len(), 3);
    // Delivered, then the daemon dies before the window's digest; a fresh digester (nothing
    // but the bucket) picks the chain up.
    drop(first);
    let (f4, _) = b.deliver(None, t0 + secs(34), t0 + secs(35), 4, true).await;
    let restarted = Digester::new(chain(None), b.store.clone(), signer, file_mac());
    let r2 = restarted.run_once(t0 + secs(45)).await.expect("run");
    assert_eq!(r2.written.len(), 1, "{r2:?}");
    let d4 = b.digest(&r2.written[0]);
    assert_eq!(d4.log_files.len(), 1);
    assert_eq!(d4.log_files[0].s3_object, f4);
    assert_eq!(
        d4.previous_digest_s3_object.as_deref(),
        Some(r.written[2].as_str())
    );
    let report = validate_all(&b, None, &keys, t0, t0 + secs(45)).await;
    assert_eq!(report.summary.valid_digests, 4);
    assert_eq!(report.summary.valid_logs, 4);
    assert_eq!(report.summary.exit_code(), 0);
}

#[tokio::test]
async fn a_daemon_down_for_many_windows_writes_one_digest_per_window() {
    let b = Bucket::new();
    let (signer, keys) = signer();
    let t0 = t(T0);
    b.deliver(None, t0, t0 + secs(1), 1, true).await;
    b.deliver(None, t0, t0 + secs(95), 2, true).await;
    let d = Digester::new(chain(None), b.store.clone(), signer, file_mac());
    let r = d.run_once(t0 + secs(103)).await.expect("run");
    // Windows [1,11) .. [91,101): ten digests, 8 of them empty.
    assert_eq!(r.written.len(), 10);
    assert_eq!(r.log_files, 2);
    let report = validate_all(&b, None, &keys, t0, t0 + secs(103)).await;
    assert_eq!(
        (report.summary.valid_digests, report.summary.valid_logs),
        (10, 2)
    );
}

#[tokio::test]
async fn racing_digesters_write_one_chain() {
    let b = Bucket::new();
    let (signer, keys) = signer();
    three_windows(&b, None).await;
    let t0 = t(T0);
    let a = Digester::new(chain(None), b.store.clone(), signer.clone(), file_mac());
    let c = Digester::new(chain(None), b.store.clone(), signer, file_mac());
    let (ra, rc) = tokio::join!(a.run_once(t0 + secs(40)), c.run_once(t0 + secs(40)));
    let (ra, rc) = (ra.expect("a"), rc.expect("c"));
    assert_eq!(ra.written.len() + ra.adopted.len(), 3);
    assert_eq!(rc.written.len() + rc.adopted.len(), 3);
    assert_eq!(ra.written.len() + rc.written.len(), 3, "{ra:?} {rc:?}");
    let report = validate_all(&b, None, &keys, t0, t0 + secs(40)).await;
    assert_eq!(
        (report.summary.valid_digests, report.summary.invalid_digests),
        (3, 0)
    );
    assert_eq!(report.summary.valid_logs, 3);
}

/// Two writers of one chain configured with different intervals read the chain before either
/// wrote (the race of two replicas). Their windows have different keys, so both are written;
/// the next run of either catches it: the digests the newest chain does not reach are
/// reported, and nothing more is forked. Validation follows the newest chain and passes.
/// (The fuller check, two daemons in one group with different intervals validated by the real
/// `aws cloudtrail validate-logs`, is in the workspace's `tests/replicas.rs`.)
#[tokio::test]
async fn writers_with_different_intervals_are_caught_and_the_chain_still_validates() {
    let b = Bucket::new();
    let (signer, keys) = signer();
    three_windows(&b, None).await;
    let (t0, now) = (t(T0), t(T0) + secs(34));
    // Every window is re-checked here (a daemon re-checks each within its next runs).
    let mut ten = chain(None);
    ten.backfill_windows = 10;
    let mut seven = ten.clone();
    seven.interval = std::time::Duration::from_secs(7);
    let a = Digester::new(ten, b.store.clone(), signer.clone(), file_mac());
    let c = Digester::new(seven, b.store.clone(), signer, file_mac());
    let (va, vc) = (
        a.read_chain(now).await.expect("a reads"),
        c.read_chain(now).await.expect("c reads"),
    );
    let ra = a.run_from(va, now).await.expect("a");
    assert_eq!(ra.written.len(), 3, "windows ending T0+11, 21, 31");
    let rc = c.run_from(vc, now).await.expect("c");
    assert_eq!(rc.written.len(), 4, "windows ending T0+8, 15, 22, 29");

    // a's next run continues from the newest head (its own T0+31) and names c's four.
    let again = a.run_once(now).await.expect("a again");
    assert!(again.written.is_empty(), "{again:?}");
    let mut off = again.off_chain.clone();
    off.sort();
    let mut expected = rc.written.clone();
    expected.sort();
    assert_eq!(off, expected);
    // So does c's: the chain it follows is the newest one, whoever wrote it.
    let again = c.run_once(now).await.expect("c again");
    assert!(again.written.is_empty(), "{again:?}");
    assert_eq!(again.off_chain.len(), 4);
    // One more window, written by c from a's head: the chain goes on, unforked.
    let later = c.run_once(now + secs(7)).await.expect("c later");
    assert_eq!(later.written.len(), 1);
    assert_eq!(
        b.digest(&later.written[0]).previous_digest_s3_object,
        Some(ra.written[2].clone())
    );

    let report = validate_all(&b, None, &keys, t0, now + secs(7)).await;
    // The newest chain validates back to its start; the other writer's digests before it read
    // as one gap (awscli reports it and exits 0), their own chain valid too.
    let sum = &report.summary;
    assert_eq!(
        (sum.invalid_digests, sum.invalid_logs, sum.gaps),
        (0, 0, 1),
        "{sum:?}"
    );
    assert_eq!(
        sum.valid_digests, 5,
        "the chain's four and the other's T0+8"
    );
}

/// A 412 on a window whose digest another writer made from a different start or previous
/// digest is a chain conflict: nothing is written over it and the run stops there.
#[tokio::test]
async fn a_window_written_from_another_chain_view_is_a_conflict() {
    let b = Bucket::new();
    let (signer, _) = signer();
    three_windows(&b, None).await;
    let now = t(T0) + secs(24);
    let mut twenty = chain(None);
    twenty.interval = std::time::Duration::from_secs(20);
    let a = Digester::new(chain(None), b.store.clone(), signer.clone(), file_mac());
    let c = Digester::new(twenty, b.store.clone(), signer, file_mac());
    let (va, vc) = (
        a.read_chain(now).await.expect("a reads"),
        c.read_chain(now).await.expect("c reads"),
    );
    // c writes [T0+1, T0+21); a writes [T0+1, T0+11), then meets c's T0+21 with another start.
    let rc = c.run_from(vc, now).await.expect("c");
    assert_eq!(rc.written.len(), 1);
    let before = (
        std::fs::read(b.object_path(&rc.written[0])).expect("c's digest"),
        b.metadata(&rc.written[0]),
    );
    match a.run_from(va, now).await {
        Err(trailpipe_digest::DigestError::ChainConflict { key, detail }) => {
            assert_eq!(key, rc.written[0]);
            assert!(detail.contains("differ"), "{detail}");
        }
        other => panic!("expected a chain conflict, got {other:?}"),
    }
    let after = (
        std::fs::read(b.object_path(&rc.written[0])).expect("c's digest"),
        b.metadata(&rc.written[0]),
    );
    assert!(before == after, "nothing written over it");
}

#[tokio::test]
async fn late_files_go_into_chained_backfill_digests() {
    let b = Bucket::new();
    let (signer, keys) = signer();
    three_windows(&b, None).await;
    let t0 = t(T0);
    let d = Digester::new(chain(None), b.store.clone(), signer, file_mac());
    let r = d.run_once(t0 + secs(40)).await.expect("run");
    assert_eq!(r.written.len(), 3);
    // A PUT that started in window 1 but became visible after its digest.
    let (late1, _) = b.deliver(None, t0, t0 + secs(5), 10, true).await;
    let r = d.run_once(t0 + secs(41)).await.expect("run");
    assert!(r.written.is_empty());
    assert_eq!(r.backfills.len(), 1, "{r:?}");
    let bkey = r.backfills[0].clone();
    assert_eq!(bkey, layout(None).digest_key(t0 + secs(31), true));
    let bf = b.digest(&bkey);
    assert_eq!(bf.log_files.len(), 1);
    assert_eq!(bf.log_files[0].s3_object, late1);
    assert_eq!(bf.previous_digest_s3_object, None);
    assert_eq!(
        b.metadata(&bkey)["backfill-generation-timestamp"],
        "2026-03-01T10:00:31Z"
    );
    // Replays do not duplicate it.
    let r = d.run_once(t0 + secs(42)).await.expect("run");
    assert!(r.backfills.is_empty() && r.warnings.is_empty(), "{r:?}");
    // Another late file while the head has not moved: postponed, then backfilled after the
    // next window, chained to the first backfill.
    let (late2, _) = b
        .deliver(None, t0 + secs(20), t0 + secs(22), 11, true)
        .await;
    let r = d.run_once(t0 + secs(42)).await.expect("run");
    assert!(r.backfills.is_empty() && r.written.is_empty());
    assert_eq!(r.warnings.len(), 1, "{r:?}");
    let r = d.run_once(t0 + secs(53)).await.expect("run");
    assert_eq!(r.written.len(), 2);
    assert_eq!(r.backfills.len(), 1, "{r:?}");
    let bf2 = b.digest(&r.backfills[0]);
    assert_eq!(bf2.log_files[0].s3_object, late2);
    assert_eq!(
        bf2.previous_digest_s3_object.as_deref(),
        Some(bkey.as_str())
    );
    assert_eq!(bf2.digest_start_time, bf.digest_end_time);

    let report = validate_all(&b, None, &keys, t0, t0 + secs(53)).await;
    let s = &report.summary;
    assert_eq!((s.valid_digests, s.invalid_digests), (5, 0));
    assert_eq!(
        (s.valid_backfill_digests, s.invalid_backfill_digests),
        (2, 0)
    );
    assert_eq!((s.valid_logs, s.invalid_logs), (5, 0));
    assert_eq!(s.gaps, 0);
    let text = render(&report, true);
    assert!(
        text.stdout.contains("2/2 backfill digest files valid"),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains("(backfill) Digest file\t"));
}

/// A fresh three-window chain for one tamper case.
async fn tamper_setup() -> (
    Bucket,
    Vec<trailpipe_digest::PublicKeyInfo>,
    Vec<String>,
    Vec<String>,
) {
    let b = Bucket::new();
    let (signer, keys) = signer();
    let (files, _) = three_windows(&b, None).await;
    let d = Digester::new(chain(None), b.store.clone(), signer, file_mac());
    let r = d.run_once(t(T0) + secs(40)).await.expect("run");
    assert_eq!(r.written.len(), 3);
    (b, keys, files, r.written)
}

async fn check(
    b: &Bucket,
    keys: &[trailpipe_digest::PublicKeyInfo],
) -> trailpipe_digest::validate::ValidationReport {
    validate_all(b, None, keys, t(T0), t(T0) + secs(40)).await
}

fn log_status(r: &trailpipe_digest::validate::ValidationReport, key: &str) -> Option<LogStatus> {
    r.events.iter().find_map(|e| match e {
        ValidationEvent::LogFile { key: k, status, .. } if k == key => Some(*status),
        _ => None,
    })
}

fn digest_status(
    r: &trailpipe_digest::validate::ValidationReport,
    key: &str,
) -> Option<DigestStatus> {
    r.events.iter().find_map(|e| match e {
        ValidationEvent::Digest { key: k, status, .. } if k == key => Some(status.clone()),
        _ => None,
    })
}

#[tokio::test]
async fn tampered_log_file_is_caught() {
    let (b, keys, files, _) = tamper_setup().await;
    b.overwrite(&files[2], &format::gzip(br#"{"Records":[]}"#));
    let r = check(&b, &keys).await;
    assert_eq!(log_status(&r, &files[2]), Some(LogStatus::HashMismatch));
    assert_eq!((r.summary.valid_logs, r.summary.invalid_logs), (2, 1));
    assert_eq!(r.summary.exit_code(), 1);
    let text = render(&r, false);
    assert!(text.stderr.contains(&format!(
        "Log file\ts3://{BUCKET}/{}\tINVALID: hash value doesn't match",
        files[2]
    )));
    assert!(
        text.stdout
            .contains("2/3 log files valid, 1/3 log files INVALID"),
        "{}",
        text.stdout
    );
}

#[tokio::test]
async fn deleted_log_file_is_caught() {
    let (b, keys, files, _) = tamper_setup().await;
    b.delete(&files[0]);
    let r = check(&b, &keys).await;
    assert_eq!(log_status(&r, &files[0]), Some(LogStatus::NotFound));
    assert_eq!(r.summary.invalid_logs, 1);
}

#[tokio::test]
async fn appended_gzip_member_is_caught() {
    let (b, keys, files, _) = tamper_setup().await;
    let mut bytes = std::fs::read(b.object_path(&files[1])).expect("read");
    bytes.extend_from_slice(&format::gzip(b"more"));
    b.overwrite(&files[1], &bytes);
    let r = check(&b, &keys).await;
    assert_eq!(log_status(&r, &files[1]), Some(LogStatus::TrailingData));
}

#[tokio::test]
async fn modified_digest_is_caught() {
    let (b, keys, _, digests) = tamper_setup().await;
    let mut d = b.digest(&digests[1]);
    d.log_files.clear();
    d.digest_start_time = "2026-03-01T10:00:12Z".into();
    b.overwrite(&digests[1], &format::gzip(&d.to_json()));
    let r = check(&b, &keys).await;
    assert_eq!(
        digest_status(&r, &digests[1]),
        Some(DigestStatus::SignatureFailed)
    );
    assert_eq!((r.summary.valid_digests, r.summary.invalid_digests), (2, 1));
    assert_eq!(r.summary.exit_code(), 1);
    assert!(render(&r, false)
        .stderr
        .contains("INVALID: signature verification failed"));
}

#[tokio::test]
async fn deleted_digest_is_caught_and_the_older_chain_still_validates() {
    let (b, keys, _, digests) = tamper_setup().await;
    b.delete(&digests[1]);
    let r = check(&b, &keys).await;
    assert_eq!(digest_status(&r, &digests[1]), Some(DigestStatus::NotFound));
    assert_eq!(digest_status(&r, &digests[0]), Some(DigestStatus::Valid));
    assert_eq!((r.summary.valid_digests, r.summary.invalid_digests), (2, 1));
    assert!(render(&r, false).stderr.contains("\tINVALID: not found"));
}

#[tokio::test]
async fn altered_or_missing_signature_is_caught() {
    let (b, keys, _, digests) = tamper_setup().await;
    let mut meta = b.metadata(&digests[2]);
    let sig = meta["signature"].clone();
    let flipped = if sig.starts_with('0') { "1" } else { "0" };
    meta.insert("signature".into(), format!("{flipped}{}", &sig[1..]));
    b.set_metadata(&digests[2], &meta);
    let mut meta0 = b.metadata(&digests[0]);
    meta0.remove("signature");
    b.set_metadata(&digests[0], &meta0);
    let r = check(&b, &keys).await;
    assert_eq!(
        digest_status(&r, &digests[2]),
        Some(DigestStatus::SignatureFailed)
    );
    assert_eq!(
        digest_status(&r, &digests[0]),
        Some(DigestStatus::SignatureFailed)
    );
    assert_eq!(r.summary.invalid_digests, 2);
}

#[tokio::test]
async fn digest_signed_by_an_unknown_key_is_caught() {
    let (b, _, _, digests) = tamper_setup().await;
    let (_, other_keys) = signer();
    let r = check(&b, &other_keys).await;
    assert!(matches!(
        digest_status(&r, &digests[2]),
        Some(DigestStatus::PublicKeyNotFound { .. })
    ));
    assert_eq!(r.summary.valid_digests, 0);
    assert!(render(&r, false)
        .stdout
        .contains("No valid digests found in range"));
}

#[tokio::test]
async fn discover_chains_finds_accounts_and_regions() {
    let b = Bucket::new();
    three_windows(&b, Some("prod")).await;
    let chains = trailpipe_digest::discover_chains(&b.store, BUCKET, Some("prod"), None)
        .await
        .expect("discover");
    assert_eq!(
        chains,
        vec![trailpipe_digest::ChainId {
            account: ACCOUNT.into(),
            region: REGION.into()
        }]
    );
    assert!(
        trailpipe_digest::discover_chains(&b.store, BUCKET, None, None)
            .await
            .expect("discover")
            .is_empty()
    );
}

/// Only files trailpipe wrote are certified: an object under the log-file pattern without
/// metadata, with metadata copied from a real file, with a made-up MAC, or signed with another
/// replica's key is left out (and reported); the real files around them are listed.
#[tokio::test]
async fn objects_without_a_valid_mac_are_never_listed() {
    let b = Bucket::new();
    let (signer, _) = signer();
    let t0 = t(T0);
    let (real, _) = b.deliver(None, t0, t0 + secs(1), 1, true).await;
    let (bare, _) = b.deliver(None, t0, t0 + secs(2), 2, false).await;
    // Real metadata (MAC included) copied onto a forged object.
    let (copied, _) = b.deliver(None, t0, t0 + secs(3), 3, false).await;
    b.set_metadata(&copied, &b.metadata(&real));
    // A made-up MAC under this daemon's key id.
    let (made_up, _) = b.deliver(None, t0, t0 + secs(4), 4, true).await;
    let mut meta = b.metadata(&made_up);
    let id = file_mac().id().to_string();
    meta.insert(
        trailpipe_store::meta::MAC.into(),
        format!("v1:{id}:{}", "0".repeat(64)),
    );
    b.set_metadata(&made_up, &meta);
    // Signed with another key (another replica's, say).
    let (other, hash) = b.deliver(None, t0, t0 + secs(5), 5, true).await;
    let mut meta = b.metadata(&other);
    let other_key = trailpipe_logfile::FileMac::new(&[7; 32]).expect("key");
    meta.insert(
        trailpipe_store::meta::MAC.into(),
        other_key.sign(&trailpipe_logfile::MacInput {
            bucket: BUCKET,
            key: &other,
            sha256_hex: &hash,
            oldest: &meta[trailpipe_store::meta::OLDEST],
            newest: &meta[trailpipe_store::meta::NEWEST],
        }),
    );
    b.set_metadata(&other, &meta);

    let d = Digester::new(chain(None), b.store.clone(), signer, file_mac());
    let r = d.run_once(t0 + secs(40)).await.expect("run");
    let listed: Vec<String> = r
        .written
        .iter()
        .flat_map(|k| b.digest(k).log_files)
        .map(|f| f.s3_object)
        .collect();
    assert_eq!(listed, [real], "{r:?}");
    assert_eq!(r.unverified_files, 4, "{r:?}");
    let says = |key: &str, what: &str| {
        r.warnings
            .iter()
            .any(|w| w.contains(key) && w.contains(what))
    };
    assert!(says(&bare, "no trailpipe metadata"), "{:?}", r.warnings);
    assert!(says(&copied, "not valid"), "{:?}", r.warnings);
    assert!(says(&made_up, "not valid"), "{:?}", r.warnings);
    assert!(says(&other, other_key.id()), "{:?}", r.warnings);
    assert!(says(&other, "integrity.file_mac_key"), "{:?}", r.warnings);
}
