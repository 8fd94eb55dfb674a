//! Outside input: the digest-validation parsers — single-member gunzip (`gunzip_single`, `gunzip_sha256_hex`), digest keys (`KeyLayout::parse_digest_key`), digest times (`parse_time`), the `DigestFile` JSON shape, public-key DER (`to_pkcs1_der`) and signature bytes (`keys::verify`) — and what the digester and the batcher read back from the bucket: log files' `trailpipe-mac` metadata (`FileMac::verify`) and file-time markers (`file_time::parse_marker`).
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
    match control % 7 {
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
        4 => {
            let parts = split_nul(rest, 3);
            let _ = keys::verify(parts[0], parts[1], parts[2]);
        }
        5 => {
            // Metadata someone else wrote on an object named like a log file.
            let parts = split_nul(rest, 6);
            let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            let other = trailpipe_logfile::FileMac::new(&[8; 40]).expect("40 bytes");
            let mac = trailpipe_logfile::FileMac::new(&[7; 32])
                .expect("32 bytes")
                .also_accept(other.clone());
            let (bucket, key, sha, oldest, newest) = (
                text(parts[0]),
                text(parts[1]),
                text(parts[2]),
                text(parts[3]),
                text(parts[4]),
            );
            let input = trailpipe_logfile::MacInput {
                bucket: &bucket,
                key: &key,
                sha256_hex: &sha,
                oldest: &oldest,
                newest: &newest,
            };
            let value = text(parts[5]);
            let check = mac.verify(&input, Some(&value));
            // Only a signature made with one of the keys verifies.
            if check == trailpipe_logfile::MacCheck::Valid {
                assert!(value == mac.sign(&input) || value == other.sign(&input));
            }
        }
        _ => {
            let _ = trailpipe_batcher::file_time::parse_marker(rest);
        }
    }
});
