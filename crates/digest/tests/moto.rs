//! The digester on S3 (moto) signing with KMS (moto): run with `AWS_ENDPOINT_URL` set
//! (`scripts/services.sh start moto && . .test-services/env`); skipped otherwise.

mod common;

use std::sync::Arc;

use common::*;
use trailpipe_digest::{format, keys::KmsSigner, validate, DigestSigner, Digester};
use trailpipe_store::Store;

fn endpoint() -> Option<String> {
    std::env::var("AWS_ENDPOINT_URL").ok()
}

#[tokio::test]
async fn digests_on_moto_s3_signed_by_moto_kms_validate() {
    let Some(ep) = endpoint() else {
        println!("SKIP: AWS_ENDPOINT_URL not set (start moto with scripts/services.sh)");
        return;
    };
    let region = "us-east-1".to_string();
    let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.clone()))
        .load()
        .await;
    // Bucket.
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&shared)
            .endpoint_url(&ep)
            .force_path_style(true)
            .build(),
    );
    let bucket = format!("digest-test-{}", std::process::id());
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create bucket");
    // KMS key.
    let kms = aws_sdk_kms::Client::from_conf(
        aws_sdk_kms::config::Builder::from(&shared)
            .endpoint_url(&ep)
            .build(),
    );
    let key_id = kms
        .create_key()
        .key_spec(aws_sdk_kms::types::KeySpec::Rsa2048)
        .key_usage(aws_sdk_kms::types::KeyUsageType::SignVerify)
        .send()
        .await
        .expect("create key")
        .key_metadata()
        .expect("metadata")
        .key_id()
        .to_string();
    let (from, to) = (t("2020-01-01T00:00:00Z"), t("2040-01-01T00:00:00Z"));
    let signer = KmsSigner::connect(region.clone(), Some(ep.clone()), key_id, from, to)
        .await
        .expect("kms signer");
    let public = signer.public_keys(from, to);
    assert_eq!(public.len(), 1);
    assert_eq!(
        public[0].fingerprint,
        trailpipe_digest::keys::fingerprint(&public[0].der_pkcs1)
    );
    let signer: Arc<dyn DigestSigner> = Arc::new(signer);

    // Two log files delivered now (LastModified = real time).
    let store = Store::s3(region, Some(ep), Some(true)).await;
    let start = time::OffsetDateTime::now_utc() - secs(1);
    let mut logs = Vec::new();
    for n in 0..2u32 {
        let body = format!(
            r#"{{"Records":[{{"eventTime":"{}","n":{n}}}]}}"#,
            format::format_time(start)
        );
        let key = format!(
            "AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/{}/{ACCOUNT}_CloudTrail_{REGION}_x_{n:016}.json.gz",
            start.date().to_string().replace('-', "/")
        );
        let (hash, time) = (
            format::sha256_hex(body.as_bytes()),
            format::format_time(start),
        );
        let mac = file_mac().sign(&trailpipe_logfile::MacInput {
            bucket: &bucket,
            key: &key,
            sha256_hex: &hash,
            oldest: &time,
            newest: &time,
        });
        let metadata = std::collections::HashMap::from([
            (trailpipe_store::meta::SHA256.to_string(), hash),
            (trailpipe_store::meta::OLDEST.to_string(), time.clone()),
            (trailpipe_store::meta::NEWEST.to_string(), time),
            (trailpipe_store::meta::MAC.to_string(), mac),
        ]);
        store
            .put_new(
                &bucket,
                &key,
                format::gzip(body.as_bytes()).into(),
                metadata,
            )
            .await
            .expect("put log");
        logs.push(key);
    }
    let mut cfg = chain(None);
    cfg.bucket = bucket.clone();
    let d = Digester::new(cfg, store.clone(), signer, file_mac());
    // Evaluate as if 35 s later: three 10 s windows have settled.
    let now = time::OffsetDateTime::now_utc() + secs(35);
    let r = d.run_once(now).await.expect("run");
    assert!(r.written.len() >= 3, "{r:?}");
    assert_eq!(r.log_files, 2, "{r:?}");
    let again = d.run_once(now).await.expect("run");
    assert!(again.written.is_empty());

    let mut req = request(None, start - secs(60), now);
    req.bucket = bucket.clone();
    let report = validate::validate(&store, &req, &public, &|_| {})
        .await
        .expect("validate");
    let s = &report.summary;
    assert_eq!(
        s.invalid_digests,
        0,
        "{}",
        validate::render(&report, true).stderr
    );
    assert_eq!(s.valid_digests, r.written.len());
    assert_eq!((s.valid_logs, s.invalid_logs), (2, 0));
}
