//! Posting lists: the lookup index. One append writes, per (day, attribute value) it touches,
//! a few postings listing the positions (time, eventID) of its events with that value,
//! instead of one index entry per (event, attribute). The layout is described in `keys.rs`.
//!
//! Invariants:
//! - A posting's entries are sorted by position (newest first, then eventID) and lie in one
//!   *bucket* of its level ([`LEVEL_SPANS`]): 1 s, 1 h or the whole day. So a posting holding
//!   an entry at or before time `T` but newer ones too has its newest time (its key's time) in
//!   `T`'s bucket: a reader starting at time `T` seeks to the end of that bucket and skips
//!   nothing it needs.
//! - Postings of one value overlap in time (a batch may hold late events). The reader merges
//!   them with a heap and emits an entry only once every posting not yet read is strictly
//!   older (its newest time is smaller), so output is in position order; equal positions
//!   (a replayed event in two postings) are emitted once.
//! - A posting's key ends with a hash of its bytes: an identical replayed batch rewrites the
//!   same keys (no growth); any other replay adds postings whose repeats the reader merges away.

use std::{cmp::Reverse, collections::BinaryHeap};

use fjall::Keyspace;

use crate::keys::{self, DAY_SECS};

/// Bucket length of each level, in seconds. Level 0 suits dense streams (a batch covers well
/// under a second of event time), level 1 sparse ones (a batch spans minutes), level 2 whatever
/// is left (the day). The seek waste of a level is at most one bucket of its postings.
pub(crate) const LEVEL_SPANS: [i64; 3] = [1, 3_600, DAY_SECS];

/// Minimum average entries per posting for a level to be used (else the next, coarser one).
const MIN_AVERAGE_ENTRIES: usize = 4;

/// The last second of `t`'s bucket at `level`.
pub(crate) fn bucket_last(t: i64, level: usize) -> i64 {
    let span = LEVEL_SPANS[level];
    t.div_euclid(span)
        .saturating_add(1)
        .saturating_mul(span)
        .saturating_sub(1)
}

/// The level for `times` (one value's entries in one day of a batch, newest first): the finest
/// whose buckets hold on average at least [`MIN_AVERAGE_ENTRIES`] entries (one entry: level 0).
pub(crate) fn choose_level(times: impl Iterator<Item = i64> + Clone) -> usize {
    let n = times.clone().count();
    let allowed = (n / MIN_AVERAGE_ENTRIES).max(1);
    for (level, span) in LEVEL_SPANS.iter().enumerate() {
        let mut buckets = 0usize;
        let mut last = None;
        for t in times.clone() {
            let b = t.div_euclid(*span);
            if last != Some(b) {
                buckets += 1;
                last = Some(b);
            }
        }
        if buckets <= allowed {
            return level;
        }
    }
    LEVEL_SPANS.len() - 1
}

fn push_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// LEB128, read from stored bytes. Not `varint-rs` (already in the graph through fjall): its
/// reader shifts past 64 bits on a run of continuation bytes (a panic in debug builds), while
/// a corrupt posting must be refused with `None`.
fn read_varint(b: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = b.split_first()?;
        *b = rest;
        v |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Some(v);
        }
    }
    None
}

/// Appends one entry to a posting whose newest time is `max`: `varint(max - time) |
/// varint(len(eventID)) | eventID`. Entries must come in position order.
pub(crate) fn push_entry(out: &mut Vec<u8>, max: i64, time: i64, event_id: &[u8]) {
    push_varint(out, max.abs_diff(time));
    push_varint(out, event_id.len() as u64);
    out.extend_from_slice(event_id);
}

/// The entries of a posting whose newest time is `max`, in stored (position) order; `None`
/// for a malformed posting.
pub(crate) fn decode(max: i64, mut b: &[u8]) -> Option<Vec<(i64, &[u8])>> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let delta = i64::try_from(read_varint(&mut b)?).ok()?;
        let len = usize::try_from(read_varint(&mut b)?).ok()?;
        let (id, rest) = b.split_at_checked(len)?;
        b = rest;
        out.push((max.checked_sub(delta)?, id));
    }
    Some(out)
}

/// A position as it sorts: `desc(time)` then eventID.
type Position = ([u8; 8], Vec<u8>);

/// One level's postings of one value in one day, newest first, with the next one read ahead.
struct Stream {
    iter: fjall::Iter,
    /// The next posting: its newest time and its bytes.
    next: Option<(i64, fjall::Slice)>,
}

impl Stream {
    fn advance(&mut self, prefix_len: usize) -> fjall::Result<()> {
        self.next = None;
        for kv in self.iter.by_ref() {
            let (k, v) = kv.into_inner()?;
            if let Some((max, _)) = keys::position(&k, prefix_len) {
                self.next = Some((max, v));
                return Ok(());
            }
        }
        Ok(())
    }
}

/// The positions of one value in one day within `[start, end]` and strictly after `after`,
/// newest first, each once: a merge of the day's postings of the value at every level.
pub(crate) struct Merge {
    streams: Vec<Stream>,
    prefix_len: usize,
    start: i64,
    end: i64,
    after: Option<Position>,
    heap: BinaryHeap<Reverse<Position>>,
    last: Option<Position>,
}

impl Merge {
    /// Starts the merge over `index` (a day's index keyspace) for the value whose hash is
    /// `hash`.
    pub(crate) fn new(
        index: &Keyspace,
        hash: u64,
        start: i64,
        end: i64,
        after: Option<(i64, &[u8])>,
    ) -> fjall::Result<Self> {
        let mut streams = Vec::with_capacity(LEVEL_SPANS.len());
        let mut prefix_len = 0;
        for level in 0..LEVEL_SPANS.len() {
            let prefix = keys::posting_prefix(hash, level);
            prefix_len = prefix.len();
            // A posting with entries at or before `end` has its newest time in `end`'s bucket
            // or before; one whose newest time is before `start` has nothing for us.
            let range = keys::window(&prefix, start, bucket_last(end, level), None);
            let mut s = Stream {
                iter: index.range::<Vec<u8>, _>(range),
                next: None,
            };
            s.advance(prefix_len)?;
            streams.push(s);
        }
        Ok(Self {
            streams,
            prefix_len,
            start,
            end,
            after: after.map(|(t, id)| (keys::desc_time(t), id.to_vec())),
            heap: BinaryHeap::new(),
            last: None,
        })
    }

    /// The next position, newest first.
    pub(crate) fn next_position(&mut self) -> fjall::Result<Option<(i64, Vec<u8>)>> {
        loop {
            // The stream whose next posting is the newest, and that posting's newest time.
            let newest_unread = self
                .streams
                .iter()
                .enumerate()
                .filter_map(|(i, s)| s.next.as_ref().map(|(max, _)| (*max, i)))
                .max();
            if let Some(Reverse(top)) = self.heap.peek() {
                let top_time = keys::undesc_time(top.0);
                // Every posting not read yet is strictly older: nothing can come before `top`.
                if newest_unread.is_none_or(|(max, _)| max < top_time) {
                    let Reverse(pos) = self.heap.pop().expect("peeked");
                    if self.last.as_ref() == Some(&pos) {
                        continue;
                    }
                    self.last = Some(pos.clone());
                    return Ok(Some((top_time, pos.1)));
                }
            }
            let Some((_, i)) = newest_unread else {
                return Ok(None);
            };
            let (max, bytes) = self.streams[i].next.take().expect("newest_unread has one");
            for (time, id) in decode(max, &bytes).unwrap_or_default() {
                if time < self.start || time > self.end {
                    continue;
                }
                let pos = (keys::desc_time(time), id.to_vec());
                if self.after.as_ref().is_some_and(|a| pos <= *a) {
                    continue;
                }
                self.heap.push(Reverse(pos));
            }
            self.streams[i].advance(self.prefix_len)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_malformed_postings_are_refused() {
        let mut b = Vec::new();
        let entries: [(i64, &[u8]); 3] = [(1_000_000, b"a"), (999_000, b"b"), (-5, b"")];
        for (t, id) in entries {
            push_entry(&mut b, 1_000_000, t, id);
        }
        assert_eq!(decode(1_000_000, &b).expect("decodes"), entries.to_vec());
        assert_eq!(decode(7, &[]).expect("empty"), vec![]);
        assert!(decode(1_000_000, &b[..b.len() - 1]).is_none());
        assert!(decode(1, &[0x80]).is_none());
        assert!(decode(1, &[0, 5, b'x']).is_none());
    }

    #[test]
    fn level_is_the_finest_with_dense_enough_buckets() {
        let t0 = 1_793_491_200;
        // One entry: level 0.
        assert_eq!(choose_level([t0].into_iter()), 0);
        // A dense batch: 100 entries within two seconds.
        assert_eq!(choose_level((0..100).map(|i| t0 + 1 - i / 50)), 0);
        // A sparse batch: 100 entries, one every 20 s (33 minutes, within one or two hours).
        assert_eq!(choose_level((0..100).map(|i| t0 + 2_000 - i * 20)), 1);
        // 8 entries over 8 hours: the day.
        assert_eq!(choose_level((0..8).map(|i| t0 + 30_000 - i * 3_600)), 2);
        assert_eq!(bucket_last(t0 + 5, 1), t0 + 3_599);
        assert_eq!(bucket_last(t0 + 5, 2), t0 + DAY_SECS - 1);
        assert_eq!(bucket_last(-1, 0), -1);
    }
}
