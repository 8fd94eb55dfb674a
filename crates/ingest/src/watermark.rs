//! The offset watermark: which offset of each partition may be committed.
//!
//! Invariant: the committable offset of a partition is the end of the longest run of
//! acknowledged, contiguous segments starting at the resume point — never "the latest
//! delivered" offset, which would skip an earlier segment still in flight. Acknowledgements from
//! an older assignment (epoch) of a partition are ignored: after a revoke, late completions can
//! never move a watermark.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use trailpipe_event::{Epoch, PartitionId, SegmentAck};

#[derive(Debug)]
struct Mark {
    epoch: Epoch,
    /// Every offset below `next` is done; `None` until the first message of the assignment.
    next: Option<i64>,
    /// Acknowledged segments beyond `next`, by start offset.
    ahead: BTreeMap<i64, i64>,
}

/// Per-partition watermarks of acknowledged segments.
#[derive(Debug, Default)]
pub struct Watermarks {
    marks: HashMap<Arc<PartitionId>, Mark>,
}

impl Watermarks {
    /// Starts tracking a partition under a new epoch, replacing any older state.
    pub fn assign(&mut self, p: Arc<PartitionId>, epoch: Epoch) {
        self.marks.insert(
            p,
            Mark {
                epoch,
                next: None,
                ahead: BTreeMap::new(),
            },
        );
    }

    /// Records the offset of the first message read under `epoch`: the resume point.
    pub fn begin(&mut self, p: &PartitionId, epoch: Epoch, first_offset: i64) {
        if let Some(m) = self.marks.get_mut(p) {
            if m.epoch == epoch && m.next.is_none() {
                m.next = Some(first_offset);
            }
        }
    }

    /// Applies an acknowledgement; returns the new watermark when it advanced.
    pub fn ack(&mut self, ack: &SegmentAck) -> Option<i64> {
        let m = self.marks.get_mut(&*ack.partition)?;
        if m.epoch != ack.epoch || ack.end <= ack.start {
            return None;
        }
        let next = m.next?;
        if ack.end <= next {
            return None;
        }
        m.ahead.insert(ack.start, ack.end);
        let mut advanced = next;
        while let Some(end) = m.ahead.remove(&advanced) {
            advanced = end;
        }
        // Drop segments the watermark has already passed (cannot happen with contiguous
        // segments, but keeps `ahead` bounded if a segment is ever acknowledged twice).
        m.ahead.retain(|&start, _| start > advanced);
        (advanced > next).then(|| {
            m.next = Some(advanced);
            advanced
        })
    }

    /// Stops tracking a partition (revoked); its later acknowledgements are ignored.
    pub fn revoke(&mut self, p: &PartitionId) {
        self.marks.remove(p);
    }

    /// The committable offset of a partition (every offset below it is done).
    pub fn watermark(&self, p: &PartitionId) -> Option<i64> {
        self.marks.get(p).and_then(|m| m.next)
    }

    /// Whether the watermark of `p` has reached `end` (every offset below it is done).
    pub fn reached(&self, p: &PartitionId, end: i64) -> bool {
        self.watermark(p).is_some_and(|w| w >= end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pid() -> Arc<PartitionId> {
        Arc::new(PartitionId {
            source: "t".into(),
            partition: 0,
        })
    }

    fn ack(p: &Arc<PartitionId>, epoch: Epoch, start: i64, end: i64) -> SegmentAck {
        SegmentAck {
            partition: p.clone(),
            epoch,
            start,
            end,
            delivered: 0,
        }
    }

    #[test]
    fn an_earlier_segment_in_flight_holds_the_watermark_back() {
        let p = pid();
        let mut w = Watermarks::default();
        w.assign(p.clone(), 1);
        w.begin(&p, 1, 100);
        assert_eq!(w.ack(&ack(&p, 1, 150, 200)), None);
        assert_eq!(w.watermark(&p), Some(100));
        assert_eq!(w.ack(&ack(&p, 1, 100, 150)), Some(200));
    }

    #[test]
    fn acks_from_an_older_epoch_are_fenced() {
        let p = pid();
        let mut w = Watermarks::default();
        w.assign(p.clone(), 1);
        w.begin(&p, 1, 0);
        w.revoke(&p);
        w.assign(p.clone(), 2);
        w.begin(&p, 2, 0);
        assert_eq!(w.ack(&ack(&p, 1, 0, 10)), None);
        assert_eq!(w.watermark(&p), Some(0));
        assert_eq!(w.ack(&ack(&p, 2, 0, 10)), Some(10));
    }

    proptest! {
        /// Model: offsets [0, n) are split into contiguous segments acknowledged in a random
        /// order; after each ack the watermark equals the end of the longest acknowledged prefix
        /// of segments, computed naively.
        #[test]
        fn watermark_is_the_longest_acknowledged_prefix(
            cuts in proptest::collection::btree_set(1i64..500, 0..40),
            order_seed in any::<u64>(),
        ) {
            let p = pid();
            let mut bounds: Vec<i64> = std::iter::once(0).chain(cuts).chain(std::iter::once(500)).collect();
            bounds.dedup();
            let segs: Vec<(i64, i64)> = bounds.windows(2).map(|w| (w[0], w[1])).collect();
            let mut order: Vec<usize> = (0..segs.len()).collect();
            // Deterministic shuffle from the seed.
            let mut s = order_seed | 1;
            for i in (1..order.len()).rev() {
                s ^= s << 13; s ^= s >> 7; s ^= s << 17;
                order.swap(i, (s % (i as u64 + 1)) as usize);
            }
            let mut w = Watermarks::default();
            w.assign(p.clone(), 7);
            w.begin(&p, 7, 0);
            let mut acked = vec![false; segs.len()];
            for &i in &order {
                let before = w.watermark(&p);
                let got = w.ack(&ack(&p, 7, segs[i].0, segs[i].1));
                acked[i] = true;
                let prefix = acked.iter().take_while(|&&a| a).count();
                let model = if prefix == 0 { 0 } else { segs[prefix - 1].1 };
                prop_assert_eq!(w.watermark(&p), Some(model));
                prop_assert_eq!(got.is_some(), Some(model) != before);
            }
            prop_assert_eq!(w.watermark(&p), Some(500));
        }
    }
}
