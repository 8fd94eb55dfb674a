//! The per-API baseline: seven days of per-minute counts compressed to hourly aggregates.
//!
//! Invariant: slot `h % RING_HOURS` holds hour `h` only if its tag says `h`; any other tag means
//! "no calls in that hour" (a stale slot is read as zeros and reset before it is written). Each
//! hour keeps the sum and the sum of squares of its per-minute (winsorized) write counts, so the
//! mean and variance of per-minute counts over any set of whole hours are exact; and the sums of
//! calls and errors, for the error share. 169 slots × 24 bytes ≈ 4 KB per tracked API.

use serde::{Deserialize, Serialize};

/// Hours in the baseline window (seven days).
pub(crate) const BASELINE_HOURS: i64 = 168;
/// Minutes in the baseline window (seven days).
pub const BASELINE_MINUTES: i64 = BASELINE_HOURS * 60;
/// The baseline hours plus the hour being filled.
const RING_HOURS: usize = BASELINE_HOURS as usize + 1;

/// Aggregates of one hour.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Hour {
    /// Hours since the Unix epoch, plus one (0 = never written).
    tag: u32,
    /// Σ per-minute write calls (winsorized during a call-rate insight).
    writes: u32,
    /// Σ per-minute write calls squared.
    writes_sq: u64,
    /// Σ management calls (read and write).
    calls: u32,
    /// Σ management calls with an `errorCode` (winsorized during an error-rate insight).
    errors: u32,
}

/// Sums over a set of baseline hours.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Sums {
    pub minutes: u64,
    pub writes: u64,
    pub writes_sq: u64,
    pub calls: u64,
    pub errors: u64,
}

impl Sums {
    /// Mean and standard deviation of per-minute write counts.
    pub(crate) fn write_mean_sd(&self) -> (f64, f64) {
        if self.minutes == 0 {
            return (0.0, 0.0);
        }
        let n = self.minutes as f64;
        let mean = self.writes as f64 / n;
        let var = (self.writes_sq as f64 / n - mean * mean).max(0.0);
        (mean, var.sqrt())
    }
}

/// Seven days of hourly aggregates for one API.
///
/// Invariant: `ring` holds exactly [`RING_HOURS`] hours (a snapshot that says otherwise is
/// refused when read, not indexed out of bounds later).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "SeriesRepr")]
pub(crate) struct Series {
    ring: Vec<Hour>,
}

/// [`Series`] as a snapshot holds it, before its invariant is checked.
#[derive(Deserialize)]
struct SeriesRepr {
    ring: Vec<Hour>,
}

impl TryFrom<SeriesRepr> for Series {
    type Error = String;

    fn try_from(r: SeriesRepr) -> Result<Self, String> {
        if r.ring.len() == RING_HOURS {
            Ok(Self { ring: r.ring })
        } else {
            Err(format!(
                "an API's hourly series has {} hours, not {RING_HOURS}",
                r.ring.len()
            ))
        }
    }
}

impl Default for Series {
    fn default() -> Self {
        Self {
            ring: vec![Hour::default(); RING_HOURS],
        }
    }
}

fn tag(hour: i64) -> u32 {
    (hour + 1).clamp(1, u32::MAX as i64) as u32
}

impl Series {
    /// Adds one closed minute to its hour.
    pub(crate) fn add_minute(&mut self, minute: i64, writes: u32, calls: u32, errors: u32) {
        let hour = minute.div_euclid(60);
        let slot = &mut self.ring[hour.rem_euclid(RING_HOURS as i64) as usize];
        if slot.tag != tag(hour) {
            *slot = Hour {
                tag: tag(hour),
                ..Hour::default()
            };
        }
        slot.writes = slot.writes.saturating_add(writes);
        slot.writes_sq = slot
            .writes_sq
            .saturating_add(u64::from(writes) * u64::from(writes));
        slot.calls = slot.calls.saturating_add(calls);
        slot.errors = slot.errors.saturating_add(errors);
    }

    fn hour(&self, hour: i64) -> Option<&Hour> {
        let slot = &self.ring[hour.rem_euclid(RING_HOURS as i64) as usize];
        (slot.tag == tag(hour)).then_some(slot)
    }

    /// Sums over `hours` (each in the baseline window of `current_hour`), counting only the
    /// minutes at or after `history_start_minute` (when the (account, region) was first seen).
    pub(crate) fn sums(&self, hours: impl Iterator<Item = i64>, history_start_minute: i64) -> Sums {
        let mut s = Sums::default();
        for h in hours {
            let minutes = (h * 60 + 60 - history_start_minute.max(h * 60)).clamp(0, 60);
            if minutes == 0 {
                continue;
            }
            s.minutes += minutes as u64;
            if let Some(x) = self.hour(h) {
                s.writes += u64::from(x.writes);
                s.writes_sq += x.writes_sq;
                s.calls += u64::from(x.calls);
                s.errors += u64::from(x.errors);
            }
        }
        s
    }

    /// Sums over the whole baseline: the 168 hours before `current_hour`.
    pub(crate) fn baseline(&self, current_hour: i64, history_start_minute: i64) -> Sums {
        self.sums(
            (current_hour - BASELINE_HOURS)..current_hour,
            history_start_minute,
        )
    }

    /// Sums over the same hour of day and its two neighbours on each of the previous seven
    /// days (up to 21 hours): the seasonal baseline.
    pub(crate) fn seasonal(&self, current_hour: i64, history_start_minute: i64) -> Sums {
        let first = current_hour - BASELINE_HOURS;
        let hours = (1..=7i64)
            .flat_map(move |d| (-1..=1i64).map(move |k| current_hour - 24 * d + k))
            .filter(move |h| *h >= first && *h < current_hour);
        self.sums(hours, history_start_minute)
    }

    /// Heap bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.ring.capacity() * std::mem::size_of::<Hour>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baseline_is_exact_over_whole_hours_and_forgets_old_ones() {
        let mut s = Series::default();
        // Hour 1000: minutes with 2 and 4 writes.
        s.add_minute(1000 * 60, 2, 3, 1);
        s.add_minute(1000 * 60 + 1, 4, 4, 0);
        let b = s.baseline(1001, 0);
        assert_eq!(b.minutes, 168 * 60);
        assert_eq!((b.writes, b.writes_sq, b.calls, b.errors), (6, 20, 7, 1));
        // Eight days later the slot is out of the window and reused.
        assert_eq!(s.baseline(1000 + 169, 0).writes, 0);
        s.add_minute((1000 + 169) * 60, 1, 1, 0);
        assert_eq!(s.baseline(1000 + 170, 0).writes, 1);
    }

    #[test]
    fn history_start_limits_minutes() {
        let s = Series::default();
        assert_eq!(s.baseline(10, 9 * 60 + 30).minutes, 30);
        assert_eq!(s.seasonal(48, 0).minutes, 5 * 60);
    }
}
