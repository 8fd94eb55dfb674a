//! Metric names this crate emits, in the shape of `trailpipe_telemetry::METRICS` (the lead
//! moves them there). Error classes match the S3 sink's `error_type` values.

/// Messages SNS accepted, per trail (`trail` is the trail registered for the topic, else the
/// topic name).
pub const SNS_NOTIFICATIONS: &str = "trailpipe_sns_notifications_total";
/// Log-file keys named in accepted messages, per trail.
pub const SNS_NOTIFIED_KEYS: &str = "trailpipe_sns_notified_keys_total";
/// Failed `Publish` attempts by class.
pub const SNS_ERRORS: &str = "trailpipe_sns_errors_total";
/// Histogram: keys per accepted message.
pub const SNS_MESSAGE_KEYS: &str = "trailpipe_sns_message_keys";
/// Histogram: seconds from `notify` being called to SNS accepting every key.
pub const SNS_NOTIFY_LATENCY: &str = "trailpipe_sns_notify_latency_seconds";

/// `(name, labels, help)` for every metric above.
pub const METRICS: &[(&str, &str, &str)] = &[
    (
        SNS_NOTIFICATIONS,
        "trail",
        "SNS log-file notifications accepted.",
    ),
    (
        SNS_NOTIFIED_KEYS,
        "trail",
        "Log-file keys named in accepted SNS notifications.",
    ),
    (
        SNS_ERRORS,
        "error_type",
        "SNS Publish failures by class (retriable, throttled, permanent); every one is retried.",
    ),
    (
        SNS_MESSAGE_KEYS,
        "trail",
        "Histogram: log-file keys per SNS notification.",
    ),
    (
        SNS_NOTIFY_LATENCY,
        "",
        "Histogram: seconds from a notification request to SNS accepting all its keys.",
    ),
];

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_unique_and_prefixed() {
        let mut names: Vec<_> = super::METRICS.iter().map(|m| m.0).collect();
        assert!(names.iter().all(|n| n.starts_with("trailpipe_sns_")));
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), super::METRICS.len());
    }
}
