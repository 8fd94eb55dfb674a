//! Rules on routed records as the pipeline holds them (parsed `Event`s: raw bytes plus the
//! extracted fields), 100 typical security rules against none and 1: the index is fed the
//! extracted fields, so only records some rule can match are parsed into an envelope.
//! Single-threaded; prints records/s.
//!
//! `cargo bench -p trailpipe-rules --bench engine`

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use trailpipe_event::{parse_message, Event, ParseLimits};
use trailpipe_eventpattern::Pattern;
use trailpipe_generator::{Generator, GeneratorConfig};
use trailpipe_rules::{Rule, RuleState, Rules};

#[path = "../../eventpattern/benches/common/security_rules.rs"]
mod security_rules;

const RECORDS: usize = 100_000;

fn events() -> Vec<Event> {
    let mut g = Generator::new(GeneratorConfig {
        seed: 42,
        ..GeneratorConfig::default()
    });
    let limits = ParseLimits::default();
    let mut out = Vec::new();
    for _ in 0..RECORDS {
        parse_message(&Bytes::from(g.next_record()), &limits, &mut out);
    }
    out.into_iter()
        .map(|p| p.expect("generated records parse"))
        .collect()
}

/// Records/s of [`Rules::matching`] over `events`, best of 5, and the matches of one pass.
fn measure(rules: &Rules, events: &[Event]) -> (f64, usize) {
    let mut best = Duration::MAX;
    let mut matches = 0;
    for _ in 0..5 {
        let start = Instant::now();
        matches = 0;
        for e in events {
            matches += black_box(rules.matching(black_box(e))).rules.len();
        }
        best = best.min(start.elapsed());
    }
    (events.len() as f64 / best.as_secs_f64(), matches)
}

fn main() {
    let events = events();
    let all: Vec<Rule> = security_rules::security_rules()
        .into_iter()
        .map(|(name, text)| Rule {
            pattern: Pattern::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}")),
            name,
            state: RuleState::EnabledWithAllCloudTrailManagementEvents,
        })
        .collect();
    if std::env::var_os("COSTLIEST").is_some() {
        costliest(&all, &events);
    }
    println!(
        "{RECORDS} generated records, parsed as the pipeline parses them, single thread, best of 5"
    );
    for n in [1, 10, 100] {
        let rules = Rules::new(all[..n].to_vec());
        let (rate, matches) = measure(&rules, &events);
        println!("  {n:>3} rules: {rate:>10.0} records/s ({matches} matches)");
    }
}

/// The ten rules that cost the most alone (to see what the index and the fast path miss).
fn costliest(all: &[Rule], events: &[Event]) {
    let mut costs: Vec<(f64, &str)> = all
        .iter()
        .map(|r| {
            let rules = Rules::new(vec![r.clone()]);
            let start = Instant::now();
            for e in &events[..20_000] {
                black_box(rules.matching(e));
            }
            (
                start.elapsed().as_nanos() as f64 / 20_000.0,
                r.name.as_str(),
            )
        })
        .collect();
    costs.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (ns, name) in &costs[..10] {
        println!("  {ns:>8.0} ns/record  {name}");
    }
}
