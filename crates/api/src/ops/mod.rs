//! One handler per CloudTrail operation, and the dispatch from `X-Amz-Target` to them.
//!
//! Invariant: every handler returns either the operation's whole JSON output shape or an
//! [`ApiError`]; framing (status, headers) is added in one place, [`handle`].

mod misc;
mod trails;

use std::net::SocketAddr;

use axum::{
    body::Bytes,
    extract::{ConnectInfo, State},
    http::request::Parts,
    response::{IntoResponse, Response},
};
use serde_json::Value;

pub use misc::MAX_TAGS_PER_RESOURCE;

use crate::{
    protocol::{ok_json, operation, request_region, Operation},
    ApiBackend, ApiError,
};

/// The `POST /` handler: authenticates the caller, finds the operation and region, authorizes
/// the call for every trail it names, runs it, records it (see [`crate::audit`]), answers.
///
/// Invariants: nothing of the request but its signature is looked at before the caller is
/// authenticated; no operation runs unless it is authorized for each trail it names; no answer
/// leaves before the call's self-record is stored (a record that cannot be stored turns the
/// answer into `InternalFailure`, which clients retry) — except an unverified call refused by
/// [`ApiBackend::admit_unverified`], which runs nothing and is counted, not recorded.
pub(crate) async fn handle<S: ApiBackend + Clone + Send + Sync + 'static>(
    State(backend): State<S>,
    parts: Parts,
    body: Bytes,
) -> Response {
    let headers = &parts.headers;
    let access = backend.access();
    let region = request_region(headers, backend.default_region());
    let op = operation(headers);
    let op_name = op.as_ref().ok().map(|o| o.name());
    let source_ip = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let authenticated = access.authenticate(
        &parts.method,
        &parts.uri,
        headers,
        &body,
        std::time::SystemTime::now(),
    );
    // Anyone who reaches the port can send unsigned or badly signed calls: past the backend's
    // rate they are refused before anything runs, and not recorded.
    let unverified = !matches!(authenticated, Ok(trailpipe_auth::Caller::Signed(_)));
    if unverified && !backend.admit_unverified(source_ip) {
        return ApiError::Throttling("Rate exceeded".into()).into_response();
    }
    let (caller, result) = match authenticated {
        Err(e) => {
            tracing::warn!(
                code = e.code(),
                "CloudTrail API request refused: not authenticated"
            );
            (None, Err(auth_error(&e)))
        }
        Ok(caller) => {
            let who = match &caller {
                trailpipe_auth::Caller::Signed(p) => p.arn(),
                trailpipe_auth::Caller::Anonymous => "anonymous".to_owned(),
            };
            let result = match op {
                Ok(op) => match authorize_trails(&access, &caller, op.name(), &body) {
                    Ok(()) => {
                        tracing::info!(operation = op.name(), caller = %who, %region, "CloudTrail API call");
                        // Never an answer from a state not yet complete (a stale trail).
                        match backend.ready().await {
                            Ok(()) => dispatch(&backend, op, &region, &body).await,
                            Err(e) => Err(e),
                        }
                    }
                    Err(e) => {
                        tracing::warn!(operation = op.name(), caller = %who, code = e.code(), "CloudTrail API call denied");
                        Err(auth_error(&e))
                    }
                },
                Err(e) => Err(e),
            };
            (Some(caller), result)
        }
    };
    let account = match &caller {
        Some(trailpipe_auth::Caller::Signed(p)) => p.account_id.clone(),
        _ => backend.account_id(),
    };
    let record = crate::audit::self_record(&crate::audit::ApiCall {
        caller: caller.as_ref(),
        claimed_access_key_id: caller
            .is_none()
            .then(|| crate::audit::claimed_access_key_id(headers))
            .flatten(),
        operation: op_name,
        region: &region,
        source_ip: source_ip.map(|ip| ip.to_string()),
        user_agent: headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok()),
        body: &body,
        error: result
            .as_ref()
            .err()
            .map(|e| (e.error_type(), e.message().to_owned())),
        account_id: &account,
        time: time::OffsetDateTime::now_utc(),
    });
    if let Err(e) = backend.record_call(record).await {
        tracing::error!(error = %e, "the API call's self-record could not be stored; answering InternalFailure");
        return ApiError::Internal("the call could not be recorded; retry".into()).into_response();
    }
    match result {
        Ok(v) => ok_json(&v),
        Err(e) => e.into_response(),
    }
}

/// An authentication or authorization refusal as the CloudTrail error botocore expects.
fn auth_error(e: &trailpipe_auth::AuthError) -> ApiError {
    ApiError::Other {
        error_type: e.code(),
        message: e.message(),
    }
}

/// Authorizes `operation` for every trail (name or ARN) the request body names, or for no trail
/// in particular when it names none (account-wide calls, and bodies the operation will refuse).
fn authorize_trails(
    access: &trailpipe_auth::ApiAccess,
    caller: &trailpipe_auth::Caller,
    operation: &str,
    body: &[u8],
) -> Result<(), trailpipe_auth::AuthError> {
    let trails = named_trails(body);
    if trails.is_empty() {
        return access.authorize(caller, operation, None);
    }
    trails
        .iter()
        .try_for_each(|t| access.authorize(caller, operation, Some(t)))
}

/// The trails a CloudTrail request names: `Name` (GetTrail, GetTrailStatus, Start/StopLogging),
/// `TrailName` (selectors), `ResourceId` (AddTags/RemoveTags), `trailNameList` (DescribeTrails)
/// and `ResourceIdList` (ListTags).
fn named_trails(body: &[u8]) -> Vec<String> {
    let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(body) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for key in ["Name", "TrailName", "ResourceId"] {
        if let Some(Value::String(s)) = m.get(key) {
            out.push(s.clone());
        }
    }
    for key in ["trailNameList", "ResourceIdList"] {
        if let Some(Value::Array(a)) = m.get(key) {
            out.extend(a.iter().filter_map(|v| v.as_str().map(str::to_owned)));
        }
    }
    out
}

async fn dispatch<S: ApiBackend>(
    b: &S,
    op: Operation,
    region: &str,
    body: &[u8],
) -> Result<Value, ApiError> {
    match op {
        Operation::DescribeTrails => trails::describe_trails(b, region, body).await,
        Operation::GetTrail => trails::get_trail(b, region, body).await,
        Operation::ListTrails => trails::list_trails(b, body).await,
        Operation::GetTrailStatus => trails::get_trail_status(b, region, body).await,
        Operation::StartLogging => trails::set_logging(b, region, body, true).await,
        Operation::StopLogging => trails::set_logging(b, region, body, false).await,
        Operation::GetEventSelectors => misc::get_event_selectors(b, region, body).await,
        Operation::PutEventSelectors => misc::put_event_selectors(b, region, body).await,
        Operation::GetInsightSelectors => misc::get_insight_selectors(b, region, body).await,
        Operation::ListPublicKeys => misc::list_public_keys(b, body).await,
        Operation::LookupEvents => misc::lookup_events(b, region, body).await,
        Operation::AddTags => misc::change_tags(b, body, true).await,
        Operation::RemoveTags => misc::change_tags(b, body, false).await,
        Operation::ListTags => misc::list_tags(b, body).await,
    }
}
