//! A deterministic generator of realistic CloudTrail records, for the demo, tests and benchmarks.
//!
//! Invariant: the stream is a pure function of [`GeneratorConfig`]: the same configuration yields
//! byte-identical records on every run and platform (the PRNG is this crate's own, see `rng`).
//! Within one stream every `eventID` and `requestID` is distinct by construction, not merely by
//! probability.
//!
//! The mix follows what trails see in practice: about 63% management reads, 25% management
//! writes, 10% data events (S3 objects in [`S3_BUCKETS`], Lambda [`LAMBDA_FUNCTIONS`]) and 2%
//! console sign-ins; about 5% of API calls fail with `AccessDenied`-style errors. Records are
//! single-line JSON averaging about 1.5 KB (real trails: 1.2–1.5 KB), written straight into
//! the caller's buffer at over a million records per second.
//!
//! [`bad_inputs`] lists malformed inputs for every reject code of `trailpipe-event` except
//! `too_large`, which depends on the configured limit.

mod api;
mod bad;
mod catalog;
mod fmt;
mod identity;
mod record;
mod rng;
#[cfg(feature = "samples")]
mod samples;

pub use bad::bad_inputs;
pub use catalog::{LAMBDA_FUNCTIONS, REGIONS, S3_BUCKETS};
#[cfg(feature = "samples")]
pub use samples::sample_records;

use identity::Account;
use rng::Rng;

/// 2026-01-01T00:00:00Z, the default time of the first event.
pub const DEFAULT_START_TIME: i64 = 1_767_225_600;

/// What stream to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorConfig {
    /// Number of AWS accounts (at least 1 is used); their 12-digit ids derive from `seed`.
    pub accounts: usize,
    /// Number of regions, a prefix of [`REGIONS`] (clamped to `1..=REGIONS.len()`).
    pub regions: usize,
    /// Seed of everything random: ids, names, the mix, the order.
    pub seed: u64,
    /// `eventTime` of the first record, in seconds since the Unix epoch.
    pub start_time: i64,
    /// Spacing of `eventTime`: record `n` happens at `start_time + floor(n / events_per_second)`.
    /// Infinity puts every record at `start_time`; zero, negative or NaN means 1.
    pub events_per_second: f64,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        Self {
            accounts: 3,
            regions: 3,
            seed: 1,
            start_time: DEFAULT_START_TIME,
            events_per_second: 100.0,
        }
    }
}

/// Share of records per class, per mille; reads take the rest.
const CONSOLE_PER_MILLE: u64 = 20;
const DATA_PER_MILLE: u64 = 100;
const WRITE_PER_MILLE: u64 = 250;

/// An endless, deterministic stream of CloudTrail records.
#[derive(Debug)]
pub struct Generator {
    rng: Rng,
    accounts: Vec<Account>,
    regions: &'static [&'static str],
    start_time: i64,
    events_per_second: f64,
    /// Index of the next record.
    seq: u64,
    event_id_key: u64,
    request_id_key: u64,
    // Scratch buffers reused across records.
    body: Vec<u8>,
    resources: Vec<u8>,
    request_id: Vec<u8>,
}

impl Generator {
    /// Builds the accounts and principals of the stream described by `cfg`.
    pub fn new(cfg: GeneratorConfig) -> Self {
        let mut rng = Rng::new(cfg.seed);
        let regions = &REGIONS[..cfg.regions.clamp(1, REGIONS.len())];
        let accounts = identity::account_ids(&mut rng, cfg.accounts.max(1))
            .into_iter()
            .map(|id| Account::new(&mut rng, id, cfg.start_time))
            .collect();
        let events_per_second = if cfg.events_per_second > 0.0 {
            cfg.events_per_second
        } else {
            1.0
        };
        Self {
            event_id_key: rng.next_u64(),
            request_id_key: rng.next_u64(),
            rng,
            accounts,
            regions,
            start_time: cfg.start_time,
            events_per_second,
            seq: 0,
            body: Vec::with_capacity(2048),
            resources: Vec::with_capacity(512),
            request_id: Vec::with_capacity(36),
        }
    }

    /// Appends one record to `out`: a compact, single-line JSON object, no trailing newline.
    pub fn write_record(&mut self, out: &mut Vec<u8>) {
        let now = self
            .start_time
            .saturating_add((self.seq as f64 / self.events_per_second) as i64);
        let account = self.rng.below(self.accounts.len() as u64) as usize;
        let roll = self.rng.below(1000);
        if roll < CONSOLE_PER_MILLE {
            self.write_console_login(account, now, out);
        } else {
            let (table, data) = if roll < CONSOLE_PER_MILLE + DATA_PER_MILLE {
                (api::DATA, true)
            } else if roll < CONSOLE_PER_MILLE + DATA_PER_MILLE + WRITE_PER_MILLE {
                (api::WRITES, false)
            } else {
                (api::READS, false)
            };
            let api = &table[self.rng.weighted(table.iter().map(|a| a.weight))];
            self.write_api_call(account, api, data, now, out);
        }
        self.seq += 1;
    }

    /// The next record as a `String` (convenience over [`Generator::write_record`]).
    pub fn next_record(&mut self) -> String {
        let mut out = Vec::with_capacity(2048);
        self.write_record(&mut out);
        String::from_utf8(out).expect("records are built from ASCII pieces")
    }

    /// The accounts' 12-digit ids, in the order the stream draws them from.
    pub fn account_ids(&self) -> Vec<&str> {
        self.accounts.iter().map(|a| a.id.as_str()).collect()
    }

    /// The regions in use (a prefix of [`REGIONS`]); IAM, STS and sign-in events are always
    /// in `us-east-1`, the first.
    pub fn regions(&self) -> &'static [&'static str] {
        self.regions
    }

    /// How many records have been written so far.
    pub fn records_written(&self) -> u64 {
        self.seq
    }
}

#[cfg(test)]
mod tests;
