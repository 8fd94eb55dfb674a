//! Inputs `trailpipe-event` must refuse, each paired with the reject code it must give.
//!
//! Every entry is one small defect in an otherwise valid record, so a test that feeds them to
//! the parser pins the code for exactly that defect (the parser checks `eventTime`, `eventID`,
//! `awsRegion`, the account, then the optional fields, and stops at the first problem).

/// A valid record the bad inputs are derived from.
const BASE: &str = concat!(
    r#"{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDAQRSTUVWXYZ2345ABC","#,
    r#""arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAQRSTUVWXYZ234567","#,
    r#""userName":"alice"},"eventTime":"2026-01-01T00:00:00Z","eventSource":"ec2.amazonaws.com","#,
    r#""eventName":"DescribeInstances","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.10","#,
    r#""userAgent":"aws-cli/2.22.4 md/awscrt#0.22.0 ua/2.0 os/linux#6.8.0-1019-aws","#,
    r#""requestParameters":{"instancesSet":{},"filterSet":{}},"responseElements":null,"#,
    r#""requestID":"5b1c2a0e-6f0d-4b8e-9a51-3c3e1d7f2a10","eventID":"0e9a4f43-7d3b-4c55-8f0e-2b6a9d4c1e77","#,
    r#""readOnly":true,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","#,
    r#""eventCategory":"Management"}"#
);

/// `BASE` with each `(from, to)` replacement applied once.
fn edit(edits: &[(&str, &str)]) -> Vec<u8> {
    let mut s = BASE.to_string();
    for (from, to) in edits {
        debug_assert!(s.contains(from), "{from} is not in the base record");
        s = s.replacen(from, to, 1);
    }
    s.into_bytes()
}

/// One example of each kind of bad input, with the reject code `trailpipe_event::parse_message`
/// gives it (`RejectReason::code`).
pub fn bad_inputs() -> Vec<(&'static str, Vec<u8>)> {
    let mut invalid_utf8 = edit(&[("aws-cli/2.22.4", "aws-cli/2.22.4 @")]);
    let at = invalid_utf8
        .iter()
        .position(|&b| b == b'@')
        .expect("the marker was just inserted");
    invalid_utf8[at] = 0xff;

    let truncated = BASE.as_bytes()[..BASE.len() / 2].to_vec();

    vec![
        ("invalid_utf8", invalid_utf8),
        ("not_json", truncated),
        (
            "not_json",
            edit(&[(r#""readOnly":true,"#, r#""readOnly":true,,"#)]),
        ),
        ("not_object", format!("[{BASE}]").into_bytes()),
        ("not_object", b"42".to_vec()),
        (
            "missing_field",
            edit(&[(r#""eventID":"0e9a4f43-7d3b-4c55-8f0e-2b6a9d4c1e77","#, "")]),
        ),
        (
            "missing_field",
            edit(&[(r#""eventTime":"2026-01-01T00:00:00Z","#, "")]),
        ),
        (
            "missing_field",
            edit(&[(r#""awsRegion":"us-east-1","#, "")]),
        ),
        (
            "missing_field",
            edit(&[
                (r#""accountId":"111122223333","#, ""),
                (r#""recipientAccountId":"111122223333","#, ""),
            ]),
        ),
        (
            "wrong_type",
            edit(&[(
                r#""eventTime":"2026-01-01T00:00:00Z""#,
                r#""eventTime":1767225600"#,
            )]),
        ),
        (
            "wrong_type",
            edit(&[(r#""readOnly":true"#, r#""readOnly":{"value":true}"#)]),
        ),
        (
            "malformed_field",
            edit(&[("2026-01-01T00:00:00Z", "yesterday")]),
        ),
        (
            "malformed_field",
            edit(&[(
                r#""recipientAccountId":"111122223333""#,
                r#""recipientAccountId":"12345""#,
            )]),
        ),
    ]
}
