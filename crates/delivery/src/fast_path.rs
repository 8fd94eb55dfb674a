//! What every fast path (CloudWatch Logs, rules' targets) shares as a [`Sink`](crate::Sink):
//! records are handed to their stage as the batcher reads them, and a segment is acknowledged
//! only once every fast-path unit in its offsets is settled ([`fast_path_step`]); the stage's
//! delivery tasks catch panics so that every unit still settles ([`panic_message`] names them).

use trailpipe_batcher::{FastPending, Segment};

use crate::{Ledger, Step};

/// A fast path's share of `seg`: waits until every unit `pending` holds below the segment's
/// end is settled, and hands the records refused for good to the dead letters through `ledger`.
pub async fn fast_path_step(pending: &FastPending, seg: &Segment, ledger: &mut Ledger) -> Step {
    let refused = pending
        .wait_through(&seg.partition, seg.epoch, seg.end)
        .await;
    ledger.refused.extend(refused);
    Step::Durable
}

/// The message a panic carried (`panic!` with a literal or a format string), for logs and
/// dead-letter reasons.
pub fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

#[cfg(test)]
mod tests {
    #[test]
    fn panic_messages_are_read_from_literal_and_formatted_panics() {
        let caught = |f: fn()| std::panic::catch_unwind(f).expect_err("panics");
        assert_eq!(super::panic_message(&*caught(|| panic!("plain"))), "plain");
        assert_eq!(
            super::panic_message(&*caught(|| panic!("formatted {}", 7))),
            "formatted 7"
        );
        assert_eq!(
            super::panic_message(&*caught(|| std::panic::panic_any(7u8))),
            "(no message)"
        );
    }
}
