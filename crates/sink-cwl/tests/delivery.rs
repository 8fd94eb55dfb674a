//! CloudWatch Logs delivery against moto: groups, streams, order, limits, rejections.

mod common;

use common::{moto, now_ms, read_stream, record, unique};
use trailpipe_sink_cwl::{
    plan, stream_name, CwlBatch, CwlSink, CwlSinkConfig, Reject, MAX_EVENT_BYTES,
};

const ACCOUNT: &str = "123456789012";

fn sink(shared: &aws_config::SdkConfig) -> CwlSink {
    CwlSink::from_sdk_config(shared, CwlSinkConfig::new("us-east-1"))
}

fn logs(shared: &aws_config::SdkConfig) -> aws_sdk_cloudwatchlogs::Client {
    aws_sdk_cloudwatchlogs::Client::new(shared)
}

#[tokio::test]
async fn records_arrive_in_their_group_and_stream_in_chronological_order() {
    let Some(shared) =
        moto("records_arrive_in_their_group_and_stream_in_chronological_order").await
    else {
        return;
    };
    let group = unique("/trailpipe/order");
    let now = now_ms() - 60_000;
    // Out of order on input; two share a timestamp and must keep their input order.
    let offsets = [7, 3, 9, 3, 0, 5, 1];
    let records: Vec<_> = offsets
        .iter()
        .enumerate()
        .map(|(i, k)| record(&format!("id-{i}"), "ListUsers", now - k * 1000, 10))
        .collect();
    let out = sink(&shared)
        .deliver(CwlBatch {
            log_group: group.clone(),
            account: ACCOUNT.into(),
            region: "eu-west-1".into(),
            records: records.clone(),
            role_arn: None,
        })
        .await
        .expect("deliver");
    assert_eq!(out.delivered, records.len());
    assert!(out.rejected.is_empty());
    let stream = stream_name(ACCOUNT, "eu-west-1");
    assert_eq!(stream, "123456789012_CloudTrail_eu-west-1");
    let got = read_stream(&logs(&shared), &group, &stream).await;
    let mut want: Vec<(i64, String)> = records
        .iter()
        .map(|(t, b)| (*t, String::from_utf8(b.to_vec()).unwrap()))
        .collect();
    want.sort_by_key(|(t, _)| *t); // stable: equal timestamps keep input order
    assert_eq!(got, want, "messages are the raw records, oldest first");
}

#[tokio::test]
async fn log_group_arn_resolves_to_the_group_name() {
    let Some(shared) = moto("log_group_arn_resolves_to_the_group_name").await else {
        return;
    };
    let group = unique("trailpipe-arn");
    let arn = format!("arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{group}:*");
    let out = sink(&shared)
        .deliver(CwlBatch {
            log_group: arn,
            account: ACCOUNT.into(),
            region: "us-east-1".into(),
            records: vec![record("a", "GetUser", now_ms() - 1000, 0)],
            role_arn: None,
        })
        .await
        .unwrap();
    assert_eq!(out.delivered, 1);
    let got = read_stream(&logs(&shared), &group, &stream_name(ACCOUNT, "us-east-1")).await;
    assert_eq!(got.len(), 1);
}

#[tokio::test]
async fn batches_split_at_every_limit_and_every_record_arrives() {
    let Some(shared) = moto("batches_split_at_every_limit_and_every_record_arrives").await else {
        return;
    };
    let group = unique("/trailpipe/limits");
    let now = now_ms() - 60_000;
    let day = 24 * 3_600_000;
    let mut records = Vec::new();
    // > 10,000 small records, spread over more than 24 h (within the 14-day window).
    for i in 0..10_600i64 {
        records.push(record(
            &format!("s{i}"),
            "Describe",
            now - (i % 53) * (day / 20),
            0,
        ));
    }
    // Records near the largest event size.
    for i in 0..3 {
        let (t, small) = record(&format!("big{i}"), "Big", now - i * 1000, 0);
        let pad = MAX_EVENT_BYTES - small.len();
        records.push(record(&format!("big{i}"), "Big", t, pad));
        assert_eq!(records.last().unwrap().1.len(), MAX_EVENT_BYTES);
    }
    let p = plan(&records, common::now_ms());
    assert!(p.rejected.is_empty());
    assert!(
        p.requests.len() >= 5,
        "count, bytes and span all cut: {}",
        p.requests.len()
    );
    let out = sink(&shared)
        .deliver(CwlBatch {
            log_group: group.clone(),
            account: ACCOUNT.into(),
            region: "us-east-1".into(),
            records: records.clone(),
            role_arn: None,
        })
        .await
        .expect("deliver");
    assert_eq!(out.delivered, records.len());
    let got = read_stream(&logs(&shared), &group, &stream_name(ACCOUNT, "us-east-1")).await;
    assert_eq!(got.len(), records.len());
    let mut ids: Vec<&str> = got
        .iter()
        .map(|(_, m)| {
            let v = m.split("\"eventID\":\"").nth(1).unwrap();
            &v[..v.find('"').unwrap()]
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), records.len(), "each record exactly once");
}

#[tokio::test]
async fn too_old_and_too_new_records_are_rejected_with_reason() {
    let Some(shared) = moto("too_old_and_too_new_records_are_rejected_with_reason").await else {
        return;
    };
    let group = unique("/trailpipe/reject");
    let now = now_ms();
    let day = 24 * 3_600_000;
    let records = vec![
        record("old", "A", now - 15 * day, 0),
        record("ok", "B", now - 1000, 0),
        record("new", "C", now + 3 * 3_600_000, 0),
        (now, bytes::Bytes::new()),
    ];
    let out = sink(&shared)
        .deliver(CwlBatch {
            log_group: group.clone(),
            account: ACCOUNT.into(),
            region: "us-east-1".into(),
            records,
            role_arn: None,
        })
        .await
        .unwrap();
    assert_eq!(out.delivered, 1);
    assert_eq!(
        out.rejected,
        vec![
            (0, Reject::TooOld.message().to_string()),
            (2, Reject::TooNew.message().to_string()),
            (3, Reject::Empty.message().to_string()),
        ]
    );
    let got = read_stream(&logs(&shared), &group, &stream_name(ACCOUNT, "us-east-1")).await;
    assert_eq!(got.len(), 1);
    assert!(got[0].1.contains("\"ok\""));
}

#[tokio::test]
async fn deleted_log_group_is_recreated_and_delivery_continues() {
    let Some(shared) = moto("deleted_log_group_is_recreated_and_delivery_continues").await else {
        return;
    };
    let group = unique("/trailpipe/deleted");
    let s = sink(&shared);
    let batch = |id: &str| CwlBatch {
        log_group: group.clone(),
        account: ACCOUNT.into(),
        region: "us-east-1".into(),
        records: vec![record(id, "A", now_ms() - 1000, 0)],
        role_arn: None,
    };
    assert_eq!(s.deliver(batch("first")).await.unwrap().delivered, 1);
    logs(&shared)
        .delete_log_group()
        .log_group_name(&group)
        .send()
        .await
        .unwrap();
    // The sink still believes the stream exists: the put fails with ResourceNotFound, the
    // group and stream are created again and the put retried.
    assert_eq!(s.deliver(batch("second")).await.unwrap().delivered, 1);
    let got = read_stream(&logs(&shared), &group, &stream_name(ACCOUNT, "us-east-1")).await;
    assert_eq!(got.len(), 1);
    assert!(got[0].1.contains("\"second\""));
    assert!(s.health().last_success.is_some());
}

#[tokio::test]
async fn deadline_bounds_retries_when_the_service_is_unreachable() {
    // No server needed: a closed port yields dispatch failures (retriable) until the deadline.
    let shared = common::offline(None);
    let mut cfg = CwlSinkConfig::new("us-east-1");
    cfg.endpoint_url = Some("http://127.0.0.1:9".into());
    let s = CwlSink::from_sdk_config(&shared, cfg);
    let start = tokio::time::Instant::now();
    let r = s
        .deliver_until(
            CwlBatch {
                log_group: "g".into(),
                account: ACCOUNT.into(),
                region: "us-east-1".into(),
                records: vec![record("a", "A", now_ms(), 0)],
                role_arn: None,
            },
            Some(start + std::time::Duration::from_secs(2)),
        )
        .await;
    assert!(
        matches!(r, Err(trailpipe_sink_cwl::CwlError::Deadline { .. })),
        "{r:?}"
    );
    assert!(start.elapsed() < std::time::Duration::from_secs(10));
    assert!(s.health().last_error.is_some());
}
