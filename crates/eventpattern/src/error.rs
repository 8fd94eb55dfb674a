//! Why a pattern was refused.
//!
//! The `Display` of every error reads like EventBridge's `InvalidEventPatternException`
//! ("Event pattern is not valid. Reason: ..."); the reasons reuse the wording of AWS's
//! `event-ruler`, the engine behind EventBridge, where it has one.

/// What class of mistake a [`PatternError`] reports; stable for callers and tests, unlike the
/// message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The text is not JSON.
    InvalidJson,
    /// The pattern is longer than EventBridge's documented quota ([`crate::MAX_PATTERN_CHARS`]).
    TooLong,
    /// The pattern (or a `$or` alternative) is not a JSON object.
    NotAnObject,
    /// A field's value is neither an object (nested fields) nor an array (values to match).
    NotObjectOrArray,
    /// An object with no fields.
    EmptyObject,
    /// An array of values (or an `anything-but` list) with no element.
    EmptyArray,
    /// A value to match is an array, or an operator object does not have exactly one key.
    BadMatchValue,
    /// An operator EventBridge does not know, or one it does not allow in that place.
    UnknownOperator,
    /// An operator's operand has the wrong type or form (e.g. `prefix` with a number).
    BadOperand,
    /// A `numeric` expression that is malformed or describes an empty range.
    BadNumeric,
    /// A `cidr` operand that is not `address/length`.
    BadCidr,
    /// A `wildcard` operand with `**` or a bad `\` escape.
    BadWildcard,
    /// A `$or` that is not an array of at least two objects, or an alternative that uses an
    /// operator name as a field name.
    BadOr,
}

/// A refused pattern: what is wrong ([`ErrorKind`]), where (a dotted path, `""` for the whole
/// pattern), and EventBridge's reason text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Event pattern is not valid. Reason: {reason}")]
pub struct PatternError {
    kind: ErrorKind,
    path: String,
    reason: String,
}

impl PatternError {
    pub(crate) fn new(kind: ErrorKind, path: &str, reason: impl Into<String>) -> Self {
        Self {
            kind,
            path: path.to_owned(),
            reason: reason.into(),
        }
    }

    /// The class of mistake.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The dotted field path where the mistake is (`""` at the top level).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// EventBridge's reason, the text after "Reason: ".
    pub fn reason(&self) -> &str {
        &self.reason
    }
}
