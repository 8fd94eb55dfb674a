//! Events for the tests: generated (and, when present, real) CloudTrail records in the
//! EventBridge envelope that "AWS API Call via CloudTrail" events have.

use serde_json::{json, Value};
use trailpipe_generator::{Generator, GeneratorConfig};

/// `iam.amazonaws.com` -> `aws.iam`; anything else -> `aws.unknown`.
fn source_of(record: &Value) -> String {
    let service = record["eventSource"]
        .as_str()
        .and_then(|s| s.strip_suffix(".amazonaws.com"))
        .unwrap_or("unknown");
    format!("aws.{service}")
}

/// Wraps one CloudTrail record as EventBridge delivers it.
pub fn envelope(record: Value, n: usize) -> Value {
    json!({
        "version": "0",
        "id": format!("00000000-0000-4000-8000-{n:012}"),
        "detail-type": "AWS API Call via CloudTrail",
        "source": source_of(&record),
        "account": record["recipientAccountId"].clone(),
        "time": record["eventTime"].clone(),
        "region": record["awsRegion"].clone(),
        "resources": [],
        "detail": record,
    })
}

/// `n` generated records with `seed`, enveloped.
pub fn generated_events(n: usize, seed: u64) -> Vec<Value> {
    let mut g = Generator::new(GeneratorConfig {
        seed,
        ..GeneratorConfig::default()
    });
    (0..n)
        .map(|i| {
            envelope(
                serde_json::from_str(&g.next_record()).expect("generated JSON"),
                i,
            )
        })
        .collect()
}

/// Up to `limit` real records of the shared samples, enveloped (spread over all of them), or
/// none when they are absent.
pub fn sample_events(limit: usize) -> Vec<Value> {
    let Ok(records) = trailpipe_generator::sample_records() else {
        return Vec::new();
    };
    let step = (records.len() / limit.max(1)).max(1);
    records
        .iter()
        .step_by(step)
        .filter_map(|r| serde_json::from_slice::<Value>(r).ok())
        .filter(Value::is_object)
        .take(limit)
        .enumerate()
        .map(|(i, r)| envelope(r, 1_000_000 + i))
        .collect()
}
