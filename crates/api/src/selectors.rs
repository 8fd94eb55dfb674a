//! Event selectors as the CloudTrail API spells them (`GetEventSelectors`/`PutEventSelectors`):
//! plain serde structs in AWS's member names; the daemon converts them to and from its config.
//!
//! Invariant: a [`SelectorsInfo`] parsed from a PutEventSelectors request has passed
//! [`SelectorsInfo::validate_shape`] — at most 5 basic selectors, ≤ 250 data-resource values,
//! known `ReadWriteType`s ("all" values of a known type not counted, as in `trailpipe-selectors`),
//! non-empty `FieldSelectors` with well-formed fields and operator values,
//! ≤ 500 advanced values. Meaning (which resource types, which fields) is the backend's to check.

use serde::{Deserialize, Serialize};

use crate::ApiError;

/// A trail's selectors: CloudTrail keeps either basic or advanced ones, never both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectorsInfo {
    /// `EventSelectors`. A trail without configured selectors should report
    /// `vec![EventSelector::default()]` (all management events), as CloudTrail does.
    Basic(Vec<EventSelector>),
    /// `AdvancedEventSelectors`.
    Advanced(Vec<AdvancedEventSelector>),
}

/// `ReadWriteType` of a basic selector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ReadWriteType {
    /// Read-only events.
    ReadOnly,
    /// Write-only events.
    WriteOnly,
    /// Both (the default).
    #[default]
    All,
}

/// One basic event selector (`EventSelector` shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventSelector {
    /// Which of read/write events the selector logs (default `All`).
    #[serde(default)]
    pub read_write_type: ReadWriteType,
    /// Whether management events are logged (default true).
    #[serde(default = "default_true")]
    pub include_management_events: bool,
    /// Data events to log.
    #[serde(default)]
    pub data_resources: Vec<DataResource>,
    /// Management event sources to leave out (`kms.amazonaws.com`, `rdsdata.amazonaws.com`).
    #[serde(default)]
    pub exclude_management_event_sources: Vec<String>,
}

const fn default_true() -> bool {
    true
}

impl Default for EventSelector {
    /// CloudTrail's selector for a trail created without selectors: all management events.
    fn default() -> Self {
        Self {
            read_write_type: ReadWriteType::All,
            include_management_events: true,
            data_resources: Vec::new(),
            exclude_management_event_sources: Vec::new(),
        }
    }
}

/// One `DataResource`: a resource type and ARN values (prefixes for S3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DataResource {
    /// `AWS::S3::Object`, `AWS::Lambda::Function`, `AWS::DynamoDB::Table`, ...
    #[serde(rename = "Type")]
    pub resource_type: String,
    /// ARNs or ARN prefixes.
    #[serde(default)]
    pub values: Vec<String>,
}

/// One `AdvancedEventSelector`: all of its field selectors must match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AdvancedEventSelector {
    /// Optional descriptive name (≤ 1000 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The conditions (at least one).
    pub field_selectors: Vec<AdvancedFieldSelector>,
}

/// One `AdvancedFieldSelector`: a field and its operators (each a list of values, ORed).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AdvancedFieldSelector {
    /// The record field (`eventCategory`, `resources.ARN`, ...).
    pub field: String,
    /// `Equals` values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<Vec<String>>,
    /// `StartsWith` values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_with: Option<Vec<String>>,
    /// `EndsWith` values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_with: Option<Vec<String>>,
    /// `NotEquals` values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_equals: Option<Vec<String>>,
    /// `NotStartsWith` values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_starts_with: Option<Vec<String>>,
    /// `NotEndsWith` values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_ends_with: Option<Vec<String>>,
}

impl AdvancedFieldSelector {
    /// The operators present, by AWS name.
    pub fn operators(&self) -> impl Iterator<Item = (&'static str, &[String])> {
        [
            ("Equals", &self.equals),
            ("StartsWith", &self.starts_with),
            ("EndsWith", &self.ends_with),
            ("NotEquals", &self.not_equals),
            ("NotStartsWith", &self.not_starts_with),
            ("NotEndsWith", &self.not_ends_with),
        ]
        .into_iter()
        .filter_map(|(name, values)| values.as_deref().map(|v| (name, v)))
    }
}

// CloudTrail's limits are the selectors crate's (one definition, one way of counting).
pub use trailpipe_selectors::{
    MAX_ADVANCED_VALUES, MAX_DATA_RESOURCE_VALUES, MAX_EVENT_SELECTORS, MAX_NAME_CHARS,
    MAX_VALUE_CHARS,
};

impl SelectorsInfo {
    /// What CloudTrail reports for a trail without selectors: one basic selector logging all
    /// management events.
    pub fn cloudtrail_default() -> SelectorsInfo {
        SelectorsInfo::Basic(vec![EventSelector::default()])
    }

    /// Builds the selectors of a PutEventSelectors request: exactly one of the two lists.
    pub(crate) fn from_request(
        basic: Option<Vec<EventSelector>>,
        advanced: Option<Vec<AdvancedEventSelector>>,
    ) -> Result<SelectorsInfo, ApiError> {
        let info = match (basic, advanced) {
            (Some(b), None) => SelectorsInfo::Basic(b),
            (None, Some(a)) => SelectorsInfo::Advanced(a),
            (Some(_), Some(_)) => {
                return Err(ApiError::InvalidEventSelectors(
                    "specify either EventSelectors or AdvancedEventSelectors, not both".into(),
                ))
            }
            (None, None) => {
                return Err(ApiError::InvalidEventSelectors(
                    "specify EventSelectors or AdvancedEventSelectors".into(),
                ))
            }
        };
        info.validate_shape()?;
        Ok(info)
    }

    /// Checks the limits and formats of CloudTrail's model (see the module invariant).
    pub fn validate_shape(&self) -> Result<(), ApiError> {
        let bad = |m: String| Err(ApiError::InvalidEventSelectors(m));
        match self {
            SelectorsInfo::Basic(selectors) => {
                if selectors.len() > MAX_EVENT_SELECTORS {
                    return bad(format!(
                        "{} event selectors; at most {MAX_EVENT_SELECTORS} are allowed",
                        selectors.len()
                    ));
                }
                let values = selectors
                    .iter()
                    .flat_map(|s| &s.data_resources)
                    .flat_map(|r| r.values.iter().map(|v| (&r.resource_type, v)))
                    .filter(|(t, v)| trailpipe_selectors::counts_toward_data_limit(t, v))
                    .count();
                if values > MAX_DATA_RESOURCE_VALUES {
                    return bad(format!(
                        "{values} data resource values; at most {MAX_DATA_RESOURCE_VALUES} are allowed"
                    ));
                }
            }
            SelectorsInfo::Advanced(selectors) => {
                let mut values = 0;
                for (i, s) in selectors.iter().enumerate() {
                    if s.name
                        .as_ref()
                        .is_some_and(|n| n.chars().count() > MAX_NAME_CHARS)
                    {
                        return bad(format!(
                            "AdvancedEventSelectors[{i}].Name is over {MAX_NAME_CHARS} characters"
                        ));
                    }
                    if s.field_selectors.is_empty() {
                        return bad(format!(
                            "AdvancedEventSelectors[{i}].FieldSelectors is empty"
                        ));
                    }
                    for (j, f) in s.field_selectors.iter().enumerate() {
                        let at = format!("AdvancedEventSelectors[{i}].FieldSelectors[{j}]");
                        let field_ok = (1..=1000).contains(&f.field.len())
                            && f.field.bytes().all(|b| {
                                b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'|'
                            });
                        if !field_ok {
                            return bad(format!(
                                "{at}.Field {:?} is not a valid field name",
                                f.field
                            ));
                        }
                        let mut any = false;
                        for (op, vals) in f.operators() {
                            any = true;
                            if vals.is_empty() {
                                return bad(format!("{at}.{op} has no values"));
                            }
                            if let Some(v) = vals
                                .iter()
                                .find(|v| !(1..=MAX_VALUE_CHARS).contains(&v.chars().count()))
                            {
                                return bad(format!(
                                    "{at}.{op} value {v:?} must be 1 to {MAX_VALUE_CHARS} characters"
                                ));
                            }
                            values += vals.len();
                        }
                        if !any {
                            return bad(format!("{at} has no operator"));
                        }
                    }
                }
                if values > MAX_ADVANCED_VALUES {
                    return bad(format!(
                        "{values} values in advanced event selectors; at most {MAX_ADVANCED_VALUES} are allowed"
                    ));
                }
            }
        }
        Ok(())
    }

    /// The response members: `EventSelectors` or `AdvancedEventSelectors`.
    pub(crate) fn to_json_members(&self, into: &mut serde_json::Map<String, serde_json::Value>) {
        let (key, value) = match self {
            SelectorsInfo::Basic(s) => ("EventSelectors", serde_json::to_value(s)),
            SelectorsInfo::Advanced(s) => ("AdvancedEventSelectors", serde_json::to_value(s)),
        };
        into.insert(
            key.to_owned(),
            value.expect("selectors are plain strings, bools and lists"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(field: &str, equals: &[&str]) -> AdvancedFieldSelector {
        AdvancedFieldSelector {
            field: field.into(),
            equals: Some(equals.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        }
    }

    #[test]
    fn basic_selector_defaults_match_cloudtrail() {
        let s: EventSelector = serde_json::from_str("{}").unwrap();
        assert_eq!(s, EventSelector::default());
        let out = serde_json::to_value(&s).unwrap();
        assert_eq!(
            out,
            serde_json::json!({"ReadWriteType":"All","IncludeManagementEvents":true,
                               "DataResources":[],"ExcludeManagementEventSources":[]})
        );
    }

    #[test]
    fn both_or_neither_list_is_rejected() {
        let e = SelectorsInfo::from_request(Some(vec![]), Some(vec![])).unwrap_err();
        assert_eq!(e.error_type(), "InvalidEventSelectorsException");
        assert!(SelectorsInfo::from_request(None, None).is_err());
    }

    #[test]
    fn limits_are_enforced() {
        let six = vec![EventSelector::default(); 6];
        assert!(SelectorsInfo::Basic(six).validate_shape().is_err());
        let many = EventSelector {
            data_resources: vec![DataResource {
                resource_type: "AWS::S3::Object".into(),
                values: vec!["arn:aws:s3:::b/".into(); 251],
            }],
            ..Default::default()
        };
        assert!(SelectorsInfo::Basic(vec![many]).validate_shape().is_err());
        // "All" values of a known type do not count (as the selectors crate compiles them):
        // 250 specific values plus any number of "all" values pass; a 251st specific fails.
        let with_all = |specific: usize| EventSelector {
            data_resources: vec![
                DataResource {
                    resource_type: "AWS::S3::Object".into(),
                    values: [vec!["arn:aws:s3".into(), "arn:aws:s3:::".into()], {
                        vec!["arn:aws:s3:::b/".to_string(); specific]
                    }]
                    .concat(),
                },
                DataResource {
                    resource_type: "AWS::Lambda::Function".into(),
                    values: vec!["arn:aws:lambda".into(); 20],
                },
            ],
            ..Default::default()
        };
        assert!(SelectorsInfo::Basic(vec![with_all(250)])
            .validate_shape()
            .is_ok());
        assert!(SelectorsInfo::Basic(vec![with_all(251)])
            .validate_shape()
            .is_err());
        let ok = AdvancedEventSelector {
            name: None,
            field_selectors: vec![field("eventCategory", &["Management"])],
        };
        assert!(SelectorsInfo::Advanced(vec![ok.clone()])
            .validate_shape()
            .is_ok());
        let empty_op = AdvancedEventSelector {
            name: None,
            field_selectors: vec![field("eventCategory", &[])],
        };
        assert!(SelectorsInfo::Advanced(vec![empty_op])
            .validate_shape()
            .is_err());
        let bad_field = AdvancedEventSelector {
            name: None,
            field_selectors: vec![field("event Category", &["x"])],
        };
        assert!(SelectorsInfo::Advanced(vec![bad_field])
            .validate_shape()
            .is_err());
        let no_op = AdvancedEventSelector {
            name: None,
            field_selectors: vec![AdvancedFieldSelector {
                field: "readOnly".into(),
                ..Default::default()
            }],
        };
        assert!(SelectorsInfo::Advanced(vec![no_op])
            .validate_shape()
            .is_err());
    }
}
