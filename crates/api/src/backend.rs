//! What the API layer needs from the daemon: [`ApiBackend`] and the plain data it returns.
//!
//! The API layer owns the protocol (framing, name/ARN resolution, region rules, validation of
//! shapes, error names); a backend only answers for trails it already knows by name. Every
//! method that takes a `trail` receives the canonical [`TrailInfo::name`] of a trail that
//! [`ApiBackend::trails`] just returned.

use std::future::Future;

use time::OffsetDateTime;

use crate::{ApiError, SelectorsInfo};

/// A trail as `DescribeTrails`/`GetTrail` show it (CloudTrail's `Trail` shape).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TrailInfo {
    /// Trail name (unique among the daemon's trails).
    pub name: String,
    /// Trail ARN, see [`crate::trail_arn`]; ARN lookups compare against it exactly.
    pub arn: String,
    /// Home region; name lookups only find trails homed in the request's region.
    pub home_region: String,
    /// Destination bucket.
    pub s3_bucket_name: String,
    /// Key prefix, without a trailing `/`.
    pub s3_key_prefix: Option<String>,
    /// SNS topic name (deprecated member, still sent by CloudTrail).
    pub sns_topic_name: Option<String>,
    /// SNS topic ARN.
    pub sns_topic_arn: Option<String>,
    /// Logs global service events.
    pub include_global_service_events: bool,
    /// Logs every region.
    pub is_multi_region_trail: bool,
    /// An organization trail.
    pub is_organization_trail: bool,
    /// Digest files are written.
    pub log_file_validation_enabled: bool,
    /// KMS key for SSE-KMS.
    pub kms_key_id: Option<String>,
    /// CloudWatch Logs log group ARN.
    pub cloud_watch_logs_log_group_arn: Option<String>,
    /// CloudWatch Logs role ARN.
    pub cloud_watch_logs_role_arn: Option<String>,
    /// The trail has selectors other than the default (all management events).
    pub has_custom_event_selectors: bool,
    /// The trail's Insights types (`ApiCallRateInsight`, `ApiErrorRateInsight`); empty: no
    /// Insights (`HasInsightSelectors` false).
    pub insight_types: Vec<String>,
    /// Logging is on. Not part of the `Trail` shape: `GetTrailStatus` answers
    /// `{"IsLogging": is_logging}` when [`ApiBackend::trail_status`] has nothing for the trail.
    pub is_logging: bool,
}

/// `GetTrailStatus` (times in UTC; `None` = never). The deprecated string members
/// (`TimeLoggingStarted`, `LatestDeliveryAttemptSucceeded`, ...) are derived from these.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TrailStatus {
    /// Logging is on.
    pub is_logging: bool,
    /// Last successful log-file delivery.
    pub latest_delivery_time: Option<OffsetDateTime>,
    /// Last log-file delivery attempt (successful or not).
    pub latest_delivery_attempt_time: Option<OffsetDateTime>,
    /// Error of the last failed delivery (S3 error code / message).
    pub latest_delivery_error: Option<String>,
    /// Last successful digest delivery.
    pub latest_digest_delivery_time: Option<OffsetDateTime>,
    /// Error of the last failed digest delivery.
    pub latest_digest_delivery_error: Option<String>,
    /// Last successful SNS notification.
    pub latest_notification_time: Option<OffsetDateTime>,
    /// Last SNS notification attempt.
    pub latest_notification_attempt_time: Option<OffsetDateTime>,
    /// Error of the last failed notification.
    pub latest_notification_error: Option<String>,
    /// Last successful CloudWatch Logs delivery.
    pub latest_cloud_watch_logs_delivery_time: Option<OffsetDateTime>,
    /// Error of the last failed CloudWatch Logs delivery.
    pub latest_cloud_watch_logs_delivery_error: Option<String>,
    /// When logging was last started.
    pub start_logging_time: Option<OffsetDateTime>,
    /// When logging was last stopped.
    pub stop_logging_time: Option<OffsetDateTime>,
}

/// One digest-signing public key (`ListPublicKeys`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// DER of the PKCS#1 `RSAPublicKey` (sent base64-encoded as `Value`).
    pub value_der: Vec<u8>,
    /// Start of the key's validity.
    pub validity_start: OffsetDateTime,
    /// End of the key's validity.
    pub validity_end: OffsetDateTime,
    /// Lowercase hex MD5 of `value_der` (what digests name in `digestPublicKeyFingerprint`).
    pub fingerprint: String,
}

/// A resource tag. `value` is optional in CloudTrail's model.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    /// 1–128 characters.
    pub key: String,
    /// 0–256 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// The daemon behind the API. All futures must be `Send` (they run on axum's tasks); blocking
/// work (e.g. a history-store query) belongs in `tokio::task::spawn_blocking` inside the impl.
///
/// Implementations may write `async fn` for each method.
pub trait ApiBackend {
    /// The region of requests that carry no SigV4 credential scope (the daemon's configured
    /// region).
    fn default_region(&self) -> &str;

    /// Who may call what, as configured now (`[api]`); consulted once per request, before
    /// anything else is read from it.
    fn access(&self) -> std::sync::Arc<trailpipe_auth::ApiAccess>;

    /// The account that owns calls no credential signed (their records' `accountId` and
    /// `recipientAccountId`).
    fn account_id(&self) -> String;

    /// Whether a call from `source_ip` that is unsigned or whose signature does not verify may
    /// proceed (and be recorded); `false` answers `ThrottlingException` and records nothing.
    /// The default admits everything; the daemon limits the rate per address.
    fn admit_unverified(&self, source_ip: Option<std::net::IpAddr>) -> bool {
        let _ = source_ip;
        true
    }

    /// Waits until the state the API answers from is complete (a starting replica has applied
    /// its group's control topic), or answers the error that is returned instead of running the
    /// operation (retriable: the caller's SDK tries again). The default is complete at once.
    fn ready(&self) -> impl Future<Output = Result<(), ApiError>> + Send {
        std::future::ready(Ok(()))
    }

    /// Stores the self-record of an API call (a CloudTrail record, see [`crate::audit`])
    /// durably, so that it reaches the trails like any consumed record; the call is answered
    /// only after this returns `Ok`.
    fn record_call(
        &self,
        record: serde_json::Value,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;

    /// Every trail, in every region (the API applies region visibility).
    fn trails(&self) -> impl Future<Output = Vec<TrailInfo>> + Send;

    /// Status of a trail; `None` when nothing has been recorded yet.
    fn trail_status(&self, trail: &str) -> impl Future<Output = Option<TrailStatus>> + Send;

    /// A trail's selectors; `None` means "no selectors configured", answered as
    /// `EventSelectors: [EventSelector::default()]`.
    fn event_selectors(&self, trail: &str) -> impl Future<Output = Option<SelectorsInfo>> + Send;

    /// Public keys valid at any time in `[start, end]`; both `None` = the current key(s).
    /// The API has already checked `start <= end`. An error when the keys cannot be known yet
    /// (an empty list would tell `validate-logs` that no key signed anything).
    fn public_keys(
        &self,
        start: Option<OffsetDateTime>,
        end: Option<OffsetDateTime>,
    ) -> impl Future<Output = Result<Vec<PublicKey>, ApiError>> + Send;

    /// Answers `LookupEvents` for `region` from the raw JSON request body; returns the whole
    /// response body (`{"Events":[...],"NextToken":...}`).
    fn lookup_events(
        &self,
        region: &str,
        body: &[u8],
    ) -> impl Future<Output = Result<serde_json::Value, ApiError>> + Send;

    /// Starts logging for a trail (idempotent).
    fn start_logging(&self, trail: &str) -> impl Future<Output = Result<(), ApiError>> + Send;

    /// Stops logging for a trail (idempotent).
    fn stop_logging(&self, trail: &str) -> impl Future<Output = Result<(), ApiError>> + Send;

    /// Replaces a trail's selectors (shape already validated, see
    /// [`SelectorsInfo::validate_shape`]); returns the selectors now in force. Semantic errors
    /// are `ApiError::InvalidEventSelectors`.
    fn put_event_selectors(
        &self,
        trail: &str,
        selectors: SelectorsInfo,
    ) -> impl Future<Output = Result<SelectorsInfo, ApiError>> + Send;

    /// Adds or overwrites tags on a trail (`TagsLimitExceeded` past 50 per resource).
    fn add_tags(
        &self,
        trail: &str,
        tags: Vec<Tag>,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;

    /// Removes tags by key (and value, when given) from a trail.
    fn remove_tags(
        &self,
        trail: &str,
        tags: Vec<Tag>,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;

    /// A trail's tags.
    fn list_tags(&self, trail: &str) -> impl Future<Output = Result<Vec<Tag>, ApiError>> + Send;
}
