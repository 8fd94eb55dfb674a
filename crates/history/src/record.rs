//! Which records event history keeps, and the lookup attributes of each, read from the record's
//! own bytes in one borrowed parse (no JSON tree).
//!
//! Derivations (deliberate where CloudTrail does not document them):
//! - **Qualifies**: `eventCategory` `Management`, or missing with `managementEvent` not `false`
//!   (records older than 1.07); Insights (`eventType` `AwsCloudTrailInsight` or category
//!   `Insight`) are kept apart and only returned for `EventCategory=insight`. `Data`,
//!   `NetworkActivity` and unknown categories are not kept.
//! - **Username**: `Root` → `root`; `AssumedRole` → role session name (last segment of the
//!   `assumed-role` ARN); `FederatedUser` → federated name (last ARN segment); `AWSService` →
//!   `invokedBy`; others (`IAMUser`, `IdentityCenterUser`, `SAMLUser`, `WebIdentityUser`, ...) →
//!   `userName`, else the last `/` segment of `arn`, else `principalId`. Insights have none.
//! - **EventName / EventSource** of Insights come from `insightDetails`.
//! - **Resources**: `resources[]` as `{type → ResourceType, ARN → ResourceName}`; nothing is
//!   derived from `requestParameters` (CloudTrail does that per service, undocumented). A
//!   ResourceName lookup also matches the ARN's short name (after the last `/`, else the last
//!   `:`), e.g. `my-bucket` for `arn:aws:s3:::my-bucket`; responses show the ARN.
//! - **AccessKeyId**: `userIdentity.accessKeyId` when non-empty. **ReadOnly**: `readOnly`.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::AttributeKey;

/// Longest attribute value indexed, in bytes (AWS caps lookup values at 2000 characters, and
/// some weigh double); longer values can never be asked for.
pub(crate) const MAX_INDEXED_VALUE_BYTES: usize = 4000;

/// Which part of event history a record belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HistoryCategory {
    /// Management events (the default lookups).
    Management,
    /// Insights events (`EventCategory=insight`).
    Insight,
}

impl HistoryCategory {
    /// One-byte tag used in keys.
    pub(crate) fn tag(self) -> u8 {
        match self {
            Self::Management => b'M',
            Self::Insight => b'I',
        }
    }
}

/// One resource as LookupEvents shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupResource {
    /// `resources[].type`.
    pub resource_type: Option<String>,
    /// `resources[].ARN`.
    pub resource_name: Option<String>,
}

/// A record that event history keeps, with everything LookupEvents shows or filters on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// Management or Insight.
    pub category: HistoryCategory,
    /// `awsRegion`.
    pub region: String,
    /// `eventTime`, seconds since the epoch.
    pub event_time: i64,
    /// `eventID`.
    pub event_id: String,
    /// `eventName` (Insights: `insightDetails.eventName`).
    pub event_name: Option<String>,
    /// `eventSource` (Insights: `insightDetails.eventSource`).
    pub event_source: Option<String>,
    /// `readOnly`.
    pub read_only: Option<bool>,
    /// Derived as the module documentation says.
    pub username: Option<String>,
    /// `userIdentity.accessKeyId`, when non-empty.
    pub access_key_id: Option<String>,
    /// `resources[]`.
    pub resources: Vec<LookupResource>,
}

impl HistoryEntry {
    /// Every `(attribute, value)` a lookup may match this entry by, without duplicates. Values
    /// longer than 4000 bytes (`MAX_INDEXED_VALUE_BYTES`) or empty are left out.
    pub fn attribute_values(&self) -> Vec<(AttributeKey, Cow<'_, str>)> {
        fn push<'e>(k: AttributeKey, v: Cow<'e, str>, out: &mut Vec<(AttributeKey, Cow<'e, str>)>) {
            if !v.is_empty()
                && v.len() <= MAX_INDEXED_VALUE_BYTES
                && !out.iter().any(|(ok, ov)| *ok == k && *ov == v)
            {
                out.push((k, v));
            }
        }
        let mut out: Vec<(AttributeKey, Cow<'_, str>)> = Vec::with_capacity(10);
        push(
            AttributeKey::EventId,
            Cow::Borrowed(&self.event_id),
            &mut out,
        );
        if let Some(v) = &self.event_name {
            push(AttributeKey::EventName, Cow::Borrowed(v), &mut out);
        }
        if let Some(v) = self.read_only {
            push(AttributeKey::ReadOnly, Cow::Borrowed(bool_str(v)), &mut out);
        }
        if let Some(v) = &self.username {
            push(AttributeKey::Username, Cow::Borrowed(v), &mut out);
        }
        if let Some(v) = &self.event_source {
            push(AttributeKey::EventSource, Cow::Borrowed(v), &mut out);
        }
        if let Some(v) = &self.access_key_id {
            push(AttributeKey::AccessKeyId, Cow::Borrowed(v), &mut out);
        }
        for r in &self.resources {
            if let Some(t) = &r.resource_type {
                push(AttributeKey::ResourceType, Cow::Borrowed(t), &mut out);
            }
            if let Some(arn) = &r.resource_name {
                push(AttributeKey::ResourceName, Cow::Borrowed(arn), &mut out);
                push(
                    AttributeKey::ResourceName,
                    Cow::Borrowed(arn_short_name(arn)),
                    &mut out,
                );
            }
        }
        out
    }

    /// Whether a lookup for `(key, value)` matches this entry.
    pub fn matches(&self, key: AttributeKey, value: &str) -> bool {
        self.attribute_values()
            .iter()
            .any(|(k, v)| *k == key && v == value)
    }
}

/// `"true"` / `"false"`, as LookupEvents spells booleans.
pub(crate) fn bool_str(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

/// The part of an ARN after its last `/`, else after its last `:` (`my-bucket` for
/// `arn:aws:s3:::my-bucket`, `i-0abc` for `arn:aws:ec2:...:instance/i-0abc`).
pub fn arn_short_name(arn: &str) -> &str {
    match arn.rfind('/') {
        Some(i) => &arn[i + 1..],
        None => arn.rfind(':').map_or(arn, |i| &arn[i + 1..]),
    }
}

#[derive(Deserialize)]
struct RawRecord<'a> {
    #[serde(rename = "eventTime", borrow, default)]
    event_time: Option<&'a RawValue>,
    #[serde(rename = "eventID", borrow, default)]
    event_id: Option<&'a RawValue>,
    #[serde(rename = "eventName", borrow, default)]
    event_name: Option<&'a RawValue>,
    #[serde(rename = "eventSource", borrow, default)]
    event_source: Option<&'a RawValue>,
    #[serde(rename = "awsRegion", borrow, default)]
    aws_region: Option<&'a RawValue>,
    #[serde(rename = "readOnly", borrow, default)]
    read_only: Option<&'a RawValue>,
    #[serde(rename = "eventCategory", borrow, default)]
    event_category: Option<&'a RawValue>,
    #[serde(rename = "managementEvent", borrow, default)]
    management_event: Option<&'a RawValue>,
    #[serde(rename = "eventType", borrow, default)]
    event_type: Option<&'a RawValue>,
    #[serde(borrow, default)]
    resources: Option<&'a RawValue>,
    #[serde(rename = "userIdentity", borrow, default)]
    user_identity: Option<&'a RawValue>,
    #[serde(rename = "insightDetails", borrow, default)]
    insight_details: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct RawIdentity<'a> {
    #[serde(rename = "type", borrow, default)]
    identity_type: Option<&'a RawValue>,
    #[serde(rename = "userName", borrow, default)]
    user_name: Option<&'a RawValue>,
    #[serde(borrow, default)]
    arn: Option<&'a RawValue>,
    #[serde(rename = "accessKeyId", borrow, default)]
    access_key_id: Option<&'a RawValue>,
    #[serde(rename = "principalId", borrow, default)]
    principal_id: Option<&'a RawValue>,
    #[serde(rename = "invokedBy", borrow, default)]
    invoked_by: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct RawInsight<'a> {
    #[serde(rename = "eventName", borrow, default)]
    event_name: Option<&'a RawValue>,
    #[serde(rename = "eventSource", borrow, default)]
    event_source: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct RawResource<'a> {
    #[serde(rename = "type", borrow, default)]
    resource_type: Option<&'a RawValue>,
    #[serde(rename = "ARN", borrow, default)]
    arn: Option<&'a RawValue>,
}

/// A string field, or `None` when absent, `null` or of another type (lenient: a stray type in
/// one field must not cost the whole event its place in history).
fn string(v: Option<&RawValue>) -> Option<String> {
    let v = v?;
    serde_json::from_str::<Cow<'_, str>>(v.get())
        .ok()
        .map(Cow::into_owned)
}

fn boolean(v: Option<&RawValue>) -> Option<bool> {
    serde_json::from_str::<bool>(v?.get()).ok()
}

/// Why a record is not in event history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotKept {
    /// A data, network-activity or unknown-category event: never in event history.
    NotManagement,
    /// Not a JSON object, or without a usable `eventTime`, `eventID` or `awsRegion`.
    Unusable(&'static str),
}

/// Reads a record's lookup attributes, or says why event history does not keep it.
pub fn extract(raw: &[u8]) -> Result<HistoryEntry, NotKept> {
    let text = std::str::from_utf8(raw).map_err(|_| NotKept::Unusable("invalid UTF-8"))?;
    let r: RawRecord<'_> =
        serde_json::from_str(text).map_err(|_| NotKept::Unusable("not a JSON object"))?;
    let event_type = string(r.event_type);
    let category = match string(r.event_category).as_deref() {
        Some("Management") => HistoryCategory::Management,
        Some("Insight") => HistoryCategory::Insight,
        Some(_) => return Err(NotKept::NotManagement),
        None if event_type.as_deref() == Some("AwsCloudTrailInsight") => HistoryCategory::Insight,
        None if boolean(r.management_event) == Some(false) => return Err(NotKept::NotManagement),
        None => HistoryCategory::Management,
    };
    let event_time = string(r.event_time)
        .and_then(|t| parse_event_time(&t))
        .ok_or(NotKept::Unusable("eventTime"))?;
    let event_id = string(r.event_id)
        .filter(|s| !s.is_empty())
        .ok_or(NotKept::Unusable("eventID"))?;
    let region = string(r.aws_region)
        .filter(|s| !s.is_empty() && s.len() <= 255)
        .ok_or(NotKept::Unusable("awsRegion"))?;
    let (mut event_name, mut event_source) = (string(r.event_name), string(r.event_source));
    if category == HistoryCategory::Insight {
        if let Some(d) = r
            .insight_details
            .and_then(|d| serde_json::from_str::<RawInsight<'_>>(d.get()).ok())
        {
            event_name = event_name.or_else(|| string(d.event_name));
            event_source = event_source.or_else(|| string(d.event_source));
        }
    }
    let (username, access_key_id) = match r
        .user_identity
        .and_then(|u| serde_json::from_str::<RawIdentity<'_>>(u.get()).ok())
    {
        Some(id) => (
            derive_username(&id),
            string(id.access_key_id).filter(|k| !k.is_empty()),
        ),
        None => (None, None),
    };
    let resources = r
        .resources
        .and_then(|v| serde_json::from_str::<Vec<RawResource<'_>>>(v.get()).ok())
        .unwrap_or_default()
        .into_iter()
        .map(|res| LookupResource {
            resource_type: string(res.resource_type),
            resource_name: string(res.arn),
        })
        .filter(|res| res.resource_type.is_some() || res.resource_name.is_some())
        .collect();
    Ok(HistoryEntry {
        category,
        region,
        event_time,
        event_id,
        event_name,
        event_source,
        read_only: boolean(r.read_only),
        username,
        access_key_id,
        resources,
    })
}

fn derive_username(id: &RawIdentity<'_>) -> Option<String> {
    let arn = string(id.arn);
    let last_segment = || {
        arn.as_deref()
            .and_then(|a| a.rsplit_once('/'))
            .map(|(_, s)| s.to_owned())
            .filter(|s| !s.is_empty())
    };
    match string(id.identity_type).as_deref() {
        Some("Root") => Some("root".to_owned()),
        Some("AssumedRole") | Some("FederatedUser") => last_segment(),
        Some("AWSService") => string(id.invoked_by),
        _ => string(id.user_name)
            .filter(|u| !u.is_empty())
            .or_else(last_segment)
            .or_else(|| string(id.principal_id)),
    }
    .filter(|u| !u.is_empty())
}

/// `eventTime` (`YYYY-MM-DDTHH:MM:SSZ`, RFC 3339 accepted) as seconds since the epoch.
pub fn parse_event_time(s: &str) -> Option<i64> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assumed_role_username_is_the_session_name() {
        let raw = br#"{"eventTime":"2026-01-01T00:00:00Z","eventID":"e1","awsRegion":"us-east-1",
            "eventName":"X","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/R/my-session","accessKeyId":"ASIA1"},
            "readOnly":true,"resources":[{"ARN":"arn:aws:s3:::b","type":"AWS::S3::Bucket"}]}"#;
        let e = extract(raw).expect("kept");
        assert_eq!(e.username.as_deref(), Some("my-session"));
        assert_eq!(e.access_key_id.as_deref(), Some("ASIA1"));
        assert!(e.matches(AttributeKey::ResourceName, "b"));
        assert!(e.matches(AttributeKey::ResourceName, "arn:aws:s3:::b"));
        assert!(e.matches(AttributeKey::ReadOnly, "true"));
        assert!(!e.matches(AttributeKey::ReadOnly, "false"));
    }

    #[test]
    fn root_is_root_and_data_events_are_not_kept() {
        let root = br#"{"eventTime":"2026-01-01T00:00:00Z","eventID":"e1","awsRegion":"us-east-1",
            "userIdentity":{"type":"Root","userName":"alias","arn":"arn:aws:iam::1:root"}}"#;
        assert_eq!(
            extract(root).expect("kept").username.as_deref(),
            Some("root")
        );
        let data = br#"{"eventTime":"2026-01-01T00:00:00Z","eventID":"e1","awsRegion":"us-east-1","eventCategory":"Data"}"#;
        assert_eq!(extract(data), Err(NotKept::NotManagement));
        let old_data = br#"{"eventTime":"2026-01-01T00:00:00Z","eventID":"e1","awsRegion":"us-east-1","managementEvent":false}"#;
        assert_eq!(extract(old_data), Err(NotKept::NotManagement));
    }

    #[test]
    fn insight_takes_name_and_source_from_details() {
        let raw = br#"{"eventVersion":"1.07","eventTime":"2019-11-14T00:51:00Z","awsRegion":"us-east-1",
            "eventID":"EX","eventType":"AwsCloudTrailInsight","insightDetails":{"state":"Start",
            "eventSource":"autoscaling.amazonaws.com","eventName":"CompleteLifecycleAction"},"eventCategory":"Insight"}"#;
        let e = extract(raw).expect("kept");
        assert_eq!(e.category, HistoryCategory::Insight);
        assert_eq!(e.event_name.as_deref(), Some("CompleteLifecycleAction"));
        assert_eq!(e.event_source.as_deref(), Some("autoscaling.amazonaws.com"));
        assert_eq!(e.username, None);
    }

    #[test]
    fn wrong_types_in_optional_fields_do_not_drop_the_event() {
        let raw = br#"{"eventTime":"2026-01-01T00:00:00Z","eventID":"e1","awsRegion":"us-east-1",
            "eventName":7,"readOnly":"yes","resources":{"not":"a list"},"userIdentity":[1]}"#;
        let e = extract(raw).expect("kept");
        assert_eq!((e.event_name, e.read_only, e.username), (None, None, None));
        assert!(e.resources.is_empty());
        assert!(extract(br#"{"eventID":"e1","awsRegion":"r"}"#).is_err());
    }
}
