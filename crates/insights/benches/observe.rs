//! Cost per record of `Detector::observe` on generated traffic, and memory per tracked API.
//!
//! `cargo bench -p trailpipe-insights --bench observe` (release). Parsing is done up front and
//! not timed: the detector only reads the already parsed `RoutingFields`.

use std::time::Instant;

use bytes::Bytes;
use trailpipe_event::{parse_message, Event};
use trailpipe_generator::{Generator, GeneratorConfig};
use trailpipe_insights::{Detector, InsightConfig};

const POOL: usize = 50_000;
const CYCLES: usize = 40;
const EVENTS_PER_SECOND: f64 = 20.0;

fn main() {
    let mut gen = Generator::new(GeneratorConfig {
        accounts: 3,
        regions: 3,
        seed: 7,
        events_per_second: EVENTS_PER_SECOND,
        ..GeneratorConfig::default()
    });
    let mut pool: Vec<Event> = Vec::with_capacity(POOL);
    let mut parsed = Vec::new();
    while pool.len() < POOL {
        parsed.clear();
        parse_message(
            &Bytes::from(gen.next_record()),
            &Default::default(),
            &mut parsed,
        );
        pool.extend(parsed.drain(..).flatten());
    }
    let span = (POOL as f64 / EVENTS_PER_SECOND) as i64;
    let base: Vec<i64> = pool.iter().map(|e| e.fields.event_time).collect();
    let mut d = Detector::new(InsightConfig::default()).expect("default config is valid");
    let mut emitted = 0usize;
    let start = Instant::now();
    for c in 0..CYCLES {
        for (e, t) in pool.iter_mut().zip(&base) {
            e.fields.event_time = t + c as i64 * span;
            emitted += d.observe(e).len();
        }
    }
    let elapsed = start.elapsed();
    let n = (POOL * CYCLES) as f64;
    let snap = d.snapshot();
    println!(
        "observe: {n} records in {:.2?}: {:.0} ns/record, {:.0} records/s; {emitted} insights records",
        elapsed,
        elapsed.as_nanos() as f64 / n,
        n / elapsed.as_secs_f64()
    );
    println!(
        "state: {} tracked APIs, {:.1} KB heap per API, snapshot {:.1} KB ({:.1} KB per API)",
        d.tracked_apis(),
        d.memory_bytes() as f64 / d.tracked_apis() as f64 / 1024.0,
        snap.len() as f64 / 1024.0,
        snap.len() as f64 / d.tracked_apis() as f64 / 1024.0
    );
}
