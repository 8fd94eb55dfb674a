//! Parsing what a SigV4 request says about itself: the `Authorization` header
//! (`AWS4-HMAC-SHA256 Credential=AKID/YYYYMMDD/region/service/aws4_request,
//! SignedHeaders=a;b;c, Signature=hex`) and the `x-amz-date` timestamp (`YYYYMMDD'T'HHMMSS'Z'`).
//!
//! Invariant: a [`SigV4Authorization`] has all three parameters, a five-element credential
//! scope ending in `aws4_request` and a non-empty, lower-cased, de-duplicated signed-header
//! list; anything else is an [`AuthError::Malformed`] whose text follows AWS's.

use time::{macros::format_description, OffsetDateTime, PrimitiveDateTime};

use crate::AuthError;

/// The only algorithm accepted (SigV4A and SigV2 are not).
pub(crate) const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const TERMINATOR: &str = "aws4_request";

/// A parsed `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SigV4Authorization {
    pub access_key_id: String,
    /// `YYYYMMDD`.
    pub scope_date: String,
    pub region: String,
    pub service: String,
    /// Lower-cased, in the client's order, without repeats.
    pub signed_headers: Vec<String>,
    pub signature: String,
}

impl SigV4Authorization {
    /// Parses an `Authorization` header value.
    pub(crate) fn parse(header: &str) -> Result<Self, AuthError> {
        let (algorithm, params) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
        if algorithm != ALGORITHM {
            return Err(AuthError::Malformed(format!(
                "Unsupported AWS 'algorithm': '{algorithm}'; only '{ALGORITHM}' is accepted."
            )));
        }
        let (mut credential, mut signed_headers, mut signature) = (None, None, None);
        for part in params.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((key, value)) = part.split_once('=') else {
                return Err(AuthError::Malformed(format!(
                    "'{part}' not a valid key=value pair (missing equal-sign) in Authorization header: '{header}'."
                )));
            };
            let slot = match key.trim() {
                "Credential" => &mut credential,
                "SignedHeaders" => &mut signed_headers,
                "Signature" => &mut signature,
                _ => continue,
            };
            if slot.replace(value.trim()).is_some() {
                return Err(AuthError::Malformed(format!(
                    "Authorization header has the '{key}' parameter twice: '{header}'."
                )));
            }
        }
        fn present(v: Option<&str>) -> Option<&str> {
            v.filter(|v| !v.is_empty())
        }
        let (Some(credential), Some(signed_headers), Some(signature)) = (
            present(credential),
            present(signed_headers),
            present(signature),
        ) else {
            let mut missing = String::new();
            for (name, value) in [
                ("Credential", credential),
                ("Signature", signature),
                ("SignedHeaders", signed_headers),
            ] {
                if present(value).is_none() {
                    missing.push_str(&format!(
                        "Authorization header requires '{name}' parameter. "
                    ));
                }
            }
            return Err(AuthError::Malformed(format!(
                "{missing}Authorization={header}"
            )));
        };

        let scope: Vec<&str> = credential.split('/').collect();
        let [access_key_id, date, region, service, terminator] = scope[..] else {
            return Err(AuthError::Malformed(format!(
                "Credential should have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{credential}'"
            )));
        };
        if terminator != TERMINATOR {
            return Err(AuthError::Malformed(format!(
                "Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{terminator}'."
            )));
        }
        if access_key_id.is_empty() {
            return Err(AuthError::Malformed(format!(
                "Credential has an empty access key id: '{credential}'"
            )));
        }
        if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AuthError::Malformed(format!(
                "Credential scope date must be YYYYMMDD, got '{date}'"
            )));
        }

        let mut names: Vec<String> = Vec::new();
        for name in signed_headers.split(';') {
            let name = name.trim().to_ascii_lowercase();
            if name.is_empty() {
                return Err(AuthError::Malformed(format!(
                    "SignedHeaders has an empty header name: '{signed_headers}'"
                )));
            }
            if !names.contains(&name) {
                names.push(name);
            }
        }
        Ok(Self {
            access_key_id: access_key_id.to_owned(),
            scope_date: date.to_owned(),
            region: region.to_owned(),
            service: service.to_owned(),
            signed_headers: names,
            signature: signature.to_owned(),
        })
    }

    /// Whether `name` (lower case) is signed.
    pub(crate) fn signs(&self, name: &str) -> bool {
        self.signed_headers.iter().any(|h| h == name)
    }
}

/// Parses an `x-amz-date` value, ISO 8601 basic format in UTC (`20261206T103000Z`), the only
/// form SigV4 signs.
pub(crate) fn parse_amz_date(value: &str) -> Result<OffsetDateTime, AuthError> {
    let b = value.as_bytes();
    let shape_ok = b.len() == 16
        && b[8] == b'T'
        && b[15] == b'Z'
        && b[..8].iter().chain(&b[9..15]).all(u8::is_ascii_digit);
    let parsed = shape_ok
        .then(|| {
            PrimitiveDateTime::parse(
                &value[..15],
                format_description!("[year][month][day]T[hour][minute][second]"),
            )
            .ok()
        })
        .flatten();
    parsed
        .map(PrimitiveDateTime::assume_utc)
        .ok_or_else(|| {
            AuthError::Malformed(format!(
                "Date must be in ISO-8601 'basic format'. Got '{value}'. See http://en.wikipedia.org/wiki/ISO_8601"
            ))
        })
}

/// Formats a UTC time as `x-amz-date` does (`20261206T103000Z`), truncated to the second.
pub(crate) fn format_amz_date(t: OffsetDateTime) -> String {
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTOCORE: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261206/us-east-1/cloudtrail/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=3e9e07bdb74cfa6b62df28cd3da78981ed39842803661d784290450c721738a7";

    fn malformed(header: &str) -> String {
        match SigV4Authorization::parse(header) {
            Err(AuthError::Malformed(m)) => m,
            other => panic!("{header}: {other:?}"),
        }
    }

    #[test]
    fn parses_what_botocore_sends() {
        let a = SigV4Authorization::parse(BOTOCORE).unwrap();
        assert_eq!(a.access_key_id, "AKIDEXAMPLE");
        assert_eq!(a.scope_date, "20261206");
        assert_eq!(a.region, "us-east-1");
        assert_eq!(a.service, "cloudtrail");
        assert_eq!(
            a.signed_headers,
            ["content-type", "host", "x-amz-date", "x-amz-target"]
        );
        assert_eq!(a.signature.len(), 64);
        // The Rust SDK writes no space after the commas.
        let compact = BOTOCORE.replace(", ", ",");
        assert_eq!(SigV4Authorization::parse(&compact).unwrap(), a);
    }

    #[test]
    fn malformed_headers_are_described_as_aws_does() {
        assert!(malformed("AWS4-HMAC-SHA512 Credential=a/b/c/d/e").contains("Unsupported"));
        assert!(malformed("Bearer abc").contains("Unsupported"));
        assert!(malformed(
            "AWS4-HMAC-SHA256 Credential=AKID/20261206/us-east-1/cloudtrail/aws4_request, SignedHeaders=host, Signature"
        )
        .contains("not a valid key=value pair"));
        let m = malformed(
            "AWS4-HMAC-SHA256 Credential=AKID/20261206/us-east-1/cloudtrail/aws4_request",
        );
        assert!(m.contains("requires 'Signature' parameter"), "{m}");
        assert!(m.contains("requires 'SignedHeaders' parameter"), "{m}");
        assert!(!m.contains("requires 'Credential'"), "{m}");
        assert!(malformed(
            "AWS4-HMAC-SHA256 Credential=AKID/20261206/us-east-1/aws4_request, SignedHeaders=host, Signature=00"
        )
        .contains("exactly 5 slash-delimited"));
        assert!(malformed(
            "AWS4-HMAC-SHA256 Credential=AKID/20261206/us-east-1/cloudtrail/aws5_request, SignedHeaders=host, Signature=00"
        )
        .contains("valid terminator"));
        assert!(malformed(
            "AWS4-HMAC-SHA256 Credential=AKID/2026-12-06/us-east-1/cloudtrail/aws4_request, SignedHeaders=host, Signature=00"
        )
        .contains("YYYYMMDD"));
        assert!(malformed(
            "AWS4-HMAC-SHA256 Credential=AKID/20261206/us-east-1/cloudtrail/aws4_request, SignedHeaders=host;;x, Signature=00"
        )
        .contains("empty header name"));
        assert!(malformed(
            "AWS4-HMAC-SHA256 Credential=A/20261206/r/cloudtrail/aws4_request, Credential=B/20261206/r/cloudtrail/aws4_request, SignedHeaders=host, Signature=00"
        )
        .contains("twice"));
    }

    #[test]
    fn amz_dates_round_trip_and_only_the_basic_format_parses() {
        let t = parse_amz_date("20261206T103000Z").unwrap();
        assert_eq!(format_amz_date(t), "20261206T103000Z");
        for bad in [
            "2026-12-06T10:30:00Z",
            "20261206T103000",
            "20261306T103000Z",
            "20261206T106000Z",
            "Sun, 06 Dec 2026 10:30:00 GMT",
            "",
        ] {
            assert!(
                matches!(parse_amz_date(bad), Err(AuthError::Malformed(m)) if m.contains("ISO-8601")),
                "{bad}"
            );
        }
    }
}
