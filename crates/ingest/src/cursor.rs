//! Offset continuity of one partition of a whole-stream reader, as decisions only
//! ([`Cursor::on_message`] → [`Verdict`], [`Cursor::on_check`] → a seek target), which the
//! reader loop executes.
//!
//! Invariant: an offset is accepted only when it is the expected one, or when a jump past the
//! expected one was verified — a seek back before it returned an earlier record (so the broker
//! did return the neighbourhood and the missing offsets do not exist: compaction, transaction
//! markers, retention), or the seeks reached the partition's start. tansu 0.6 answers a fetch
//! from inside a record batch with the next batch (records silently skipped) or, at the tail,
//! with nothing; these are the group consumer's rules (`trailpipe_ingest::kafka`) for the same
//! defects.

/// Checks in a row with nothing read of a partition below its high watermark, while the whole
/// reader read nothing, before it is sought back.
const STALL_CHECKS: u32 = 2;
/// The same while other partitions are read (a prefetch queue full of theirs is not a stall).
const STARVED_CHECKS: u32 = 15;
/// First distance of a corrective seek before the expected offset (doubled on each retry);
/// also how far before its recorded progress a partition starts being read.
pub(super) const SEEK_BACK_FIRST: i64 = 512;

/// What to do with a message (see [`Cursor::on_message`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// At the expected offset: index it.
    Accept,
    /// Before the expected offset (re-read after a seek): already indexed.
    Skip,
    /// Offsets before it were not returned: seek here and read again to verify.
    SeekBack(i64),
    /// Offsets `[expected, offset)` were verified not to exist: index it.
    Gap {
        /// The offset that was expected.
        expected: i64,
    },
}

/// Where one partition is, and what the last corrective seeks found (see the module).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Cursor {
    /// The next offset to index; `None` until the first message (start unknown).
    pub(super) expect: Option<i64>,
    /// How far before `expect` the last corrective seek went.
    seek_back: Option<i64>,
    /// Whether a message before `expect` arrived since the last corrective seek.
    reread: bool,
    /// Checks in a row with nothing read.
    idle_checks: u32,
    /// A high watermark found to have nothing readable between `expect` and it (transaction
    /// markers, compaction): no more stall seeks until it moves.
    quiet_high: Option<i64>,
}

impl Cursor {
    pub(super) fn new(expect: Option<i64>) -> Self {
        Self {
            expect,
            seek_back: None,
            reread: false,
            idle_checks: 0,
            quiet_high: None,
        }
    }

    /// What to do with the message at `offset`.
    pub(super) fn on_message(&mut self, offset: i64) -> Verdict {
        self.idle_checks = 0;
        let mut verdict = Verdict::Accept;
        if let Some(e) = self.expect {
            if offset < e {
                self.reread = true;
                return Verdict::Skip;
            }
            if offset > e {
                let exhausted = self.seek_back.is_some_and(|b| b >= e);
                if !self.reread && !exhausted {
                    return Verdict::SeekBack(self.next_seek(e));
                }
                verdict = Verdict::Gap { expected: e };
            }
        }
        self.expect = Some(offset + 1);
        self.seek_back = None;
        self.reread = false;
        verdict
    }

    /// One periodic check with the partition's high watermark (when known); the offset to
    /// seek to when the partition is stalled below it.
    pub(super) fn on_check(&mut self, high: Option<i64>, consumer_idle: bool) -> Option<i64> {
        self.idle_checks += 1;
        let (e, high) = (self.expect?, high?);
        let threshold = if consumer_idle {
            STALL_CHECKS
        } else {
            STARVED_CHECKS
        };
        if self.idle_checks < threshold || high <= e || self.quiet_high == Some(high) {
            return None;
        }
        self.idle_checks = 0;
        if self.reread {
            // The last seek re-read offsets before `e` and nothing at or after it came.
            (self.quiet_high, self.seek_back, self.reread) = (Some(high), None, false);
            return None;
        }
        if self.seek_back.is_some_and(|b| b >= e) {
            self.seek_back = None;
        }
        Some(self.next_seek(e))
    }

    /// One periodic check while the partition is paused on purpose: not a stall.
    pub(super) fn on_paused(&mut self) {
        self.idle_checks = 0;
    }

    /// 0, then [`SEEK_BACK_FIRST`], then doubling, before `e`.
    fn next_seek(&mut self, e: i64) -> i64 {
        let back = match self.seek_back {
            None => 0,
            Some(0) => SEEK_BACK_FIRST,
            Some(b) => b.saturating_mul(2),
        };
        self.seek_back = Some(back);
        self.reread = false;
        (e - back).max(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_offsets_are_accepted_and_earlier_ones_skipped() {
        let mut c = Cursor::new(Some(10));
        assert_eq!(c.on_message(10), Verdict::Accept);
        assert_eq!(c.on_message(11), Verdict::Accept);
        assert_eq!(c.on_message(5), Verdict::Skip);
        assert_eq!(c.expect, Some(12));
        let mut unknown = Cursor::new(None);
        assert_eq!(unknown.on_message(7), Verdict::Accept);
        assert_eq!(unknown.expect, Some(8));
    }

    #[test]
    fn a_jump_is_verified_by_seeking_back_before_it_is_accepted() {
        // tansu answered a fetch from inside a batch with the next batch: 100..=149 missing.
        let mut c = Cursor::new(Some(100));
        assert_eq!(c.on_message(150), Verdict::SeekBack(100));
        assert_eq!(
            c.on_message(150),
            Verdict::SeekBack(0),
            "512 back, clamped at 0"
        );
        // The seek back returns earlier records (skipped), then the missing ones.
        assert_eq!(c.on_message(60), Verdict::Skip);
        assert_eq!(c.on_message(100), Verdict::Accept);
        // A real gap (compaction): after re-reading the neighbourhood, the jump is accepted.
        let mut c = Cursor::new(Some(1000));
        assert_eq!(c.on_message(1005), Verdict::SeekBack(1000));
        assert_eq!(
            c.on_message(1005),
            Verdict::SeekBack(1000 - SEEK_BACK_FIRST)
        );
        assert_eq!(c.on_message(999), Verdict::Skip);
        assert_eq!(c.on_message(1005), Verdict::Gap { expected: 1000 });
        assert_eq!(c.expect, Some(1006));
        // At the partition's start nothing earlier exists: the jump is accepted.
        let mut c = Cursor::new(Some(3));
        assert_eq!(c.on_message(9), Verdict::SeekBack(3));
        assert_eq!(c.on_message(9), Verdict::SeekBack(0));
        assert_eq!(c.on_message(9), Verdict::Gap { expected: 3 });
    }

    #[test]
    fn a_partition_reading_nothing_below_its_high_watermark_is_sought_back() {
        let mut c = Cursor::new(Some(50));
        // Nothing to read: no seek.
        for _ in 0..10 {
            assert_eq!(c.on_check(Some(50), true), None);
        }
        let mut c = Cursor::new(Some(50));
        assert_eq!(c.on_check(Some(80), true), None);
        assert_eq!(c.on_check(Some(80), true), Some(50));
        // While other partitions are read, it takes longer.
        let mut busy = Cursor::new(Some(50));
        let seeks: Vec<_> = (0..STARVED_CHECKS)
            .map(|_| busy.on_check(Some(80), false))
            .collect();
        assert_eq!(seeks.iter().flatten().count(), 1);
        assert_eq!(seeks.last(), Some(&Some(50)));
        // Escalates, and when the re-read finds nothing at or after 50, stops until the high
        // watermark moves.
        assert_eq!(c.on_check(Some(80), true), None);
        assert_eq!(
            c.on_check(Some(80), true),
            Some(50 - SEEK_BACK_FIRST).map(|t| t.max(0))
        );
        assert_eq!(c.on_message(10), Verdict::Skip);
        assert_eq!(c.on_check(Some(80), true), None);
        assert_eq!(c.on_check(Some(80), true), None);
        assert_eq!(c.quiet_high, Some(80));
        for _ in 0..5 {
            assert_eq!(c.on_check(Some(80), true), None);
        }
        assert_eq!(c.on_check(Some(81), true), Some(50));
        // A message resets the idle count.
        let mut c = Cursor::new(Some(50));
        assert_eq!(c.on_check(Some(80), true), None);
        assert_eq!(c.on_message(50), Verdict::Accept);
        assert_eq!(c.on_check(Some(80), true), None);
        assert_eq!(c.on_check(None, true), None, "no watermark: no decision");
    }
}
