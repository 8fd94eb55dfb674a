//! The object-metadata schema of trailpipe's log files: every key it records, the map written on
//! each file and the cut read back from it.
//!
//! Invariant: a log file's metadata is written with (never after) its body — S3 takes it in the
//! same create-only PutObject, the local store writes it before linking the object into place —
//! so a file that exists always carries its cut ([`FIRST`], [`END`]), which the batcher's
//! replay and the delivery's conflict check rely on.

use std::collections::HashMap;

/// The segment's anchor offset (its first routed record).
pub const FIRST: &str = "trailpipe-first-offset";
/// One past the segment's last offset: the recorded cut point.
pub const END: &str = "trailpipe-end-offset";
/// The segment's first offset.
pub const START: &str = "trailpipe-start-offset";
/// `topic/partition` (or file path) the segment was read from, or `insights`.
pub const SOURCE: &str = "trailpipe-source";
/// Where the file's time came from (see the batcher's `FileTimeSource`).
pub const FILE_TIME: &str = "trailpipe-file-time";
/// Lowercase hex SHA-256 of the uncompressed log file (digests list it).
pub const SHA256: &str = "trailpipe-sha256";
/// Oldest `eventTime` in the file (`YYYY-MM-DDTHH:MM:SSZ`).
pub const OLDEST: &str = "trailpipe-oldest-event-time";
/// Newest `eventTime` in the file.
pub const NEWEST: &str = "trailpipe-newest-event-time";
/// HMAC over bucket, key, SHA-256 and times, so digests list only files trailpipe wrote.
pub const MAC: &str = "trailpipe-mac";

/// A cut recorded in an existing file's metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordedCut {
    /// The segment's anchor offset.
    pub first: i64,
    /// One past its last offset.
    pub end: i64,
}

impl RecordedCut {
    /// The cut recorded in `meta`, or `None` when either offset is missing or not a number (a
    /// file trailpipe did not write, or an Insights file, which records no cut).
    pub fn from_metadata(meta: &HashMap<String, String>) -> Option<Self> {
        Some(Self {
            first: meta.get(FIRST)?.parse().ok()?,
            end: meta.get(END)?.parse().ok()?,
        })
    }
}

/// What trailpipe records on a log file, turned into the object's user metadata by
/// [`LogFileMeta::into_map`]. Insights files record neither a cut nor listing facts (digests do
/// not list them), so those parts are optional.
#[derive(Debug, Clone, Default)]
pub struct LogFileMeta {
    /// See [`SOURCE`].
    pub source: String,
    /// See [`SHA256`].
    pub sha256_hex: String,
    /// The recorded cut, with the segment's first offset.
    pub cut: Option<Cut>,
    /// What a digest lists of the file, signed.
    pub listed: Option<Listed>,
    /// See [`FILE_TIME`].
    pub file_time: Option<&'static str>,
}

/// A segment's offsets as recorded on each of its files.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cut {
    /// See [`FIRST`].
    pub anchor: i64,
    /// See [`END`].
    pub end: i64,
    /// See [`START`].
    pub start: i64,
}

/// The facts a digest lists of a log file, with the MAC that proves trailpipe wrote them.
#[derive(Debug, Clone, Default)]
pub struct Listed {
    /// See [`OLDEST`].
    pub oldest: String,
    /// See [`NEWEST`].
    pub newest: String,
    /// See [`MAC`].
    pub mac: String,
}

impl LogFileMeta {
    /// The object's user metadata.
    pub fn into_map(self) -> HashMap<String, String> {
        let mut m = HashMap::from([
            (SOURCE.to_string(), self.source),
            (SHA256.to_string(), self.sha256_hex),
        ]);
        if let Some(c) = self.cut {
            m.insert(FIRST.to_string(), c.anchor.to_string());
            m.insert(END.to_string(), c.end.to_string());
            m.insert(START.to_string(), c.start.to_string());
        }
        if let Some(l) = self.listed {
            m.insert(OLDEST.to_string(), l.oldest);
            m.insert(NEWEST.to_string(), l.newest);
            m.insert(MAC.to_string(), l.mac);
        }
        if let Some(source) = self.file_time {
            m.insert(FILE_TIME.to_string(), source.to_string());
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_written_is_the_cut_read_back() {
        let m = LogFileMeta {
            cut: Some(Cut {
                anchor: 7,
                end: 12,
                start: 5,
            }),
            source: "t/0".into(),
            file_time: Some("event"),
            ..Default::default()
        }
        .into_map();
        assert_eq!(
            RecordedCut::from_metadata(&m),
            Some(RecordedCut { first: 7, end: 12 })
        );
        assert_eq!(m[START], "5");
        assert_eq!(m[FILE_TIME], "event");
    }

    #[test]
    fn a_file_without_a_cut_or_with_a_bad_one_has_none() {
        let m = LogFileMeta::default().into_map();
        assert_eq!(RecordedCut::from_metadata(&m), None);
        assert!(!m.contains_key(MAC), "an Insights file lists nothing");
        let bad = HashMap::from([
            (FIRST.to_string(), "x".into()),
            (END.to_string(), "3".into()),
        ]);
        assert_eq!(RecordedCut::from_metadata(&bad), None);
    }
}
