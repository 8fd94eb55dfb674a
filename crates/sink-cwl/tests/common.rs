//! Shared helpers for the tests against moto (CloudWatch Logs, SNS, SQS on loopback).
#![allow(dead_code)]

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

/// The SDK config for moto, or `None` (with a message) when the test services are not running.
pub async fn moto(test: &str) -> Option<aws_config::SdkConfig> {
    if std::env::var_os("AWS_ENDPOINT_URL").is_none() {
        eprintln!(
            "SKIP {test}: AWS_ENDPOINT_URL unset (run scripts/services.sh start; set -a; . .test-services/env)"
        );
        return None;
    }
    Some(
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .load()
            .await,
    )
}

/// An SDK config that reads nothing from the environment or IMDS: static test credentials,
/// us-east-1, and `endpoint` when given (for servers the test starts itself, or none at all).
pub fn offline(endpoint: Option<&str>) -> aws_config::SdkConfig {
    let credentials =
        aws_sdk_cloudwatchlogs::config::Credentials::new("AKIDTEST", "secret", None, None, "test");
    let mut b = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(
            aws_sdk_cloudwatchlogs::config::SharedCredentialsProvider::new(credentials),
        );
    if let Some(url) = endpoint {
        b = b.endpoint_url(url);
    }
    b.build()
}

/// A name no other test run uses.
pub fn unique(prefix: &str) -> String {
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}-{n}", std::process::id())
}

/// Wall time in ms.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A compact CloudTrail-like record.
pub fn record(event_id: &str, event_name: &str, ts_ms: i64, pad: usize) -> (i64, Bytes) {
    let t = time::OffsetDateTime::from_unix_timestamp(ts_ms / 1000).unwrap();
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    let s = format!(
        r#"{{"eventVersion":"1.08","eventID":"{event_id}","eventTime":"{}","eventName":"{event_name}","eventSource":"iam.amazonaws.com","awsRegion":"us-east-1","recipientAccountId":"123456789012","userIdentity":{{"type":"IAMUser"}},"pad":"{}"}}"#,
        t.format(&f).unwrap(),
        "x".repeat(pad)
    );
    (ts_ms, Bytes::from(s))
}

/// Every event of a stream, oldest first (GetLogEvents from the head, all pages).
pub async fn read_stream(
    client: &aws_sdk_cloudwatchlogs::Client,
    group: &str,
    stream: &str,
) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let r = client
            .get_log_events()
            .log_group_name(group)
            .log_stream_name(stream)
            .start_from_head(true)
            .set_next_token(token.clone())
            .send()
            .await
            .expect("GetLogEvents");
        let events = r.events();
        if events.is_empty() {
            break;
        }
        for e in events {
            out.push((
                e.timestamp().unwrap_or_default(),
                e.message().unwrap_or_default().to_string(),
            ));
        }
        let next = r.next_forward_token().map(str::to_string);
        if next.is_none() || next == token {
            break;
        }
        token = next;
    }
    out
}
