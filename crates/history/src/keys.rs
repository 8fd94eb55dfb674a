//! Key layout of the store. One pair of keyspaces per UTC day of `eventTime` (`e<day>` holds
//! records, `i<day>` the lookup index), so retention drops whole keyspaces instead of writing
//! tombstones.
//!
//! - record key:  `cat | len(region) | region | desc(time) | eventID` → the record's bytes
//! - posting key: `xxh3(cat, region, attr, value) | level | desc(max) | xxh3(posting)` →
//!   posting = entries `varint(max - time) | varint(len(eventID)) | eventID`, in position
//!   order (newest first, then eventID); `max` is the time of the first entry. All entries of
//!   a posting lie in one bucket of its level (1 s, 1 h, the day; see `posting.rs`).
//!
//! An append writes, per (day, attribute value) of its batch, one posting per bucket of the
//! level chosen for that value (the finest with at least 4 entries per bucket on average), so
//! a batch of 2,000 events writes about 2,000 EventId postings plus a few hundred others
//! instead of ~20,000 index entries (one per event and attribute): the memtable inserts and
//! journal bytes of the index were the largest part of ingest cost.
//!
//! Invariants: the parts before `desc(time)`/`desc(max)` have a fixed length or are
//! length-prefixed, so one prefix never contains another; `desc(time)` sorts newest first; the
//! pair (time, eventID) is the event's *position*, in the record key and in each posting
//! entry, so an index hit names its record key and paging resumes from a position. Writing the
//! same (time, eventID) twice writes the same record key; its posting entries may repeat and
//! are merged by the reader: replays are idempotent.

use std::ops::Bound;

use crate::{AttributeKey, HistoryCategory};

/// Seconds per day: the unit of keyspaces.
pub(crate) const DAY_SECS: i64 = 86_400;

/// The UTC day (days since the epoch) of a time.
pub(crate) fn day_of(t: i64) -> i64 {
    t.div_euclid(DAY_SECS)
}

/// Name of a day's record keyspace.
pub(crate) fn events_name(day: i64) -> String {
    format!("e{day}")
}

/// Name of a day's index keyspace.
pub(crate) fn index_name(day: i64) -> String {
    format!("i{day}")
}

/// The day of a keyspace name made by [`events_name`]/[`index_name`].
pub(crate) fn parse_name(name: &str) -> Option<(u8, i64)> {
    let (kind, day) = name.split_at_checked(1)?;
    let kind = match kind {
        "e" => b'e',
        "i" => b'i',
        _ => return None,
    };
    Some((kind, day.parse().ok()?))
}

/// Time encoded so that newer sorts first.
pub(crate) fn desc_time(t: i64) -> [u8; 8] {
    (!((t as u64) ^ (1 << 63))).to_be_bytes()
}

/// Inverse of [`desc_time`].
pub(crate) fn undesc_time(b: [u8; 8]) -> i64 {
    ((!u64::from_be_bytes(b)) ^ (1 << 63)) as i64
}

/// The prefix of all record keys of one (category, region).
pub(crate) fn events_prefix(cat: HistoryCategory, region: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + region.len() + 8 + 40);
    k.push(cat.tag());
    k.push(u8::try_from(region.len()).expect("regions are at most 255 bytes (checked on extract)"));
    k.extend_from_slice(region.as_bytes());
    k
}

/// The hash that starts every posting key of one (category, region, attribute, value): the
/// XXH3-64 of those four, length-prefixed. Eight random bytes keep index keys short; a hash
/// collision can only add candidates, which the lookup drops after reading the record (it
/// re-checks the attribute). XXH3 is a fixed algorithm: the bytes on disk do not change with
/// the crate's version.
pub(crate) fn index_hash(
    cat: HistoryCategory,
    region: &str,
    key: AttributeKey,
    value: &str,
) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3Default::new();
    h.update(&[cat.tag(), key.tag()]);
    h.update(&(region.len() as u64).to_be_bytes());
    h.update(region.as_bytes());
    h.update(&(value.len() as u64).to_be_bytes());
    h.update(value.as_bytes());
    h.digest()
}

/// `hash | level`: the prefix of the postings of one value at one level.
pub(crate) fn posting_prefix(hash: u64, level: usize) -> [u8; 9] {
    let mut k = [0; 9];
    k[..8].copy_from_slice(&hash.to_be_bytes());
    k[8] = u8::try_from(level).expect("three levels");
    k
}

/// `hash | level | desc(max) | xxh3(posting)`: the key of a posting.
pub(crate) fn posting_key(hash: u64, level: usize, max: i64, posting: &[u8]) -> [u8; 25] {
    let mut k = [0; 25];
    k[..9].copy_from_slice(&posting_prefix(hash, level));
    k[9..17].copy_from_slice(&desc_time(max));
    k[17..].copy_from_slice(&xxhash_rust::xxh3::xxh3_64(posting).to_be_bytes());
    k
}

/// Appends `cat | len(region) | region | desc(time) | eventID` (a record key) to `out`.
pub(crate) fn push_record_key(
    out: &mut Vec<u8>,
    cat: HistoryCategory,
    region: &str,
    time: i64,
    event_id: &str,
) {
    out.push(cat.tag());
    out.push(
        u8::try_from(region.len()).expect("regions are at most 255 bytes (checked on extract)"),
    );
    out.extend_from_slice(region.as_bytes());
    out.extend_from_slice(&desc_time(time));
    out.extend_from_slice(event_id.as_bytes());
}

/// `prefix | desc(time) | eventID`.
#[cfg(test)]
pub(crate) fn with_position(prefix: &[u8], time: i64, event_id: &str) -> Vec<u8> {
    with_position_bytes(prefix, time, event_id.as_bytes())
}

/// [`with_position`] for an eventID read back from a key.
pub(crate) fn with_position_bytes(prefix: &[u8], time: i64, event_id: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + 8 + event_id.len());
    k.extend_from_slice(prefix);
    k.extend_from_slice(&desc_time(time));
    k.extend_from_slice(event_id);
    k
}

/// The position (time, eventID) at the end of a key with the given prefix length.
pub(crate) fn position(key: &[u8], prefix_len: usize) -> Option<(i64, &[u8])> {
    let rest = key.get(prefix_len..)?;
    let (t, id) = rest.split_first_chunk::<8>()?;
    Some((undesc_time(*t), id))
}

/// Key range of `prefix` for times in `[start, end]`, strictly after position `after` if given
/// (positions sort newest first, then by eventID).
pub(crate) fn window(
    prefix: &[u8],
    start: i64,
    end: i64,
    after: Option<(i64, &[u8])>,
) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let lo = match after {
        Some((t, id)) => {
            let mut k = prefix.to_vec();
            k.extend_from_slice(&desc_time(t));
            k.extend_from_slice(id);
            Bound::Excluded(k)
        }
        None => {
            let mut k = prefix.to_vec();
            k.extend_from_slice(&desc_time(end));
            Bound::Included(k)
        }
    };
    // Every key with time >= start is below prefix | desc(start) + 1.
    let hi = match u64::from_be_bytes(desc_time(start)).checked_add(1) {
        Some(next) => {
            let mut k = prefix.to_vec();
            k.extend_from_slice(&next.to_be_bytes());
            Bound::Excluded(k)
        }
        None => match successor(prefix) {
            Some(k) => Bound::Excluded(k),
            None => Bound::Unbounded,
        },
    };
    (lo, hi)
}

/// The smallest key greater than every key starting with `prefix`.
fn successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut k = prefix.to_vec();
    while let Some(last) = k.pop() {
        if last < u8::MAX {
            k.push(last + 1);
            return Some(k);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn desc_time_sorts_newest_first_and_round_trips() {
        let times = [i64::MIN, -86_401, -1, 0, 1, 1_767_225_600, i64::MAX];
        for w in times.windows(2) {
            assert!(desc_time(w[0]) > desc_time(w[1]));
        }
        for t in times {
            assert_eq!(undesc_time(desc_time(t)), t);
        }
        assert_eq!(day_of(-1), -1);
        assert_eq!(parse_name(&events_name(-3)), Some((b'e', -3)));
        assert_eq!(parse_name(&index_name(20_000)), Some((b'i', 20_000)));
        assert_eq!(parse_name("meta"), None);
    }

    #[test]
    fn keys_built_for_append_equal_the_keys_lookups_build() {
        for cat in [HistoryCategory::Management, HistoryCategory::Insight] {
            let mut k = vec![0xAA];
            push_record_key(&mut k, cat, "eu-west-3", 1_767_225_600, "id-1");
            let p = events_prefix(cat, "eu-west-3");
            assert_eq!(k[1..], with_position(&p, 1_767_225_600, "id-1")[..]);
            let h = index_hash(cat, "eu-west-3", AttributeKey::Username, "pat");
            assert_ne!(
                h,
                index_hash(cat, "eu-west-3", AttributeKey::Username, "pa")
            );
            let k = posting_key(h, 1, 1_767_225_600, b"entries");
            assert_eq!(k[..9], posting_prefix(h, 1));
            assert_eq!(position(&k, 9).map(|(t, _)| t), Some(1_767_225_600));
        }
    }

    #[test]
    fn window_contains_exactly_the_times_asked_for() {
        let p = events_prefix(HistoryCategory::Management, "us-east-1");
        let (lo, hi) = window(&p, 100, 200, None);
        let inside = |k: &Vec<u8>| {
            (match &lo {
                Bound::Included(l) => k >= l,
                Bound::Excluded(l) => k > l,
                Bound::Unbounded => true,
            }) && (match &hi {
                Bound::Included(h) => k <= h,
                Bound::Excluded(h) => k < h,
                Bound::Unbounded => true,
            })
        };
        for (t, want) in [
            (99, false),
            (100, true),
            (150, true),
            (200, true),
            (201, false),
        ] {
            assert_eq!(inside(&with_position(&p, t, "zzzz")), want, "t={t}");
            assert_eq!(inside(&with_position(&p, t, "")), want, "t={t}");
        }
        let (_, hi) = window(&p, i64::MIN, i64::MAX, None);
        assert!(matches!(hi, Bound::Excluded(_)));
    }
}
