//! CloudTrail records as Amazon EventBridge sees them, and EventBridge rules matched on them.
//!
//! - [`envelope`]: the event EventBridge delivers for a CloudTrail record — `version`, `id`,
//!   `detail-type` (by `eventType`), `source` (`aws.<service>` from `eventSource`), `account`,
//!   `time`, `region`, `resources` and the record itself as `detail`.
//! - [`RuleState`]: EventBridge's rule states, including the opt-in for read-only management
//!   events (`ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS`).
//! - [`Rules`]: named patterns with their states, matched on routed records. The index of
//!   [`trailpipe_eventpattern::RuleSet`] is fed the fields the parser already extracted
//!   ([`trailpipe_event::RoutingFields`]), so a record is parsed into a JSON tree (and wrapped in
//!   its envelope) only when some rule can match it: with the usual security rules (specific
//!   event names and sources) almost every record costs a few hash lookups.
//! - [`InputPath`]: a target's `input_path` (`$`, `$.detail`), the part of the envelope it
//!   receives.
//! - [`test_event_pattern`]: `trailpipe test-event-pattern`, the twin of
//!   `aws events test-event-pattern`, for an EventBridge event or a CloudTrail record.
//!
//! Invariant: [`Rules::matching`] returns exactly the admitted rules whose pattern matches the
//! record's envelope — the index only skips rules that cannot match (property-tested against
//! matching every rule on the full envelope).

pub mod envelope;
mod input_path;
mod rules;
mod state;
mod test_pattern;

pub use input_path::InputPath;
pub use rules::{Matched, Rule, Rules};
pub use state::RuleState;
pub use test_pattern::{test_event_pattern, EventKind, TestPatternError};
