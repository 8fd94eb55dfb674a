//! trailpipe's CloudTrail-compatible control-plane API: the AWS JSON 1.1 protocol
//! (`POST /`, `X-Amz-Target: com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.<Op>`) so the
//! real `aws cloudtrail ... --endpoint-url http://HOST:PORT` and the AWS SDKs can ask the daemon
//! about its trails, their status and selectors, its digest public keys and its event history.
//!
//! Operations: ListPublicKeys, DescribeTrails, GetTrail, ListTrails, GetTrailStatus,
//! GetEventSelectors, PutEventSelectors, GetInsightSelectors, LookupEvents, StartLogging, StopLogging, AddTags,
//! RemoveTags, ListTags. Anything else is `UnknownOperationException`.
//!
//! Security: every request is authenticated (SigV4, verified by `trailpipe_auth` against the
//! `[[api.credentials]]` of [`ApiBackend::access`]) and authorized (the credential's `read` or
//! `admin` policy, per trail) before its operation runs; a refusal is the AWS error
//! (`MissingAuthenticationTokenException`, `InvalidSignatureException`,
//! `UnrecognizedClientException`, `AccessDeniedException`, ...) and changes nothing. With no
//! credentials configured, read operations are open and mutating ones refused. The region is
//! the signature's credential scope (requests without one use [`ApiBackend::default_region`]).
//!
//! Invariant: the backend is only asked about trails that exist and are visible from the
//! request's region, with request shapes already validated; every failure reaches the client as
//! the CloudTrail exception botocore expects ([`ApiError`]).
//!
//! ```text
//! let app = Router::new().route("/metrics", get(metrics)).with_state(state)
//!     .merge(trailpipe_api::router(backend));
//! ```

mod arn;
pub mod audit;
mod backend;
mod error;
mod ops;
mod protocol;
mod selectors;

use axum::{routing::post, Router};

pub use arn::{parse_trail_arn, resolve_trail, trail_arn, validate_trail_name, TrailArn};
pub use backend::{ApiBackend, PublicKey, Tag, TrailInfo, TrailStatus};
pub use error::ApiError;
pub use ops::MAX_TAGS_PER_RESOURCE;
pub use protocol::{
    epoch_seconds, region_from_authorization, Operation, CONTENT_TYPE, TARGET_PREFIX,
};
pub use selectors::{
    AdvancedEventSelector, AdvancedFieldSelector, DataResource, EventSelector, ReadWriteType,
    SelectorsInfo, MAX_ADVANCED_VALUES, MAX_DATA_RESOURCE_VALUES, MAX_EVENT_SELECTORS,
};

/// The CloudTrail API as a stateless `Router` (state already applied) answering `POST /`; merge
/// it into the server that serves `/metrics`, `/healthz`, `/readyz` (other paths are untouched).
pub fn router<S: ApiBackend + Clone + Send + Sync + 'static>(backend: S) -> Router {
    Router::new()
        .route("/", post(ops::handle::<S>))
        .with_state(backend)
}
