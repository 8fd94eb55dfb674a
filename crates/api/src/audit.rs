//! trailpipe records its own control plane: every CloudTrail API call it answers — accepted,
//! denied or not even authenticated — becomes a CloudTrail record of its own
//! (`eventSource = "cloudtrail.amazonaws.com"`), handed to [`crate::ApiBackend::record_call`]
//! before the answer leaves, so trails route it, log files and digests hold it, metric filters
//! (CIS 3.5 watches `StopLogging`) see it and `lookup-events` finds it.
//!
//! Invariant: a record never carries a secret: `requestParameters` is the request body (which
//! for CloudTrail's operations holds trail names, selectors and tags, never credentials), the
//! identity is the access key id and user name, never the secret or the signature.

use serde_json::{json, Value};
use time::{format_description::well_known::Rfc3339, OffsetDateTime};
use trailpipe_auth::{classify, Caller, OperationClass};

/// What one API call was, for its self-record.
#[derive(Debug, Clone)]
pub struct ApiCall<'a> {
    /// Who called: a verified principal, or anonymous.
    pub caller: Option<&'a Caller>,
    /// The access key id the request claimed, when its signature could not be verified.
    pub claimed_access_key_id: Option<String>,
    /// The operation (`StopLogging`), or `None` when `X-Amz-Target` named none.
    pub operation: Option<&'a str>,
    /// The region the call addressed.
    pub region: &'a str,
    /// The caller's address.
    pub source_ip: Option<String>,
    /// The `User-Agent` header.
    pub user_agent: Option<&'a str>,
    /// The request body.
    pub body: &'a [u8],
    /// The error answered, as (code, message); `None` for a success.
    pub error: Option<(&'a str, String)>,
    /// The account that receives the record (`recipientAccountId`) and owns anonymous calls.
    pub account_id: &'a str,
    /// When the call was answered.
    pub time: OffsetDateTime,
}

/// CloudTrail's `errorCode` for an exception: `AccessDeniedException` is logged as
/// `AccessDenied` (as CloudTrail does for every service); other codes as answered.
fn error_code(code: &str) -> &str {
    if code == "AccessDeniedException" {
        "AccessDenied"
    } else {
        code
    }
}

/// The CloudTrail record of `call` (one JSON object, as CloudTrail writes records).
pub fn self_record(call: &ApiCall<'_>) -> Value {
    let identity = match call.caller {
        Some(Caller::Signed(p)) => json!({
            "type": "IAMUser",
            "principalId": p.access_key_id,
            "arn": p.arn(),
            "accountId": p.account_id,
            "accessKeyId": p.access_key_id,
            "userName": p.name,
        }),
        _ => {
            let mut v =
                json!({ "type": "Unknown", "principalId": "", "accountId": call.account_id });
            if let Some(k) = &call.claimed_access_key_id {
                v["accessKeyId"] = k.as_str().into();
            }
            v
        }
    };
    let request: Value = serde_json::from_slice(call.body).unwrap_or(Value::Null);
    let time = call
        .time
        .replace_nanosecond(0)
        .unwrap_or(call.time)
        .format(&Rfc3339)
        .unwrap_or_default();
    let operation = call.operation.unwrap_or("Unknown");
    let mut record = json!({
        "eventVersion": "1.09",
        "userIdentity": identity,
        "eventTime": time,
        "eventSource": "cloudtrail.amazonaws.com",
        "eventName": operation,
        "awsRegion": call.region,
        "sourceIPAddress": call.source_ip.as_deref().unwrap_or(""),
        "userAgent": call.user_agent.unwrap_or(""),
        "requestParameters": request,
        "responseElements": Value::Null,
        "requestID": uuid::Uuid::new_v4().to_string(),
        "eventID": uuid::Uuid::new_v4().to_string(),
        "readOnly": classify(operation) == OperationClass::Read,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": call.account_id,
        "eventCategory": "Management",
    });
    if let Some((code, message)) = &call.error {
        record["errorCode"] = error_code(code).into();
        record["errorMessage"] = message.as_str().into();
    }
    record
}

/// The access key id an `Authorization` header claims (`Credential=AKID/...`), for the record
/// of a request whose signature did not verify.
pub(crate) fn claimed_access_key_id(headers: &axum::http::HeaderMap) -> Option<String> {
    let auth = headers.get("authorization")?.to_str().ok()?;
    let cred = auth.split("Credential=").nth(1)?;
    let id = cred.split('/').next()?.trim();
    (!id.is_empty() && id.len() <= 128 && id.chars().all(|c| c.is_ascii_alphanumeric()))
        .then(|| id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use trailpipe_auth::{Credential, Policy, Principal, SecretAccessKey};

    fn call<'a>(caller: Option<&'a Caller>, error: Option<(&'a str, String)>) -> ApiCall<'a> {
        ApiCall {
            caller,
            claimed_access_key_id: None,
            operation: Some("StopLogging"),
            region: "us-east-1",
            source_ip: Some("192.0.2.7".into()),
            user_agent: Some("aws-cli/1.44"),
            body: br#"{"Name":"management"}"#,
            error,
            account_id: "123456789012",
            time: OffsetDateTime::from_unix_timestamp(1_796_580_000).unwrap(),
        }
    }

    #[test]
    fn a_signed_call_names_its_user_and_a_denial_its_error() {
        let principal = Principal::new(
            &Credential {
                name: "ops".into(),
                access_key_id: "AKIATRAILPIPEOPS0001".into(),
                secret_access_key: SecretAccessKey::new("s3cret-s3cret-s3cret"),
                policy: Policy::Read,
                trails: None,
                account_id: "123456789012".into(),
            },
            "us-east-1",
        );
        let caller = Caller::Signed(principal);
        let r = self_record(&call(
            Some(&caller),
            Some((
                "AccessDeniedException",
                "User: ... is not authorized".into(),
            )),
        ));
        assert_eq!(r["eventSource"], "cloudtrail.amazonaws.com");
        assert_eq!(r["eventName"], "StopLogging");
        assert_eq!(
            r["userIdentity"]["arn"],
            "arn:aws:iam::123456789012:user/ops"
        );
        assert_eq!(r["userIdentity"]["accessKeyId"], "AKIATRAILPIPEOPS0001");
        assert_eq!(r["errorCode"], "AccessDenied");
        assert_eq!(r["readOnly"], false);
        assert_eq!(r["requestParameters"]["Name"], "management");
        assert_eq!(r["sourceIPAddress"], "192.0.2.7");
        assert_eq!(r["eventTime"], "2026-12-06T18:00:00Z");
        assert!(!r.to_string().contains("s3cret"));
        let again = self_record(&call(Some(&caller), None));
        assert_ne!(r["eventID"], again["eventID"]);
        assert!(again.get("errorCode").is_none());
    }

    #[test]
    fn an_unverified_call_keeps_the_key_it_claimed() {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIANOBODY0000000001/20261206/us-east-1/cloudtrail/aws4_request, SignedHeaders=host, Signature=00"
                .parse()
                .unwrap(),
        );
        let mut c = call(None, Some(("InvalidSignatureException", "no".into())));
        c.claimed_access_key_id = claimed_access_key_id(&headers);
        let r = self_record(&c);
        assert_eq!(r["userIdentity"]["type"], "Unknown");
        assert_eq!(r["userIdentity"]["accessKeyId"], "AKIANOBODY0000000001");
        assert_eq!(r["errorCode"], "InvalidSignatureException");
    }
}
