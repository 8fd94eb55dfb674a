//! Service-manager integration for the trailpipe daemon: tells systemd (or any manager speaking
//! the `sd_notify(3)` protocol) when the pipeline is ready, reloading or stopping, what it is doing
//! (`STATUS=`), and that it is still alive (`WATCHDOG=1`).
//!
//! Invariants:
//! - Every function is a no-op when `NOTIFY_SOCKET` is unset (a terminal, a container, a test):
//!   nothing is sent and no task is spawned.
//! - A notification that cannot be sent is logged and otherwise ignored: the service manager's
//!   own timeouts (start, watchdog) are what turn a silent daemon into a restart, so a failed
//!   send must never stop the pipeline.
//! - One call sends one datagram; a `STATUS=` text never contains a newline, so it cannot smuggle
//!   a second assignment (`READY=1`) into the message.

mod status;
mod watchdog;

use sd_notify::NotifyState;

pub use status::{spawn_status_updates, Throughput};
pub use watchdog::{spawn_watchdog, watchdog_interval};

/// The environment variable naming the service manager's notification socket.
const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// True when a service manager asked for notifications (`NOTIFY_SOCKET` is set and non-empty).
pub fn is_supervised() -> bool {
    std::env::var_os(NOTIFY_SOCKET).is_some_and(|s| !s.is_empty())
}

/// `READY=1`: startup is finished (the source is consuming). Also sent after a reload completes.
pub fn notify_ready() {
    send("READY=1", &[NotifyState::Ready]);
}

/// `STATUS=<text>`: a one-line, human-readable state shown by `systemctl status`.
/// Newlines in `text` are replaced by spaces.
pub fn notify_status(text: &str) {
    let line = one_line(text);
    send("STATUS", &[NotifyState::Status(&line)]);
}

/// `STOPPING=1`: shutdown has begun (sent on SIGTERM, before the final delivery and commit).
pub fn notify_stopping() {
    send("STOPPING=1", &[NotifyState::Stopping]);
}

/// `RELOADING=1` with `MONOTONIC_USEC=<now>` (systemd ≥ 253 requires the timestamp to match a
/// reload to its request); send [`notify_ready`] once the new configuration is applied or refused.
pub fn notify_reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send("RELOADING=1", &[NotifyState::Reloading, now]),
        Err(e) => {
            tracing::debug!(error = %e, "no monotonic clock for MONOTONIC_USEC; sending RELOADING=1 alone");
            send("RELOADING=1", &[NotifyState::Reloading]);
        }
    }
}

/// Sends one datagram when supervised; logs (never returns) a failure.
fn send(what: &str, states: &[NotifyState<'_>]) {
    if !is_supervised() {
        return;
    }
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(notification = what, error = %e, "could not notify the service manager");
    }
}

/// `text` with every line break replaced by a space: the protocol is one assignment per line.
fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests;
