//! Advanced event selectors (`advanced_event_selectors`): validation, and the compiled form the
//! hot path evaluates.
//!
//! Invariant: a compiled [`AdvancedSelector`] only exists for a selector that passed every rule
//! of reference §7.2, and evaluating it neither allocates nor fails. A selector matches iff all
//! its field selectors match; a field selector matches iff all its operators hold; a positive
//! operator holds iff some value of the field equals / starts with / ends with one of the listed
//! values, a negative operator iff none does. A missing field has no values, so positive
//! operators fail on it and negative ones hold.

use trailpipe_event::RoutingFields;

use crate::config::{AdvancedEventSelector, FieldSelector, Operator};
use crate::error::{SelectorError, SelectorErrorKind};

/// CloudTrail's limit on values across all advanced selectors of a trail.
pub const MAX_ADVANCED_VALUES: usize = 500;
/// CloudTrail's limit on the length of one value, in characters.
pub const MAX_VALUE_CHARS: usize = 2048;
/// CloudTrail's limit on the length of a selector name, in characters.
pub const MAX_NAME_CHARS: usize = 1000;

/// The record fields advanced selectors can test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    EventCategory,
    EventSource,
    EventName,
    EventType,
    ReadOnly,
    SessionCredentialFromConsole,
    UserIdentityArn,
    ErrorCode,
    VpcEndpointId,
    ResourcesType,
    ResourcesArn,
}

const FIELDS: [Field; 11] = [
    Field::EventCategory,
    Field::EventSource,
    Field::EventName,
    Field::EventType,
    Field::ReadOnly,
    Field::SessionCredentialFromConsole,
    Field::UserIdentityArn,
    Field::ErrorCode,
    Field::VpcEndpointId,
    Field::ResourcesType,
    Field::ResourcesArn,
];

const BOOLEAN_VALUES: &[&str] = &["true", "false"];
const CATEGORY_VALUES: &[&str] = &["Management", "Data", "NetworkActivity"];

impl Field {
    fn parse(s: &str) -> Option<Self> {
        FIELDS.into_iter().find(|f| f.name() == s)
    }

    /// The field as CloudTrail spells it.
    const fn name(self) -> &'static str {
        match self {
            Self::EventCategory => "eventCategory",
            Self::EventSource => "eventSource",
            Self::EventName => "eventName",
            Self::EventType => "eventType",
            Self::ReadOnly => "readOnly",
            Self::SessionCredentialFromConsole => "sessionCredentialFromConsole",
            Self::UserIdentityArn => "userIdentity.arn",
            Self::ErrorCode => "errorCode",
            Self::VpcEndpointId => "vpcEndpointId",
            Self::ResourcesType => "resources.type",
            Self::ResourcesArn => "resources.ARN",
        }
    }

    /// `readOnly`, `eventCategory` and `resources.type` accept only `equals` (reference §7.2).
    const fn equals_only(self) -> bool {
        matches!(
            self,
            Self::EventCategory | Self::ReadOnly | Self::ResourcesType
        )
    }

    /// The closed set of values a field can take, where there is one, and how to say it.
    fn allowed_values(self) -> Option<(&'static [&'static str], &'static str)> {
        match self {
            Self::ReadOnly | Self::SessionCredentialFromConsole => {
                Some((BOOLEAN_VALUES, "\"true\" or \"false\""))
            }
            Self::EventCategory => Some((
                CATEGORY_VALUES,
                "\"Management\", \"Data\" or \"NetworkActivity\"",
            )),
            _ => None,
        }
    }

    /// Whether any value the record has for this field satisfies `pred`. Single-valued fields
    /// have zero or one value; `resources.*` have one per resource that carries the key.
    fn any_value(self, f: &RoutingFields, pred: impl Fn(&str) -> bool) -> bool {
        let single = match self {
            Self::EventCategory => Some(f.event_category.as_str()),
            Self::EventSource => f.event_source.as_deref(),
            Self::EventName => f.event_name.as_deref(),
            Self::EventType => f.event_type.as_deref(),
            Self::ReadOnly => f.read_only.map(bool_str),
            // Records carry the key only when true (reference §1.1): absent means "false".
            Self::SessionCredentialFromConsole => {
                Some(bool_str(f.session_credential_from_console.unwrap_or(false)))
            }
            Self::UserIdentityArn => f.user_identity.arn.as_deref(),
            Self::ErrorCode => f.error_code.as_deref(),
            Self::VpcEndpointId => f.vpc_endpoint_id.as_deref(),
            Self::ResourcesType => {
                return f
                    .resources
                    .iter()
                    .filter_map(|r| r.resource_type.as_deref())
                    .any(pred)
            }
            Self::ResourcesArn => {
                return f
                    .resources
                    .iter()
                    .filter_map(|r| r.arn.as_deref())
                    .any(pred)
            }
        };
        single.is_some_and(pred)
    }
}

const fn bool_str(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

/// How one operator compares a field value with a listed value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comparison {
    Equals,
    StartsWith,
    EndsWith,
}

/// One compiled operator: `negate` is true for the `not_*` operators.
#[derive(Debug, Clone)]
struct Condition {
    comparison: Comparison,
    negate: bool,
    /// Sorted, so `Equals` can binary-search.
    values: Box<[Box<str>]>,
}

impl Condition {
    fn new(op: Operator, values: &[String]) -> Self {
        let comparison = match op {
            Operator::Equals | Operator::NotEquals => Comparison::Equals,
            Operator::StartsWith | Operator::NotStartsWith => Comparison::StartsWith,
            Operator::EndsWith | Operator::NotEndsWith => Comparison::EndsWith,
        };
        let mut values: Vec<Box<str>> = values.iter().map(|v| v.as_str().into()).collect();
        values.sort_unstable();
        values.dedup();
        Self {
            comparison,
            negate: op.is_negative(),
            values: values.into(),
        }
    }

    /// Whether `v` equals / starts with / ends with one of the listed values.
    fn hits(&self, v: &str) -> bool {
        match self.comparison {
            Comparison::Equals => self.values.binary_search_by(|x| (**x).cmp(v)).is_ok(),
            Comparison::StartsWith => self.values.iter().any(|x| v.starts_with(&**x)),
            Comparison::EndsWith => self.values.iter().any(|x| v.ends_with(&**x)),
        }
    }
}

#[derive(Debug, Clone)]
struct CompiledFieldSelector {
    field: Field,
    conditions: Box<[Condition]>,
}

impl CompiledFieldSelector {
    fn matches(&self, f: &RoutingFields) -> bool {
        self.conditions
            .iter()
            .all(|c| c.negate != self.field.any_value(f, |v| c.hits(v)))
    }
}

/// A validated advanced selector.
#[derive(Debug, Clone)]
pub(crate) struct AdvancedSelector {
    /// Ordered cheapest and most selective first (`eventCategory` leads); AND is commutative.
    field_selectors: Box<[CompiledFieldSelector]>,
}

impl AdvancedSelector {
    /// Whether this selector logs the record (region scope aside).
    pub(crate) fn matches(&self, f: &RoutingFields) -> bool {
        self.field_selectors.iter().all(|fs| fs.matches(f))
    }
}

/// Validates advanced selectors and compiles them; every mistake is pushed to `errors`.
pub(crate) fn compile(
    selectors: &[AdvancedEventSelector],
    errors: &mut Vec<SelectorError>,
) -> Vec<AdvancedSelector> {
    let mut total_values = 0;
    let compiled = selectors
        .iter()
        .enumerate()
        .map(|(i, s)| {
            compile_selector(
                &format!("advanced_event_selectors[{i}]"),
                s,
                &mut total_values,
                errors,
            )
        })
        .collect();
    if total_values > MAX_ADVANCED_VALUES {
        errors.push(SelectorError::new(
            "advanced_event_selectors",
            SelectorErrorKind::TooManyAdvancedValues {
                count: total_values,
            },
        ));
    }
    compiled
}

fn compile_selector(
    path: &str,
    s: &AdvancedEventSelector,
    total_values: &mut usize,
    errors: &mut Vec<SelectorError>,
) -> AdvancedSelector {
    if let Some(name) = &s.name {
        let len = name.chars().count();
        if len > MAX_NAME_CHARS {
            errors.push(SelectorError::new(
                format!("{path}.name"),
                SelectorErrorKind::NameTooLong { len },
            ));
        }
    }
    let mut field_selectors: Vec<CompiledFieldSelector> = s
        .field_selectors
        .iter()
        .enumerate()
        .filter_map(|(j, fs)| {
            let path = format!("{path}.field_selectors[{j}]");
            compile_field_selector(&path, fs, total_values, errors)
        })
        .collect();
    let has = |field: Field| s.field_selectors.iter().any(|fs| fs.field == field.name());
    if !has(Field::EventCategory) {
        errors.push(SelectorError::new(
            format!("{path}.field_selectors"),
            SelectorErrorKind::MissingEventCategory,
        ));
    }
    let selects_data = s.field_selectors.iter().any(|fs| {
        fs.field == Field::EventCategory.name() && fs.equals.iter().flatten().any(|v| v == "Data")
    });
    if selects_data && !has(Field::ResourcesType) {
        errors.push(SelectorError::new(
            format!("{path}.field_selectors"),
            SelectorErrorKind::MissingResourcesType,
        ));
    }
    field_selectors.sort_by_key(|fs| FIELDS.iter().position(|f| *f == fs.field));
    AdvancedSelector {
        field_selectors: field_selectors.into(),
    }
}

/// Validates one field selector; returns its compiled form when the field is known.
fn compile_field_selector(
    path: &str,
    fs: &FieldSelector,
    total_values: &mut usize,
    errors: &mut Vec<SelectorError>,
) -> Option<CompiledFieldSelector> {
    let field = Field::parse(&fs.field);
    if field.is_none() {
        errors.push(SelectorError::new(
            format!("{path}.field"),
            SelectorErrorKind::UnknownField {
                field: fs.field.clone(),
            },
        ));
    }
    let mut conditions = Vec::new();
    for (op, values) in fs.operators() {
        let op_path = format!("{path}.{}", op.key());
        *total_values += values.len();
        if values.is_empty() {
            errors.push(SelectorError::new(
                op_path.clone(),
                SelectorErrorKind::EmptyOperator,
            ));
        }
        if let Some(field) = field {
            if field.equals_only() && op != Operator::Equals {
                errors.push(SelectorError::new(
                    op_path.clone(),
                    SelectorErrorKind::OperatorNotAllowed {
                        field: field.name(),
                    },
                ));
            }
            if field == Field::ResourcesType && op == Operator::Equals && values.len() > 1 {
                errors.push(SelectorError::new(
                    op_path.clone(),
                    SelectorErrorKind::ResourcesTypeNotSingle {
                        count: values.len(),
                    },
                ));
            }
        }
        for (k, v) in values.iter().enumerate() {
            check_value(&format!("{op_path}[{k}]"), field, v, errors);
        }
        conditions.push(Condition::new(op, values));
    }
    if conditions.is_empty() {
        errors.push(SelectorError::new(path, SelectorErrorKind::NoOperator));
    }
    field.map(|field| CompiledFieldSelector {
        field,
        conditions: conditions.into(),
    })
}

fn check_value(path: &str, field: Option<Field>, v: &str, errors: &mut Vec<SelectorError>) {
    let len = v.chars().count();
    if len == 0 || len > MAX_VALUE_CHARS {
        errors.push(SelectorError::new(
            path,
            SelectorErrorKind::ValueLength { len },
        ));
        return;
    }
    let Some(field) = field else { return };
    if let Some((allowed, expected)) = field.allowed_values() {
        if !allowed.contains(&v) {
            errors.push(SelectorError::new(
                path,
                SelectorErrorKind::InvalidFieldValue {
                    field: field.name(),
                    value: v.to_owned(),
                    expected,
                },
            ));
        }
    }
}

#[cfg(test)]
mod tests;
