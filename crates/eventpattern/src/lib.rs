//! Amazon EventBridge event patterns, pure: parse and validate a pattern ([`Pattern::parse`]),
//! match an event ([`Pattern::matches`]), and match many named rules at once ([`RuleSet`]).
//!
//! ```
//! use trailpipe_eventpattern::Pattern;
//! let p = Pattern::parse(r#"{"source": ["aws.iam"], "detail": {"eventName": [{"prefix": "Delete"}]}}"#)?;
//! let event = serde_json::json!({"source": "aws.iam", "detail": {"eventName": "DeleteUser"}});
//! assert!(p.matches(&event));
//! # Ok::<(), trailpipe_eventpattern::PatternError>(())
//! ```
//!
//! # The language
//!
//! As AWS documents it ("Amazon EventBridge event patterns", "Content filtering in Amazon
//! EventBridge event patterns", "Comparison operators for use in event patterns", "Arrays in
//! Amazon EventBridge event patterns", "Matching null values and empty strings"): a pattern is
//! a JSON object with the nesting of the events it matches. Every field names an object of
//! nested fields or an array of values; all fields must match (AND), any value of an array may
//! match (OR), and fields of the event that the pattern does not name are ignored.
//!
//! Values: exact strings (case-sensitive, `""` included), numbers, `true`, `false`, `null`,
//! and the operators `prefix`, `suffix` (each also as `{"equals-ignore-case": s}`),
//! `equals-ignore-case`, `wildcard`, `numeric`, `cidr`, `exists` and `anything-but` (of a
//! string, a number, a list of strings or of numbers, or of a `prefix`, `suffix`,
//! `equals-ignore-case` or `wildcard`). `"$or": [{..}, {..}, ..]` at any object level requires
//! one of its alternatives (objects at that level) besides the other fields.
//!
//! # Decisions where the documentation is silent or ambiguous
//!
//! Each is pinned by a test in `tests/operators.rs` whose name starts with `decision_`.
//!
//! - **Types.** String operators (`prefix`, `suffix`, `equals-ignore-case`, `wildcard`,
//!   `cidr`) match only JSON strings; `numeric` only JSON numbers; `"true"` is not `true`, and
//!   `null` is not `""`.
//! - **Numbers** in exact values and in `anything-but` compare numerically: `300` matches
//!   `300.0` and `3e2`. (An older version of "Amazon EventBridge event patterns" said they
//!   compare as written; EventBridge's engine, event-ruler, has compared numbers numerically
//!   for years and today's page and the task agree.) Integers that fit 64 bits compare exactly;
//!   other numbers as `f64` (no 6-decimal rounding).
//! - **Arrays in the event.** A leaf matches when any element matches (nested arrays are
//!   flattened). Through an array of objects, nested fields are looked up in each object, and
//!   all the fields one match uses come from the *same* element (event-ruler's "array
//!   consistency").
//! - **Absence.** A field is present for `exists` when it holds a leaf value: a scalar
//!   (`null` included) or an array with at least one scalar. A missing field, an object (not a
//!   leaf, as the docs say), `[]` and an array of objects only are absent: `{"exists": false}`
//!   matches them, `{"exists": true}` does not, and no other operator matches them.
//! - **`anything-but`** needs a present value and matches a value of another type than the
//!   excluded ones (`{"anything-but": "x"}` matches `5`, `{"anything-but": [1]}` matches `"a"`,
//!   `{"anything-but": {"prefix": "x"}}` matches `5`). On an array it matches when *some*
//!   element is not excluded.
//! - **`$or`** alternatives are evaluated at their own level on the same event value; when the
//!   same path occurs both beside and inside a `$or`, the two may use different elements of an
//!   array of objects (event-ruler expands `$or` first and would require the same element).
//! - **Validation** follows event-ruler's compiler: `{}` (top level or nested) and `[]` are
//!   refused; an operator object has exactly one key; `numeric` is `["=", n]`, `["<"|"<=", n]`,
//!   `[">"|">=", n]` or `[">"|">=", n, "<"|"<=", n]` with a non-empty range and operands within
//!   ±5.0e9; `anything-but` lists are non-empty and all strings or all numbers; the
//!   `prefix`/`suffix` of `anything-but` is non-empty; `cidr` needs `address/length` (host bits
//!   are ignored); `wildcard` refuses `**` and escapes other than `\*` and `\\`; a `$or` needs
//!   at least two objects and its alternatives may not use operator names as field names.
//! - **Size.** A pattern longer than [`MAX_PATTERN_CHARS`] characters (the EventBridge quota)
//!   is refused. No other complexity limit is applied.
//! - **Not supported:** event-ruler's undocumented `equals` operator and its matching of exact
//!   IP-address strings by address value (`"10.0.0.1"` matches only that text here).

mod cidr;
mod error;
mod parse;
mod prune;
mod ruleset;
mod tree;
mod wildcard;

pub use error::{ErrorKind, PatternError};
pub use prune::FieldTrie;
pub use ruleset::RuleSet;

use serde_json::Value;

/// The longest pattern accepted, in characters: EventBridge's "Event pattern: 2048 characters
/// maximum" quota.
pub const MAX_PATTERN_CHARS: usize = 2048;

/// A validated, compiled event pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    root: tree::Node,
}

impl Pattern {
    /// Parses and validates `json` the way EventBridge's `PutRule` does.
    pub fn parse(json: &str) -> Result<Self, PatternError> {
        parse::parse(json).map(|root| Self { root })
    }

    /// Whether `event` matches. Events are any JSON value; a non-object matches only patterns
    /// whose fields may all be absent.
    pub fn matches(&self, event: &Value) -> bool {
        self.root.matches(Some(event))
    }

    /// The fields this pattern reads, as a trie (see [`FieldTrie`]).
    pub fn fields(&self) -> FieldTrie {
        let mut t = FieldTrie::default();
        t.add(&self.root);
        t
    }
}

impl std::str::FromStr for Pattern {
    type Err = PatternError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}
