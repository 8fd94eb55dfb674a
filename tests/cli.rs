//! The binary's offline commands, run as a user runs them: `trailpipe test-filter` (the local
//! twin of `aws logs test-metric-filter`) on a file, on gzip from stdin, and with a bad pattern.

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
