//! How long validation of 10 000 log files takes on the local store. Run with
//! `cargo nextest run -p trailpipe-digest --run-ignored only validate_10k` (prints timings).

mod common;

use std::{collections::HashMap, time::Instant};

use common::*;
use trailpipe_digest::{format, Digester};

#[tokio::test(flavor = "multi_thread")]
#[ignore = "benchmark: prints how long 10 000 log files take"]
async fn validate_10k_log_files_on_the_local_store() {
    const FILES: i64 = 10_000;
    const PER_WINDOW: i64 = 100;
    let b = Bucket::new();
    let (signer, keys) = signer();
    let t0 = t("2026-03-01T10:00:00Z");
    let made = Instant::now();
    let mut bytes_total = 0usize;
    for n in 0..FILES {
        let delivered =
            t0 + secs(1 + (n / PER_WINDOW) * 10) + time::Duration::milliseconds(n % PER_WINDOW);
        let key = format!(
            "AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/2026/03/01/{ACCOUNT}_CloudTrail_{REGION}_20260301T1000Z_{n:016}.json.gz"
        );
        let records: Vec<String> = (0..50)
            .map(|i| format!(r#"{{"eventVersion":"1.08","eventTime":"2026-03-01T09:59:{:02}Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"{REGION}","eventID":"{n}-{i}","requestParameters":{{"bucketName":"customer-data","key":"obj/{n}/{i}"}}}}"#, i % 60))
            .collect();
        let body = format!(r#"{{"Records":[{}]}}"#, records.join(","));
        let gz = format::gzip(body.as_bytes());
        bytes_total += body.len();
        let path = b.object_path(&key);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, &gz).expect("write");
        let meta = HashMap::from([
            (
                trailpipe_store::meta::SHA256.to_string(),
                format::sha256_hex(body.as_bytes()),
            ),
            (
                trailpipe_store::meta::OLDEST.to_string(),
                "2026-03-01T09:59:00Z".to_string(),
            ),
            (
                trailpipe_store::meta::NEWEST.to_string(),
                "2026-03-01T09:59:49Z".to_string(),
            ),
        ]);
        let mp = b.meta_path(&key);
        std::fs::create_dir_all(mp.parent().expect("parent")).expect("mkdir");
        std::fs::write(&mp, serde_json::to_vec(&meta).expect("json")).expect("write meta");
        b.set_mtime(&key, delivered);
    }
    println!(
        "setup: {FILES} files, {} MB uncompressed, {:?}",
        bytes_total / 1_000_000,
        made.elapsed()
    );
    let d = Digester::new(chain(None), b.store.clone(), signer, file_mac());
    let now = t0 + secs(10 * (FILES / PER_WINDOW) + 15);
    let started = Instant::now();
    let r = d.run_once(now).await.expect("digest");
    println!(
        "digester: {} digests listing {} files in {:?}",
        r.written.len(),
        r.log_files,
        started.elapsed()
    );
    assert_eq!(r.log_files, FILES as usize);
    let started = Instant::now();
    let report = validate_all(&b, None, &keys, t0, now).await;
    let took = started.elapsed();
    println!(
        "validate: {} digests, {} log files valid in {:?} ({:.0} files/s)",
        report.summary.valid_digests,
        report.summary.valid_logs,
        took,
        FILES as f64 / took.as_secs_f64()
    );
    assert_eq!(report.summary.valid_logs, FILES as usize);
    assert_eq!(report.summary.exit_code(), 0);
}
