//! SigV4 verification against requests signed by botocore (the `aws` CLI's signer) and by
//! `aws-sigv4` (the Rust SDK's), and every way a request is refused.

use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{PayloadChecksumKind, SigningSettings};
use http::HeaderValue;

use super::*;
use crate::{Credential, Policy};

mod fixtures;

use fixtures::{
    AKID, DESCRIBE_TRAILS_BODY, DESCRIBE_TRAILS_HEADERS, HOST, SECRET, SIGNED_AT,
    STOP_LOGGING_BODY, STOP_LOGGING_HEADERS,
};

fn at(amz_date: &str) -> SystemTime {
    SystemTime::from(parse_amz_date(amz_date).unwrap())
}

fn store_with(secret: &str) -> CredentialStore {
    CredentialStore::new([Credential {
        name: "ops".into(),
        access_key_id: AKID.into(),
        secret_access_key: SecretAccessKey::new(secret),
        policy: Policy::Admin,
        trails: None,
        account_id: "123456789012".into(),
    }])
    .unwrap()
}

fn store() -> CredentialStore {
    store_with(SECRET)
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in pairs {
        map.append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    map
}

/// A request as the daemon receives it: `POST /`.
fn check(
    h: &HeaderMap,
    body: &str,
    now: SystemTime,
    store: &CredentialStore,
) -> Result<Principal, AuthError> {
    verify(
        &Method::POST,
        &Uri::from_static("/"),
        h,
        body.as_bytes(),
        now,
        store,
    )
}

fn stop_logging() -> HeaderMap {
    headers(STOP_LOGGING_HEADERS)
}

fn code(r: Result<Principal, AuthError>) -> &'static str {
    r.expect_err("the request must be refused").code()
}

fn set(h: &mut HeaderMap, name: &'static str, value: &str) {
    h.insert(name, HeaderValue::from_str(value).unwrap());
}

fn replace_in_authorization(h: &mut HeaderMap, from: &str, to: &str) {
    let a = h[AUTHORIZATION].to_str().unwrap().replace(from, to);
    set(h, "authorization", &a);
}

#[test]
fn botocore_stop_logging_verifies_at_its_time() {
    let p = check(&stop_logging(), STOP_LOGGING_BODY, at(SIGNED_AT), &store()).unwrap();
    assert_eq!(p.access_key_id, AKID);
    assert_eq!(p.name, "ops");
    assert_eq!(p.policy, Policy::Admin);
    assert_eq!(p.region, "us-east-1");
    assert_eq!(p.account_id, "123456789012");
    assert_eq!(p.arn(), "arn:aws:iam::123456789012:user/ops");
}

#[test]
fn botocore_describe_trails_verifies_at_its_time() {
    let h = headers(DESCRIBE_TRAILS_HEADERS);
    assert!(check(&h, DESCRIBE_TRAILS_BODY, at(SIGNED_AT), &store()).is_ok());
}

#[test]
fn the_window_is_fifteen_minutes_either_way() {
    let h = stop_logging();
    let t = at(SIGNED_AT);
    let min = Duration::from_secs(60);
    for now in [
        t + 15 * min,
        t - 15 * min,
        t + 15 * min + Duration::from_millis(999),
    ] {
        assert!(
            check(&h, STOP_LOGGING_BODY, now, &store()).is_ok(),
            "{now:?}"
        );
    }

    let old = check(&h, STOP_LOGGING_BODY, t + 16 * min, &store()).unwrap_err();
    assert_eq!(old.code(), "InvalidSignatureException");
    assert_eq!(old.status(), 400);
    assert_eq!(
        old.message(),
        "Signature expired: 20261206T103000Z is now earlier than 20261206T103100Z (20261206T104600Z - 15 min.)"
    );

    let future = check(&h, STOP_LOGGING_BODY, t - 16 * min, &store()).unwrap_err();
    assert_eq!(future.code(), "InvalidSignatureException");
    assert_eq!(
        future.message(),
        "Signature not yet current: 20261206T103000Z is still later than 20261206T102900Z (20261206T101400Z + 15 min.)"
    );
}

#[test]
fn tampering_with_anything_signed_breaks_the_signature() {
    let now = at(SIGNED_AT);
    let s = store();
    // The body.
    let r = check(&stop_logging(), r#"{"Name": "data-events"}"#, now, &s);
    assert_eq!(r.unwrap_err(), AuthError::SignatureMismatch);
    // A signed header: the operation.
    let mut h = stop_logging();
    set(
        &mut h,
        "x-amz-target",
        "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.StartLogging",
    );
    assert_eq!(
        code(check(&h, STOP_LOGGING_BODY, now, &s)),
        "InvalidSignatureException"
    );
    // Another host (a request replayed to another daemon).
    let mut h = stop_logging();
    set(&mut h, "host", "127.0.0.1:9465");
    assert_eq!(
        check(&h, STOP_LOGGING_BODY, now, &s).unwrap_err(),
        AuthError::SignatureMismatch
    );
    // The signature itself, one digit.
    let mut h = stop_logging();
    replace_in_authorization(&mut h, "Signature=3e9e", "Signature=3e9f");
    assert_eq!(
        check(&h, STOP_LOGGING_BODY, now, &s).unwrap_err(),
        AuthError::SignatureMismatch
    );
    // Unsigned headers may change freely.
    let mut h = stop_logging();
    set(&mut h, "user-agent", "aws-cli/2.22.0");
    set(&mut h, "amz-sdk-request", "attempt=2; max=3");
    assert!(check(&h, STOP_LOGGING_BODY, now, &s).is_ok());
}

#[test]
fn a_wrong_secret_is_a_signature_mismatch_with_aws_words() {
    let e = check(
        &stop_logging(),
        STOP_LOGGING_BODY,
        at(SIGNED_AT),
        &store_with("another-secret-0123456789"),
    )
    .unwrap_err();
    assert_eq!(e.code(), "InvalidSignatureException");
    assert_eq!(e.status(), 400);
    assert!(e.message().starts_with("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method."));
    assert!(!e.message().contains(SECRET));
}

#[test]
fn an_unknown_access_key_is_an_unrecognized_client() {
    let other = CredentialStore::new([Credential {
        access_key_id: "AKIDOTHER".into(),
        ..store().get(AKID).unwrap().clone()
    }])
    .unwrap();
    let e = check(&stop_logging(), STOP_LOGGING_BODY, at(SIGNED_AT), &other).unwrap_err();
    assert_eq!(e.code(), "UnrecognizedClientException");
    assert_eq!(e.status(), 400);
    assert_eq!(
        e.message(),
        "The security token included in the request is invalid."
    );
}

#[test]
fn host_and_date_must_be_signed() {
    let now = at(SIGNED_AT);
    let mut h = stop_logging();
    replace_in_authorization(
        &mut h,
        "content-type;host;x-amz-date",
        "content-type;x-amz-date",
    );
    let e = check(&h, STOP_LOGGING_BODY, now, &store()).unwrap_err();
    assert_eq!(e, AuthError::HostNotSigned);
    assert_eq!(e.code(), "InvalidSignatureException");
    assert_eq!(
        e.message(),
        "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
    );

    let mut h = stop_logging();
    replace_in_authorization(&mut h, "host;x-amz-date;x-amz-target", "host;x-amz-target");
    assert_eq!(
        check(&h, STOP_LOGGING_BODY, now, &store()).unwrap_err(),
        AuthError::DateNotSigned
    );

    let mut h = stop_logging();
    h.remove("x-amz-date");
    let e = check(&h, STOP_LOGGING_BODY, now, &store()).unwrap_err();
    assert_eq!(e.code(), "IncompleteSignatureException");
    assert!(e.message().contains("'X-Amz-Date'"), "{e}");
}

#[test]
fn the_scope_must_match_the_date_and_name_cloudtrail() {
    let now = at(SIGNED_AT);
    let mut h = stop_logging();
    replace_in_authorization(&mut h, "/20261206/", "/20261205/");
    let e = check(&h, STOP_LOGGING_BODY, now, &store()).unwrap_err();
    assert_eq!(e.code(), "InvalidSignatureException");
    assert_eq!(
        e.message(),
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20261205' != '20261206', from '20261206T103000Z'."
    );

    // A genuine signature for another service is refused for its scope.
    let h = sdk_signed(&[], STOP_LOGGING_BODY, now, "dynamodb", |_| {});
    let e = check(&h, STOP_LOGGING_BODY, now, &store()).unwrap_err();
    assert_eq!(
        e,
        AuthError::WrongService {
            service: "dynamodb".into()
        }
    );
    assert_eq!(e.code(), "InvalidSignatureException");
    assert_eq!(
        e.message(),
        "Credential should be scoped to correct service: 'cloudtrail'."
    );

    let mut h = stop_logging();
    replace_in_authorization(&mut h, "/us-east-1/", "/US_EAST/");
    assert_eq!(
        code(check(&h, STOP_LOGGING_BODY, now, &store())),
        "InvalidSignatureException"
    );
}

#[test]
fn missing_or_malformed_authorization() {
    let now = at(SIGNED_AT);
    let mut h = stop_logging();
    h.remove(AUTHORIZATION);
    let e = check(&h, STOP_LOGGING_BODY, now, &store()).unwrap_err();
    assert_eq!(e.code(), "MissingAuthenticationTokenException");
    assert_eq!(e.status(), 400);
    assert_eq!(e.message(), "Request is missing Authentication Token");

    let mut h = stop_logging();
    set(
        &mut h,
        "authorization",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261206/us-east-1/cloudtrail/aws4_request",
    );
    assert_eq!(
        code(check(&h, STOP_LOGGING_BODY, now, &store())),
        "IncompleteSignatureException"
    );

    let mut h = stop_logging();
    let auth = h[AUTHORIZATION].clone();
    h.append(AUTHORIZATION, auth);
    assert_eq!(
        code(check(&h, STOP_LOGGING_BODY, now, &store())),
        "IncompleteSignatureException"
    );

    let mut h = stop_logging();
    set(&mut h, "x-amz-date", "2026-12-06T10:30:00Z");
    assert_eq!(
        code(check(&h, STOP_LOGGING_BODY, now, &store())),
        "IncompleteSignatureException"
    );

    // A signed header the request does not carry.
    let mut h = stop_logging();
    replace_in_authorization(&mut h, "content-type;host", "accept;content-type;host");
    let e = check(&h, STOP_LOGGING_BODY, now, &store()).unwrap_err();
    assert_eq!(e.code(), "IncompleteSignatureException");
    assert_eq!(
        e.message(),
        "'accept' is named as a SignedHeader, but it does not exist in the HTTP request."
    );
}

#[test]
fn session_tokens_and_payload_hashes() {
    let now = at(SIGNED_AT);
    let mut h = stop_logging();
    set(&mut h, "x-amz-security-token", "FwoGZXIvYXdzEPb");
    assert_eq!(
        code(check(&h, STOP_LOGGING_BODY, now, &store())),
        "UnrecognizedClientException"
    );

    // aws-sigv4 sending x-amz-content-sha256 (as S3 clients do): accepted when it is the body's.
    let h = sdk_signed(&[], STOP_LOGGING_BODY, now, SERVICE, |s| {
        s.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    });
    assert!(h.contains_key(X_AMZ_CONTENT_SHA256));
    assert!(check(&h, STOP_LOGGING_BODY, now, &store()).is_ok());
    // Another body than the one hashed.
    let e = check(&h, "{}", now, &store()).unwrap_err();
    assert_eq!(e, AuthError::PayloadHashMismatch);
    assert_eq!(e.code(), "InvalidSignatureException");
    // A hash made to match another body breaks the signature (the header is signed).
    let mut forged = h.clone();
    set(&mut forged, "x-amz-content-sha256", &hex_sha256(b"{}"));
    assert_eq!(
        check(&forged, "{}", now, &store()).unwrap_err(),
        AuthError::SignatureMismatch
    );
}

/// Headers of a `POST /` CloudTrail request signed by `aws-sigv4` for `service` at `time`.
fn sdk_signed(
    extra: &[(&str, &str)],
    body: &str,
    time: SystemTime,
    service: &str,
    tweak: impl FnOnce(&mut SigningSettings),
) -> HeaderMap {
    let mut h = headers(&[
        ("host", HOST),
        ("content-type", "application/x-amz-json-1.1"),
        (
            "x-amz-target",
            "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.StopLogging",
        ),
    ]);
    h.extend(headers(extra));
    let mut settings = SigningSettings::default();
    tweak(&mut settings);
    let identity = Credentials::new(AKID, SECRET, None, None, "test").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("eu-west-3")
        .name(service)
        .time(time)
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let pairs: Vec<(&str, &str)> = h
        .iter()
        .map(|(k, v)| (k.as_str(), v.to_str().unwrap()))
        .collect();
    let request = SignableRequest::new(
        "POST",
        "/",
        pairs.into_iter(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .unwrap();
    let (instructions, _) = sign(request, &params).unwrap().into_parts();
    let mut req = http::Request::builder()
        .method("POST")
        .uri("/")
        .body(())
        .unwrap();
    *req.headers_mut() = h;
    instructions.apply_to_request_http1x(&mut req);
    req.headers().clone()
}

#[test]
fn round_trips_with_the_rust_sdk_signer() {
    let now =
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000) + Duration::from_millis(250);
    let h = sdk_signed(&[], STOP_LOGGING_BODY, now, SERVICE, |_| {});
    let p = check(&h, STOP_LOGGING_BODY, now, &store()).unwrap();
    assert_eq!(p.region, "eu-west-3");
    assert_eq!(p.name, "ops");

    // Headers aws-sigv4 skips by default but a client may sign: the client's list is honoured.
    let h = sdk_signed(
        &[("user-agent", "custom-client/1.0"), ("x-custom", "a  b")],
        "{}",
        now,
        SERVICE,
        |s| {
            s.excluded_headers = None;
        },
    );
    let a = h[AUTHORIZATION].to_str().unwrap();
    assert!(a.contains("user-agent"), "{a}");
    assert!(check(&h, "{}", now, &store()).is_ok());
    let mut changed = h.clone();
    set(&mut changed, "user-agent", "custom-client/2.0");
    assert_eq!(
        check(&changed, "{}", now, &store()).unwrap_err(),
        AuthError::SignatureMismatch
    );

    // An empty body.
    let h = sdk_signed(&[], "", now, SERVICE, |_| {});
    assert!(check(&h, "", now, &store()).is_ok());
}
