//! The naive model: what a trail logs, written straight from the crate docs on the config types
//! as the user wrote them, with `String`s, `Vec`s and linear scans. Deliberately shares no code
//! with the implementation.

use trailpipe_event::{EventCategory, RoutingFields};

use crate::{AdvancedEventSelector, EventSelector, ReadWriteType, RegionScope};

pub(super) fn model(
    scope: &RegionScope,
    basic: &[EventSelector],
    advanced: &[AdvancedEventSelector],
    f: &RoutingFields,
) -> bool {
    let region = &*f.aws_region;
    let source = f.event_source.as_deref();
    let in_region = scope.is_multi_region_trail || region == scope.home_region;
    let always_global = matches!(
        source,
        Some("iam.amazonaws.com" | "cloudfront.amazonaws.com" | "route53.amazonaws.com")
    );
    let endpoint_global = matches!(source, Some("sts.amazonaws.com" | "signin.amazonaws.com"))
        && region == "us-east-1";
    let global = always_global || endpoint_global;
    let scope_ok = in_region && (scope.include_global_service_events || !global);

    let selected = if basic.is_empty() && advanced.is_empty() {
        f.event_category == EventCategory::Management
    } else if !basic.is_empty() {
        basic.iter().any(|s| model_basic(s, f))
    } else {
        advanced.iter().any(|s| model_advanced(s, f))
    };
    scope_ok && selected
}

fn model_basic(s: &EventSelector, f: &RoutingFields) -> bool {
    let rw_ok = match s.read_write_type {
        ReadWriteType::All => true,
        ReadWriteType::ReadOnly => f.read_only == Some(true),
        ReadWriteType::WriteOnly => f.read_only == Some(false),
    };
    let category = f.event_category.as_str();
    let mut excluded = false;
    for x in &s.exclude_management_event_sources {
        if f.event_source.as_deref() == Some(x.as_str()) {
            excluded = true;
        }
    }
    let management = category == "Management" && s.include_management_events && !excluded;
    let mut data = false;
    if category == "Data" {
        for r in &f.resources {
            for d in &s.data_resources {
                if r.resource_type.as_deref() != Some(d.resource_type.as_str()) {
                    continue;
                }
                for v in &d.values {
                    if data_value_matches(&d.resource_type, v, r.arn.as_deref()) {
                        data = true;
                    }
                }
            }
        }
    }
    rw_ok && (management || data)
}

fn data_value_matches(resource_type: &str, value: &str, arn: Option<&str>) -> bool {
    let all = [
        "arn:aws:s3",
        "arn:aws:s3:::",
        "arn:aws:lambda",
        "arn:aws:dynamodb",
    ];
    if all.contains(&value) {
        return true;
    }
    match arn {
        None => false,
        Some(arn) if resource_type == "AWS::S3::Object" => arn.starts_with(value),
        Some(arn) => arn == value,
    }
}

fn model_advanced(s: &AdvancedEventSelector, f: &RoutingFields) -> bool {
    let mut all_hold = true;
    for fs in &s.field_selectors {
        let values = field_values(&fs.field, f);
        let ops: [(&Option<Vec<String>>, &str, bool); 6] = [
            (&fs.equals, "eq", false),
            (&fs.not_equals, "eq", true),
            (&fs.starts_with, "sw", false),
            (&fs.not_starts_with, "sw", true),
            (&fs.ends_with, "ew", false),
            (&fs.not_ends_with, "ew", true),
        ];
        for (listed, how, negative) in ops {
            let Some(listed) = listed else { continue };
            let mut hit = false;
            for v in &values {
                for x in listed {
                    let m = match how {
                        "eq" => v == x,
                        "sw" => v.starts_with(x.as_str()),
                        _ => v.ends_with(x.as_str()),
                    };
                    hit = hit || m;
                }
            }
            let holds = if negative { !hit } else { hit };
            all_hold = all_hold && holds;
        }
    }
    all_hold
}

fn field_values(field: &str, f: &RoutingFields) -> Vec<String> {
    let one =
        |v: &Option<trailpipe_event::FieldStr>| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    match field {
        "eventCategory" => vec![f.event_category.as_str().to_string()],
        "eventSource" => one(&f.event_source),
        "eventName" => one(&f.event_name),
        "eventType" => one(&f.event_type),
        "readOnly" => f.read_only.iter().map(|b| b.to_string()).collect(),
        "sessionCredentialFromConsole" => {
            vec![f
                .session_credential_from_console
                .unwrap_or(false)
                .to_string()]
        }
        "userIdentity.arn" => one(&f.user_identity.arn),
        "errorCode" => one(&f.error_code),
        "vpcEndpointId" => one(&f.vpc_endpoint_id),
        "resources.type" => f
            .resources
            .iter()
            .filter_map(|r| r.resource_type.as_ref().map(|s| s.to_string()))
            .collect(),
        "resources.ARN" => f
            .resources
            .iter()
            .filter_map(|r| r.arn.as_ref().map(|s| s.to_string()))
            .collect(),
        other => panic!("model does not know field {other}"),
    }
}
