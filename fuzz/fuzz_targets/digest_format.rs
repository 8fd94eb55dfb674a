//! Outside input: the digest-validation parsers — single-member gunzip (`gunzip_single`, `gunzip_sha256_hex`), digest keys (`KeyLayout::parse_digest_key`), digest times (`parse_time`), the `DigestFile` JSON shape, public-key DER (`to_pkcs1_der`) and signature bytes (`keys::verify`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use trailpipe_digest::{
    format::{gunzip_sha256_hex, gunzip_single, parse_time, DigestFile, KeyLayout},
    keys,
};
use trailpipe_fuzz::split_nul;

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    match control % 5 {
        0 => {
            let _ = gunzip_single(rest);
            let _ = gunzip_sha256_hex(rest);
        }
        1 => {
            let Ok(s) = std::str::from_utf8(rest) else {
                return;
            };
            let _ = parse_time(s);
            for (prefix, org) in [(None, None), (Some("prod/logs"), Some("o-abc123"))] {
                let layout = KeyLayout {
                    prefix,
                    organization_id: org,
                    account_id: "123456789012",
                    source_region: "us-east-1",
                    trail_name: "management",
                    home_region: "us-east-1",
                };
                if let Some((end, backfill)) = layout.parse_digest_key(s) {
                    let _ = layout.digest_key(end, backfill);
                    let _ = layout.log_folder(end.date());
                }
            }
        }
        2 => {
            if let Ok(mut d) = serde_json::from_slice::<DigestFile>(rest) {
                d.set_event_times_from_files();
                let _ = d.to_json();
            }
        }
        3 => {
            if let Ok(der) = keys::to_pkcs1_der(rest) {
                let _ = keys::fingerprint(&der);
            }
        }
        _ => {
            let parts = split_nul(rest, 3);
            let _ = keys::verify(parts[0], parts[1], parts[2]);
        }
    }
});
