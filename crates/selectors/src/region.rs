//! Which regions' records a trail sees, and which records are global service events.
//!
//! Invariant: region scope never looks at selectors. A multi-region trail accepts every
//! `awsRegion`; a single-region trail only its home region. Independently of that, global service
//! events are refused when `include_global_service_events` is false. Since 2021-11-22 CloudTrail
//! records global service events in `us-east-1`, so a single-region trail sees them only when its
//! home region is `us-east-1`.

use serde::Deserialize;
use trailpipe_event::RoutingFields;

use crate::error::{SelectorError, SelectorErrorKind};

/// The region where CloudTrail records global service events.
pub const GLOBAL_SERVICE_REGION: &str = "us-east-1";

/// Event sources whose every record is a global service event: IAM, CloudFront and Route 53
/// are global services with no regional endpoints.
pub const GLOBAL_EVENT_SOURCES: [&str; 3] = [
    "iam.amazonaws.com",
    "cloudfront.amazonaws.com",
    "route53.amazonaws.com",
];

/// Event sources whose records are global service events only when recorded in
/// [`GLOBAL_SERVICE_REGION`]: STS and console sign-in have a global endpoint (logged as
/// `us-east-1`) and regional endpoints (logged in their own region, as ordinary regional events).
/// A call to the regional `us-east-1` endpoint cannot be told apart from one to the global
/// endpoint and is treated as global too.
pub const GLOBAL_ENDPOINT_SOURCES: [&str; 2] = ["sts.amazonaws.com", "signin.amazonaws.com"];

/// A trail's region settings, built by the caller from the trail's config.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionScope {
    /// Whether the trail logs records from every region (else only `home_region`).
    pub is_multi_region_trail: bool,
    /// The trail's home region, `[a-z0-9-]+`.
    pub home_region: String,
    /// Whether the trail logs global service events (see [`is_global_service_event`]).
    pub include_global_service_events: bool,
}

impl RegionScope {
    /// Whether a record is within this scope. Does not validate `home_region`; an invalid one
    /// matches no record of a single-region trail, and [`crate::TrailSelector::new`] refuses it.
    pub fn accepts(&self, f: &RoutingFields) -> bool {
        let region_ok = self.is_multi_region_trail || *f.aws_region == *self.home_region;
        region_ok && (self.include_global_service_events || !is_global_service_event(f))
    }

    /// The mistakes in this scope: an empty home region or one outside `[a-z0-9-]+`.
    pub(crate) fn validate(&self) -> Vec<SelectorError> {
        let r = &self.home_region;
        let valid = !r.is_empty()
            && r.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if valid {
            Vec::new()
        } else {
            vec![SelectorError::new(
                "home_region",
                SelectorErrorKind::InvalidHomeRegion { region: r.clone() },
            )]
        }
    }
}

/// Whether a record is a global service event: its source is in [`GLOBAL_EVENT_SOURCES`], or in
/// [`GLOBAL_ENDPOINT_SOURCES`] with `awsRegion` [`GLOBAL_SERVICE_REGION`]. Records without an
/// `eventSource` (Insights) are not.
pub fn is_global_service_event(f: &RoutingFields) -> bool {
    let Some(source) = f.event_source.as_deref() else {
        return false;
    };
    GLOBAL_EVENT_SOURCES.contains(&source)
        || (GLOBAL_ENDPOINT_SOURCES.contains(&source) && *f.aws_region == *GLOBAL_SERVICE_REGION)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::record;

    fn scope(multi: bool, home: &str, global: bool) -> RegionScope {
        RegionScope {
            is_multi_region_trail: multi,
            home_region: home.to_owned(),
            include_global_service_events: global,
        }
    }

    #[test]
    fn multi_region_trail_accepts_every_region() {
        let s = scope(true, "eu-west-1", true);
        for region in ["us-east-1", "eu-west-1", "ap-southeast-2"] {
            assert!(s.accepts(&record().region(region).build()), "{region}");
        }
    }

    #[test]
    fn single_region_trail_accepts_only_home_region() {
        let s = scope(false, "eu-west-1", true);
        assert!(s.accepts(&record().region("eu-west-1").build()));
        assert!(!s.accepts(&record().region("eu-west-2").build()));
        assert!(!s.accepts(&record().region("us-east-1").build()));
    }

    #[test]
    fn global_sources_are_recognised() {
        for src in GLOBAL_EVENT_SOURCES {
            for region in ["us-east-1", "eu-west-1"] {
                let f = record().source(src).region(region).build();
                assert!(is_global_service_event(&f), "{src} {region}");
            }
        }
        for src in GLOBAL_ENDPOINT_SOURCES {
            let f = record().source(src).region("us-east-1").build();
            assert!(is_global_service_event(&f), "{src}");
            let f = record().source(src).region("eu-west-1").build();
            assert!(!is_global_service_event(&f), "regional endpoint {src}");
        }
        let ec2 = record()
            .source("ec2.amazonaws.com")
            .region("us-east-1")
            .build();
        assert!(!is_global_service_event(&ec2));
        let insight = record().no_source().region("us-east-1").build();
        assert!(!is_global_service_event(&insight));
    }

    #[test]
    fn global_events_excluded_when_not_included() {
        let iam = record()
            .source("iam.amazonaws.com")
            .region("us-east-1")
            .build();
        let sts_regional = record()
            .source("sts.amazonaws.com")
            .region("eu-west-1")
            .build();
        let s = scope(true, "eu-west-1", false);
        assert!(!s.accepts(&iam));
        assert!(s.accepts(&sts_regional));
        assert!(scope(true, "eu-west-1", true).accepts(&iam));
    }

    #[test]
    fn single_region_trail_sees_global_events_only_from_us_east_1() {
        let iam = record()
            .source("iam.amazonaws.com")
            .region("us-east-1")
            .build();
        assert!(scope(false, "us-east-1", true).accepts(&iam));
        assert!(!scope(false, "eu-west-1", true).accepts(&iam));
        assert!(!scope(false, "us-east-1", false).accepts(&iam));
    }

    #[test]
    fn home_region_is_validated() {
        assert!(scope(false, "us-east-1", true).validate().is_empty());
        for bad in ["", "US-EAST-1", "eu west 1", "eu_west_1", "eu-west-1/"] {
            let errs = scope(false, bad, true).validate();
            assert_eq!(errs.len(), 1, "{bad:?}");
            assert_eq!(errs[0].path, "home_region");
        }
    }
}
