//! Operation classes, policies, per-trail limits and the unsigned-request rules.

use http::{HeaderMap, HeaderValue};

use super::*;
use crate::{Credential, SecretAccessKey};

const READ_OPS: &[&str] = &[
    "DescribeTrails",
    "GetTrail",
    "GetTrailStatus",
    "ListTrails",
    "GetEventSelectors",
    "GetInsightSelectors",
    "ListTags",
    "ListPublicKeys",
    "LookupEvents",
    // CloudTrail's other read-only operations, by the prefix rule.
    "GetEventDataStore",
    "ListEventDataStores",
    "DescribeQuery",
    "GetQueryResults",
    "ListImports",
];

const ADMIN_OPS: &[&str] = &[
    "StartLogging",
    "StopLogging",
    "PutEventSelectors",
    "PutInsightSelectors",
    "AddTags",
    "RemoveTags",
    "UpdateTrail",
    "CreateTrail",
    "DeleteTrail",
    // Unknown or odd names are treated as changes.
    "StartQuery",
    "CancelQuery",
    "Frobnicate",
    "",
    "Get",
    "Getaway",
    "List-Trails",
    "get_trail",
];

fn principal(policy: Policy, trails: Option<&[&str]>) -> Principal {
    Principal {
        access_key_id: "AKIATRAILPIPE0000001".into(),
        name: "ci".into(),
        policy,
        trails: trails.map(|t| t.iter().map(|s| s.to_string()).collect()),
        account_id: "123456789012".into(),
        region: "us-east-1".into(),
    }
}

#[test]
fn every_operation_has_its_class() {
    for op in READ_OPS {
        assert_eq!(classify(op), OperationClass::Read, "{op}");
    }
    for op in ADMIN_OPS {
        assert_eq!(classify(op), OperationClass::Admin, "{op:?}");
    }
}

#[test]
fn read_principals_read_and_admins_do_everything() {
    let reader = principal(Policy::Read, None);
    let admin = principal(Policy::Admin, None);
    for op in READ_OPS {
        assert!(authorize(&reader, op, None).is_ok(), "{op}");
        assert!(authorize(&reader, op, Some("management")).is_ok(), "{op}");
        assert!(authorize(&admin, op, None).is_ok(), "{op}");
    }
    for op in ADMIN_OPS {
        assert!(authorize(&reader, op, Some("management")).is_err(), "{op}");
        assert!(authorize(&admin, op, Some("management")).is_ok(), "{op}");
    }
}

#[test]
fn a_denial_is_an_access_denied_exception_in_iam_words() {
    let reader = principal(Policy::Read, None);
    let d = authorize(&reader, "StopLogging", Some("management")).unwrap_err();
    assert_eq!(d.code(), "AccessDeniedException");
    assert_eq!(d.status(), 400);
    assert_eq!(
        d.message(),
        "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: cloudtrail:StopLogging on resource: management because no identity-based policy allows the cloudtrail:StopLogging action"
    );
    let e = AuthError::from(d);
    assert_eq!(e.code(), "AccessDeniedException");
    assert_eq!(e.status(), 400);

    let limited = principal(Policy::Read, Some(&["management"]));
    let d = authorize(&limited, "ListTrails", None).unwrap_err();
    assert_eq!(
        d.message(),
        "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: cloudtrail:ListTrails because no identity-based policy allows the cloudtrail:ListTrails action"
    );
}

#[test]
fn trail_limits_allow_only_the_listed_trails() {
    let arn = "arn:aws:cloudtrail:us-east-1:123456789012:trail/management";
    let reader = principal(Policy::Read, Some(&["management"]));
    assert!(authorize(&reader, "GetTrailStatus", Some("management")).is_ok());
    assert!(authorize(&reader, "GetTrailStatus", Some(arn)).is_ok());
    assert!(authorize(&reader, "GetTrailStatus", Some("data-events")).is_err());
    assert!(authorize(&reader, "StopLogging", Some("management")).is_err());
    // Account-wide operations need access to every trail.
    for op in [
        "ListTrails",
        "LookupEvents",
        "ListPublicKeys",
        "DescribeTrails",
    ] {
        assert!(authorize(&reader, op, None).is_err(), "{op}");
    }

    let admin = principal(Policy::Admin, Some(&["management", "data-events"]));
    assert!(authorize(&admin, "StopLogging", Some("management")).is_ok());
    assert!(authorize(&admin, "PutEventSelectors", Some("data-events")).is_ok());
    let d = authorize(&admin, "StopLogging", Some("other-trail")).unwrap_err();
    assert!(d.message().ends_with("on resource: other-trail because no identity-based policy allows the cloudtrail:StopLogging action"), "{d}");
    assert!(authorize(&admin, "CreateTrail", None).is_err());
}

fn store(policy: Policy) -> CredentialStore {
    CredentialStore::new([Credential {
        name: "ci".into(),
        access_key_id: "AKIATRAILPIPE0000001".into(),
        secret_access_key: SecretAccessKey::new("a-long-enough-test-secret"),
        policy,
        trails: None,
        account_id: "123456789012".into(),
    }])
    .unwrap()
}

#[test]
fn without_credentials_unsigned_callers_read_and_are_told_how_to_change() {
    let open = ApiAccess::default();
    for op in READ_OPS {
        assert!(open.unsigned(op).is_ok(), "{op}");
        assert!(open
            .authorize(&Caller::Anonymous, op, Some("management"))
            .is_ok());
    }
    for op in ADMIN_OPS {
        let e = open.unsigned(op).unwrap_err();
        assert_eq!(e.code(), "AccessDeniedException", "{op}");
        assert_eq!(e.status(), 400);
    }
    let m = open.unsigned("StopLogging").unwrap_err().message();
    assert!(m.contains("[[api.credentials]]"), "{m}");
    assert!(m.contains("policy = \"admin\""), "{m}");
    assert!(m.contains("allow_unauthenticated"), "{m}");
}

#[test]
fn allow_unauthenticated_allows_everything_unsigned() {
    for access in [
        ApiAccess::new(true, CredentialStore::default()),
        ApiAccess::new(true, store(Policy::Read)),
    ] {
        for op in READ_OPS.iter().chain(ADMIN_OPS) {
            assert!(access.unsigned(op).is_ok(), "{op}");
        }
    }
}

#[test]
fn with_credentials_unsigned_requests_are_refused() {
    let access = ApiAccess::new(false, store(Policy::Admin));
    let e = access.unsigned("DescribeTrails").unwrap_err();
    assert_eq!(e.code(), "MissingAuthenticationTokenException");
    assert_eq!(e.status(), 400);
}

#[test]
fn authenticate_chooses_between_signed_and_anonymous() {
    let unsigned = HeaderMap::new();
    let mut junk = HeaderMap::new();
    junk.insert(
        "authorization",
        HeaderValue::from_static("AWS4-HMAC-SHA256 Credential=dummy"),
    );
    let now = SystemTime::UNIX_EPOCH;
    let call = |access: &ApiAccess, h: &HeaderMap| {
        access.authenticate(&Method::POST, &Uri::from_static("/"), h, b"{}", now)
    };

    // No credentials: nothing to verify against, every caller is anonymous (the aws CLI signs
    // with whatever keys it has).
    let open = ApiAccess::default();
    assert_eq!(call(&open, &unsigned), Ok(Caller::Anonymous));
    assert_eq!(call(&open, &junk), Ok(Caller::Anonymous));

    // Credentials: unsigned is refused, a bad signature too.
    let closed = ApiAccess::new(false, store(Policy::Read));
    assert_eq!(
        call(&closed, &unsigned),
        Err(AuthError::MissingAuthorization)
    );
    assert_eq!(
        call(&closed, &junk).unwrap_err().code(),
        "IncompleteSignatureException"
    );

    // allow_unauthenticated: unsigned passes as anonymous; a signed request is still verified.
    let lax = ApiAccess::new(true, store(Policy::Read));
    assert_eq!(call(&lax, &unsigned), Ok(Caller::Anonymous));
    assert!(call(&lax, &junk).is_err());
    assert!(lax
        .authorize(&Caller::Anonymous, "StopLogging", Some("management"))
        .is_ok());

    // A signed caller is held to its policy.
    let reader = Caller::Signed(principal(Policy::Read, None));
    assert_eq!(
        closed
            .authorize(&reader, "StopLogging", Some("management"))
            .unwrap_err()
            .code(),
        "AccessDeniedException"
    );
    assert!(closed
        .authorize(&reader, "GetTrailStatus", Some("management"))
        .is_ok());
}
