//! Unit tests for [`TrailSelector`]: defaults, selector kinds, and region scope ANDed with
//! selectors.

use super::*;
use crate::test_support::{lambda_invoke, record, s3_put};

fn scope(multi: bool, home: &str, global: bool) -> RegionScope {
    RegionScope {
        is_multi_region_trail: multi,
        home_region: home.to_owned(),
        include_global_service_events: global,
    }
}

fn everywhere() -> RegionScope {
    scope(true, "us-east-1", true)
}

fn management_only() -> AdvancedEventSelector {
    AdvancedEventSelector {
        name: Some("management".into()),
        field_selectors: vec![FieldSelector {
            field: "eventCategory".into(),
            equals: Some(vec!["Management".into()]),
            ..FieldSelector::default()
        }],
    }
}

fn messages(e: Vec<SelectorError>) -> Vec<String> {
    e.iter().map(ToString::to_string).collect()
}

#[test]
fn no_selectors_logs_all_management_events_and_no_data_events() {
    let t = TrailSelector::new(everywhere(), &[], &[]).unwrap();
    assert!(t.matches(&record().read_only(Some(true)).build()));
    assert!(t.matches(&record().read_only(Some(false)).build()));
    assert!(t.matches(&record().read_only(None).build()));
    assert!(!t.matches(&s3_put("b", "k").build()));
    assert!(!t.matches(&lambda_invoke("f").build()));
    assert!(!t.matches(
        &record()
            .category(trailpipe_event::EventCategory::Insight)
            .no_source()
            .build()
    ));
}

#[test]
fn basic_selectors_are_ored() {
    let s3 = EventSelector {
        include_management_events: false,
        data_resources: vec![DataResource {
            resource_type: "AWS::S3::Object".into(),
            values: vec!["arn:aws:s3:::b/".into()],
        }],
        ..EventSelector::default()
    };
    let reads = EventSelector {
        read_write_type: ReadWriteType::ReadOnly,
        ..EventSelector::default()
    };
    let t = TrailSelector::new(everywhere(), &[s3, reads], &[]).unwrap();
    assert!(t.matches(&s3_put("b", "k").build()));
    assert!(t.matches(&record().read_only(Some(true)).build()));
    assert!(!t.matches(&record().read_only(Some(false)).build()));
}

#[test]
fn advanced_selectors_are_ored() {
    let lambda = AdvancedEventSelector {
        name: None,
        field_selectors: vec![
            FieldSelector {
                field: "eventCategory".into(),
                equals: Some(vec!["Data".into()]),
                ..FieldSelector::default()
            },
            FieldSelector {
                field: "resources.type".into(),
                equals: Some(vec!["AWS::Lambda::Function".into()]),
                ..FieldSelector::default()
            },
        ],
    };
    let t = TrailSelector::new(everywhere(), &[], &[management_only(), lambda]).unwrap();
    assert!(t.matches(&record().build()));
    assert!(t.matches(&lambda_invoke("f").build()));
    assert!(!t.matches(&s3_put("b", "k").build()));
}

#[test]
fn both_selector_kinds_is_an_error() {
    let e = TrailSelector::new(
        everywhere(),
        &[EventSelector::default()],
        &[management_only()],
    )
    .unwrap_err();
    assert_eq!(
        messages(e),
        ["advanced_event_selectors: a trail uses either event_selectors or advanced_event_selectors, not both"]
    );
}

#[test]
fn errors_from_scope_and_selectors_are_all_reported() {
    let bad = AdvancedEventSelector {
        name: None,
        field_selectors: vec![FieldSelector {
            field: "eventNmae".into(),
            equals: Some(vec!["x".into()]),
            ..FieldSelector::default()
        }],
    };
    let e = TrailSelector::new(scope(false, "", true), &[], &[management_only(), bad]).unwrap_err();
    let m = messages(e);
    assert_eq!(m.len(), 3, "{m:?}");
    assert!(m[0].starts_with("home_region: "));
    assert!(m[1].starts_with(
        "advanced_event_selectors[1].field_selectors[0].field: unknown field \"eventNmae\""
    ));
    assert!(m[2].starts_with("advanced_event_selectors[1].field_selectors: "));
}

#[test]
fn invalid_home_region_is_an_error_even_for_multi_region_trails() {
    assert!(TrailSelector::new(scope(true, "Mars", true), &[], &[]).is_err());
}

#[test]
fn region_scope_and_selectors_are_anded() {
    let t = TrailSelector::new(scope(false, "eu-west-1", true), &[], &[]).unwrap();
    assert!(t.matches(&record().region("eu-west-1").build()));
    assert!(!t.matches(&record().region("us-east-1").build()));
    assert!(t.selects(&record().region("us-east-1").build()));
    assert!(!t.matches(&s3_put("b", "k").region("eu-west-1").build()));
    assert_eq!(t.region_scope().home_region, "eu-west-1");
}

#[test]
fn global_service_events_follow_include_global_service_events() {
    let create_user = record()
        .source("iam.amazonaws.com")
        .name("CreateUser")
        .build();
    let with = TrailSelector::new(scope(true, "eu-west-1", true), &[], &[]).unwrap();
    let without = TrailSelector::new(scope(true, "eu-west-1", false), &[], &[]).unwrap();
    assert!(with.matches(&create_user));
    assert!(!without.matches(&create_user));
    let login = record()
        .source("signin.amazonaws.com")
        .name("ConsoleLogin")
        .event_type("AwsConsoleSignIn")
        .read_only(None)
        .build();
    assert!(with.matches(&login) && !without.matches(&login));
    let regional_sts = record()
        .source("sts.amazonaws.com")
        .name("AssumeRole")
        .region("eu-west-1")
        .build();
    assert!(without.matches(&regional_sts));
}

#[test]
fn single_region_trail_outside_us_east_1_never_sees_global_events() {
    let t = TrailSelector::new(scope(false, "eu-west-1", true), &[], &[]).unwrap();
    let create_user = record()
        .source("iam.amazonaws.com")
        .region("us-east-1")
        .build();
    assert!(!t.matches(&create_user));
    let home = TrailSelector::new(scope(false, "us-east-1", true), &[], &[]).unwrap();
    assert!(home.matches(&create_user));
}
