//! Metric filters and alarms without a server: CIS filters counted through the `metrics`
//! facade, transformations (values, defaults, dimensions), the alarm state machine.

use std::time::{Duration, SystemTime};

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::MetricKind;
use trailpipe_sink_cwl::{AlarmEvaluator, AlarmState, CwlTrailConfig, MetricEvaluator};

const ROOT: &str = r#"{"eventID":"e-root","eventName":"ListBuckets","eventType":"AwsApiCall","userIdentity":{"type":"Root","accountId":"1"}}"#;
const ROOT_BY_SERVICE: &str = r#"{"eventID":"e-svc","eventName":"ListBuckets","eventType":"AwsApiCall","userIdentity":{"type":"Root","invokedBy":"s3.amazonaws.com"}}"#;
const NO_MFA: &str = r#"{"eventID":"e-nomfa","eventName":"ConsoleLogin","userIdentity":{"type":"IAMUser"},"additionalEventData":{"MFAUsed":"No"},"responseElements":{"ConsoleLogin":"Success"}}"#;
const WITH_MFA: &str = r#"{"eventID":"e-mfa","eventName":"ConsoleLogin","userIdentity":{"type":"IAMUser"},"additionalEventData":{"MFAUsed":"Yes"},"responseElements":{"ConsoleLogin":"Success"}}"#;
const OTHER: &str =
    r#"{"eventID":"e-other","eventName":"GetObject","userIdentity":{"type":"AssumedRole"}}"#;

fn cfg(toml_text: &str) -> CwlTrailConfig {
    serde_json::from_value(toml_to_json(toml_text)).expect("config")
}

/// Tiny TOML-free config writing: tests write JSON directly.
fn toml_to_json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).expect("json")
}

/// (name, labels sorted) → counter value, from a snapshot.
fn counters(rec: &DebuggingRecorder) -> Vec<(String, Vec<String>, f64)> {
    let mut v: Vec<_> = rec
        .snapshotter()
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(ck, _, _, val)| {
            let key = ck.key();
            let mut labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            labels.sort();
            let n = match val {
                DebugValue::Counter(c) => c as f64,
                DebugValue::Gauge(g) => g.into_inner(),
                DebugValue::Histogram(h) => h.len() as f64,
            };
            let kind = match ck.kind() {
                MetricKind::Counter => "c",
                MetricKind::Gauge => "g",
                MetricKind::Histogram => "h",
            };
            (format!("{kind}:{}", key.name()), labels, n)
        })
        .collect();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v
}

#[test]
fn cis_root_usage_and_console_login_without_mfa_are_counted() {
    let c = cfg(r#"{"cloud_watch_logs_log_group":"ct","cis_benchmark_filters":true}"#);
    let rec = DebuggingRecorder::new();
    metrics::with_local_recorder(&rec, || {
        let ev = MetricEvaluator::new(&c).unwrap();
        assert_eq!(ev.filter_count(), 14);
        for r in [ROOT, ROOT, ROOT_BY_SERVICE, NO_MFA, WITH_MFA, OTHER] {
            ev.observe(r.as_bytes());
        }
    });
    let got = counters(&rec);
    let samples = |metric: &str| {
        got.iter()
            .find(|(n, l, _)| {
                n == "c:trailpipe_metric_filter_samples_total"
                    && l.contains(&format!("metric={metric}"))
            })
            .map(|(_, _, v)| *v)
    };
    assert_eq!(samples("RootAccountUsage"), Some(2.0));
    assert_eq!(samples("ConsoleSigninWithoutMFA"), Some(1.0));
    assert_eq!(samples("IAMPolicyChanges"), None, "nothing matched it");
    assert!(got
        .iter()
        .any(|(n, l, v)| n == "g:trailpipe_metric_filter_value_sum"
            && l.contains(&"namespace=CloudTrailMetrics".to_string())
            && l.contains(&"metric=RootAccountUsage".to_string())
            && *v == 2.0));
}

#[test]
fn values_defaults_and_dimensions_follow_the_transformation() {
    let c = cfg(r#"{
        "cloud_watch_logs_log_group": "ct",
        "publish_metric_data": true,
        "metric_filters": [
          {"filter_name": "bytes", "filter_pattern": "{ $.eventName = GetObject }",
           "metric_transformations": [{"metric_name": "Bytes", "metric_namespace": "NS",
             "metric_value": "$.bytes", "dimensions": {"event.Name": "$.eventName"}, "unit": "Bytes"}]},
          {"filter_name": "logins", "filter_pattern": "{ $.eventName = ConsoleLogin }",
           "metric_transformations": [{"metric_name": "Logins", "metric_namespace": "NS",
             "metric_value": "1", "default_value": 0}]}
        ]}"#);
    let rec = DebuggingRecorder::new();
    let stats = metrics::with_local_recorder(&rec, || {
        let ev = MetricEvaluator::new(&c).unwrap();
        let p = ev.observe(br#"{"eventName":"GetObject","bytes":1500}"#);
        assert_eq!(p.len(), 2, "bytes value + logins default");
        assert_eq!(p[0].value, 1500.0);
        assert_eq!(
            p[0].dimensions,
            vec![("event.Name", "GetObject".to_string())]
        );
        assert!(!p[1].matched && p[1].value == 0.0);
        // Non-numeric value: the match emits nothing for Bytes.
        let p = ev.observe(br#"{"eventName":"GetObject","bytes":"many"}"#);
        assert_eq!(p.len(), 1);
        let p = ev.observe(NO_MFA.as_bytes());
        assert_eq!((p.len(), p[0].metric, p[0].value), (1, "Logins", 1.0));
        ev.take_statistics()
    });
    let logins = stats.iter().find(|s| s.metric == "Logins").unwrap();
    assert_eq!(
        (
            logins.sample_count,
            logins.sum,
            logins.minimum,
            logins.maximum
        ),
        (3.0, 1.0, 0.0, 1.0)
    );
    let bytes = stats.iter().find(|s| s.metric == "Bytes").unwrap();
    assert_eq!(
        (bytes.sample_count, bytes.sum, bytes.unit.as_deref()),
        (1.0, 1500.0, Some("Bytes"))
    );
    let got = counters(&rec);
    assert!(
        got.iter()
            .any(|(n, l, v)| n == "c:trailpipe_metric_filter_samples_total"
                && l.contains(&"dim_event_Name=GetObject".to_string())
                && *v == 1.0),
        "{got:?}"
    );
}

#[test]
fn validate_names_each_mistake_and_the_pattern_column() {
    let c = cfg(r#"{
        "cloud_watch_logs_log_group": "bad group!",
        "metric_filters": [
          {"filter_name": "a:b", "filter_pattern": "{ $.x = }",
           "metric_transformations": [{"metric_name": "M*", "metric_namespace": "NS",
             "metric_value": "abc", "default_value": 1, "dimensions": {"d": "$.d"}, "unit": "Parsecs"}]}
        ],
        "alarms": [{"name": "x", "metric_name": "Nope", "statistic": "Sum", "period_secs": 45,
                    "evaluation_periods": 0, "threshold": 1,
                    "comparison_operator": "GreaterThanThreshold", "sns_topic_arn": "topic"}]}"#);
    let errs = c.validate();
    for want in [
        "cloud_watch_logs_log_group",
        "metric_filters[0].filter_name",
        "metric_filters[0].filter_pattern: column 9",
        "metric_transformations[0].metric_name",
        "metric_transformations[0].metric_value",
        "metric_transformations[0].default_value",
        "metric_transformations[0].unit",
        "alarms[0].metric_name",
        "alarms[0].period_secs",
        "alarms[0].evaluation_periods",
        "alarms[0].sns_topic_arn",
    ] {
        assert!(
            errs.iter().any(|e| e.starts_with(want) || e.contains(want)),
            "missing {want}: {errs:#?}"
        );
    }
    assert!(MetricEvaluator::new(&c).is_err());
    let unknown =
        serde_json::from_str::<CwlTrailConfig>(r#"{"cloud_watch_logs_log_group":"g","colour":1}"#);
    assert!(unknown.is_err(), "unknown fields are refused");
}

fn alarm_cfg(stat: &str, op: &str, threshold: f64, periods: u32) -> CwlTrailConfig {
    cfg(&format!(
        r#"{{"cloud_watch_logs_log_group":"ct","cis_benchmark_filters":true,
            "alarms":[{{"name":"root","metric_name":"RootAccountUsage","statistic":"{stat}",
            "period_secs":60,"evaluation_periods":{periods},"threshold":{threshold},
            "comparison_operator":"{op}"}}]}}"#
    ))
}

#[test]
fn alarm_moves_through_insufficient_data_ok_alarm_ok() {
    let c = alarm_cfg("Sum", "GreaterThanOrEqualToThreshold", 2.0, 2);
    let ev = MetricEvaluator::new(&c).unwrap();
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_040); // 60-aligned
    let at = |s: u64| t0 + Duration::from_secs(s);
    let mut al = AlarmEvaluator::new(&c, t0);
    assert_eq!(al.state("root"), Some(AlarmState::InsufficientData));
    // Period 0: quiet → Sum 0 → OK.
    let t = al.tick(at(60));
    assert_eq!(t.len(), 1);
    assert_eq!(
        (t[0].old, t[0].new),
        (AlarmState::InsufficientData, AlarmState::Ok)
    );
    // Periods 1 and 2: two root events each → ALARM when period 2 closes, not before.
    for (s, id) in [(61, "a"), (70, "b"), (125, "c"), (130, "d")] {
        let p = ev.observe(ROOT.replace("e-root", id).as_bytes());
        al.observe(&p, id, at(s));
    }
    assert!(
        al.tick(at(179)).is_empty(),
        "one breaching period is not enough"
    );
    let t = al.tick(at(180));
    assert_eq!(t.len(), 1);
    assert_eq!((t[0].old, t[0].new), (AlarmState::Ok, AlarmState::Alarm));
    assert_eq!(t[0].event_ids, vec!["a", "b", "c", "d"]);
    let json: serde_json::Value = serde_json::from_str(&t[0].to_json()).unwrap();
    assert_eq!(json["AlarmName"], "root");
    assert_eq!(json["NewStateValue"], "ALARM");
    assert_eq!(json["OldStateValue"], "OK");
    assert_eq!(json["StateChangeTime"], "2023-11-14T22:17:00.000+0000");
    assert!(json["NewStateReason"]
        .as_str()
        .unwrap()
        .starts_with("Threshold Crossed"));
    // A quiet period brings it back to OK; no repeated transitions afterwards.
    let t = al.tick(at(240));
    assert_eq!(t[0].new, AlarmState::Ok);
    assert!(al.tick(at(100_000)).is_empty());
}

#[test]
fn average_alarm_without_data_is_insufficient_data() {
    let c = alarm_cfg("Average", "GreaterThanThreshold", 0.5, 1);
    let ev = MetricEvaluator::new(&c).unwrap();
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_040);
    let mut al = AlarmEvaluator::new(&c, t0);
    assert!(
        al.tick(t0 + Duration::from_secs(600)).is_empty(),
        "stays INSUFFICIENT_DATA"
    );
    al.observe(
        &ev.observe(ROOT.as_bytes()),
        "x",
        t0 + Duration::from_secs(601),
    );
    let t = al.tick(t0 + Duration::from_secs(660));
    assert_eq!(t[0].new, AlarmState::Alarm);
    let t = al.tick(t0 + Duration::from_secs(720));
    assert_eq!(t[0].new, AlarmState::InsufficientData);
}
