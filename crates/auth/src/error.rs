//! Why a request is refused, as AWS answers it: an error code (the JSON body's `__type` and the
//! `x-amzn-ErrorType` header), an HTTP status and a message in AWS's own words, so scripts that
//! match on `aws` CLI errors behave the same against trailpipe.
//!
//! Sources for codes, statuses and wording. CloudTrail speaks AWS JSON 1.1 from the same
//! request-handling framework ("Coral") as DynamoDB, and both answer authentication failures
//! with HTTP **400**, not 403 (the 403s in the shared "Common Errors" page are the Query
//! protocol's, e.g. `MissingAuthenticationToken` without the suffix):
//! - `MissingAuthenticationTokenException` / 400 / "Request is missing Authentication Token":
//!   DynamoDB responses quoted in github.com/architect/dynalite/issues/105 (Go SDK,
//!   `statusCode: 400`) and github.com/amazon-archives/aws-dynamodb-session-tomcat/issues/42
//!   (`Status Code: 400; Error Code: MissingAuthenticationTokenException`);
//! - `UnrecognizedClientException` / 400 / "The security token included in the request is
//!   invalid.": github.com/yegor256/s3auth/issues/237 and github.com/jcabi/jcabi-dynamo/issues/101
//!   (`Status Code: 400; Error Code: UnrecognizedClientException`);
//! - `InvalidSignatureException` / 400, "Signature expired: ... is now earlier than ... (... -
//!   15 min.)": github.com/aws/aws-sdk-js/issues/254 (`"statusCode":400`); "Signature not yet
//!   current: ... is still later than ... (... + 5 min.)": github.com/serverless/enterprise/issues/11;
//!   "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization." is an
//!   `InvalidSignatureException` (`com.amazon.coral.service#InvalidSignatureException`):
//!   github.com/aws/aws-sdk-php/issues/2469; the scope messages ("Date in Credential scope does
//!   not match YYYYMMDD from ISO-8601 version of date from HTTP", "Credential should be scoped to
//!   correct service") are listed in the IAM User Guide, "Troubleshoot signed requests for AWS
//!   APIs" (docs.aws.amazon.com/IAM/latest/UserGuide/signature-v4-troubleshooting.html);
//! - `IncompleteSignatureException` / 400 for a malformed `Authorization` header ("... not a
//!   valid key=value pair (missing equal-sign) in Authorization header", "'accept' is named as a
//!   SignedHeader, but it does not exist in the HTTP request."):
//!   github.com/iann0036/cloud9-sync/issues/10 (`statusCode: 400`) and
//!   github.com/awslabs/aws-mobile-appsync-sdk-js/issues/702;
//! - `AccessDeniedException` / 400: CloudTrail API Reference, "Common Errors"
//!   (docs.aws.amazon.com/awscloudtrail/latest/APIReference/CommonErrors.html: "HTTP Status
//!   Code: 400"); message format "User: arn:aws:iam::123456789012:user/mateojackson is not
//!   authorized to perform: cloudtrail:GetTrailStatus on resource: My-Trail" from the CloudTrail
//!   User Guide, "Troubleshooting CloudTrail identity and access".
//!
//! Invariant: no message contains a secret access key (only access key ids, dates, header names
//! and values the client sent itself).

use crate::verify::SERVICE;

/// HTTP 400, the status of every refusal here (see the module documentation).
const BAD_REQUEST: u16 = 400;

/// A request that fails authentication (or, wrapped, authorization). Variants say what failed
/// and with which input; [`AuthError::code`] groups them into AWS's error codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No `Authorization` header, and credentials are configured.
    #[error("Request is missing Authentication Token")]
    MissingAuthorization,
    /// The `Authorization` header (or a header it names) is malformed or incomplete; the text
    /// says how, in AWS's words where AWS has them.
    #[error("{0}")]
    Malformed(String),
    /// The request cannot be put in SigV4's canonical form (a signed header that is not
    /// visible ASCII, a URI `aws-sigv4` refuses).
    #[error("the request cannot be canonicalized for SigV4: {0}")]
    Unsignable(String),
    /// `host` is not among the signed headers.
    #[error("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")]
    HostNotSigned,
    /// `x-amz-date` is not among the signed headers.
    #[error("'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.")]
    DateNotSigned,
    /// The credential scope's date is not the date of `x-amz-date`.
    #[error("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{scope_date}' != '{request_date}', from '{x_amz_date}'.")]
    ScopeDateMismatch {
        /// `YYYYMMDD` from the credential scope.
        scope_date: String,
        /// `YYYYMMDD` from `x-amz-date`.
        request_date: String,
        /// The `x-amz-date` value.
        x_amz_date: String,
    },
    /// The credential scope names another service than `cloudtrail`.
    #[error("Credential should be scoped to correct service: '{SERVICE}'.")]
    WrongService {
        /// The service in the scope.
        service: String,
    },
    /// The credential scope's region is not a region name.
    #[error("Credential should be scoped to a valid region, not '{region}'.")]
    InvalidRegion {
        /// The region in the scope.
        region: String,
    },
    /// `x-amz-date` is more than 15 minutes before the verifier's clock.
    #[error("Signature expired: {signed} is now earlier than {limit} ({now} - 15 min.)")]
    Expired {
        /// `x-amz-date`.
        signed: String,
        /// `now` − 15 min.
        limit: String,
        /// The verifier's time.
        now: String,
    },
    /// `x-amz-date` is more than 15 minutes after the verifier's clock.
    #[error("Signature not yet current: {signed} is still later than {limit} ({now} + 15 min.)")]
    NotYetCurrent {
        /// `x-amz-date`.
        signed: String,
        /// `now` + 15 min.
        limit: String,
        /// The verifier's time.
        now: String,
    },
    /// The access key id is not configured.
    #[error("The security token included in the request is invalid.")]
    UnknownAccessKey {
        /// The id the request was signed with.
        access_key_id: String,
    },
    /// The request carries `x-amz-security-token`: trailpipe issues no temporary credentials,
    /// so no session token can be valid.
    #[error("The security token included in the request is invalid.")]
    SessionToken,
    /// `x-amz-content-sha256` is not the SHA-256 of the body.
    #[error("The provided 'x-amz-content-sha256' header does not match what was computed.")]
    PayloadHashMismatch,
    /// The signature is not the one the stored secret gives.
    #[error("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")]
    SignatureMismatch,
    /// Authenticated (or anonymous), but not allowed to call the operation.
    #[error("{0}")]
    AccessDenied(#[from] Denied),
}

impl AuthError {
    /// AWS's error code: the response's `__type` and `x-amzn-ErrorType`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingAuthorization => "MissingAuthenticationTokenException",
            Self::Malformed(_) | Self::Unsignable(_) => "IncompleteSignatureException",
            Self::UnknownAccessKey { .. } | Self::SessionToken => "UnrecognizedClientException",
            Self::HostNotSigned
            | Self::DateNotSigned
            | Self::ScopeDateMismatch { .. }
            | Self::WrongService { .. }
            | Self::InvalidRegion { .. }
            | Self::Expired { .. }
            | Self::NotYetCurrent { .. }
            | Self::PayloadHashMismatch
            | Self::SignatureMismatch => "InvalidSignatureException",
            Self::AccessDenied(d) => d.code(),
        }
    }

    /// The HTTP status: 400 for all of them (AWS JSON 1.1, see the module documentation).
    pub fn status(&self) -> u16 {
        BAD_REQUEST
    }

    /// The message for the response body.
    pub fn message(&self) -> String {
        self.to_string()
    }
}

/// A refused operation: CloudTrail's `AccessDeniedException` (HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Denied {
    message: String,
}

impl Denied {
    /// `principal_arn` may not call `operation` (on `trail`, when the operation names one), in
    /// IAM's words.
    pub(crate) fn for_principal(principal_arn: &str, operation: &str, trail: Option<&str>) -> Self {
        let on = trail.map_or(String::new(), |t| format!(" on resource: {t}"));
        Self {
            message: format!(
                "User: {principal_arn} is not authorized to perform: cloudtrail:{operation}{on} because no identity-based policy allows the cloudtrail:{operation} action"
            ),
        }
    }

    /// An unsigned request may not call `operation`, which changes trails, while the API runs
    /// without credentials; the message says how to enable it.
    pub(crate) fn unsigned(operation: &str) -> Self {
        Self {
            message: format!(
                "cloudtrail:{operation} changes trails and needs a signed request, but the API has no credentials configured. Add an [[api.credentials]] entry with policy = \"admin\" to the trailpipe configuration and sign with its access key (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY), or set [api] allow_unauthenticated = true to let anyone who reaches the port change trails"
            ),
        }
    }

    /// AWS's error code, `AccessDeniedException`.
    pub fn code(&self) -> &'static str {
        "AccessDeniedException"
    }

    /// The HTTP status, 400.
    pub fn status(&self) -> u16 {
        BAD_REQUEST
    }

    /// The message for the response body.
    pub fn message(&self) -> &str {
        &self.message
    }
}
