use super::*;

const GOOD: &str = r#"{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","principalId":"AIDA","arn":"arn:aws:iam::123456789012:user/Mary","accountId":"123456789012","accessKeyId":"AKIA","userName":"Mary"},"eventTime":"2023-07-19T21:33:41Z","eventSource":"cloudtrail.amazonaws.com","eventName":"StartLogging","awsRegion":"us-east-1","sourceIPAddress":"192.0.2.0","userAgent":"aws-cli/2","requestParameters":{"name":"a&b<c"},"responseElements":null,"requestID":"r1","eventID":"e1","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"123456789012","eventCategory":"Management","sessionCredentialFromConsole":"true"}"#;

fn parse(input: &[u8]) -> Vec<Parsed> {
    let mut out = Vec::new();
    parse_message(
        &Bytes::copy_from_slice(input),
        &ParseLimits::default(),
        &mut out,
    );
    out
}

fn reject_code(input: &[u8]) -> &'static str {
    let out = parse(input);
    assert_eq!(out.len(), 1);
    match &out[0] {
        Ok(e) => panic!("accepted {:?}", e.fields),
        Err(r) => r.reason.code(),
    }
}

#[test]
fn single_record_keeps_bytes_and_extracts_fields() {
    let out = parse(GOOD.as_bytes());
    let ev = out[0].as_ref().expect("good record");
    assert_eq!(&ev.raw[..], GOOD.as_bytes());
    let f = &ev.fields;
    assert_eq!(f.event_time, 1_689_802_421);
    assert_eq!(&*f.event_id, "e1");
    assert_eq!(f.event_name.as_deref(), Some("StartLogging"));
    assert_eq!(&*f.account_id, "123456789012");
    assert_eq!(f.read_only, Some(false));
    assert!(f.read_only_is_bool);
    let as_string = parse(
        GOOD.replace(r#""readOnly":false"#, r#""readOnly":"false""#)
            .as_bytes(),
    );
    let g = &as_string[0].as_ref().expect("accepted").fields;
    assert_eq!((g.read_only, g.read_only_is_bool), (Some(false), false));
    assert_eq!(f.session_credential_from_console, Some(true));
    assert!(f.is_management());
    assert_eq!(f.user_identity.user_name.as_deref(), Some("Mary"));
    assert_eq!(f.user_agent.as_deref(), Some("aws-cli/2"));
    assert_eq!(f.source_ip_address.as_deref(), Some("192.0.2.0"));
}

#[test]
fn envelope_is_split_into_original_byte_slices() {
    let other = GOOD.replace("\"e1\"", "\"e2\"");
    let msg = format!("{{\"Records\": [ {GOOD} ,\n{other}]}}");
    let out = parse(msg.as_bytes());
    assert_eq!(out.len(), 2);
    assert_eq!(&out[0].as_ref().expect("first").raw[..], GOOD.as_bytes());
    assert_eq!(&out[1].as_ref().expect("second").raw[..], other.as_bytes());
}

#[test]
fn one_bad_record_in_an_envelope_does_not_reject_the_others() {
    let bad = GOOD.replace("\"eventID\":\"e1\",", "");
    let msg = format!("{{\"Records\":[{GOOD},{bad}]}}");
    let out = parse(msg.as_bytes());
    assert!(out[0].is_ok());
    let rej = out[1].as_ref().expect_err("no eventID");
    assert_eq!(rej.reason, RejectReason::MissingField("eventID"));
    assert_eq!(rej.envelope_index, Some(1));
    assert_eq!(&rej.raw[..], bad.as_bytes());
}

#[test]
fn account_falls_back_to_user_identity() {
    let rec = GOOD.replace(",\"recipientAccountId\":\"123456789012\"", "");
    let out = parse(rec.as_bytes());
    assert_eq!(
        &*out[0].as_ref().expect("ok").fields.account_id,
        "123456789012"
    );
}

#[test]
fn escaped_strings_are_decoded() {
    let rec = GOOD.replace("\"StartLogging\"", "\"Start\\u004cogging\"");
    let out = parse(rec.as_bytes());
    assert_eq!(
        out[0].as_ref().expect("ok").fields.event_name.as_deref(),
        Some("StartLogging")
    );
}

#[test]
fn every_kind_of_bad_input_is_rejected_with_its_reason() {
    assert_eq!(reject_code(b"{\"eventID\":\"\xff\"}"), "invalid_utf8");
    assert_eq!(reject_code(&GOOD.as_bytes()[..100]), "not_json");
    assert_eq!(reject_code(b"[1,2]"), "not_object");
    assert_eq!(reject_code(b"42"), "not_object");
    assert_eq!(reject_code(b""), "not_json");
    assert_eq!(reject_code(b"not json"), "not_json");
    assert_eq!(reject_code(b"null"), "not_object");
    assert_eq!(
        reject_code(
            GOOD.replace("\"eventTime\":\"2023-07-19T21:33:41Z\",", "")
                .as_bytes()
        ),
        "missing_field"
    );
    assert_eq!(
        reject_code(GOOD.replace("\"awsRegion\":\"us-east-1\",", "").as_bytes()),
        "missing_field"
    );
    assert_eq!(
        reject_code(
            GOOD.replace("\"2023-07-19T21:33:41Z\"", "1689802421")
                .as_bytes()
        ),
        "wrong_type"
    );
    assert_eq!(
        reject_code(
            GOOD.replace("\"readOnly\":false", "\"readOnly\":{}")
                .as_bytes()
        ),
        "wrong_type"
    );
    assert_eq!(
        reject_code(
            GOOD.replace("\"2023-07-19T21:33:41Z\"", "\"yesterday\"")
                .as_bytes()
        ),
        "malformed_field"
    );
    assert_eq!(
        reject_code(
            GOOD.replace(
                "\"recipientAccountId\":\"123456789012\"",
                "\"recipientAccountId\":\"12345\""
            )
            .as_bytes()
        ),
        "malformed_field"
    );
    assert_eq!(
        reject_code(GOOD.replace("\"us-east-1\"", "\"../etc\"").as_bytes()),
        "malformed_field"
    );
    let mut out = Vec::new();
    parse_message(
        &Bytes::from_static(GOOD.as_bytes()),
        &ParseLimits::with_max_record_bytes(100),
        &mut out,
    );
    assert_eq!(
        out[0].as_ref().expect_err("too big").reason.code(),
        "too_large"
    );
}

#[test]
fn missing_account_everywhere_is_reported() {
    let rec = GOOD
        .replace(",\"recipientAccountId\":\"123456789012\"", "")
        .replace("\"accountId\":\"123456789012\",", "");
    let out = parse(rec.as_bytes());
    assert_eq!(
        out[0].as_ref().expect_err("no account").reason,
        RejectReason::MissingField("recipientAccountId")
    );
}

#[test]
fn category_defaults_follow_cloudtrail() {
    let data = GOOD
        .replace(",\"eventCategory\":\"Management\"", "")
        .replace("\"managementEvent\":true", "\"managementEvent\":false");
    assert_eq!(
        parse(data.as_bytes())[0]
            .as_ref()
            .expect("ok")
            .fields
            .event_category,
        EventCategory::Data
    );
    let old = GOOD
        .replace(",\"eventCategory\":\"Management\"", "")
        .replace("\"managementEvent\":true,", "");
    assert!(parse(old.as_bytes())[0]
        .as_ref()
        .expect("ok")
        .fields
        .is_management());
}

proptest::proptest! {
    /// Arbitrary bytes never panic the parser and always yield at least one outcome.
    #[test]
    fn arbitrary_input_never_panics(input in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
        let out = parse(&input);
        proptest::prop_assert!(!out.is_empty());
    }
}

/// A message over `max_message_bytes` is refused whole, before it is parsed (it is not even
/// valid JSON here, and the reason is its size, not its syntax).
#[test]
fn a_message_over_the_limit_is_refused_before_parsing() {
    let limits = ParseLimits {
        max_message_bytes: 64,
        ..ParseLimits::default()
    };
    let mut out = Vec::new();
    let big = Bytes::from(vec![b'{'; 65]);
    parse_message(&big, &limits, &mut out);
    let [Err(r)] = &out[..] else {
        panic!("{out:?}")
    };
    assert_eq!(r.reason.code(), "message_too_large");
    assert_eq!(r.raw.len(), 65);
    assert!(r.reason.to_string().contains("65 bytes"), "{}", r.reason);
    out.clear();
    parse_message(&Bytes::from(vec![b'{'; 64]), &limits, &mut out);
    assert_eq!(
        out[0].as_ref().expect_err("not JSON").reason.code(),
        "not_json"
    );
}

/// An envelope with more records than `max_envelope_records` becomes one rejection of the
/// whole message; at the limit every record is parsed.
#[test]
fn an_envelope_over_the_record_cap_is_one_rejection() {
    let envelope = |n: usize| {
        let records: Vec<&str> = std::iter::repeat_n(GOOD, n).collect();
        Bytes::from(format!(r#"{{"Records":[{}]}}"#, records.join(",")))
    };
    let limits = ParseLimits {
        max_envelope_records: 3,
        ..ParseLimits::default()
    };
    let mut out = Vec::new();
    parse_message(&envelope(3), &limits, &mut out);
    assert_eq!(out.len(), 3);
    assert!(out.iter().all(Result::is_ok));
    out.clear();
    parse_message(&envelope(4), &limits, &mut out);
    let [Err(r)] = &out[..] else {
        panic!("{out:?}")
    };
    assert_eq!(r.reason.code(), "too_many_records");
    assert_eq!(r.envelope_index, None);
    assert_eq!(r.raw, envelope(4));
    // A broken array is still reported as broken JSON, and a non-array as a wrong type.
    out.clear();
    parse_message(
        &Bytes::from_static(br#"{"Records":[{},}"#),
        &limits,
        &mut out,
    );
    assert_eq!(
        out[0].as_ref().expect_err("broken").reason.code(),
        "not_json"
    );
    out.clear();
    parse_message(&Bytes::from_static(br#"{"Records":{}}"#), &limits, &mut out);
    assert_eq!(
        out[0].as_ref().expect_err("object").reason.code(),
        "wrong_type"
    );
}

#[test]
fn nested_values_of_the_wrong_kind_are_named_and_the_rest_still_read() {
    let with = |from: &str, to: &str| {
        let text = GOOD.replace(from, to);
        assert_ne!(text, GOOD, "{from} is in GOOD");
        text
    };
    let identity = GOOD
        .split("\"userIdentity\":")
        .nth(1)
        .and_then(|s| s.split("},").next())
        .map(|s| format!("{s}}}"))
        .expect("GOOD has a userIdentity");
    let reason = |text: &str| {
        parse(text.as_bytes())
            .remove(0)
            .expect_err("rejected")
            .reason
    };
    // A userIdentity that is not an object, with the whole record still valid JSON (the
    // nested value is read past, not left half-read).
    for (value, found) in [
        ("[1,{\"a\":[2]}]", "an array"),
        ("\"IAMUser\"", "a string"),
        ("7", "a number"),
        ("true", "a boolean"),
    ] {
        assert_eq!(
            reason(&with(&identity, value)),
            RejectReason::WrongType {
                field: "userIdentity",
                expected: "an object",
                found
            },
            "{value}"
        );
    }
    // resources: an object where an array belongs, an entry that is not an object.
    let resources = |v: &str| {
        with(
            "\"eventID\":\"e1\"",
            &format!("\"eventID\":\"e1\",\"resources\":{v}"),
        )
    };
    assert_eq!(
        reason(&resources("{\"ARN\":\"x\",\"n\":[1]}")),
        RejectReason::WrongType {
            field: "resources",
            expected: "an array",
            found: "an object"
        }
    );
    for entry in ["1", "[{\"ARN\":\"x\"}]", "\"arn:aws:s3:::b\""] {
        let r = reason(&resources(&format!("[{{\"ARN\":\"a\"}},{entry}]")));
        assert_eq!(r.code(), "malformed_field", "{entry}: {r:?}");
    }
    // Well-formed ones are read in the same pass; null is absent.
    let ok = parse(resources(r#"[{"ARN":"arn:aws:s3:::b/k","type":"AWS::S3::Object","accountId":"1"},{"type":"AWS::S3::Bucket"}]"#).as_bytes())
        .remove(0)
        .expect("accepted");
    assert_eq!(
        ok.fields.resources,
        vec![
            Resource {
                resource_type: Some("AWS::S3::Object".into()),
                arn: Some("arn:aws:s3:::b/k".into())
            },
            Resource {
                resource_type: Some("AWS::S3::Bucket".into()),
                arn: None
            }
        ]
    );
    assert_eq!(ok.fields.user_identity.user_name.as_deref(), Some("Mary"));
    let no_identity = parse(with(&identity, "null").as_bytes())
        .remove(0)
        .expect("accepted");
    assert_eq!(no_identity.fields.user_identity, UserIdentity::default());
    // Nesting errors inside them are still errors of the whole record.
    assert_eq!(reason(&with(&identity, "{\"type\":}")).code(), "not_json");
}
