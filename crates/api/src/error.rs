//! CloudTrail API errors and their wire form.
//!
//! Invariant: every error leaves the server as AWS JSON 1.1 does it — status 400 for client
//! errors, 500 for [`ApiError::Internal`] — with body `{"__type":"<Name>","message":"..."}` and the
//! same name in the `x-amzn-ErrorType` header, so botocore (which reads `__type`, else the
//! header) raises exactly the exception named in CloudTrail's service model.

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};

use crate::protocol::{request_id, CONTENT_TYPE};

/// An error answered to an API caller. Each variant is one CloudTrail exception (named as in
/// `service-2.json`) and carries the human-readable message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// `TrailNotFoundException`: no trail with that name (in the request's region) or ARN.
    #[error("TrailNotFoundException: {0}")]
    TrailNotFound(String),
    /// `InvalidTrailNameException`: the name breaks CloudTrail's trail-name rules.
    #[error("InvalidTrailNameException: {0}")]
    InvalidTrailName(String),
    /// `CloudTrailARNInvalidException`: an `arn:` value that is not a trail ARN.
    #[error("CloudTrailARNInvalidException: {0}")]
    CloudTrailArnInvalid(String),
    /// `InvalidHomeRegionException`: a mutating call made outside the trail's home region.
    #[error("InvalidHomeRegionException: {0}")]
    InvalidHomeRegion(String),
    /// `InvalidTimeRangeException`: start time after end time.
    #[error("InvalidTimeRangeException: {0}")]
    InvalidTimeRange(String),
    /// `InvalidEventSelectorsException`: selectors that are malformed or over a limit.
    #[error("InvalidEventSelectorsException: {0}")]
    InvalidEventSelectors(String),
    /// `ResourceNotFoundException`: a tagging call names an unknown resource.
    #[error("ResourceNotFoundException: {0}")]
    ResourceNotFound(String),
    /// `InvalidTagParameterException`: a tag key or value out of bounds.
    #[error("InvalidTagParameterException: {0}")]
    InvalidTagParameter(String),
    /// `TagsLimitExceededException`: more tags than a resource may hold.
    #[error("TagsLimitExceededException: {0}")]
    TagsLimitExceeded(String),
    /// `InvalidParameterException`: any other malformed or missing parameter.
    #[error("InvalidParameterException: {0}")]
    InvalidParameter(String),
    /// `InvalidTokenException`: a pagination token this server never issued.
    #[error("InvalidTokenException: {0}")]
    InvalidToken(String),
    /// `UnsupportedOperationException`: a known operation trailpipe does not implement.
    #[error("UnsupportedOperationException: {0}")]
    UnsupportedOperation(String),
    /// `OperationNotPermittedException`: refused by configuration (e.g. a read-only trail).
    #[error("OperationNotPermittedException: {0}")]
    OperationNotPermitted(String),
    /// `ConflictException`: the trail is being changed concurrently.
    #[error("ConflictException: {0}")]
    Conflict(String),
    /// `ThrottlingException`: too many requests.
    #[error("ThrottlingException: {0}")]
    Throttling(String),
    /// `UnknownOperationException`: missing or unknown `X-Amz-Target`.
    #[error("UnknownOperationException: {0}")]
    UnknownOperation(String),
    /// `SerializationException`: the body is not JSON of the operation's input shape.
    #[error("SerializationException: {0}")]
    Serialization(String),
    /// Any other client error by its AWS name, e.g. a `LookupError::aws_error_type()` from
    /// the history crate (`InvalidLookupAttributesException`, `InvalidNextTokenException`, ...).
    #[error("{error_type}: {message}")]
    Other {
        /// The AWS exception name, sent as `__type`.
        error_type: &'static str,
        /// The message.
        message: String,
    },
    /// `InternalFailure` (HTTP 500): the server failed; botocore retries these.
    #[error("InternalFailure: {0}")]
    Internal(String),
}

impl ApiError {
    /// The AWS exception name sent as `__type`.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::TrailNotFound(_) => "TrailNotFoundException",
            Self::InvalidTrailName(_) => "InvalidTrailNameException",
            Self::CloudTrailArnInvalid(_) => "CloudTrailARNInvalidException",
            Self::InvalidHomeRegion(_) => "InvalidHomeRegionException",
            Self::InvalidTimeRange(_) => "InvalidTimeRangeException",
            Self::InvalidEventSelectors(_) => "InvalidEventSelectorsException",
            Self::ResourceNotFound(_) => "ResourceNotFoundException",
            Self::InvalidTagParameter(_) => "InvalidTagParameterException",
            Self::TagsLimitExceeded(_) => "TagsLimitExceededException",
            Self::InvalidParameter(_) => "InvalidParameterException",
            Self::InvalidToken(_) => "InvalidTokenException",
            Self::UnsupportedOperation(_) => "UnsupportedOperationException",
            Self::OperationNotPermitted(_) => "OperationNotPermittedException",
            Self::Conflict(_) => "ConflictException",
            Self::Throttling(_) => "ThrottlingException",
            Self::UnknownOperation(_) => "UnknownOperationException",
            Self::Serialization(_) => "SerializationException",
            Self::Other { error_type, .. } => error_type,
            Self::Internal(_) => "InternalFailure",
        }
    }

    /// The human-readable message sent as `message`.
    pub fn message(&self) -> &str {
        match self {
            Self::Other { message, .. } => message,
            Self::TrailNotFound(m)
            | Self::InvalidTrailName(m)
            | Self::CloudTrailArnInvalid(m)
            | Self::InvalidHomeRegion(m)
            | Self::InvalidTimeRange(m)
            | Self::InvalidEventSelectors(m)
            | Self::ResourceNotFound(m)
            | Self::InvalidTagParameter(m)
            | Self::TagsLimitExceeded(m)
            | Self::InvalidParameter(m)
            | Self::InvalidToken(m)
            | Self::UnsupportedOperation(m)
            | Self::OperationNotPermitted(m)
            | Self::Conflict(m)
            | Self::Throttling(m)
            | Self::UnknownOperation(m)
            | Self::Serialization(m)
            | Self::Internal(m) => m,
        }
    }

    /// HTTP status: 500 for internal failures, 400 for everything the caller can fix.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if matches!(self, Self::Internal(_)) {
            tracing::warn!(error = %self, "CloudTrail API internal failure");
        }
        let body = serde_json::json!({
            "__type": self.error_type(),
            "message": self.message(),
        });
        let mut response = (self.status(), body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        headers.insert(
            "x-amzn-ErrorType",
            HeaderValue::from_static(self.error_type()),
        );
        headers.insert("x-amzn-RequestId", request_id());
        response
    }
}
