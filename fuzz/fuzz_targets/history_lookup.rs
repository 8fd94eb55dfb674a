//! Outside input: a LookupEvents request body (`LookupRequest::from_json`) and its `NextToken`, answered by a real `HistoryStore::lookup` over a small fixed store (token decoding, posting-list reads).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use trailpipe_fuzz::scratch_dir;
use trailpipe_history::{HistoryConfig, HistoryStore, LookupRequest};

const REGIONS: [&str; 3] = ["us-east-1", "eu-west-3", "x"];

fn record(i: usize) -> String {
    let (region, name, user, ro) = match i % 4 {
        0 => ("us-east-1", "ConsoleLogin", "alice", "false"),
        1 => ("us-east-1", "GetObject", "bob", "true"),
        2 => ("eu-west-3", "PutObject", "alice", "false"),
        _ => ("us-east-1", "DeleteTrail", "carol", "false"),
    };
    let category = if i % 9 == 8 { "Insight" } else { "Management" };
    format!(
        r#"{{"eventVersion":"1.08","eventTime":"2026-01-{day:02}T{hour:02}:{min:02}:00Z","eventID":"ev-{i:04}","awsRegion":"{region}","eventSource":"s3.amazonaws.com","eventName":"{name}","readOnly":{ro},"eventCategory":"{category}","userIdentity":{{"type":"IAMUser","userName":"{user}","accessKeyId":"AKIA{i:04}","arn":"arn:aws:iam::123456789012:user/{user}"}},"resources":[{{"type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::bucket-{b}"}}],"recipientAccountId":"123456789012"}}"#,
        day = 1 + i % 3,
        hour = i % 24,
        min = i % 60,
        b = i % 5,
    )
}

fn store() -> &'static HistoryStore {
    static STORE: OnceLock<(tempfile::TempDir, HistoryStore)> = OnceLock::new();
    &STORE
        .get_or_init(|| {
            let dir = scratch_dir();
            let store = HistoryStore::open(HistoryConfig::new(dir.path().join("history")))
                .expect("history store opens");
            let records: Vec<String> = (0..300).map(record).collect();
            store.append(&records).expect("append");
            (dir, store)
        })
        .1
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, body)) = data.split_first() else {
        return;
    };
    let region = REGIONS[usize::from(control) % REGIONS.len()];
    let Ok(req) = LookupRequest::from_json(body, region) else {
        return;
    };
    let Ok(mut resp) = store().lookup(&req) else {
        return;
    };
    // Follow a few pages with the tokens the store issued (the resume path after decoding).
    let mut req = req;
    for _ in 0..3 {
        let Some(token) = resp.next_token.take() else {
            break;
        };
        req.next_token = Some(token);
        match store().lookup(&req) {
            Ok(r) => resp = r,
            Err(_) => break,
        }
    }
});
