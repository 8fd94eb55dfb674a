//! Every metric trailpipe exports, named in one place with its labels and meaning. Stages emit
//! through these constants only, so the README's metrics reference and dashboards can trust
//! this list. Naming follows Prometheus conventions (`_total` counters, base units).

/// `(name, labels, help)` for every metric; [`describe`] registers the help texts.
pub const METRICS: &[(&str, &str, &str)] = &[
    (
        RECORDS_RECEIVED,
        "source",
        "Records read from the source (envelopes count each record).",
    ),
    (
        RECORDS_ROUTED,
        "trail",
        "Records a trail's selectors accepted.",
    ),
    (
        RECORDS_UNROUTED,
        "",
        "Accepted records no trail selected (they are not written anywhere).",
    ),
    (
        RECORDS_DELIVERED,
        "trail",
        "Records durably written in a log file.",
    ),
    (
        RECORDS_DEAD_LETTERED,
        "reason",
        "Records written to the dead-letter destination, by reject code.",
    ),
    (FILES_WRITTEN, "trail", "Log files written."),
    (
        FILES_ALREADY_PRESENT,
        "trail",
        "Log files found already delivered (replay after a crash or rebalance).",
    ),
    (
        BYTES_WRITTEN,
        "trail",
        "Compressed bytes of log files written.",
    ),
    (FILE_RECORDS, "trail", "Histogram: records per log file."),
    (
        FILE_BYTES,
        "trail",
        "Histogram: compressed bytes per log file.",
    ),
    (
        SEGMENTS_CUT,
        "reason",
        "Segments cut, by reason (size, records, interval, memory, replay, end).",
    ),
    (
        FILE_TIMES_RECORDED,
        "",
        "Segments dated by the read clock because their anchor's Kafka timestamp was more than 3 days old or 15 minutes ahead (the time is recorded in a marker object).",
    ),
    (
        STORE_ERRORS,
        "error_type",
        "Object store request failures by class (retriable, throttled, permanent).",
    ),
    (
        SEGMENT_CONFLICTS,
        "",
        "Log files found at a segment's key with a different recorded cut.",
    ),
    (
        HISTORY_EVENTS_STORED,
        "",
        "Management and Insights events stored in the event history.",
    ),
    (
        HISTORY_ERRORS,
        "",
        "Failed event history appends (retried).",
    ),
    (
        HISTORY_INDEXED_EVENTS,
        "",
        "Management and Insights events the history indexer read from the Kafka source and stored (every replica indexes the whole stream).",
    ),
    (
        HISTORY_INDEXER_LAG,
        "",
        "Records of the source topics not yet indexed into this replica's event history: the partitions' high watermarks minus the indexer's next offsets, summed.",
    ),
    (
        DIGESTS_WRITTEN,
        "trail",
        "Digest files written (hourly chains and backfills).",
    ),
    (
        DIGEST_UNVERIFIED_FILES,
        "trail",
        "Objects named like log files that digests left out because their trailpipe-mac metadata was missing, wrong or made with an unknown key.",
    ),
    (
        DIGEST_ERRORS,
        "trail",
        "Digest runs that failed (retried on the next round).",
    ),
    (
        DIGEST_CHAIN_CONFLICTS,
        "trail",
        "Digest chain conflicts: a window another writer (a replica) digested from a different start or previous digest (nothing is written over it), or a digest the chain does not reach (each counted once). The replicas disagree: configure them alike.",
    ),
    (
        OFFSET_GAPS,
        "",
        "Assignments whose resume point was no longer readable (deleted by topic retention).",
    ),
    (
        FETCH_STALLS,
        "",
        "Partitions sought back because nothing was read below the broker's high watermark for a few seconds.",
    ),
    (
        SEGMENT_REWINDS,
        "",
        "Partitions re-read from a segment start because an earlier owner's cut landed after the replay lookup.",
    ),
    (
        DELIVERY_LATENCY,
        "",
        "Histogram: seconds from a segment's first record being read to its acknowledgement.",
    ),
    (
        COMMITTED_OFFSET,
        "topic, partition",
        "Last committed offset (next offset to read).",
    ),
    (
        CONSUMER_LAG,
        "topic, partition",
        "Records in the partition (up to the broker's high watermark) not yet committed.",
    ),
    (
        KAFKA_CLIENT_ERRORS,
        "kind",
        "Errors the Kafka clients reported, by kind (authentication, tls, transport, other).",
    ),
    (
        PARTITIONS_ASSIGNED,
        "",
        "Partitions currently assigned to this daemon.",
    ),
    (
        INSIGHTS_ACTIVE,
        "trail",
        "Insights in progress (a Start emitted, its End not yet); every replica's detectors see the whole stream, so all replicas show the same.",
    ),
    (
        INSIGHTS_EVENTS,
        "trail, state",
        "Insights events written (state Start or End); with several replicas, by the group's Insights writer only.",
    ),
    (
        CWL_EVENTS_DELIVERED,
        "log_group",
        "Records accepted by CloudWatch Logs.",
    ),
    (
        CWL_EVENTS_REJECTED,
        "reason",
        "Records CloudWatch Logs cannot take (too old, too new, too large): sent to the dead letters.",
    ),
    (
        CWL_LATENCY,
        "",
        "Histogram: seconds from the source reading a record to CloudWatch Logs accepting it.",
    ),
    (
        RULE_MATCHED,
        "rule",
        "Records an EventBridge rule matched (handed to the rules stage; replays count again).",
    ),
    (
        RULE_DELIVERED,
        "rule, target",
        "Events a rule's target accepted (Kafka acknowledged, SNS Publish answered).",
    ),
    (
        RULE_FAILED,
        "rule, target",
        "Failed deliveries to a rule's target: every failed attempt, retried or dead-lettered.",
    ),
    (
        RULE_LATENCY,
        "",
        "Histogram: seconds from the source reading a record to a rule's target accepting its event.",
    ),
    (
        CWL_REQUESTS,
        "operation",
        "CloudWatch Logs and CloudWatch API calls by operation.",
    ),
    (
        CWL_ERRORS,
        "error_type",
        "Failed CloudWatch Logs / CloudWatch calls by class (retriable, throttled, permanent).",
    ),
    (
        METRIC_FILTER_SAMPLES,
        "namespace, metric, dimensions",
        "Values emitted by metric filters evaluated in the daemon (the CIS set and the trail's own).",
    ),
    (
        METRIC_FILTER_VALUE_SUM,
        "namespace, metric, dimensions",
        "Running sum of metric filter values.",
    ),
    (
        ALARM_STATE,
        "alarm",
        "Alarm state: 0 OK, 1 ALARM, 2 INSUFFICIENT_DATA.",
    ),
    (
        ALARM_NOTIFICATIONS,
        "result",
        "Alarm state-change notifications sent to SNS (published or failed).",
    ),
    (
        METRIC_DATA_PUBLISHED,
        "",
        "Datums sent to CloudWatch with PutMetricData.",
    ),
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
    (
        HTTP_CONNECTIONS_REFUSED,
        "listener, reason",
        "HTTP connections closed unserved: `limit` when `max_connections` were already open, `timeout` when headers, body or TLS handshake were not sent within `server.header_read_timeout_secs`; `listener` is `server` or `api`; `reason` is `limit` or `timeout`.",
    ),
    (
        API_CALLS_THROTTLED,
        "",
        "CloudTrail API calls refused with ThrottlingException and not recorded: unsigned or badly signed calls from one address beyond `api.max_unverified_calls_per_sec`.",
    ),
    (
        DEAD_LETTER_ERRORS,
        "",
        "Failed dead-letter writes (each retried; the partition waits) and a dead-letter topic found missing at start; `/readyz` is 503 until a letter is written.",
    ),
];

/// Records read from the source.
pub const RECORDS_RECEIVED: &str = "trailpipe_records_received_total";
/// Records routed to a trail.
pub const RECORDS_ROUTED: &str = "trailpipe_records_routed_total";
/// Accepted records no trail selected.
pub const RECORDS_UNROUTED: &str = "trailpipe_records_unrouted_total";
/// Records written in log files.
pub const RECORDS_DELIVERED: &str = "trailpipe_records_delivered_total";
/// Records dead-lettered.
pub const RECORDS_DEAD_LETTERED: &str = "trailpipe_records_dead_lettered_total";
/// Log files written.
pub const FILES_WRITTEN: &str = "trailpipe_files_written_total";
/// Log files already present on replay.
pub const FILES_ALREADY_PRESENT: &str = "trailpipe_files_already_present_total";
/// Compressed bytes written.
pub const BYTES_WRITTEN: &str = "trailpipe_bytes_written_total";
/// Records per file.
pub const FILE_RECORDS: &str = "trailpipe_file_records";
/// Bytes per file.
pub const FILE_BYTES: &str = "trailpipe_file_bytes";
/// Segments cut.
pub const SEGMENTS_CUT: &str = "trailpipe_segments_cut_total";
/// Segments whose file time was recorded (anchor time outside the window).
pub const FILE_TIMES_RECORDED: &str = "trailpipe_file_times_recorded_total";
/// Objects left out of digests: not verifiably written by trailpipe.
pub const DIGEST_UNVERIFIED_FILES: &str = "trailpipe_digest_unverified_files_total";
/// Store errors.
pub const STORE_ERRORS: &str = "trailpipe_store_errors_total";
/// Conflicting cuts found.
pub const SEGMENT_CONFLICTS: &str = "trailpipe_segment_conflicts_total";
/// Events stored in the event history.
pub const HISTORY_EVENTS_STORED: &str = "trailpipe_history_events_stored_total";
/// Failed history appends.
pub const HISTORY_ERRORS: &str = "trailpipe_history_errors_total";
/// Events the history indexer stored (Kafka source).
pub const HISTORY_INDEXED_EVENTS: &str = "trailpipe_history_indexed_events_total";
/// Records behind the source's high watermarks, for the history indexer.
pub const HISTORY_INDEXER_LAG: &str = "trailpipe_history_indexer_lag";
/// Digest files written.
pub const DIGESTS_WRITTEN: &str = "trailpipe_digests_written_total";
/// Failed digest runs.
pub const DIGEST_ERRORS: &str = "trailpipe_digest_errors_total";
/// Digest windows another writer had written from a different chain view (not forked).
pub const DIGEST_CHAIN_CONFLICTS: &str = "trailpipe_digest_chain_conflicts_total";
/// Unreadable resume points.
pub const OFFSET_GAPS: &str = "trailpipe_offset_gaps_total";
/// Partitions sought back after reading nothing below the high watermark.
pub const FETCH_STALLS: &str = "trailpipe_fetch_stalls_total";
/// Rewinds after a late earlier-owner write.
pub const SEGMENT_REWINDS: &str = "trailpipe_segment_rewinds_total";
/// Delivery latency.
pub const DELIVERY_LATENCY: &str = "trailpipe_delivery_latency_seconds";
/// Committed offset.
pub const COMMITTED_OFFSET: &str = "trailpipe_committed_offset";
/// Consumer lag.
pub const CONSUMER_LAG: &str = "trailpipe_consumer_lag";
/// Kafka client errors by kind.
pub const KAFKA_CLIENT_ERRORS: &str = "trailpipe_kafka_client_errors_total";
/// Assigned partitions.
pub const PARTITIONS_ASSIGNED: &str = "trailpipe_partitions_assigned";

/// Insights in progress.
pub const INSIGHTS_ACTIVE: &str = "trailpipe_insights_active";
/// Insights events emitted.
pub const INSIGHTS_EVENTS: &str = "trailpipe_insights_events_total";
/// Records accepted by CloudWatch Logs.
pub const CWL_EVENTS_DELIVERED: &str = "trailpipe_cwl_events_delivered_total";
/// Records refused by CloudWatch Logs (to dead letters).
pub const CWL_EVENTS_REJECTED: &str = "trailpipe_cwl_events_rejected_total";
/// Read-to-CloudWatch-Logs latency.
pub const CWL_LATENCY: &str = "trailpipe_cwl_delivery_latency_seconds";
/// Records an EventBridge rule matched.
pub const RULE_MATCHED: &str = "trailpipe_rule_matched_total";
/// Events a rule's target accepted.
pub const RULE_DELIVERED: &str = "trailpipe_rule_delivered_total";
/// Failed deliveries to a rule's target.
pub const RULE_FAILED: &str = "trailpipe_rule_failed_total";
/// Read-to-target latency of rule deliveries.
pub const RULE_LATENCY: &str = "trailpipe_rule_delivery_seconds";
/// CloudWatch Logs API calls.
pub const CWL_REQUESTS: &str = "trailpipe_cwl_requests_total";
/// Failed CloudWatch Logs calls by class.
pub const CWL_ERRORS: &str = "trailpipe_cwl_errors_total";
/// Values emitted by metric filters.
pub const METRIC_FILTER_SAMPLES: &str = "trailpipe_metric_filter_samples_total";
/// Running sum of metric filter values.
pub const METRIC_FILTER_VALUE_SUM: &str = "trailpipe_metric_filter_value_sum";
/// Alarm state.
pub const ALARM_STATE: &str = "trailpipe_alarm_state";
/// Alarm notifications.
pub const ALARM_NOTIFICATIONS: &str = "trailpipe_alarm_notifications_total";
/// Datums sent with PutMetricData.
pub const METRIC_DATA_PUBLISHED: &str = "trailpipe_metric_data_published_total";
/// SNS messages accepted.
pub const SNS_NOTIFICATIONS: &str = "trailpipe_sns_notifications_total";
/// Keys named in accepted SNS messages.
pub const SNS_NOTIFIED_KEYS: &str = "trailpipe_sns_notified_keys_total";
/// Failed SNS publishes by class.
pub const SNS_ERRORS: &str = "trailpipe_sns_errors_total";
/// Keys per SNS message.
pub const SNS_MESSAGE_KEYS: &str = "trailpipe_sns_message_keys";
/// SNS notification latency.
pub const SNS_NOTIFY_LATENCY: &str = "trailpipe_sns_notify_latency_seconds";

/// HTTP connections closed unserved (connection limit, slow clients).
pub const HTTP_CONNECTIONS_REFUSED: &str = "trailpipe_http_connections_refused_total";

/// Unverified API calls refused for their rate.
pub const API_CALLS_THROTTLED: &str = "trailpipe_api_calls_throttled_total";

/// Dead-letter writes that failed.
pub const DEAD_LETTER_ERRORS: &str = "trailpipe_dead_letter_errors_total";

/// Registers the help text of every metric with the installed recorder.
pub fn describe() {
    for (name, _, help) in METRICS {
        metrics::describe_counter!(*name, *help);
    }
}

/// The metrics reference as a Markdown table (`trailpipe metrics`; the README embeds it and a
/// test keeps the two equal).
pub fn markdown() -> String {
    let mut out = String::from("| metric | labels | meaning |\n|---|---|---|\n");
    for (name, labels, help) in METRICS {
        let labels = if labels.is_empty() { "—" } else { labels };
        out.push_str(&format!("| `{name}` | {labels} | {help} |\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_readme_metrics_reference_is_generated_from_this_table() {
        let readme = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
        let text = std::fs::read_to_string(readme).expect("README.md");
        assert!(
            text.contains(&super::markdown()),
            "README.md's metrics reference is stale: paste the output of `trailpipe metrics`"
        );
    }

    #[test]
    fn every_metric_is_named_once() {
        let mut names: Vec<&str> = super::METRICS.iter().map(|m| m.0).collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n, "a metric name is listed twice");
    }
}
