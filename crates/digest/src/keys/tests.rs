use base64::Engine as _;

use super::*;

/// The key AWS publishes in the `list-public-keys` example (awscli
/// `examples/cloudtrail/list-public-keys.rst`), with its published fingerprint.
const AWS_DOC_KEY: &str = "MIIBCgKCAQEAlSS3cl92HDycr/MTj0moOhas8habjrraXw+KzlWF0axSI2tcF+3iJ9BKQAVSKxGwxwu3m0wG3J+kUl1xboEcEPHYoIYMbgfSw7KGnuDKwkLzsQWhUJ0cIbOHASox1vv/5fNXkrHhGbDCHeVXm804c83nvHUEFYThr1PfyP/8HwrCtR3FX5OANtQCP61C1nJtSSkC8JSQUOrIP4CuwJjc+4WGDk+BGH5m9iuiAKkipEHWmUl8/P7XpfpWQuk4h8g3pXZOrNXr08lbh4d39svj7UqdhvOXoBISp9t/EXYuePGEtBdrKD9Dz+VHwyUPtBQvYr9BnkF88qBnaPNhS44rzwIDAQAB";
const AWS_DOC_FINGERPRINT: &str = "7f3f401420072e50a65a141430817ab3";

fn now() -> OffsetDateTime {
    crate::format::parse_time("2026-01-10T10:07:31Z").expect("time")
}

#[test]
fn fingerprint_matches_the_aws_documented_key() {
    let der = base64::engine::general_purpose::STANDARD
        .decode(AWS_DOC_KEY)
        .expect("base64");
    assert_eq!(fingerprint(&der), AWS_DOC_FINGERPRINT);
    // It is PKCS#1 already: conversion is the identity.
    assert_eq!(to_pkcs1_der(&der).expect("rsa key"), der);
}

#[test]
fn public_key_is_pkcs1_not_spki_and_spki_converts_back() {
    let k = LocalKey::generate().expect("keygen");
    let der = k.der_pkcs1().to_vec();
    // RSAPublicKey: SEQUENCE { INTEGER n, INTEGER e } — second element is an INTEGER (0x02),
    // where SPKI would have a SEQUENCE (AlgorithmIdentifier).
    assert_eq!(der[0], 0x30);
    assert_eq!(der[4], 0x02, "PKCS#1 RSAPublicKey starts with the modulus");
    let spki = aws_lc_rs::rsa::PublicKey::from_der(&der)
        .expect("parse")
        .as_der()
        .expect("spki")
        .as_ref()
        .to_vec();
    assert_ne!(spki, der);
    assert_eq!(to_pkcs1_der(&spki).expect("convert"), der);
    assert_eq!(k.fingerprint(), fingerprint(&der));
    assert_eq!(k.fingerprint().len(), 32);
}

#[tokio::test]
async fn sign_then_verify_round_trip_and_tamper() {
    let k = StaticKey::generate(now(), now() + time::Duration::days(30)).expect("key");
    let fp = DigestSigner::fingerprint(&k, now());
    let msg = b"2026-01-10T10:07:31Z\nb/k\nabc\nnull";
    let sig = k.sign(&fp, msg).await.expect("sign");
    assert_eq!(sig.len(), 256, "RSA-2048");
    let der = &k.public_key().der_pkcs1;
    assert!(verify(der, msg, &sig));
    assert!(!verify(der, b"other message", &sig));
    let mut bad = sig.clone();
    bad[10] ^= 1;
    assert!(!verify(der, msg, &bad));
    // Deterministic (PKCS#1 v1.5): a replay reproduces the bytes.
    assert_eq!(k.sign(&fp, msg).await.expect("sign"), sig);
    assert!(k.sign("0000", msg).await.is_err());
}

#[tokio::test]
async fn pem_pkcs8_key_loads_and_signs_like_the_original() {
    let k = StaticKey::generate(now(), now()).expect("key");
    let der = k.pkcs8_der().expect("pkcs8");
    let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(chunk).expect("ascii"));
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("k.pem");
    std::fs::write(&path, &pem).expect("write");
    let loaded = StaticKey::from_pem_file(&path, now(), now()).expect("load");
    assert_eq!(loaded.public_key().fingerprint, k.public_key().fingerprint);
    let fp = loaded.public_key().fingerprint;
    assert_eq!(
        loaded.sign(&fp, b"m").await.expect("sign"),
        k.sign(&fp, b"m").await.expect("sign")
    );
    assert!(StaticKey::from_pem(
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        now(),
        now()
    )
    .is_err());
}

#[tokio::test]
async fn key_ring_persists_rotates_with_overlap_and_keeps_old_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = KeyRingConfig::new(dir.path().join("state"));
    let t0 = now();
    let ring = KeyRing::open(cfg.clone(), t0).expect("open");
    let fp0 = DigestSigner::fingerprint(ring.as_ref(), t0);
    let path = dir.path().join("state").join(ring::KEY_FILE);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Reopened: same key, no rotation before 20 days.
    let ring = KeyRing::open(cfg.clone(), t0 + time::Duration::days(19)).expect("reopen");
    assert_eq!(ring.fingerprints(), vec![fp0.clone()]);
    // Rotation after 20 days; the old key stays and still signs digests of its window.
    let t1 = t0 + time::Duration::days(20);
    assert!(ring.rotate_if_due(t1).expect("rotate"));
    let fps = ring.fingerprints();
    assert_eq!(fps.len(), 2);
    assert_eq!(fps[0], fp0);
    let fp1 = fps[1].clone();
    assert_eq!(DigestSigner::fingerprint(ring.as_ref(), t1), fp1);
    assert_eq!(
        DigestSigner::fingerprint(ring.as_ref(), t1 - time::Duration::days(1)),
        fp0
    );
    // Overlap: both keys valid on day 25; the first one was backdated 7 days.
    let listed = ring.public_keys(t0 + time::Duration::days(25), t0 + time::Duration::days(25));
    assert_eq!(listed.len(), 2);
    let first = &ring.public_keys(t0 - time::Duration::days(7), t0 - time::Duration::days(7));
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].fingerprint, fp0);
    let sig = ring.sign(&fp0, b"m").await.expect("old key signs");
    assert!(verify(&listed[0].der_pkcs1, b"m", &sig));
    // Reloaded from disk after a restart: both keys, same fingerprints.
    drop(ring);
    let ring = KeyRing::open(cfg, t1 + time::Duration::days(1)).expect("reopen");
    assert_eq!(ring.fingerprints(), fps);
}

/// Two replicas' shared rings: a key one generates and stores is listed and verifiable by the
/// other once inserted there, rotation is due by age, and an empty ring signs nothing.
#[tokio::test]
async fn shared_rings_list_and_verify_each_others_keys() {
    let cfg = || KeyRingConfig::new(std::path::PathBuf::from("/nonexistent"));
    let (a, b) = (
        KeyRing::shared(cfg()).expect("a"),
        KeyRing::shared(cfg()).expect("b"),
    );
    assert!(a.due(now()));
    assert!(a.sign(&a.fingerprint(now()), b"m").await.is_err());
    let stored = a.generate(now()).expect("generate");
    assert!(
        a.public_keys(now(), now()).is_empty(),
        "generated is not inserted"
    );
    let fp = a.insert(&stored).expect("insert");
    assert_eq!(b.insert(&stored).expect("insert"), fp);
    assert_eq!(
        a.insert(&stored).expect("again"),
        fp,
        "inserting twice keeps one"
    );
    assert_eq!(a.public_keys(now(), now()), b.public_keys(now(), now()));
    assert_eq!(a.public_keys(now(), now()).len(), 1);
    let sig = a
        .sign(&a.fingerprint(now()), b"message")
        .await
        .expect("sign");
    let key = &b.public_keys(now(), now())[0];
    assert!(verify(&key.der_pkcs1, b"message", &sig));
    assert!(!a.due(now()));
    assert!(a.due(now() + time::Duration::days(20)));
    // The first key is backdated so a catch-up's early windows are covered.
    assert!(key.validity_start < now() - time::Duration::days(6));
    assert!(
        !std::path::Path::new("/nonexistent").exists(),
        "a shared ring writes no file"
    );
}
