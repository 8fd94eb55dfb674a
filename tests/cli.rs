//! The binary's offline commands, run as a user runs them: `trailpipe test-filter` (the local
//! twin of `aws logs test-metric-filter`) on a file, on gzip from stdin, and with a bad pattern;
//! `trailpipe test-event-pattern` (the twin of `aws events test-event-pattern`) on events,
//! CloudTrail records and `file://` arguments.

use std::{
    io::Write,
    process::{Command, Stdio},
};

const ROOT: &str = r#"{"eventVersion":"1.08","userIdentity":{"type":"Root","invokedBy":null},"eventType":"AwsApiCall","eventName":"ListBuckets","eventID":"r1"}"#;
const USER: &str = r#"{"eventVersion":"1.08","userIdentity":{"type":"IAMUser"},"eventType":"AwsApiCall","eventName":"ListBuckets","eventID":"u1"}"#;
/// The CIS root-usage filter, verbatim.
const ROOT_USAGE: &str = r#"{ $.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS && $.eventType != "AwsServiceEvent" }"#;

fn test_filter(args: &[&str], stdin: &[u8]) -> (Option<i32>, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_trailpipe"))
        .arg("test-filter")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn trailpipe");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code(),
        String::from_utf8(out.stdout).expect("utf-8"),
        String::from_utf8(out.stderr).expect("utf-8"),
    )
}

#[test]
fn test_filter_prints_matching_records_unchanged_and_a_summary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("records.ndjson");
    // A record whose invokedBy is present (null) does not match NOT EXISTS; blank lines are
    // not records; a line that is not JSON never matches a JSON pattern.
    let no_invoker = r#"{"userIdentity":{"type":"Root"},"eventType":"AwsApiCall","eventID":"r2"}"#;
    std::fs::write(
        &file,
        format!("{ROOT}\n{USER}\n\nnot json\n{no_invoker}\r\n"),
    )
    .expect("write");
    let (code, out, err) = test_filter(&["--pattern", ROOT_USAGE, file.to_str().unwrap()], b"");
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, format!("{no_invoker}\n"));
    assert_eq!(err.trim_end(), "1 of 4 records matched");

    let (code, out, err) = test_filter(
        &["-p", "ListBuckets"],
        format!("{ROOT}\n{USER}\n").as_bytes(),
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out,
        format!("{ROOT}\n{USER}\n"),
        "a term matches both, stdin by default"
    );
    assert_eq!(err.trim_end(), "2 of 2 records matched");
}

#[test]
fn test_filter_reads_gzip_from_stdin() {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(format!("{ROOT}\n{USER}\n").as_bytes())
        .expect("gzip");
    let body = gz.finish().expect("gzip");
    let (code, out, err) = test_filter(
        &["--pattern", r#"{ $.userIdentity.type = "IAMUser" }"#, "-"],
        &body,
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, format!("{USER}\n"));
    assert_eq!(err.trim_end(), "1 of 2 records matched");
}

#[test]
fn test_filter_refuses_a_bad_pattern_with_its_column() {
    let (code, out, err) = test_filter(&["--pattern", "{ $.eventName = }"], ROOT.as_bytes());
    assert_eq!(code, Some(2), "{err}");
    assert!(out.is_empty());
    assert!(err.contains("column "), "{err}");
}

fn test_event_pattern(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_trailpipe"))
        .arg("test-event-pattern")
        .args(args)
        .output()
        .expect("run trailpipe");
    (
        out.status.code(),
        String::from_utf8(out.stdout).expect("utf-8"),
        String::from_utf8(out.stderr).expect("utf-8"),
    )
}

const SIGN_IN: &str = r#"{"eventVersion":"1.08","userIdentity":{"type":"Root","arn":"arn:aws:iam::111122223333:root","accountId":"111122223333"},"eventTime":"2026-03-01T08:00:00Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.9","userAgent":"Mozilla/5.0","requestParameters":null,"responseElements":{"ConsoleLogin":"Success"},"additionalEventData":{"MFAUsed":"No"},"eventID":"4e1a3b86-0000-4c3e-9d8e-5f1b2c3d4e5f","readOnly":false,"eventType":"AwsConsoleSignIn","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#;
/// Root console sign-in without MFA, as people write it for EventBridge.
const ROOT_NO_MFA: &str = r#"{"detail-type": ["AWS Console Sign In via CloudTrail"], "source": ["aws.signin"], "detail": {"userIdentity": {"type": ["Root"]}, "additionalEventData": {"MFAUsed": [{"anything-but": "Yes"}]}}}"#;

#[test]
fn test_event_pattern_answers_like_the_aws_cli() {
    let event = r#"{"source": "aws.ec2", "detail": {"state": "running", "count": 3}}"#;
    let (code, out, _) = test_event_pattern(&[
        "--event-pattern",
        r#"{"source": ["aws.ec2"], "detail": {"count": [{"numeric": [">", 2]}]}}"#,
        "--event",
        event,
    ]);
    assert_eq!(code, Some(0));
    assert_eq!(out, "{\n    \"Result\": true\n}\n");
    let (code, out, _) = test_event_pattern(&[
        "--event-pattern",
        r#"{"detail": {"state": [{"prefix": "stop"}]}}"#,
        "--event",
        event,
    ]);
    assert_eq!(code, Some(0));
    assert_eq!(out, "{\n    \"Result\": false\n}\n");
}

#[test]
fn test_event_pattern_wraps_a_cloudtrail_record_in_its_envelope() {
    let dir = tempfile::tempdir().expect("tempdir");
    let record = dir.path().join("record.json");
    std::fs::write(&record, SIGN_IN).expect("write");
    let pattern = dir.path().join("pattern.json");
    std::fs::write(&pattern, ROOT_NO_MFA).expect("write");
    let file = |p: &std::path::Path| format!("file://{}", p.display());
    let (code, out, err) = test_event_pattern(&[
        "--event-pattern",
        &file(&pattern),
        "--record",
        &file(&record),
    ]);
    assert_eq!(
        (code, out.as_str()),
        (Some(0), "{\n    \"Result\": true\n}\n"),
        "{err}"
    );
    // With MFA the rule does not fire.
    let with_mfa = SIGN_IN.replace(r#""MFAUsed":"No""#, r#""MFAUsed":"Yes""#);
    let (code, out, _) =
        test_event_pattern(&["--event-pattern", ROOT_NO_MFA, "--record", &with_mfa]);
    assert_eq!(
        (code, out.as_str()),
        (Some(0), "{\n    \"Result\": false\n}\n")
    );
    // The record as an event (no envelope) has no `source` or `detail`: no match.
    let (_, out, _) = test_event_pattern(&["--event-pattern", ROOT_NO_MFA, "--event", SIGN_IN]);
    assert_eq!(out, "{\n    \"Result\": false\n}\n");
}

#[test]
fn test_event_pattern_refuses_bad_patterns_events_and_records_with_the_reason() {
    let (code, out, err) = test_event_pattern(&[
        "--event-pattern",
        r#"{"detail": {"count": [{"numeric": [">", "x"]}]}}"#,
        "--event",
        "{}",
    ]);
    assert_eq!((code, out.as_str()), (Some(2), ""));
    assert!(
        err.contains("InvalidEventPatternException") && err.contains("Event pattern is not valid"),
        "{err}"
    );
    let (code, _, err) =
        test_event_pattern(&["--event-pattern", r#"{"a": ["b"]}"#, "--event", "[1]"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("not a JSON object"), "{err}");
    let missing_time = SIGN_IN.replace(r#""eventTime":"2026-03-01T08:00:00Z","#, "");
    let (code, _, err) =
        test_event_pattern(&["--event-pattern", ROOT_NO_MFA, "--record", &missing_time]);
    assert_eq!(code, Some(2));
    assert!(err.contains("eventTime"), "{err}");
    let (code, _, err) = test_event_pattern(&[
        "--event-pattern",
        "file:///nonexistent/p.json",
        "--event",
        "{}",
    ]);
    assert_eq!(code, Some(1));
    assert!(err.contains("/nonexistent/p.json"), "{err}");
}
