//! Log file integrity end to end: the daemon consumes from tansu, delivers log files to moto S3
//! and writes signed digests across several digest periods (one `kill -9` in between); the real
//! `aws cloudtrail validate-logs` (talking to the daemon's CloudTrail API for DescribeTrails and
//! ListPublicKeys, to moto for S3) reports every digest and log file valid, and both it and
//! `trailpipe validate-logs` catch each tamper case.

use std::{
    io::{Read, Write},
    process::Command,
    time::Duration,
};

use std::sync::LazyLock;

use crate::support::*;

static PORT: LazyLock<u16> = LazyLock::new(free_port);
const ACCOUNT: &str = "123456789012";

fn config(head: &str, bucket: &str, state: &std::path::Path) -> String {
    format!(
        r#"{head}
[state]
dir = "{state}"

[integrity]
digest_settle_secs = 2
account_id = "{ACCOUNT}"

[[trails]]
name = "audited"
s3_bucket_name = "{bucket}"
s3_key_prefix = "audit"
is_multi_region_trail = true
home_region = "us-east-1"
delivery_interval_secs = 1
enable_log_file_validation = true
digest_interval_secs = 5
"#,
        state = state.display()
    )
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt")
}

fn keys(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<String> {
    rt().block_on(async {
        let mut out = Vec::new();
        let mut pages = s3.list_objects_v2().bucket(bucket).into_paginator().send();
        while let Some(page) = pages.next().await {
            for o in page.expect("list").contents() {
                out.push(o.key().expect("key").to_string());
            }
        }
        out
    })
}

fn get(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> (Vec<u8>, std::collections::HashMap<String, String>) {
    rt().block_on(async {
        let o = s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .expect("get");
        let meta = o.metadata().cloned().unwrap_or_default();
        (
            o.body.collect().await.expect("body").into_bytes().to_vec(),
            meta,
        )
    })
}

fn put(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
    meta: std::collections::HashMap<String, String>,
) {
    rt().block_on(async {
        s3.put_object()
            .bucket(bucket)
            .key(key)
            .body(body.into())
            .set_metadata(Some(meta))
            .send()
            .await
            .expect("put");
    });
}

fn delete(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) {
    rt().block_on(async {
        s3.delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .expect("delete");
    });
}

fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(b)
        .read_to_end(&mut out)
        .expect("gunzip");
    out
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).expect("gzip");
    e.finish().expect("gzip")
}

struct Validation {
    code: i32,
    stdout: String,
}

/// The real aws CLI: S3 from moto, CloudTrail (DescribeTrails, ListPublicKeys) from the daemon.
fn aws_validate(s: &Services, bucket: &str, chain: &(String, String), start: &str) -> Validation {
    let (code, stdout) = AwsValidateLogs {
        trail_arn: &format!("arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/audited"),
        bucket,
        prefix: Some("audit"),
        chain,
        start,
        env: &[],
    }
    .run(s, *PORT);
    Validation { code, stdout }
}

fn trailpipe_validate(cfg: &std::path::Path, chain: &(String, String), start: &str) -> Validation {
    let out = Command::new(env!("CARGO_BIN_EXE_trailpipe"))
        .args(["validate-logs", "--config"])
        .arg(cfg)
        .args([
            "--trail",
            "audited",
            "--start-time",
            start,
            "--account-id",
            &chain.0,
            "--region",
            &chain.1,
            "--verbose",
        ])
        .output()
        .expect("running trailpipe validate-logs");
    Validation {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr),
    }
}

#[test]
fn digests_pass_aws_validate_logs_and_every_tamper_is_caught() {
    let Some(s) = Services::get("integrity") else {
        return;
    };
    let (topic, dlq, group, bucket, s3) = fresh(&s, "integrity", 2);
    let dir = tempfile::tempdir().expect("tempdir");
    let head = kafka_to_moto(&s, &topic, &dlq, &group, *PORT, "");
    let cfg = config(&head, &bucket, &dir.path().join("state"));
    let start = time::OffsetDateTime::now_utc() - time::Duration::minutes(2);
    let start = start
        .format(&time::format_description::well_known::Rfc3339)
        .expect("time");

    // Records in bursts across several 5 s digest periods, with one kill -9 in between.
    let mut daemon = Daemon::start(dir.path(), &cfg);
    for burst in 0..6u64 {
        produce(&s.brokers, &topic, &generated_messages(600, 100 + burst));
        std::thread::sleep(Duration::from_secs(3));
        if burst == 2 {
            daemon.child.kill().expect("kill -9");
            let _ = daemon.child.wait();
            daemon = Daemon::start(dir.path(), &cfg);
        }
    }
    // Every chain has at least three digests (empty periods included).
    let enough = wait_until(Duration::from_secs(90), || {
        let d = digest_chains(&s3, &bucket);
        !d.is_empty() && d.values().all(|v| v.len() >= 3)
    });
    let chains = digest_chains(&s3, &bucket);
    assert!(
        enough,
        "digests per chain: {:?}\n{}",
        chains.values().map(Vec::len).collect::<Vec<_>>(),
        daemon.log_text()
    );
    let total: usize = chains.values().map(Vec::len).sum();
    eprintln!("{} chains, {total} digests", chains.len());
    let cfg_path = dir.path().join("trailpipe.toml");

    // Untouched: every chain is valid for both validators.
    let names: Vec<(String, String)> = chains.keys().cloned().collect();
    assert!(
        names.len() >= 6,
        "need six chains for the tamper cases, have {}",
        names.len()
    );
    // (Six chains: the aws CLI takes a few seconds per run.)
    for chain in names.iter().take(6) {
        let v = aws_validate(&s, &bucket, chain, &start);
        assert_eq!(v.code, 0, "aws validate-logs on {chain:?}:\n{}", v.stdout);
        assert!(!v.stdout.contains("INVALID"), "{}", v.stdout);
        assert!(v.stdout.contains("digest files valid"), "{}", v.stdout);
        let t = trailpipe_validate(&cfg_path, chain, &start);
        assert_eq!(
            t.code, 0,
            "trailpipe validate-logs on {chain:?}:\n{}",
            t.stdout
        );
    }
    let sample = aws_validate(&s, &bucket, &names[0], &start);
    eprintln!(
        "aws validate-logs, untouched chain:\n{}",
        sample
            .stdout
            .lines()
            .filter(|l| !l.starts_with("Log file") && !l.starts_with("Digest file"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(daemon.terminate(Duration::from_secs(30)), Some(0));

    // One tamper case per chain.
    let logs_of = |chain: &(String, String)| -> Vec<String> {
        keys(&s3, &bucket)
            .into_iter()
            .filter(|k| k.contains(&format!("/{}/CloudTrail/{}/", chain.0, chain.1)))
            .collect()
    };
    // 1. A log file modified: one record edited, re-gzipped.
    let victim = logs_of(&names[0])[0].clone();
    let (body, meta) = get(&s3, &bucket, &victim);
    let text = String::from_utf8(gunzip(&body)).expect("utf8");
    let edited = text.replacen("\"eventName\":\"", "\"eventName\":\"X", 1);
    assert_ne!(text, edited);
    put(&s3, &bucket, &victim, gzip(edited.as_bytes()), meta);
    // 2. A log file deleted.
    delete(&s3, &bucket, &logs_of(&names[1])[0]);
    // 3. A digest modified (re-gzipped with a changed field, signature metadata kept).
    let d = chains[&names[2]][1].clone();
    let (body, meta) = get(&s3, &bucket, &d);
    let text = String::from_utf8(gunzip(&body)).expect("utf8");
    let edited = text.replacen("\"oldestEventTime\":", "\"oldestEventTime\" :", 1);
    assert_ne!(text, edited, "digest has oldestEventTime");
    put(&s3, &bucket, &d, gzip(edited.as_bytes()), meta);
    // 4. A digest deleted (a middle one).
    delete(&s3, &bucket, &chains[&names[3]][1]);
    // 5. A signature altered.
    let d = chains[&names[4]][1].clone();
    let (body, mut meta) = get(&s3, &bucket, &d);
    let sig = meta.get_mut("signature").expect("signature metadata");
    let flipped = if sig.starts_with('0') { "1" } else { "0" };
    sig.replace_range(0..1, flipped);
    put(&s3, &bucket, &d, body, meta);

    // 6. Another writer's digest beside the chain (what two replicas that disagree leave): a
    // copy of the sixth chain's head under a key ending 1 s before the head's end. The
    // restarted daemon names it (metric, /readyz) and the chain still validates.
    let head = chains[&names[5]].last().expect("head").clone();
    let (body, meta) = get(&s3, &bucket, &head);
    let (dir_part, file) = head.rsplit_once('/').expect("key");
    let stamp = file
        .rsplit('_')
        .next()
        .and_then(|s| s.strip_suffix(".json.gz"))
        .expect("digest stamp");
    let fmt = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let end =
        time::PrimitiveDateTime::parse(stamp, &fmt).expect("stamp") - time::Duration::seconds(1);
    let (date_dir, _) = dir_part
        .rsplit_once('/')
        .and_then(|(d, _)| d.rsplit_once('/'))
        .and_then(|(d, _)| d.rsplit_once('/'))
        .expect("date folders");
    let planted = format!(
        "{date_dir}/{:04}/{:02}/{:02}/{}",
        end.year(),
        end.month() as u8,
        end.day(),
        file.replace(stamp, &end.format(&fmt).expect("format"))
    );
    put(&s3, &bucket, &planted, body, meta);

    let expect = [
        (0, "hash value doesn't match"),
        (1, "not found"),
        (2, "INVALID"),
        (3, "not found"),
        (4, "signature verification failed"),
    ];
    // The daemon's API serves DescribeTrails/ListPublicKeys for the aws CLI.
    let daemon = Daemon::start(dir.path(), &cfg);
    assert!(wait_until(Duration::from_secs(30), || http_get(
        *PORT, "/healthz"
    )
    .is_some()));
    for (i, what) in expect {
        let v = aws_validate(&s, &bucket, &names[i], &start);
        assert_ne!(v.code, 0, "aws missed tamper case {i}:\n{}", v.stdout);
        assert!(
            v.stdout.contains(what),
            "aws, tamper case {i}, expected {what:?}:\n{}",
            v.stdout
        );
        let t = trailpipe_validate(&cfg_path, &names[i], &start);
        assert_eq!(t.code, 1, "trailpipe missed tamper case {i}:\n{}", t.stdout);
        assert!(
            t.stdout.contains(what),
            "trailpipe, tamper case {i}, expected {what:?}:\n{}",
            t.stdout
        );
        eprintln!("tamper case {i} ({what}) caught by both");
    }
    // The sixth chain is still valid, and the digest beside it was seen and counted once.
    assert_eq!(aws_validate(&s, &bucket, &names[5], &start).code, 0);
    assert!(
        wait_until(Duration::from_secs(30), || metric_sum(
            *PORT,
            "trailpipe_digest_chain_conflicts_total"
        ) >= 1.0),
        "{}",
        daemon.log_text()
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        metric_sum(*PORT, "trailpipe_digest_chain_conflicts_total"),
        1.0
    );
    // /readyz names it from the moment it is counted.
    let (_, ready) = http_get(*PORT, "/readyz").expect("/readyz");
    let ready: serde_json::Value = serde_json::from_str(&ready).expect("json");
    let detail = ready["digests"]["audited"]["ChainConflict"]["Detail"]
        .as_str()
        .unwrap_or_else(|| panic!("no ChainConflict in /readyz: {ready}"));
    assert!(detail.contains(&planted), "{detail}");
    assert_eq!(daemon.terminate(Duration::from_secs(30)), Some(0));
}
