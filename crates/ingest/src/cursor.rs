//! Offset continuity of one partition, as decisions only ([`PartitionCursor::on_message`] →
//! [`Verdict`], [`PartitionCursor::on_check`] → [`Check`]), which a consumer loop executes: the
//! group consumer ([`crate::run_kafka_source`]) and the whole-stream readers of the binary make
//! the same decisions through this one type.
//!
//! Invariant: an offset is accepted only when it is the expected one, or when a jump past the
//! expected one was verified — a seek back before it returned an earlier record (so the broker
//! did return the neighbourhood and the missing offsets do not exist: compaction, transaction
//! markers, retention), or the seeks reached the partition's start. tansu 0.6 answers a fetch
//! from inside a record batch with the next batch (records silently skipped) or, at the tail,
//! with nothing. Real Kafka skips offsets only where none exist; the verification costs it
//! nothing but one seek per real gap.

/// How many periodic checks with nothing read of a partition below its high watermark make a
/// stall. Counted in checks, not wall time, so a loop blocked by a full pipeline (no checks
/// run) does not mistake backpressure for a stall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StallChecks {
    /// Checks in a row while the whole consumer read nothing.
    pub idle: u32,
    /// Checks in a row while other partitions were read (a prefetch queue holding only
    /// others' records never lasts this long).
    pub starved: u32,
}

impl StallChecks {
    /// The group consumer's (checks every second).
    pub const GROUP: Self = Self {
        idle: 3,
        starved: 30,
    };
    /// A whole-stream reader's (checks every second, reads at the tail most of the time).
    pub const READER: Self = Self {
        idle: 2,
        starved: 15,
    };
}

/// First distance of a corrective seek before the expected offset (doubled on each retry);
/// also how far before its recorded progress a whole-stream reader starts a partition.
pub const SEEK_BACK_FIRST: i64 = 512;

/// What to do with a message (see [`PartitionCursor::on_message`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
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

/// What a periodic check found (see [`PartitionCursor::on_check`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Not stalled (or not known to be).
    Wait,
    /// The last seek back re-read offsets before the expected one and nothing at or after it
    /// came: nothing is readable below this high watermark (transaction markers, compaction);
    /// no more seeks until it moves.
    Quiet,
    /// Stalled below the high watermark: seek here and read again.
    Seek(i64),
}

/// Where one partition is, and what the last corrective seeks found (see the module).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionCursor {
    /// The next offset to accept; `None` until the first message (start unknown).
    expect: Option<i64>,
    stall: StallChecks,
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

impl PartitionCursor {
    /// A partition whose next offset is `expect` (`None`: the first message read is trusted).
    pub fn new(expect: Option<i64>, stall: StallChecks) -> Self {
        Self {
            expect,
            stall,
            seek_back: None,
            reread: false,
            idle_checks: 0,
            quiet_high: None,
        }
    }

    /// The next offset to accept.
    pub fn expect(&self) -> Option<i64> {
        self.expect
    }

    /// Reads on from `expect` (a rewind): what earlier seeks found no longer applies.
    pub fn restart(&mut self, expect: i64) {
        (self.expect, self.seek_back, self.reread) = (Some(expect), None, false);
    }

    /// What to do with the message at `offset`.
    pub fn on_message(&mut self, offset: i64) -> Verdict {
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

    /// One periodic check with the partition's high watermark (when known), `consumer_idle`
    /// when the whole consumer read nothing since the last check.
    pub fn on_check(&mut self, high: Option<i64>, consumer_idle: bool) -> Check {
        self.idle_checks += 1;
        let (Some(e), Some(high)) = (self.expect, high) else {
            return Check::Wait;
        };
        let threshold = if consumer_idle {
            self.stall.idle
        } else {
            self.stall.starved
        };
        if self.idle_checks < threshold || high <= e || self.quiet_high == Some(high) {
            return Check::Wait;
        }
        self.idle_checks = 0;
        if self.reread {
            // The last seek re-read offsets before `e` and nothing at or after it came.
            (self.quiet_high, self.seek_back, self.reread) = (Some(high), None, false);
            return Check::Quiet;
        }
        if self.seek_back.is_some_and(|b| b >= e) {
            // Already back at the start of the partition: begin the escalation again.
            self.seek_back = None;
        }
        Check::Seek(self.next_seek(e))
    }

    /// One periodic check while the partition is paused on purpose: not a stall.
    pub fn on_paused(&mut self) {
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
        let mut c = PartitionCursor::new(Some(10), StallChecks::READER);
        assert_eq!(c.on_message(10), Verdict::Accept);
        assert_eq!(c.on_message(11), Verdict::Accept);
        assert_eq!(c.on_message(5), Verdict::Skip);
        assert_eq!(c.expect, Some(12));
        let mut unknown = PartitionCursor::new(None, StallChecks::READER);
        assert_eq!(unknown.on_message(7), Verdict::Accept);
        assert_eq!(unknown.expect, Some(8));
    }

    #[test]
    fn a_jump_is_verified_by_seeking_back_before_it_is_accepted() {
        // tansu answered a fetch from inside a batch with the next batch: 100..=149 missing.
        let mut c = PartitionCursor::new(Some(100), StallChecks::READER);
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
        let mut c = PartitionCursor::new(Some(1000), StallChecks::READER);
        assert_eq!(c.on_message(1005), Verdict::SeekBack(1000));
        assert_eq!(
            c.on_message(1005),
            Verdict::SeekBack(1000 - SEEK_BACK_FIRST)
        );
        assert_eq!(c.on_message(999), Verdict::Skip);
        assert_eq!(c.on_message(1005), Verdict::Gap { expected: 1000 });
        assert_eq!(c.expect, Some(1006));
        // At the partition's start nothing earlier exists: the jump is accepted.
        let mut c = PartitionCursor::new(Some(3), StallChecks::READER);
        assert_eq!(c.on_message(9), Verdict::SeekBack(3));
        assert_eq!(c.on_message(9), Verdict::SeekBack(0));
        assert_eq!(c.on_message(9), Verdict::Gap { expected: 3 });
    }

    #[test]
    fn a_partition_reading_nothing_below_its_high_watermark_is_sought_back() {
        let mut c = PartitionCursor::new(Some(50), StallChecks::READER);
        // Nothing to read: no seek.
        for _ in 0..10 {
            assert_eq!(c.on_check(Some(50), true), Check::Wait);
        }
        let mut c = PartitionCursor::new(Some(50), StallChecks::READER);
        assert_eq!(c.on_check(Some(80), true), Check::Wait);
        assert_eq!(c.on_check(Some(80), true), Check::Seek(50));
        // While other partitions are read, it takes longer.
        let mut busy = PartitionCursor::new(Some(50), StallChecks::READER);
        let seeks: Vec<_> = (0..StallChecks::READER.starved)
            .map(|_| busy.on_check(Some(80), false))
            .collect();
        assert_eq!(seeks.iter().filter(|c| **c != Check::Wait).count(), 1);
        assert_eq!(seeks.last(), Some(&Check::Seek(50)));
        // Escalates, and when the re-read finds nothing at or after 50, stops until the high
        // watermark moves.
        assert_eq!(c.on_check(Some(80), true), Check::Wait);
        assert_eq!(
            c.on_check(Some(80), true),
            Check::Seek((50 - SEEK_BACK_FIRST).max(0))
        );
        assert_eq!(c.on_message(10), Verdict::Skip);
        assert_eq!(c.on_check(Some(80), true), Check::Wait);
        assert_eq!(c.on_check(Some(80), true), Check::Quiet);
        assert_eq!(c.quiet_high, Some(80));
        for _ in 0..5 {
            assert_eq!(c.on_check(Some(80), true), Check::Wait);
        }
        assert_eq!(c.on_check(Some(81), true), Check::Seek(50));
        // A message resets the idle count.
        let mut c = PartitionCursor::new(Some(50), StallChecks::READER);
        assert_eq!(c.on_check(Some(80), true), Check::Wait);
        assert_eq!(c.on_message(50), Verdict::Accept);
        assert_eq!(c.on_check(Some(80), true), Check::Wait);
        assert_eq!(
            c.on_check(None, true),
            Check::Wait,
            "no watermark: no decision"
        );
    }

    #[test]
    fn the_group_consumer_waits_longer_and_a_rewind_starts_over() {
        let mut c = PartitionCursor::new(Some(50), StallChecks::GROUP);
        assert_eq!(c.on_check(Some(80), true), Check::Wait);
        assert_eq!(c.on_check(Some(80), true), Check::Wait);
        assert_eq!(c.on_check(Some(80), true), Check::Seek(50));
        // A rewind to 20 forgets the escalation: a jump past 20 is verified from 0 back.
        c.restart(20);
        assert_eq!(c.expect(), Some(20));
        assert_eq!(c.on_message(30), Verdict::SeekBack(20));
        assert_eq!(c.on_message(20), Verdict::Accept);
    }
}
