//! The time in a log file's key, which producers must not be able to push out of the digests'
//! reach (a Kafka timestamp in 2100 would put files under `…/2100/01/01/`, where no digest
//! looks).
//!
//! **The rule.** A segment's files are dated by its anchor record's Kafka timestamp (its
//! `eventTime` when the source has no timestamp) when that lies within
//! [`MAX_PAST_SECS`] before and [`MAX_FUTURE_SECS`] after the clock at the moment the anchor is
//! read. Otherwise they are dated by that moment itself — CloudTrail, too, dates files by
//! delivery. Such a time is not a function of the input, so it is **recorded** before any file
//! of the segment is written: a create-only marker object beside the trail's files
//! ([`marker_key`], outside `AWSLogs/`, so neither digests nor Athena tables see it) holds it,
//! and every later build of the segment — a replay after a crash, another replica after a
//! rebalance — reads it back and uses the same time. The first writer wins; a racing writer
//! reads the winner's time.
//!
//! A replay also checks the other way round: a segment first dated by its Kafka timestamp may
//! fall outside the window on a later read (the clock moved on, or jumped), so when no marker
//! exists the replay looks for the file under the Kafka time before recording a new one.
//!
//! Within the window a producer still chooses the date (up to three days back): set the source
//! topic's `message.timestamp.type=LogAppendTime` for broker-assigned times. Digests list a
//! window's files by `LastModified`, over date folders from the window start minus their
//! lookback (7 days) to its end plus [`MAX_FUTURE_SECS`], so every file written is listed.

/// Oldest accepted anchor time, relative to the read clock. Well inside the digests' 7-day
/// lookback, so a file is listed even when its upload waited days behind an outage.
pub const MAX_PAST_SECS: i64 = 3 * 86_400;

/// Newest accepted anchor time, relative to the read clock (producers' clock skew).
pub const MAX_FUTURE_SECS: i64 = 15 * 60;

/// Where a segment's file time came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileTimeSource {
    /// The anchor record's Kafka timestamp.
    KafkaTimestamp,
    /// The anchor record's `eventTime` (a source without timestamps).
    EventTime,
    /// The clock when the anchor was read, recorded in a marker object (its own time was
    /// outside the window).
    Recorded,
}

impl FileTimeSource {
    /// The value recorded under `trailpipe_store::meta::FILE_TIME`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::KafkaTimestamp => "kafka-timestamp",
            Self::EventTime => "event-time",
            Self::Recorded => "recorded",
        }
    }
}

/// The anchor's own time and its source, from its Kafka timestamp or `eventTime`.
pub(crate) fn own_time(timestamp_ms: Option<i64>, event_time: i64) -> (i64, FileTimeSource) {
    match timestamp_ms.filter(|&t| t > 0) {
        Some(t) => (t / 1000, FileTimeSource::KafkaTimestamp),
        None => (event_time, FileTimeSource::EventTime),
    }
}

/// Whether `own` may date a file read at `now` (epoch seconds).
pub(crate) fn within_window(own: i64, now: i64) -> bool {
    own >= now.saturating_sub(MAX_PAST_SECS) && own <= now.saturating_add(MAX_FUTURE_SECS)
}

/// The marker of a recorded file time: `[<prefix>/]trailpipe/file-times/<unique>`, keyed like
/// the segment's files by (trail, source, partition, anchor).
pub(crate) fn marker_key(prefix: Option<&str>, unique: &str) -> String {
    match prefix {
        Some(p) => format!("{p}/trailpipe/file-times/{unique}"),
        None => format!("trailpipe/file-times/{unique}"),
    }
}

/// A marker's body: the recorded time, then what it replaced (for people reading the bucket).
pub(crate) fn marker_body(file_time: i64, own: i64, source: FileTimeSource, at: &str) -> Vec<u8> {
    format!(
        "file_time={file_time}\nreplaced={own}\nreplaced_source={}\nanchor={at}\n",
        source.as_str()
    )
    .into_bytes()
}

/// The time recorded in a marker's body.
pub fn parse_marker(body: &[u8]) -> Option<i64> {
    std::str::from_utf8(body)
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("file_time="))?
        .parse()
        .ok()
}

/// Seconds since the epoch, from the system clock.
pub(crate) fn system_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_three_days_back_and_fifteen_minutes_ahead() {
        let now = 1_800_000_000;
        assert!(within_window(now, now));
        assert!(within_window(now - MAX_PAST_SECS, now));
        assert!(!within_window(now - MAX_PAST_SECS - 1, now));
        assert!(within_window(now + MAX_FUTURE_SECS, now));
        assert!(!within_window(now + MAX_FUTURE_SECS + 1, now));
        assert!(!within_window(i64::MAX, now));
        assert!(!within_window(i64::MIN, now));
    }

    #[test]
    fn kafka_timestamps_win_over_event_time_unless_absent_or_not_positive() {
        assert_eq!(
            own_time(Some(1_700_000_000_999), 5),
            (1_700_000_000, FileTimeSource::KafkaTimestamp)
        );
        assert_eq!(own_time(None, 5), (5, FileTimeSource::EventTime));
        assert_eq!(own_time(Some(-1), 5), (5, FileTimeSource::EventTime));
    }

    #[test]
    fn markers_round_trip_and_garbage_is_not_a_time() {
        let body = marker_body(
            1_800_000_000,
            4_102_444_800,
            FileTimeSource::KafkaTimestamp,
            "t/0@7",
        );
        assert_eq!(parse_marker(&body), Some(1_800_000_000));
        assert_eq!(parse_marker(b"file_time=x\n"), None);
        assert_eq!(parse_marker(&[0xff, 0xfe]), None);
        assert_eq!(parse_marker(b""), None);
        assert_eq!(marker_key(Some("p/q"), "U"), "p/q/trailpipe/file-times/U");
        assert_eq!(marker_key(None, "U"), "trailpipe/file-times/U");
    }
}
