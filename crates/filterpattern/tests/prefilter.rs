//! The `FilterSet` literal prefilter (which skips patterns, or the whole scan, when the texts
//! a pattern needs are absent from the raw bytes) never changes a result: set results are
//! compared with `FilterPattern::matches` pattern by pattern on records built to sit on the
//! prefilter's edges — escapes next to and inside the needed texts, `\u` escapes, numbers and
//! booleans spelled like string literals, texts split by quotes, invalid JSON.

use proptest::prelude::*;
use trailpipe_filterpattern::{CisFilter, FilterPattern, FilterSet, CIS_FILTERS, CIS_V14_VARIANTS};

/// JSON string bodies (already escaped) around the texts the CIS filters and `patterns()` need.
const STRINGS: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "xAccessDenied",
    "Access\\u0044enied",
    "\\u0041ccessDenied",
    "AccessDenied\\\"x",
    "x\\\"AccessDenied",
    "Client.UnauthorizedOperation",
    "Client.Unauthorized\\\"Operation",
    "a\\\"UnauthorizedOperation",
    "UnauthorizedOperation\\n",
    "Unauthorized\\u004fperation",
    "ConsoleLogin",
    "Console\\/Login",
    "Consol\\u0065Login",
    "IAMUser",
    "Success",
    "Yes",
    "No",
    "Root",
    "Roo\\u0074",
    "Root\\\\",
    "AwsServiceEvent",
    "AwsApiCall",
    "Failed authentication",
    "Failed\\tauthentication",
    "kms.amazonaws.com",
    "s3.amazonaws.com",
    "config.amazonaws.com",
    "organizations.amazonaws.com",
    "DisableKey",
    "ScheduleKeyDeletion",
    "PutBucketPolicy",
    "PutRolePolicy",
    "CreateTrail",
    "StopLogging",
    "CreateRoute",
    "DeleteVpc",
    "CreatePolicy",
    "HeadBucket",
    "delivery.logs.amazonaws.com",
    "AuthorizeSecurityGroupIngress",
    "CreateNetworkAcl",
    "AttachInternetGateway",
    "400",
    "4e2",
    "true",
    "a/b",
    "a\\/b",
    "mid-ERROR-dle",
    "",
    "\\\"",
    "\\\\",
];

/// A string from `STRINGS`, a number, a boolean or null.
fn scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(STRINGS).prop_map(|s| format!("\"{s}\"")),
        1 => prop::sample::select(vec!["null", "true", "false", "400", "4e2", "-0.5", "400.0"])
            .prop_map(str::to_string),
    ]
}

/// Mostly scalars; sometimes objects and arrays nested a little.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => scalar(),
        1 => scalar().prop_recursive(2, 8, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                prop::collection::vec((key(), inner), 0..4).prop_map(|m| object(&m)),
            ]
        }),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "eventName",
        "eventSource",
        "errorCode",
        "errorMessage",
        "eventType",
        "userIdentity",
        "type",
        "invokedBy",
        "additionalEventData",
        "MFAUsed",
        "responseElements",
        "ConsoleLogin",
        "sourceIPAddress",
        "code",
        "Access\\u0044enied",
    ])
    .prop_map(str::to_string)
}

fn object(members: &[(String, String)]) -> String {
    let body: Vec<String> = members
        .iter()
        .map(|(k, v)| format!("\"{k}\":{v}"))
        .collect();
    format!("{{{}}}", body.join(","))
}

/// A CloudTrail-shaped record; sometimes broken (truncated) to check invalid JSON too.
fn record() -> impl Strategy<Value = String> {
    (
        prop::collection::vec((key(), value()), 0..10),
        prop::option::of(prop::collection::vec((key(), value()), 0..4)),
        0usize..8,
    )
        .prop_map(|(members, identity, cut)| {
            let mut members = members;
            if let Some(id) = identity {
                members.push(("userIdentity".to_string(), object(&id)));
            }
            let mut r = object(&members);
            if cut == 0 && r.len() > 2 {
                r.truncate(r.len() / 2);
            }
            r
        })
}

/// Extra patterns on the prefilter's edges: globs with prefix/suffix/middle parts, number- and
/// boolean-like string literals, `!=`, regexes, `||` mixing usable and unusable alternatives.
fn patterns() -> Vec<FilterPattern> {
    [
        r#"{ $.errorCode = "*Denied*" }"#,
        r#"{ $.errorCode = "Access*Den*ied" }"#,
        r#"{ $.errorCode = *Operation }"#,
        r#"{ $.code = "400" }"#,
        r#"{ $.code = "4*" }"#,
        r#"{ $.code = 400 }"#,
        r#"{ $.code = "true" }"#,
        r#"{ $.code = "tru*" }"#,
        r#"{ $.code = "e*" }"#,
        r#"{ $.eventName = "a/b" }"#,
        r#"{ $.eventName = "" }"#,
        r#"{ $.eventName = "*" }"#,
        r#"{ $.eventName = "*-ERROR-*" }"#,
        r#"{ $.eventName != "ConsoleLogin" }"#,
        r#"{ $.eventName = %Console% }"#,
        r#"{ $.eventName = ConsoleLogin || $.eventType NOT EXISTS }"#,
        r#"{ ($.eventName = ConsoleLogin && $.eventType = AwsApiCall) || $.errorCode = "Access*" }"#,
        r#"{ $.userIdentity.type = Root && $.userIdentity.invokedBy = "*.amazonaws.com" }"#,
        r#"{ $.eventName IS NULL || $.eventName = "Success" }"#,
        r#"{ $.eventName = "Failed authentication" }"#,
        r#"{ $.ConsoleLogin = Yes }"#,
        "ERROR",
        r#"[w1, w2 = "*Denied*", ...]"#,
    ]
    .iter()
    .map(|p| FilterPattern::parse(p).expect("valid"))
    .chain(CIS_FILTERS.iter().chain(CIS_V14_VARIANTS).map(CisFilter::compile))
    .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn prefiltered_set_agrees_with_patterns_one_by_one(r in record()) {
        let patterns = patterns();
        let want: Vec<bool> = patterns.iter().map(|p| p.matches(r.as_bytes())).collect();
        // All together (no prefilter: some patterns have no requirement), the CIS filters
        // together (prefiltered), and each pattern alone (prefiltered when it has a
        // requirement).
        prop_assert_eq!(FilterSet::new(patterns.clone()).matches(r.as_bytes()), want.clone());
        let cis = patterns.len() - CIS_FILTERS.len() - CIS_V14_VARIANTS.len();
        prop_assert_eq!(FilterSet::new(patterns[cis..].to_vec()).matches(r.as_bytes()), want[cis..].to_vec());
        for (p, w) in patterns.iter().zip(&want) {
            prop_assert_eq!(FilterSet::new([p.clone()]).matches(r.as_bytes()), vec![*w], "{}", p);
        }
    }
}

#[test]
fn prefilter_edges_by_hand() {
    let single = patterns();
    let sets: Vec<FilterSet> = single.iter().map(|p| FilterSet::new([p.clone()])).collect();
    let records = [
        r#"{"errorCode":"AccessDenied"}"#,
        r#"{"errorCode":"Access\u0044enied"}"#,
        r#"{"errorCode":"\u0041ccessDenied"}"#,
        r#"{"errorCode":"AccessDenied\"x"}"#,
        r#"{"errorCode":"x\"UnauthorizedOperation"}"#,
        r#"{"errorCode":"Client.UnauthorizedOperation"}"#,
        r#"{"code":400}"#,
        r#"{"code":4e2}"#,
        r#"{"code":true}"#,
        r#"{"code":"true"}"#,
        r#"{"eventName":"a\/b"}"#,
        r#"{"eventName":"a/b"}"#,
        r#"{"eventName":""}"#,
        r#"{"eventName":"x-ERROR-y"}"#,
        r#"{"eventName":null}"#,
        r#"{"userIdentity":{"type":"Root"}}"#,
        r#"{"userIdentity":{"type":"Roo\u0074"}}"#,
        r#"{"userIdentity":{"type":"Root","invokedBy":"kms.amazonaws.com"}}"#,
        r#"{"eventName":"ConsoleLogin","eventType":"AwsApiCall"}"#,
        r#"{"eventName":"ConsoleLogin","eventType":"AwsApiCall""#,
        r#"{"errorMessage":"Failed authentication","eventName":"ConsoleLogin"}"#,
        r#"{"responseElements":{"ConsoleLogin":"Success"},"eventName":"ConsoleLogin","userIdentity":{"type":"IAMUser"}}"#,
        r#"ERROR AccessDenied"#,
        r#"{}"#,
        r#""#,
    ];
    let set = FilterSet::new(single.clone());
    for r in records {
        let want: Vec<bool> = single.iter().map(|p| p.matches(r.as_bytes())).collect();
        assert_eq!(set.matches(r.as_bytes()), want, "{r}");
        for ((s, p), w) in sets.iter().zip(&single).zip(&want) {
            assert_eq!(s.matches(r.as_bytes()), vec![*w], "{p} on {r}");
        }
    }
    // The hand-picked records do reach both sides of the prefilter.
    let any = |r: &str| set.matches(r.as_bytes()).iter().any(|h| *h);
    assert!(any(r#"{"errorCode":"\u0041ccessDenied"}"#));
    assert!(any(r#"{"errorCode":"AccessDenied\"x"}"#));
    assert!(any(r#"{"code":4e2}"#));
    let cis = CisFilter::set(CIS_FILTERS);
    let quiet =
        r#"{"eventName":"Describe","eventType":"AwsApiCall","userIdentity":{"type":"IAMUser"}}"#;
    assert_eq!(
        cis.matches(quiet.as_bytes()),
        vec![false; CIS_FILTERS.len()]
    );
}
