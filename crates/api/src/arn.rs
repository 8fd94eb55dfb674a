//! Trail names and ARNs, and how a `Name` parameter finds a trail.
//!
//! Invariant (CloudTrail's): a plain name finds only a trail whose home region is the request's
//! region; an ARN finds the trail with exactly that ARN wherever it lives (that is how shadow
//! trails — multi-region trails seen from another region — are addressed).

use crate::{ApiError, TrailInfo};

/// A trail's ARN: `arn:<partition>:cloudtrail:<home region>:<account>:trail/<name>`.
pub fn trail_arn(partition: &str, region: &str, account: &str, name: &str) -> String {
    format!("arn:{partition}:cloudtrail:{region}:{account}:trail/{name}")
}

/// The parts of a trail ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailArn<'a> {
    /// `aws`, `aws-cn`, `aws-us-gov`, ...
    pub partition: &'a str,
    /// The trail's home region.
    pub region: &'a str,
    /// The owning account (12 digits).
    pub account: &'a str,
    /// The trail name.
    pub name: &'a str,
}

/// Parses a trail ARN; `CloudTrailARNInvalidException` when it is not one.
pub fn parse_trail_arn(arn: &str) -> Result<TrailArn<'_>, ApiError> {
    let invalid = || ApiError::CloudTrailArnInvalid(format!("{arn:?} is not a valid trail ARN"));
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("cloudtrail"), Some(region), Some(account), Some(res)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(invalid());
    };
    let name = res.strip_prefix("trail/").ok_or_else(invalid)?;
    let ok = !partition.is_empty()
        && !region.is_empty()
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && validate_trail_name(name).is_ok();
    if !ok {
        return Err(invalid());
    }
    Ok(TrailArn {
        partition,
        region,
        account,
        name,
    })
}

/// CloudTrail's trail-name rules: 3–128 ASCII letters, digits, `.`, `_`, `-`; starts and ends
/// with a letter or digit; no two adjacent `.`/`_`/`-`; not an IP address.
pub fn validate_trail_name(name: &str) -> Result<(), ApiError> {
    let bad = |why: &str| {
        Err(ApiError::InvalidTrailName(format!(
            "trail name {name:?} {why}"
        )))
    };
    let b = name.as_bytes();
    if !(3..=128).contains(&b.len()) {
        return bad("must be 3 to 128 characters");
    }
    let punct = |c: u8| matches!(c, b'.' | b'_' | b'-');
    if !b.iter().all(|&c| c.is_ascii_alphanumeric() || punct(c)) {
        return bad("may contain only ASCII letters, digits, '.', '_' and '-'");
    }
    if !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric() {
        return bad("must start and end with a letter or digit");
    }
    if b.windows(2).any(|w| punct(w[0]) && punct(w[1])) {
        return bad("must not have adjacent '.', '_' or '-'");
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return bad("must not be an IP address");
    }
    Ok(())
}

/// Finds the trail a `Name`/`TrailName` parameter (name or ARN) designates, as seen from
/// `region` (see the module invariant).
///
/// Errors: `InvalidTrailNameException` for a blank or malformed name,
/// `CloudTrailARNInvalidException` for a malformed ARN, `TrailNotFoundException` otherwise.
pub fn resolve_trail<'t>(
    trails: &'t [TrailInfo],
    name_or_arn: &str,
    region: &str,
) -> Result<&'t TrailInfo, ApiError> {
    if name_or_arn.starts_with("arn:") {
        parse_trail_arn(name_or_arn)?;
        return trails
            .iter()
            .find(|t| t.arn == name_or_arn)
            .ok_or_else(|| ApiError::TrailNotFound(format!("Unknown trail: {name_or_arn}")));
    }
    validate_trail_name(name_or_arn)?;
    trails
        .iter()
        .find(|t| t.name == name_or_arn && t.home_region == region)
        .ok_or_else(|| {
            ApiError::TrailNotFound(format!(
                "Unknown trail: {name_or_arn} for the user in region {region}"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arn_round_trips() {
        let arn = trail_arn("aws", "us-east-1", "123456789012", "management");
        assert_eq!(
            arn,
            "arn:aws:cloudtrail:us-east-1:123456789012:trail/management"
        );
        let p = parse_trail_arn(&arn).unwrap();
        assert_eq!(
            (p.partition, p.region, p.account, p.name),
            ("aws", "us-east-1", "123456789012", "management")
        );
    }

    #[test]
    fn malformed_arns_are_rejected() {
        for arn in [
            "arn:aws:s3:::bucket",
            "arn:aws:cloudtrail:us-east-1:123456789012:eventdatastore/x",
            "arn:aws:cloudtrail:us-east-1:1234:trail/abc",
            "arn:aws:cloudtrail::123456789012:trail/abc",
            "arn:aws:cloudtrail:us-east-1:123456789012:trail/a",
        ] {
            let e = parse_trail_arn(arn).unwrap_err();
            assert_eq!(e.error_type(), "CloudTrailARNInvalidException", "{arn}");
        }
    }

    #[test]
    fn trail_name_rules() {
        for ok in ["abc", "my-trail_1.x", "A1b"] {
            assert!(validate_trail_name(ok).is_ok(), "{ok}");
        }
        let long = "a".repeat(129);
        for bad in [
            "ab",
            "-abc",
            "abc_",
            "a..b",
            "a-_b",
            "a b c",
            "10.0.0.1",
            long.as_str(),
            "",
        ] {
            assert_eq!(
                validate_trail_name(bad).unwrap_err().error_type(),
                "InvalidTrailNameException",
                "{bad}"
            );
        }
    }
}
