//! `STATUS=` lines that show throughput: cumulative counters turned into rates between two
//! updates, and a task that publishes such a line periodically.

use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

/// Turns cumulative record counters into a status line with per-second rates since the previous
/// line. The first line has no previous sample and shows totals only.
#[derive(Debug, Default)]
pub struct Throughput {
    last: Option<(Instant, u64, u64)>,
}

impl Throughput {
    /// A tracker with no previous sample.
    pub fn new() -> Self {
        Self::default()
    }

    /// `"received N records (R/s), delivered M (D/s)"` for the cumulative counts now.
    pub fn status_line(&mut self, received: u64, delivered: u64) -> String {
        self.status_line_at(Instant::now(), received, delivered)
    }

    /// [`Throughput::status_line`] at a given instant (for tests and callers with their own clock).
    pub fn status_line_at(&mut self, now: Instant, received: u64, delivered: u64) -> String {
        let line = match self.last {
            Some((then, r0, d0)) if now > then => {
                let secs = (now - then).as_secs_f64();
                // Counters only grow; a restart of the counting side would look like a decrease.
                let rate = |n: u64, n0: u64| n.saturating_sub(n0) as f64 / secs;
                format!(
                    "received {received} records ({:.0}/s), delivered {delivered} ({:.0}/s)",
                    rate(received, r0),
                    rate(delivered, d0)
                )
            }
            _ => format!("received {received} records, delivered {delivered}"),
        };
        self.last = Some((now, received, delivered));
        line
    }
}

/// Publishes `status()` as `STATUS=` every `every`, starting now. Returns `None` (and spawns
/// nothing) when no service manager is listening. Must be called inside a Tokio runtime.
pub fn spawn_status_updates<F>(every: Duration, mut status: F) -> Option<JoinHandle<()>>
where
    F: FnMut() -> String + Send + 'static,
{
    if !crate::is_supervised() || every.is_zero() {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            crate::notify_status(&status());
        }
    }))
}
