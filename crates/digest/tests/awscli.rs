//! Cross-check with awscli's own validator code (tests/awscli_check.py drives its
//! DigestTraverser over the local store). Skips when the project's venv is not installed.

mod common;

use std::path::Path;

use base64::Engine as _;
use common::*;
use trailpipe_digest::{Digester, PublicKeyInfo};

fn python() -> Option<std::path::PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/venv/bin/python");
    p.exists().then_some(p)
}

fn awscli_validate(
    py: &Path,
    b: &Bucket,
    prefix: Option<&str>,
    keys: &[PublicKeyInfo],
    start: &str,
    end: &str,
) -> serde_json::Value {
    let keys: Vec<serde_json::Value> = keys
        .iter()
        .map(|k| {
            serde_json::json!({
                "Fingerprint": k.fingerprint,
                "Value": base64::engine::general_purpose::STANDARD.encode(&k.der_pkcs1),
            })
        })
        .collect();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/awscli_check.py");
    let out = std::process::Command::new(py)
        .arg(script)
        .args(["--root", &b.dir.path().to_string_lossy()])
        .args(["--bucket", BUCKET, "--account", ACCOUNT, "--region", REGION])
        .args([
            "--trail", TRAIL, "--home", HOME, "--start", start, "--end", end,
        ])
        .args(["--prefix", prefix.unwrap_or("")])
        .args(["--keys", &serde_json::Value::Array(keys).to_string()])
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "awscli_check.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json output")
}

#[tokio::test]
async fn awscli_validator_accepts_our_chain_and_backfill_and_catches_tampering() {
    let Some(py) = python() else {
        println!("SKIP: /work/main/.tools/venv (awscli) is not installed");
        return;
    };
    let b = Bucket::new();
    let (signer, keys) = signer();
    let prefix = Some("pfx");
    let t0 = t("2026-03-01T10:07:31Z");
    b.deliver(prefix, t0, t0 + secs(1), 1, true).await;
    b.deliver(prefix, t0, t0 + secs(4), 2, true).await;
    let (f3, _) = b
        .deliver(prefix, t0 + secs(20), t0 + secs(26), 3, true)
        .await;
    let d = Digester::new(chain(prefix), b.store.clone(), signer, file_mac());
    let r = d.run_once(t0 + secs(40)).await.expect("run");
    assert_eq!(r.written.len(), 3);
    b.deliver(prefix, t0, t0 + secs(6), 4, true).await;
    let r = d.run_once(t0 + secs(41)).await.expect("run");
    assert_eq!(r.backfills.len(), 1);

    let (start, end) = ("2026-03-01T10:00:00Z", "2026-03-01T10:09:00Z");
    let v = awscli_validate(&py, &b, prefix, &keys, start, end);
    assert_eq!(v["valid_digests"], 3, "{v}");
    assert_eq!(v["invalid_digests"], 0, "{v}");
    assert_eq!(v["valid_backfill"], 1, "{v}");
    assert_eq!(v["invalid_backfill"], 0, "{v}");
    assert_eq!(v["valid_logs"], 4, "{v}");
    assert_eq!(v["invalid_logs"], 0, "{v}");
    assert_eq!(v["gaps"], 0, "{v}");

    // Ours agrees.
    let ours = validate_all(&b, prefix, &keys, t(start), t(end)).await;
    assert_eq!(ours.summary.valid_digests, 3);
    assert_eq!(ours.summary.valid_backfill_digests, 1);
    assert_eq!(ours.summary.valid_logs, 4);

    // Tamper: awscli sees it too.
    b.overwrite(&f3, &trailpipe_digest::format::gzip(b"{\"Records\":[]}"));
    let v = awscli_validate(&py, &b, prefix, &keys, start, end);
    assert_eq!(v["invalid_logs"], 1, "{v}");
    let ours = validate_all(&b, prefix, &keys, t(start), t(end)).await;
    assert_eq!(ours.summary.invalid_logs, 1);
}
