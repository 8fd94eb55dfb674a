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
//! - **Leniency**: a field of another JSON type than expected counts as absent, a repeated key's
//!   last value wins (as with `serde_json::Value`), and an element of `resources` that is not an
//!   object is skipped alone. Only invalid UTF-8 or JSON, or a missing `eventTime`, `eventID` or
//!   `awsRegion`, makes a record unusable.

use std::borrow::Cow;

use serde::{
    de::{IgnoredAny, MapAccess, SeqAccess, Visitor},
    Deserialize, Deserializer,
};

use crate::AttributeKey;

/// Longest attribute value indexed, in bytes (AWS caps lookup values at 2000 characters, and
/// some weigh double); longer values can never be asked for.
pub(crate) const MAX_INDEXED_VALUE_BYTES: usize = 4000;

/// Most elements of `resources[]` indexed per record (CloudTrail's own records name a handful);
/// the rest stay in the record and in LookupEvents answers but cannot be looked up by. Bounds
/// the index entries one record can write, whatever a producer puts in it.
pub const MAX_INDEXED_RESOURCES: usize = 64;

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
    /// longer than 4000 bytes (`MAX_INDEXED_VALUE_BYTES`) or empty are left out, and only the
    /// first [`MAX_INDEXED_RESOURCES`] resources count.
    pub fn attribute_values(&self) -> Vec<(AttributeKey, Cow<'_, str>)> {
        fn b(v: &Option<String>) -> Option<Cow<'_, str>> {
            v.as_deref().map(Cow::Borrowed)
        }
        let view = Parsed {
            category: self.category,
            region: Cow::Borrowed(&self.region),
            event_time: self.event_time,
            event_id: Cow::Borrowed(&self.event_id),
            event_name: b(&self.event_name),
            event_source: b(&self.event_source),
            read_only: self.read_only,
            username: b(&self.username),
            access_key_id: b(&self.access_key_id),
            resources: self
                .resources
                .iter()
                .map(|r| (b(&r.resource_type), b(&r.resource_name)))
                .collect(),
        };
        view.attribute_values()
            .into_iter()
            .map(|(k, v)| (k, Cow::Owned(v.to_owned())))
            .collect()
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

/// Visitor methods for the JSON types a lenient field does not take (`scalars` = numbers and
/// `null`): the value is skipped (arrays and objects drained) and the field is `Default`.
macro_rules! other_types_are_default {
    ($($kind:ident)*) => { $(other_types_are_default!(@$kind);)* };
    (@scalars) => {
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
    };
    (@bool) => {
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
    };
    (@str) => {
        fn visit_borrowed_str<E>(self, _: &'de str) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
    };
    (@seq) => {
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(Default::default())
        }
    };
    (@map) => {
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(Default::default())
        }
    };
}

/// A JSON string value, borrowed from the record when it has no escapes; `None` when the value
/// is of another type (lenient: a stray type in one field must not cost the whole event its
/// place in history).
#[derive(Default)]
struct Str<'a>(Option<Cow<'a, str>>);

impl<'de> Deserialize<'de> for Str<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Some(Cow::Owned(v.to_owned()))))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Str(Some(Cow::Owned(v))))
            }
            other_types_are_default!(scalars bool seq map);
        }
        d.deserialize_any(V)
    }
}

/// A JSON boolean, `None` for any other type.
#[derive(Default)]
struct Bool(Option<bool>);

impl<'de> Deserialize<'de> for Bool {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Bool;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Bool(Some(v)))
            }
            other_types_are_default!(scalars str seq map);
        }
        d.deserialize_any(V)
    }
}

/// A JSON object read in one pass into a struct of lenient fields: unknown keys are skipped,
/// a repeated key's last value wins (as `serde_json::Value` has it), and a value of another
/// type than object leaves every field absent (`Obj(None)`).
macro_rules! lenient_object {
    ($(#[$m:meta])* struct $name:ident<'a> { $($field:ident: $ty:ty = $key:literal,)* }) => {
        $(#[$m])*
        #[derive(Default)]
        struct $name<'a> {
            $($field: $ty,)*
            _borrow: std::marker::PhantomData<&'a str>,
        }

        impl<'de> Deserialize<'de> for Obj<$name<'de>> {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = Obj<$name<'de>>;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str("any JSON value")
                    }
                    fn visit_map<A: MapAccess<'de>>(
                        self,
                        mut map: A,
                    ) -> Result<Self::Value, A::Error> {
                        let mut out = $name::default();
                        while let Some(Str(key)) = map.next_key::<Str<'de>>()? {
                            match key.as_deref() {
                                $(Some($key) => out.$field = map.next_value()?,)*
                                _ => {
                                    map.next_value::<IgnoredAny>()?;
                                }
                            }
                        }
                        Ok(Obj(Some(out)))
                    }
                    other_types_are_default!(scalars bool str seq);
                }
                d.deserialize_any(V)
            }
        }
    };
}

/// A lenient object field: `None` when absent or not an object.
struct Obj<T>(Option<T>);

impl<T> Default for Obj<T> {
    fn default() -> Self {
        Self(None)
    }
}

lenient_object! {
    /// The top level of a record: only the fields event history reads.
    struct RawRecord<'a> {
        event_time: Str<'a> = "eventTime",
        event_id: Str<'a> = "eventID",
        event_name: Str<'a> = "eventName",
        event_source: Str<'a> = "eventSource",
        aws_region: Str<'a> = "awsRegion",
        read_only: Bool = "readOnly",
        event_category: Str<'a> = "eventCategory",
        management_event: Bool = "managementEvent",
        event_type: Str<'a> = "eventType",
        resources: Resources<'a> = "resources",
        user_identity: Obj<RawIdentity<'a>> = "userIdentity",
        insight_details: Obj<RawInsight<'a>> = "insightDetails",
    }
}

lenient_object! {
    /// `userIdentity`.
    struct RawIdentity<'a> {
        identity_type: Str<'a> = "type",
        user_name: Str<'a> = "userName",
        arn: Str<'a> = "arn",
        access_key_id: Str<'a> = "accessKeyId",
        principal_id: Str<'a> = "principalId",
        invoked_by: Str<'a> = "invokedBy",
    }
}

lenient_object! {
    /// `insightDetails`.
    struct RawInsight<'a> {
        event_name: Str<'a> = "eventName",
        event_source: Str<'a> = "eventSource",
    }
}

lenient_object! {
    /// One element of `resources`.
    struct RawResource<'a> {
        resource_type: Str<'a> = "type",
        arn: Str<'a> = "ARN",
    }
}

/// `resources`: the elements that are objects with a `type` or an `ARN` string; empty when
/// absent or not an array.
#[derive(Default)]
struct Resources<'a>(Vec<ResourcePair<'a>>);

/// One resource's (`type`, `ARN`), borrowed where it can be.
type ResourcePair<'a> = (Option<Cow<'a, str>>, Option<Cow<'a, str>>);

impl<'de> Deserialize<'de> for Resources<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Resources<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(Obj(r)) = seq.next_element::<Obj<RawResource<'de>>>()? {
                    if let Some(r) = r {
                        if r.resource_type.0.is_some() || r.arn.0.is_some() {
                            out.push((r.resource_type.0, r.arn.0));
                        }
                    }
                }
                Ok(Resources(out))
            }
            other_types_are_default!(scalars bool str map);
        }
        d.deserialize_any(V)
    }
}

/// Why a record is not in event history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotKept {
    /// A data, network-activity or unknown-category event: never in event history.
    NotManagement,
    /// Not a JSON object, or without a usable `eventTime`, `eventID` or `awsRegion`.
    Unusable(&'static str),
}

/// [`HistoryEntry`] borrowing from the record's bytes where it can: what `append` indexes
/// (no allocation per field).
pub(crate) struct Parsed<'a> {
    pub(crate) category: HistoryCategory,
    pub(crate) region: Cow<'a, str>,
    pub(crate) event_time: i64,
    pub(crate) event_id: Cow<'a, str>,
    event_name: Option<Cow<'a, str>>,
    event_source: Option<Cow<'a, str>>,
    read_only: Option<bool>,
    username: Option<Cow<'a, str>>,
    access_key_id: Option<Cow<'a, str>>,
    resources: Vec<ResourcePair<'a>>,
}

impl<'a> Parsed<'a> {
    /// As [`HistoryEntry::attribute_values`]. At most [`MAX_INDEXED_RESOURCES`] resources are
    /// looked at, so the duplicate check (linear in a list of at most ~200 values) stays cheap
    /// whatever the record holds.
    pub(crate) fn attribute_values(&self) -> Vec<(AttributeKey, &str)> {
        struct Values<'e>(Vec<(AttributeKey, &'e str)>);
        impl<'e> Values<'e> {
            fn push(&mut self, k: AttributeKey, v: &'e str) {
                if !v.is_empty()
                    && v.len() <= MAX_INDEXED_VALUE_BYTES
                    && !self.0.iter().any(|(ok, ov)| *ok == k && *ov == v)
                {
                    self.0.push((k, v));
                }
            }
        }
        let mut values = Values(Vec::with_capacity(10));
        let out = &mut values;
        out.push(AttributeKey::EventId, &self.event_id);
        if let Some(v) = &self.event_name {
            out.push(AttributeKey::EventName, v);
        }
        if let Some(v) = self.read_only {
            out.push(AttributeKey::ReadOnly, bool_str(v));
        }
        if let Some(v) = &self.username {
            out.push(AttributeKey::Username, v);
        }
        if let Some(v) = &self.event_source {
            out.push(AttributeKey::EventSource, v);
        }
        if let Some(v) = &self.access_key_id {
            out.push(AttributeKey::AccessKeyId, v);
        }
        for (t, arn) in self.resources.iter().take(MAX_INDEXED_RESOURCES) {
            if let Some(t) = t {
                out.push(AttributeKey::ResourceType, t);
            }
            if let Some(arn) = arn {
                out.push(AttributeKey::ResourceName, arn);
                out.push(AttributeKey::ResourceName, arn_short_name(arn));
            }
        }
        values.0
    }

    /// As [`HistoryEntry::matches`].
    pub(crate) fn matches(&self, key: AttributeKey, value: &str) -> bool {
        self.attribute_values()
            .iter()
            .any(|(k, v)| *k == key && *v == value)
    }

    fn into_owned(self) -> HistoryEntry {
        let own = |v: Option<Cow<'_, str>>| v.map(Cow::into_owned);
        HistoryEntry {
            category: self.category,
            region: self.region.into_owned(),
            event_time: self.event_time,
            event_id: self.event_id.into_owned(),
            event_name: own(self.event_name),
            event_source: own(self.event_source),
            read_only: self.read_only,
            username: own(self.username),
            access_key_id: own(self.access_key_id),
            resources: self
                .resources
                .into_iter()
                .map(|(t, arn)| LookupResource {
                    resource_type: own(t),
                    resource_name: own(arn),
                })
                .collect(),
        }
    }
}

/// Reads a record's lookup attributes, or says why event history does not keep it.
pub fn extract(raw: &[u8]) -> Result<HistoryEntry, NotKept> {
    parse(raw).map(Parsed::into_owned)
}

/// [`extract`] for a record the event parser read: the entry is built from its fields
/// (`raw` is read only for an Insights event's `insightDetails`).
pub fn entry_from_fields(
    f: &trailpipe_event::RoutingFields,
    raw: &[u8],
) -> Result<HistoryEntry, NotKept> {
    from_fields(f, raw).map(Parsed::into_owned)
}

/// [`extract`] without copying the values out of `raw`.
pub(crate) fn parse(raw: &[u8]) -> Result<Parsed<'_>, NotKept> {
    let text = std::str::from_utf8(raw).map_err(|_| NotKept::Unusable("invalid UTF-8"))?;
    let r = match serde_json::from_str::<Obj<RawRecord<'_>>>(text) {
        Ok(Obj(Some(r))) => r,
        _ => return Err(NotKept::Unusable("not a JSON object")),
    };
    let category = match r.event_category.0.as_deref() {
        Some("Management") => HistoryCategory::Management,
        Some("Insight") => HistoryCategory::Insight,
        Some(_) => return Err(NotKept::NotManagement),
        None if r.event_type.0.as_deref() == Some("AwsCloudTrailInsight") => {
            HistoryCategory::Insight
        }
        None if r.management_event.0 == Some(false) => return Err(NotKept::NotManagement),
        None => HistoryCategory::Management,
    };
    let event_time = r
        .event_time
        .0
        .and_then(|t| parse_event_time(&t))
        .ok_or(NotKept::Unusable("eventTime"))?;
    let event_id = r
        .event_id
        .0
        .filter(|s| !s.is_empty())
        .ok_or(NotKept::Unusable("eventID"))?;
    let region = r
        .aws_region
        .0
        .filter(|s| usable_region(s))
        .ok_or(NotKept::Unusable("awsRegion"))?;
    let (mut event_name, mut event_source) = (r.event_name.0, r.event_source.0);
    if category == HistoryCategory::Insight {
        if let Obj(Some(d)) = r.insight_details {
            event_name = event_name.or(d.event_name.0);
            event_source = event_source.or(d.event_source.0);
        }
    }
    let (username, access_key_id) = match r.user_identity {
        Obj(Some(id)) => (
            derive_username(Identity {
                identity_type: id.identity_type.0,
                user_name: id.user_name.0,
                arn: id.arn.0,
                principal_id: id.principal_id.0,
                invoked_by: id.invoked_by.0,
            }),
            id.access_key_id.0.filter(|k| !k.is_empty()),
        ),
        Obj(None) => (None, None),
    };
    Ok(Parsed {
        category,
        region,
        event_time,
        event_id,
        event_name,
        event_source,
        read_only: r.read_only.0,
        username,
        access_key_id,
        resources: r.resources.0,
    })
}

/// [`parse`] from the fields the event parser already read (the pipeline's records), without
/// parsing `raw` again: the same entry, field for field, for a record that passed the event
/// parser (which refuses the wrong types this module's leniency reads as absent). Insights carry
/// their name and source in `insightDetails`, which the event parser does not read: those are
/// parsed from `raw`.
pub(crate) fn from_fields<'a>(
    f: &'a trailpipe_event::RoutingFields,
    raw: &'a [u8],
) -> Result<Parsed<'a>, NotKept> {
    let category = match f.event_category {
        trailpipe_event::EventCategory::Management => HistoryCategory::Management,
        trailpipe_event::EventCategory::Insight => return parse(raw),
        _ => return Err(NotKept::NotManagement),
    };
    let b = |v: &'a Option<trailpipe_event::FieldStr>| v.as_deref().map(Cow::Borrowed);
    let event_id = Some(&*f.event_id)
        .filter(|s| !s.is_empty())
        .ok_or(NotKept::Unusable("eventID"))?;
    let region = Some(&*f.aws_region)
        .filter(|s| usable_region(s))
        .ok_or(NotKept::Unusable("awsRegion"))?;
    let id = &f.user_identity;
    Ok(Parsed {
        category,
        region: Cow::Borrowed(region),
        event_time: f.event_time,
        event_id: Cow::Borrowed(event_id),
        event_name: b(&f.event_name),
        event_source: b(&f.event_source),
        read_only: f.read_only,
        username: derive_username(Identity {
            identity_type: b(&id.identity_type),
            user_name: b(&id.user_name),
            arn: b(&id.arn),
            principal_id: b(&id.principal_id),
            invoked_by: b(&id.invoked_by),
        }),
        access_key_id: b(&id.access_key_id).filter(|k| !k.is_empty()),
        resources: f
            .resources
            .iter()
            .map(|r| (b(&r.resource_type), b(&r.arn)))
            .collect(),
    })
}

/// Whether an `awsRegion` value can key the store (both paths apply this one rule).
fn usable_region(s: &str) -> bool {
    !s.is_empty() && s.len() <= 255
}

/// The `userIdentity` values the username is derived from.
struct Identity<'a> {
    identity_type: Option<Cow<'a, str>>,
    user_name: Option<Cow<'a, str>>,
    arn: Option<Cow<'a, str>>,
    principal_id: Option<Cow<'a, str>>,
    invoked_by: Option<Cow<'a, str>>,
}

/// The username, as the module documentation says.
fn derive_username(id: Identity<'_>) -> Option<Cow<'_, str>> {
    let last_segment = || -> Option<Cow<'_, str>> {
        let arn = id.arn.as_ref()?;
        let seg = arn.rsplit_once('/')?.1;
        if seg.is_empty() {
            return None;
        }
        Some(match arn {
            Cow::Borrowed(a) => Cow::Borrowed(&a[a.len() - seg.len()..]),
            Cow::Owned(_) => Cow::Owned(seg.to_owned()),
        })
    };
    match id.identity_type.as_deref() {
        Some("Root") => Some(Cow::Borrowed("root")),
        Some("AssumedRole") | Some("FederatedUser") => last_segment(),
        Some("AWSService") => id.invoked_by.clone(),
        _ => id
            .user_name
            .clone()
            .filter(|u| !u.is_empty())
            .or_else(last_segment)
            .or_else(|| id.principal_id.clone()),
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

    /// A record naming 60,000 resources (a 1 MiB record can) indexes the first
    /// `MAX_INDEXED_RESOURCES` of them, and keeps them all in the entry.
    #[test]
    fn only_the_first_resources_are_indexed() {
        let resources: Vec<String> = (0..60_000)
            .map(|i| format!(r#"{{"ARN":"arn:aws:s3:::b{i}","type":"AWS::S3::Bucket"}}"#))
            .collect();
        let raw = format!(
            r#"{{"eventTime":"2026-01-01T00:00:00Z","eventID":"e1","awsRegion":"us-east-1","eventName":"X","resources":[{}]}}"#,
            resources.join(",")
        );
        let e = extract(raw.as_bytes()).expect("kept");
        assert_eq!(e.resources.len(), 60_000);
        let last = MAX_INDEXED_RESOURCES - 1;
        assert!(e.matches(AttributeKey::ResourceName, &format!("b{last}")));
        assert!(!e.matches(AttributeKey::ResourceName, &format!("b{}", last + 1)));
        let resource_names = e
            .attribute_values()
            .iter()
            .filter(|(k, _)| *k == AttributeKey::ResourceName)
            .count();
        assert_eq!(resource_names, 2 * MAX_INDEXED_RESOURCES);
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

    #[test]
    fn one_pass_parse_is_lenient_per_field_and_last_key_wins() {
        // Escapes are decoded, a repeated key keeps its last value (as serde_json::Value does),
        // a resource that is not an object is skipped alone, and nested junk is skipped.
        let raw = br#"{"eventTime":"2026-01-01T00:00:00Z","eventID":"e\u0031","awsRegion":"us-east-1",
            "eventName":"First","eventName":"Second","requestParameters":{"a":[1,{"b":"\"}"}]},
            "userIdentity":{"type":"IAMUser","userName":7,"arn":"arn:aws:iam::1:user/p\/q","type":"IAMUser"},
            "resources":[5,{"ARN":"arn:aws:s3:::b","type":null},"x",{"type":"AWS::S3::Bucket"}],
            "readOnly":false}"#;
        let e = extract(raw).expect("kept");
        assert_eq!(e.event_id, "e1");
        assert_eq!(e.event_name.as_deref(), Some("Second"));
        assert_eq!(e.username.as_deref(), Some("q"));
        assert_eq!(e.read_only, Some(false));
        assert_eq!(
            e.resources,
            vec![
                LookupResource {
                    resource_type: None,
                    resource_name: Some("arn:aws:s3:::b".into()),
                },
                LookupResource {
                    resource_type: Some("AWS::S3::Bucket".into()),
                    resource_name: None,
                },
            ]
        );
        let p = parse(raw).expect("kept");
        assert_eq!(
            p.attribute_values(),
            e.attribute_values()
                .iter()
                .map(|(k, v)| (*k, v.as_ref()))
                .collect::<Vec<_>>()
        );
        assert!(p.matches(AttributeKey::ResourceName, "b"));
        for bad in [&b"[1]"[..], b"\"x\"", b"{\"eventID\":", b"\xff"] {
            assert!(matches!(extract(bad), Err(NotKept::Unusable(_))));
        }
    }
}
