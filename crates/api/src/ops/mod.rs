//! One handler per CloudTrail operation, and the dispatch from `X-Amz-Target` to them.
//!
//! Invariant: every handler returns either the operation's whole JSON output shape or an
//! [`ApiError`]; framing (status, headers) is added in one place, [`handle`].

mod misc;
mod trails;

use axum::{
    body::Bytes,
    extract::State,
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use serde_json::Value;

pub use misc::MAX_TAGS_PER_RESOURCE;

use crate::{
    protocol::{ok_json, operation, request_region, Operation},
    ApiBackend, ApiError,
};

/// The `POST /` handler: finds the operation and region, runs it, frames the answer.
pub(crate) async fn handle<S: ApiBackend + Clone + Send + Sync + 'static>(
    State(backend): State<S>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let region = request_region(&headers, backend.default_region());
    let result = match operation(&headers) {
        Ok(op) => {
            tracing::debug!(operation = op.name(), %region, "CloudTrail API call");
            dispatch(&backend, op, &region, &body).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(v) => ok_json(&v),
        Err(e) => e.into_response(),
    }
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
