//! Generators of random records and random valid trails over small alphabets, so that matches
//! and non-matches are both common.

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;
use trailpipe_event::{EventCategory, Resource, RoutingFields, UserIdentity};

use crate::*;

const SOURCES: &[&str] = &[
    "s3.amazonaws.com",
    "lambda.amazonaws.com",
    "dynamodb.amazonaws.com",
    "ec2.amazonaws.com",
    "kms.amazonaws.com",
    "rdsdata.amazonaws.com",
    "iam.amazonaws.com",
    "sts.amazonaws.com",
    "signin.amazonaws.com",
    "cloudfront.amazonaws.com",
    "route53.amazonaws.com",
];
const NAMES: &[&str] = &[
    "PutObject",
    "GetObject",
    "Invoke",
    "GetItem",
    "CreateUser",
    "Decrypt",
];
const REGIONS: &[&str] = &["us-east-1", "eu-west-1", "ap-south-1"];
const EVENT_TYPES: &[&str] = &[
    "AwsApiCall",
    "AwsServiceEvent",
    "AwsConsoleSignIn",
    "AwsVpceEvent",
];
const TYPES: &[&str] = &[
    "AWS::S3::Object",
    "AWS::S3::Bucket",
    "AWS::Lambda::Function",
    "AWS::DynamoDB::Table",
];
const S3_OBJECTS: &[&str] = &[
    "arn:aws:s3:::a/k1",
    "arn:aws:s3:::a/img/1",
    "arn:aws:s3:::ab/k1",
];
const FUNCTIONS: &[&str] = &[
    "arn:aws:lambda:us-east-1:123456789012:function:hello",
    "arn:aws:lambda:us-east-1:123456789012:function:hello2",
];
const TABLES: &[&str] = &[
    "arn:aws:dynamodb:us-east-1:123456789012:table/T1",
    "arn:aws:dynamodb:us-east-1:123456789012:table/T2",
];
const OTHER_ARNS: &[&str] = &["arn:aws:s3:::a", "arn:aws:s3:::ab"];
const USER_ARNS: &[&str] = &[
    "arn:aws:iam::123456789012:user/admin",
    "arn:aws:iam::123456789012:root",
    "arn:aws:sts::123456789012:assumed-role/R/s",
];
const ERROR_CODES: &[&str] = &["AccessDenied", "VpceAccessDenied"];
const VPCES: &[&str] = &["vpce-1", "vpce-2"];

fn all_arns() -> Vec<&'static str> {
    [S3_OBJECTS, FUNCTIONS, TABLES, OTHER_ARNS].concat()
}

fn boxed(s: &'static str) -> trailpipe_event::FieldStr {
    s.into()
}

fn category() -> impl Strategy<Value = EventCategory> {
    select(vec![
        EventCategory::Management,
        EventCategory::Management,
        EventCategory::Data,
        EventCategory::Data,
        EventCategory::NetworkActivity,
        EventCategory::Insight,
        EventCategory::Other("Future".into()),
    ])
}

fn resource() -> impl Strategy<Value = Resource> {
    (
        option::weighted(0.9, select(TYPES)),
        option::weighted(0.9, select(all_arns())),
    )
        .prop_map(|(t, a)| Resource {
            resource_type: t.map(boxed),
            arn: a.map(boxed),
        })
}

pub(super) fn routing_fields() -> impl Strategy<Value = RoutingFields> {
    (
        (
            option::weighted(0.95, select(SOURCES)),
            option::weighted(0.95, select(NAMES)),
            select(REGIONS),
            option::weighted(0.8, any::<bool>()),
            category(),
            option::weighted(0.9, select(EVENT_TYPES)),
        ),
        (
            vec(resource(), 0..3),
            option::weighted(0.9, select(USER_ARNS)),
            option::weighted(0.3, select(ERROR_CODES)),
            option::of(any::<bool>()),
            option::weighted(0.3, select(VPCES)),
        ),
    )
        .prop_map(
            |((source, name, region, read_only, category, event_type), rest)| {
                let (resources, user_arn, error_code, console, vpce) = rest;
                RoutingFields {
                    event_time: 1_700_000_000,
                    event_id: "00000000-0000-0000-0000-000000000000".into(),
                    event_source: source.map(boxed),
                    event_name: name.map(boxed),
                    aws_region: region.into(),
                    account_id: "123456789012".into(),
                    read_only,
                    read_only_is_bool: read_only.is_some(),
                    management_event: Some(category == EventCategory::Management),
                    event_category: category,
                    event_type: event_type.map(boxed),
                    resources,
                    user_identity: UserIdentity {
                        arn: user_arn.map(boxed),
                        ..UserIdentity::default()
                    },
                    error_code: error_code.map(boxed),
                    shared_event_id: None,
                    session_credential_from_console: console,
                    vpc_endpoint_id: vpce.map(boxed),
                    user_agent: None,
                    source_ip_address: None,
                }
            },
        )
}

fn strings(pool: Vec<&'static str>, max: usize) -> impl Strategy<Value = Vec<String>> {
    vec(select(pool).prop_map(String::from), 1..=max)
}

fn data_resource() -> impl Strategy<Value = DataResource> {
    let s3 = vec![
        "arn:aws:s3",
        "arn:aws:s3:::",
        "arn:aws:s3:::a/",
        "arn:aws:s3:::a/img",
        "arn:aws:s3:::ab/",
        "arn:aws:s3:::a/k1",
    ];
    let lambda = [&["arn:aws:lambda"][..], FUNCTIONS].concat();
    let dynamo = [&["arn:aws:dynamodb"][..], TABLES].concat();
    prop_oneof![
        strings(s3, 3).prop_map(|v| ("AWS::S3::Object", v)),
        strings(lambda, 2).prop_map(|v| ("AWS::Lambda::Function", v)),
        strings(dynamo, 2).prop_map(|v| ("AWS::DynamoDB::Table", v)),
    ]
    .prop_map(|(t, values)| DataResource {
        resource_type: t.into(),
        values,
    })
}

pub(super) fn event_selector() -> impl Strategy<Value = EventSelector> {
    (
        select(vec![
            ReadWriteType::All,
            ReadWriteType::ReadOnly,
            ReadWriteType::WriteOnly,
        ]),
        any::<bool>(),
        vec(
            select(EXCLUDABLE_SOURCES.to_vec()).prop_map(String::from),
            0..=2,
        ),
        vec(data_resource(), 0..3),
    )
        .prop_map(|(rw, include, excluded, data)| EventSelector {
            read_write_type: rw,
            include_management_events: include,
            exclude_management_event_sources: excluded,
            data_resources: data,
        })
}

/// Values worth testing a field with: its real values plus prefixes and suffixes of them.
fn pool(field: &str) -> Vec<&'static str> {
    match field {
        "eventSource" => [
            SOURCES,
            &["s3.", "kms", ".amazonaws.com", "3.amazonaws.com"],
        ]
        .concat(),
        "eventName" => [NAMES, &["Put", "Get", "Object", "Item"]].concat(),
        "eventType" => [EVENT_TYPES, &["Aws", "Call"]].concat(),
        "readOnly" | "sessionCredentialFromConsole" => vec!["true", "false"],
        "userIdentity.arn" => [USER_ARNS, &["arn:aws:iam::", ":user/admin", ":root"]].concat(),
        "errorCode" => [ERROR_CODES, &["Access", "Denied"]].concat(),
        "vpcEndpointId" => [VPCES, &["vpce-"]].concat(),
        "resources.type" => TYPES.to_vec(),
        _ => [
            all_arns(),
            vec![
                "arn:aws:s3:::a/",
                "arn:aws:s3:::a",
                "arn:aws:lambda",
                "/k1",
                "hello",
            ],
        ]
        .concat(),
    }
}

fn field_selector() -> impl Strategy<Value = FieldSelector> {
    let fields = vec![
        "eventSource",
        "eventName",
        "eventType",
        "readOnly",
        "sessionCredentialFromConsole",
        "userIdentity.arn",
        "errorCode",
        "vpcEndpointId",
        "resources.type",
        "resources.ARN",
    ];
    select(fields).prop_flat_map(|field| {
        let p = pool(field);
        let equals_only = matches!(field, "readOnly" | "resources.type");
        let max = if field == "resources.type" { 1 } else { 3 };
        let op = move |w: f64| -> BoxedStrategy<Option<Vec<String>>> {
            if equals_only {
                Just(None).boxed()
            } else {
                option::weighted(w, strings(p.clone(), 3)).boxed()
            }
        };
        (
            strings(pool(field), max),
            any::<bool>(),
            op(0.3),
            op(0.3),
            op(0.3),
            op(0.3),
            op(0.3),
        )
            .prop_map(move |(eq, keep_eq, ne, sw, nsw, ew, new)| {
                let mut fs = FieldSelector {
                    field: field.into(),
                    equals: keep_eq.then_some(eq.clone()),
                    not_equals: ne,
                    starts_with: sw,
                    not_starts_with: nsw,
                    ends_with: ew,
                    not_ends_with: new,
                };
                if fs.operators().next().is_none() {
                    fs.equals = Some(eq);
                }
                fs
            })
    })
}

pub(super) fn advanced_selector() -> impl Strategy<Value = AdvancedEventSelector> {
    (
        strings(vec!["Management", "Data", "NetworkActivity"], 2),
        select(TYPES),
        vec(field_selector(), 0..3),
    )
        .prop_flat_map(|(categories, resource_type, extra)| {
            let mut field_selectors = vec![FieldSelector {
                field: "eventCategory".into(),
                equals: Some(categories.clone()),
                ..FieldSelector::default()
            }];
            let has_type = extra.iter().any(|fs| fs.field == "resources.type");
            if categories.iter().any(|c| c == "Data") && !has_type {
                field_selectors.push(FieldSelector {
                    field: "resources.type".into(),
                    equals: Some(vec![resource_type.into()]),
                    ..FieldSelector::default()
                });
            }
            field_selectors.extend(extra);
            Just(field_selectors).prop_shuffle()
        })
        .prop_map(|field_selectors| AdvancedEventSelector {
            name: None,
            field_selectors,
        })
}

pub(super) fn region_scope() -> impl Strategy<Value = RegionScope> {
    (any::<bool>(), select(REGIONS), any::<bool>()).prop_map(|(multi, home, global)| RegionScope {
        is_multi_region_trail: multi,
        home_region: home.into(),
        include_global_service_events: global,
    })
}

/// A valid trail: no selectors, basic ones only, or advanced ones only.
pub(super) fn trail(
) -> impl Strategy<Value = (RegionScope, Vec<EventSelector>, Vec<AdvancedEventSelector>)> {
    (
        region_scope(),
        prop_oneof![
            1 => Just((Vec::new(), Vec::new())),
            3 => vec(event_selector(), 1..=5).prop_map(|b| (b, Vec::new())),
            3 => vec(advanced_selector(), 1..=3).prop_map(|a| (Vec::new(), a)),
        ],
    )
        .prop_map(|(scope, (basic, advanced))| (scope, basic, advanced))
}
