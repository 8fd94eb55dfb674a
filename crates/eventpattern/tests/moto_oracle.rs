//! The crate against moto's independent EventBridge matcher (`moto.events.models.EventPattern`)
//! on CloudTrail events in the EventBridge envelope: generated records, plus the real samples
//! when present.
//!
//! Runs only when `TRAILPIPE_TEST_PYTHON` names a Python with moto importable; otherwise it
//! says "skipped: ..." on stderr and passes. One Python process answers every case: the cases
//! go as JSON lines `{"pattern": <text>, "event": <object>}` in a file, and the script prints
//! `true` / `false` per line.
//!
//! Where moto disagrees with AWS's documentation the case is in [`MOTO_DIFFERS`]: it is run and
//! its disagreements reported, but not compared; a unit test in `tests/operators.rs` pins the
//! documented behaviour.

mod common;

use std::io::Write;
use std::process::Command;

use serde_json::json;
use trailpipe_eventpattern::Pattern;

/// Named patterns covering every operator moto supports.
const CASES: &[(&str, &str)] = &[
    ("exact_source", r#"{"source": ["aws.iam"]}"#),
    (
        "exact_two_fields",
        r#"{"source": ["aws.s3"], "detail": {"eventName": ["GetObject", "PutObject"]}}"#,
    ),
    (
        "exact_detail_type",
        r#"{"detail-type": ["AWS API Call via CloudTrail"], "detail": {"eventSource": ["signin.amazonaws.com"]}}"#,
    ),
    (
        "exact_nested_identity",
        r#"{"detail": {"userIdentity": {"type": ["Root"]}}}"#,
    ),
    (
        "exact_bool",
        r#"{"detail": {"readOnly": [false], "eventCategory": ["Management"]}}"#,
    ),
    ("exact_null", r#"{"detail": {"responseElements": [null]}}"#),
    (
        "exact_empty_string",
        r#"{"detail": {"errorMessage": [""]}}"#,
    ),
    (
        "exact_string_in_resources",
        r#"{"resources": ["arn:aws:s3:::x"]}"#,
    ),
    (
        "prefix_event_name",
        r#"{"detail": {"eventName": [{"prefix": "Delete"}]}}"#,
    ),
    (
        "prefix_time",
        r#"{"time": [{"prefix": "2026-01-01T00:0"}]}"#,
    ),
    (
        "prefix_ignore_case",
        r#"{"detail": {"eventName": [{"prefix": {"equals-ignore-case": "describe"}}]}}"#,
    ),
    (
        "suffix",
        r#"{"detail": {"eventSource": [{"suffix": "s3.amazonaws.com"}]}}"#,
    ),
    (
        "suffix_ignore_case",
        r#"{"detail": {"userAgent": [{"suffix": {"equals-ignore-case": "AMAZONAWS.COM"}}]}}"#,
    ),
    (
        "equals_ignore_case",
        r#"{"detail": {"eventName": [{"equals-ignore-case": "consolelogin"}]}}"#,
    ),
    (
        "anything_but_string",
        r#"{"detail": {"awsRegion": [{"anything-but": "us-east-1"}]}}"#,
    ),
    (
        "anything_but_list",
        r#"{"source": ["aws.ec2"], "detail": {"awsRegion": [{"anything-but": ["us-east-1", "eu-west-1"]}]}}"#,
    ),
    (
        "anything_but_number_on_strings",
        r#"{"detail": {"eventVersion": [{"anything-but": [1, 2]}]}}"#,
    ),
    (
        "anything_but_prefix",
        r#"{"detail": {"eventName": [{"anything-but": {"prefix": "Get"}}], "readOnly": [true]}}"#,
    ),
    (
        "anything_but_suffix",
        r#"{"detail": {"sourceIPAddress": [{"anything-but": {"suffix": ".amazonaws.com"}}]}}"#,
    ),
    (
        "anything_but_ignore_case",
        r#"{"detail": {"userIdentity": {"type": [{"anything-but": {"equals-ignore-case": ["assumedrole", "AWSSERVICE"]}}]}}}"#,
    ),
    (
        "anything_but_missing_field",
        r#"{"detail": {"errorCode": [{"anything-but": "AccessDenied"}]}}"#,
    ),
    (
        "numeric_range_on_strings",
        r#"{"detail": {"eventVersion": [{"numeric": [">", 1]}]}}"#,
    ),
    (
        "numeric_duration",
        r#"{"detail": {"requestParameters": {"durationSeconds": [{"numeric": [">=", 900, "<=", 3600]}]}}}"#,
    ),
    (
        "numeric_equals",
        r#"{"detail": {"requestParameters": {"maxResults": [{"numeric": ["=", 50]}]}}}"#,
    ),
    (
        "exact_number",
        r#"{"detail": {"requestParameters": {"durationSeconds": [3600, 9.0e2]}}}"#,
    ),
    (
        "cidr_v4",
        r#"{"detail": {"sourceIPAddress": [{"cidr": "10.0.0.0/8"}]}}"#,
    ),
    (
        "cidr_v4_narrow",
        r#"{"detail": {"sourceIPAddress": [{"cidr": "192.0.2.0/24"}, {"cidr": "198.51.100.0/24"}, {"cidr": "203.0.113.0/24"}]}}"#,
    ),
    (
        "cidr_v6",
        r#"{"detail": {"sourceIPAddress": [{"cidr": "2001:db8::/32"}]}}"#,
    ),
    (
        "exists_true",
        r#"{"detail": {"errorCode": [{"exists": true}]}}"#,
    ),
    (
        "exists_false",
        r#"{"detail": {"errorCode": [{"exists": false}], "eventName": ["ConsoleLogin"]}}"#,
    ),
    (
        "exists_false_nested",
        r#"{"detail": {"userIdentity": {"invokedBy": [{"exists": false}]}}}"#,
    ),
    (
        "exists_on_object_leaf",
        r#"{"detail": {"tlsDetails": [{"exists": false}]}}"#,
    ),
    (
        "wildcard_arn",
        r#"{"detail": {"userIdentity": {"arn": [{"wildcard": "arn:aws:iam::*:user/*"}]}}}"#,
    ),
    (
        "wildcard_middle",
        r#"{"detail": {"eventName": [{"wildcard": "*Bucket*"}]}}"#,
    ),
    (
        "wildcard_exact",
        r#"{"detail": {"eventName": [{"wildcard": "ListBuckets"}]}}"#,
    ),
    (
        "or_top",
        r#"{"$or": [{"source": ["aws.iam"]}, {"detail": {"eventName": ["StopLogging", "DeleteTrail"]}}]}"#,
    ),
    (
        "or_nested",
        r#"{"detail": {"$or": [{"errorCode": [{"prefix": "AccessDenied"}]}, {"errorCode": ["UnauthorizedOperation"]}]}}"#,
    ),
    (
        "or_with_and",
        r#"{"source": ["aws.signin"], "$or": [{"detail": {"additionalEventData": {"MFAUsed": ["No"]}}}, {"detail": {"userIdentity": {"type": ["Root"]}}}]}"#,
    ),
    (
        "mixed_values",
        r#"{"detail": {"eventName": ["ConsoleLogin", {"prefix": "Create"}, {"suffix": "Policy"}]}}"#,
    ),
    (
        "console_no_mfa",
        r#"{"detail-type": ["AWS Console Sign In via CloudTrail", "AWS API Call via CloudTrail"], "detail": {"eventName": ["ConsoleLogin"], "additionalEventData": {"MFAUsed": [{"anything-but": "Yes"}]}}}"#,
    ),
    (
        "root_activity",
        r#"{"detail": {"userIdentity": {"type": ["Root"], "invokedBy": [{"exists": false}]}, "eventType": [{"anything-but": "AwsServiceEvent"}]}}"#,
    ),
    // Cases moto gets wrong (see MOTO_DIFFERS).
    (
        "exists_on_empty_array",
        r#"{"resources": [{"exists": false}], "source": ["aws.iam"]}"#,
    ),
    (
        "array_of_objects",
        r#"{"detail": {"resources": {"type": [{"prefix": "AWS::"}]}}}"#,
    ),
    ("number_matches_bool", r#"{"detail": {"readOnly": [1]}}"#),
    (
        "numeric_on_bool",
        r#"{"detail": {"managementEvent": [{"numeric": [">", 0]}]}}"#,
    ),
    (
        "cidr_host_bits",
        r#"{"detail": {"sourceIPAddress": [{"cidr": "10.1.2.3/8"}]}}"#,
    ),
];

/// Cases excluded from the comparison, each with how moto differs from the documentation and
/// the unit test that pins the documented behaviour.
const MOTO_DIFFERS: &[(&str, &str)] = &[
    (
        "exists_on_empty_array",
        "moto counts [] as present; docs: exists works on leaf values, [] has none (operators::decision_empty_array_is_absent)",
    ),
    (
        "array_of_objects",
        "moto never looks inside arrays of objects; docs/event-ruler match fields of their elements (operators::arrays_of_objects_use_one_element)",
    ),
    (
        "number_matches_bool",
        "moto uses Python ==, where True == 1; docs: values follow JSON types (operators::decision_bool_is_not_number)",
    ),
    (
        "numeric_on_bool",
        "moto's numeric accepts Python bools (ints); docs: numeric works with JSON numbers (operators::decision_bool_is_not_number)",
    ),
    (
        "cidr_host_bits",
        "moto's ip_network is strict and matches nothing for 10.1.2.3/8 (operators::decision_cidr_host_bits_are_ignored)",
    ),
];

const SCRIPT: &str = r#"
import json, sys
from moto.events.models import EventPattern
cache = {}
out = []
with open(sys.argv[1]) as f:
    for line in f:
        case = json.loads(line)
        p = cache.get(case["pattern"])
        if p is None:
            p = cache[case["pattern"]] = EventPattern.load(case["pattern"])
        out.append("true" if p.matches_event(case["event"]) else "false")
sys.stdout.write("\n".join(out) + "\n")
"#;

#[test]
fn crate_agrees_with_moto() {
    let Some(python) = std::env::var_os("TRAILPIPE_TEST_PYTHON") else {
        eprintln!("skipped: TRAILPIPE_TEST_PYTHON is not set (a Python with moto 5 installed)");
        return;
    };
    let probe = Command::new(&python)
        .args(["-c", "import moto.events.models"])
        .output();
    match probe {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            eprintln!(
                "skipped: moto cannot be imported by {python:?}: {}",
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            );
            return;
        }
        Err(e) => {
            eprintln!("skipped: cannot run {python:?}: {e}");
            return;
        }
    }

    let mut events = common::generated_events(400, 7);
    let samples = common::sample_events(200);
    eprintln!(
        "{} generated events, {} real samples",
        events.len(),
        samples.len()
    );
    events.extend(samples);

    let patterns: Vec<(&str, Pattern)> = CASES
        .iter()
        .map(|(name, text)| {
            (
                *name,
                Pattern::parse(text).unwrap_or_else(|e| panic!("{name}: {e}")),
            )
        })
        .collect();
    let dir = std::env::temp_dir().join(format!("eventpattern-moto-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases_path = dir.join("cases.jsonl");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&cases_path).unwrap());
    for (_, text) in CASES {
        for event in &events {
            serde_json::to_writer(&mut file, &json!({"pattern": text, "event": event})).unwrap();
            file.write_all(b"\n").unwrap();
        }
    }
    file.flush().unwrap();
    drop(file);

    let out = Command::new(&python)
        .arg("-c")
        .arg(SCRIPT)
        .arg(&cases_path)
        .output()
        .expect("run python");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "moto script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answers: Vec<bool> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l == "true")
        .collect();
    assert_eq!(answers.len(), CASES.len() * events.len());

    let mut failures = Vec::new();
    for (i, (name, pattern)) in patterns.iter().enumerate() {
        let excluded = MOTO_DIFFERS.iter().find(|(n, _)| n == name);
        let mut disagree = 0;
        let mut matched = 0;
        for (j, event) in events.iter().enumerate() {
            let ours = pattern.matches(event);
            let moto = answers[i * events.len() + j];
            matched += usize::from(ours);
            if ours != moto {
                disagree += 1;
                if excluded.is_none() && failures.len() < 10 {
                    failures.push(format!("{name}: ours {ours}, moto {moto}, event {event}"));
                }
            }
        }
        match excluded {
            Some((_, why)) => {
                eprintln!("excluded {name}: moto disagrees on {disagree} events ({why})")
            }
            None => {
                eprintln!("{name}: {matched}/{} events match", events.len());
                if disagree > 0 {
                    failures.push(format!("{name}: {disagree} disagreements"));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "disagreements with moto:\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_excluded_case_exists() {
    for (name, _) in MOTO_DIFFERS {
        assert!(CASES.iter().any(|(n, _)| n == name), "{name}");
    }
}
