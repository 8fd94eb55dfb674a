//! Event history end to end: records from tansu go through the daemon into its history store —
//! management events whether or not a trail routes them — and the real
//! `aws cloudtrail lookup-events` (which pages by itself) returns, for several attributes, exactly
//! what a straightforward model of the produced records says, newest first; hand paging with
//! new events arriving in between loses and repeats nothing; bad requests get AWS's error names.

use std::{collections::BTreeSet, process::Command, time::Duration};

use std::sync::LazyLock;

use crate::support::*;

static PORT: LazyLock<u16> = LazyLock::new(free_port);
const REGION: &str = "us-east-1";

/// The read-only API credential the daemon is configured with (as the aws CLI's environment).
const READER: [(&str, &str); 2] = [
    ("AWS_ACCESS_KEY_ID", "AKIATRAILPIPESIEM001"),
    ("AWS_SECRET_ACCESS_KEY", "history-reader-secret-0123456789"),
];

fn aws(args: &[&str]) -> (i32, String, String) {
    let aws = std::env::var("TRAILPIPE_TEST_AWS_CLI").expect("TRAILPIPE_TEST_AWS_CLI");
    let out = Command::new(aws)
        .args(["cloudtrail", "lookup-events", "--endpoint-url"])
        .arg(format!("http://127.0.0.1:{}", *PORT))
        .envs(READER)
        .args(["--region", REGION, "--output", "json"])
        .args(args)
        .output()
        .expect("aws");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// EventIds of a lookup (the CLI follows NextToken itself), checking newest-first order.
fn lookup_ids(key: &str, value: &str) -> Vec<String> {
    let (code, out, err) = aws(&[
        "--lookup-attributes",
        &format!("AttributeKey={key},AttributeValue={value}"),
    ]);
    assert_eq!(code, 0, "lookup {key}={value}: {err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let events = v["Events"].as_array().expect("Events");
    let times: Vec<f64> = events
        .iter()
        .map(|e| e["EventTime"].as_f64().expect("EventTime"))
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "{key}={value}: not newest first"
    );
    for e in events {
        let record: serde_json::Value =
            serde_json::from_str(e["CloudTrailEvent"].as_str().expect("CloudTrailEvent"))
                .expect("record");
        assert_eq!(record["eventID"], e["EventId"]);
    }
    events
        .iter()
        .map(|e| e["EventId"].as_str().expect("id").to_string())
        .collect()
}

#[test]
fn aws_lookup_events_answers_like_a_model_of_the_produced_records() {
    let Some(s) = Services::get("history_lookup") else {
        return;
    };
    let (topic, dlq, group, bucket, _) = fresh(&s, "history", 2);
    let dir = tempfile::tempdir().expect("tempdir");
    let head = kafka_to_moto(&s, &topic, &dlq, &group, *PORT, "");
    // The only trail logs S3 data events: management events reach the history without a trail.
    let cfg = format!(
        r#"{head}
[history]
path = "{history}"
retention_days = 3650

# Lookups are signed with a read-only credential (the secret from the environment).
[[api.credentials]]
name = "siem"
access_key_id = "{key_id}"
secret_access_key = "${{TP_TEST_READER_SECRET}}"
policy = "read"

[[trails]]
name = "data-only"
s3_bucket_name = "{bucket}"
is_multi_region_trail = true
delivery_interval_secs = 1
[[trails.advanced_event_selectors]]
field_selectors = [ {{ field = "eventCategory", equals = ["Data"] }}, {{ field = "resources.type", equals = ["AWS::S3::Object"] }} ]
"#,
        history = dir.path().join("history").display(),
        key_id = READER[0].1,
    );
    let messages = generated_messages(4_000, 21);
    let daemon =
        Daemon::start_with_env(dir.path(), &cfg, &[("TP_TEST_READER_SECRET", READER[1].1)]);
    produce(&s.brokers, &topic, &messages);
    let all = messages.len() as i64;
    assert!(
        wait_until(Duration::from_secs(120), || committed_total(
            &s.brokers, &group, &topic, 2
        ) >= all),
        "not all committed\n{}",
        daemon.log_text()
    );

    let records: Vec<serde_json::Value> = messages
        .iter()
        .map(|(_, v)| serde_json::from_slice(v).expect("json"))
        .collect();
    let here: Vec<&serde_json::Value> = records
        .iter()
        .filter(|r| {
            is_management(&serde_json::to_vec(r).expect("json")) && r["awsRegion"] == REGION
        })
        .collect();
    assert!(
        here.len() > 50,
        "only {} management events in {REGION}",
        here.len()
    );
    let model = |f: &dyn Fn(&serde_json::Value) -> bool| -> BTreeSet<String> {
        here.iter()
            .filter(|r| f(r))
            .map(|r| r["eventID"].as_str().expect("id").to_string())
            .collect()
    };
    let name = here[0]["eventName"]
        .as_str()
        .expect("eventName")
        .to_string();
    // Not cloudtrail.amazonaws.com: this test's own LookupEvents calls are recorded under that
    // source too, and would be found beside the produced ones.
    let source = here
        .iter()
        .filter_map(|r| r["eventSource"].as_str())
        .find(|s| *s != "cloudtrail.amazonaws.com")
        .expect("eventSource")
        .to_string();
    let key = here
        .iter()
        .find_map(|r| r["userIdentity"]["accessKeyId"].as_str())
        .expect("an access key")
        .to_string();
    let id = here[2]["eventID"].as_str().expect("id").to_string();
    let cases: Vec<(&str, String, BTreeSet<String>)> = vec![
        (
            "EventName",
            name.clone(),
            model(&|r| r["eventName"] == name.as_str()),
        ),
        (
            "EventSource",
            source.clone(),
            model(&|r| r["eventSource"] == source.as_str()),
        ),
        (
            "ReadOnly",
            "false".into(),
            model(&|r| r["readOnly"] == false),
        ),
        (
            "AccessKeyId",
            key.clone(),
            model(&|r| r["userIdentity"]["accessKeyId"] == key.as_str()),
        ),
        (
            "EventId",
            id.clone(),
            model(&|r| r["eventID"] == id.as_str()),
        ),
    ];
    for (k, v, want) in &cases {
        let got = lookup_ids(k, v);
        let set: BTreeSet<String> = got.iter().cloned().collect();
        assert_eq!(set.len(), got.len(), "{k}={v}: repeated events");
        assert_eq!(&set, want, "{k}={v}: differs from the model");
        eprintln!("lookup {k}={v}: {} events, as the model says", got.len());
    }

    // Hand paging, three events a page, while newer events keep arriving: nothing lost or repeated.
    let (k, v, want) = &cases[2];
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut extra = 0;
    loop {
        let attr = format!("AttributeKey={k},AttributeValue={v}");
        let mut args = vec!["--lookup-attributes", attr.as_str(), "--max-items", "3"];
        if let Some(t) = &token {
            args.extend(["--starting-token", t.as_str()]);
        }
        let (code, out, err) = aws(&args);
        assert_eq!(code, 0, "{err}");
        let page: serde_json::Value = serde_json::from_str(&out).expect("json");
        seen.extend(
            page["Events"]
                .as_array()
                .expect("Events")
                .iter()
                .map(|e| e["EventId"].as_str().expect("id").to_string()),
        );
        if extra < 3 {
            produce(&s.brokers, &topic, &generated_messages(200, 900 + extra));
            extra += 1;
        }
        match page["NextToken"].as_str() {
            Some(t) if seen.len() < 30 => token = Some(t.to_string()),
            _ => break,
        }
    }
    let unique_seen: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique_seen.len(), seen.len(), "paging repeated events");
    let first: Vec<&String> = want.iter().collect();
    assert!(
        seen.iter().all(|id| want.contains(id)),
        "paging returned events outside the original set"
    );
    assert!(
        seen.len() >= 9.min(first.len()),
        "paging stopped early: {}",
        seen.len()
    );

    // Bad requests: AWS's error names, HTTP 400 (the CLI exits 254/255).
    let (code, _, err) = aws(&[
        "--lookup-attributes",
        "AttributeKey=EventName,AttributeValue=a",
        "AttributeKey=EventSource,AttributeValue=b",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("InvalidLookupAttributesException"), "{err}");
    let (code, _, err) = aws(&[
        "--start-time",
        "2026-01-02T00:00:00Z",
        "--end-time",
        "2026-01-01T00:00:00Z",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("InvalidTimeRangeException"), "{err}");

    // `trailpipe lookup` reads the same history through the daemon, signing with the keys in
    // its environment; without them the daemon (which has credentials) refuses it.
    let lookup = |env: &[(&str, &str)]| {
        Command::new(env!("CARGO_BIN_EXE_trailpipe"))
            .args(["lookup", "--config"])
            .arg(dir.path().join("trailpipe.toml"))
            .args(["--attribute", &format!("EventId={id}"), "--output", "json"])
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            // It reads the daemon's configuration file for its address, secrets included.
            .env("TP_TEST_READER_SECRET", READER[1].1)
            .envs(env.iter().copied())
            .output()
            .expect("trailpipe lookup")
    };
    let refused = lookup(&[]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("set AWS_ACCESS_KEY_ID"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let out = lookup(&READER);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(&id));

    // The lookups above are API calls trailpipe recorded itself: once read back from the
    // topic they are in the history too, under the caller's name.
    let end = end_offsets_total(&s.brokers, &topic, 2);
    assert!(
        wait_until(Duration::from_secs(60), || committed_total(
            &s.brokers, &group, &topic, 2
        ) >= end),
        "committed {:?} of {end}; {:?}\n{}",
        committed_by_partition(&s.brokers, &group, &topic, 2),
        (0..2)
            .map(|p| end_offsets_total(&s.brokers, &topic, p + 1))
            .collect::<Vec<_>>(),
        daemon.log_text()
    );
    let (code, out, err) = aws(&[
        "--lookup-attributes",
        "AttributeKey=EventName,AttributeValue=LookupEvents",
    ]);
    assert_eq!(code, 0, "{err}");
    let events: serde_json::Value = serde_json::from_str(&out).expect("json");
    let events = events["Events"].as_array().expect("Events");
    assert!(
        !events.is_empty(),
        "no LookupEvents self-record in the history"
    );
    let mut by_siem = 0;
    for e in events {
        assert_eq!(e["EventSource"], "cloudtrail.amazonaws.com", "{e}");
        let record: serde_json::Value =
            serde_json::from_str(e["CloudTrailEvent"].as_str().expect("CloudTrailEvent"))
                .expect("json");
        let key = record["userIdentity"]["accessKeyId"].as_str().unwrap_or("");
        if key != READER[0].1 && key != "local" {
            continue; // a generated LookupEvents record, not one of this test's calls
        }
        if e["Username"] == "siem" {
            // Successful lookups, and the deliberately invalid ones above with their error.
            if record.get("errorCode").is_none() {
                by_siem += 1;
            }
        } else {
            // The unsigned `trailpipe lookup` above, refused and recorded with its reason.
            assert_eq!(
                record["errorCode"], "IncompleteSignatureException",
                "{record}"
            );
        }
    }
    assert!(by_siem > 0, "no successful signed lookup recorded");
    assert_eq!(daemon.terminate(Duration::from_secs(30)), Some(0));
}
