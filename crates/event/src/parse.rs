//! One pass over a Kafka message or file line: split a `{"Records":[...]}` envelope, validate each
//! record and pull out its [`RoutingFields`] without building a JSON tree.
//!
//! Every field is first captured as a borrowed [`RawValue`] (a slice of the input), then read with
//! its expected type, so a wrong type is reported with the field's name rather than as a generic
//! deserialisation error.

use std::borrow::Cow;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::{
    fields::{EventCategory, FieldStr, Resource, RoutingFields, UserIdentity},
    reject::{RejectReason, Rejected},
    Event,
};

/// Default largest accepted record, in bytes (CloudTrail caps records at 256 KB; we allow more).
pub const DEFAULT_MAX_RECORD_BYTES: usize = 1024 * 1024;
/// Default largest message parsed, in bytes: a `{"Records":[...]}` envelope holding a whole
/// CloudTrail log file (CloudTrail's files are a few MiB at most).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
/// Default most records in one envelope.
pub const DEFAULT_MAX_ENVELOPE_RECORDS: usize = 100_000;

/// What [`parse_message`] accepts, checked before the work they bound: a message's size before
/// it is parsed at all, an envelope's record count while it is split (so a small compressed
/// message that inflates into a million records costs neither the parse nor the memory).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseLimits {
    /// Largest record (alone, or inside an envelope).
    pub max_record_bytes: usize,
    /// Largest message (record or envelope), checked before parsing.
    pub max_message_bytes: usize,
    /// Most records in one envelope.
    pub max_envelope_records: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        Self {
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            max_envelope_records: DEFAULT_MAX_ENVELOPE_RECORDS,
        }
    }
}

impl ParseLimits {
    /// The defaults with another record limit.
    pub fn with_max_record_bytes(max_record_bytes: usize) -> Self {
        Self {
            max_record_bytes,
            ..Self::default()
        }
    }
}

/// The outcome for one record of a message.
pub type Parsed = Result<Event, Rejected>;

#[derive(Deserialize)]
struct RawRecord<'a> {
    #[serde(rename = "Records", borrow, default)]
    records: Option<&'a RawValue>,
    #[serde(rename = "eventTime", borrow, default)]
    event_time: Option<&'a RawValue>,
    #[serde(rename = "eventID", borrow, default)]
    event_id: Option<&'a RawValue>,
    #[serde(rename = "eventSource", borrow, default)]
    event_source: Option<&'a RawValue>,
    #[serde(rename = "eventName", borrow, default)]
    event_name: Option<&'a RawValue>,
    #[serde(rename = "awsRegion", borrow, default)]
    aws_region: Option<&'a RawValue>,
    #[serde(rename = "recipientAccountId", borrow, default)]
    recipient_account_id: Option<&'a RawValue>,
    #[serde(rename = "readOnly", borrow, default)]
    read_only: Option<&'a RawValue>,
    #[serde(rename = "eventCategory", borrow, default)]
    event_category: Option<&'a RawValue>,
    #[serde(rename = "managementEvent", borrow, default)]
    management_event: Option<&'a RawValue>,
    #[serde(rename = "eventType", borrow, default)]
    event_type: Option<&'a RawValue>,
    #[serde(rename = "resources", borrow, default)]
    resources: Option<Nested<Vec<Nested<RawResource<'a>>>>>,
    #[serde(rename = "userIdentity", borrow, default)]
    user_identity: Option<Nested<RawIdentity<'a>>>,
    #[serde(rename = "errorCode", borrow, default)]
    error_code: Option<&'a RawValue>,
    #[serde(rename = "sharedEventID", borrow, default)]
    shared_event_id: Option<&'a RawValue>,
    #[serde(rename = "sessionCredentialFromConsole", borrow, default)]
    session_credential_from_console: Option<&'a RawValue>,
    #[serde(rename = "vpcEndpointId", borrow, default)]
    vpc_endpoint_id: Option<&'a RawValue>,
    #[serde(rename = "userAgent", borrow, default)]
    user_agent: Option<&'a RawValue>,
    #[serde(rename = "sourceIPAddress", borrow, default)]
    source_ip_address: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct RawIdentity<'a> {
    #[serde(rename = "type", borrow, default)]
    identity_type: Option<&'a RawValue>,
    #[serde(rename = "userName", borrow, default)]
    user_name: Option<&'a RawValue>,
    #[serde(borrow, default)]
    arn: Option<&'a RawValue>,
    #[serde(rename = "accountId", borrow, default)]
    account_id: Option<&'a RawValue>,
    #[serde(rename = "accessKeyId", borrow, default)]
    access_key_id: Option<&'a RawValue>,
    #[serde(rename = "principalId", borrow, default)]
    principal_id: Option<&'a RawValue>,
    #[serde(rename = "invokedBy", borrow, default)]
    invoked_by: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct RawResource<'a> {
    #[serde(rename = "type", borrow, default)]
    resource_type: Option<&'a RawValue>,
    #[serde(rename = "ARN", borrow, default)]
    arn: Option<&'a RawValue>,
}

/// A nested object or array read in the same pass as the record around it (not captured raw
/// and parsed a second time), or — when the value has another JSON type — that type, so the
/// rejection can name it. `null` never reaches it: an `Option` around it reads `null` as absent.
enum Nested<T> {
    /// The value, of the expected kind.
    Value(T),
    /// The JSON type found instead ("a string", "a number", ...).
    Other(&'static str),
}

/// Whether a [`Nested`] value is expected to be a JSON object (else an array).
trait Shape {
    const OBJECT: bool;
}

impl Shape for RawIdentity<'_> {
    const OBJECT: bool = true;
}

impl Shape for RawResource<'_> {
    const OBJECT: bool = true;
}

impl<T> Shape for Vec<T> {
    const OBJECT: bool = false;
}

impl<'de, T: Deserialize<'de> + Shape> Deserialize<'de> for Nested<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{
            value::{MapAccessDeserializer, SeqAccessDeserializer},
            IgnoredAny, MapAccess, SeqAccess, Visitor,
        };
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de> + Shape> Visitor<'de> for V<T> {
            type Value = Nested<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                if T::OBJECT {
                    return T::deserialize(MapAccessDeserializer::new(map)).map(Nested::Value);
                }
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Nested::Other("an object"))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                if !T::OBJECT {
                    return T::deserialize(SeqAccessDeserializer::new(seq)).map(Nested::Value);
                }
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Nested::Other("an array"))
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Nested::Other("a string"))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Nested::Other("a boolean"))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Nested::Other("a number"))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Nested::Other("a number"))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Nested::Other("a number"))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Nested::Other("null"))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// Parses one message (a single record, or a `{"Records":[...]}` envelope) into `out`, one entry
/// per record. The message is never dropped: if it cannot be split, or breaks one of `limits`
/// (checked before the work it bounds), it becomes one [`Rejected`].
pub fn parse_message(message: &Bytes, limits: &ParseLimits, out: &mut Vec<Parsed>) {
    let max_record_bytes = limits.max_record_bytes;
    let reject = |reason| Rejected {
        raw: message.clone(),
        reason,
        envelope_index: None,
    };
    if message.len() > limits.max_message_bytes {
        out.push(Err(reject(RejectReason::MessageTooLarge {
            bytes: message.len(),
            limit: limits.max_message_bytes,
        })));
        return;
    }
    let text = match std::str::from_utf8(message) {
        Ok(t) => t,
        Err(e) => {
            out.push(Err(reject(RejectReason::InvalidUtf8 {
                valid_up_to: e.valid_up_to(),
            })));
            return;
        }
    };
    if let Err(found) = check_object(text) {
        out.push(Err(reject(found)));
        return;
    }
    let top: RawRecord<'_> = match serde_json::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            out.push(Err(reject(RejectReason::NotJson(e.to_string()))));
            return;
        }
    };
    match top.records {
        None => {
            if message.len() > max_record_bytes {
                out.push(Err(reject(RejectReason::TooLarge {
                    bytes: message.len(),
                    limit: max_record_bytes,
                })));
                return;
            }
            out.push(
                extract(&top)
                    .map(|fields| Event {
                        raw: message.clone(),
                        fields,
                    })
                    .map_err(reject),
            );
        }
        Some(records) => {
            let records = match envelope_records(records, limits.max_envelope_records) {
                Ok(r) => r,
                Err(reason) => {
                    out.push(Err(reject(reason)));
                    return;
                }
            };
            for (index, record) in records.iter().enumerate() {
                let raw = subslice(message, text, record.get());
                out.push(
                    parse_record(raw, record.get(), max_record_bytes).map_err(|reason| Rejected {
                        raw: subslice(message, text, record.get()),
                        reason,
                        envelope_index: Some(index),
                    }),
                );
            }
        }
    }
}

/// The records of an envelope's `Records` array, each a slice of it; more than `cap` is an
/// error found after reading `cap + 1` of them, not the whole array.
fn envelope_records(records: &RawValue, cap: usize) -> Result<Vec<&RawValue>, RejectReason> {
    use serde::de::{Deserializer as _, SeqAccess, Visitor};
    struct Capped(usize);
    impl<'de> Visitor<'de> for Capped {
        type Value = Vec<&'de RawValue>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an array of records")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(r) = seq.next_element::<&'de RawValue>()? {
                if out.len() == self.0 {
                    return Err(serde::de::Error::custom(TOO_MANY));
                }
                out.push(r);
            }
            Ok(out)
        }
    }
    const TOO_MANY: &str = "trailpipe: too many records";
    if !records.get().starts_with('[') {
        return Err(RejectReason::WrongType {
            field: "Records",
            expected: "an array",
            found: json_type(records),
        });
    }
    let mut de = serde_json::Deserializer::from_str(records.get());
    de.deserialize_seq(Capped(cap)).map_err(|e| {
        if e.to_string().starts_with(TOO_MANY) {
            RejectReason::TooManyRecords { limit: cap }
        } else {
            RejectReason::NotJson(e.to_string())
        }
    })
}

fn parse_record(raw: Bytes, text: &str, max_record_bytes: usize) -> Result<Event, RejectReason> {
    if raw.len() > max_record_bytes {
        return Err(RejectReason::TooLarge {
            bytes: raw.len(),
            limit: max_record_bytes,
        });
    }
    check_object(text)?;
    let record: RawRecord<'_> =
        serde_json::from_str(text).map_err(|e| RejectReason::NotJson(e.to_string()))?;
    if record.records.is_some() {
        return Err(RejectReason::Malformed {
            field: "Records",
            detail: "envelopes cannot be nested".into(),
        });
    }
    let fields = extract(&record)?;
    Ok(Event { raw, fields })
}

/// Zero-copy slice of `message` holding `part`, which must point into `text` (= `message`).
fn subslice(message: &Bytes, text: &str, part: &str) -> Bytes {
    let start = part.as_ptr() as usize - text.as_ptr() as usize;
    message.slice(start..start + part.len())
}

fn check_object(text: &str) -> Result<(), RejectReason> {
    let found = match text.trim_start().as_bytes().first() {
        Some(b'{') => return Ok(()),
        None => return Err(RejectReason::NotJson("empty input".into())),
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        Some(_) => "a number",
    };
    // Only valid JSON of another type is "not an object"; anything else is not JSON at all.
    match serde_json::from_str::<serde::de::IgnoredAny>(text) {
        Ok(_) => Err(RejectReason::NotAnObject(found)),
        Err(e) => Err(RejectReason::NotJson(e.to_string())),
    }
}

fn json_type(raw: &RawValue) -> &'static str {
    match raw.get().as_bytes().first() {
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

/// Reads an optional string field; `null` counts as absent.
fn opt_str<'a>(
    raw: Option<&'a RawValue>,
    field: &'static str,
) -> Result<Option<Cow<'a, str>>, RejectReason> {
    let Some(raw) = raw else { return Ok(None) };
    let s = raw.get();
    if !s.starts_with('"') {
        return Err(RejectReason::WrongType {
            field,
            expected: "a string",
            found: json_type(raw),
        });
    }
    if s.contains('\\') {
        let owned: String = serde_json::from_str(s).map_err(|e| RejectReason::Malformed {
            field,
            detail: e.to_string(),
        })?;
        Ok(Some(Cow::Owned(owned)))
    } else {
        Ok(Some(Cow::Borrowed(&s[1..s.len() - 1])))
    }
}

fn opt_field(
    raw: Option<&RawValue>,
    field: &'static str,
) -> Result<Option<FieldStr>, RejectReason> {
    Ok(opt_str(raw, field)?.map(FieldStr::from))
}

/// Reads a boolean that CloudTrail sometimes writes as a string (`"true"`).
fn opt_bool(raw: Option<&RawValue>, field: &'static str) -> Result<Option<bool>, RejectReason> {
    let Some(raw) = raw else { return Ok(None) };
    match raw.get() {
        "true" | "\"true\"" => Ok(Some(true)),
        "false" | "\"false\"" => Ok(Some(false)),
        _ => Err(RejectReason::WrongType {
            field,
            expected: "a boolean",
            found: json_type(raw),
        }),
    }
}

fn required<'a>(
    raw: Option<&'a RawValue>,
    field: &'static str,
) -> Result<Cow<'a, str>, RejectReason> {
    match opt_str(raw, field)? {
        Some(s) if !s.is_empty() => Ok(s),
        Some(_) => Err(RejectReason::Malformed {
            field,
            detail: "must not be empty".into(),
        }),
        None => Err(RejectReason::MissingField(field)),
    }
}

fn parse_event_time(raw: Option<&RawValue>) -> Result<i64, RejectReason> {
    let s = required(raw, "eventTime")?;
    time::OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|e| RejectReason::Malformed {
            field: "eventTime",
            detail: format!("{s:?} is not an RFC 3339 UTC time ({e})"),
        })
}

/// Region names go into S3 keys and CloudWatch stream names: only `[a-z0-9-]` is accepted.
fn parse_region(raw: Option<&RawValue>) -> Result<FieldStr, RejectReason> {
    let s = required(raw, "awsRegion")?;
    if s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        Ok(s.into())
    } else {
        Err(RejectReason::Malformed {
            field: "awsRegion",
            detail: format!("{s:?} is not a region name ([a-z0-9-], at most 64 characters)"),
        })
    }
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

fn extract(r: &RawRecord<'_>) -> Result<RoutingFields, RejectReason> {
    let event_time = parse_event_time(r.event_time)?;
    let event_id = required(r.event_id, "eventID")?.into();
    let aws_region = parse_region(r.aws_region)?;
    let user_identity = match &r.user_identity {
        None => UserIdentity::default(),
        Some(Nested::Value(id)) => UserIdentity {
            identity_type: opt_field(id.identity_type, "userIdentity.type")?,
            user_name: opt_field(id.user_name, "userIdentity.userName")?,
            arn: opt_field(id.arn, "userIdentity.arn")?,
            account_id: opt_field(id.account_id, "userIdentity.accountId")?,
            access_key_id: opt_field(id.access_key_id, "userIdentity.accessKeyId")?,
            principal_id: opt_field(id.principal_id, "userIdentity.principalId")?,
            invoked_by: opt_field(id.invoked_by, "userIdentity.invokedBy")?,
        },
        Some(Nested::Other(found)) => {
            return Err(RejectReason::WrongType {
                field: "userIdentity",
                expected: "an object",
                found,
            })
        }
    };
    let recipient = opt_field(r.recipient_account_id, "recipientAccountId")?;
    let account_id = match (recipient, &user_identity.account_id) {
        (Some(a), _) if is_account_id(&a) => a,
        (Some(a), _) => {
            return Err(RejectReason::Malformed {
                field: "recipientAccountId",
                detail: format!("{a:?} is not a 12-digit account id"),
            })
        }
        (None, Some(a)) if is_account_id(a) => a.clone(),
        (None, Some(a)) => {
            return Err(RejectReason::Malformed {
                field: "userIdentity.accountId",
                detail: format!(
                    "{a:?} is not a 12-digit account id (and recipientAccountId is absent)"
                ),
            })
        }
        (None, None) => return Err(RejectReason::MissingField("recipientAccountId")),
    };
    let resources = match &r.resources {
        None => Vec::new(),
        Some(Nested::Value(list)) => list
            .iter()
            .map(|res| match res {
                Nested::Value(res) => Ok(Resource {
                    resource_type: opt_field(res.resource_type, "resources.type")?,
                    arn: opt_field(res.arn, "resources.ARN")?,
                }),
                Nested::Other(found) => Err(RejectReason::Malformed {
                    field: "resources",
                    detail: format!("an entry is {found}, not an object"),
                }),
            })
            .collect::<Result<_, RejectReason>>()?,
        Some(Nested::Other(found)) => {
            return Err(RejectReason::WrongType {
                field: "resources",
                expected: "an array",
                found,
            })
        }
    };
    let management_event = opt_bool(r.management_event, "managementEvent")?;
    let event_type = opt_field(r.event_type, "eventType")?;
    // Records older than eventVersion 1.07 carry no eventCategory: Insights are recognised by
    // their eventType, `managementEvent: false` marks data events, everything else is management.
    let event_category = match opt_str(r.event_category, "eventCategory")? {
        Some(c) => EventCategory::from_name(&c),
        None if event_type.as_deref() == Some("AwsCloudTrailInsight") => EventCategory::Insight,
        None if management_event == Some(false) => EventCategory::Data,
        None => EventCategory::Management,
    };
    Ok(RoutingFields {
        event_time,
        event_id,
        event_source: opt_field(r.event_source, "eventSource")?,
        event_name: opt_field(r.event_name, "eventName")?,
        aws_region,
        account_id,
        read_only: opt_bool(r.read_only, "readOnly")?,
        read_only_is_bool: r
            .read_only
            .is_some_and(|v| matches!(v.get(), "true" | "false")),
        event_category,
        management_event,
        event_type,
        resources,
        user_identity,
        error_code: opt_field(r.error_code, "errorCode")?,
        shared_event_id: opt_field(r.shared_event_id, "sharedEventID")?,
        session_credential_from_console: opt_bool(
            r.session_credential_from_console,
            "sessionCredentialFromConsole",
        )?,
        vpc_endpoint_id: opt_field(r.vpc_endpoint_id, "vpcEndpointId")?,
        user_agent: opt_field(r.user_agent, "userAgent")?,
        source_ip_address: opt_field(r.source_ip_address, "sourceIPAddress")?,
    })
}

#[cfg(test)]
mod tests;
