//! Values on the right of a comparison (`"text*"`, `4*`, `1e-3`, `%regex%`) and how one
//! compares with a value taken from a log event.
//!
//! Invariant: relational operators (`<`, `>`, `<=`, `>=`) only ever carry a
//! [`Literal::Number`]; the parsers refuse anything else, so [`compare`] never has to guess.

use std::borrow::Cow;
use std::fmt;

use memchr::memmem;

use crate::cursor::Cursor;
use crate::regex_term::RegexTerm;
use crate::ParseError;

/// Comparison operators of JSON and space-delimited conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
}

impl Op {
    /// Reads an operator at the cursor (longest match first).
    pub(crate) fn parse(cur: &mut Cursor<'_>) -> Option<Op> {
        for (text, op) in [
            ("!=", Op::Ne),
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("=", Op::Eq),
            ("<", Op::Lt),
            (">", Op::Gt),
        ] {
            if cur.eat(text) {
                return Some(op);
            }
        }
        None
    }

    fn is_relational(self) -> bool {
        !matches!(self, Op::Eq | Op::Ne)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Gt => ">",
            Op::Le => "<=",
            Op::Ge => ">=",
        })
    }
}

/// Text with `*` wildcards, matched against a whole value (anchored at both ends).
#[derive(Debug, Clone)]
pub(crate) struct Glob {
    /// The text split on `*`; one part means no wildcard.
    parts: Vec<Vec<u8>>,
    /// Finders for the middle parts (between the first and last `*`).
    middle: Vec<memmem::Finder<'static>>,
}

impl Glob {
    pub(crate) fn new(text: &str) -> Self {
        let parts: Vec<Vec<u8>> = text
            .as_bytes()
            .split(|b| *b == b'*')
            .map(<[u8]>::to_vec)
            .collect();
        let middle = if parts.len() > 2 {
            parts[1..parts.len() - 1]
                .iter()
                .map(|p| memmem::Finder::new(p).into_owned())
                .collect()
        } else {
            Vec::new()
        };
        Glob { parts, middle }
    }

    /// The text when it has no wildcard.
    pub(crate) fn exact(&self) -> Option<&[u8]> {
        match self.parts.as_slice() {
            [exact] => Some(exact),
            _ => None,
        }
    }

    /// The text split on `*` (one part when there is no wildcard).
    pub(crate) fn parts(&self) -> &[Vec<u8>] {
        &self.parts
    }

    /// Whether `value` as a whole matches the glob (case-sensitive).
    pub(crate) fn matches(&self, value: &[u8]) -> bool {
        match self.parts.as_slice() {
            [exact] => value == exact.as_slice(),
            [first, .., last] => {
                if value.len() < first.len() + last.len()
                    || !value.starts_with(first)
                    || !value.ends_with(last)
                {
                    return false;
                }
                let mut rest = &value[first.len()..value.len() - last.len()];
                for finder in &self.middle {
                    match finder.find(rest) {
                        Some(i) => rest = &rest[i + finder.needle().len()..],
                        None => return false,
                    }
                }
                true
            }
            [] => unreachable!("split always yields at least one part"),
        }
    }
}

/// The right-hand side of a condition.
#[derive(Debug, Clone)]
pub(crate) enum Literal {
    /// A quoted string, or a bare token that is not a number (may contain `*`).
    Text(Glob),
    /// A bare token with number syntax (`400`, `-5`, `1e-3`, `0.5`).
    Number(f64),
    /// `%regex%`: an unanchored search over the value's text.
    Regex(RegexTerm),
}

/// A scalar taken from a log event: a JSON string/number/boolean/null, or a space-delimited field.
#[derive(Debug, Clone)]
pub(crate) enum Scalar<'a> {
    Null,
    Bool(bool),
    /// A JSON number, as written in the event.
    Number(&'a [u8]),
    /// A string (JSON escapes already decoded) or a space-delimited field.
    Text(Cow<'a, [u8]>),
}

impl Scalar<'_> {
    /// The text a string literal, glob or regex is matched against. JSON null has none.
    pub(crate) fn text(&self) -> Option<&[u8]> {
        match self {
            Scalar::Null => None,
            Scalar::Bool(true) => Some(b"true"),
            Scalar::Bool(false) => Some(b"false"),
            Scalar::Number(raw) => Some(raw),
            Scalar::Text(t) => Some(t),
        }
    }

    /// The numeric reading: JSON numbers, and strings/fields that are entirely a number.
    pub(crate) fn number(&self) -> Option<f64> {
        match self {
            Scalar::Number(raw) | Scalar::Text(Cow::Borrowed(raw)) => parse_number(raw),
            Scalar::Text(Cow::Owned(t)) => parse_number(t),
            Scalar::Null | Scalar::Bool(_) => None,
        }
    }
}

/// Evaluates `value op literal`. `None` (field missing, or an object/array) never matches,
/// whatever the operator: `!=` is "present, scalar and different", not "not equal".
pub(crate) fn compare(value: Option<&Scalar<'_>>, op: Op, literal: &Literal) -> bool {
    let Some(value) = value else { return false };
    match op {
        Op::Eq => equals(value, literal),
        Op::Ne => !equals(value, literal),
        _ => {
            let (Some(v), Literal::Number(n)) = (value.number(), literal) else {
                return false;
            };
            match op {
                Op::Lt => v < *n,
                Op::Gt => v > *n,
                Op::Le => v <= *n,
                Op::Ge => v >= *n,
                Op::Eq | Op::Ne => unreachable!("handled above"),
            }
        }
    }
}

fn equals(value: &Scalar<'_>, literal: &Literal) -> bool {
    match literal {
        Literal::Text(glob) => value.text().is_some_and(|t| glob.matches(t)),
        Literal::Number(n) => value.number() == Some(*n),
        Literal::Regex(re) => value.text().is_some_and(|t| re.is_match(t)),
    }
}

/// Parses number syntax `[+-]? (digits [. digits*] | . digits) ([eE] [+-]? digits)?`.
/// Anything else (`0x10`, `inf`, `1.2.3`, empty) is not a number.
pub(crate) fn parse_number(raw: &[u8]) -> Option<f64> {
    let mut i = 0;
    if matches!(raw.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let int_start = i;
    while raw.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    let mut digits = i - int_start;
    if raw.get(i) == Some(&b'.') {
        i += 1;
        let frac_start = i;
        while raw.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        digits += i - frac_start;
    }
    if digits == 0 {
        return None;
    }
    if matches!(raw.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(raw.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp_start = i;
        while raw.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == exp_start {
            return None;
        }
    }
    if i != raw.len() {
        return None;
    }
    // The grammar above is a subset of what `f64::from_str` accepts (after the ASCII check).
    std::str::from_utf8(raw).ok()?.parse().ok()
}

/// Characters that end a bare (unquoted) value.
fn ends_bare(c: char) -> bool {
    c.is_whitespace() || "(){}[]\"%&|<>=!,".contains(c)
}

/// Reads a value at the cursor: `"quoted"`, `%regex%` or a bare token.
/// `regexes` counts regexes in the whole pattern (CloudWatch allows at most 2).
pub(crate) fn parse_literal(
    cur: &mut Cursor<'_>,
    op: Op,
    regexes: &mut usize,
) -> Result<Literal, ParseError> {
    let start = cur.pos;
    let literal = match cur.peek() {
        Some('"') => Literal::Text(Glob::new(&cur.quoted()?)),
        Some('%') => Literal::Regex(RegexTerm::parse(cur, regexes)?),
        _ => {
            while cur.peek().is_some_and(|c| !ends_bare(c)) {
                cur.bump();
            }
            let token = &cur.src[start..cur.pos];
            if token.is_empty() {
                return Err(cur.err(format!(
                    "expected a value after `{op}`, found {}",
                    cur.found()
                )));
            }
            match parse_number(token.as_bytes()) {
                Some(n) => Literal::Number(n),
                None => Literal::Text(Glob::new(token)),
            }
        }
    };
    if op.is_relational() && !matches!(literal, Literal::Number(_)) {
        return Err(cur.err_at(
            start,
            format!("`{op}` needs a number (no quotes, wildcards or regex)"),
        ));
    }
    Ok(literal)
}
