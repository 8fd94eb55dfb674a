//! How far a reader of the source has indexed: the next offset of each (topic, partition),
//! kept in the store's `meta` keyspace and written in the same atomic batch as the events it
//! covers (see [`crate::HistoryStore::append_with_progress`]).
//!
//! Invariant: a recorded next offset `n` means every record below `n` was offered to the
//! store, in this commit or an earlier one; after a crash the reader resumes at `n` and
//! re-offers at most the one batch that was not committed (appends are idempotent, so the
//! replay stores nothing twice).
//!
//! Key: `progress\0 | topic | \0 | partition (i32, big-endian)`; value: next offset (i64,
//! big-endian). Kafka topic names cannot contain NUL, so the topic is delimited by it.

/// Prefix of every progress key in the `meta` keyspace (no other meta key starts with it).
pub(crate) const PREFIX: &[u8] = b"progress\0";

pub use trailpipe_event::PartitionProgress;

/// The meta key of `topic`/`partition`.
pub(crate) fn key(topic: &str, partition: i32) -> Vec<u8> {
    let mut k = Vec::with_capacity(PREFIX.len() + topic.len() + 5);
    k.extend_from_slice(PREFIX);
    k.extend_from_slice(topic.as_bytes());
    k.push(0);
    k.extend_from_slice(&partition.to_be_bytes());
    k
}

/// Reads back a key made by [`key`] and its value; `None` for anything else (never written
/// by this version: skipped rather than guessed).
pub(crate) fn decode(k: &[u8], v: &[u8]) -> Option<PartitionProgress> {
    let rest = k.strip_prefix(PREFIX)?;
    let (topic, partition) = rest.split_at_checked(rest.len().checked_sub(5)?)?;
    let (nul, partition) = partition.split_first()?;
    if *nul != 0 || topic.contains(&0) {
        return None;
    }
    Some(PartitionProgress {
        topic: String::from_utf8(topic.to_vec()).ok()?,
        partition: i32::from_be_bytes(partition.try_into().ok()?),
        next_offset: i64::from_be_bytes(v.try_into().ok()?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_foreign_keys_are_skipped() {
        for (topic, partition, next) in [("cloudtrail", 0, 0), ("a.b-c_d", i32::MAX, i64::MAX)] {
            let k = key(topic, partition);
            assert_eq!(
                decode(&k, &next.to_be_bytes()),
                Some(PartitionProgress::new(topic, partition, next))
            );
        }
        assert_eq!(decode(b"cutoff", &[0; 8]), None);
        assert_eq!(decode(&key("t", 1), &[0; 7]), None, "short value");
        assert_eq!(decode(b"progress\0t", &[0; 8]), None, "no partition");
        let mut no_nul = key("t", 1);
        no_nul[PREFIX.len() + 1] = b'x';
        assert_eq!(decode(&no_nul, &[0; 8]), None);
    }
}
