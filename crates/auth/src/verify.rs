//! SigV4 verification: is this request signed by a configured credential, recently, for
//! CloudTrail?
//!
//! The checks, in AWS's order and with AWS's answers ([`AuthError`]): an `Authorization` header
//! exists and parses; `host` and `x-amz-date` are signed and every signed header is present;
//! the credential scope's date is `x-amz-date`'s date and its service is `cloudtrail`;
//! `x-amz-date` is within [`TIME_WINDOW`] of `now`, either way; the access key id is
//! configured; `x-amz-content-sha256`, when sent, is the body's SHA-256; and the signature is
//! the one the stored secret gives, compared in constant time.
//!
//! The expected signature is computed by `aws-sigv4` (the AWS Rust SDK's signer), never by an
//! HMAC chain of ours: the request is rebuilt from **only the headers the client signed** and
//! signed again with the client's time, region and service and the stored secret. That
//! reproduces the client's canonical request exactly because:
//! - `aws-sigv4` signs every header it is given except `excluded_headers`, which is cleared
//!   here, so its `SignedHeaders` is the client's list (it sorts names, as SigV4 requires);
//! - the two headers it adds itself, `host` (only when missing) and `x-amz-date` (rewritten from
//!   the signing time), are required to be signed, and `x-amz-date` is parsed strictly, so the
//!   rewritten value is the client's byte for byte;
//! - the payload hash is the SHA-256 of the body, which is also what a client that sends
//!   `x-amz-content-sha256` must have signed (a different value is refused first);
//! - the path is normalized and `%`-re-encoded as every SDK does for services other than S3.
//!
//! Known limits of that equivalence, irrelevant to CloudTrail's JSON protocol (always `POST /`
//! without a query string): a query string is canonicalized by `aws-sigv4`'s rules
//! (form-decoded, then RFC 3986-encoded; botocore sorts the raw pairs instead), and header values
//! are trimmed of spaces only (botocore also folds tabs). A client differing there gets
//! `InvalidSignatureException`, never a false accept.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::{
    http_request::{sign, SignableBody, SignableRequest, SigningSettings},
    sign::v4,
};
use http::{header::AUTHORIZATION, HeaderMap, Method, Uri};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use crate::{
    scope::{format_amz_date, parse_amz_date, SigV4Authorization},
    AuthError, CredentialStore, Principal, SecretAccessKey,
};

/// The service name a request must be signed for (its credential scope's fourth element).
pub const SERVICE: &str = "cloudtrail";

/// How far `x-amz-date` may be from the verifier's clock, either way (AWS: 15 minutes).
pub const TIME_WINDOW: Duration = Duration::from_secs(15 * 60);

const X_AMZ_DATE: &str = "x-amz-date";
const X_AMZ_CONTENT_SHA256: &str = "x-amz-content-sha256";
const X_AMZ_SECURITY_TOKEN: &str = "x-amz-security-token";

/// Verifies a request's SigV4 signature at time `now` against `store`; returns the principal
/// whose credential signed it.
///
/// `uri` is the request target as received (`/` for CloudTrail), `headers` all request headers
/// (with `host`), `body` the whole body.
pub fn verify(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
    store: &CredentialStore,
) -> Result<Principal, AuthError> {
    let authorization =
        single_header(headers, AUTHORIZATION.as_str())?.ok_or(AuthError::MissingAuthorization)?;
    let auth = SigV4Authorization::parse(authorization)?;

    if !auth.signs("host") {
        return Err(AuthError::HostNotSigned);
    }
    let Some(x_amz_date) = single_header(headers, X_AMZ_DATE)? else {
        return Err(AuthError::Malformed(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header (trailpipe reads 'X-Amz-Date' only)."
                .into(),
        ));
    };
    if !auth.signs(X_AMZ_DATE) {
        return Err(AuthError::DateNotSigned);
    }
    if let Some(name) = auth
        .signed_headers
        .iter()
        .find(|name| !headers.contains_key(name.as_str()))
    {
        return Err(AuthError::Malformed(format!(
            "'{name}' is named as a SignedHeader, but it does not exist in the HTTP request."
        )));
    }

    let signed_at = parse_amz_date(x_amz_date)?;
    if auth.scope_date != x_amz_date[..8] {
        return Err(AuthError::ScopeDateMismatch {
            scope_date: auth.scope_date,
            request_date: x_amz_date[..8].to_owned(),
            x_amz_date: x_amz_date.to_owned(),
        });
    }
    if auth.service != SERVICE {
        return Err(AuthError::WrongService {
            service: auth.service,
        });
    }
    if !is_region(&auth.region) {
        return Err(AuthError::InvalidRegion {
            region: auth.region,
        });
    }
    check_time(signed_at, now)?;

    let credential = store
        .get(&auth.access_key_id)
        .ok_or_else(|| AuthError::UnknownAccessKey {
            access_key_id: auth.access_key_id.clone(),
        })?;
    if headers.contains_key(X_AMZ_SECURITY_TOKEN) {
        return Err(AuthError::SessionToken);
    }
    if let Some(claimed) = single_header(headers, X_AMZ_CONTENT_SHA256)? {
        let actual = hex_sha256(body);
        if !claimed.eq_ignore_ascii_case(&actual) {
            return Err(AuthError::PayloadHashMismatch);
        }
    }

    let expected = expected_signature(
        method,
        uri,
        headers,
        body,
        &auth,
        signed_at,
        &credential.secret_access_key,
    )?;
    if !bool::from(expected.as_bytes().ct_eq(auth.signature.as_bytes())) {
        return Err(AuthError::SignatureMismatch);
    }
    Ok(Principal::new(credential, auth.region))
}

/// The value of header `name` if present once; two values are malformed (which one was
/// signed?), a value that is not visible ASCII too.
fn single_header<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, AuthError> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(AuthError::Malformed(format!(
            "The request has more than one '{name}' header."
        )));
    }
    value
        .to_str()
        .map(Some)
        .map_err(|_| AuthError::Malformed(format!("The '{name}' header is not visible ASCII.")))
}

/// A plausible region name (it only enters the signing key, but a junk scope is refused as AWS
/// refuses it).
fn is_region(region: &str) -> bool {
    (1..=64).contains(&region.len())
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Refuses a signing time more than [`TIME_WINDOW`] away from `now` (compared to the second,
/// as `x-amz-date` has no fractions).
fn check_time(signed_at: OffsetDateTime, now: SystemTime) -> Result<(), AuthError> {
    let now = OffsetDateTime::from(now);
    let now = now.replace_nanosecond(0).unwrap_or(now);
    let window = time::Duration::try_from(TIME_WINDOW).expect("15 minutes fits in time::Duration");
    let (earliest, latest) = (now.saturating_sub(window), now.saturating_add(window));
    if signed_at < earliest {
        return Err(AuthError::Expired {
            signed: format_amz_date(signed_at),
            limit: format_amz_date(earliest),
            now: format_amz_date(now),
        });
    }
    if signed_at > latest {
        return Err(AuthError::NotYetCurrent {
            signed: format_amz_date(signed_at),
            limit: format_amz_date(latest),
            now: format_amz_date(now),
        });
    }
    Ok(())
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The signature `aws-sigv4` gives the request made of the client's signed headers, signed with
/// the client's scope and time and the stored secret (see the module documentation).
fn expected_signature(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    auth: &SigV4Authorization,
    signed_at: OffsetDateTime,
    secret: &SecretAccessKey,
) -> Result<String, AuthError> {
    let mut signed = Vec::new();
    for name in &auth.signed_headers {
        for value in headers.get_all(name.as_str()) {
            let value = value.to_str().map_err(|_| {
                AuthError::Unsignable(format!(
                    "the value of signed header '{name}' is not visible ASCII"
                ))
            })?;
            signed.push((name.as_str(), value));
        }
    }

    let mut settings = SigningSettings::default();
    // Sign exactly what the client signed (by default aws-sigv4 skips e.g. `user-agent`, which
    // some clients do sign).
    settings.excluded_headers = None;
    let identity = Credentials::new(
        auth.access_key_id.clone(),
        secret.expose().to_owned(),
        None,
        None,
        "trailpipe-auth",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&auth.region)
        .name(SERVICE)
        .time(SystemTime::from(signed_at))
        .settings(settings)
        .build()
        .map_err(|e| AuthError::Unsignable(e.to_string()))?
        .into();
    let target = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let request = SignableRequest::new(
        method.as_str(),
        target,
        signed.into_iter(),
        SignableBody::Bytes(body),
    )
    .map_err(|e| AuthError::Unsignable(error_chain(&e)))?;
    let (_instructions, signature) = sign(request, &params)
        .map_err(|e| AuthError::Unsignable(error_chain(&e)))?
        .into_parts();
    Ok(signature)
}

/// An error and its sources, one line (aws-sigv4's errors keep the detail in `source()`).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests;
