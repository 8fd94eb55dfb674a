//! LookupEvents requests as AWS defines them: the JSON 1.1 body, validation, and the errors
//! (named as AWS names them) a bad request gets.
//!
//! Decisions where AWS documents no behaviour: a missing, unknown or empty attribute key/value,
//! a value over 2000 weighted characters, or a `ReadOnly` value other than `true`/`false` is an
//! `InvalidLookupAttributesException`; a body that is not JSON or has wrong types is a
//! `SerializationException`; unknown top-level members are ignored, as AWS's JSON protocol does.

use serde::Deserialize;

use crate::HistoryError;

/// The eight attributes LookupEvents can filter by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AttributeKey {
    /// `eventID`.
    EventId,
    /// `eventName`.
    EventName,
    /// `readOnly` as `true` / `false`.
    ReadOnly,
    /// The derived user name (see `record`).
    Username,
    /// `resources[].type`.
    ResourceType,
    /// `resources[].ARN` (or its short name).
    ResourceName,
    /// `eventSource`.
    EventSource,
    /// `userIdentity.accessKeyId`.
    AccessKeyId,
}

impl AttributeKey {
    /// All eight, in AWS's documentation order.
    pub const ALL: [AttributeKey; 8] = [
        Self::EventId,
        Self::EventName,
        Self::ReadOnly,
        Self::Username,
        Self::ResourceType,
        Self::ResourceName,
        Self::EventSource,
        Self::AccessKeyId,
    ];

    /// AWS's spelling (`AttributeKey` in requests).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EventId => "EventId",
            Self::EventName => "EventName",
            Self::ReadOnly => "ReadOnly",
            Self::Username => "Username",
            Self::ResourceType => "ResourceType",
            Self::ResourceName => "ResourceName",
            Self::EventSource => "EventSource",
            Self::AccessKeyId => "AccessKeyId",
        }
    }

    /// Parses AWS's spelling (case-sensitive, as AWS).
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// One-byte tag used in index keys; never change a value (it is on disk).
    pub(crate) fn tag(self) -> u8 {
        match self {
            Self::EventId => 1,
            Self::EventName => 2,
            Self::ReadOnly => 3,
            Self::Username => 4,
            Self::ResourceType => 5,
            Self::ResourceName => 6,
            Self::EventSource => 7,
            Self::AccessKeyId => 8,
        }
    }
}

/// Largest page, and the default.
pub const MAX_RESULTS: i64 = 50;

/// One LookupEvents call, scoped to one region (all accounts).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LookupRequest {
    /// The region whose event history is searched (the endpoint's region).
    pub region: String,
    /// At most one attribute, with its value.
    pub attribute: Option<(AttributeKey, String)>,
    /// Inclusive lower bound, seconds since the epoch (fractions allowed, as AWS).
    pub start: Option<f64>,
    /// Inclusive upper bound, seconds since the epoch. Default: no bound (AWS: now; events are
    /// not in the future, save for clock skew, which this keeps visible).
    pub end: Option<f64>,
    /// `EventCategory`: only `insight` is valid; `None` = management events.
    pub category: Option<String>,
    /// Page size, 1–50, default 50.
    pub max_results: Option<i64>,
    /// Token from the previous page; only valid with the same parameters.
    pub next_token: Option<String>,
}

/// A rejected LookupEvents request, or a failure of the store behind it.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// More than one attribute, or a bad attribute key or value.
    #[error("{0}")]
    InvalidLookupAttributes(String),
    /// StartTime after EndTime, or a time that is not a finite number.
    #[error("{0}")]
    InvalidTimeRange(String),
    /// An EventCategory other than `insight`.
    #[error("{0}")]
    InvalidEventCategory(String),
    /// MaxResults outside 1–50.
    #[error("{0}")]
    InvalidMaxResults(String),
    /// A token that was not issued by this store, or for other parameters.
    #[error("{0}")]
    InvalidNextToken(String),
    /// A body that is not JSON, or members of the wrong type.
    #[error("{0}")]
    Serialization(String),
    /// The store failed; not the caller's fault.
    #[error("internal failure: {0}")]
    Internal(#[from] HistoryError),
}

impl LookupError {
    /// The error's name as AWS returns it (`__type` in JSON 1.1 error bodies).
    pub fn aws_error_type(&self) -> &'static str {
        match self {
            Self::InvalidLookupAttributes(_) => "InvalidLookupAttributesException",
            Self::InvalidTimeRange(_) => "InvalidTimeRangeException",
            Self::InvalidEventCategory(_) => "InvalidEventCategoryException",
            Self::InvalidMaxResults(_) => "InvalidMaxResultsException",
            Self::InvalidNextToken(_) => "InvalidNextTokenException",
            Self::Serialization(_) => "SerializationException",
            Self::Internal(_) => "InternalFailure",
        }
    }

    /// HTTP status: 400 for the caller's mistakes, 500 for the store's.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Internal(_) => 500,
            _ => 400,
        }
    }

    /// The JSON 1.1 error body: `{"__type":"...","message":"..."}`.
    pub fn to_aws_json(&self) -> String {
        serde_json::json!({"__type": self.aws_error_type(), "message": self.to_string()})
            .to_string()
    }
}

#[derive(Deserialize)]
struct Body {
    #[serde(rename = "LookupAttributes", default)]
    lookup_attributes: Option<Vec<BodyAttribute>>,
    #[serde(rename = "StartTime", default)]
    start_time: Option<f64>,
    #[serde(rename = "EndTime", default)]
    end_time: Option<f64>,
    #[serde(rename = "EventCategory", default)]
    event_category: Option<String>,
    #[serde(rename = "MaxResults", default)]
    max_results: Option<i64>,
    #[serde(rename = "NextToken", default)]
    next_token: Option<String>,
}

#[derive(Deserialize)]
struct BodyAttribute {
    #[serde(rename = "AttributeKey", default)]
    key: Option<String>,
    #[serde(rename = "AttributeValue", default)]
    value: Option<String>,
}

/// AWS's length of an attribute value: `_`, space, `,` and newline count as two characters.
pub fn weighted_len(value: &str) -> usize {
    value
        .chars()
        .map(|c| {
            if matches!(c, '_' | ' ' | ',' | '\n') {
                2
            } else {
                1
            }
        })
        .sum()
}

impl LookupRequest {
    /// Parses an AWS JSON 1.1 LookupEvents body for `region` and validates it.
    pub fn from_json(body: &[u8], region: &str) -> Result<Self, LookupError> {
        let body: Body = if body.iter().all(u8::is_ascii_whitespace) {
            serde_json::from_slice(b"{}").expect("an empty object is a valid body")
        } else {
            serde_json::from_slice(body).map_err(|e| LookupError::Serialization(e.to_string()))?
        };
        let attrs = body.lookup_attributes.unwrap_or_default();
        if attrs.len() > 1 {
            return Err(LookupError::InvalidLookupAttributes(
                "You cannot specify more than one lookup attribute.".into(),
            ));
        }
        let attribute = match attrs.into_iter().next() {
            None => None,
            Some(a) => {
                let key = a.key.ok_or_else(|| {
                    LookupError::InvalidLookupAttributes("AttributeKey is required.".into())
                })?;
                let key = AttributeKey::from_name(&key).ok_or_else(|| {
                    LookupError::InvalidLookupAttributes(format!(
                        "Value '{key}' at 'lookupAttributes.1.member.attributeKey' failed to satisfy constraint: \
                         Member must satisfy enum value set: [EventId, EventName, ReadOnly, Username, \
                         ResourceType, ResourceName, EventSource, AccessKeyId]"
                    ))
                })?;
                let value = a.value.ok_or_else(|| {
                    LookupError::InvalidLookupAttributes("AttributeValue is required.".into())
                })?;
                Some((key, value))
            }
        };
        let req = Self {
            region: region.to_owned(),
            attribute,
            start: body.start_time,
            end: body.end_time,
            category: body.event_category,
            max_results: body.max_results,
            next_token: body.next_token,
        };
        req.validate()?;
        Ok(req)
    }

    /// Checks everything but the token (which needs the store); [`crate::HistoryStore::lookup`]
    /// calls it too, for requests built in code.
    pub fn validate(&self) -> Result<(), LookupError> {
        if let Some((key, value)) = &self.attribute {
            let len = weighted_len(value);
            if !(1..=2000).contains(&len) {
                return Err(LookupError::InvalidLookupAttributes(format!(
                    "Value at 'lookupAttributes.1.member.attributeValue' failed to satisfy constraint: \
                     Member must have length between 1 and 2000 (was {len})"
                )));
            }
            if *key == AttributeKey::ReadOnly && value != "true" && value != "false" {
                return Err(LookupError::InvalidLookupAttributes(format!(
                    "ReadOnly must be 'true' or 'false', not '{value}'"
                )));
            }
        }
        if let Some(c) = &self.category {
            if c != "insight" {
                return Err(LookupError::InvalidEventCategory(format!(
                    "Value '{c}' at 'eventCategory' failed to satisfy constraint: Member must satisfy enum value set: [insight]"
                )));
            }
        }
        if let Some(m) = self.max_results {
            if !(1..=MAX_RESULTS).contains(&m) {
                return Err(LookupError::InvalidMaxResults(format!(
                    "MaxResults must be between 1 and {MAX_RESULTS} (was {m})"
                )));
            }
        }
        for (name, t) in [("StartTime", self.start), ("EndTime", self.end)] {
            if t.is_some_and(|t| !t.is_finite()) {
                return Err(LookupError::InvalidTimeRange(format!(
                    "{name} is not a valid time"
                )));
            }
        }
        if let (Some(s), Some(e)) = (self.start, self.end) {
            if s > e {
                return Err(LookupError::InvalidTimeRange(
                    "Start time must be before or the same as end time.".into(),
                ));
            }
        }
        Ok(())
    }

    /// The integral seconds `[start, end]` the request covers (event times are whole seconds).
    pub(crate) fn seconds(&self) -> (i64, i64) {
        let start = self.start.map_or(i64::MIN, |s| s.ceil() as i64);
        let end = self.end.map_or(i64::MAX, |e| e.floor() as i64);
        (start, end)
    }

    /// Bytes identifying every parameter a NextToken is bound to (all but MaxResults and the
    /// token itself: a client may change its page size between pages).
    pub(crate) fn fingerprint(&self) -> Vec<u8> {
        serde_json::to_vec(&(
            &self.region,
            self.attribute.as_ref().map(|(k, v)| (k.as_str(), v)),
            self.start.map(f64::to_bits),
            self.end.map(f64::to_bits),
            &self.category,
        ))
        .expect("tuples of strings and integers serialise")
    }
}
