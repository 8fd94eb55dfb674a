//! The EventBridge event of a CloudTrail record:
//! `{"version":"0","id","detail-type","source","account","time","region","resources":[],"detail":<record>}`.
//!
//! Decisions where AWS's documentation is silent, each pinned by a test:
//! - `id` is stable across replays (a record delivered twice gets the same id, so consumers can
//!   de-duplicate): a UUID-shaped value (RFC 9562 version 8, "custom") made from the SHA-256 of
//!   the record's `eventID`, `eventTime` and account.
//! - `source` is `aws.` followed by `eventSource` without `.amazonaws.com` (`iam.amazonaws.com`
//!   → `aws.iam`); an `eventSource` of another form is kept whole after `aws.`; Insights
//!   events (which have no `eventSource`) get `aws.cloudtrail`.
//! - `detail-type` follows `eventType`; sign-ins are `AWS Console Sign In via CloudTrail`, as
//!   the events EventBridge delivers and the rules written for them spell it (the EventBridge
//!   user guide writes `Signin`); an unknown or absent `eventType` is an API call.
//! - `time` is `eventTime` in CloudTrail's format, `account` the record's account
//!   (`recipientAccountId`, else `userIdentity.accountId`), `region` its `awsRegion`.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use trailpipe_event::{format_epoch_secs, Event, RoutingFields};
use trailpipe_eventpattern::FieldTrie;

/// `detail-type` of records of `eventType` `AwsApiCall` (and of unknown types).
pub const API_CALL: &str = "AWS API Call via CloudTrail";
/// `detail-type` of `AwsConsoleSignIn` records.
pub const CONSOLE_SIGN_IN: &str = "AWS Console Sign In via CloudTrail";
/// `detail-type` of `AwsConsoleAction` records.
pub const CONSOLE_ACTION: &str = "AWS Console Action via CloudTrail";
/// `detail-type` of `AwsServiceEvent` records.
pub const SERVICE_EVENT: &str = "AWS Service Event via CloudTrail";
/// `detail-type` of `AwsCloudTrailInsight` records.
pub const INSIGHT: &str = "AWS Insight via CloudTrail";

/// The `detail-type` of a record, by its `eventType`.
pub fn detail_type(fields: &RoutingFields) -> &'static str {
    match fields.event_type.as_deref() {
        Some("AwsConsoleSignIn") => CONSOLE_SIGN_IN,
        Some("AwsConsoleAction") => CONSOLE_ACTION,
        Some("AwsServiceEvent") => SERVICE_EVENT,
        Some("AwsCloudTrailInsight") => INSIGHT,
        _ => API_CALL,
    }
}

/// The `source` of a record: `aws.<service>` from its `eventSource`.
pub fn source(fields: &RoutingFields) -> String {
    match fields.event_source.as_deref() {
        Some(s) => format!("aws.{}", s.strip_suffix(".amazonaws.com").unwrap_or(s)),
        None => "aws.cloudtrail".to_string(),
    }
}

/// The envelope's `id`: the same for every delivery of the same record.
pub fn id(fields: &RoutingFields) -> String {
    let mut h = Sha256::new();
    h.update(fields.event_id.as_bytes());
    h.update(b"\n");
    h.update(fields.event_time.to_be_bytes());
    h.update(fields.account_id.as_bytes());
    let mut b: [u8; 16] = h.finalize()[..16].try_into().expect("16 of 32 bytes");
    b[6] = (b[6] & 0x0f) | 0x80; // version 8
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 9562 variant
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// The envelope as JSON text, with the record's bytes as `detail` unchanged.
pub fn to_json(event: &Event) -> String {
    to_json_with_id(event, &id(&event.fields))
}

/// [`to_json`] with the record's [`id`] already computed.
pub fn to_json_with_id(event: &Event, id: &str) -> String {
    let f = &event.fields;
    let detail = std::str::from_utf8(&event.raw).expect("accepted records are UTF-8");
    let mut out = String::with_capacity(detail.len() + 256);
    out.push_str(r#"{"version":"0","id":"#);
    push_str(&mut out, id);
    out.push_str(r#","detail-type":"#);
    push_str(&mut out, detail_type(f));
    out.push_str(r#","source":"#);
    push_str(&mut out, &source(f));
    out.push_str(r#","account":"#);
    push_str(&mut out, &f.account_id);
    out.push_str(r#","time":"#);
    push_str(&mut out, &format_epoch_secs(f.event_time));
    out.push_str(r#","region":"#);
    push_str(&mut out, &f.aws_region);
    out.push_str(r#","resources":[],"detail":"#);
    out.push_str(detail);
    out.push('}');
    out
}

/// The envelope as a JSON tree, for matching.
pub fn to_value(event: &Event) -> Result<Value, serde_json::Error> {
    serde_json::from_str(&to_json(event))
}

/// The envelope as a JSON tree holding only the fields of `read` (as
/// [`FieldTrie::parse`] of [`to_json`] would, without building the text): rules read it as
/// they read the whole envelope, and the `id`, the time and the record's fields are only
/// computed and parsed when some rule reads them.
pub fn to_pruned_value(event: &Event, read: &FieldTrie) -> Result<Value, serde_json::Error> {
    let f = &event.fields;
    let mut top = Map::new();
    let mut put = |key: &str, value: &dyn Fn() -> Value| {
        if read.child(key).is_some() {
            top.insert(key.to_owned(), value());
        }
    };
    put("version", &|| "0".into());
    put("id", &|| id(f).into());
    put("detail-type", &|| detail_type(f).into());
    put("source", &|| source(f).into());
    put("account", &|| f.account_id.as_str().into());
    put("time", &|| format_epoch_secs(f.event_time).into());
    put("region", &|| f.aws_region.as_str().into());
    put("resources", &|| Value::Array(Vec::new()));
    if let Some(detail) = read.child("detail") {
        let text = std::str::from_utf8(&event.raw).expect("accepted records are UTF-8");
        let tree = if detail.is_leaf() {
            serde_json::from_str(text)?
        } else {
            detail.parse(text)?
        };
        top.insert("detail".to_owned(), tree);
    }
    Ok(Value::Object(top))
}

fn push_str(out: &mut String, s: &str) {
    out.push_str(&Value::String(s.to_owned()).to_string());
}
