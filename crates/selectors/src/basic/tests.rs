//! Unit tests for basic event selectors: one test per rule of reference §7.1.

use trailpipe_event::{EventCategory, Resource};

use super::*;
use crate::test_support::{lambda_invoke, record, s3_put};

fn selector(
    rw: ReadWriteType,
    include_management: bool,
    excluded: &[&str],
    data: &[(&str, &[&str])],
) -> EventSelector {
    EventSelector {
        read_write_type: rw,
        include_management_events: include_management,
        exclude_management_event_sources: excluded.iter().map(|s| s.to_string()).collect(),
        data_resources: data
            .iter()
            .map(|(t, values)| DataResource {
                resource_type: t.to_string(),
                values: values.iter().map(|s| s.to_string()).collect(),
            })
            .collect(),
    }
}

fn data_only(t: &str, values: &[&str]) -> BasicSelector {
    compile_ok(selector(ReadWriteType::All, false, &[], &[(t, values)]))
}

fn compile_ok(s: EventSelector) -> BasicSelector {
    let mut errors = Vec::new();
    let mut compiled = compile(&[s], &mut errors);
    assert!(errors.is_empty(), "{errors:?}");
    compiled.remove(0)
}

fn errors_of(selectors: &[EventSelector]) -> Vec<String> {
    let mut errors = Vec::new();
    compile(selectors, &mut errors);
    errors.iter().map(ToString::to_string).collect()
}

#[test]
fn default_selector_logs_management_read_and_write() {
    let s = compile_ok(EventSelector::default());
    assert!(s.matches(&record().read_only(Some(false)).build()));
    assert!(s.matches(&record().read_only(Some(true)).build()));
    assert!(s.matches(&record().read_only(None).build()));
    assert!(!s.matches(&s3_put("b", "k").build()));
}

#[test]
fn read_write_type_filters_on_read_only() {
    let ro = compile_ok(selector(ReadWriteType::ReadOnly, true, &[], &[]));
    let wo = compile_ok(selector(ReadWriteType::WriteOnly, true, &[], &[]));
    let read = record()
        .name("DescribeInstances")
        .read_only(Some(true))
        .build();
    let write = record().read_only(Some(false)).build();
    assert!(ro.matches(&read) && !ro.matches(&write));
    assert!(wo.matches(&write) && !wo.matches(&read));
}

#[test]
fn record_without_read_only_matches_only_all() {
    let service_event = record()
        .event_type("AwsServiceEvent")
        .read_only(None)
        .build();
    assert!(compile_ok(selector(ReadWriteType::All, true, &[], &[])).matches(&service_event));
    assert!(!compile_ok(selector(ReadWriteType::ReadOnly, true, &[], &[])).matches(&service_event));
    assert!(
        !compile_ok(selector(ReadWriteType::WriteOnly, true, &[], &[])).matches(&service_event)
    );
}

#[test]
fn read_write_type_applies_to_data_events_too() {
    let s = compile_ok(selector(
        ReadWriteType::ReadOnly,
        false,
        &[],
        &[("AWS::S3::Object", &["arn:aws:s3"])],
    ));
    assert!(!s.matches(&s3_put("b", "k").build()));
    assert!(s.matches(
        &s3_put("b", "k")
            .name("GetObject")
            .read_only(Some(true))
            .build()
    ));
}

#[test]
fn include_management_events_false_drops_management() {
    let s = compile_ok(selector(ReadWriteType::All, false, &[], &[]));
    assert!(!s.matches(&record().build()));
}

#[test]
fn excluded_sources_are_dropped_only_for_management_events() {
    let s = compile_ok(selector(
        ReadWriteType::All,
        true,
        &["kms.amazonaws.com"],
        &[],
    ));
    assert!(!s.matches(&record().source("kms.amazonaws.com").name("Decrypt").build()));
    assert!(s.matches(&record().source("rdsdata.amazonaws.com").build()));
    assert!(s.matches(&record().no_source().build()));
}

#[test]
fn other_categories_never_match() {
    let s = compile_ok(selector(
        ReadWriteType::All,
        true,
        &[],
        &[("AWS::S3::Object", &["arn:aws:s3"])],
    ));
    for c in [
        EventCategory::NetworkActivity,
        EventCategory::Insight,
        EventCategory::Other("Future".into()),
    ] {
        let f = s3_put("b", "k").category(c.clone()).build();
        assert!(!s.matches(&f), "{c:?}");
    }
}

#[test]
fn s3_values_are_arn_prefixes_on_object_resources() {
    let s = data_only("AWS::S3::Object", &["arn:aws:s3:::customer-data/"]);
    assert!(s.matches(&s3_put("customer-data", "a/b.csv").build()));
    assert!(!s.matches(&s3_put("customer-data-2", "a/b.csv").build()));
    let prefix = data_only("AWS::S3::Object", &["arn:aws:s3:::customer-data/images"]);
    assert!(prefix.matches(&s3_put("customer-data", "images/1.png").build()));
    assert!(!prefix.matches(&s3_put("customer-data", "docs/1.txt").build()));
}

#[test]
fn s3_value_must_match_an_object_resource_not_the_bucket_resource() {
    let s = data_only("AWS::S3::Object", &["arn:aws:s3:::b/"]);
    let bucket_only = record()
        .data()
        .source("s3.amazonaws.com")
        .resource("AWS::S3::Bucket", "arn:aws:s3:::b/")
        .build();
    assert!(!s.matches(&bucket_only));
}

#[test]
fn s3_all_values_match_every_object() {
    for all in ["arn:aws:s3", "arn:aws:s3:::"] {
        let s = data_only("AWS::S3::Object", &[all]);
        assert!(s.matches(&s3_put("any-bucket", "k").build()), "{all}");
        let no_arn = record().data().raw_resource(Resource {
            resource_type: Some("AWS::S3::Object".into()),
            arn: None,
        });
        assert!(s.matches(&no_arn.build()), "{all}");
        assert!(!s.matches(&lambda_invoke("f").build()), "{all}");
    }
}

#[test]
fn lambda_values_are_exact_function_arns() {
    let f = "arn:aws:lambda:us-east-1:123456789012:function:helloworld";
    let s = data_only("AWS::Lambda::Function", &[f]);
    assert!(s.matches(&lambda_invoke("helloworld").build()));
    assert!(!s.matches(&lambda_invoke("helloworld2").build()));
    let all = data_only("AWS::Lambda::Function", &["arn:aws:lambda"]);
    assert!(all.matches(&lambda_invoke("anything").build()));
    assert!(!all.matches(&s3_put("b", "k").build()));
}

#[test]
fn dynamodb_values_are_exact_table_arns() {
    let table = "arn:aws:dynamodb:us-east-1:123456789012:table/Music";
    let get = |arn: &str| {
        record()
            .data()
            .source("dynamodb.amazonaws.com")
            .name("GetItem")
            .read_only(Some(true))
            .resource("AWS::DynamoDB::Table", arn)
            .build()
    };
    let s = data_only("AWS::DynamoDB::Table", &[table]);
    assert!(s.matches(&get(table)));
    assert!(!s.matches(&get(
        "arn:aws:dynamodb:us-east-1:123456789012:table/Musical"
    )));
    let all = data_only("AWS::DynamoDB::Table", &["arn:aws:dynamodb"]);
    assert!(all.matches(&get(table)));
}

#[test]
fn data_resources_in_one_selector_are_ored() {
    let s = compile_ok(selector(
        ReadWriteType::All,
        false,
        &[],
        &[
            ("AWS::S3::Object", &["arn:aws:s3:::a/"]),
            ("AWS::Lambda::Function", &["arn:aws:lambda"]),
        ],
    ));
    assert!(s.matches(&s3_put("a", "k").build()));
    assert!(s.matches(&lambda_invoke("f").build()));
    assert!(!s.matches(&s3_put("b", "k").build()));
}

#[test]
fn too_many_selectors_is_an_error() {
    let six = vec![EventSelector::default(); 6];
    assert_eq!(
        errors_of(&six),
        ["event_selectors: at most 5 event selectors per trail, got 6"]
    );
    assert!(errors_of(&six[..5]).is_empty());
}

#[test]
fn only_kms_and_rdsdata_can_be_excluded() {
    let s = selector(
        ReadWriteType::All,
        true,
        &[
            "kms.amazonaws.com",
            "rdsdata.amazonaws.com",
            "s3.amazonaws.com",
        ],
        &[],
    );
    let e = errors_of(&[s]);
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("event_selectors[0].exclude_management_event_sources[2]: "));
}

#[test]
fn unsupported_data_resource_type_is_an_error() {
    let s = selector(
        ReadWriteType::All,
        true,
        &[],
        &[("AWS::SNS::Topic", &["arn:aws:sns"])],
    );
    let e = errors_of(&[EventSelector::default(), s]);
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("event_selectors[1].data_resources[0].type: unsupported"));
}

#[test]
fn data_resource_values_are_validated_per_type() {
    let cases: &[(&str, &str, bool)] = &[
        ("AWS::S3::Object", "arn:aws:s3:::bucket/", true),
        ("AWS::S3::Object", "arn:aws:s3:::bucket/prefix", true),
        ("AWS::S3::Object", "arn:aws:s3:::bucket", false),
        ("AWS::S3::Object", "arn:aws:s3:::/key", false),
        ("AWS::S3::Object", "s3://bucket/", false),
        ("AWS::S3::Object", "arn:aws:s3:", false),
        (
            "AWS::Lambda::Function",
            "arn:aws:lambda:us-east-1:123456789012:function:f",
            true,
        ),
        (
            "AWS::Lambda::Function",
            "arn:aws:lambda:us-east-1:123456789012:function:f:prod",
            true,
        ),
        (
            "AWS::Lambda::Function",
            "arn:aws:lambda:us-east-1:123456789012:function:",
            false,
        ),
        (
            "AWS::Lambda::Function",
            "arn:aws:lambda:us-east-1:12345:function:f",
            false,
        ),
        ("AWS::Lambda::Function", "helloworld", false),
        (
            "AWS::DynamoDB::Table",
            "arn:aws:dynamodb:eu-west-1:123456789012:table/T",
            true,
        ),
        (
            "AWS::DynamoDB::Table",
            "arn:aws:dynamodb:eu-west-1:123456789012:table/",
            false,
        ),
        (
            "AWS::DynamoDB::Table",
            "arn:aws:dynamodb:eu-west-1:123456789012:T",
            false,
        ),
    ];
    for (t, v, ok) in cases {
        let e = errors_of(&[selector(ReadWriteType::All, true, &[], &[(t, &[v])])]);
        assert_eq!(e.is_empty(), *ok, "{t} {v}: {e:?}");
        if !ok {
            assert!(e[0].starts_with("event_selectors[0].data_resources[0].values[0]: "));
        }
    }
}

#[test]
fn empty_values_is_an_error() {
    let e = errors_of(&[selector(
        ReadWriteType::All,
        true,
        &[],
        &[("AWS::S3::Object", &[])],
    )]);
    assert_eq!(
        e,
        ["event_selectors[0].data_resources[0].values: values must not be empty"]
    );
}

#[test]
fn at_most_250_specific_values_per_trail() {
    let values: Vec<String> = (0..126).map(|i| format!("arn:aws:s3:::b{i}/")).collect();
    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
    let mk = |extra: &[&str]| {
        let mut v = refs.clone();
        v.extend_from_slice(extra);
        selector(ReadWriteType::All, true, &[], &[("AWS::S3::Object", &v)])
    };
    // 126 + 125 = 251 specific values; "all" values do not count.
    let over = [
        mk(&[]),
        selector(
            ReadWriteType::All,
            true,
            &[],
            &[("AWS::S3::Object", &refs[..125])],
        ),
    ];
    assert_eq!(
        errors_of(&over),
        ["event_selectors: at most 250 data resource values per trail (not counting \"all\" values), got 251"]
    );
    let at_limit = [
        mk(&["arn:aws:s3"]),
        selector(
            ReadWriteType::All,
            true,
            &[],
            &[("AWS::S3::Object", &refs[..124])],
        ),
    ];
    assert!(errors_of(&at_limit).is_empty());
}
