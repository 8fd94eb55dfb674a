//! CloudWatch Logs filter patterns — the language of metric filters, subscription filters,
//! `FilterLogEvents` and Live Tail — as a pure (no I/O) parser and evaluator, plus the CIS AWS
//! Foundations CloudTrail metric filters ([`CIS_FILTERS`]).
//!
//! ```
//! use trailpipe_filterpattern::{FilterPattern, ValuePath};
//! let p = FilterPattern::parse(r#"{ ($.eventName = ConsoleLogin) && ($.errorMessage = "Failed authentication") }"#)?;
//! assert!(p.matches(br#"{"eventName":"ConsoleLogin","errorMessage":"Failed authentication"}"#));
//! let v = ValuePath::parse("$.eventName")?;
//! assert_eq!(p.extract(br#"{"eventName":"ConsoleLogin","errorMessage":"Failed authentication"}"#, &v).as_deref(), Some("ConsoleLogin"));
//! # Ok::<(), trailpipe_filterpattern::ParseError>(())
//! ```
//!
//! A pattern is compiled once ([`FilterPattern::parse`]) and evaluated against the bytes of one
//! log event. JSON patterns never build a JSON tree: one validating pass over the event resolves
//! only the selectors the pattern names ([`FilterSet`] merges the selectors of many patterns so
//! a whole set costs one pass per event).
//!
//! # Decisions on what AWS leaves open (reference §6, Appendix B)
//!
//! Each decision is pinned by a test whose name starts with its id (`d06_…` in
//! `tests/decisions.rs`); table cases in `tests/cases.rs` name it in their note.
//!
//! - **D1 kind.** The first non-blank character picks the kind: `{` JSON, `[` space-delimited,
//!   `%` standalone regex, anything else terms. An empty or blank pattern matches every event.
//! - **D2 case.** All matching is case-sensitive. Keywords (`IS NULL`, `IS TRUE`, `IS FALSE`,
//!   `NOT EXISTS`) are upper-case only; `IS NOT` and `EXISTS` are refused as AWS documents.
//! - **D3 terms are substrings** of the raw event bytes (`ERROR` matches `ERRORNEOUS`, not
//!   `Error`); a JSON event is searched as text.
//! - **D4 mixing `?` and `-`.** An event matches iff it contains every plain term, at least one
//!   `?`-term (when any are given) and no `-`-term. `-` and `?` are prefixes only: an unquoted
//!   `ORDER-ITEM-1` is one term.
//! - **D5 blank phrase.** A quoted term that is empty or only blanks (`" "`) matches every event
//!   (the documented "match everything"), and `-" "` therefore matches none.
//! - **D6 `!=` and absence.** A comparison on a missing field, an object or an array is false
//!   whatever the operator, so `{ $.x != "a" }` does not match events without `x` (use
//!   `NOT EXISTS`). JSON `null` is a value: `!= "a"` is true on it, `= "*"` is false on it.
//! - **D7 text vs. JSON type.** A string literal (quoted or bare, with `*` wildcards) is matched
//!   against the JSON text of strings, numbers (as written: `$.code = 4*` matches `404`) and
//!   booleans (`true`/`false`).
//! - **D8 numbers.** A bare literal with number syntax (`400`, `-5`, `1e-3`, `0.5`) compares
//!   numerically with JSON numbers and with strings that are wholly a number (`"400"`);
//!   `<`, `>`, `<=`, `>=` need such a literal (anything else is a parse error).
//! - **D9 bare values** may hold any character except blanks and `( ) { } [ ] " % & | < > = ! ,`,
//!   so `kms.amazonaws.com` and `123.123.*` need no quotes (as AWS's own CIS patterns write them).
//! - **D10 quoted strings** know only the escapes `\"` and `\\` (what CDK emits); other
//!   backslashes are literal. `*` is a wildcard inside quotes too.
//! - **D11 selectors** are `$` followed by `.name` (`[A-Za-z0-9_-]+`) and `[index]` steps;
//!   the undocumented `[*]` and `.*` wildcards are refused with a parse error.
//! - **D12 JSON events.** An event that is not exactly one well-formed JSON value (RFC 8259,
//!   nesting ≤ 128, nothing after it but whitespace) matches no JSON pattern, not even
//!   `NOT EXISTS`. Duplicate keys: the last one wins. String contents are not checked for
//!   UTF-8 validity.
//! - **D13 regex.** Inside `%…%` only ASCII alphanumerics, `: _ # = @ / ; , -`, the operators
//!   `^ $ ? [ ] { } | \ * + .` and the space are allowed (the space is not in AWS's list but
//!   CDK's own example uses it); parentheses and non-ASCII are refused, as is a third regex in a
//!   pattern. Regexes search anywhere (unanchored) in the event (standalone) or in the value's
//!   text (JSON, delimited); classes like `\d`, `\w`, `\s` are ASCII. A standalone regex must be
//!   the whole pattern.
//! - **D14 space-delimited.** Event fields are separated by blanks; `"…"` and `[…]` are one field
//!   each with the quotes/brackets removed (an unclosed one runs to the end). Without `...`
//!   the last pattern field takes the rest of the line when the event has more fields
//!   (`[w1=ERROR, w2]` = "first word is ERROR"); events with fewer fields never match. One `...`
//!   at most. `&&`/`||` may only join conditions on the same field (names compared
//!   ASCII-case-insensitively: AWS's `[w1=ERROR || W1=WARNING, w2]`).
//! - **D15 length.** Patterns longer than 1024 characters are refused (PutMetricFilter limit).
//! - **D16 extraction.** [`FilterPattern::extract`] returns a value only for an event the pattern
//!   matches: `$.a.b` paths for JSON patterns, `$field` for space-delimited ones; JSON null,
//!   objects and arrays give `None`.
//! - **D17 CIS 4.1.** The `&&` form of CIS 4.1 is evaluated with `&&` binding tighter, so the two
//!   exclusions only qualify the `AccessDenied*` branch — faithfully, as the user wrote it.

mod cis;
mod cursor;
mod delimited;
mod error;
mod json;
mod literal;
mod prefilter;
mod regex_term;
mod scan;
mod set;
mod terms;

use std::fmt;
use std::str::FromStr;

pub use cis::{CisFilter, CIS_FILTERS, CIS_V14_VARIANTS};
pub use error::ParseError;
pub use scan::MAX_DEPTH;
pub use set::FilterSet;

use cursor::Cursor;
use delimited::DelimitedPattern;
use json::{parse_selector, JsonPattern};
use regex_term::RegexTerm;
use scan::{Node, Trie};
use terms::TermPattern;

/// Longest pattern accepted, in characters.
pub const MAX_PATTERN_CHARS: usize = 1024;

/// Which of the four pattern languages a pattern uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatternKind {
    /// Empty or blank pattern: matches every event.
    MatchAll,
    /// Terms and quoted phrases (`ERROR -ARGUMENTS`).
    Terms,
    /// `{ … }` JSON pattern.
    Json,
    /// `[ … ]` space-delimited pattern.
    SpaceDelimited,
    /// `%…%` standalone regex.
    Regex,
}

#[derive(Debug, Clone)]
pub(crate) enum Compiled {
    All,
    Terms(TermPattern),
    Json(JsonPattern),
    Delimited(DelimitedPattern),
    Regex(RegexTerm),
}

/// A compiled filter pattern. Keeps its source text verbatim ([`FilterPattern::as_str`]).
#[derive(Debug, Clone)]
pub struct FilterPattern {
    source: String,
    compiled: Compiled,
}

impl FilterPattern {
    /// Parses and compiles a filter pattern.
    pub fn parse(pattern: &str) -> Result<Self, ParseError> {
        if let Some((at, _)) = pattern.char_indices().nth(MAX_PATTERN_CHARS) {
            return Err(ParseError::at(
                pattern,
                at,
                format!("pattern is longer than {MAX_PATTERN_CHARS} characters"),
            ));
        }
        let start = pattern.len() - pattern.trim_start().len();
        let mut regexes = 0;
        let compiled = match pattern[start..].chars().next() {
            None => Compiled::All,
            Some('{') => Compiled::Json(JsonPattern::parse(pattern, start, &mut regexes)?),
            Some('[') => {
                Compiled::Delimited(DelimitedPattern::parse(pattern, start, &mut regexes)?)
            }
            Some('%') => {
                let mut cur = Cursor::new(pattern, start);
                let re = RegexTerm::parse(&mut cur, &mut regexes)?;
                cur.skip_ws();
                if !cur.at_end() {
                    return Err(cur.err(format!(
                        "unexpected {} after the regex: a `%…%` pattern must stand alone",
                        cur.found()
                    )));
                }
                Compiled::Regex(re)
            }
            Some(_) => Compiled::Terms(TermPattern::parse(pattern)?),
        };
        Ok(FilterPattern {
            source: pattern.to_string(),
            compiled,
        })
    }

    /// The pattern exactly as given to [`FilterPattern::parse`].
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The pattern language.
    pub fn kind(&self) -> PatternKind {
        match self.compiled {
            Compiled::All => PatternKind::MatchAll,
            Compiled::Terms(_) => PatternKind::Terms,
            Compiled::Json(_) => PatternKind::Json,
            Compiled::Delimited(_) => PatternKind::SpaceDelimited,
            Compiled::Regex(_) => PatternKind::Regex,
        }
    }

    /// Whether the pattern matches one log event (its message bytes).
    pub fn matches(&self, event: &[u8]) -> bool {
        match &self.compiled {
            Compiled::All => true,
            Compiled::Terms(t) => t.matches(event),
            Compiled::Json(j) => j.matches(event),
            Compiled::Delimited(d) => d.matches(event),
            Compiled::Regex(r) => r.is_match(event),
        }
    }

    /// The value `path` names in `event`, as text, when the pattern matches the event (D16).
    /// Strings are unescaped; numbers keep their JSON spelling.
    pub fn extract(&self, event: &[u8], path: &ValuePath) -> Option<String> {
        let bytes: Vec<u8> = match (&self.compiled, &path.kind) {
            (Compiled::Json(j), PathKind::Json(trie)) => {
                if !j.matches(event) {
                    return None;
                }
                let mut slot = [Node::Missing];
                if !trie.scan(event, &mut slot) {
                    return None;
                }
                slot[0].scalar()?.text()?.to_vec()
            }
            (Compiled::Delimited(d), PathKind::Field(name)) => d.field(event, name)?.to_vec(),
            _ => return None,
        };
        Some(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// [`FilterPattern::extract`] read as a number (for `metricValue`); `None` if not numeric.
    pub fn extract_number(&self, event: &[u8], path: &ValuePath) -> Option<f64> {
        literal::parse_number(self.extract(event, path)?.as_bytes())
    }
}

impl fmt::Display for FilterPattern {
    /// Prints the source text verbatim, so printing and parsing round-trip exactly.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl FromStr for FilterPattern {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FilterPattern::parse(s)
    }
}

#[derive(Debug, Clone)]
enum PathKind {
    Json(Trie),
    Field(String),
}

/// A value reference of a metric transformation (`metricValue`, dimension values):
/// `$.a.b[0]` for JSON patterns or `$field` for space-delimited ones.
#[derive(Debug, Clone)]
pub struct ValuePath {
    source: String,
    kind: PathKind,
}

impl ValuePath {
    /// Parses `$.selector` or `$fieldName`.
    pub fn parse(path: &str) -> Result<Self, ParseError> {
        let mut cur = Cursor::new(path, 0);
        let kind = if path.starts_with("$.") || path.starts_with("$[") {
            let selector = parse_selector(&mut cur)?;
            let mut trie = Trie::new();
            trie.insert(&selector);
            PathKind::Json(trie)
        } else if let Some(name) = path.strip_prefix('$') {
            cur.pos = 1;
            while cur
                .peek()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                cur.bump();
            }
            if name.is_empty() {
                return Err(cur.err("expected a field name or `.` after `$`"));
            }
            PathKind::Field(path[1..cur.pos].to_string())
        } else {
            return Err(cur.err("a value path starts with `$.` (JSON) or `$` and a field name"));
        };
        if !cur.at_end() {
            return Err(cur.err(format!("unexpected {} in value path", cur.found())));
        }
        Ok(ValuePath {
            source: path.to_string(),
            kind,
        })
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

impl fmt::Display for ValuePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

#[cfg(test)]
mod tests;
