//! Turning a segment group's records into PutLogEvents calls that CloudWatch Logs accepts
//! (reference §5.2). Pure: no I/O, `now` is an argument.
//!
//! Invariant: every request [`plan`] returns holds 1..=10,000 events in non-decreasing timestamp
//! order (stable: equal timestamps keep input order), Σ(message bytes + 26) ≤ 1,048,576, and a
//! time span (last − first) < 24 h; every input index appears exactly once, either in one request
//! or in `rejected` with its reason.

use bytes::Bytes;

/// Largest PutLogEvents request: Σ(UTF-8 message length + [`EVENT_OVERHEAD_BYTES`]).
pub const MAX_BATCH_BYTES: usize = 1_048_576;
/// Bytes CloudWatch Logs counts per event on top of its message.
pub const EVENT_OVERHEAD_BYTES: usize = 26;
/// Most events per request.
pub const MAX_BATCH_EVENTS: usize = 10_000;
/// Largest message: the 1 MB event limit, less the per-event overhead (it must fit a request).
pub const MAX_EVENT_BYTES: usize = MAX_BATCH_BYTES - EVENT_OVERHEAD_BYTES;
/// A request's events must lie within this span (we keep it strictly below).
pub const MAX_SPAN_MS: i64 = 24 * 3_600_000;
/// Events older than this are rejected by the API.
pub const MAX_AGE_MS: i64 = 14 * 24 * 3_600_000;
/// Margin kept on the old side: a put may be retried for minutes, and an event that crosses the
/// 14-day line meanwhile would be rejected by the service instead (still handled, but later).
pub const AGE_MARGIN_MS: i64 = 5 * 60_000;
/// Events further in the future than this are rejected by the API.
pub const MAX_FUTURE_MS: i64 = 2 * 3_600_000;

/// Why a record was not sent; its text reaches the dead-letter destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reject {
    /// Older than CloudWatch Logs accepts (14 days).
    TooOld,
    /// More than 2 hours in the future.
    TooNew,
    /// Older than the log group's retention (reported by the service).
    Expired,
    /// Larger than one event may be.
    TooLarge,
    /// Empty message.
    Empty,
    /// Not UTF-8.
    NotUtf8,
    /// The service refused the event alone with `InvalidParameterException`.
    Refused,
}

impl Reject {
    /// Short label for metrics.
    pub fn code(self) -> &'static str {
        match self {
            Self::TooOld => "too_old",
            Self::TooNew => "too_new",
            Self::Expired => "expired",
            Self::TooLarge => "too_large",
            Self::Empty => "empty",
            Self::NotUtf8 => "not_utf8",
            Self::Refused => "refused",
        }
    }

    /// The reason given to the caller (dead-letter text).
    pub fn message(self) -> &'static str {
        match self {
            Self::TooOld => "cloudwatch_logs: event older than 14 days",
            Self::TooNew => "cloudwatch_logs: event more than 2 hours in the future",
            Self::Expired => "cloudwatch_logs: event older than the log group's retention",
            Self::TooLarge => "cloudwatch_logs: record larger than 1,048,550 bytes (1 MB event limit less 26 bytes overhead)",
            Self::Empty => "cloudwatch_logs: empty record",
            Self::NotUtf8 => "cloudwatch_logs: record is not valid UTF-8",
            Self::Refused => "cloudwatch_logs: PutLogEvents refused the event (InvalidParameterException)",
        }
    }
}

/// One PutLogEvents call: indexes into the caller's records, in send order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutRequest {
    /// Input indexes, sorted by timestamp (stable).
    pub indexes: Vec<usize>,
    /// Σ(message + 26).
    pub bytes: usize,
}

/// What to send and what to give back.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Requests, in timestamp order.
    pub requests: Vec<PutRequest>,
    /// Records refused before sending, with the reason, by input index.
    pub rejected: Vec<(usize, Reject)>,
}

/// Plans the requests for `records` (`(timestamp ms, message)`) at wall time `now_ms`.
pub fn plan(records: &[(i64, Bytes)], now_ms: i64) -> Plan {
    let oldest = now_ms - MAX_AGE_MS + AGE_MARGIN_MS;
    let newest = now_ms + MAX_FUTURE_MS;
    let mut rejected = Vec::new();
    let mut ok: Vec<usize> = Vec::with_capacity(records.len());
    for (i, (ts, msg)) in records.iter().enumerate() {
        let why = if msg.is_empty() {
            Some(Reject::Empty)
        } else if msg.len() > MAX_EVENT_BYTES {
            Some(Reject::TooLarge)
        } else if *ts < oldest {
            Some(Reject::TooOld)
        } else if *ts > newest {
            Some(Reject::TooNew)
        } else if std::str::from_utf8(msg).is_err() {
            Some(Reject::NotUtf8)
        } else {
            None
        };
        match why {
            Some(r) => rejected.push((i, r)),
            None => ok.push(i),
        }
    }
    // Stable: records with equal timestamps keep their (offset) order.
    ok.sort_by_key(|&i| records[i].0);
    let mut requests = Vec::new();
    let mut cur = PutRequest {
        indexes: Vec::new(),
        bytes: 0,
    };
    for i in ok {
        let (ts, msg) = &records[i];
        let size = msg.len() + EVENT_OVERHEAD_BYTES;
        if let Some(&first) = cur.indexes.first() {
            if cur.indexes.len() == MAX_BATCH_EVENTS
                || cur.bytes + size > MAX_BATCH_BYTES
                || ts - records[first].0 >= MAX_SPAN_MS
            {
                requests.push(std::mem::replace(
                    &mut cur,
                    PutRequest {
                        indexes: Vec::new(),
                        bytes: 0,
                    },
                ));
            }
        }
        cur.indexes.push(i);
        cur.bytes += size;
    }
    if !cur.indexes.is_empty() {
        requests.push(cur);
    }
    Plan { requests, rejected }
}

/// Which positions of a sent request the service refused (`rejectedLogEventsInfo`), with why.
/// `too_new_start` is inclusive; `too_old_end` and `expired_end` are exclusive.
pub fn refused_positions(
    len: usize,
    too_new_start: Option<i32>,
    too_old_end: Option<i32>,
    expired_end: Option<i32>,
) -> Vec<(usize, Reject)> {
    let clamp = |v: i32| (v.max(0) as usize).min(len);
    let mut out: Vec<Option<Reject>> = vec![None; len];
    if let Some(e) = expired_end {
        for slot in &mut out[..clamp(e)] {
            *slot = Some(Reject::Expired);
        }
    }
    if let Some(e) = too_old_end {
        for slot in &mut out[..clamp(e)] {
            slot.get_or_insert(Reject::TooOld);
        }
    }
    if let Some(s) = too_new_start {
        for slot in &mut out[clamp(s)..] {
            slot.get_or_insert(Reject::TooNew);
        }
    }
    out.into_iter()
        .enumerate()
        .filter_map(|(i, r)| r.map(|r| (i, r)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_750_000_000_000;

    fn rec(ts: i64, len: usize) -> (i64, Bytes) {
        (ts, Bytes::from(vec![b'x'; len]))
    }

    fn check_invariants(records: &[(i64, Bytes)], p: &Plan) {
        let mut seen = vec![0u8; records.len()];
        for r in &p.requests {
            assert!(!r.indexes.is_empty() && r.indexes.len() <= MAX_BATCH_EVENTS);
            let bytes: usize = r.indexes.iter().map(|&i| records[i].1.len() + 26).sum();
            assert_eq!(bytes, r.bytes);
            assert!(bytes <= MAX_BATCH_BYTES);
            let ts: Vec<i64> = r.indexes.iter().map(|&i| records[i].0).collect();
            assert!(ts.windows(2).all(|w| w[0] <= w[1]), "not chronological");
            assert!(ts[ts.len() - 1] - ts[0] < MAX_SPAN_MS);
            for &i in &r.indexes {
                seen[i] += 1;
            }
        }
        for &(i, _) in &p.rejected {
            seen[i] += 1;
        }
        assert!(seen.iter().all(|&n| n == 1), "each record exactly once");
    }

    #[test]
    fn sorts_stably_by_timestamp() {
        let records = vec![
            rec(NOW - 5, 3),
            rec(NOW - 9, 4),
            rec(NOW - 5, 5),
            rec(NOW - 9, 6),
        ];
        let p = plan(&records, NOW);
        check_invariants(&records, &p);
        assert_eq!(p.requests.len(), 1);
        assert_eq!(p.requests[0].indexes, vec![1, 3, 0, 2]);
    }

    #[test]
    fn splits_at_ten_thousand_events() {
        let records: Vec<_> = (0..25_001).map(|i| rec(NOW - 1000 + i % 7, 10)).collect();
        let p = plan(&records, NOW);
        check_invariants(&records, &p);
        let sizes: Vec<usize> = p.requests.iter().map(|r| r.indexes.len()).collect();
        assert_eq!(sizes, vec![10_000, 10_000, 5_001]);
    }

    #[test]
    fn splits_at_batch_bytes_counting_overhead() {
        // 4 events of (262,144 − 26) bytes fill a request exactly; the fifth starts a new one.
        let n = MAX_BATCH_BYTES / 4 - EVENT_OVERHEAD_BYTES;
        let records: Vec<_> = (0..5).map(|i| rec(NOW - 10 + i, n)).collect();
        let p = plan(&records, NOW);
        check_invariants(&records, &p);
        assert_eq!(p.requests[0].bytes, MAX_BATCH_BYTES);
        assert_eq!(p.requests.len(), 2);
        // One byte more each: only three fit.
        let records: Vec<_> = (0..5).map(|i| rec(NOW - 10 + i, n + 1)).collect();
        let p = plan(&records, NOW);
        check_invariants(&records, &p);
        assert_eq!(p.requests[0].indexes.len(), 3);
    }

    #[test]
    fn largest_event_goes_alone_and_one_more_byte_is_rejected() {
        let records = vec![
            rec(NOW - 3, MAX_EVENT_BYTES),
            rec(NOW - 2, MAX_EVENT_BYTES + 1),
            rec(NOW - 1, 1),
        ];
        let p = plan(&records, NOW);
        check_invariants(&records, &p);
        assert_eq!(p.rejected, vec![(1, Reject::TooLarge)]);
        assert_eq!(p.requests.len(), 2);
        assert_eq!(p.requests[0].bytes, MAX_BATCH_BYTES);
    }

    #[test]
    fn splits_spans_of_24_hours() {
        let h = 3_600_000;
        let records: Vec<_> = [0, 23 * h, 24 * h - 1, 24 * h, 30 * h, 47 * h]
            .iter()
            .map(|&t| rec(NOW - 13 * 24 * h + t, 10))
            .collect();
        let p = plan(&records, NOW);
        check_invariants(&records, &p);
        let sizes: Vec<usize> = p.requests.iter().map(|r| r.indexes.len()).collect();
        assert_eq!(sizes, vec![3, 3]);
    }

    #[test]
    fn rejects_too_old_too_new_empty_and_invalid_utf8() {
        let records = vec![
            rec(NOW - MAX_AGE_MS - 1, 5),
            rec(NOW + MAX_FUTURE_MS + 1, 5),
            rec(NOW + MAX_FUTURE_MS, 5),
            rec(NOW, 0),
            (NOW, Bytes::from_static(b"\xff\xfe")),
            rec(NOW - MAX_AGE_MS + AGE_MARGIN_MS, 5),
        ];
        let p = plan(&records, NOW);
        check_invariants(&records, &p);
        assert_eq!(
            p.rejected,
            vec![
                (0, Reject::TooOld),
                (1, Reject::TooNew),
                (3, Reject::Empty),
                (4, Reject::NotUtf8)
            ]
        );
        // 14 days apart: two requests, oldest first.
        let sent: Vec<Vec<usize>> = p.requests.iter().map(|r| r.indexes.clone()).collect();
        assert_eq!(sent, vec![vec![5], vec![2]]);
    }

    #[test]
    fn refused_positions_follow_rejected_log_events_info() {
        let r = refused_positions(6, Some(4), Some(2), Some(1));
        assert_eq!(
            r,
            vec![
                (0, Reject::Expired),
                (1, Reject::TooOld),
                (4, Reject::TooNew),
                (5, Reject::TooNew)
            ]
        );
        assert!(refused_positions(3, None, None, None).is_empty());
        assert_eq!(refused_positions(2, Some(-1), Some(99), None).len(), 2);
    }
}
