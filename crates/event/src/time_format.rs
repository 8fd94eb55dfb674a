//! CloudTrail's time format, `YYYY-MM-DDTHH:MM:SSZ` (UTC, whole seconds), written once: the
//! `eventTime` trailpipe records on log files for digests, the digest document's times and
//! GetTrailStatus's legacy time strings all use [`format_time`].

use time::{format_description::BorrowedFormatItem, macros::format_description, OffsetDateTime};

/// `YYYY-MM-DDTHH:MM:SSZ`.
pub const CLOUDTRAIL_TIME: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");

/// Formats `t` (any offset) in UTC as `YYYY-MM-DDTHH:MM:SSZ`, sub-seconds dropped.
pub fn format_time(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(CLOUDTRAIL_TIME)
        .expect("a UTC date in range formats")
}

/// [`format_time`] of epoch seconds (out of range: the epoch, as a parsed `eventTime` never is).
pub fn format_epoch_secs(secs: i64) -> String {
    format_time(OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_whole_seconds_with_a_z() {
        assert_eq!(format_epoch_secs(1_700_000_000), "2023-11-14T22:13:20Z");
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_999_000_000)
            .unwrap()
            .to_offset(time::UtcOffset::from_hms(2, 0, 0).unwrap());
        assert_eq!(format_time(t), "2023-11-14T22:13:20Z");
        assert_eq!(format_epoch_secs(i64::MAX), "1970-01-01T00:00:00Z");
    }
}
