//! Failing neighbours other than S3 and the broker, end to end with the real parts (tansu, moto,
//! the daemon binary): CloudWatch Logs, SNS and KMS unreachable for a while (each service's
//! endpoint pointed through a [`Proxy`] that is stopped and resumed), the local store and the
//! event history on a full disk (a small tmpfs filled by the test), and the wall clock jumping
//! forward and back under the daemon (libfaketime).
//!
//! One AWS service at a time goes through a proxy: these daemons get no `[storage]
//! endpoint_url`, so every AWS client takes its endpoint from the environment, `AWS_ENDPOINT_URL`
//! (moto) and, for the one service under test, the SDK's service-specific
//! `AWS_ENDPOINT_URL_<SERVICE>` (the proxy).
//!
//! The CloudWatch Logs and SNS outages start between two requests (after everything produced so
//! far is committed, with records produced all through the outage): a request the service had
//! already accepted when its connection was cut would be sent again, and both are at-least-once
//! by design (README), so an outage starting at a random instant could legitimately duplicate
//! one put. Started this way, any duplicate or loss is the daemon's fault.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    io::{Read, Write},
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use crate::support::*;

/// How long an outage lasts.
const OUTAGE: Duration = Duration::from_secs(25);

/// moto's `host:port`, what the proxies forward to.
fn moto_addr(s: &Services) -> String {
    s.s3_endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
}

/// [`kafka_to_moto`] without `[storage] endpoint_url`: the daemon's AWS clients then find moto
/// through `AWS_ENDPOINT_URL` (inherited from the test), and one service can be sent elsewhere
/// with `AWS_ENDPOINT_URL_<SERVICE>`.
fn head(s: &Services, topic: &str, dlq: &str, group: &str, port: u16) -> String {
    let h = kafka_to_moto(s, topic, dlq, group, port, "");
    let line = format!("endpoint_url = \"{}\"\n", s.s3_endpoint);
    assert!(h.contains(&line), "{h}");
    h.replace(&line, "")
}

/// `n` generated records of `accounts` × `regions`, dated from half an hour ago (CloudWatch
/// Logs refuses events older than 14 days; the event history keeps 90 days), keyed over 24 keys.
fn recent_messages(n: usize, accounts: usize, regions: usize, seed: u64) -> Vec<(String, Vec<u8>)> {
    let mut g = trailpipe_generator::Generator::new(trailpipe_generator::GeneratorConfig {
        accounts,
        regions,
        seed,
        start_time: time::OffsetDateTime::now_utc().unix_timestamp() - 1800,
        ..trailpipe_generator::GeneratorConfig::default()
    });
    (0..n)
        .map(|i| (format!("k{}", i % 24), g.next_record().into_bytes()))
        .collect()
}

fn ids(messages: &[(String, Vec<u8>)]) -> Vec<String> {
    messages
        .iter()
        .map(|(_, v)| event_id(std::str::from_utf8(v).expect("utf8")))
        .collect()
}

/// Runs `script` with the test venv's Python (boto3, from moto's dependencies) and parses what
/// it prints as JSON.
fn python(script: &str, args: &[&str]) -> serde_json::Value {
    let py = std::env::var("TRAILPIPE_TEST_PYTHON").expect("TRAILPIPE_TEST_PYTHON");
    let out = Command::new(py)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "python: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("python printed JSON")
}

/// The `eventID` of every event in a CloudWatch Logs group (all streams), as often as it is there.
fn log_group_event_ids(s: &Services, group: &str) -> Vec<String> {
    const SCRIPT: &str = r#"
import boto3, json, sys
logs = boto3.client("logs", endpoint_url=sys.argv[1], region_name="us-east-1")
out = []
try:
    for page in logs.get_paginator("filter_log_events").paginate(logGroupName=sys.argv[2]):
        out.extend(json.loads(e["message"])["eventID"] for e in page["events"])
except logs.exceptions.ResourceNotFoundException:
    pass
print(json.dumps(out))
"#;
    python(SCRIPT, &[&s.s3_endpoint, group])
        .as_array()
        .expect("array")
        .iter()
        .map(|v| v.as_str().expect("eventID").to_string())
        .collect()
}

/// Every SNS notification waiting in an SQS queue subscribed to the topic (received and
/// deleted until the queue stays empty for `idle_polls` one-second polls), each message's
/// `Message` parsed.
fn drain_notifications(s: &Services, queue_url: &str, idle_polls: u32) -> Vec<serde_json::Value> {
    const SCRIPT: &str = r#"
import boto3, json, sys
sqs = boto3.client("sqs", endpoint_url=sys.argv[1], region_name="us-east-1")
out, idle = [], 0
while idle < int(sys.argv[3]):
    got = sqs.receive_message(QueueUrl=sys.argv[2], MaxNumberOfMessages=10, WaitTimeSeconds=1,
                              VisibilityTimeout=3600).get("Messages", [])
    if not got:
        idle += 1
        continue
    idle = 0
    out.extend(json.loads(json.loads(m["Body"])["Message"]) for m in got)
    sqs.delete_message_batch(QueueUrl=sys.argv[2], Entries=[
        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])
print(json.dumps(out))
"#;
    python(
        SCRIPT,
        &[&s.s3_endpoint, queue_url, &idle_polls.to_string()],
    )
    .as_array()
    .expect("array")
    .clone()
}

/// Key → times it was named, over notifications of `bucket` (each must be CloudTrail's exact
/// `{"s3Bucket":..,"s3ObjectKey":[..]}`).
fn notified_keys(messages: &[serde_json::Value], bucket: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for m in messages {
        let obj = m.as_object().expect("object");
        assert_eq!(
            obj.keys().collect::<Vec<_>>(),
            ["s3Bucket", "s3ObjectKey"],
            "{m}"
        );
        assert_eq!(m["s3Bucket"], bucket, "{m}");
        for k in m["s3ObjectKey"].as_array().expect("keys") {
            *out.entry(k.as_str().expect("key").to_string()).or_default() += 1;
        }
    }
    out
}

/// The keys of `bucket`'s objects but file-time markers (log files, digests).
fn bucket_keys(s3: &aws_sdk_s3::Client, bucket: &str) -> BTreeSet<String> {
    list_objects(s3, bucket)
        .into_keys()
        .filter(|k| !is_file_time_marker(k))
        .collect()
}

/// Every object of `bucket`: key → LastModified (seconds since the epoch).
fn list_objects(s3: &aws_sdk_s3::Client, bucket: &str) -> BTreeMap<String, i64> {
    rt().block_on(async {
        let mut out = BTreeMap::new();
        let mut pages = s3.list_objects_v2().bucket(bucket).into_paginator().send();
        while let Some(page) = pages.next().await {
            for o in page.expect("list").contents() {
                out.insert(
                    o.key().expect("key").to_string(),
                    o.last_modified().expect("LastModified").secs(),
                );
            }
        }
        out
    })
}

fn get_object(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<u8> {
    rt().block_on(async {
        let o = s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .expect("get");
        o.body.collect().await.expect("body").into_bytes().to_vec()
    })
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt")
}

/// Waits up to `timeout` until `group` has committed `expected` records of `topic`.
///
/// The count comes from the test, not from the broker: tansu 0.6 reports a partition's high
/// watermark as its last record batch's base offset + 1, so [`end_offsets_total`] (and
/// [`all_committed`]) undercount while the last batch holds several records.
fn committed_reaches(
    s: &Services,
    group: &str,
    topic: &str,
    partitions: i32,
    expected: i64,
    timeout: Duration,
) -> bool {
    wait_until(timeout, || {
        committed_total(&s.brokers, group, topic, partitions) >= expected
    })
}

/// What the test saw of the committed offsets while a neighbour was down.
struct Held {
    /// The committed total when the outage began.
    at_start: i64,
    /// Every committed total sampled during the outage.
    samples: Vec<i64>,
    /// Records in the topic when the outage ended (those before it and those produced during it).
    end: i64,
}

/// Keeps `proxy` down for [`OUTAGE`] while `messages` are produced after the `known_before`
/// records the topic holds, sampling the committed offsets; `during` runs once a second
/// (checks of the daemon's reports). Resumes the proxy.
#[allow(clippy::too_many_arguments)]
fn outage(
    s: &Services,
    proxy: &Proxy,
    topic: &str,
    group: &str,
    partitions: i32,
    known_before: i64,
    messages: &[(String, Vec<u8>)],
    mut during: impl FnMut(),
) -> Held {
    let at_start = committed_total(&s.brokers, group, topic, partitions);
    proxy.stop();
    let down = Instant::now();
    let producer = produce_in_background(
        &s.brokers,
        topic,
        messages,
        messages.len().div_ceil(10),
        Duration::from_secs(1),
    );
    let mut samples = Vec::new();
    let mut ticks = 0;
    while down.elapsed() < OUTAGE {
        samples.push(committed_total(&s.brokers, group, topic, partitions));
        if down.elapsed() >= Duration::from_secs(ticks) {
            during();
            ticks += 1;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    producer.join().expect("producer");
    let end = known_before + messages.len() as i64;
    samples.push(committed_total(&s.brokers, group, topic, partitions));
    proxy.resume();
    Held {
        at_start,
        samples,
        end,
    }
}

impl Held {
    /// Nothing was committed while the neighbour was down, and records were waiting.
    fn assert_held(&self, what: &str) {
        assert!(
            self.samples.iter().all(|&c| c == self.at_start),
            "offsets moved while {what} was down: from {} through {:?}",
            self.at_start,
            self.samples
        );
        assert!(
            self.end > self.at_start,
            "nothing was produced during the {what} outage"
        );
    }
}

/// Waits until the `expected` records are committed after a resume; how long that took.
fn recovery(
    s: &Services,
    group: &str,
    topic: &str,
    partitions: i32,
    expected: i64,
    daemon: &Daemon,
) -> Duration {
    let resumed = Instant::now();
    assert!(
        committed_reaches(
            s,
            group,
            topic,
            partitions,
            expected,
            Duration::from_secs(120)
        ),
        "committed {} of {expected} after the outage\n{}",
        committed_total(&s.brokers, group, topic, partitions),
        daemon.log_text()
    );
    resumed.elapsed()
}

/// CloudWatch Logs unreachable for 25 s while records flow: the log files keep landing in S3
/// but no offset is committed (a segment is acknowledged only once CloudWatch Logs holds its
/// records); the failing puts are counted; after the outage every record is in the log group
/// exactly once and in S3 exactly once, and the offsets reach the end.
#[test]
fn a_cloudwatch_logs_outage_holds_offsets_and_loses_and_duplicates_nothing() {
    let Some(s) = Services::get("cloudwatch logs outage") else {
        return;
    };
    let partitions = 2;
    let (topic, dlq, group, bucket, s3) = fresh(&s, "cwloutage", partitions);
    let log_group = unique("trailpipe-cwl-outage");
    let proxy = Proxy::start(&moto_addr(&s));
    let port = free_port();
    let cfg = format!(
        "{}\n[cloudwatch_logs]\nflush_millis = 100\n{}",
        head(&s, &topic, &dlq, &group, port),
        trail_of_everything(
            "everything",
            &bucket,
            &format!("[trails.cloud_watch_logs]\ncloud_watch_logs_log_group = \"{log_group}\"")
        )
    );
    let endpoint = format!("http://127.0.0.1:{}", proxy.port);
    let dir = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start_with_env(
        dir.path(),
        &cfg,
        &[("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", &endpoint)],
    );
    let before = recent_messages(2_000, 2, 2, 301);
    let during = recent_messages(4_000, 2, 2, 302);
    produce(&s.brokers, &topic, &before);
    assert!(
        committed_reaches(
            &s,
            &group,
            &topic,
            partitions,
            before.len() as i64,
            Duration::from_secs(60)
        ),
        "not committed before the outage\n{}",
        daemon.log_text()
    );
    assert_eq!(
        log_group_event_ids(&s, &log_group).len(),
        before.len(),
        "every record in the log group before the outage (through the proxy)"
    );
    let errors_before = metric_sum(port, "trailpipe_cwl_errors_total");
    let files_before = bucket_keys(&s3, &bucket).len();

    // /readyz says so while it lasts: offsets are held back, as for an S3 outage.
    let mut unready = 0;
    let held = outage(
        &s,
        &proxy,
        &topic,
        &group,
        partitions,
        before.len() as i64,
        &during,
        || {
            let cwl_down = http_get(port, "/readyz").is_some_and(|(code, body)| {
                let b: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                code == 503 && b["cloudwatch_logs"]["healthy"] == false
            });
            unready += usize::from(cwl_down);
        },
    );
    assert!(
        unready > 0,
        "/readyz never reported the CloudWatch Logs outage\n{}",
        daemon.log_text()
    );
    let errors = metric_sum(port, "trailpipe_cwl_errors_total") - errors_before;
    let files_during = bucket_keys(&s3, &bucket).len() - files_before;
    held.assert_held("CloudWatch Logs");
    assert!(
        errors > 0.0,
        "no CloudWatch Logs error counted during the outage\n{}",
        daemon.log_text()
    );
    assert!(
        files_during > 0,
        "no log file written during the outage: S3 should not wait for CloudWatch Logs"
    );
    let took = recovery(
        &s,
        &group,
        &topic,
        partitions,
        (before.len() + during.len()) as i64,
        &daemon,
    );

    assert!(
        wait_until(Duration::from_secs(30), || http_get(port, "/readyz")
            .is_some_and(|(code, _)| code == 200)),
        "/readyz did not recover after the CloudWatch Logs outage"
    );
    let all: Vec<(String, Vec<u8>)> = [before, during].concat();
    let mut in_group: HashMap<String, usize> = HashMap::new();
    for id in log_group_event_ids(&s, &log_group) {
        *in_group.entry(id).or_default() += 1;
    }
    let produced = ids(&all);
    let lost = produced
        .iter()
        .filter(|id| !in_group.contains_key(*id))
        .count();
    let duplicated = in_group.values().filter(|&&n| n > 1).count();
    eprintln!(
        "CloudWatch Logs down {OUTAGE:?}: offsets held at {} while the topic grew to {}; {files_during} log files written meanwhile; {errors} put errors counted; everything committed {took:?} after the resume; log group: {} events, {lost} lost, {duplicated} duplicated",
        held.at_start,
        held.end,
        in_group.values().sum::<usize>()
    );
    assert_eq!(
        (lost, duplicated, in_group.len()),
        (0, 0, produced.len()),
        "log group after the outage\n{}",
        daemon.log_text()
    );
    assert_eq!(daemon.terminate(Duration::from_secs(30)), Some(0));
    assert_delivered_once(&s, &s3, &bucket, &topic, partitions, &all);
}

/// SNS unreachable for 25 s while records flow: a notification is part of a file's delivery,
/// so the files land in S3 but no offset is committed until SNS takes their notifications;
/// failed publishes are counted; after the outage each file written is named in exactly one
/// notification, the records are in S3 exactly once and the offsets reach the end.
#[test]
fn an_sns_outage_holds_offsets_until_every_file_is_notified_once() {
    let Some(s) = Services::get("sns outage") else {
        return;
    };
    let partitions = 2;
    let (topic, dlq, group, bucket, s3) = fresh(&s, "snsoutage", partitions);
    let (sns_topic, queue_url) = sns_topic_with_queue(&s, "snsoutage");
    let proxy = Proxy::start(&moto_addr(&s));
    let port = free_port();
    let cfg = format!(
        "{}{}",
        head(&s, &topic, &dlq, &group, port),
        trail_of_everything(
            "everything",
            &bucket,
            &format!("sns_topic_arn = \"{sns_topic}\"")
        )
    );
    let endpoint = format!("http://127.0.0.1:{}", proxy.port);
    let dir = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start_with_env(dir.path(), &cfg, &[("AWS_ENDPOINT_URL_SNS", &endpoint)]);
    let before = recent_messages(1_500, 2, 2, 311);
    let during = recent_messages(3_000, 2, 2, 312);
    produce(&s.brokers, &topic, &before);
    assert!(
        committed_reaches(
            &s,
            &group,
            &topic,
            partitions,
            before.len() as i64,
            Duration::from_secs(60)
        ),
        "not committed before the outage\n{}",
        daemon.log_text()
    );
    // Committed means notified: every file so far is already in the queue, once.
    let first = notified_keys(&drain_notifications(&s, &queue_url, 2), &bucket);
    let files_before = bucket_keys(&s3, &bucket);
    assert_eq!(
        first.keys().cloned().collect::<BTreeSet<_>>(),
        files_before,
        "notifications before the outage"
    );
    assert!(first.values().all(|&n| n == 1), "{first:?}");
    let errors_before = metric_sum(port, "trailpipe_sns_errors_total");

    let held = outage(
        &s,
        &proxy,
        &topic,
        &group,
        partitions,
        before.len() as i64,
        &during,
        || {},
    );
    let errors = metric_sum(port, "trailpipe_sns_errors_total") - errors_before;
    let files_during = bucket_keys(&s3, &bucket).len() - files_before.len();
    held.assert_held("SNS");
    assert!(
        errors > 0.0,
        "no SNS error counted during the outage\n{}",
        daemon.log_text()
    );
    assert!(
        files_during > 0,
        "no log file written during the outage: files are written before they are notified"
    );
    let took = recovery(
        &s,
        &group,
        &topic,
        partitions,
        (before.len() + during.len()) as i64,
        &daemon,
    );

    let later = drain_notifications(&s, &queue_url, 3);
    let notified = notified_keys(&later, &bucket);
    let new_files: BTreeSet<String> = bucket_keys(&s3, &bucket)
        .difference(&files_before)
        .cloned()
        .collect();
    let twice: Vec<(&String, &usize)> = notified.iter().filter(|(_, &n)| n > 1).collect();
    eprintln!(
        "SNS down {OUTAGE:?}: offsets held at {} while the topic grew to {}; {files_during} log files written meanwhile; {errors} publish errors counted; everything committed {took:?} after the resume; {} notifications name {} keys for {} new files",
        held.at_start,
        held.end,
        later.len(),
        notified.len(),
        new_files.len()
    );
    assert!(twice.is_empty(), "files notified more than once: {twice:?}");
    assert_eq!(
        notified.keys().cloned().collect::<BTreeSet<_>>(),
        new_files,
        "every file written from the outage on is notified, nothing else\n{}",
        daemon.log_text()
    );
    assert_eq!(daemon.terminate(Duration::from_secs(30)), Some(0));
    let all: Vec<(String, Vec<u8>)> = [before, during].concat();
    assert_delivered_once(&s, &s3, &bucket, &topic, partitions, &all);
}

const KMS_ACCOUNT: &str = "123456789012";

fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(b)
        .read_to_end(&mut out)
        .expect("gunzip");
    out
}

fn parse_digest_time(t: &str) -> i64 {
    time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("digest time {t}: {e}"))
        .unix_timestamp()
}

/// The digests of one chain, read: `(key, start, end, listed log files)`, by end time, normal
/// digests only (backfill digests listed separately, with their files).
struct Chain {
    normal: Vec<(String, i64, i64, Vec<String>)>,
    backfill_files: Vec<String>,
}

fn read_chain(s3: &aws_sdk_s3::Client, bucket: &str, keys: &[String]) -> Chain {
    let mut chain = Chain {
        normal: Vec::new(),
        backfill_files: Vec::new(),
    };
    for key in keys {
        let d: serde_json::Value =
            serde_json::from_slice(&gunzip(&get_object(s3, bucket, key))).expect("digest JSON");
        let files: Vec<String> = d["logFiles"]
            .as_array()
            .expect("logFiles")
            .iter()
            .map(|f| f["s3Object"].as_str().expect("s3Object").to_string())
            .collect();
        if key.ends_with("_backfill.json.gz") {
            chain.backfill_files.extend(files);
        } else {
            chain.normal.push((
                key.clone(),
                parse_digest_time(d["digestStartTime"].as_str().expect("start")),
                parse_digest_time(d["digestEndTime"].as_str().expect("end")),
                files,
            ));
        }
    }
    chain.normal.sort_by_key(|d| d.2);
    chain
}

/// The trail's `LatestDigestDeliveryError` from the daemon's GetTrailStatus (null when none).
fn digest_error(s: &Services, port: u16) -> serde_json::Value {
    aws(
        s,
        Some(&format!("http://127.0.0.1:{port}")),
        &["cloudtrail", "get-trail-status", "--name", "everything"],
    )["LatestDigestDeliveryError"]
        .clone()
}

/// KMS unreachable for 25 s (five 5 s digest windows) while records flow and digests are signed
/// with a KMS key: delivery and commits go on; no digest is written while KMS is down, the
/// failures are counted on `/metrics` and shown in GetTrailStatus; after the outage the missed
/// windows are digested, each chain is contiguous (every window once, every log file listed),
/// and the real `aws cloudtrail validate-logs` accepts every chain.
#[test]
fn a_kms_outage_delays_digests_and_the_chain_stays_whole_and_valid() {
    let Some(s) = Services::get("kms outage") else {
        return;
    };
    let partitions = 2;
    let (topic, dlq, group, bucket, s3) = fresh(&s, "kmsoutage", partitions);
    let key = aws(
        &s,
        None,
        &[
            "kms",
            "create-key",
            "--key-spec",
            "RSA_2048",
            "--key-usage",
            "SIGN_VERIFY",
        ],
    )["KeyMetadata"]["KeyId"]
        .as_str()
        .expect("KeyId")
        .to_string();
    let proxy = Proxy::start(&moto_addr(&s));
    let port = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = format!(
        r#"{}
[state]
dir = "{state}"

[integrity]
kms_key_id = "{key}"
digest_settle_secs = 2
account_id = "{KMS_ACCOUNT}"
{}"#,
        head(&s, &topic, &dlq, &group, port),
        trail_of_everything("everything", &bucket,
            "s3_key_prefix = \"audit\"\nhome_region = \"us-east-1\"\nenable_log_file_validation = true\ndigest_interval_secs = 5"
        ),
        state = dir.path().join("state").display()
    );
    let start = (time::OffsetDateTime::now_utc() - time::Duration::minutes(2))
        .format(&time::format_description::well_known::Rfc3339)
        .expect("time");
    let endpoint = format!("http://127.0.0.1:{}", proxy.port);
    let daemon = Daemon::start_with_env(dir.path(), &cfg, &[("AWS_ENDPOINT_URL_KMS", &endpoint)]);
    // One account in two regions: two chains.
    let messages = recent_messages(4_500, 1, 2, 321);
    let (before, rest) = messages.split_at(1_500);
    let (during, after) = rest.split_at(2_000);
    let producer =
        produce_in_background(&s.brokers, &topic, before, 150, Duration::from_millis(500));
    let counts = || -> Vec<usize> { digest_chains(&s3, &bucket).values().map(Vec::len).collect() };
    assert!(
        wait_until(Duration::from_secs(60), || {
            let c = counts();
            c.len() == 2 && c.iter().all(|&n| n >= 2)
        }),
        "digests per chain before the outage: {:?}\n{}",
        counts(),
        daemon.log_text()
    );
    producer.join().expect("producer");
    // Each GetTrailStatus call puts the daemon's own record of it on the topic (a self-record,
    // routed like any other): counted, so the test knows how many records the topic holds.
    let calls = std::cell::Cell::new(0i64);
    let status = || {
        calls.set(calls.get() + 1);
        digest_error(&s, port)
    };
    assert_eq!(status(), serde_json::Value::Null);
    let errors_before = metric_sum(port, "trailpipe_digest_errors_total");

    // While KMS is down: delivery goes on, digests stop, the failure is reported.
    let at_stop = digest_chains(&s3, &bucket);
    let mut reported = serde_json::Value::Null;
    let mut stalled_at: Option<Vec<usize>> = None;
    let mut seconds = 0;
    let held = outage(
        &s,
        &proxy,
        &topic,
        &group,
        partitions,
        before.len() as i64 + calls.get(),
        during,
        || {
            seconds += 1;
            // A digest being signed as the proxy stopped may still land; after a few seconds
            // nothing more may be written until KMS is back.
            if seconds == 5 {
                stalled_at = Some(counts());
            }
            if seconds % 5 == 0 && reported.is_null() {
                reported = status();
            }
        },
    );
    let stalled_at = stalled_at.expect("sampled");
    let at_resume = counts();
    let errors = metric_sum(port, "trailpipe_digest_errors_total") - errors_before;
    assert_eq!(
        stalled_at,
        at_resume,
        "digests were written while KMS was down\n{}",
        daemon.log_text()
    );
    assert!(
        errors > 0.0,
        "no digest error counted during the KMS outage\n{}",
        daemon.log_text()
    );
    assert!(
        reported.as_str().is_some_and(|e| !e.is_empty()),
        "GetTrailStatus did not report the digest failure: {reported}"
    );
    assert!(
        held.samples.last() >= Some(&held.end),
        "delivery should not wait for the digest signer: everything produced during the outage is committed before it ends ({} records; committed {:?})",
        held.end,
        held.samples
    );

    // After it: the missed windows are digested, the error clears, the chains are whole.
    produce(&s.brokers, &topic, after);
    let resumed = Instant::now();
    let caught_up = wait_until(Duration::from_secs(60), || {
        let now = digest_chains(&s3, &bucket);
        at_stop.iter().all(|(chain, had)| {
            now.get(chain).map_or(0, Vec::len) >= had.len() + (OUTAGE.as_secs() / 5) as usize
        })
    });
    assert!(
        caught_up,
        "digests after the outage: {:?} (at the stop: {:?})\n{}",
        counts(),
        at_stop.values().map(Vec::len).collect::<Vec<_>>(),
        daemon.log_text()
    );
    let took = resumed.elapsed();
    assert!(
        wait_until(Duration::from_secs(30), || status().is_null()),
        "the digest error is still reported after recovery: {}",
        status()
    );
    let expected = messages.len() as i64 + calls.get();
    assert!(
        committed_reaches(
            &s,
            &group,
            &topic,
            partitions,
            expected,
            Duration::from_secs(60)
        ),
        "committed {} of {expected}\n{}",
        committed_total(&s.brokers, &group, &topic, partitions),
        daemon.log_text()
    );
    // Wait until the newest log file of each chain is in a digest, then check.
    let objects = list_objects(&s3, &bucket);
    let newest_log = objects
        .iter()
        .filter(|(k, _)| k.contains("/CloudTrail/") && !is_file_time_marker(k))
        .map(|(_, &t)| t)
        .max()
        .expect("log files");
    assert!(
        wait_until(Duration::from_secs(60), || {
            digest_chains(&s3, &bucket).values().all(|keys| {
                read_chain(&s3, &bucket, keys)
                    .normal
                    .last()
                    .is_some_and(|d| d.2 > newest_log)
            })
        }),
        "the last files were never digested\n{}",
        daemon.log_text()
    );
    let objects = list_objects(&s3, &bucket);
    let chains = digest_chains(&s3, &bucket);
    let mut summary = Vec::new();
    for (chain, keys) in &chains {
        let c = read_chain(&s3, &bucket, keys);
        for w in c.normal.windows(2) {
            assert_eq!(
                w[1].1, w[0].2,
                "{chain:?}: {} does not start where {} ends",
                w[1].0, w[0].0
            );
        }
        let last_end = c.normal.last().expect("digests").2;
        let first_start = c.normal.first().expect("digests").1;
        let logs: BTreeSet<&String> = objects
            .iter()
            .filter(|(k, &t)| {
                k.contains(&format!("/{}/CloudTrail/{}/", chain.0, chain.1))
                    && t >= first_start
                    && t < last_end
            })
            .map(|(k, _)| k)
            .collect();
        let mut listed: HashMap<&String, usize> = HashMap::new();
        for f in c.normal.iter().flat_map(|d| &d.3).chain(&c.backfill_files) {
            *listed.entry(f).or_default() += 1;
        }
        let missing: Vec<&&String> = logs.iter().filter(|k| !listed.contains_key(**k)).collect();
        assert!(
            missing.is_empty(),
            "{chain:?}: not in any digest: {missing:?}"
        );
        assert!(
            listed.values().all(|&n| n == 1),
            "{chain:?}: a log file in two digests"
        );
        let (code, out) = AwsValidateLogs {
            trail_arn: &format!("arn:aws:cloudtrail:us-east-1:{KMS_ACCOUNT}:trail/everything"),
            bucket: &bucket,
            prefix: Some("audit"),
            chain,
            start: &start,
            env: &[],
        }
        .run(&s, port);
        assert_eq!(code, 0, "aws validate-logs on {chain:?}:\n{out}");
        assert!(!out.contains("INVALID"), "{out}");
        assert!(out.contains("digest files valid"), "{out}");
        let verdict = out
            .lines()
            .filter(|l| l.contains("files valid"))
            .collect::<Vec<_>>()
            .join("; ");
        summary.push(format!(
            "{chain:?}: {} digests ({} backfill files), {} log files; aws: {verdict}",
            c.normal.len(),
            c.backfill_files.len(),
            logs.len()
        ));
    }
    eprintln!(
        "KMS down {OUTAGE:?}: {errors} failed digest runs counted, GetTrailStatus said {reported}; digests {stalled_at:?} held while down, caught up {took:?} after the resume\n{}",
        summary.join("\n")
    );
    assert_eq!(daemon.terminate(Duration::from_secs(30)), Some(0));
    // The log files (the bucket also holds the digests): every record exactly once.
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (key, _) in objects
        .iter()
        .filter(|(k, _)| k.contains("/CloudTrail/") && !is_file_time_marker(k))
    {
        check_key(key, Some("audit"));
        for r in records_of_single_gzip(key, &get_object(&s3, &bucket, key)) {
            *seen.entry(event_id(&r)).or_default() += 1;
        }
    }
    let produced = ids(&messages);
    let lost = produced.iter().filter(|id| !seen.contains_key(*id)).count();
    let duplicated = seen.values().filter(|&&n| n > 1).count();
    assert_eq!((lost, duplicated), (0, 0), "records lost, duplicated");
}

/// A tmpfs mounted by the test, unmounted when dropped (declare it before the daemon that
/// writes to it, so the daemon is stopped first).
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a `kib` KiB tmpfs at `dir`, or says why not (not root, no mount permission in
    /// this container) and returns `None`.
    fn mount(test: &str, dir: &Path, kib: u64) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).expect("mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs"])
            .arg(dir)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs(dir.to_path_buf())),
            Ok(o) => {
                eprintln!(
                    "skipping {test}: cannot mount a tmpfs at {} (root and CAP_SYS_ADMIN needed): {}",
                    dir.display(),
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("skipping {test}: cannot run mount: {e}");
                None
            }
        }
    }

    /// Fills the file system with `<dir>/filler` until it refuses more, then gives `spare`
    /// bytes back (a disk that is nearly full: small writes pass, larger ones fail part way);
    /// the filler's size.
    fn fill(&self, spare: u64) -> u64 {
        let mut f = std::fs::File::create(self.filler()).expect("filler");
        let mut written = 0u64;
        for size in [1 << 16, 4096, 1] {
            let chunk = vec![0xa5u8; size];
            loop {
                match f.write(&chunk) {
                    Ok(0) => break,
                    Ok(n) => written += n as u64,
                    Err(e) if e.raw_os_error() == Some(28) => break,
                    Err(e) => panic!("filling {}: {e}", self.0.display()),
                }
            }
        }
        let size = written.saturating_sub(spare);
        f.set_len(size).expect("truncating the filler");
        f.sync_all().expect("sync");
        size
    }

    fn free(&self) {
        std::fs::remove_file(self.filler()).expect("removing the filler");
    }

    fn filler(&self) -> PathBuf {
        self.0.join("filler")
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("umount {} failed; detaching it lazily", self.0.display());
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

/// What the test saw while a disk was full.
struct Full {
    /// Filler bytes it took.
    filled: u64,
    /// From the fill to `/readyz` naming the error.
    noticed: Duration,
    /// That `/readyz` body.
    body: String,
    /// Committed totals sampled for 10 s after that.
    samples: Vec<i64>,
    /// The group's committed offset per partition at the end of those 10 s.
    committed: Vec<i64>,
    /// What the store held then (eventIDs).
    stored: BTreeSet<String>,
}

/// Produces `messages` in the background, fills `disk` (but `spare` bytes) once the daemon has
/// committed some of them, waits until `/readyz` reports `needle`, watches the committed offsets for 10 s and
/// reads what `stored` says is durable; leaves the disk full.
#[allow(clippy::too_many_arguments)]
fn fill_while_flowing(
    s: &Services,
    disk: &Tmpfs,
    port: u16,
    topic: &str,
    group: &str,
    partitions: i32,
    messages: &[(String, Vec<u8>)],
    spare: u64,
    needle: &str,
    daemon: &Daemon,
    stored: impl Fn() -> BTreeSet<String>,
) -> Full {
    let from = committed_total(&s.brokers, group, topic, partitions);
    let producer = produce_in_background(
        &s.brokers,
        topic,
        messages,
        messages.len().div_ceil(10),
        Duration::from_secs(1),
    );
    assert!(
        wait_until(Duration::from_secs(30), || committed_total(
            &s.brokers, group, topic, partitions
        ) > from),
        "no progress before the disk filled\n{}",
        daemon.log_text()
    );
    let filled = disk.fill(spare);
    let since = Instant::now();
    let mut body = String::new();
    let seen = wait_until(Duration::from_secs(60), || {
        http_get(port, "/readyz").is_some_and(|(status, b)| {
            let hit = status == 503 && b.contains(needle);
            body = b;
            hit
        })
    });
    assert!(
        seen,
        "/readyz never reported {needle:?}; last: {body}\n{}",
        daemon.log_text()
    );
    let noticed = since.elapsed();
    let until = Instant::now() + Duration::from_secs(10);
    let mut samples = Vec::new();
    while Instant::now() < until {
        samples.push(committed_total(&s.brokers, group, topic, partitions));
        std::thread::sleep(Duration::from_millis(500));
    }
    let committed = committed_by_partition(&s.brokers, group, topic, partitions);
    let stored = stored();
    producer.join().expect("producer");
    Full {
        filled,
        noticed,
        body,
        samples,
        committed,
        stored,
    }
}

impl Full {
    /// Once the error was reported (and the writes begun before it settled, 2 s), the offsets
    /// stood still; they are below the end; and every record below them was durable.
    fn assert_nothing_committed_past_undelivered(
        &self,
        s: &Services,
        topic: &str,
        partitions: i32,
        total: i64,
        records: &[(String, Vec<u8>)],
        what: &str,
    ) {
        let settled = &self.samples[4..];
        assert!(
            settled.iter().all(|&c| c == settled[0]),
            "offsets moved while {what} was full: {:?}",
            self.samples
        );
        assert!(
            settled[0] < total,
            "everything ({total}) was committed although {what} was full"
        );
        let index = topic_index(&s.brokers, topic, partitions, total as usize);
        let wanted: BTreeSet<String> = records
            .iter()
            .map(|(_, v)| event_id(std::str::from_utf8(v).expect("utf8")))
            .collect();
        let committed_not_stored: Vec<(i32, i64)> = index
            .iter()
            .filter(|(id, &(p, o))| {
                wanted.contains(*id) && o < self.committed[p as usize] && !self.stored.contains(*id)
            })
            .map(|(_, &po)| po)
            .collect();
        assert!(
            committed_not_stored.is_empty(),
            "committed (offsets {:?}) but not in {what}: {committed_not_stored:?}",
            self.committed
        );
    }
}

/// Every record (raw text) of every log file under `<root>/<bucket>` of a local store, and
/// the number of files.
fn local_records(root: &Path, bucket: &str) -> (usize, Vec<String>) {
    let mut files = 0;
    let mut records = Vec::new();
    let mut stack = vec![root.join(bucket)];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let key = p
                    .strip_prefix(root.join(bucket))
                    .expect("under the bucket")
                    .to_string_lossy()
                    .into_owned();
                if is_file_time_marker(&key) {
                    continue;
                }
                check_key(&key, None);
                files += 1;
                records.extend(records_of_single_gzip(
                    &key,
                    &std::fs::read(&p).expect("log file"),
                ));
            }
        }
    }
    (files, records)
}

/// The local store's file system fills up while records flow: `/readyz` names the error, no
/// offset is committed past a record that is not in the store, and once space returns every
/// record is in the store exactly once, the offsets reach the end, and no partial upload is
/// left behind in the store's temporary directory.
#[test]
fn a_full_disk_under_the_local_store_holds_offsets_and_recovers_exactly_once() {
    let Some(s) = Services::get("local store disk full") else {
        return;
    };
    let partitions = 2;
    let (topic, dlq, group, bucket, _) = fresh(&s, "fulllocal", partitions);
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("store");
    let Some(disk) = Tmpfs::mount("local store disk full", &root, 4096) else {
        return;
    };
    let port = free_port();
    let storage = format!("kind = \"local\"\nlocal_root = \"{}\"", root.display());
    let cfg = format!(
        "{}{}",
        head(&s, &topic, &dlq, &group, port).replace("kind = \"s3\"", &storage),
        everything_trail(&bucket)
    );
    assert!(cfg.contains("local_root"), "{cfg}");
    let daemon = Daemon::start(dir.path(), &cfg);
    let before = recent_messages(1_000, 2, 2, 331);
    let during = recent_messages(3_000, 2, 2, 332);
    produce(&s.brokers, &topic, &before);
    assert!(
        committed_reaches(
            &s,
            &group,
            &topic,
            partitions,
            before.len() as i64,
            Duration::from_secs(60)
        ),
        "not committed before the disk filled\n{}",
        daemon.log_text()
    );
    let stored = || -> BTreeSet<String> {
        local_records(&root, &bucket)
            .1
            .iter()
            .map(|r| event_id(r))
            .collect()
    };
    let full = fill_while_flowing(
        &s,
        &disk,
        port,
        &topic,
        &group,
        partitions,
        &during,
        16 * 1024,
        "No space left on device",
        &daemon,
        stored,
    );
    let all: Vec<(String, Vec<u8>)> = [before, during].concat();
    full.assert_nothing_committed_past_undelivered(
        &s,
        &topic,
        partitions,
        all.len() as i64,
        &all,
        "the local store",
    );
    disk.free();
    let freed = Instant::now();
    assert!(
        committed_reaches(
            &s,
            &group,
            &topic,
            partitions,
            all.len() as i64,
            Duration::from_secs(90)
        ),
        "not all committed after the disk was freed: {} of {}\n{}",
        committed_total(&s.brokers, &group, &topic, partitions),
        all.len(),
        daemon.log_text()
    );
    let took = freed.elapsed();
    assert!(
        wait_until(Duration::from_secs(30), || http_get(port, "/readyz")
            .is_some_and(|(st, _)| st == 200)),
        "/readyz did not recover"
    );
    assert_eq!(daemon.terminate(Duration::from_secs(30)), Some(0));

    let (files, records) = local_records(&root, &bucket);
    let mut seen: HashMap<String, usize> = HashMap::new();
    for r in &records {
        *seen.entry(event_id(r)).or_default() += 1;
    }
    let produced = ids(&all);
    let lost = produced.iter().filter(|id| !seen.contains_key(*id)).count();
    let duplicated = seen.values().filter(|&&n| n > 1).count();
    let leftovers: Vec<String> = std::fs::read_dir(root.join(".trailpipe-tmp"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    eprintln!(
        "local store full ({} filler bytes): /readyz said so {:?} later ({}); offsets held at {} ({} records stored); everything committed {took:?} after the filler went; {files} files, {} records, {lost} lost, {duplicated} duplicated; {} temporary files left",
        full.filled,
        full.noticed,
        full.body,
        full.samples.last().expect("samples"),
        full.stored.len(),
        records.len(),
        leftovers.len()
    );
    assert_eq!((lost, duplicated, seen.len()), (0, 0, produced.len()));
    assert!(
        leftovers.is_empty(),
        "partial uploads left in the store's temporary directory: {leftovers:?}"
    );
}

/// The event history's file system fills up while records flow. With a Kafka source the
/// history is written by the history indexer, off the delivery path: delivery goes on (every
/// record in S3 exactly once, offsets at the end) while the indexer fails and lags, counted in
/// `trailpipe_history_errors_total`; once space returns the store reopens its engine (fjall
/// refuses every write after a failed one until then) and LookupEvents finds every management
/// event exactly once.
#[test]
fn a_full_disk_under_the_event_history_stalls_only_the_history_which_recovers() {
    let Some(s) = Services::get("event history disk full") else {
        return;
    };
    let partitions = 2;
    let (topic, dlq, group, bucket, s3) = fresh(&s, "fullhistory", partitions);
    let dir = tempfile::tempdir().expect("tempdir");
    let history = dir.path().join("history");
    let Some(disk) = Tmpfs::mount("event history disk full", &history, 16 * 1024) else {
        return;
    };
    let port = free_port();
    let cfg = format!(
        "{}\n[state]\ndir = \"{}\"\n[history]\npath = \"{}\"\n{}",
        kafka_to_moto(&s, &topic, &dlq, &group, port, ""),
        dir.path().join("state").display(),
        history.display(),
        everything_trail(&bucket)
    );
    let daemon = Daemon::start(dir.path(), &cfg);
    let before = recent_messages(1_000, 2, 2, 341);
    let during = recent_messages(3_000, 2, 2, 342);
    let all: Vec<(String, Vec<u8>)> = [before.clone(), during.clone()].concat();
    let management_of = |m: &[(String, Vec<u8>)]| -> Vec<String> {
        m.iter()
            .filter(|(_, v)| is_management(v))
            .map(|(_, v)| {
                serde_json::from_slice::<serde_json::Value>(v).expect("json")["eventID"]
                    .as_str()
                    .expect("eventID")
                    .to_string()
            })
            .collect()
    };
    let regions: BTreeSet<String> = all
        .iter()
        .map(|(_, v)| {
            serde_json::from_slice::<serde_json::Value>(v).expect("json")["awsRegion"]
                .as_str()
                .expect("awsRegion")
                .to_string()
        })
        .collect();
    let holds = |ids: &[String]| {
        let found: BTreeSet<String> = lookup_all(port, &regions).0.into_iter().collect();
        ids.iter().all(|id| found.contains(id))
    };
    produce(&s.brokers, &topic, &before);
    assert!(
        wait_until(Duration::from_secs(60), || holds(&management_of(&before))),
        "the history never held the first records\n{}",
        daemon.log_text()
    );
    let errors_before = metric_sum(port, "trailpipe_history_errors_total");
    let filled = disk.fill(16 * 1024);
    produce(&s.brokers, &topic, &during);
    // Delivery does not wait for the history.
    let delivered = Instant::now();
    assert!(
        wait_until(Duration::from_secs(90), || exactly_once(
            &s, &s3, &bucket, &topic, partitions, &all
        )
        .lost
            == 0),
        "records not delivered while the history's disk was full\n{}",
        daemon.log_text()
    );
    let delivered = delivered.elapsed();
    assert!(
        wait_until(Duration::from_secs(30), || metric_sum(
            port,
            "trailpipe_history_errors_total"
        ) > errors_before),
        "no history error counted with a full disk\n{}",
        daemon.log_text()
    );
    let missing_while_full = !holds(&management_of(&during));
    assert!(
        missing_while_full,
        "the history took every record on a full disk ({filled} filler bytes)"
    );
    disk.free();
    let freed = Instant::now();
    let during_ids = management_of(&during);
    assert!(
        wait_until(Duration::from_secs(90), || holds(&during_ids)),
        "the history did not recover after the disk was freed\n{}",
        daemon.log_text()
    );
    let took = freed.elapsed();
    let found = lookup_all(port, &regions).0;
    let mut counts: HashMap<&String, usize> = HashMap::new();
    for id in &found {
        *counts.entry(id).or_default() += 1;
    }
    let management = management_of(&all);
    let missing = management
        .iter()
        .filter(|id| !counts.contains_key(id))
        .count();
    eprintln!(
        "event history full ({filled} filler bytes): all {} records delivered {delivered:?} after the fill, the history lagging; it held every management event {took:?} after the filler went; LookupEvents: {} events for {} management records, {missing} missing",
        all.len(),
        found.len(),
        management.len()
    );
    assert_eq!(missing, 0, "management events missing from the history");
    assert!(
        counts.values().all(|&n| n == 1),
        "an event twice in the history"
    );
    assert_eq!(daemon.terminate(Duration::from_secs(30)), Some(0));
    assert_delivered_once(&s, &s3, &bucket, &topic, partitions, &all);
}

/// Every eventID LookupEvents returns through the daemon's API (all pages of the last day, in
/// each of `regions`: the event history is regional, as CloudTrail's is), and the number of
/// calls that took.
fn lookup_all(port: u16, regions: &BTreeSet<String>) -> (Vec<String>, i64) {
    const SCRIPT: &str = r#"
import boto3, json, sys, datetime
now = datetime.datetime.now(datetime.timezone.utc)
ids, calls = [], 0
for region in sys.argv[2:]:
    ct = boto3.client("cloudtrail", endpoint_url=sys.argv[1], region_name=region)
    for page in ct.get_paginator("lookup_events").paginate(
            StartTime=now - datetime.timedelta(days=1), EndTime=now + datetime.timedelta(hours=1),
            PaginationConfig={"PageSize": 50}):
        calls += 1
        ids.extend(e["EventId"] for e in page["Events"])
print(json.dumps({"ids": ids, "calls": calls}))
"#;
    let endpoint = format!("http://127.0.0.1:{port}");
    let args: Vec<&str> = std::iter::once(endpoint.as_str())
        .chain(regions.iter().map(String::as_str))
        .collect();
    let out = python(SCRIPT, &args);
    (
        out["ids"]
            .as_array()
            .expect("ids")
            .iter()
            .map(|v| v.as_str().expect("EventId").to_string())
            .collect(),
        out["calls"].as_i64().expect("calls"),
    )
}

/// libfaketime's preload library from Debian's `libfaketime` package, if installed.
fn libfaketime() -> Option<PathBuf> {
    let out = Command::new("dpkg")
        .args(["-L", "libfaketime"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.ends_with("/libfaketime.so.1"))
        .map(PathBuf::from)
        .filter(|p| p.exists())
}

/// The daemon's wall clock as it last delivered a file: `/readyz`'s `LatestDeliveryTime`
/// (seconds since the epoch), from `SystemTime::now()` in the daemon. (hyper's `Date` header
/// would not do: it caches the formatted date until the clock passes the next second, which
/// after a jump back is an hour later.)
fn daemon_clock(port: u16) -> Option<i64> {
    let (_, body) = http_get(port, "/readyz")?;
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    v["s3"]["LatestDeliveryTime"].as_i64()
}

/// The wall clock jumps two hours forward, then three back (to an hour behind), under the
/// running daemon (libfaketime; its monotonic clock is left alone, as the kernel's is in a real
/// jump) while records flow: the daemon keeps delivering through both jumps and keeps running,
/// every record is in S3 exactly once, and the offsets reach the end.
///
/// The daemon is killed at the end, not stopped with SIGTERM: under libfaketime a clock ahead
/// of the real one makes librdkafka's timed waits that much longer (it waits with C11
/// `cnd_timedwait` on a `CLOCK_REALTIME` deadline taken from the faked `gettimeofday`, and
/// glibc's `cnd_timedwait` calls its internal `pthread_cond_timedwait`, which libfaketime cannot
/// intercept to translate), so an idle producer's polling thread sleeps two hours and the
/// graceful stop joins it. A real forward jump only ends such waits early. (A fake clock behind
/// the real one from the start does not work either: librdkafka's waits then end at once and
/// its threads spin, and `rd_kafka_new` crawls.)
#[test]
fn a_wall_clock_jump_forward_and_back_loses_and_duplicates_nothing() {
    let Some(s) = Services::get("clock jump") else {
        return;
    };
    let Some(lib) = libfaketime() else {
        eprintln!("skipping clock jump: libfaketime is not installed (apt-get install faketime; scripts/test-deps.sh installs it)");
        return;
    };
    let partitions = 4;
    let (topic, dlq, group, bucket, s3) = fresh(&s, "clockjump", partitions);
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let cfg = format!(
        "{}\n[state]\ndir = \"{}\"\n{}",
        kafka_to_moto(&s, &topic, &dlq, &group, port, ""),
        dir.path().join("state").display(),
        everything_trail(&bucket)
    );
    let offset_file = dir.path().join("faketime");
    std::fs::write(&offset_file, "+0\n").expect("faketime file");
    let (lib, offset_path) = (lib.display().to_string(), offset_file.display().to_string());
    let daemon = Daemon::start_with_env(
        dir.path(),
        &cfg,
        &[
            ("LD_PRELOAD", &lib),
            ("FAKETIME_TIMESTAMP_FILE", &offset_path),
            ("FAKETIME_NO_CACHE", "1"),
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
        ],
    );
    let messages = generated_messages(36_000, 351);
    let producer = produce_in_background(
        &s.brokers,
        &topic,
        &messages,
        2_000,
        Duration::from_millis(700),
    );
    let committed = || committed_total(&s.brokers, &group, &topic, partitions);
    assert!(
        wait_until(Duration::from_secs(60), || committed() > 3_000),
        "no progress\n{}",
        daemon.log_text()
    );
    let skew = || daemon_clock(port).map(|t| t - time::OffsetDateTime::now_utc().unix_timestamp());
    let near = |skew: Option<i64>, want: i64| skew.is_some_and(|d| (d - want).abs() < 60);
    assert!(
        near(skew(), 0),
        "the daemon's clock before the jumps: {:?}",
        skew()
    );
    let mut report = Vec::new();
    for (offset, want) in [("+2h", 7_200), ("-1h", -3_600)] {
        std::fs::write(&offset_file, format!("{offset}\n")).expect("faketime file");
        assert!(
            wait_until(Duration::from_secs(10), || near(skew(), want)),
            "the daemon's clock did not jump to {offset}: skew {:?} (is libfaketime preloaded?)",
            skew()
        );
        let from = committed();
        let since = Instant::now();
        assert!(
            wait_until(Duration::from_secs(60), || committed() >= from + 3_000),
            "no delivery after the jump to {offset}: committed {} (from {from})\n{}",
            committed(),
            daemon.log_text()
        );
        report.push(format!(
            "{offset}: +3000 committed in {:?}",
            since.elapsed()
        ));
    }
    producer.join().expect("producer");
    assert!(
        committed_reaches(
            &s,
            &group,
            &topic,
            partitions,
            messages.len() as i64,
            Duration::from_secs(120)
        ),
        "committed {} of {}\n{}",
        committed(),
        messages.len(),
        daemon.log_text()
    );
    let mut daemon = daemon;
    assert!(
        daemon.child.try_wait().expect("try_wait").is_none(),
        "the daemon exited\n{}",
        daemon.log_text()
    );
    // An hour behind, the daemon read records whose Kafka timestamps were an hour ahead of its
    // clock: their files got its read time instead, recorded in file-time markers.
    let markers = list_objects(&s3, &bucket)
        .keys()
        .filter(|k| is_file_time_marker(k))
        .count();
    eprintln!(
        "clock jumps under the daemon: {}; {markers} file times recorded in markers; {}",
        report.join(", "),
        recoveries(dir.path())
    );
    assert!(
        http_get(port, "/healthz").is_some_and(|(st, _)| st == 200),
        "/healthz after the jumps"
    );
    drop(daemon);
    assert_delivered_once(&s, &s3, &bucket, &topic, partitions, &messages);
}
