//! Insights end to end, with real parts (tansu, the daemon binary, moto S3 and CloudWatch Logs,
//! the real aws CLI): three hours of steady management traffic (by event time) and then a burst
//! of an API nobody called before. The daemon writes exactly one Start and one End Insights
//! event for it, with the same `sharedEventID`, in `CloudTrail-Insight` log files with
//! CloudTrail's key layout; they reach the trail's CloudWatch Logs group, `lookup-events
//! --event-category insight` returns them, `/metrics` shows the gauge back at 0, and a restart
//! keeps the detector's state without writing the insight again.

use std::time::Duration;

use std::sync::LazyLock;

use crate::support::*;

static PORT: LazyLock<u16> = LazyLock::new(free_port);
const ACCOUNT: &str = "111122223333";
/// The first minute of traffic: four hours ago, on the hour (CloudWatch Logs refuses events
/// older than 14 days, so the records are recent).
fn t0() -> i64 {
    static T0: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *T0.get_or_init(|| {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        (now - 4 * 3600) / 3600 * 3600
    })
}

fn ymd_hm(epoch: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(epoch).expect("time");
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute()
    )
}
/// Minutes of steady traffic before the burst (the detector needs 60 of history here).
const BURST_AT: i64 = 150;
const BURST_MINUTES: i64 = 5;
const TOTAL_MINUTES: i64 = 180;

fn record(id: &str, minute: i64, second: i64, source: &str, name: &str, read_only: bool) -> String {
    let when = format!("{}:{second:02}Z", ymd_hm(t0() + minute * 60));
    serde_json::json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLE", "accountId": ACCOUNT,
            "arn": format!("arn:aws:iam::{ACCOUNT}:user/ops"), "accessKeyId": "AKIAEXAMPLE", "userName": "ops"},
        "eventTime": when, "eventSource": source, "eventName": name, "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.7", "userAgent": "ops-cli/1.0", "requestParameters": null,
        "responseElements": null, "requestID": id, "eventID": id, "readOnly": read_only,
        "eventType": "AwsApiCall", "managementEvent": true, "recipientAccountId": ACCOUNT,
        "eventCategory": "Management"
    })
    .to_string()
}

/// Steady traffic every minute (2 CreateUser writes, 3 ListBuckets reads), and 40
/// TerminateInstances calls a minute during the burst.
fn messages(from: i64, to: i64, tag: &str) -> Vec<(String, Vec<u8>)> {
    messages_with_burst(from, to, tag, BURST_AT, "TerminateInstances")
}

/// [`messages`] with the burst (of `burst_name`, an EC2 call) starting at minute `burst_at`.
/// Keyed by event id: spread over every partition.
fn messages_with_burst(
    from: i64,
    to: i64,
    tag: &str,
    burst_at: i64,
    burst_name: &str,
) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for m in from..to {
        let mut push = |i: usize, src: &str, name: &str, ro: bool| {
            let id = format!("{tag}-{m:04}-{name}-{i:02}");
            let r = record(&id, m, (i as i64 * 7) % 60, src, name, ro);
            out.push((id, r.into_bytes()));
        };
        for i in 0..2 {
            push(i, "iam.amazonaws.com", "CreateUser", false);
        }
        for i in 0..3 {
            push(i, "s3.amazonaws.com", "ListBuckets", true);
        }
        if (burst_at..burst_at + BURST_MINUTES).contains(&m) {
            for i in 0..40 {
                push(i, "ec2.amazonaws.com", burst_name, false);
            }
        }
    }
    out
}

fn insight_files(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<Delivered> {
    read_bucket(s3, bucket)
        .into_iter()
        .filter(|d| d.key.contains("/CloudTrail-Insight/"))
        .collect()
}

#[test]
fn a_burst_becomes_one_start_and_one_end_everywhere_insights_go() {
    let Some(s) = Services::get("insights") else {
        return;
    };
    let (topic, dlq, group, bucket, s3) = fresh(&s, "insights", 1);
    let log_group = unique("/trailpipe/insights");
    let dir = tempfile::tempdir().expect("tempdir");
    let head = kafka_to_moto(&s, &topic, &dlq, &group, *PORT, "");
    let cfg = format!(
        "{head}\n{}\n[insights]\nmin_baseline_minutes = 60\n{}",
        state_and_history(dir.path()),
        trail("watched", &bucket)
            .insights(&["ApiCallRateInsight", "ApiErrorRateInsight"])
            .log_group(&log_group),
    );
    let first = messages(0, TOTAL_MINUTES, "a");
    let daemon = Daemon::start(dir.path(), &cfg);
    produce(&s.brokers, &topic, &first);
    assert!(
        wait_until(Duration::from_secs(120), || insight_files(&s3, &bucket)
            .iter()
            .map(|d| d.records.len())
            .sum::<usize>()
            >= 2),
        "no Start and End Insights files\n{}",
        daemon.log_text()
    );
    // Insights read the stream on their own; the records themselves are in history and
    // CloudWatch Logs once their offsets are committed.
    assert!(
        wait_until(Duration::from_secs(60), || committed_total(
            &s.brokers, &group, &topic, 1
        ) >= first.len() as i64),
        "not all committed\n{}",
        daemon.log_text()
    );
    let files = insight_files(&s3, &bucket);
    let records: Vec<serde_json::Value> = files
        .iter()
        .flat_map(|d| d.records.iter())
        .map(|r| serde_json::from_str(r).expect("json"))
        .collect();
    assert_eq!(
        records.len(),
        2,
        "exactly one Start and one End: {records:#?}"
    );
    let (start, end) = if records[0]["insightDetails"]["state"] == "Start" {
        (&records[0], &records[1])
    } else {
        (&records[1], &records[0])
    };
    assert_eq!(start["insightDetails"]["state"], "Start");
    assert_eq!(end["insightDetails"]["state"], "End");
    for r in [start, end] {
        assert_eq!(r["eventType"], "AwsCloudTrailInsight");
        assert_eq!(r["eventCategory"], "Insight");
        assert_eq!(r["recipientAccountId"], ACCOUNT);
        assert_eq!(r["insightDetails"]["eventSource"], "ec2.amazonaws.com");
        assert_eq!(r["insightDetails"]["eventName"], "TerminateInstances");
        assert_eq!(r["insightDetails"]["insightType"], "ApiCallRateInsight");
    }
    assert_eq!(start["sharedEventID"], end["sharedEventID"]);
    let burst_start = t0() + BURST_AT * 60;
    assert_eq!(start["eventTime"], format!("{}:00Z", ymd_hm(burst_start)));
    let insight = &start["insightDetails"]["insightContext"]["statistics"]["insight"]["average"];
    assert_eq!(insight.as_f64(), Some(40.0), "{start}");
    for f in &files {
        // AWSLogs/<acct>/CloudTrail-Insight/<region>/YYYY/MM/DD/<acct>_CloudTrail-Insight_<region>_YYYYMMDDTHHmmZ_<16>.json.gz
        let r: serde_json::Value = serde_json::from_str(&f.records[0]).expect("json");
        let t = r["eventTime"].as_str().expect("eventTime");
        let (y, mo, d, h, mi) = (&t[0..4], &t[5..7], &t[8..10], &t[11..13], &t[14..16]);
        let folder = format!("AWSLogs/{ACCOUNT}/CloudTrail-Insight/us-east-1/{y}/{mo}/{d}/");
        let name = f
            .key
            .strip_prefix(&folder)
            .unwrap_or_else(|| panic!("{} not under {folder}", f.key));
        let stem = format!("{ACCOUNT}_CloudTrail-Insight_us-east-1_{y}{mo}{d}T{h}{mi}Z_");
        let unique = name
            .strip_prefix(&stem)
            .and_then(|n| n.strip_suffix(".json.gz"))
            .unwrap_or_else(|| panic!("{name} is not {stem}<16>.json.gz"));
        assert!(
            unique.len() == 16 && unique.bytes().all(|b| b.is_ascii_alphanumeric()),
            "{name}"
        );
    }

    // The event history answers EventCategory=insight with both, newest (End) first.
    let endpoint = format!("http://127.0.0.1:{}", *PORT);
    let found = aws(
        &s,
        Some(&endpoint),
        &["cloudtrail", "lookup-events", "--event-category", "insight"],
    );
    let events = found["Events"].as_array().expect("Events");
    let ids: Vec<&str> = events
        .iter()
        .map(|e| e["EventId"].as_str().expect("id"))
        .collect();
    assert_eq!(
        ids,
        vec![
            end["eventID"].as_str().unwrap(),
            start["eventID"].as_str().unwrap()
        ],
        "{found:#}"
    );
    assert_eq!(events[0]["EventName"], "TerminateInstances");
    // ...and plain lookups (management events) do not return them.
    let plain = aws(
        &s,
        Some(&endpoint),
        &[
            "cloudtrail",
            "lookup-events",
            "--lookup-attributes",
            "AttributeKey=EventName,AttributeValue=TerminateInstances",
            "--max-items",
            "1000",
        ],
    );
    assert_eq!(
        plain["Events"].as_array().expect("Events").len() as i64,
        40 * BURST_MINUTES,
        "the burst's own calls, no Insights events"
    );

    // CloudWatch Logs has both Insights events in the trail's group (beside the trail's records).
    let logged = aws(
        &s,
        None,
        &["logs", "filter-log-events", "--log-group-name", &log_group],
    );
    let mut insight_messages: Vec<String> = logged["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["message"].as_str().expect("message").to_string())
        .filter(|m| m.contains("\"AwsCloudTrailInsight\""))
        .collect();
    insight_messages.sort();
    let mut want: Vec<String> = files.iter().flat_map(|d| d.records.clone()).collect();
    want.sort();
    assert_eq!(
        insight_messages, want,
        "CloudWatch Logs holds the same Insights records"
    );

    let (_, metrics) = http_get(*PORT, "/metrics").expect("/metrics");
    assert!(
        metrics.contains("trailpipe_insights_active{trail=\"watched\"} 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("trailpipe_insights_events_total{trail=\"watched\",state=\"Start\"} 1"),
        "{metrics}"
    );

    // A graceful restart snapshots the detector; replaying nothing new writes nothing new, and
    // more normal traffic after the restart raises nothing.
    assert_eq!(daemon.terminate(Duration::from_secs(30)), Some(0));
    let snapshot = dir.path().join("state/insights/watched.snapshot");
    assert!(
        snapshot.exists(),
        "no detector snapshot at {}",
        snapshot.display()
    );
    let daemon = Daemon::start(dir.path(), &cfg);
    let more = messages(TOTAL_MINUTES, TOTAL_MINUTES + 30, "b");
    produce(&s.brokers, &topic, &more);
    let all = (first.len() + more.len()) as i64;
    assert!(
        wait_until(Duration::from_secs(60), || committed_total(
            &s.brokers, &group, &topic, 1
        ) >= all),
        "not all committed\n{}",
        daemon.log_text()
    );
    std::thread::sleep(Duration::from_secs(2));
    let after: usize = insight_files(&s3, &bucket)
        .iter()
        .map(|d| d.records.len())
        .sum();
    assert_eq!(
        after,
        2,
        "no new Insights after the restart\n{}",
        daemon.log_text()
    );
    assert!(
        daemon.log_text().contains("Insights state restored"),
        "{}",
        daemon.log_text()
    );
}

static REPLICA_PORTS: LazyLock<[u16; 2]> = LazyLock::new(|| [free_port(), free_port()]);

/// Insights records in `bucket`, parsed.
fn insight_records(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<serde_json::Value> {
    insight_files(s3, bucket)
        .iter()
        .flat_map(|d| d.records.iter())
        .map(|r| serde_json::from_str(r).expect("json"))
        .collect()
}

/// The event ids `lookup-events --event-category insight` returns through the replica at `port`.
fn insight_lookup(s: &Services, port: u16) -> Vec<String> {
    let found = aws(
        s,
        Some(&format!("http://127.0.0.1:{port}")),
        &["cloudtrail", "lookup-events", "--event-category", "insight"],
    );
    let mut ids: Vec<String> = found["Events"]
        .as_array()
        .expect("Events")
        .iter()
        .map(|e| e["EventId"].as_str().expect("id").to_string())
        .collect();
    ids.sort();
    ids
}

/// Whether the daemon's last word on the Insights leader group is that it writes.
fn is_insights_writer(d: &Daemon) -> bool {
    d.log_text()
        .lines()
        .rfind(|l| l.contains("Insights writer for the group") && l.contains("\"leading\":"))
        .is_some_and(|l| l.contains("\"leading\":true"))
}

/// Many replicas, one Insights (issue 17): two daemons in one group over a 4-partition topic
/// whose records are spread by event id. Each replica's detectors read the whole stream, so the
/// burst's statistics are the account's (40 calls a minute, not a replica's share); only the
/// group's Insights writer (the owner of partition 0) writes, so there is one Start and one
/// End; `lookup-events` through either replica returns both. Then the writer is killed
/// (`kill -9`): once the group gives its partitions to the other replica, that one writes the
/// next insight, once.
#[test]
fn replicas_detect_over_the_whole_stream_and_write_each_insight_once() {
    let Some(s) = Services::get("insights across replicas") else {
        return;
    };
    let (topic, dlq, group, bucket, s3) = fresh(&s, "insightsreplicas", 4);
    let dirs = [
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    ];
    let config = |port: u16, dir: &std::path::Path| {
        format!(
            "{}\n{}\n[insights]\nmin_baseline_minutes = 60\n{}",
            kafka_to_moto(&s, &topic, &dlq, &group, port, ""),
            state_and_history(dir),
            trail("watched", &bucket).insights(&["ApiCallRateInsight"]),
        )
    };
    let mut daemons: Vec<Daemon> = REPLICA_PORTS
        .iter()
        .zip(&dirs)
        .map(|(port, dir)| Daemon::start(dir.path(), &config(*port, dir.path())))
        .collect();
    produce(&s.brokers, &topic, &messages(0, TOTAL_MINUTES, "r"));
    assert!(
        wait_until(Duration::from_secs(120), || insight_records(&s3, &bucket)
            .len()
            >= 2),
        "no Start and End Insights files\n{}",
        daemon_logs(&daemons)
    );
    // Both replicas detected it; a duplicate would have been written by now.
    std::thread::sleep(Duration::from_secs(5));
    let records = insight_records(&s3, &bucket);
    assert_eq!(records.len(), 2, "one Start and one End: {records:#?}");
    let start = records
        .iter()
        .find(|r| r["insightDetails"]["state"] == "Start")
        .expect("Start");
    let average = &start["insightDetails"]["insightContext"]["statistics"]["insight"]["average"];
    assert_eq!(
        average.as_f64(),
        Some(40.0),
        "the whole stream's rate, not a replica's share: {start}"
    );
    let mut ids: Vec<String> = records
        .iter()
        .map(|r| r["eventID"].as_str().expect("eventID").to_string())
        .collect();
    ids.sort();
    for port in *REPLICA_PORTS {
        assert!(
            wait_until(Duration::from_secs(30), || insight_lookup(&s, port) == ids),
            "lookup-events through {port}: {:?}, want {ids:?}",
            insight_lookup(&s, port)
        );
    }
    let writers: Vec<usize> = (0..2)
        .filter(|i| is_insights_writer(&daemons[*i]))
        .collect();
    assert_eq!(writers.len(), 1, "one writer\n{}", daemon_logs(&daemons));

    // The writer dies; the other replica, which detected all along, takes over once the group
    // notices (the session timeout).
    let mut leaving = daemons.remove(writers[0]);
    leaving.child.kill().expect("kill -9");
    let _ = leaving.child.wait();
    let killed = std::time::Instant::now();
    let stays = REPLICA_PORTS[1 - writers[0]];
    assert!(
        wait_until(Duration::from_secs(120), || is_insights_writer(&daemons[0])),
        "no takeover\n{}",
        daemons[0].log_text()
    );
    let takeover = killed.elapsed();
    produce(
        &s.brokers,
        &topic,
        &messages_with_burst(
            TOTAL_MINUTES,
            TOTAL_MINUTES + 40,
            "t",
            TOTAL_MINUTES + 10,
            "StopInstances",
        ),
    );
    assert!(
        wait_until(Duration::from_secs(120), || insight_records(&s3, &bucket)
            .len()
            >= 4),
        "the new writer wrote no Insights\n{}",
        daemons[0].log_text()
    );
    std::thread::sleep(Duration::from_secs(3));
    let records = insight_records(&s3, &bucket);
    let stop: Vec<&serde_json::Value> = records
        .iter()
        .filter(|r| r["insightDetails"]["eventName"] == "StopInstances")
        .collect();
    assert_eq!(
        (records.len(), stop.len()),
        (4, 2),
        "the second insight's Start and End, once: {records:#?}"
    );
    assert!(
        wait_until(Duration::from_secs(30), || insight_lookup(&s, stays).len()
            == 4),
        "lookup-events through {stays}: {:?}",
        insight_lookup(&s, stays)
    );
    eprintln!(
        "2 replicas: one Start/End pair at the whole stream's rate (average {average}), written once; the writer was killed, the other took over after {:.1} s and wrote the next pair",
        takeover.as_secs_f64()
    );
    for d in daemons {
        assert_eq!(d.terminate(Duration::from_secs(30)), Some(0));
    }
}
