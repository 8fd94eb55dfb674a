//! The systemd watchdog: when the unit sets `WatchdogSec=`, systemd passes `WATCHDOG_USEC` and
//! kills (then restarts) the service if `WATCHDOG=1` does not arrive within that interval.
//!
//! Invariant: `WATCHDOG=1` is sent at half the requested interval, and only while the caller's
//! health predicate holds — a pipeline that is stuck stops petting the watchdog, so systemd
//! restarts it instead of leaving it hung.

use std::time::Duration;

use tokio::task::JoinHandle;

/// Half of `WATCHDOG_USEC` when a service manager asked this process for watchdog pings
/// (`NOTIFY_SOCKET` set, `WATCHDOG_USEC` > 0, `WATCHDOG_PID` absent or ours); `None` otherwise.
pub fn watchdog_interval() -> Option<Duration> {
    if !crate::is_supervised() {
        return None;
    }
    sd_notify::watchdog_enabled()
        .filter(|d| !d.is_zero())
        .map(|d| d / 2)
}

/// Spawns the task that sends `WATCHDOG=1` every [`watchdog_interval`] while `healthy()` returns
/// true (the first ping is sent at once). Returns `None` and spawns nothing when no watchdog was
/// requested. Must be called inside a Tokio runtime; abort the handle to stop pinging.
pub fn spawn_watchdog<F>(healthy: F) -> Option<JoinHandle<()>>
where
    F: Fn() -> bool + Send + 'static,
{
    let every = watchdog_interval()?;
    tracing::debug!(
        interval_ms = every.as_millis() as u64,
        "systemd watchdog enabled"
    );
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut was_healthy = true;
        loop {
            tick.tick().await;
            let now_healthy = healthy();
            if now_healthy {
                if !was_healthy {
                    tracing::info!("pipeline healthy again; resuming watchdog pings");
                }
                if let Err(e) = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]) {
                    tracing::warn!(error = %e, "could not send WATCHDOG=1");
                }
            } else if was_healthy {
                tracing::warn!("pipeline unhealthy; withholding watchdog pings (systemd restarts the service if this lasts WatchdogSec)");
            }
            was_healthy = now_healthy;
        }
    }))
}
