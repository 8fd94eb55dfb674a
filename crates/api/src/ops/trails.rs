//! Trail operations: DescribeTrails, GetTrail, ListTrails, GetTrailStatus, StartLogging,
//! StopLogging.
//!
//! Invariant: region visibility is CloudTrail's — a trail is seen by name only from its home
//! region, by ARN from anywhere; DescribeTrails also lists multi-region trails homed elsewhere
//! ("shadow trails") unless `includeShadowTrails` is false; ListTrails lists every trail.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::{
    arn::{parse_trail_arn, resolve_trail, validate_trail_name},
    protocol::{epoch_seconds, legacy_time_string, parse_body},
    ApiBackend, ApiError, TrailInfo, TrailStatus,
};

/// The input of operations that take one trail `Name` (name or ARN).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct NameRequest {
    name: Option<String>,
}

/// A required trail-name parameter: missing or empty is `InvalidTrailNameException`, as
/// CloudTrail answers.
pub(super) fn required_name(name: Option<String>, member: &str) -> Result<String, ApiError> {
    name.filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::InvalidTrailName(format!("{member} must be a trail name or ARN")))
}

/// Finds the trail a request's `Name` designates (see [`resolve_trail`]).
async fn named_trail<S: ApiBackend>(
    backend: &S,
    region: &str,
    body: &[u8],
) -> Result<TrailInfo, ApiError> {
    let req: NameRequest = parse_body(body)?;
    find_trail(backend, region, req.name, "Name").await
}

/// The trail that request member `member` (a name in `region`, or an ARN) designates.
pub(super) async fn find_trail<S: ApiBackend>(
    backend: &S,
    region: &str,
    name: Option<String>,
    member: &str,
) -> Result<TrailInfo, ApiError> {
    let name = required_name(name, member)?;
    let trails = backend.trails().await;
    resolve_trail(&trails, &name, region).cloned()
}

/// Mutating calls must be made in the trail's home region (reachable only through an ARN
/// otherwise).
pub(super) fn require_home_region(trail: &TrailInfo, region: &str) -> Result<(), ApiError> {
    if trail.home_region == region {
        Ok(())
    } else {
        Err(ApiError::InvalidHomeRegion(format!(
            "trail {} can only be changed in its home region {}, not {region}",
            trail.name, trail.home_region
        )))
    }
}

/// CloudTrail's `Trail` shape; absent optional members are left out, as AWS does.
fn trail_json(t: &TrailInfo) -> Value {
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_owned(), v);
    };
    put("Name", t.name.clone().into());
    put("S3BucketName", t.s3_bucket_name.clone().into());
    let optional = [
        ("S3KeyPrefix", &t.s3_key_prefix),
        ("SnsTopicName", &t.sns_topic_name),
        ("SnsTopicARN", &t.sns_topic_arn),
        (
            "CloudWatchLogsLogGroupArn",
            &t.cloud_watch_logs_log_group_arn,
        ),
        ("CloudWatchLogsRoleArn", &t.cloud_watch_logs_role_arn),
        ("KmsKeyId", &t.kms_key_id),
    ];
    for (k, v) in optional {
        if let Some(v) = v {
            put(k, v.clone().into());
        }
    }
    put(
        "IncludeGlobalServiceEvents",
        t.include_global_service_events.into(),
    );
    put("IsMultiRegionTrail", t.is_multi_region_trail.into());
    put("HomeRegion", t.home_region.clone().into());
    put("TrailARN", t.arn.clone().into());
    put(
        "LogFileValidationEnabled",
        t.log_file_validation_enabled.into(),
    );
    put(
        "HasCustomEventSelectors",
        t.has_custom_event_selectors.into(),
    );
    put("HasInsightSelectors", (!t.insight_types.is_empty()).into());
    put("IsOrganizationTrail", t.is_organization_trail.into());
    Value::Object(m)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeTrailsRequest {
    trail_name_list: Option<Vec<String>>,
    include_shadow_trails: Option<bool>,
}

/// `DescribeTrails`: the region's trails (plus shadow trails), or the named ones. Unknown names
/// are skipped, not errors (the operation has no TrailNotFoundException).
pub(super) async fn describe_trails<S: ApiBackend>(
    backend: &S,
    region: &str,
    body: &[u8],
) -> Result<Value, ApiError> {
    let req: DescribeTrailsRequest = parse_body(body)?;
    let shadows = req.include_shadow_trails.unwrap_or(true);
    let names = req.trail_name_list.unwrap_or_default();
    let trails = backend.trails().await;
    let mut selected: Vec<&TrailInfo> = Vec::new();
    if names.is_empty() {
        selected.extend(
            trails
                .iter()
                .filter(|t| t.home_region == region || (shadows && t.is_multi_region_trail)),
        );
    } else {
        for n in &names {
            let found = if n.starts_with("arn:") {
                parse_trail_arn(n)?;
                trails.iter().find(|t| &t.arn == n)
            } else {
                validate_trail_name(n)?;
                trails
                    .iter()
                    .find(|t| &t.name == n && t.home_region == region)
            };
            if let Some(t) = found {
                if !selected.iter().any(|s| s.arn == t.arn) {
                    selected.push(t);
                }
            }
        }
    }
    Ok(json!({ "trailList": selected.into_iter().map(trail_json).collect::<Vec<_>>() }))
}

/// `GetTrail`.
pub(super) async fn get_trail<S: ApiBackend>(
    backend: &S,
    region: &str,
    body: &[u8],
) -> Result<Value, ApiError> {
    let trail = named_trail(backend, region, body).await?;
    Ok(json!({ "Trail": trail_json(&trail) }))
}

/// `ListTrails`: every trail in every region, one page (trailpipe has at most 64 trails).
pub(super) async fn list_trails<S: ApiBackend>(
    backend: &S,
    body: &[u8],
) -> Result<Value, ApiError> {
    let _: Value = parse_body(body)?;
    let trails = backend.trails().await;
    let list: Vec<Value> = trails
        .iter()
        .map(|t| json!({"TrailARN": t.arn, "Name": t.name, "HomeRegion": t.home_region}))
        .collect();
    Ok(json!({ "Trails": list }))
}

/// `GetTrailStatus`.
pub(super) async fn get_trail_status<S: ApiBackend>(
    backend: &S,
    region: &str,
    body: &[u8],
) -> Result<Value, ApiError> {
    let trail = named_trail(backend, region, body).await?;
    let status = backend
        .trail_status(&trail.name)
        .await
        .unwrap_or_else(|| TrailStatus {
            is_logging: trail.is_logging,
            ..TrailStatus::default()
        });
    Ok(status_json(&status))
}

/// CloudTrail's `GetTrailStatusResponse`: times as epoch seconds when known, errors when set,
/// and the deprecated string members always (`""` when unknown).
fn status_json(s: &TrailStatus) -> Value {
    let mut m = Map::new();
    m.insert("IsLogging".into(), s.is_logging.into());
    let times = [
        ("LatestDeliveryTime", s.latest_delivery_time),
        ("LatestNotificationTime", s.latest_notification_time),
        ("StartLoggingTime", s.start_logging_time),
        ("StopLoggingTime", s.stop_logging_time),
        (
            "LatestCloudWatchLogsDeliveryTime",
            s.latest_cloud_watch_logs_delivery_time,
        ),
        ("LatestDigestDeliveryTime", s.latest_digest_delivery_time),
    ];
    for (k, t) in times {
        if let Some(t) = t {
            m.insert(k.into(), epoch_seconds(t));
        }
    }
    let errors = [
        ("LatestDeliveryError", &s.latest_delivery_error),
        ("LatestNotificationError", &s.latest_notification_error),
        (
            "LatestCloudWatchLogsDeliveryError",
            &s.latest_cloud_watch_logs_delivery_error,
        ),
        ("LatestDigestDeliveryError", &s.latest_digest_delivery_error),
    ];
    for (k, e) in errors {
        if let Some(e) = e {
            m.insert(k.into(), e.clone().into());
        }
    }
    let legacy = [
        ("LatestDeliveryAttemptTime", s.latest_delivery_attempt_time),
        ("LatestDeliveryAttemptSucceeded", s.latest_delivery_time),
        (
            "LatestNotificationAttemptTime",
            s.latest_notification_attempt_time,
        ),
        (
            "LatestNotificationAttemptSucceeded",
            s.latest_notification_time,
        ),
        ("TimeLoggingStarted", s.start_logging_time),
        ("TimeLoggingStopped", s.stop_logging_time),
    ];
    for (k, t) in legacy {
        m.insert(k.into(), legacy_time_string(t).into());
    }
    Value::Object(m)
}

/// `StartLogging` / `StopLogging` (in the trail's home region only).
pub(super) async fn set_logging<S: ApiBackend>(
    backend: &S,
    region: &str,
    body: &[u8],
    on: bool,
) -> Result<Value, ApiError> {
    let trail = named_trail(backend, region, body).await?;
    require_home_region(&trail, region)?;
    if on {
        backend.start_logging(&trail.name).await?;
    } else {
        backend.stop_logging(&trail.name).await?;
    }
    Ok(json!({}))
}
