//! CloudWatch Logs end to end against moto: a trail's records land in
//! `<account>_CloudTrail_<region>` streams of its log group, the CIS root-usage and
//! console-without-MFA filters are counted on `/metrics` exactly as a model of the produced
//! records says, the filters are provisioned on the group, and an alarm on root usage crosses its
//! threshold and its SNS message arrives in a subscribed SQS queue.

use std::{collections::BTreeMap, time::Duration};

use std::sync::LazyLock;

use crate::support::*;
use trailpipe_filterpattern::CIS_FILTERS;

static PORT: LazyLock<u16> = LazyLock::new(free_port);
/// The second test's daemon.
static OTHER_PORT: LazyLock<u16> = LazyLock::new(free_port);
const ADMIN_KEY_ID: &str = "AKIATRAILPIPEOPS0001";
const ADMIN_SECRET: &str = "cloudwatch-test-admin-secret-0123";
/// The account of the daemon's self-records (`integrity.account_id`'s default).
const ACCOUNT: &str = "000000000000";
/// A role in another account than moto's default one.
const ROLE: &str = "arn:aws:iam::222222222222:role/trailpipe-cwl";

/// `n` generated records from `accounts` × `regions`, keyed over 24 keys, with event times of
/// the last hour: CloudWatch Logs refuses events older than 14 days.
fn recent_messages(n: usize, accounts: usize, regions: usize, seed: u64) -> Vec<(String, Vec<u8>)> {
    let mut g = trailpipe_generator::Generator::new(trailpipe_generator::GeneratorConfig {
        accounts,
        regions,
        seed,
        start_time: time::OffsetDateTime::now_utc().unix_timestamp() - 3600,
        ..trailpipe_generator::GeneratorConfig::default()
    });
    (0..n)
        .map(|i| (format!("k{}", i % 24), g.next_record().into_bytes()))
        .collect()
}

/// The value of a counter series on `/metrics` whose labels include `metric="<name>"`.
fn samples(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| {
            l.starts_with("trailpipe_metric_filter_samples_total")
                && l.contains(&format!("metric=\"{name}\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn records_reach_cloudwatch_logs_and_cis_filters_and_alarms_work() {
    let Some(s) = Services::get("cloudwatch") else {
        return;
    };
    let (topic, dlq, group, bucket, _) = fresh(&s, "cwl", 2);
    let log_group = unique("trailpipe-cwl");
    let (sns_topic, queue_url) = sns_topic_with_queue(&s, "alarms");

    let dir = tempfile::tempdir().expect("tempdir");
    let head = kafka_to_moto(&s, &topic, &dlq, &group, *PORT, "");
    let state = dir.path().join("state");
    let cfg = format!(
        r#"{head}
[state]
dir = "{state}"

[[api.credentials]]
name = "ops"
access_key_id = "{ADMIN_KEY_ID}"
secret_access_key = "{ADMIN_SECRET}"
policy = "admin"

[[trails]]
name = "watched"
s3_bucket_name = "{bucket}"
is_multi_region_trail = true
delivery_interval_secs = 1
[trails.cloud_watch_logs]
cloud_watch_logs_log_group = "{log_group}"
cis_benchmark_filters = true
[[trails.cloud_watch_logs.alarms]]
name = "root-usage"
metric_name = "RootAccountUsage"
statistic = "Sum"
period_secs = 10
evaluation_periods = 1
threshold = 1
comparison_operator = "GreaterThanOrEqualToThreshold"
sns_topic_arn = "{sns_topic}"
"#,
        state = state.display()
    );
    let daemon = Daemon::start(dir.path(), &cfg);
    let messages = recent_messages(3_000, 6, 4, 51);
    produce(&s.brokers, &topic, &messages);
    assert!(
        wait_until(Duration::from_secs(120), || committed_total(
            &s.brokers, &group, &topic, 2
        ) >= messages.len() as i64),
        "not committed\n{}",
        daemon.log_text()
    );

    // Model: the trail logs all management events (no selectors); one stream per account/region.
    let mut per_stream: BTreeMap<String, usize> = BTreeMap::new();
    let root = CIS_FILTERS
        .iter()
        .find(|f| f.metric_name == "RootAccountUsage")
        .expect("CIS 3.3")
        .compile();
    let mfa = CIS_FILTERS
        .iter()
        .find(|f| f.metric_name == "ConsoleSigninWithoutMFA")
        .expect("CIS 3.2")
        .compile();
    let config_changes = CIS_FILTERS
        .iter()
        .find(|f| f.metric_name == "CloudTrailConfigChanges")
        .expect("CIS 3.5")
        .compile();
    let (mut roots, mut no_mfa) = (0usize, 0usize);
    for (_, v) in messages.iter().filter(|(_, v)| is_management(v)) {
        let r: serde_json::Value = serde_json::from_slice(v).expect("json");
        let acct = r["recipientAccountId"].as_str().expect("account");
        *per_stream
            .entry(format!(
                "{acct}_CloudTrail_{}",
                r["awsRegion"].as_str().expect("region")
            ))
            .or_default() += 1;
        roots += usize::from(root.matches(v));
        no_mfa += usize::from(mfa.matches(v));
    }
    assert!(
        roots > 0 && no_mfa > 0,
        "the generator produced root usage ({roots}) and console logins without MFA ({no_mfa})"
    );

    let streams = aws(
        &s,
        None,
        &[
            "logs",
            "describe-log-streams",
            "--log-group-name",
            &log_group,
        ],
    );
    let names: Vec<String> = streams["logStreams"]
        .as_array()
        .expect("streams")
        .iter()
        .map(|x| x["logStreamName"].as_str().expect("name").to_string())
        .collect();
    assert_eq!(
        names
            .iter()
            .cloned()
            .collect::<std::collections::BTreeSet<_>>(),
        per_stream.keys().cloned().collect(),
        "streams\n{}",
        daemon.log_text()
    );
    let (stream, want) = per_stream.iter().next().expect("a stream");
    let events = aws(
        &s,
        None,
        &[
            "logs",
            "filter-log-events",
            "--log-group-name",
            &log_group,
            "--log-stream-names",
            stream,
        ],
    );
    let events = events["events"].as_array().expect("events");
    assert_eq!(events.len(), *want, "events in {stream}");
    let times: Vec<i64> = events
        .iter()
        .map(|e| e["timestamp"].as_i64().expect("timestamp"))
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "{stream}: chronological"
    );

    let filters = aws(
        &s,
        None,
        &[
            "logs",
            "describe-metric-filters",
            "--log-group-name",
            &log_group,
        ],
    );
    assert!(
        filters["metricFilters"].as_array().expect("filters").len() >= 14,
        "CIS filters provisioned"
    );

    let (_, metrics) = http_get(*PORT, "/metrics").expect("/metrics");
    assert_eq!(
        samples(&metrics, "RootAccountUsage") as usize,
        roots,
        "root usage counted"
    );
    assert_eq!(
        samples(&metrics, "ConsoleSigninWithoutMFA") as usize,
        no_mfa,
        "console logins without MFA counted"
    );
    eprintln!(
        "{} streams; CIS root usage {roots}, console without MFA {no_mfa}",
        names.len()
    );

    // The alarm fired: its SNS message reached the queue. Every state change is published, so
    // an OK (from INSUFFICIENT_DATA, when the first period closed before the root records were
    // counted) may come first; the ALARM one must follow.
    let mut seen = Vec::new();
    let mut alarm = None;
    for _ in 0..30 {
        for message in receive_sns_messages(&s, &queue_url) {
            seen.push(format!(
                "{} -> {}",
                message["OldStateValue"], message["NewStateValue"]
            ));
            if message["AlarmName"] == "root-usage" && message["NewStateValue"] == "ALARM" {
                alarm = Some(message);
            }
        }
        if alarm.is_some() {
            break;
        }
    }
    let alarm =
        alarm.unwrap_or_else(|| panic!("no ALARM notification; transitions seen: {seen:?}"));
    assert!(
        alarm["NewStateReason"]
            .as_str()
            .is_some_and(|r| r.starts_with("Threshold Crossed")),
        "{alarm}"
    );

    // An attacker's first move: stop the trail through trailpipe's API. The trail records its
    // own StopLogging (trailpipe's self-record), and the CIS 3.5 filter counts it.
    let before = samples(&metrics, "CloudTrailConfigChanges") as usize;
    let changes_in_input = messages
        .iter()
        .filter(|(_, v)| is_management(v) && config_changes.matches(v))
        .count();
    assert_eq!(before, changes_in_input, "CIS 3.5 before the call");
    aws_with_env(
        &s,
        Some(&format!("http://127.0.0.1:{}", *PORT)),
        &[
            ("AWS_ACCESS_KEY_ID", ADMIN_KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", ADMIN_SECRET),
        ],
        &["cloudtrail", "stop-logging", "--name", "watched"],
    );
    let counted = wait_until(Duration::from_secs(60), || {
        http_get(*PORT, "/metrics")
            .is_some_and(|(_, m)| samples(&m, "CloudTrailConfigChanges") as usize == before + 1)
    });
    assert!(
        counted,
        "the StopLogging self-record was not counted by CIS 3.5\n{}",
        daemon.log_text()
    );
    let stream = format!("{ACCOUNT}_CloudTrail_us-east-1");
    let stops = aws(
        &s,
        None,
        &[
            "logs",
            "filter-log-events",
            "--log-group-name",
            &log_group,
            "--log-stream-names",
            &stream,
            "--filter-pattern",
            "{ $.eventName = StopLogging }",
        ],
    );
    let ours: Vec<serde_json::Value> = stops["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| serde_json::from_str(e["message"].as_str().expect("message")).expect("json"))
        .filter(|r: &serde_json::Value| r["userIdentity"]["accessKeyId"] == ADMIN_KEY_ID)
        .collect();
    assert_eq!(
        ours.len(),
        1,
        "the StopLogging self-record in {stream}: {stops}"
    );
    assert_eq!(ours[0]["eventSource"], "cloudtrail.amazonaws.com");
    assert_eq!(
        ours[0]["requestParameters"]["Name"], "watched",
        "{}",
        ours[0]
    );
    assert_eq!(daemon.terminate(Duration::from_secs(30)), Some(0));
}

/// The CloudWatch Logs fast path: with the S3 segment held open for an hour, every record still
/// reaches its log stream within seconds, while no log file exists and no offset is committed
/// (both wait for the segment). A graceful stop then cuts the segment, writes the files and
/// commits everything. The trail names a `cloud_watch_logs_role_arn` in another account: the
/// group is created and written there (moto keeps each account's resources apart), not in the
/// daemon's own account.
#[test]
fn cloudwatch_logs_does_not_wait_for_the_s3_segment_and_writes_as_the_trails_role() {
    let Some(s) = Services::get("cloudwatch fast path") else {
        return;
    };
    let (topic, dlq, group, bucket, s3) = fresh(&s, "cwlfast", 2);
    let log_group = unique("trailpipe-cwl-fast");
    let dir = tempfile::tempdir().expect("tempdir");
    let head = kafka_to_moto(&s, &topic, &dlq, &group, *OTHER_PORT, "");
    let cfg = format!(
        r#"{head}
[cloudwatch_logs]
flush_millis = 100

[[trails]]
name = "watched"
s3_bucket_name = "{bucket}"
is_multi_region_trail = true
delivery_interval_secs = 3600
[trails.cloud_watch_logs]
cloud_watch_logs_log_group = "{log_group}"
cloud_watch_logs_role_arn = "{ROLE}"
"#
    );
    let daemon = Daemon::start(dir.path(), &cfg);
    let creds = aws(
        &s,
        None,
        &[
            "sts",
            "assume-role",
            "--role-arn",
            ROLE,
            "--role-session-name",
            "test-reader",
        ],
    )["Credentials"]
        .clone();
    let text = |k: &str| creds[k].as_str().expect("credential").to_string();
    let (key, secret, token) = (
        text("AccessKeyId"),
        text("SecretAccessKey"),
        text("SessionToken"),
    );
    let as_role = [
        ("AWS_ACCESS_KEY_ID", key.as_str()),
        ("AWS_SECRET_ACCESS_KEY", secret.as_str()),
        ("AWS_SESSION_TOKEN", token.as_str()),
    ];
    let messages = recent_messages(400, 2, 2, 52);
    let management = messages.iter().filter(|(_, v)| is_management(v)).count();
    produce(&s.brokers, &topic, &messages);

    let in_cwl = || {
        let out = aws_with_env(
            &s,
            None,
            &as_role,
            &["logs", "filter-log-events", "--log-group-name", &log_group],
        );
        out["events"].as_array().map_or(0, Vec::len)
    };
    assert!(
        wait_until(Duration::from_secs(60), || in_cwl() >= management),
        "CloudWatch Logs holds {} of {management} records\n{}",
        in_cwl(),
        daemon.log_text()
    );
    assert_eq!(in_cwl(), management, "each record once");
    let own_account = aws(
        &s,
        None,
        &[
            "logs",
            "describe-log-groups",
            "--log-group-name-prefix",
            &log_group,
        ],
    );
    assert_eq!(
        own_account["logGroups"].as_array().map(Vec::len),
        Some(0),
        "the group is in the role's account, not the daemon's: {own_account}"
    );
    assert!(
        read_bucket(&s3, &bucket).is_empty(),
        "the S3 segment is still open: no log file yet"
    );
    assert_eq!(
        committed_total(&s.brokers, &group, &topic, 2),
        0,
        "offsets wait for the S3 files"
    );
    let (_, metrics) = http_get(*OTHER_PORT, "/metrics").expect("/metrics");
    let latencies: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("trailpipe_cwl_delivery_latency_seconds_count"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(
        latencies as usize, management,
        "one latency sample per record"
    );

    assert_eq!(daemon.terminate(Duration::from_secs(30)), Some(0));
    assert_eq!(
        committed_total(&s.brokers, &group, &topic, 2),
        messages.len() as i64,
        "a graceful stop delivers the open segment and commits it"
    );
    let in_files: usize = read_bucket(&s3, &bucket)
        .iter()
        .map(|d| d.records.len())
        .sum();
    assert_eq!(in_files, management);
    assert_eq!(in_cwl(), management, "the stop sent nothing twice");
}
