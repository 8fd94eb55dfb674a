//! Outside input: digest files (and a log file) as `trailpipe_digest::validate::validate` reads them from a store — gunzip, digest JSON, signature metadata, chain pointers, `logFiles` entries — each digest signed by the harness so that the parsing past the signature check is reached.
//!
//! The harness's RSA key is made at start-up, so the seeds cannot carry its fingerprint or its
//! signatures: in each digest body the placeholders `FINGERPRINT`, `PREVSIG` and `PREVHASH` are
//! replaced by the key's fingerprint and by the signature and SHA-256 of the digest stored
//! before it (so that intact chains validate and the fuzzer mutates from there).
#![no_main]

use std::{collections::HashMap, sync::OnceLock};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use time::{macros::datetime, OffsetDateTime};
use trailpipe_digest::{
    format::{self, KeyLayout},
    validate::{validate, ValidateRequest},
    DigestSigner, PublicKeyInfo, StaticKey,
};
use trailpipe_fuzz::{runtime, scratch_dir, split_nul};
use trailpipe_store::Store;

pub const BUCKET: &str = "fuzz-bucket";
const START: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);
const END: OffsetDateTime = datetime!(2026-01-01 05:00 UTC);
/// The key the seeds' `logFiles` name for the log file of the input's last part.
pub const LOG_KEY: &str =
    "AWSLogs/123456789012/CloudTrail/us-east-1/2026/01/01/123456789012_CloudTrail_us-east-1_20260101T0100Z_fuzz.json.gz";

fn layout() -> KeyLayout<'static> {
    KeyLayout {
        prefix: None,
        organization_id: None,
        account_id: "123456789012",
        source_region: "us-east-1",
        trail_name: "management",
        home_region: "us-east-1",
    }
}

fn key() -> &'static (StaticKey, PublicKeyInfo) {
    static KEY: OnceLock<(StaticKey, PublicKeyInfo)> = OnceLock::new();
    KEY.get_or_init(|| {
        let k = StaticKey::generate(
            datetime!(2025-01-01 00:00 UTC),
            datetime!(2027-01-01 00:00 UTC),
        )
        .expect("RSA key");
        let public = k.public_key();
        (k, public)
    })
}

fuzz_target!(|data: &[u8]| {
    // Layout: control byte, then NUL-separated: up to 3 digest JSON bodies (stored at the keys of
    // the digests ending 01:00, 02:00, 03:00), then the log file's uncompressed content.
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let parts = split_nul(rest, 4);
    let (signer, public) = key();
    let dir = scratch_dir();
    let store = Store::local(dir.path().to_path_buf());
    runtime().block_on(async {
        let (mut prev_sig, mut prev_hash) = (String::new(), String::new());
        for (i, body) in parts[..3].iter().enumerate() {
            if body.is_empty() {
                continue;
            }
            let body = &replace(
                &replace(
                    &replace(body, b"FINGERPRINT", public.fingerprint.as_bytes()),
                    b"PREVSIG",
                    prev_sig.as_bytes(),
                ),
                b"PREVHASH",
                prev_hash.as_bytes(),
            );
            let end = START + time::Duration::hours(i as i64 + 1);
            let backfill = control & (8 << i) != 0;
            let key = layout().digest_key(end, backfill);
            // Sign what validation will check, read leniently from the body (fields the fuzzer
            // broke are signed as empty strings: the signature check then fails, as it should).
            let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            let field = |n: &str| json.get(n).and_then(Value::as_str).unwrap_or("");
            let previous = json.get("previousDigestSignature").and_then(Value::as_str);
            let to_sign = format::string_to_sign(
                field("digestEndTime"),
                field("digestS3Bucket"),
                field("digestS3Object"),
                &format::sha256_hex(body),
                previous,
            );
            let signature = signer
                .sign(&public.fingerprint, to_sign.as_bytes())
                .await
                .expect("signs");
            prev_sig = hex(&signature);
            prev_hash = format::sha256_hex(body);
            let mut meta = HashMap::new();
            if control & (1 << i) == 0 {
                meta.insert(format::META_SIGNATURE.to_owned(), hex(&signature));
                meta.insert(
                    format::META_SIGNATURE_ALGORITHM.to_owned(),
                    format::SIGNATURE_ALGORITHM.to_owned(),
                );
            }
            if backfill {
                meta.insert(
                    format::META_BACKFILL_GENERATION.to_owned(),
                    "2026-01-02T00:00:00Z".to_owned(),
                );
            }
            let stored = if control & 0x80 != 0 && i == 0 {
                Bytes::copy_from_slice(body) // not gzip at all
            } else {
                Bytes::from(format::gzip(body))
            };
            store
                .put_new(BUCKET, &key, stored, meta)
                .await
                .expect("local put");
        }
        store
            .put_new(
                BUCKET,
                LOG_KEY,
                Bytes::from(format::gzip(parts[3])),
                HashMap::new(),
            )
            .await
            .expect("local put");
        let req = ValidateRequest {
            bucket: BUCKET.into(),
            prefix: None,
            organization_id: None,
            account: "123456789012".into(),
            source_region: "us-east-1".into(),
            trail_name: "management".into(),
            home_region: "us-east-1".into(),
            trail_arn: "arn:aws:cloudtrail:us-east-1:123456789012:trail/management".into(),
            start: START,
            end: END,
            concurrency: 2,
        };
        let result = validate(&store, &req, std::slice::from_ref(public), &|_| {}).await;
        // TRAILPIPE_FUZZ_DEBUG=1: show what validation made of an input (checking seeds).
        if std::env::var_os("TRAILPIPE_FUZZ_DEBUG").is_some() {
            eprintln!("{result:#?}");
        }
        if let Ok(report) = result {
            let _ = trailpipe_digest::validate::render(&report, true);
        }
    });
    drop(dir);
});

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `haystack` with every `needle` replaced by `with`.
fn replace(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut rest = haystack;
    while let Some(i) = rest.windows(needle.len()).position(|w| w == needle) {
        out.extend_from_slice(&rest[..i]);
        out.extend_from_slice(with);
        rest = &rest[i + needle.len()..];
    }
    out.extend_from_slice(rest);
    out
}
