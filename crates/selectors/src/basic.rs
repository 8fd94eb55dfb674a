//! Basic event selectors (`event_selectors`): validation, and the compiled form the hot path
//! evaluates.
//!
//! Invariant: a compiled [`BasicSelector`] only exists for a selector that passed every rule of
//! reference §7.1, and evaluating it neither allocates nor fails. A record matches iff its
//! `readOnly` fits `read_write_type` and either it is a management event the selector includes
//! and does not exclude, or it is a data event one of whose resources matches a data resource.

use trailpipe_event::{EventCategory, Resource, RoutingFields};

use crate::config::{DataResource, EventSelector, ReadWriteType};
use crate::error::{SelectorError, SelectorErrorKind};

/// CloudTrail's limit on basic selectors per trail.
pub const MAX_EVENT_SELECTORS: usize = 5;
/// CloudTrail's limit on specific (not "all") data resource values per trail.
pub const MAX_DATA_RESOURCE_VALUES: usize = 250;
/// The only sources `exclude_management_event_sources` may name.
pub const EXCLUDABLE_SOURCES: [&str; 2] = ["kms.amazonaws.com", "rdsdata.amazonaws.com"];

/// The three resource types basic selectors support.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DataType {
    S3Object,
    LambdaFunction,
    DynamoDbTable,
}

impl DataType {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "AWS::S3::Object" => Some(Self::S3Object),
            "AWS::Lambda::Function" => Some(Self::LambdaFunction),
            "AWS::DynamoDB::Table" => Some(Self::DynamoDbTable),
            _ => None,
        }
    }

    /// `resources[].type` of the records this type selects.
    const fn type_name(self) -> &'static str {
        match self {
            Self::S3Object => "AWS::S3::Object",
            Self::LambdaFunction => "AWS::Lambda::Function",
            Self::DynamoDbTable => "AWS::DynamoDB::Table",
        }
    }

    /// Values meaning "every resource of this type". `arn:aws:s3:::` is the older spelling of
    /// `arn:aws:s3`, still common in Terraform and CloudFormation templates.
    fn is_all_value(self, v: &str) -> bool {
        match self {
            Self::S3Object => v == "arn:aws:s3" || v == "arn:aws:s3:::",
            Self::LambdaFunction => v == "arn:aws:lambda",
            Self::DynamoDbTable => v == "arn:aws:dynamodb",
        }
    }

    /// Checks a specific (not "all") value; on error, says what is expected.
    fn check_value(self, v: &str) -> Result<(), &'static str> {
        let ok = match self {
            Self::S3Object => v
                .strip_prefix("arn:aws:s3:::")
                .and_then(|rest| rest.split_once('/'))
                .is_some_and(|(bucket, _)| !bucket.is_empty()),
            Self::LambdaFunction => {
                let p: Vec<&str> = v.split(':').collect();
                (p.len() == 7 || p.len() == 8)
                    && p[..3] == ["arn", "aws", "lambda"]
                    && is_region(p[3])
                    && is_account(p[4])
                    && p[5] == "function"
                    && p[6..].iter().all(|s| !s.is_empty())
            }
            Self::DynamoDbTable => {
                let p: Vec<&str> = v.split(':').collect();
                p.len() == 6
                    && p[..3] == ["arn", "aws", "dynamodb"]
                    && is_region(p[3])
                    && is_account(p[4])
                    && p[5]
                        .strip_prefix("table/")
                        .is_some_and(|t| !t.is_empty() && !t.contains('/'))
            }
        };
        match (ok, self) {
            (true, _) => Ok(()),
            (false, Self::S3Object) => Err(
                "\"arn:aws:s3\" (all objects) or \"arn:aws:s3:::<bucket>/[<key prefix>]\" \
                 (end with '/' for a whole bucket)",
            ),
            (false, Self::LambdaFunction) => {
                Err("\"arn:aws:lambda\" (all functions) or a function ARN \
                 \"arn:aws:lambda:<region>:<account>:function:<name>\"")
            }
            (false, Self::DynamoDbTable) => {
                Err("\"arn:aws:dynamodb\" (all tables) or a table ARN \
                 \"arn:aws:dynamodb:<region>:<account>:table/<name>\"")
            }
        }
    }
}

fn is_region(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// A validated data resource.
#[derive(Debug, Clone)]
struct CompiledDataResource {
    data_type: DataType,
    /// One of the values was an "all" value: every resource of the type matches.
    all: bool,
    /// Specific values, sorted: ARN prefixes for S3, exact ARNs otherwise.
    values: Box<[Box<str>]>,
}

impl CompiledDataResource {
    fn matches(&self, r: &Resource) -> bool {
        if r.resource_type.as_deref() != Some(self.data_type.type_name()) {
            return false;
        }
        if self.all {
            return true;
        }
        let Some(arn) = r.arn.as_deref() else {
            return false;
        };
        match self.data_type {
            DataType::S3Object => self.values.iter().any(|v| arn.starts_with(&**v)),
            DataType::LambdaFunction | DataType::DynamoDbTable => {
                self.values.binary_search_by(|v| (**v).cmp(arn)).is_ok()
            }
        }
    }
}

/// A validated basic selector.
#[derive(Debug, Clone)]
pub(crate) struct BasicSelector {
    read_write: ReadWriteType,
    include_management: bool,
    excluded_sources: Box<[Box<str>]>,
    data: Box<[CompiledDataResource]>,
}

impl BasicSelector {
    /// What a trail without selectors logs: all management events, read and write.
    pub(crate) fn no_selectors() -> Self {
        Self {
            read_write: ReadWriteType::All,
            include_management: true,
            excluded_sources: Box::new([]),
            data: Box::new([]),
        }
    }

    /// Whether this selector logs the record (region scope aside).
    pub(crate) fn matches(&self, f: &RoutingFields) -> bool {
        let rw_ok = match self.read_write {
            ReadWriteType::All => true,
            ReadWriteType::ReadOnly => f.read_only == Some(true),
            ReadWriteType::WriteOnly => f.read_only == Some(false),
        };
        if !rw_ok {
            return false;
        }
        match f.event_category {
            EventCategory::Management => {
                self.include_management
                    && !f
                        .event_source
                        .as_deref()
                        .is_some_and(|s| self.excluded_sources.iter().any(|x| **x == *s))
            }
            EventCategory::Data => f
                .resources
                .iter()
                .any(|r| self.data.iter().any(|d| d.matches(r))),
            _ => false,
        }
    }
}

/// Validates basic selectors and compiles them; every mistake is pushed to `errors`.
pub(crate) fn compile(
    selectors: &[EventSelector],
    errors: &mut Vec<SelectorError>,
) -> Vec<BasicSelector> {
    if selectors.len() > MAX_EVENT_SELECTORS {
        errors.push(SelectorError::new(
            "event_selectors",
            SelectorErrorKind::TooManyEventSelectors {
                count: selectors.len(),
            },
        ));
    }
    let mut specific_values = 0;
    let compiled = selectors
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let path = format!("event_selectors[{i}]");
            for (j, source) in s.exclude_management_event_sources.iter().enumerate() {
                if !EXCLUDABLE_SOURCES.contains(&source.as_str()) {
                    errors.push(SelectorError::new(
                        format!("{path}.exclude_management_event_sources[{j}]"),
                        SelectorErrorKind::SourceNotExcludable {
                            source_name: source.clone(),
                        },
                    ));
                }
            }
            let data = s
                .data_resources
                .iter()
                .enumerate()
                .filter_map(|(j, d)| {
                    let path = format!("{path}.data_resources[{j}]");
                    compile_data_resource(&path, d, &mut specific_values, errors)
                })
                .collect();
            BasicSelector {
                read_write: s.read_write_type,
                include_management: s.include_management_events,
                excluded_sources: s
                    .exclude_management_event_sources
                    .iter()
                    .map(|x| x.as_str().into())
                    .collect(),
                data,
            }
        })
        .collect();
    if specific_values > MAX_DATA_RESOURCE_VALUES {
        errors.push(SelectorError::new(
            "event_selectors",
            SelectorErrorKind::TooManyDataResources {
                count: specific_values,
            },
        ));
    }
    compiled
}

/// Whether `value` of a data resource of type `resource_type` counts toward
/// [`MAX_DATA_RESOURCE_VALUES`]: every value except the "all" values of a known type (reference
/// §7.1: the limit does not apply to them). The one place this is decided — the API's shape
/// check and the compiler below both ask here.
pub fn counts_toward_data_limit(resource_type: &str, value: &str) -> bool {
    DataType::parse(resource_type).is_none_or(|t| !t.is_all_value(value))
}

fn compile_data_resource(
    path: &str,
    d: &DataResource,
    specific_values: &mut usize,
    errors: &mut Vec<SelectorError>,
) -> Option<CompiledDataResource> {
    let Some(data_type) = DataType::parse(&d.resource_type) else {
        errors.push(SelectorError::new(
            format!("{path}.type"),
            SelectorErrorKind::UnsupportedDataResourceType {
                resource_type: d.resource_type.clone(),
            },
        ));
        return None;
    };
    if d.values.is_empty() {
        errors.push(SelectorError::new(
            format!("{path}.values"),
            SelectorErrorKind::EmptyDataResourceValues,
        ));
    }
    let mut all = false;
    let mut values: Vec<Box<str>> = Vec::new();
    for (k, v) in d.values.iter().enumerate() {
        if !counts_toward_data_limit(&d.resource_type, v) {
            all = true;
            continue;
        }
        *specific_values += 1;
        match data_type.check_value(v) {
            Ok(()) => values.push(v.as_str().into()),
            Err(expected) => errors.push(SelectorError::new(
                format!("{path}.values[{k}]"),
                SelectorErrorKind::InvalidDataResourceValue {
                    value: v.clone(),
                    expected,
                },
            )),
        }
    }
    values.sort_unstable();
    values.dedup();
    Some(CompiledDataResource {
        data_type,
        all,
        values: values.into(),
    })
}

#[cfg(test)]
mod tests;
