//! Which records a trail logs: CloudTrail's event selectors (basic and advanced) and region
//! scope, as a pure function of a record's [`RoutingFields`].
//!
//! Invariant: [`TrailSelector::matches`] is true iff the record is within the trail's
//! [`RegionScope`] **and** matches the trail's event selectors, exactly as below. A
//! [`TrailSelector`] is only built from a config that passed every rule of reference §7; matching
//! never allocates, never fails and uses no regex (it runs per record per trail).
//!
//! # Selectors
//!
//! * **No selectors** (`event_selectors` and `advanced_event_selectors` both empty or absent):
//!   all management events, read and write; no data, network-activity or Insights events.
//! * **Either kind, not both**: a trail with both is refused. Selectors of a trail are ORed.
//! * Only records with `eventCategory` `Management` count as management events (the event
//!   crate applies CloudTrail's defaults for records older than eventVersion 1.07);
//!   `managementEvent` is not consulted. Records of category `Insight` (or an unknown one) match
//!   no selector: Insights are governed by insight selectors, not event selectors.
//!
//! ## Basic selectors (`event_selectors`, at most 5)
//!
//! A record matches iff its `readOnly` fits `read_write_type` — `All` fits every record,
//! including one **without** `readOnly`; `ReadOnly` needs `readOnly: true`, `WriteOnly` needs
//! `readOnly: false`, so a record without `readOnly` matches only `All` — **and** either
//! * it is a management event, `include_management_events` is true and its `eventSource` is not
//!   in `exclude_management_event_sources` (only `kms.amazonaws.com` / `rdsdata.amazonaws.com`
//!   may be listed; a record without `eventSource` is never excluded), or
//! * it is a data event and one of its `resources[]` matches one of the selector's data
//!   resources: the resource's `type` equals the data resource's type and
//!   * `AWS::S3::Object`: its `ARN` starts with a value (`arn:aws:s3:::bucket/` = the whole
//!     bucket, `arn:aws:s3:::bucket/images` = a key prefix). Values must look like
//!     `arn:aws:s3:::<bucket>/...`: without the slash, `bucket` would also match `bucket-2`;
//!   * `AWS::Lambda::Function`: its `ARN` equals a value (a function ARN, optionally qualified);
//!   * `AWS::DynamoDB::Table`: its `ARN` equals a value (a table ARN).
//!
//!   The "all" values `arn:aws:s3` (and its older spelling `arn:aws:s3:::`), `arn:aws:lambda`
//!   and `arn:aws:dynamodb` match every resource of their type, even one without an `ARN`.
//!   Only the `aws` partition is accepted. A data resource with no values is refused (it would
//!   match nothing); at most 250 specific values per trail ("all" values not counted).
//!
//! Network-activity records never match basic selectors.
//!
//! ## Advanced selectors (`advanced_event_selectors`)
//!
//! A selector matches iff **all** its field selectors match; a field selector matches iff
//! **all** its operators hold (several operators in one field selector are ANDed, CloudTrail
//! leaves this undocumented). Values inside one operator are ORed: `equals`, `starts_with`,
//! `ends_with` hold iff the field's value equals / starts with / ends with **some** listed value;
//! `not_equals`, `not_starts_with`, `not_ends_with` hold iff it does so with **none**.
//! Comparisons are exact and case-sensitive; there are no wildcards.
//!
//! * `resources.type` and `resources.ARN` have one value per resource carrying that key: a
//!   positive operator holds iff some resource's value matches, a negative one iff no
//!   resource's value matches. Each operator is judged over all resources on its own (a
//!   `starts_with` and an `ends_with` may be satisfied by different resources).
//! * A **missing** field (no `eventSource` on Insights, no `errorCode` on success, no
//!   `readOnly`, no resources, ...) has no value: positive operators fail, negative ones hold.
//! * `readOnly` compares against `"true"` / `"false"`. `sessionCredentialFromConsole` too, and
//!   since records only carry it when true, an absent one compares as `"false"` — so
//!   `equals = ["false"]` means "not a console session".
//! * `eventCategory` compares against the category's CloudTrail spelling
//!   ([`trailpipe_event::EventCategory::as_str`]).
//!
//! Validation (reference §7.2): fields are `eventCategory`, `eventSource`, `eventName`,
//! `eventType`, `readOnly`, `resources.type`, `resources.ARN`, `sessionCredentialFromConsole`,
//! `userIdentity.arn`, `errorCode`, `vpcEndpointId`; each field selector has an operator, each
//! operator at least one value of 1–2048 characters; `readOnly`, `eventCategory` and
//! `resources.type` accept only `equals`; `readOnly` / `sessionCredentialFromConsole` values are
//! `true`/`false`, `eventCategory` values `Management`/`Data`/`NetworkActivity`; every selector
//! has an `eventCategory` field selector, one selecting `Data` also a `resources.type` one with
//! exactly one value; names are at most 1000 characters; at most 500 values per trail. Repeating
//! a field in one selector is allowed (its field selectors are ANDed).
//!
//! # Region scope
//!
//! See [`region`]: a multi-region trail accepts every `awsRegion`, a single-region trail only its
//! `home_region`. When `include_global_service_events` is false, global service events are
//! refused: every record from IAM, CloudFront and Route 53, and STS / console sign-in records in
//! `us-east-1` (their global endpoint; their regional endpoints log ordinary regional events).
//! CloudTrail records global service events in `us-east-1`, so a single-region trail sees them
//! only when its home region is `us-east-1`. A multi-region trail without global service events
//! is accepted (CloudTrail's API refuses that combination; here it simply drops them).

mod advanced;
mod basic;
mod config;
mod error;
pub mod region;

#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod test_support;

pub use advanced::{MAX_ADVANCED_VALUES, MAX_NAME_CHARS, MAX_VALUE_CHARS};
pub use basic::{
    counts_toward_data_limit, EXCLUDABLE_SOURCES, MAX_DATA_RESOURCE_VALUES, MAX_EVENT_SELECTORS,
};
pub use config::{
    AdvancedEventSelector, DataResource, EventSelector, FieldSelector, Operator, ReadWriteType,
};
pub use error::{SelectorError, SelectorErrorKind};
pub use region::{is_global_service_event, RegionScope};

use trailpipe_event::RoutingFields;

/// A trail's compiled selectors and region scope: decides whether the trail logs a record.
#[derive(Debug, Clone)]
pub struct TrailSelector {
    scope: RegionScope,
    events: Events,
}

/// The compiled selectors of one kind (never both).
#[derive(Debug, Clone)]
enum Events {
    Basic(Box<[basic::BasicSelector]>),
    Advanced(Box<[advanced::AdvancedSelector]>),
}

impl TrailSelector {
    /// Validates a trail's region scope and selectors and compiles them. On error, returns every
    /// mistake found, each with a path relative to the trail (`event_selectors[0]...`,
    /// `advanced_event_selectors[1].field_selectors[0].field`, `home_region`).
    pub fn new(
        scope: RegionScope,
        basic: &[EventSelector],
        advanced: &[AdvancedEventSelector],
    ) -> Result<Self, Vec<SelectorError>> {
        let mut errors = scope.validate();
        if !basic.is_empty() && !advanced.is_empty() {
            errors.push(SelectorError::new(
                "advanced_event_selectors",
                SelectorErrorKind::BothSelectorKinds,
            ));
        }
        let compiled_basic = basic::compile(basic, &mut errors);
        let compiled_advanced = advanced::compile(advanced, &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        let events = if !compiled_advanced.is_empty() {
            Events::Advanced(compiled_advanced.into())
        } else if !compiled_basic.is_empty() {
            Events::Basic(compiled_basic.into())
        } else {
            Events::Basic(Box::new([basic::BasicSelector::no_selectors()]))
        };
        Ok(Self { scope, events })
    }

    /// Whether the trail logs this record: region scope and selectors both accept it.
    pub fn matches(&self, f: &RoutingFields) -> bool {
        self.scope.accepts(f) && self.selects(f)
    }

    /// Whether the trail's event selectors accept the record, region scope aside.
    pub fn selects(&self, f: &RoutingFields) -> bool {
        match &self.events {
            Events::Basic(s) => s.iter().any(|s| s.matches(f)),
            Events::Advanced(s) => s.iter().any(|s| s.matches(f)),
        }
    }

    /// The trail's region scope.
    pub fn region_scope(&self) -> &RegionScope {
        &self.scope
    }
}

#[cfg(test)]
mod tests;
