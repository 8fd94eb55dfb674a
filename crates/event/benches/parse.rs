//! Cost per record of `parse_message` (validation and routing-field extraction), the consumer's
//! only per-record work before routing.
//!
//! `cargo bench -p trailpipe-event --bench parse` (release): generated records, and the real
//! samples of `../shared/samples` when that folder exists (`TRAILPIPE_SAMPLES` names another
//! copy, e.g. from a worktree). Prints ns/record and MB/s.

use std::{hint::black_box, time::Instant};

use bytes::Bytes;
use trailpipe_event::{parse_message, ParseLimits};
use trailpipe_generator::{Generator, GeneratorConfig};

const ROUNDS: usize = 5;

fn measure(name: &str, records: &[Bytes]) {
    let limits = ParseLimits::default();
    let bytes: usize = records.iter().map(Bytes::len).sum();
    let mut out = Vec::with_capacity(1);
    let mut accepted = 0usize;
    let mut best = f64::MAX;
    for _ in 0..ROUNDS {
        accepted = 0;
        let start = Instant::now();
        for r in records {
            out.clear();
            parse_message(r, &limits, &mut out);
            accepted += out.iter().filter(|p| p.is_ok()).count();
            black_box(&out);
        }
        best = best.min(start.elapsed().as_secs_f64());
    }
    println!(
        "parse {name}: {} records ({accepted} accepted, {:.0} B average): {:.0} ns/record, {:.0} MB/s (best of {ROUNDS})",
        records.len(),
        bytes as f64 / records.len() as f64,
        best * 1e9 / records.len() as f64,
        bytes as f64 / best / 1e6,
    );
}

fn main() {
    let mut gen = Generator::new(GeneratorConfig {
        accounts: 8,
        regions: 4,
        seed: 1,
        ..GeneratorConfig::default()
    });
    let generated: Vec<Bytes> = (0..200_000)
        .map(|_| Bytes::from(gen.next_record()))
        .collect();
    measure("generated", &generated);

    let samples: Vec<Bytes> = match trailpipe_generator::sample_records() {
        Ok(records) => records.into_iter().map(Bytes::from).collect(),
        Err(why) => {
            println!("parse samples: skipped ({why})");
            return;
        }
    };
    measure("samples", &samples);
}
