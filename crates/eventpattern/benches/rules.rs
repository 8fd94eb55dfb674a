//! Matching throughput: generated CloudTrail records in the EventBridge envelope (parsed into
//! `serde_json::Value` before timing) against 1 rule and against 100 typical security rules,
//! single-threaded, with `RuleSet`. Prints records/s.
//!
//! `cargo bench -p trailpipe-eventpattern --bench rules`

use std::hint::black_box;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use trailpipe_eventpattern::{Pattern, RuleSet};
use trailpipe_generator::{Generator, GeneratorConfig};

#[path = "common/security_rules.rs"]
mod security_rules;
use security_rules::security_rules;

const RECORDS: usize = 20_000;
const HOT: usize = 200;

fn envelope(record: Value, n: usize) -> Value {
    let service = record["eventSource"]
        .as_str()
        .and_then(|s| s.strip_suffix(".amazonaws.com"))
        .unwrap_or("unknown")
        .to_owned();
    json!({
        "version": "0",
        "id": format!("00000000-0000-4000-8000-{n:012}"),
        "detail-type": "AWS API Call via CloudTrail",
        "source": format!("aws.{service}"),
        "account": record["recipientAccountId"].clone(),
        "time": record["eventTime"].clone(),
        "region": record["awsRegion"].clone(),
        "resources": [],
        "detail": record,
    })
}

/// Records/s over `events` (each matched `repeat` times in a row of passes), best of 5.
fn measure(set: &RuleSet, events: &[Value], repeat: usize) -> (f64, usize) {
    let mut best = Duration::MAX;
    let mut matches = 0;
    for _ in 0..5 {
        let start = Instant::now();
        matches = 0;
        for _ in 0..repeat {
            for e in events {
                matches += black_box(set.matching_indexes(black_box(e))).len();
            }
        }
        best = best.min(start.elapsed());
    }
    (
        (events.len() * repeat) as f64 / best.as_secs_f64(),
        matches / repeat,
    )
}

fn main() {
    let mut g = Generator::new(GeneratorConfig {
        seed: 42,
        ..GeneratorConfig::default()
    });
    let events: Vec<Value> = (0..RECORDS)
        .map(|i| {
            envelope(
                serde_json::from_str(&g.next_record()).expect("generated JSON"),
                i,
            )
        })
        .collect();
    let rules: Vec<(String, Pattern)> = security_rules()
        .into_iter()
        .map(|(name, text)| {
            let p = Pattern::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, p)
        })
        .collect();

    let one = RuleSet::new(rules[..1].to_vec());
    let hundred = RuleSet::new(rules.clone());
    let (rate1, m1) = measure(&one, &events, 1);
    let (rate100, m100) = measure(&hundred, &events, 1);
    // A working set that stays in cache, as an event just parsed by the pipeline is.
    let hot = &events[..HOT];
    let (hot1, _) = measure(&one, hot, RECORDS / HOT);
    let (hot100, _) = measure(&hundred, hot, RECORDS / HOT);
    // The same 100 rules without the index: every pattern on every event.
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        let mut n = 0;
        for e in &events {
            n += rules
                .iter()
                .filter(|(_, p)| p.matches(black_box(e)))
                .count();
        }
        black_box(n);
        best = best.min(start.elapsed());
    }
    let naive = events.len() as f64 / best.as_secs_f64();
    println!("{RECORDS} generated records in the EventBridge envelope, single thread, best of 5");
    println!("cold (all {RECORDS} parsed events in memory, each visited once per pass):");
    println!("  1 rule:               {rate1:>10.0} records/s ({m1} matches)");
    println!(
        "  100 rules (RuleSet):  {rate100:>10.0} records/s ({m100} matches; {} rules unindexed)",
        hundred.unindexed()
    );
    println!("  100 rules (no index): {naive:>10.0} records/s");
    println!("hot ({HOT} events in cache, as an event just parsed is):");
    println!("  1 rule:               {hot1:>10.0} records/s");
    println!("  100 rules (RuleSet):  {hot100:>10.0} records/s");
}
