//! Metric filter provisioning, alarms to SNS → SQS and PutMetricData, against moto.

mod common;

use std::time::{Duration, SystemTime};

use common::{moto, unique};
use trailpipe_filterpattern::CIS_FILTERS;
use trailpipe_sink_cwl::{
    cis_filter_name, AlarmEvaluator, AlarmNotifier, AlarmState, CwlSink, CwlSinkConfig,
    CwlTrailConfig, MetricEvaluator, MetricPublisher,
};

fn config(group: &str, topic: Option<&str>) -> CwlTrailConfig {
    let topic = topic.map_or("null".to_string(), |t| format!("\"{t}\""));
    serde_json::from_str(&format!(
        r#"{{"cloud_watch_logs_log_group": "{group}", "cis_benchmark_filters": true,
            "publish_metric_data": true,
            "metric_filters": [{{"filter_name": "deletes", "filter_pattern": "{{ $.eventName = Delete* }}",
              "metric_transformations": [{{"metric_name": "Deletes", "metric_namespace": "TrailpipeTest",
                "metric_value": "1", "dimensions": {{"source": "$.eventSource"}}}}]}}],
            "alarms": [{{"name": "root-usage", "metric_name": "RootAccountUsage", "statistic": "Sum",
              "period_secs": 60, "evaluation_periods": 1, "threshold": 1,
              "comparison_operator": "GreaterThanOrEqualToThreshold", "sns_topic_arn": {topic}}}]}}"#
    ))
    .expect("config")
}

#[tokio::test]
async fn provision_puts_cis_filters_verbatim_and_is_idempotent() {
    let Some(shared) = moto("provision_puts_cis_filters_verbatim_and_is_idempotent").await else {
        return;
    };
    let group = unique("/trailpipe/provision");
    let cfg = config(&group, None);
    let sink = CwlSink::from_sdk_config(&shared, CwlSinkConfig::new("us-east-1"));
    let first = sink.provision(&cfg).await.unwrap();
    assert_eq!((first.put, first.unchanged), (15, 0));
    let again = sink.provision(&cfg).await.unwrap();
    assert_eq!(
        (again.put, again.unchanged),
        (0, 15),
        "second run finds everything in place"
    );
    let logs = aws_sdk_cloudwatchlogs::Client::new(&shared);
    let mut filters = Vec::new();
    let mut token = None;
    loop {
        let r = logs
            .describe_metric_filters()
            .log_group_name(&group)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        filters.extend(r.metric_filters().iter().cloned());
        token = r.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(filters.len(), 15);
    for c in CIS_FILTERS {
        let f = filters
            .iter()
            .find(|f| f.filter_name() == Some(cis_filter_name(c.id, c.metric_name).as_str()))
            .unwrap_or_else(|| panic!("CIS {} provisioned", c.id));
        assert_eq!(f.filter_pattern(), Some(c.pattern), "verbatim");
        let t = &f.metric_transformations()[0];
        assert_eq!(
            (t.metric_name(), t.metric_namespace(), t.metric_value()),
            (c.metric_name, "CloudTrailMetrics", "1")
        );
    }
    let user = filters
        .iter()
        .find(|f| f.filter_name() == Some("deletes"))
        .unwrap();
    assert_eq!(
        user.metric_transformations()[0].dimensions().unwrap()["source"],
        "$.eventSource"
    );
}

#[tokio::test]
async fn alarm_crossing_its_threshold_reaches_an_sqs_queue_through_sns() {
    let Some(shared) = moto("alarm_crossing_its_threshold_reaches_an_sqs_queue_through_sns").await
    else {
        return;
    };
    let sns = aws_sdk_sns::Client::new(&shared);
    let sqs = aws_sdk_sqs::Client::new(&shared);
    let topic = sns
        .create_topic()
        .name(unique("alarms"))
        .send()
        .await
        .unwrap();
    let topic_arn = topic.topic_arn().unwrap().to_string();
    let queue = sqs
        .create_queue()
        .queue_name(unique("alarm-q"))
        .send()
        .await
        .unwrap();
    let queue_url = queue.queue_url().unwrap().to_string();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap();
    let queue_arn =
        attrs.attributes().unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn].clone();
    sns.subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(&queue_arn)
        .send()
        .await
        .unwrap();

    let cfg = config("g", Some(&topic_arn));
    let ev = MetricEvaluator::new(&cfg).unwrap();
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000); // 60-aligned
    let mut alarms = AlarmEvaluator::new(&cfg, t0);
    let root = br#"{"eventID":"evt-root-1","eventName":"ListBuckets","eventType":"AwsApiCall","userIdentity":{"type":"Root"}}"#;
    let other = br#"{"eventID":"evt-2","eventName":"DeleteBucket","eventSource":"s3.amazonaws.com","userIdentity":{"type":"IAMUser"}}"#;
    alarms.observe(&ev.observe(other), "evt-2", t0 + Duration::from_secs(5));
    alarms.observe(
        &ev.observe(root),
        "evt-root-1",
        t0 + Duration::from_secs(10),
    );
    let transitions = alarms.tick(t0 + Duration::from_secs(60));
    assert_eq!(transitions.len(), 1);
    assert_eq!(transitions[0].new, AlarmState::Alarm);
    let notifier = AlarmNotifier::new(&shared, 10);
    let id = notifier.notify(&transitions[0]).await.unwrap();
    assert!(id.is_some());

    let mut body = None;
    for _ in 0..10 {
        let r = sqs
            .receive_message()
            .queue_url(&queue_url)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        if let Some(m) = r.messages().first() {
            body = m.body().map(str::to_string);
            break;
        }
    }
    let body = body.expect("the notification reached the queue");
    let envelope: serde_json::Value = serde_json::from_str(&body).unwrap();
    let msg: serde_json::Value =
        serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
    assert_eq!(msg["AlarmName"], "root-usage");
    assert_eq!(msg["NewStateValue"], "ALARM");
    assert_eq!(msg["OldStateValue"], "INSUFFICIENT_DATA");
    assert_eq!(msg["StateChangeTime"], "2027-01-15T08:01:00.000+0000");
    assert_eq!(msg["TriggeringEventIds"], serde_json::json!(["evt-root-1"]));
    assert!(msg["NewStateReason"]
        .as_str()
        .unwrap()
        .contains("threshold (1)"));
}

#[tokio::test]
async fn publish_metric_data_sends_one_statistic_set_per_metric_and_dimensions() {
    let Some(shared) =
        moto("publish_metric_data_sends_one_statistic_set_per_metric_and_dimensions").await
    else {
        return;
    };
    let cfg = config("g", None);
    let ev = MetricEvaluator::new(&cfg).unwrap();
    let root = br#"{"eventID":"r","eventName":"ListBuckets","eventType":"AwsApiCall","userIdentity":{"type":"Root"}}"#;
    let other = br#"{"eventID":"o","eventName":"DeleteBucket","eventSource":"s3.amazonaws.com","userIdentity":{"type":"IAMUser"}}"#;
    ev.observe(root);
    ev.observe(other);
    ev.observe(other);
    let stats = ev.take_statistics();
    assert_eq!(stats.len(), 2, "RootAccountUsage and Deletes{{source}}");
    let deletes = stats.iter().find(|s| s.metric == "Deletes").unwrap();
    assert_eq!((deletes.sample_count, deletes.sum), (2.0, 2.0));
    assert!(ev.take_statistics().is_empty(), "drained");
    let mut stats = stats;
    let sent = match MetricPublisher::new(&shared).publish(&mut stats).await {
        Ok(n) => n,
        // moto 5.2 answers CloudWatch in XML, but current SDKs speak RPC v2 CBOR to it.
        Err(e) if e.to_string().contains("expected map") => {
            eprintln!("SKIP PutMetricData round trip: the test server does not speak CloudWatch's CBOR protocol ({e})");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    assert_eq!(sent, 2);
    let cw = aws_sdk_cloudwatch::Client::new(&shared);
    let listed = cw
        .list_metrics()
        .namespace("TrailpipeTest")
        .metric_name("Deletes")
        .send()
        .await
        .unwrap();
    assert!(listed.metrics().iter().any(|m| m
        .dimensions()
        .iter()
        .any(|d| d.name() == Some("source") && d.value() == Some("s3.amazonaws.com"))));
}
