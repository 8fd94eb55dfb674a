//! The segment commit protocol: a segment's offsets are acknowledged only once every registered
//! [`Sink`] holds its share of the segment durably, so after any crash, rebalance or restart
//! every record is either in every sink or read again — never lost. The key point, as in
//! rust-rdkafka's `at_least_once` example, is that the acknowledgement (and with it the commit,
//! which follows the partition's contiguous watermark in `trailpipe-ingest`) comes last. Files
//! come out exactly once on top of that because a segment is a pure function of its offsets and
//! its files are written create-only: a replay finds them and writes nothing new.
//!
//! How a segment moves ([`Delivery`]):
//! 1. Segments of one partition and epoch go through one worker, one after another, in cut
//!    order. So a missing anchor file after a crash proves that no later segment of that
//!    partition was written — the batcher's replay relies on this.
//! 2. Each segment visits the sinks in the order they were registered; a sink resolves once its
//!    share is durable (it retries what can be retried itself, with its service's retry
//!    classification) and says how it ended ([`Step`]). The log files come first — their
//!    anchor file decides whether the segment may be written at all — and the dead letters come
//!    after every sink that can refuse records ([`Ledger::refused`]).
//! 3. Only after the last sink is the segment acknowledged ([`Feedback::Delivered`]). A sink
//!    that finds a different cut at the anchor file's key stops the segment before anything is
//!    written and the partition is re-read from the segment's start ([`Feedback::Rewind`]);
//!    every later segment of the epoch is dropped unwritten. A sink that finds stored data it
//!    cannot explain stops the segment for good: the watermark stays there (lag and `/readyz`
//!    show it), the offsets never pass it.
//!
//! Adding a destination means implementing [`Sink`] in its own crate and registering it with
//! [`Delivery::register`] where the pipeline is wired; nothing here changes.

mod coordinator;
mod fast_path;
mod health;

use futures::future::BoxFuture;
use trailpipe_batcher::Segment;
use trailpipe_event::DeadLetter;

pub use coordinator::{Delivery, Outcome};
pub use fast_path::{fast_path_step, panic_message};
pub use health::{SinkHealth, SinkStatus};
pub use trailpipe_event::Feedback;

/// A destination of segments: log files in the bucket, CloudWatch Logs, SNS notifications, the
/// event history, dead letters.
///
/// Contract: [`Sink::deliver`] resolves only once the sink's share of the segment is durable
/// (or can never be), retrying transient failures itself; it must be idempotent, because a
/// segment whose acknowledgement was lost is delivered again after a restart.
pub trait Sink: Send + Sync {
    /// The sink's name, for logs.
    fn name(&self) -> &'static str;

    /// Makes this sink's share of `seg` durable. `ledger` carries what the sinks before it
    /// found (records written, records refused for good) to the sinks after it.
    fn deliver<'a>(&'a self, seg: &'a Segment, ledger: &'a mut Ledger) -> BoxFuture<'a, Step>;
}

/// How one sink's share of a segment ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Durable in this sink: the next sink may go.
    Durable,
    /// The anchor file's key holds a different cut (an earlier owner's upload landed after the
    /// replay's lookup missed it): nothing of the segment was written; re-read the partition from
    /// the segment's start so the replay adopts the stored cut.
    Rewind,
    /// The sink holds data that contradicts the segment (the reason): never acknowledge it.
    Stuck(String),
}

/// What the sinks of one segment tell each other, in registration order.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Records written to log files for the first time (a replay that found its files adds 0);
    /// reported in the acknowledgement.
    pub delivered: u64,
    /// Records a sink refused for good, each with its reason; the dead-letter sink writes them
    /// with the segment's own dead letters.
    pub refused: Vec<DeadLetter>,
}

#[cfg(test)]
mod tests;
