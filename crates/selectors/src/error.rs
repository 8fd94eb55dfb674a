//! Validation errors: one [`SelectorError`] per mistake, each naming where it is.
//!
//! Invariant: `path` is relative to the trail (`event_selectors[0].data_resources[1].values[2]`,
//! `advanced_event_selectors[1].field_selectors[0].field`, `home_region`), so the config crate
//! only prefixes `trails[N].`. All of these are permanent: retrying cannot fix a config.

use thiserror::Error;

/// A config mistake and where it is.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{path}: {kind}")]
pub struct SelectorError {
    /// Location relative to the trail, in the user's own key names.
    pub path: String,
    /// What is wrong.
    pub kind: SelectorErrorKind,
}

impl SelectorError {
    pub(crate) fn new(path: impl Into<String>, kind: SelectorErrorKind) -> Self {
        Self {
            path: path.into(),
            kind,
        }
    }
}

/// What is wrong with a trail's selectors or region scope.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SelectorErrorKind {
    /// Both `event_selectors` and `advanced_event_selectors` are given.
    #[error("a trail uses either event_selectors or advanced_event_selectors, not both")]
    BothSelectorKinds,
    /// More than 5 basic selectors.
    #[error("at most 5 event selectors per trail, got {count}")]
    TooManyEventSelectors {
        /// How many were given.
        count: usize,
    },
    /// A source other than KMS or RDS Data API in `exclude_management_event_sources`.
    #[error(
        "{source_name:?} cannot be excluded; only \"kms.amazonaws.com\" and \"rdsdata.amazonaws.com\" can"
    )]
    SourceNotExcludable {
        /// The source the user wrote.
        source_name: String,
    },
    /// A data resource type that basic selectors do not support.
    #[error(
        "unsupported data resource type {resource_type:?}; basic selectors support \
         \"AWS::S3::Object\", \"AWS::Lambda::Function\" and \"AWS::DynamoDB::Table\" \
         (use advanced_event_selectors for other types)"
    )]
    UnsupportedDataResourceType {
        /// The type the user wrote.
        resource_type: String,
    },
    /// A data resource with an empty `values` list, which would match nothing.
    #[error("values must not be empty")]
    EmptyDataResourceValues,
    /// A data resource value that is not a valid ARN or ARN prefix for its type.
    #[error("{value:?} is not valid here; expected {expected}")]
    InvalidDataResourceValue {
        /// The value the user wrote.
        value: String,
        /// What is accepted, in words.
        expected: &'static str,
    },
    /// More than 250 specific data resource values across the trail's basic selectors.
    #[error(
        "at most 250 data resource values per trail (not counting \"all\" values), got {count}"
    )]
    TooManyDataResources {
        /// How many specific values were given.
        count: usize,
    },
    /// An advanced selector name longer than 1000 characters.
    #[error("name is {len} characters long; at most 1000 are allowed")]
    NameTooLong {
        /// Length in characters.
        len: usize,
    },
    /// A field name advanced selectors do not know.
    #[error(
        "unknown field {field:?}; expected one of eventCategory, eventSource, eventName, eventType, \
         readOnly, resources.type, resources.ARN, sessionCredentialFromConsole, userIdentity.arn, \
         errorCode, vpcEndpointId"
    )]
    UnknownField {
        /// The field the user wrote.
        field: String,
    },
    /// A field selector without any operator.
    #[error(
        "a field selector needs at least one of equals, not_equals, starts_with, not_starts_with, \
         ends_with, not_ends_with"
    )]
    NoOperator,
    /// An operator other than `equals` on a field that accepts only `equals`.
    #[error("{field} accepts only equals")]
    OperatorNotAllowed {
        /// The field, as CloudTrail spells it.
        field: &'static str,
    },
    /// An operator with an empty list of values.
    #[error("an operator needs at least one value")]
    EmptyOperator,
    /// A value shorter than 1 or longer than 2048 characters.
    #[error("values must be 1 to 2048 characters long, got {len}")]
    ValueLength {
        /// Length in characters.
        len: usize,
    },
    /// A value a field can never take (e.g. `readOnly = "yes"`).
    #[error("{value:?} is not a value of {field}; expected {expected}")]
    InvalidFieldValue {
        /// The field, as CloudTrail spells it.
        field: &'static str,
        /// The value the user wrote.
        value: String,
        /// What is accepted, in words.
        expected: &'static str,
    },
    /// An advanced selector without an `eventCategory` field selector.
    #[error("every advanced event selector needs an eventCategory field selector")]
    MissingEventCategory,
    /// An advanced selector for data events without a `resources.type` field selector.
    #[error("an advanced event selector for Data events needs a resources.type field selector")]
    MissingResourcesType,
    /// A `resources.type` condition with more than one value.
    #[error("resources.type takes exactly one value per selector, got {count}")]
    ResourcesTypeNotSingle {
        /// How many values were given.
        count: usize,
    },
    /// More than 500 values across all conditions of all advanced selectors.
    #[error("at most 500 values across all advanced event selectors of a trail, got {count}")]
    TooManyAdvancedValues {
        /// How many values were given.
        count: usize,
    },
    /// An empty home region, or one with characters outside `[a-z0-9-]`.
    #[error("{region:?} is not a region name (non-empty, only a-z, 0-9 and -)")]
    InvalidHomeRegion {
        /// The region the caller gave.
        region: String,
    },
}
