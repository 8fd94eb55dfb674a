//! Notifications against a real SNS API (moto) fanned out to SQS, read back as CloudTrail
//! consumers read them. Skips with a message when `AWS_ENDPOINT_URL` is unset (start the
//! servers with `scripts/services.sh start` and load `.test-services/env`).

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use aws_sdk_sqs::types::QueueAttributeName;
use trailpipe_sink_sns::{notification_message, BatchingNotifier, Notifier, NotifierConfig};

fn servers_up() -> bool {
    if std::env::var_os("AWS_ENDPOINT_URL").is_none() {
        eprintln!("skipping: AWS_ENDPOINT_URL is unset (run scripts/services.sh start and load .test-services/env)");
        return false;
    }
    true
}

fn unique(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    format!("{name}-{}-{nanos}", std::process::id())
}

async fn clients() -> (aws_sdk_sns::Client, aws_sdk_sqs::Client) {
    let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .load()
        .await;
    (
        aws_sdk_sns::Client::new(&shared),
        aws_sdk_sqs::Client::new(&shared),
    )
}

/// A queue subscribed to `topic_arn`; returns its URL.
async fn subscribed_queue(
    sns: &aws_sdk_sns::Client,
    sqs: &aws_sdk_sqs::Client,
    topic_arn: &str,
    raw: bool,
) -> String {
    let url = sqs
        .create_queue()
        .queue_name(unique("q"))
        .send()
        .await
        .expect("CreateQueue")
        .queue_url
        .expect("queue url");
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("GetQueueAttributes");
    let arn = attrs
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .expect("queue arn");
    sns.subscribe()
        .topic_arn(topic_arn)
        .protocol("sqs")
        .endpoint(arn)
        .attributes("RawMessageDelivery", raw.to_string())
        .send()
        .await
        .expect("Subscribe");
    url
}

async fn topic(sns: &aws_sdk_sns::Client, name: &str) -> String {
    sns.create_topic()
        .name(name)
        .send()
        .await
        .expect("CreateTopic")
        .topic_arn
        .expect("topic arn")
}

/// Reads and deletes messages until `want` keys were seen (or 30 s pass), then drains briefly
/// to catch extras. Returns every body.
async fn drain(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    want: usize,
    keys_of: impl Fn(&str) -> Vec<String>,
) -> Vec<String> {
    let mut bodies = Vec::new();
    let mut seen = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut quiet_rounds = 0;
    while Instant::now() < deadline && (seen < want || quiet_rounds < 2) {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("ReceiveMessage");
        let msgs = out.messages.unwrap_or_default();
        if msgs.is_empty() && seen >= want {
            quiet_rounds += 1;
        }
        for m in msgs {
            let body = m.body.expect("body");
            seen += keys_of(&body).len();
            bodies.push(body);
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle.expect("receipt"))
                .send()
                .await
                .expect("DeleteMessage");
        }
    }
    bodies
}

/// Checks a CloudTrail message body byte for byte and returns its keys.
fn cloudtrail_keys(message: &str, bucket: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(message).expect("message is JSON");
    let obj = v.as_object().expect("message is an object");
    let mut fields: Vec<_> = obj.keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["s3Bucket", "s3ObjectKey"], "{message}");
    assert_eq!(obj["s3Bucket"], bucket);
    let keys: Vec<String> = obj["s3ObjectKey"]
        .as_array()
        .expect("s3ObjectKey is an array")
        .iter()
        .map(|k| k.as_str().expect("key is a string").to_string())
        .collect();
    // Compact JSON, fields in CloudTrail's order.
    assert_eq!(message, notification_message(bucket, &keys));
    keys
}

/// Unwraps the SNS envelope an SQS subscriber without raw delivery receives.
fn envelope_message(body: &str, topic_arn: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body).expect("envelope is JSON");
    assert_eq!(v["Type"], "Notification", "{body}");
    assert_eq!(v["TopicArn"], topic_arn);
    for field in ["MessageId", "Timestamp", "Signature", "SigningCertURL"] {
        assert!(v.get(field).is_some(), "envelope lacks {field}: {body}");
    }
    // CloudTrail sets no subject.
    assert!(v.get("Subject").is_none(), "{body}");
    v["Message"]
        .as_str()
        .expect("Message is a string")
        .to_string()
}

fn log_keys(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("prod/AWSLogs/123456789012/CloudTrail/us-east-1/2024/05/01/123456789012_CloudTrail_us-east-1_20240501T1200Z_{i:016}.json.gz"))
        .collect()
}

#[tokio::test]
async fn concurrent_files_are_batched_and_each_key_is_notified_exactly_once() {
    if !servers_up() {
        return;
    }
    let (sns, sqs) = clients().await;
    let topic_arn = topic(&sns, &unique("trail-batch")).await;
    let url = subscribed_queue(&sns, &sqs, &topic_arn, false).await;
    let config = NotifierConfig {
        max_keys_per_message: 50,
        ..NotifierConfig::default()
    };
    let notifier = Arc::new(
        Notifier::with_config(sns.clone(), config)
            .expect("valid config")
            .with_trail(&topic_arn, "management"),
    );
    let health = notifier.health();
    let batching = BatchingNotifier::new(notifier, Duration::from_millis(500));
    let keys = log_keys(230);
    let tasks: Vec<_> = keys
        .iter()
        .map(|k| {
            let (b, t, k) = (batching.clone(), topic_arn.clone(), k.clone());
            tokio::spawn(async move { b.notify_file(&t, "audit-logs", &k).await })
        })
        .collect();
    for t in tasks {
        t.await.expect("task").expect("notified");
    }

    let bodies = drain(&sqs, &url, keys.len(), |b| {
        cloudtrail_keys(&envelope_message(b, &topic_arn), "audit-logs")
    })
    .await;
    let mut count: HashMap<String, usize> = HashMap::new();
    for b in &bodies {
        let ks = cloudtrail_keys(&envelope_message(b, &topic_arn), "audit-logs");
        assert!(ks.len() <= 50, "message holds {} keys", ks.len());
        for k in ks {
            *count.entry(k).or_default() += 1;
        }
    }
    let expected: HashSet<_> = keys.iter().cloned().collect();
    assert_eq!(
        count.keys().cloned().collect::<HashSet<_>>(),
        expected,
        "every key notified"
    );
    assert!(count.values().all(|&c| c == 1), "a key was notified twice");
    // 230 keys at most 50 a message: at least 5 messages; far fewer than one per file.
    assert!(
        (5..=20).contains(&bodies.len()),
        "{} messages for 230 keys",
        bodies.len()
    );
    let status = health.status(&topic_arn);
    assert_eq!(status.keys, 230);
    assert_eq!(status.messages, bodies.len() as u64);
    assert!(status.latest_error.is_none() && status.latest_notification.is_some());
}

#[tokio::test]
async fn raw_delivery_body_is_exactly_the_cloudtrail_json() {
    if !servers_up() {
        return;
    }
    let (sns, sqs) = clients().await;
    let topic_arn = topic(&sns, &unique("trail-raw")).await;
    let url = subscribed_queue(&sns, &sqs, &topic_arn, true).await;
    let notifier = Notifier::new(sns);
    let keys = log_keys(3);
    notifier
        .notify(&topic_arn, "audit-logs", &keys)
        .await
        .expect("notified");
    let bodies = drain(&sqs, &url, 3, |b| cloudtrail_keys(b, "audit-logs")).await;
    assert_eq!(bodies, [notification_message("audit-logs", &keys)]);
}

#[tokio::test]
async fn publishes_are_paced_by_the_rate_limit() {
    if !servers_up() {
        return;
    }
    let (sns, sqs) = clients().await;
    let topic_arn = topic(&sns, &unique("trail-rate")).await;
    let url = subscribed_queue(&sns, &sqs, &topic_arn, true).await;
    let config = NotifierConfig {
        sns_max_publishes_per_sec: 4,
        max_keys_per_message: 1,
        ..NotifierConfig::default()
    };
    let notifier = Notifier::with_config(sns, config).expect("valid config");
    let keys = log_keys(12);
    let started = Instant::now();
    notifier
        .notify(&topic_arn, "audit-logs", &keys)
        .await
        .expect("notified");
    let elapsed = started.elapsed();
    // A burst of 4, then one every 250 ms: 8 more take at least 2 s. A lower bound cannot be
    // broken by a slow machine.
    assert!(
        elapsed >= Duration::from_millis(1_900),
        "12 publishes at 4/s took {elapsed:?}"
    );
    let bodies = drain(&sqs, &url, 12, |b| cloudtrail_keys(b, "audit-logs")).await;
    assert_eq!(bodies.len(), 12);
    let got: HashSet<_> = bodies
        .iter()
        .flat_map(|b| cloudtrail_keys(b, "audit-logs"))
        .collect();
    assert_eq!(got, keys.into_iter().collect());
}

#[tokio::test]
async fn a_missing_topic_is_reported_and_retried_until_it_exists() {
    if !servers_up() {
        return;
    }
    let (sns, sqs) = clients().await;
    let probe = topic(&sns, &unique("probe")).await;
    let name = unique("trail-late");
    let (prefix, _) = probe.rsplit_once(':').expect("topic arn has a name");
    let topic_arn = format!("{prefix}:{name}");
    let notifier = Arc::new(Notifier::new(sns.clone()));
    let health = notifier.health();
    let keys = log_keys(2);
    let pending = {
        let (n, t, k) = (notifier.clone(), topic_arn.clone(), keys.clone());
        tokio::spawn(async move { n.notify(&t, "audit-logs", &k).await })
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let error = loop {
        if let Some(e) = health.status(&topic_arn).latest_error {
            break e;
        }
        assert!(Instant::now() < deadline, "no error reported");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(error.contains("NotFound"), "{error}");
    assert!(health.status(&topic_arn).latest_error.is_some());
    assert!(!pending.is_finished(), "gave up on a missing topic");

    assert_eq!(topic(&sns, &name).await, topic_arn);
    let url = subscribed_queue(&sns, &sqs, &topic_arn, true).await;
    tokio::time::timeout(Duration::from_secs(90), pending)
        .await
        .expect("retried within 90 s")
        .expect("task")
        .expect("notified");
    assert!(health.status(&topic_arn).latest_error.is_none());
    let bodies = drain(&sqs, &url, 2, |b| cloudtrail_keys(b, "audit-logs")).await;
    assert_eq!(bodies, [notification_message("audit-logs", &keys)]);
}
