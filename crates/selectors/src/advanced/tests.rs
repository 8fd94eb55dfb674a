//! Unit tests for advanced event selectors: one test per rule of reference §7.2 and per
//! documented decision (missing fields, multi-valued fields, operator combination).

use trailpipe_event::EventCategory;

use super::*;
use crate::test_support::{lambda_invoke, record, s3_put};

/// A field selector from `(operator, values)` pairs.
fn fs(field: &str, ops: &[(Operator, &[&str])]) -> FieldSelector {
    let mut out = FieldSelector {
        field: field.to_owned(),
        ..FieldSelector::default()
    };
    for (op, values) in ops {
        let v = Some(values.iter().map(|s| s.to_string()).collect());
        match op {
            Operator::Equals => out.equals = v,
            Operator::NotEquals => out.not_equals = v,
            Operator::StartsWith => out.starts_with = v,
            Operator::NotStartsWith => out.not_starts_with = v,
            Operator::EndsWith => out.ends_with = v,
            Operator::NotEndsWith => out.not_ends_with = v,
        }
    }
    out
}

fn eq(field: &str, values: &[&str]) -> FieldSelector {
    fs(field, &[(Operator::Equals, values)])
}

fn sel(field_selectors: Vec<FieldSelector>) -> AdvancedEventSelector {
    AdvancedEventSelector {
        name: None,
        field_selectors,
    }
}

fn compile_ok(s: AdvancedEventSelector) -> AdvancedSelector {
    let mut errors = Vec::new();
    let mut c = compile(&[s], &mut errors);
    assert!(errors.is_empty(), "{errors:?}");
    c.remove(0)
}

fn errors_of(selectors: &[AdvancedEventSelector]) -> Vec<String> {
    let mut errors = Vec::new();
    compile(selectors, &mut errors);
    errors.iter().map(ToString::to_string).collect()
}

fn s3_data(extra: Vec<FieldSelector>) -> AdvancedSelector {
    let mut v = vec![
        eq("eventCategory", &["Data"]),
        eq("resources.type", &["AWS::S3::Object"]),
    ];
    v.extend(extra);
    compile_ok(sel(v))
}

#[test]
fn management_selector_matches_on_category() {
    let s = compile_ok(sel(vec![eq("eventCategory", &["Management"])]));
    assert!(s.matches(&record().build()));
    assert!(!s.matches(&s3_put("b", "k").build()));
}

#[test]
fn field_selectors_are_anded() {
    let s = s3_data(vec![eq("readOnly", &["false"])]);
    assert!(s.matches(&s3_put("b", "k").build()));
    assert!(!s.matches(&s3_put("b", "k").read_only(Some(true)).build()));
    assert!(!s.matches(&lambda_invoke("f").build()));
}

#[test]
fn values_in_one_operator_are_ored() {
    let s = s3_data(vec![eq("eventName", &["PutObject", "DeleteObject"])]);
    assert!(s.matches(&s3_put("b", "k").build()));
    assert!(s.matches(&s3_put("b", "k").name("DeleteObject").build()));
    assert!(!s.matches(&s3_put("b", "k").name("GetObject").build()));
}

#[test]
fn negative_operator_is_not_any() {
    let s = compile_ok(sel(vec![
        eq("eventCategory", &["Management"]),
        fs(
            "eventSource",
            &[(
                Operator::NotEquals,
                &["kms.amazonaws.com", "rdsdata.amazonaws.com"],
            )],
        ),
    ]));
    assert!(s.matches(&record().build()));
    assert!(!s.matches(&record().source("kms.amazonaws.com").build()));
    assert!(!s.matches(&record().source("rdsdata.amazonaws.com").build()));
}

#[test]
fn starts_with_and_ends_with_and_their_negations() {
    let starts = s3_data(vec![fs(
        "eventName",
        &[(Operator::StartsWith, &["Put", "Delete"])],
    )]);
    let not_starts = s3_data(vec![fs(
        "eventName",
        &[(Operator::NotStartsWith, &["Get"])],
    )]);
    let ends = s3_data(vec![fs("eventName", &[(Operator::EndsWith, &["Object"])])]);
    let not_ends = s3_data(vec![fs("eventName", &[(Operator::NotEndsWith, &["Acl"])])]);
    let put = s3_put("b", "k").build();
    let get_acl = s3_put("b", "k").name("GetObjectAcl").build();
    assert!(starts.matches(&put) && !starts.matches(&get_acl));
    assert!(not_starts.matches(&put) && !not_starts.matches(&get_acl));
    assert!(ends.matches(&put) && !ends.matches(&get_acl));
    assert!(not_ends.matches(&put) && !not_ends.matches(&get_acl));
}

#[test]
fn several_operators_in_one_field_selector_are_anded() {
    let s = s3_data(vec![fs(
        "eventName",
        &[
            (Operator::StartsWith, &["Put"]),
            (Operator::NotEquals, &["PutObjectAcl"]),
        ],
    )]);
    assert!(s.matches(&s3_put("b", "k").build()));
    assert!(!s.matches(&s3_put("b", "k").name("PutObjectAcl").build()));
    assert!(!s.matches(&s3_put("b", "k").name("GetObject").build()));
}

#[test]
fn resources_arn_positive_matches_any_resource() {
    let s = s3_data(vec![fs(
        "resources.ARN",
        &[(Operator::StartsWith, &["arn:aws:s3:::b/"])],
    )]);
    assert!(s.matches(&s3_put("b", "k").build()));
    assert!(!s.matches(&s3_put("other", "k").build()));
}

#[test]
fn resources_arn_negative_requires_no_resource_to_match() {
    // The reference's own example: S3 writes outside one bucket.
    let s = s3_data(vec![fs(
        "resources.ARN",
        &[(
            Operator::NotStartsWith,
            &["arn:aws:s3:::amzn-s3-demo-bucket/"],
        )],
    )]);
    assert!(s.matches(&s3_put("other", "k").build()));
    assert!(!s.matches(&s3_put("amzn-s3-demo-bucket", "k").build()));
    // The bucket resource (no trailing slash) matches NotEquals of the object ARN, but the
    // object resource does not, so the record is excluded.
    let ne = s3_data(vec![fs(
        "resources.ARN",
        &[(Operator::NotEquals, &["arn:aws:s3:::b/k"])],
    )]);
    assert!(!ne.matches(&s3_put("b", "k").build()));
}

#[test]
fn missing_field_fails_positive_and_passes_negative() {
    let base = || eq("eventCategory", &["Management"]);
    let pos = compile_ok(sel(vec![base(), eq("errorCode", &["AccessDenied"])]));
    let neg = compile_ok(sel(vec![
        base(),
        fs("errorCode", &[(Operator::NotEquals, &["AccessDenied"])]),
    ]));
    let ok = record().build();
    assert!(!pos.matches(&ok) && neg.matches(&ok));
    let denied = record().error_code("AccessDenied").build();
    assert!(pos.matches(&denied) && !neg.matches(&denied));

    let no_ro = record().read_only(None).build();
    assert!(!compile_ok(sel(vec![base(), eq("readOnly", &["true"])])).matches(&no_ro));
    assert!(!compile_ok(sel(vec![base(), eq("readOnly", &["false"])])).matches(&no_ro));

    let no_user = record().user_arn(None).build();
    let not_admin = fs(
        "userIdentity.arn",
        &[(Operator::NotEndsWith, &[":user/admin"])],
    );
    assert!(compile_ok(sel(vec![base(), not_admin])).matches(&no_user));
}

#[test]
fn resources_with_no_resources_fail_positive_and_pass_negative() {
    let none = record().data().build();
    let pos = s3_data(vec![]);
    assert!(!pos.matches(&none));
    let neg = compile_ok(sel(vec![
        eq("eventCategory", &["Data"]),
        eq("resources.type", &["AWS::S3::Object"]),
        fs(
            "resources.ARN",
            &[(Operator::NotStartsWith, &["arn:aws:s3:::b/"])],
        ),
    ]));
    assert!(
        !neg.matches(&none),
        "resources.type still requires an S3 object"
    );
    let management = compile_ok(sel(vec![
        eq("eventCategory", &["Management"]),
        fs(
            "resources.ARN",
            &[(Operator::NotStartsWith, &["arn:aws:s3:::b/"])],
        ),
        fs("resources.type", &[(Operator::Equals, &["AWS::IAM::Role"])]),
    ]));
    assert!(
        !management.matches(&record().build()),
        "positive resources.type fails"
    );
    let role = record().resource("AWS::IAM::Role", "arn:aws:iam::123456789012:role/R");
    assert!(
        management.matches(&role.build()),
        "negative resources.ARN holds"
    );
}

#[test]
fn read_only_compares_as_true_false_strings() {
    let base = || eq("eventCategory", &["Management"]);
    let ro = compile_ok(sel(vec![base(), eq("readOnly", &["true"])]));
    assert!(ro.matches(&record().read_only(Some(true)).build()));
    assert!(!ro.matches(&record().read_only(Some(false)).build()));
}

#[test]
fn session_credential_from_console_absent_means_false() {
    let s3 = |v: &str| s3_data(vec![eq("sessionCredentialFromConsole", &[v])]);
    let console = s3_put("b", "k").console(Some(true)).build();
    let cli = s3_put("b", "k").console(None).build();
    assert!(s3("true").matches(&console) && !s3("true").matches(&cli));
    assert!(s3("false").matches(&cli) && !s3("false").matches(&console));
}

#[test]
fn event_category_compares_as_cloudtrail_spells_it() {
    let net = compile_ok(sel(vec![
        eq("eventCategory", &["NetworkActivity"]),
        eq("eventSource", &["s3.amazonaws.com"]),
        eq("errorCode", &["VpceAccessDenied"]),
        fs("vpcEndpointId", &[(Operator::StartsWith, &["vpce-"])]),
    ]));
    let f = record()
        .category(EventCategory::NetworkActivity)
        .source("s3.amazonaws.com")
        .event_type("AwsVpceEvent")
        .error_code("VpceAccessDenied")
        .vpce("vpce-0123456789abcdef0")
        .build();
    assert!(net.matches(&f));
    assert!(!net.matches(&record().build()));
}

#[test]
fn other_fields_are_read_from_the_record() {
    let s = s3_data(vec![
        eq("eventSource", &["s3.amazonaws.com"]),
        eq("eventType", &["AwsApiCall"]),
        fs(
            "userIdentity.arn",
            &[(Operator::EndsWith, &[":user/Mary_Major"])],
        ),
    ]);
    assert!(s.matches(&s3_put("b", "k").build()));
    assert!(!s.matches(&s3_put("b", "k").event_type("AwsServiceEvent").build()));
}

#[test]
fn unknown_field_error_names_the_field() {
    let e = errors_of(&[
        sel(vec![eq("eventCategory", &["Management"])]),
        sel(vec![
            eq("eventNmae", &["x"]),
            eq("eventCategory", &["Management"]),
        ]),
    ]);
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with(
            "advanced_event_selectors[1].field_selectors[0].field: unknown field \"eventNmae\""
        ),
        "{}",
        e[0]
    );
}

#[test]
fn field_selector_needs_an_operator_with_values() {
    let e = errors_of(&[sel(vec![
        eq("eventCategory", &["Management"]),
        fs("eventName", &[]),
    ])]);
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with("advanced_event_selectors[0].field_selectors[1]: a field selector needs")
    );
    let e = errors_of(&[sel(vec![
        eq("eventCategory", &["Management"]),
        eq("eventName", &[]),
    ])]);
    assert_eq!(e, ["advanced_event_selectors[0].field_selectors[1].equals: an operator needs at least one value"]);
}

#[test]
fn values_must_be_1_to_2048_characters() {
    let long = "é".repeat(2049);
    let max = "é".repeat(2048);
    let e = errors_of(&[sel(vec![
        eq("eventCategory", &["Management"]),
        fs("eventName", &[(Operator::StartsWith, &["", &long, &max])]),
    ])]);
    assert_eq!(
        e,
        [
            "advanced_event_selectors[0].field_selectors[1].starts_with[0]: values must be 1 to 2048 characters long, got 0",
            "advanced_event_selectors[0].field_selectors[1].starts_with[1]: values must be 1 to 2048 characters long, got 2049",
        ]
    );
}

#[test]
fn equals_only_fields_refuse_other_operators() {
    for field in ["readOnly", "eventCategory", "resources.type"] {
        let e = errors_of(&[sel(vec![
            eq("eventCategory", &["Management"]),
            fs(field, &[(Operator::NotEquals, &["true"])]),
        ])]);
        assert!(
            e.iter().any(|e| e == &format!(
                "advanced_event_selectors[0].field_selectors[1].not_equals: {field} accepts only equals"
            )),
            "{field}: {e:?}"
        );
    }
}

#[test]
fn closed_value_sets_are_checked() {
    let e = errors_of(&[sel(vec![
        eq("eventCategory", &["Managment"]),
        eq("readOnly", &["yes"]),
        eq("sessionCredentialFromConsole", &["TRUE"]),
    ])]);
    assert_eq!(e.len(), 3, "{e:?}");
    assert!(e[0].starts_with("advanced_event_selectors[0].field_selectors[0].equals[0]: \"Managment\" is not a value of eventCategory"));
}

#[test]
fn event_category_is_required() {
    let e = errors_of(&[sel(vec![eq("eventName", &["PutObject"])])]);
    assert_eq!(e, ["advanced_event_selectors[0].field_selectors: every advanced event selector needs an eventCategory field selector"]);
}

#[test]
fn data_selectors_need_exactly_one_resources_type() {
    let e = errors_of(&[sel(vec![eq("eventCategory", &["Data"])])]);
    assert_eq!(e, ["advanced_event_selectors[0].field_selectors: an advanced event selector for Data events needs a resources.type field selector"]);
    let e = errors_of(&[sel(vec![
        eq("eventCategory", &["Data"]),
        eq(
            "resources.type",
            &["AWS::S3::Object", "AWS::Lambda::Function"],
        ),
    ])]);
    assert_eq!(e, ["advanced_event_selectors[0].field_selectors[1].equals: resources.type takes exactly one value per selector, got 2"]);
}

#[test]
fn name_is_at_most_1000_characters() {
    let mut s = sel(vec![eq("eventCategory", &["Management"])]);
    s.name = Some("n".repeat(1000));
    assert!(errors_of(std::slice::from_ref(&s)).is_empty());
    s.name = Some("n".repeat(1001));
    assert_eq!(errors_of(&[s]), ["advanced_event_selectors[0].name: name is 1001 characters long; at most 1000 are allowed"]);
}

#[test]
fn at_most_500_values_per_trail() {
    let names: Vec<String> = (0..499).map(|i| format!("Op{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mk = |n: usize| {
        sel(vec![
            eq("eventCategory", &["Management"]),
            eq("eventName", &refs[..n]),
        ])
    };
    assert!(errors_of(&[mk(499)]).is_empty());
    assert_eq!(
        errors_of(&[mk(499), mk(1)]),
        ["advanced_event_selectors: at most 500 values across all advanced event selectors of a trail, got 502"]
    );
}

#[test]
fn every_mistake_is_reported() {
    let e = errors_of(&[sel(vec![
        eq("eventNmae", &["x"]),
        fs("readOnly", &[(Operator::StartsWith, &["t"])]),
        fs("eventSource", &[]),
    ])]);
    assert_eq!(e.len(), 5, "{e:?}"); // field, operator, value, no operator, no eventCategory
}
