//! EventBridge rules end to end: generated records produced to tansu, the daemon matching them
//! against `[[rules]]` and delivering each matched record's event to the rules' targets (Kafka
//! topics on tansu, SNS topics on moto with an SQS queue subscribed); what arrives is checked
//! against a model — `Pattern::matches` on each produced record's envelope and the rule's state
//! — and the source group's offsets must reach the end of the topic. A missing SNS topic
//! dead-letters the events with a reason naming rule and target; a missing Kafka target topic
//! holds the offsets until it is created.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::LazyLock,
    time::{Duration, Instant},
};

use bytes::Bytes;
use trailpipe_eventpattern::Pattern;
use trailpipe_rules::{envelope, RuleState};

use crate::support::*;

static PORT: LazyLock<u16> = LazyLock::new(free_port);
static SNS_PORT: LazyLock<u16> = LazyLock::new(free_port);

const SIGN_INS: &str = r#"{"detail-type": ["AWS Console Sign In via CloudTrail"]}"#;
const IAM_WRITES: &str =
    r#"{"source": ["aws.iam"], "detail": {"eventName": [{"anything-but": {"prefix": "Get"}}]}}"#;
const FROM_CIDR: &str = r#"{"detail": {"sourceIPAddress": [{"cidr": "198.51.100.0/24"}]}}"#;
const EVERYTHING: &str = r#"{"source": [{"prefix": "aws."}]}"#;

/// A rule of the model: its pattern and state.
struct ModelRule {
    pattern: Pattern,
    state: RuleState,
}

/// Per rule (in order): the envelopes (by id) of the produced records it matches.
fn model(
    rules: &[ModelRule],
    messages: &[(String, Vec<u8>)],
) -> Vec<BTreeMap<String, serde_json::Value>> {
    let mut out = vec![BTreeMap::new(); rules.len()];
    for (_, v) in messages {
        let mut parsed = Vec::new();
        trailpipe_event::parse_message(
            &Bytes::from(v.clone()),
            &trailpipe_event::ParseLimits::default(),
            &mut parsed,
        );
        for event in parsed.iter().filter_map(|r| r.as_ref().ok()) {
            let value = envelope::to_value(event).expect("envelope");
            for (i, r) in rules.iter().enumerate() {
                if r.state.admits(&event.fields) && r.pattern.matches(&value) {
                    let id = value["id"].as_str().expect("id").to_string();
                    out[i].insert(id, value.clone());
                }
            }
        }
    }
    out
}

/// Every message of `topic` as (key, value, headers), read until `want` arrived or `timeout`.
fn read_topic(
    brokers: &str,
    topic: &str,
    want: usize,
    timeout: Duration,
) -> Vec<(String, serde_json::Value, HashMap<String, String>)> {
    consume_keyed(brokers, topic, want, timeout)
        .into_iter()
        .map(|(key, payload, headers)| {
            let key = String::from_utf8(key.unwrap_or_default()).expect("utf-8 key");
            let value = serde_json::from_slice(&payload).expect("JSON value");
            (key, value, headers)
        })
        .collect()
}

#[test]
fn matched_records_reach_every_kafka_target_and_offsets_commit() {
    let Some(s) = Services::get("rules") else {
        return;
    };
    let (topic, dlq, group, bucket, _) = fresh(&s, "rules", 2);
    let targets: Vec<String> = ["signins", "iam", "cidr", "off"]
        .iter()
        .map(|t| unique(&format!("rules-{t}")))
        .collect();
    for t in &targets {
        create_topic(&s.brokers, t, 1);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let head = kafka_to_moto(&s, &topic, &dlq, &group, *PORT, "");
    let cfg = format!(
        r#"{head}
{trail}

[[rules]]
name = "console-sign-ins"
event_pattern = '{SIGN_INS}'
[[rules.targets]]
id = "signins"
kind = "kafka"
topic = "{t0}"

[[rules]]
name = "iam-writes"
description = "IAM calls other than Get*"
event_pattern = '{IAM_WRITES}'
[[rules.targets]]
id = "iam-detail"
kind = "kafka"
topic = "{t1}"
input_path = "$.detail"

[[rules]]
name = "from-198.51.100"
state = "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"
event_pattern = '{FROM_CIDR}'
[[rules.targets]]
id = "cidr"
kind = "kafka"
topic = "{t2}"

[[rules]]
name = "switched-off"
state = "DISABLED"
event_pattern = '{EVERYTHING}'
[[rules.targets]]
id = "off"
kind = "kafka"
topic = "{t3}"
"#,
        trail = trail("everything", &bucket).with("delivery_interval_secs = 2"),
        t0 = targets[0],
        t1 = targets[1],
        t2 = targets[2],
        t3 = targets[3],
    );
    let daemon = Daemon::start(dir.path(), &cfg);
    let messages = generated_messages(3_000, 2101);
    produce(&s.brokers, &topic, &messages);
    let end = messages.len() as i64;
    assert!(
        wait_until(Duration::from_secs(180), || committed_total(
            &s.brokers, &group, &topic, 2
        ) >= end),
        "offsets not committed to the end\n{}",
        daemon.log_text()
    );

    let rules = [
        (SIGN_INS, RuleState::Enabled),
        (IAM_WRITES, RuleState::Enabled),
        (
            FROM_CIDR,
            RuleState::EnabledWithAllCloudTrailManagementEvents,
        ),
        (EVERYTHING, RuleState::Disabled),
    ]
    .map(|(p, state)| ModelRule {
        pattern: Pattern::parse(p).expect("pattern"),
        state,
    });
    let want = model(&rules, &messages);
    for (i, n) in [0, 1, 2].map(|i| (i, want[i].len())) {
        assert!(n > 0, "the generator produced records for rule {i}");
    }
    assert!(want[3].is_empty(), "a disabled rule matches nothing");

    // Offsets are committed only after every target accepted the events: they are all there.
    for (i, t) in targets.iter().enumerate() {
        let got = read_topic(
            &s.brokers,
            t,
            want[i].len(),
            Duration::from_secs(if want[i].is_empty() { 5 } else { 60 }),
        );
        let mut ids = BTreeSet::new();
        for (key, value, _) in &got {
            let expected = want[i]
                .get(key)
                .unwrap_or_else(|| panic!("rule {i}: unexpected event keyed {key}"));
            if i == 1 {
                // input_path = "$.detail": the record itself.
                assert_eq!(value, &expected["detail"], "rule {i}: {key}");
            } else {
                assert_eq!(value, expected, "rule {i}: {key}");
                assert_eq!(value["id"], key.as_str(), "the key is the event id");
            }
            ids.insert(key.clone());
        }
        assert_eq!(
            ids,
            want[i].keys().cloned().collect::<BTreeSet<_>>(),
            "rule {i}: every matched record arrives (at least once)\n{}",
            daemon.log_text()
        );
    }
    let delivered = metric_sum(*PORT, "trailpipe_rule_delivered_total");
    let expected_total = (want[0].len() + want[1].len() + want[2].len()) as f64;
    assert!(
        delivered >= expected_total,
        "delivered metric {delivered} < {expected_total}"
    );
    assert!(metric_sum(*PORT, "trailpipe_rule_matched_total") >= expected_total);
    assert_eq!(metric_sum(*PORT, "trailpipe_rule_failed_total"), 0.0);
}

#[test]
fn sns_targets_publish_and_a_missing_topic_dead_letters_with_the_reason() {
    let Some(s) = Services::get("rules_sns") else {
        return;
    };
    let (topic, dlq, group, bucket, _) = fresh(&s, "rulessns", 2);
    let (sns_topic, queue_url) = sns_topic_with_queue(&s, "rules");
    let missing = format!("{}-missing", sns_topic);
    let dir = tempfile::tempdir().expect("tempdir");
    let head = kafka_to_moto(&s, &topic, &dlq, &group, *SNS_PORT, "");
    let cfg = format!(
        r#"{head}
{trail}

[[rules]]
name = "console-sign-ins"
event_pattern = '{SIGN_INS}'
[[rules.targets]]
id = "to-sns"
kind = "sns"
topic_arn = "{sns_topic}"

[[rules]]
name = "iam-writes"
event_pattern = '{IAM_WRITES}'
[[rules.targets]]
id = "nowhere"
kind = "sns"
topic_arn = "{missing}"
"#,
        trail = trail("everything", &bucket).with("delivery_interval_secs = 2"),
    );
    let daemon = Daemon::start(dir.path(), &cfg);
    let messages = generated_messages(600, 2102);
    produce(&s.brokers, &topic, &messages);
    let end = messages.len() as i64;
    assert!(
        wait_until(Duration::from_secs(120), || committed_total(
            &s.brokers, &group, &topic, 2
        ) >= end),
        "offsets not committed to the end\n{}",
        daemon.log_text()
    );
    let rules = [SIGN_INS, IAM_WRITES].map(|p| ModelRule {
        pattern: Pattern::parse(p).expect("pattern"),
        state: RuleState::Enabled,
    });
    let want = model(&rules, &messages);
    assert!(
        !want[0].is_empty() && !want[1].is_empty(),
        "the generator made both kinds"
    );

    // The sign-ins arrive in the subscribed queue as the SNS message.
    let mut got: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while got.len() < want[0].len() && Instant::now() < deadline {
        for m in receive_sns_messages(&s, &queue_url) {
            got.insert(m["id"].as_str().expect("id").to_string(), m);
        }
    }
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want[0].keys().collect::<Vec<_>>(),
        "every sign-in published\n{}",
        daemon.log_text()
    );
    for (id, m) in &got {
        assert_eq!(m, &want[0][id]);
    }

    // The missing topic can never accept them: each IAM write is a dead letter naming the rule
    // and the target, written before its offset was committed.
    let letters = read_topic(&s.brokers, &dlq, want[1].len(), Duration::from_secs(30));
    let rules_letters: Vec<_> = letters
        .iter()
        .filter(|(_, _, h)| {
            h.get("trailpipe.error.reason")
                .is_some_and(|r| r.contains("rule \"iam-writes\" target \"nowhere\""))
        })
        .collect();
    assert_eq!(
        rules_letters.len(),
        want[1].len(),
        "one dead letter per IAM write\n{}",
        daemon.log_text()
    );
    let ids: BTreeSet<String> = rules_letters
        .iter()
        .map(|(_, v, _)| v["eventID"].as_str().expect("eventID").to_string())
        .collect();
    let want_ids: BTreeSet<String> = want[1]
        .values()
        .map(|e| {
            e["detail"]["eventID"]
                .as_str()
                .expect("eventID")
                .to_string()
        })
        .collect();
    assert_eq!(ids, want_ids);
    assert!(rules_letters[0].2["trailpipe.error.reason"].contains("NotFound"));
}

#[test]
fn a_kafka_target_that_is_missing_holds_the_offsets_until_it_exists() {
    let Some(s) = Services::get("rules_outage") else {
        return;
    };
    let (topic, dlq, group, bucket, _) = fresh(&s, "rulesout", 1);
    let target = unique("rules-late");
    let port = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let head = kafka_to_moto(&s, &topic, &dlq, &group, port, "");
    let cfg = format!(
        r#"{head}
{trail}

[[rules]]
name = "console-sign-ins"
event_pattern = '{SIGN_INS}'
[[rules.targets]]
id = "late"
kind = "kafka"
topic = "{target}"
"#,
        trail = trail("everything", &bucket),
    );
    let daemon = Daemon::start(dir.path(), &cfg);
    let messages = generated_messages(400, 2103);
    let rules = [ModelRule {
        pattern: Pattern::parse(SIGN_INS).expect("pattern"),
        state: RuleState::Enabled,
    }];
    let want = model(&rules, &messages);
    assert!(!want[0].is_empty());
    produce(&s.brokers, &topic, &messages);
    // The target topic does not exist: the sign-ins cannot be delivered, so the offsets stay
    // before the first of them (the log files are written meanwhile).
    std::thread::sleep(Duration::from_secs(12));
    let held = committed_total(&s.brokers, &group, &topic, 1);
    assert!(
        held < messages.len() as i64,
        "offsets passed events no target accepted ({held})\n{}",
        daemon.log_text()
    );
    create_topic(&s.brokers, &target, 1);
    assert!(
        wait_until(Duration::from_secs(120), || committed_total(
            &s.brokers, &group, &topic, 1
        ) >= messages.len() as i64),
        "offsets not committed once the target exists\n{}",
        daemon.log_text()
    );
    let got: BTreeSet<String> =
        read_topic(&s.brokers, &target, want[0].len(), Duration::from_secs(30))
            .into_iter()
            .map(|(k, _, _)| k)
            .collect();
    // Every sign-in arrived (librdkafka held them until the topic appeared, or the stage
    // retried them after a delivery timeout).
    assert_eq!(got, want[0].keys().cloned().collect::<BTreeSet<_>>());
}
