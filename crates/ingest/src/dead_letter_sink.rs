//! [`DeadLetters`]: the dead-letter destination as a segment sink — the segment's own rejected
//! records and those an earlier sink refused for good ([`Ledger::refused`]), written before the
//! acknowledgement, so an offset counts as done only once its letter is durable.

use futures::future::BoxFuture;
use trailpipe_batcher::Segment;
use trailpipe_delivery::{Ledger, Sink, SinkHealth, Step};
use trailpipe_event::DeadLetter;
use trailpipe_telemetry as names;

use crate::DeadLetterWriter;

/// Writes a segment's dead letters; registered after every sink that can refuse records.
pub struct DeadLetters {
    writer: DeadLetterWriter,
    health: SinkHealth,
}

impl DeadLetters {
    /// Writes through `writer`; a destination that refuses is shown in `health` until it
    /// accepts again.
    pub fn new(writer: DeadLetterWriter, health: SinkHealth) -> Self {
        Self { writer, health }
    }
}

impl Sink for DeadLetters {
    fn name(&self) -> &'static str {
        "dead_letters"
    }

    /// Retries until every letter is written: the partition waits behind a letter that cannot
    /// be written rather than commit past it.
    fn deliver<'a>(&'a self, seg: &'a Segment, ledger: &'a mut Ledger) -> BoxFuture<'a, Step> {
        Box::pin(async move {
            let letters: Vec<DeadLetter> = seg
                .dead_letters
                .iter()
                .cloned()
                .chain(ledger.refused.drain(..))
                .collect();
            if letters.is_empty() {
                return Step::Durable;
            }
            trailpipe_retry::until_ok(
                || self.writer.write(&letters),
                |_| trailpipe_retry::ErrorClass::Retriable,
                |e| {
                    let e = e.to_string();
                    tracing::error!(partition = %seg.partition, error = %e, "dead-letter write failed; the partition waits for it (retrying)");
                    self.health.dead_letters_failing(e.clone());
                    self.health.error(e);
                },
            )
            .await;
            self.health.dead_letters_written();
            for l in &letters {
                metrics::counter!(names::RECORDS_DEAD_LETTERED, "reason" => l.rejected.reason.code())
                    .increment(1);
            }
            Step::Durable
        })
    }
}
