//! The envelope, the rule states, and `Rules::matching` against matching every admitted rule
//! on the full envelope (the index must never lose a match), on generated records and on the
//! real samples when they are present.

use bytes::Bytes;
use serde_json::{json, Value};
use trailpipe_event::{parse_message, Event, ParseLimits};
use trailpipe_eventpattern::Pattern;
use trailpipe_generator::{Generator, GeneratorConfig};
use trailpipe_rules::{envelope, Rule, RuleState, Rules};

fn event(record: &Value) -> Event {
    let mut out = Vec::new();
    parse_message(
        &Bytes::from(record.to_string()),
        &ParseLimits::default(),
        &mut out,
    );
    out.pop().expect("one record").expect("accepted")
}

fn record() -> Value {
    json!({
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "userName": "alice", "accountId": "111122223333",
                         "arn": "arn:aws:iam::111122223333:user/alice", "accessKeyId": "AKIAEXAMPLE"},
        "eventTime": "2026-03-01T12:34:56Z",
        "eventSource": "iam.amazonaws.com",
        "eventName": "CreateAccessKey",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.7",
        "requestParameters": {"userName": "bob"},
        "responseElements": null,
        "eventID": "0b5c3f0e-1111-4a2b-9c3d-123456789abc",
        "readOnly": false,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": "111122223333",
        "eventCategory": "Management"
    })
}

#[test]
fn the_envelope_wraps_the_record_unchanged() {
    let r = record();
    let e = event(&r);
    let text = envelope::to_json(&e);
    let v: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(v["version"], "0");
    assert_eq!(v["detail-type"], "AWS API Call via CloudTrail");
    assert_eq!(v["source"], "aws.iam");
    assert_eq!(v["account"], "111122223333");
    assert_eq!(v["time"], "2026-03-01T12:34:56Z");
    assert_eq!(v["region"], "us-east-1");
    assert_eq!(v["resources"], json!([]));
    assert_eq!(v["detail"], r);
    // The record's bytes, not a re-serialisation of them.
    assert!(text.ends_with(&format!(r#""detail":{}}}"#, r)));
    assert!(text.starts_with(r#"{"version":"0","id":""#));
}

#[test]
fn detail_type_and_source_follow_event_type_and_event_source() {
    for (event_type, want) in [
        ("AwsApiCall", "AWS API Call via CloudTrail"),
        ("AwsConsoleSignIn", "AWS Console Sign In via CloudTrail"),
        ("AwsConsoleAction", "AWS Console Action via CloudTrail"),
        ("AwsServiceEvent", "AWS Service Event via CloudTrail"),
        ("SomethingNew", "AWS API Call via CloudTrail"),
    ] {
        let mut r = record();
        r["eventType"] = json!(event_type);
        assert_eq!(
            envelope::detail_type(&event(&r).fields),
            want,
            "{event_type}"
        );
    }
    let mut r = record();
    r["eventSource"] = json!("signin.amazonaws.com");
    assert_eq!(envelope::source(&event(&r).fields), "aws.signin");
    r["eventSource"] = json!("app.example.com");
    assert_eq!(envelope::source(&event(&r).fields), "aws.app.example.com");
}

#[test]
fn the_id_is_stable_per_record_and_uuid_shaped() {
    let a = envelope::id(&event(&record()).fields);
    assert_eq!(a, envelope::id(&event(&record()).fields));
    assert_eq!(a.len(), 36);
    let groups: Vec<&str> = a.split('-').collect();
    assert_eq!(
        groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
        [8, 4, 4, 4, 12]
    );
    assert!(groups[2].starts_with('8'), "version 8: {a}");
    assert!("89ab".contains(&groups[3][..1]), "RFC 9562 variant: {a}");
    let mut other = record();
    other["eventID"] = json!("0b5c3f0e-1111-4a2b-9c3d-123456789abd");
    assert_ne!(a, envelope::id(&event(&other).fields));
}

#[test]
fn enabled_rules_do_not_see_read_only_describe_get_list_calls() {
    let read = |name: &str, read_only: bool| {
        let mut r = record();
        r["eventName"] = json!(name);
        r["readOnly"] = json!(read_only);
        event(&r).fields
    };
    let all = RuleState::EnabledWithAllCloudTrailManagementEvents;
    for (name, read_only, enabled) in [
        ("DescribeInstances", true, false),
        ("GetObject", true, false),
        ("ListUsers", true, false),
        // Read-only, but not Describe/Get/List: delivered to ENABLED rules too.
        ("LookupEvents", true, true),
        ("CreateAccessKey", false, true),
        ("GetSessionToken", false, true),
    ] {
        let f = read(name, read_only);
        assert_eq!(RuleState::Enabled.admits(&f), enabled, "{name}");
        assert!(all.admits(&f), "{name}");
        assert!(!RuleState::Disabled.admits(&f), "{name}");
    }
    for s in [RuleState::Enabled, all, RuleState::Disabled] {
        assert_eq!(RuleState::from_name(s.as_str()), Some(s));
    }
    assert_eq!(RuleState::from_name("enabled"), None);
}

/// Rules on every field the index may be fed, and on fields it is not.
const PATTERNS: &[&str] = &[
    r#"{"source": ["aws.iam"]}"#,
    r#"{"source": ["aws.s3"], "detail": {"eventName": ["GetObject", "PutObject"]}}"#,
    r#"{"detail-type": ["AWS Console Sign In via CloudTrail"]}"#,
    r#"{"detail": {"userIdentity": {"type": ["Root", "IAMUser"]}}}"#,
    r#"{"detail": {"userIdentity": {"userName": [{"prefix": "a"}]}}}"#,
    r#"{"detail": {"errorCode": ["AccessDenied"]}}"#,
    r#"{"detail": {"eventName": [{"anything-but": {"prefix": "Describe"}}]}}"#,
    r#"{"account": ["111122223333"], "region": ["us-east-1", "eu-west-1"]}"#,
    r#"{"detail": {"resources": {"type": ["AWS::S3::Object"]}}}"#,
    r#"{"detail": {"resources": {"ARN": [{"prefix": "arn:aws:s3:::"}]}}}"#,
    r#"{"detail": {"sourceIPAddress": [{"cidr": "10.0.0.0/8"}]}}"#,
    r#"{"detail": {"requestParameters": {"bucketName": [{"exists": true}]}}}"#,
    r#"{"$or": [{"detail": {"eventName": ["ConsoleLogin"]}}, {"detail": {"eventSource": ["sts.amazonaws.com"]}}]}"#,
    r#"{"detail": {"readOnly": [false], "eventCategory": ["Management"]}}"#,
    r#"{"detail": {"awsRegion": ["us-west-2"], "eventType": ["AwsApiCall"]}}"#,
    r#"{"detail": {"userIdentity": {"accessKeyId": [{"prefix": "ASIA"}], "invokedBy": [{"exists": false}]}}}"#,
    r#"{"detail": {"eventID": [{"wildcard": "*a*"}]}}"#,
    // Rules on extracted fields only (matched without a parse when the fields are present),
    // including the operators that tell an absent field from a JSON null.
    r#"{"region": [{"anything-but": ["us-east-1", "us-west-2"]}]}"#,
    r#"{"detail": {"userAgent": [{"prefix": "aws-cli"}], "eventSource": [{"suffix": ".amazonaws.com"}]}}"#,
    r#"{"detail": {"sourceIPAddress": [{"cidr": "10.0.0.0/8"}, {"cidr": "192.0.2.0/24"}]}}"#,
    r#"{"detail": {"errorCode": [{"exists": false}]}}"#,
    r#"{"detail": {"errorCode": [null]}}"#,
    r#"{"detail": {"errorCode": [{"anything-but": "AccessDenied"}]}}"#,
    r#"{"detail": {"userAgent": [{"exists": true}], "userIdentity": {"invokedBy": [{"anything-but": {"suffix": ".amazonaws.com"}}]}}}"#,
    // `readOnly` is matched without a parse only when the record wrote it as a boolean.
    r#"{"detail": {"readOnly": [false], "awsRegion": [{"anything-but": "us-east-1"}]}}"#,
    r#"{"detail": {"readOnly": [true]}}"#,
    r#"{"detail": {"readOnly": ["true"]}}"#,
    r#"{"detail": {"readOnly": [{"exists": false}]}}"#,
    r#"{"detail": {"readOnly": [null]}}"#,
];

fn rules() -> Vec<Rule> {
    let states = [
        RuleState::Enabled,
        RuleState::EnabledWithAllCloudTrailManagementEvents,
    ];
    PATTERNS
        .iter()
        .enumerate()
        .flat_map(|(i, p)| {
            states.iter().map(move |&state| Rule {
                name: format!("r{i}-{}", state.as_str()),
                pattern: Pattern::parse(p).unwrap_or_else(|e| panic!("{p}: {e}")),
                state,
            })
        })
        .collect()
}

/// `Rules::matching` is exactly every admitted rule matching the full envelope.
fn check(events: &[Event]) -> usize {
    let list = rules();
    let compiled = Rules::new(list.clone());
    let mut matched = 0;
    for e in events {
        let full = envelope::to_value(e).expect("envelope");
        let want: Vec<usize> = list
            .iter()
            .enumerate()
            .filter(|(_, r)| r.state.admits(&e.fields) && r.pattern.matches(&full))
            .map(|(i, _)| i)
            .collect();
        let got = compiled.matching(e);
        assert_eq!(got.rules, want, "{}", String::from_utf8_lossy(&e.raw));
        // The envelope and its id come with every match, and only then.
        match (&got.envelope, &got.id) {
            (Some(text), Some(id)) => {
                assert_eq!(serde_json::from_str::<Value>(text).unwrap(), full);
                assert_eq!(id, full["id"].as_str().unwrap());
            }
            (None, None) => assert!(want.is_empty()),
            other => panic!("an envelope without its id or the reverse: {other:?}"),
        }
        matched += got.rules.len();
    }
    matched
}

#[test]
fn matching_equals_every_rule_on_the_full_envelope_on_generated_records() {
    let mut g = Generator::new(GeneratorConfig {
        seed: 7,
        ..GeneratorConfig::default()
    });
    let events: Vec<Event> = (0..3000)
        .map(|_| event(&serde_json::from_str(&g.next_record()).unwrap()))
        .collect();
    let matched = check(&events);
    assert!(matched > 1000, "the rules match something: {matched}");
}

#[test]
fn absent_and_null_fields_are_told_apart_as_on_the_full_envelope() {
    let mut events = Vec::new();
    for error in [json!(null), json!("AccessDenied"), json!("Other")] {
        for agent in [
            json!(null),
            json!("aws-cli/2.15"),
            json!("console.amazonaws.com"),
        ] {
            let mut r = record();
            r["errorCode"] = error.clone();
            r["userAgent"] = agent.clone();
            r["userIdentity"]["invokedBy"] = json!(null);
            events.push(event(&r));
            for field in ["errorCode", "userAgent"] {
                let mut r = r.clone();
                r.as_object_mut().unwrap().remove(field);
                events.push(event(&r));
            }
        }
    }
    for read_only in [
        json!(true),
        json!(false),
        json!("true"),
        json!("false"),
        json!(null),
    ] {
        let mut r = record();
        r["readOnly"] = read_only;
        events.push(event(&r));
    }
    let mut r = record();
    r.as_object_mut().unwrap().remove("readOnly");
    events.push(event(&r));
    check(&events);
}

#[test]
fn matching_equals_every_rule_on_the_full_envelope_on_the_real_samples() {
    let samples = match trailpipe_generator::sample_records() {
        Ok(s) => s,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let limits = ParseLimits::default();
    let mut parsed = Vec::new();
    for s in samples.iter().take(10_000) {
        parse_message(&Bytes::from(s.clone()), &limits, &mut parsed);
    }
    let events: Vec<Event> = parsed.into_iter().filter_map(Result::ok).collect();
    check(&events);
}
