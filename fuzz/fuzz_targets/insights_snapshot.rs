//! Outside input: an Insights detector state snapshot (read back from disk after a restart) through `trailpipe_insights::Detector::restore`, then driven with records, advanced and snapshotted again as the daemon does.
#![no_main]

use std::sync::OnceLock;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use trailpipe_event::{parse_message, Event, ParseLimits};
use trailpipe_insights::{Detector, InsightConfig};

/// A few records around the seeds' clock (2026-01-02), in the seeds' account and region.
fn events() -> &'static [Event] {
    static EVENTS: OnceLock<Vec<Event>> = OnceLock::new();
    EVENTS.get_or_init(|| {
        let mut out = Vec::new();
        for (i, (time, name, error)) in [
            ("2026-01-02T00:00:10Z", "PutObject", ""),
            ("2026-01-02T00:01:10Z", "PutObject", r#","errorCode":"AccessDenied""#),
            ("2026-01-02T00:03:00Z", "DeleteObject", ""),
            ("2026-01-02T00:09:00Z", "PutObject", ""),
        ]
        .into_iter()
        .enumerate()
        {
            let raw = format!(
                r#"{{"eventVersion":"1.08","eventTime":"{time}","eventID":"fz-{i}","eventSource":"s3.amazonaws.com","eventName":"{name}","awsRegion":"us-east-1","recipientAccountId":"123456789012","readOnly":false,"managementEvent":true,"eventCategory":"Management","eventType":"AwsApiCall","userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::123456789012:user/alice"}},"userAgent":"aws-cli/2"{error}}}"#
            );
            let mut parsed = Vec::new();
            parse_message(&Bytes::from(raw), &ParseLimits::default(), &mut parsed);
            out.extend(parsed.into_iter().flatten());
        }
        out
    })
}

/// The daemon's defaults, with a one-hour baseline so that small seeds already hold insights.
fn cfg() -> InsightConfig {
    InsightConfig {
        min_baseline_minutes: 60,
        ..InsightConfig::default()
    }
}

fn event(time: i64, i: usize, name: &str, error: bool) -> Event {
    let t = time::OffsetDateTime::from_unix_timestamp(time)
        .expect("in range")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("formats");
    let error = if error {
        r#","errorCode":"ThrottlingException""#
    } else {
        ""
    };
    let raw = format!(
        r#"{{"eventTime":"{t}","eventID":"seed-{i}","eventSource":"s3.amazonaws.com","eventName":"{name}","awsRegion":"us-east-1","recipientAccountId":"123456789012","readOnly":false,"eventCategory":"Management","eventType":"AwsApiCall","userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::123456789012:user/u{u}"}},"userAgent":"agent-{u}"{error}}}"#,
        u = i % 3
    );
    let mut parsed = Vec::new();
    parse_message(&Bytes::from(raw), &ParseLimits::default(), &mut parsed);
    parsed.pop().expect("one").expect("valid record")
}

/// With `TRAILPIPE_FUZZ_WRITE_SEEDS=DIR`, writes real snapshots as seeds (scripts/fuzz.sh
/// --write-seeds): after ten minutes of history, after a day (baseline complete), and with a
/// call-rate and an error-rate insight in progress.
fn write_seeds() {
    let Some(dir) = std::env::var_os("TRAILPIPE_FUZZ_WRITE_SEEDS") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).expect("seed directory");
    let mut d = Detector::new(cfg()).expect("valid config");
    let start = 1_767_225_600 - 26 * 3600; // 2025-12-31T22:00Z: the seeds' clock ends 2026-01-02
    let mut n = 0;
    let mut seeds = Vec::new();
    for minute in 0..(26 * 60 + 12) {
        let t = start + minute * 60;
        let spike = minute >= 26 * 60;
        let calls = if spike {
            60
        } else {
            1 + (minute as usize * 7) % 3
        };
        for c in 0..calls {
            let name = if c % 2 == 0 {
                "PutObject"
            } else {
                "DeleteObject"
            };
            let error = (spike && c % 2 == 1) || (minute + c as i64) % 17 == 0;
            let _ = d.observe(&event(t + c as i64 % 60, n, name, error));
            n += 1;
        }
        if minute == 10 || minute == 26 * 60 - 1 || minute == 26 * 60 + 11 {
            seeds.push(d.snapshot());
        }
    }
    for (i, s) in seeds.iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{i:02}")), s).expect("seed written");
    }
}

fuzz_target!(init: write_seeds(), |data: &[u8]| {
    let Ok(mut d) = Detector::restore(cfg(), data) else {
        return;
    };
    let _ = d.stats();
    let _ = d.tracked_apis();
    let _ = d.memory_bytes();
    for e in events() {
        for r in d.observe(e) {
            let _ = r.to_event();
        }
    }
    // An idle stream's clock moving on by an hour.
    for r in d.advance(1_767_315_600) {
        let _ = r.to_event();
    }
    let again = d.snapshot();
    let _ = Detector::restore(cfg(), &again);
});
