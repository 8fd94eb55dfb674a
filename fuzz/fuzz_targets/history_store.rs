//! Outside input: records appended to a real `HistoryStore` (index keys and posting lists built from hostile values) and then looked up by each of their attributes and paged with NextTokens (posting decoders, token round trip).
#![no_main]

use libfuzzer_sys::fuzz_target;
use trailpipe_fuzz::{scratch_dir, split_nul};
use trailpipe_history::{extract, HistoryConfig, HistoryStore, LookupRequest};

fuzz_target!(|data: &[u8]| {
    // Up to 8 NUL-separated records; records that event history does not keep stop nothing.
    let records: Vec<&[u8]> = split_nul(data, 8)
        .into_iter()
        .filter(|r| !r.is_empty())
        .collect();
    let kept: Vec<_> = records.iter().filter_map(|r| extract(r).ok()).collect();
    if kept.is_empty() {
        return; // nothing would be written: no need for a store
    }
    // A fresh store per input, so that every crash reproduces from its input alone.
    let dir = scratch_dir();
    let store = HistoryStore::open(HistoryConfig::new(dir.path().join("h"))).expect("store opens");
    if store.append(&records).is_err() {
        return;
    }
    let mut lookups = 0;
    for e in &kept {
        for (key, value) in e.attribute_values() {
            if lookups >= 24 {
                return;
            }
            lookups += 1;
            let body = serde_json::json!({
                "LookupAttributes": [{"AttributeKey": key.as_str(), "AttributeValue": value}],
                "MaxResults": 1,
                "EventCategory": (e.category == trailpipe_history::HistoryCategory::Insight).then_some("insight"),
            });
            let Ok(mut req) = LookupRequest::from_json(body.to_string().as_bytes(), &e.region)
            else {
                continue;
            };
            for _ in 0..4 {
                let Ok(resp) = store.lookup(&req) else {
                    break;
                };
                match resp.next_token {
                    Some(t) => req.next_token = Some(t),
                    None => break,
                }
            }
        }
    }
});
