//! Traffic for the detector tests: generated CloudTrail records replayed at chosen rates over
//! event time, with a ledger of what was fed so expectations are computed independently.

#![allow(dead_code)]

use std::collections::BTreeMap;

use bytes::Bytes;
use rand::{rngs::StdRng, Rng, SeedableRng};
use trailpipe_event::{parse_message, Event};
use trailpipe_generator::{Generator, GeneratorConfig};
use trailpipe_insights::{Detector, InsightRecord};

/// 2026-01-05T00:00:00Z, a Monday.
pub const T0: i64 = 1_767_571_200;
pub const MINUTE0: i64 = T0 / 60;

/// Generated records of one account in one region.
pub fn pool(n: usize, seed: u64) -> Vec<Event> {
    let mut gen = Generator::new(GeneratorConfig {
        accounts: 1,
        regions: 1,
        seed,
        ..GeneratorConfig::default()
    });
    let mut out = Vec::with_capacity(n);
    let mut parsed = Vec::new();
    while out.len() < n {
        parsed.clear();
        parse_message(
            &Bytes::from(gen.next_record()),
            &Default::default(),
            &mut parsed,
        );
        out.extend(parsed.drain(..).flatten());
    }
    out
}

/// Per-minute counts of one API as fed to the detector.
#[derive(Default, Clone, Copy, Debug)]
pub struct Tally {
    pub calls: u64,
    pub writes: u64,
    pub errors: u64,
}

/// Replays a pool through a detector and remembers what one API received.
pub struct Sim {
    pub pool: Vec<Event>,
    cursor: usize,
    pub det: Detector,
    pub out: Vec<InsightRecord>,
    pub target: (String, String),
    pub ledger: BTreeMap<i64, Tally>,
    pub fed: u64,
    /// More detectors fed the same records, with what they emitted.
    pub shadows: Vec<(Detector, Vec<InsightRecord>)>,
}

impl Sim {
    pub fn new(pool: Vec<Event>, det: Detector, source: &str, name: &str) -> Self {
        Self {
            pool,
            cursor: 0,
            det,
            out: Vec::new(),
            target: (source.into(), name.into()),
            ledger: BTreeMap::new(),
            fed: 0,
            shadows: Vec::new(),
        }
    }

    fn record(
        det: &mut Detector,
        out: &mut Vec<InsightRecord>,
        ledger: &mut BTreeMap<i64, Tally>,
        target: &(String, String),
        shadows: &mut [(Detector, Vec<InsightRecord>)],
        e: &Event,
    ) {
        for (d, o) in shadows.iter_mut() {
            o.extend(d.observe(e));
        }
        let f = &e.fields;
        if f.event_source.as_deref() == Some(target.0.as_str())
            && f.event_name.as_deref() == Some(target.1.as_str())
        {
            let t = ledger.entry(f.event_time.div_euclid(60)).or_default();
            t.calls += 1;
            t.writes += u64::from(f.read_only == Some(false));
            t.errors += u64::from(f.error_code.is_some());
        }
        out.extend(det.observe(e));
    }

    pub fn feed(&mut self, e: &Event) {
        self.fed += 1;
        Self::record(
            &mut self.det,
            &mut self.out,
            &mut self.ledger,
            &self.target,
            &mut self.shadows,
            e,
        );
    }

    /// `n` pool records spread evenly over minute `m`.
    pub fn minute(&mut self, m: i64, n: usize) {
        for i in 0..n {
            let idx = self.cursor % self.pool.len();
            self.cursor += 1;
            let e = &mut self.pool[idx];
            e.fields.event_time = m * 60 + (i * 60 / n.max(1)) as i64;
            self.fed += 1;
            Self::record(
                &mut self.det,
                &mut self.out,
                &mut self.ledger,
                &self.target,
                &mut self.shadows,
                e,
            );
        }
    }

    /// `templates` (cycled) `n` times at second 30 of minute `m`.
    pub fn inject(&mut self, m: i64, templates: &mut [Event], n: usize) {
        for i in 0..n {
            let e = &mut templates[i % templates.len()];
            e.fields.event_time = m * 60 + 30;
            self.fed += 1;
            Self::record(
                &mut self.det,
                &mut self.out,
                &mut self.ledger,
                &self.target,
                &mut self.shadows,
                e,
            );
        }
    }

    /// Average per minute of `f(tally)` over `[from, to)`.
    pub fn average(&self, from: i64, to: i64, f: impl Fn(&Tally) -> u64) -> f64 {
        let sum: u64 = self.ledger.range(from..to).map(|(_, t)| f(t)).sum();
        sum as f64 / (to - from) as f64
    }
}

/// Pool records of one API, cloned.
pub fn templates(pool: &[Event], source: &str, name: &str, n: usize) -> Vec<Event> {
    pool.iter()
        .filter(|e| {
            e.fields.event_source.as_deref() == Some(source)
                && e.fields.event_name.as_deref() == Some(name)
        })
        .take(n)
        .cloned()
        .collect()
}

/// Share of pool records that are calls of one API.
pub fn share(pool: &[Event], source: &str, name: &str) -> f64 {
    templates(pool, source, name, usize::MAX).len() as f64 / pool.len() as f64
}

/// A Poisson variate (Knuth below 30, normal approximation above).
pub fn poisson(rng: &mut StdRng, lambda: f64) -> usize {
    if lambda < 30.0 {
        let l = (-lambda).exp();
        let (mut k, mut p) = (0usize, 1.0f64);
        loop {
            p *= rng.random::<f64>();
            if p <= l {
                return k;
            }
            k += 1;
        }
    }
    let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-300), rng.random());
    let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
    (lambda + z * lambda.sqrt()).round().max(0.0) as usize
}

pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// The parsed JSON of a record.
pub fn json(r: &InsightRecord) -> serde_json::Value {
    serde_json::from_slice(&r.json).expect("records are JSON")
}

/// `insightDetails.insightContext.statistics` of a record.
pub fn stats(r: &InsightRecord) -> serde_json::Value {
    json(r)["insightDetails"]["insightContext"]["statistics"].clone()
}

/// The attribution list `which` ("insight"/"baseline") of `attribute`.
pub fn attribution(r: &InsightRecord, attribute: &str, which: &str) -> Vec<(String, f64)> {
    let j = json(r);
    let list = j["insightDetails"]["insightContext"]["attributions"]
        .as_array()
        .expect("attributions array")
        .iter()
        .find(|a| a["attribute"] == attribute)
        .expect("attribute present")[which]
        .as_array()
        .expect("list")
        .clone();
    list.iter()
        .map(|v| {
            (
                v["value"].as_str().expect("value").to_owned(),
                v["average"].as_f64().expect("average"),
            )
        })
        .collect()
}

pub fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * b.abs().max(1.0)
}
