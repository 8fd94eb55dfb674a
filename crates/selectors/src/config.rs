//! What the user writes: a trail's event selectors as serde types, named like CloudTrail's
//! `PutEventSelectors` API in snake_case (`read_write_type`, `data_resources`, `field_selectors`).
//!
//! Invariant: these types only describe; they are never evaluated directly. Every value goes
//! through [`crate::TrailSelector::new`], which validates it and compiles the form the hot path
//! uses, so a config that deserializes but breaks a CloudTrail rule is still refused up front.

use serde::{Deserialize, Serialize};

/// Which calls a basic selector logs, judged by the record's `readOnly`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReadWriteType {
    /// Only records with `"readOnly": true`.
    ReadOnly,
    /// Only records with `"readOnly": false`.
    WriteOnly,
    /// Every record, including records without `readOnly` (CloudTrail's default).
    #[default]
    All,
}

const fn default_include_management_events() -> bool {
    true
}

/// A basic event selector (`[[trails.event_selectors]]`), CloudTrail's `EventSelector`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSelector {
    /// Read, write or both; applies to the management and the data events of this selector.
    #[serde(default)]
    pub read_write_type: ReadWriteType,
    /// Whether this selector logs management events at all (default `true`).
    #[serde(default = "default_include_management_events")]
    pub include_management_events: bool,
    /// Management event sources not logged: only `kms.amazonaws.com` and
    /// `rdsdata.amazonaws.com` are allowed (default: none excluded).
    #[serde(default)]
    pub exclude_management_event_sources: Vec<String>,
    /// Data events to log, by resource type and ARN (default: none).
    #[serde(default)]
    pub data_resources: Vec<DataResource>,
}

impl Default for EventSelector {
    /// All management events, read and write, no data events: what a trail logs when it has no
    /// selectors at all.
    fn default() -> Self {
        Self {
            read_write_type: ReadWriteType::All,
            include_management_events: default_include_management_events(),
            exclude_management_event_sources: Vec::new(),
            data_resources: Vec::new(),
        }
    }
}

/// One data resource of a basic selector, CloudTrail's `DataResource`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataResource {
    /// `AWS::S3::Object`, `AWS::Lambda::Function` or `AWS::DynamoDB::Table`.
    #[serde(rename = "type")]
    pub resource_type: String,
    /// ARNs or ARN prefixes; see the crate docs for how each type matches them.
    pub values: Vec<String>,
}

/// An advanced event selector (`[[trails.advanced_event_selectors]]`), CloudTrail's
/// `AdvancedEventSelector`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdvancedEventSelector {
    /// Free-form label, at most 1000 characters; it does not affect matching.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Conditions that must all hold; one of them must be on `eventCategory`.
    pub field_selectors: Vec<FieldSelector>,
}

/// One condition of an advanced selector, CloudTrail's `AdvancedFieldSelector`.
///
/// Each operator is a list of values ORed together; the operators present are ANDed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSelector {
    /// Record field, spelled as in CloudTrail (`eventName`, `resources.ARN`, ...).
    pub field: String,
    /// The field equals one of these values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<Vec<String>>,
    /// The field equals none of these values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_equals: Option<Vec<String>>,
    /// The field starts with one of these values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_with: Option<Vec<String>>,
    /// The field starts with none of these values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_starts_with: Option<Vec<String>>,
    /// The field ends with one of these values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_with: Option<Vec<String>>,
    /// The field ends with none of these values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_ends_with: Option<Vec<String>>,
}

impl FieldSelector {
    /// The operators that are present, with the name the user wrote and their values, in a fixed
    /// order (the order of the struct's fields).
    pub fn operators(&self) -> impl Iterator<Item = (Operator, &[String])> + '_ {
        [
            (Operator::Equals, &self.equals),
            (Operator::NotEquals, &self.not_equals),
            (Operator::StartsWith, &self.starts_with),
            (Operator::NotStartsWith, &self.not_starts_with),
            (Operator::EndsWith, &self.ends_with),
            (Operator::NotEndsWith, &self.not_ends_with),
        ]
        .into_iter()
        .filter_map(|(op, values)| values.as_deref().map(|v| (op, v)))
    }
}

/// The six comparison operators of a [`FieldSelector`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `equals`
    Equals,
    /// `not_equals`
    NotEquals,
    /// `starts_with`
    StartsWith,
    /// `not_starts_with`
    NotStartsWith,
    /// `ends_with`
    EndsWith,
    /// `not_ends_with`
    NotEndsWith,
}

impl Operator {
    /// The config key, as the user writes it.
    pub const fn key(self) -> &'static str {
        match self {
            Self::Equals => "equals",
            Self::NotEquals => "not_equals",
            Self::StartsWith => "starts_with",
            Self::NotStartsWith => "not_starts_with",
            Self::EndsWith => "ends_with",
            Self::NotEndsWith => "not_ends_with",
        }
    }

    /// Whether the operator is a negation (`not_*`): it holds when no listed value matches.
    pub const fn is_negative(self) -> bool {
        matches!(
            self,
            Self::NotEquals | Self::NotStartsWith | Self::NotEndsWith
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Trails {
        trails: Trail,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Trail {
        #[serde(default)]
        event_selectors: Vec<EventSelector>,
        #[serde(default)]
        advanced_event_selectors: Vec<AdvancedEventSelector>,
    }

    #[test]
    fn basic_selector_toml_parses_with_defaults() {
        let t: Trails = toml::from_str(
            r#"
            [[trails.event_selectors]]
            read_write_type = "WriteOnly"
            exclude_management_event_sources = ["kms.amazonaws.com"]
            [[trails.event_selectors.data_resources]]
            type = "AWS::S3::Object"
            values = ["arn:aws:s3:::customer-data/"]

            [[trails.event_selectors]]
            "#,
        )
        .unwrap();
        let s = &t.trails.event_selectors;
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].read_write_type, ReadWriteType::WriteOnly);
        assert!(s[0].include_management_events);
        assert_eq!(s[0].exclude_management_event_sources, ["kms.amazonaws.com"]);
        assert_eq!(s[0].data_resources[0].resource_type, "AWS::S3::Object");
        assert_eq!(s[1], EventSelector::default());
    }

    #[test]
    fn advanced_selector_toml_parses() {
        let t: Trails = toml::from_str(
            r#"
            [[trails.advanced_event_selectors]]
            name = "s3-writes"
            field_selectors = [ { field = "eventCategory", equals = ["Data"] },
                                { field = "resources.type", equals = ["AWS::S3::Object"] },
                                { field = "readOnly", equals = ["false"] },
                                { field = "resources.ARN", not_starts_with = ["arn:aws:s3:::x/"] } ]
            "#,
        )
        .unwrap();
        let a = &t.trails.advanced_event_selectors[0];
        assert_eq!(a.name.as_deref(), Some("s3-writes"));
        assert_eq!(a.field_selectors.len(), 4);
        let ops: Vec<_> = a.field_selectors[3].operators().collect();
        assert_eq!(ops.len(), 1);
        assert_eq!(ops[0].0, Operator::NotStartsWith);
    }

    #[test]
    fn unknown_keys_and_read_write_types_are_refused() {
        let bad_key = toml::from_str::<EventSelector>("read_write = \"All\"");
        assert!(bad_key.is_err());
        let bad_rw = toml::from_str::<EventSelector>("read_write_type = \"Both\"");
        assert!(bad_rw.is_err());
        let bad_op = toml::from_str::<FieldSelector>("field = \"eventName\"\nequal = [\"x\"]");
        assert!(bad_op.is_err());
    }
}
