//! Selector, public-key, event-history and tagging operations.
//!
//! Invariant: request shapes are checked here (required members, limits, time ranges, ARNs)
//! before the backend is called, so a backend only ever sees well-formed input for a trail that
//! exists.

use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::trails::{find_trail, require_home_region, required_name};
use crate::{
    arn::{parse_trail_arn, resolve_trail},
    protocol::{epoch_option, epoch_seconds, parse_body},
    selectors::{AdvancedEventSelector, EventSelector},
    ApiBackend, ApiError, SelectorsInfo, Tag, TrailInfo,
};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetEventSelectorsRequest {
    trail_name: Option<String>,
}

/// `GetEventSelectors`.
pub(super) async fn get_event_selectors<S: ApiBackend>(
    backend: &S,
    region: &str,
    body: &[u8],
) -> Result<Value, ApiError> {
    let trail = named_trail(backend, region, body).await?;
    let selectors = backend
        .event_selectors(&trail.name)
        .await
        .unwrap_or_else(SelectorsInfo::cloudtrail_default);
    Ok(selectors_response(&trail, &selectors))
}

/// The trail a `{"TrailName": ...}` request names (a name in `region`, or an ARN).
async fn named_trail<S: ApiBackend>(
    backend: &S,
    region: &str,
    body: &[u8],
) -> Result<TrailInfo, ApiError> {
    let req: GetEventSelectorsRequest = parse_body(body)?;
    find_trail(backend, region, req.trail_name, "TrailName").await
}

/// `GetInsightSelectors` (trails only; no event data stores). A trail without Insights is
/// `InsightNotEnabledException`, as in CloudTrail.
pub(super) async fn get_insight_selectors<S: ApiBackend>(
    backend: &S,
    region: &str,
    body: &[u8],
) -> Result<Value, ApiError> {
    let trail = named_trail(backend, region, body).await?;
    if trail.insight_types.is_empty() {
        return Err(ApiError::Other {
            error_type: "InsightNotEnabledException",
            message: format!("Trail {} does not have Insights enabled.", trail.arn),
        });
    }
    let selectors: Vec<Value> = trail
        .insight_types
        .iter()
        .map(|t| json!({"InsightType": t, "EventCategories": ["Management"]}))
        .collect();
    Ok(json!({"TrailARN": trail.arn, "InsightSelectors": selectors}))
}

fn selectors_response(trail: &TrailInfo, selectors: &SelectorsInfo) -> Value {
    let mut m = Map::new();
    m.insert("TrailARN".into(), trail.arn.clone().into());
    selectors.to_json_members(&mut m);
    Value::Object(m)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutEventSelectorsRequest {
    trail_name: Option<String>,
    event_selectors: Option<Value>,
    advanced_event_selectors: Option<Value>,
}

/// `PutEventSelectors` (home region only). A malformed selector list is
/// `InvalidEventSelectorsException`, not a serialization error, so callers see which list.
pub(super) async fn put_event_selectors<S: ApiBackend>(
    backend: &S,
    region: &str,
    body: &[u8],
) -> Result<Value, ApiError> {
    let req: PutEventSelectorsRequest = parse_body(body)?;
    let name = required_name(req.trail_name, "TrailName")?;
    let basic = req
        .event_selectors
        .map(serde_json::from_value::<Vec<EventSelector>>)
        .transpose()
        .map_err(|e| ApiError::InvalidEventSelectors(format!("EventSelectors: {e}")))?;
    let advanced = req
        .advanced_event_selectors
        .map(serde_json::from_value::<Vec<AdvancedEventSelector>>)
        .transpose()
        .map_err(|e| ApiError::InvalidEventSelectors(format!("AdvancedEventSelectors: {e}")))?;
    let selectors = SelectorsInfo::from_request(basic, advanced)?;
    let trails = backend.trails().await;
    let trail = resolve_trail(&trails, &name, region)?;
    require_home_region(trail, region)?;
    let now = backend.put_event_selectors(&trail.name, selectors).await?;
    Ok(selectors_response(trail, &now))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListPublicKeysRequest {
    #[serde(default, deserialize_with = "epoch_option::deserialize")]
    start_time: Option<OffsetDateTime>,
    #[serde(default, deserialize_with = "epoch_option::deserialize")]
    end_time: Option<OffsetDateTime>,
}

/// `ListPublicKeys`. `NextToken` is "reserved" by CloudTrail and ignored; all keys fit one page.
pub(super) async fn list_public_keys<S: ApiBackend>(
    backend: &S,
    body: &[u8],
) -> Result<Value, ApiError> {
    let req: ListPublicKeysRequest = parse_body(body)?;
    if let (Some(s), Some(e)) = (req.start_time, req.end_time) {
        if s > e {
            return Err(ApiError::InvalidTimeRange(
                "StartTime must not be after EndTime".into(),
            ));
        }
    }
    let keys = backend.public_keys(req.start_time, req.end_time).await?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let list: Vec<Value> = keys
        .iter()
        .map(|k| {
            json!({
                "Value": b64.encode(&k.value_der),
                "ValidityStartTime": epoch_seconds(k.validity_start),
                "ValidityEndTime": epoch_seconds(k.validity_end),
                "Fingerprint": k.fingerprint,
            })
        })
        .collect();
    Ok(json!({ "PublicKeyList": list }))
}

/// `LookupEvents`: passed through to the backend with the request's region.
pub(super) async fn lookup_events<S: ApiBackend>(
    backend: &S,
    region: &str,
    body: &[u8],
) -> Result<Value, ApiError> {
    backend.lookup_events(region, body).await
}

/// At most this many tags in one AddTags call (and per resource, CloudTrail's quota).
pub const MAX_TAGS_PER_RESOURCE: usize = 50;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagsRequest {
    resource_id: Option<String>,
    tags_list: Option<Vec<Tag>>,
}

/// The trail a tagging `ResourceId` (a trail ARN) designates.
fn tagged_trail<'t>(trails: &'t [TrailInfo], id: &str) -> Result<&'t TrailInfo, ApiError> {
    parse_trail_arn(id)?;
    trails
        .iter()
        .find(|t| t.arn == id)
        .ok_or_else(|| ApiError::ResourceNotFound(format!("resource not found: {id}")))
}

fn check_tags(tags: &[Tag]) -> Result<(), ApiError> {
    if tags.len() > MAX_TAGS_PER_RESOURCE {
        return Err(ApiError::TagsLimitExceeded(format!(
            "{} tags; a resource holds at most {MAX_TAGS_PER_RESOURCE}",
            tags.len()
        )));
    }
    for t in tags {
        if !(1..=128).contains(&t.key.chars().count()) {
            return Err(ApiError::InvalidTagParameter(format!(
                "tag key {:?} must be 1 to 128 characters",
                t.key
            )));
        }
        if t.value.as_ref().is_some_and(|v| v.chars().count() > 256) {
            return Err(ApiError::InvalidTagParameter(format!(
                "value of tag {:?} is over 256 characters",
                t.key
            )));
        }
    }
    Ok(())
}

/// `AddTags` / `RemoveTags`.
pub(super) async fn change_tags<S: ApiBackend>(
    backend: &S,
    body: &[u8],
    add: bool,
) -> Result<Value, ApiError> {
    let req: TagsRequest = parse_body(body)?;
    let id = req
        .resource_id
        .filter(|r| !r.is_empty())
        .ok_or_else(|| ApiError::InvalidParameter("ResourceId is required".into()))?;
    let tags = req
        .tags_list
        .ok_or_else(|| ApiError::InvalidParameter("TagsList is required".into()))?;
    check_tags(&tags)?;
    let trails = backend.trails().await;
    let trail = tagged_trail(&trails, &id)?;
    if add {
        backend.add_tags(&trail.name, tags).await?;
    } else {
        backend.remove_tags(&trail.name, tags).await?;
    }
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListTagsRequest {
    resource_id_list: Option<Vec<String>>,
    next_token: Option<String>,
}

/// `ListTags`: tags of each listed trail ARN, one page (this server issues no tokens).
pub(super) async fn list_tags<S: ApiBackend>(backend: &S, body: &[u8]) -> Result<Value, ApiError> {
    let req: ListTagsRequest = parse_body(body)?;
    if req.next_token.is_some_and(|t| !t.is_empty()) {
        return Err(ApiError::InvalidToken(
            "NextToken was not issued by this server".into(),
        ));
    }
    let ids = req
        .resource_id_list
        .ok_or_else(|| ApiError::InvalidParameter("ResourceIdList is required".into()))?;
    let trails = backend.trails().await;
    let mut list = Vec::with_capacity(ids.len());
    for id in &ids {
        let trail = tagged_trail(&trails, id)?;
        let tags = backend.list_tags(&trail.name).await?;
        list.push(json!({ "ResourceId": id, "TagsList": tags }));
    }
    Ok(json!({ "ResourceTagList": list }))
}
