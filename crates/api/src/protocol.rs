//! The AWS JSON 1.1 framing CloudTrail uses: the operation from `X-Amz-Target`, the region from
//! the SigV4 credential scope, epoch-second timestamps, and the response envelope.
//!
//! Signatures are NOT verified: this API is meant for loopback or cluster-internal use (put it
//! behind a network policy or an authenticating proxy if it must be reachable from elsewhere).
//! The `Authorization` header is only read for its credential scope's region.

use axum::{
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde::{de::DeserializeOwned, Deserialize, Deserializer};
use time::OffsetDateTime;

use crate::ApiError;

/// `Content-Type` of every request and response body.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// `X-Amz-Target` prefix of every CloudTrail operation (`<prefix>.<Operation>`).
pub const TARGET_PREFIX: &str = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101";

/// The operations this API answers; anything else is `UnknownOperationException`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `ListPublicKeys`.
    ListPublicKeys,
    /// `DescribeTrails`.
    DescribeTrails,
    /// `GetTrail`.
    GetTrail,
    /// `GetTrailStatus`.
    GetTrailStatus,
    /// `ListTrails`.
    ListTrails,
    /// `GetEventSelectors`.
    GetEventSelectors,
    /// `PutEventSelectors`.
    PutEventSelectors,
    /// `GetInsightSelectors`.
    GetInsightSelectors,
    /// `LookupEvents`.
    LookupEvents,
    /// `StartLogging`.
    StartLogging,
    /// `StopLogging`.
    StopLogging,
    /// `AddTags`.
    AddTags,
    /// `RemoveTags`.
    RemoveTags,
    /// `ListTags`.
    ListTags,
}

impl Operation {
    /// Every supported operation, for lookups by name.
    pub const ALL: [Operation; 14] = [
        Self::ListPublicKeys,
        Self::DescribeTrails,
        Self::GetTrail,
        Self::GetTrailStatus,
        Self::ListTrails,
        Self::GetEventSelectors,
        Self::PutEventSelectors,
        Self::GetInsightSelectors,
        Self::LookupEvents,
        Self::StartLogging,
        Self::StopLogging,
        Self::AddTags,
        Self::RemoveTags,
        Self::ListTags,
    ];

    /// The operation's AWS name (the part of `X-Amz-Target` after the last `.`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::ListPublicKeys => "ListPublicKeys",
            Self::DescribeTrails => "DescribeTrails",
            Self::GetTrail => "GetTrail",
            Self::GetTrailStatus => "GetTrailStatus",
            Self::ListTrails => "ListTrails",
            Self::GetEventSelectors => "GetEventSelectors",
            Self::PutEventSelectors => "PutEventSelectors",
            Self::GetInsightSelectors => "GetInsightSelectors",
            Self::LookupEvents => "LookupEvents",
            Self::StartLogging => "StartLogging",
            Self::StopLogging => "StopLogging",
            Self::AddTags => "AddTags",
            Self::RemoveTags => "RemoveTags",
            Self::ListTags => "ListTags",
        }
    }

    /// Parses an `X-Amz-Target` value; `None` for another service or an unknown operation.
    pub fn from_target(target: &str) -> Option<Operation> {
        let op = target.strip_prefix(TARGET_PREFIX)?.strip_prefix('.')?;
        Self::ALL.into_iter().find(|o| o.name() == op)
    }
}

/// The operation named by the request's `X-Amz-Target` header.
pub(crate) fn operation(headers: &HeaderMap) -> Result<Operation, ApiError> {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::UnknownOperation("missing X-Amz-Target header".into()))?;
    Operation::from_target(target)
        .ok_or_else(|| ApiError::UnknownOperation(format!("unknown operation {target:?}")))
}

/// The region of a SigV4 `Authorization` header's credential scope
/// (`AWS4-HMAC-SHA256 Credential=AKID/20261121/us-east-1/cloudtrail/aws4_request, ...`);
/// `None` when the header is absent or has no well-formed scope.
pub fn region_from_authorization(authorization: &str) -> Option<&str> {
    let credential = authorization
        .split([' ', ','])
        .find_map(|part| part.trim().strip_prefix("Credential="))?;
    let mut scope = credential.split('/');
    let region = scope.nth(2)?;
    let well_formed = !region.is_empty()
        && region.len() <= 64
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    well_formed.then_some(region)
}

/// The request's region: the SigV4 credential scope's, else `default`.
pub(crate) fn request_region(headers: &HeaderMap, default: &str) -> String {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(region_from_authorization)
        .unwrap_or(default)
        .to_owned()
}

/// A fresh `x-amzn-RequestId` (a random UUID, as AWS sends).
pub(crate) fn request_id() -> HeaderValue {
    HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
        .expect("a hyphenated UUID is a valid header value")
}

/// Parses a request body into an operation's input shape. An empty body is `{}` (botocore
/// sends `{}` for no parameters; some clients send nothing). Unknown members are ignored, as AWS
/// does.
pub(crate) fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| ApiError::Serialization(e.to_string()))
}

/// A 200 response with a JSON body in the 1.1 content type.
pub(crate) fn ok_json(body: &serde_json::Value) -> Response {
    let mut response = (StatusCode::OK, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    headers.insert("x-amzn-RequestId", request_id());
    response
}

/// Seconds since the epoch as a JSON float with millisecond precision, as CloudTrail sends them
/// (`1453076702.0`, `1454022144.869`).
pub fn epoch_seconds(t: OffsetDateTime) -> serde_json::Value {
    let millis = t.unix_timestamp_nanos().div_euclid(1_000_000);
    // Millisecond counts below 2^53 are exact in f64 (until the year 285,000), and the division
    // by 1000 rounds to the nearest representable value, which prints back as the same decimal.
    serde_json::Value::from(millis as f64 / 1000.0)
}

/// The deprecated string forms of GetTrailStatus (`"2016-01-28T23:02:24Z"`); `""` when unset,
/// as CloudTrail does.
pub(crate) fn legacy_time_string(t: Option<OffsetDateTime>) -> String {
    t.map(trailpipe_event::format_time).unwrap_or_default()
}

/// Serde helper for optional epoch-second timestamps (number, integer or float) in requests.
pub(crate) mod epoch_option {
    use super::*;

    /// Reads `null`/absent as `None`, a number of seconds as a UTC time.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<OffsetDateTime>, D::Error> {
        let Some(secs) = Option::<f64>::deserialize(d)? else {
            return Ok(None);
        };
        from_secs(secs)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("timestamp {secs} is out of range")))
    }

    /// Epoch seconds (possibly fractional) to a UTC time, `None` when not finite or out of range.
    pub fn from_secs(secs: f64) -> Option<OffsetDateTime> {
        if !secs.is_finite() || secs.abs() > 1e13 {
            return None;
        }
        // Round to whole microseconds: an f64 near today's epoch carries ~0.2 µs of error, so
        // `1454022144.869` would otherwise become ...868999936 ns and print back as `.868`.
        let micros = (secs * 1e6).round() as i128;
        OffsetDateTime::from_unix_timestamp_nanos(micros * 1000).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_is_read_from_the_credential_scope() {
        let h = "AWS4-HMAC-SHA256 Credential=testing/20261121/eu-west-3/cloudtrail/aws4_request, \
                 SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=abc";
        assert_eq!(region_from_authorization(h), Some("eu-west-3"));
        assert_eq!(
            region_from_authorization("AWS4-HMAC-SHA256 Signature=abc"),
            None
        );
        assert_eq!(
            region_from_authorization("AWS4-HMAC-SHA256 Credential=a/b/EU WEST/c/d"),
            None
        );
        assert_eq!(region_from_authorization("Credential=a/20261121"), None);
    }

    #[test]
    fn targets_parse_only_with_the_cloudtrail_prefix() {
        assert_eq!(
            Operation::from_target(&format!("{TARGET_PREFIX}.GetTrailStatus")),
            Some(Operation::GetTrailStatus)
        );
        assert_eq!(Operation::from_target("Logs_20140328.GetTrailStatus"), None);
        assert_eq!(
            Operation::from_target(&format!("{TARGET_PREFIX}.CreateTrail")),
            None
        );
        assert_eq!(
            Operation::from_target(&format!("{TARGET_PREFIX}GetTrail")),
            None
        );
    }

    #[test]
    fn epoch_seconds_round_trip_whole_and_fractional() {
        let whole = OffsetDateTime::from_unix_timestamp(1_453_076_702).unwrap();
        assert_eq!(epoch_seconds(whole).to_string(), "1453076702.0");
        let frac = epoch_option::from_secs(1_454_022_144.869).unwrap();
        assert_eq!(epoch_seconds(frac).to_string(), "1454022144.869");
        assert_eq!(epoch_option::from_secs(f64::NAN), None);
        assert_eq!(epoch_option::from_secs(1e300), None);
    }

    #[test]
    fn legacy_strings_are_utc_seconds_or_empty() {
        let t = epoch_option::from_secs(1_454_022_144.869).unwrap();
        assert_eq!(legacy_time_string(Some(t)), "2016-01-28T23:02:24Z");
        assert_eq!(legacy_time_string(None), "");
    }

    #[test]
    fn empty_body_is_an_empty_object() {
        let v: serde_json::Value = parse_body(b"  ").unwrap();
        assert_eq!(v, serde_json::json!({}));
        let e = parse_body::<serde_json::Value>(b"{nope").unwrap_err();
        assert_eq!(e.error_type(), "SerializationException");
    }
}
