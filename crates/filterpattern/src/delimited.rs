//! Space-delimited patterns `[ip, user, ..., status_code = 4* || status_code = 410, bytes > 1000]`.
//!
//! Invariants: at most one `...`; a field's `&&`/`||` clauses all name that field (names
//! compared ASCII-case-insensitively, as AWS's own `[w1=ERROR || W1=WARNING, w2]` example
//! needs); `&&` binds tighter than `||` and there are no parentheses. Without `...` the last
//! field takes the rest of the line when the event has more fields than the pattern.

use std::borrow::Cow;

use crate::cursor::Cursor;
use crate::literal::{compare, parse_literal, Literal, Op, Scalar};
use crate::ParseError;

/// One named field slot and its conditions (an OR of ANDs; empty means "any value").
#[derive(Debug, Clone)]
struct Field {
    name: String,
    any_of: Vec<Vec<(Op, Literal)>>,
}

impl Field {
    fn accepts(&self, value: &[u8]) -> bool {
        if self.any_of.is_empty() {
            return true;
        }
        let scalar = Scalar::Text(Cow::Borrowed(value));
        self.any_of
            .iter()
            .any(|all| all.iter().all(|(op, lit)| compare(Some(&scalar), *op, lit)))
    }
}

/// A parsed space-delimited pattern.
#[derive(Debug, Clone)]
pub(crate) struct DelimitedPattern {
    fields: Vec<Field>,
    /// Index in `fields` before which `...` stands.
    ellipsis: Option<usize>,
}

/// A field of the event: its raw start and its contents (quotes/brackets stripped).
#[derive(Debug, Clone, Copy)]
struct Token {
    raw_start: usize,
    start: usize,
    end: usize,
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

fn read_name(cur: &mut Cursor<'_>) -> String {
    let start = cur.pos;
    while cur.peek().is_some_and(is_name_char) {
        cur.bump();
    }
    cur.src[start..cur.pos].to_string()
}

impl DelimitedPattern {
    /// Parses a pattern whose first non-blank character (at `open`) is `[`.
    pub(crate) fn parse(src: &str, open: usize, regexes: &mut usize) -> Result<Self, ParseError> {
        let mut cur = Cursor::new(src, open + 1);
        let mut fields = Vec::new();
        let mut ellipsis = None;
        loop {
            cur.skip_ws();
            let at = cur.pos;
            if cur.eat("...") {
                if ellipsis.is_some() {
                    return Err(cur.err_at(at, "only one `...` is allowed in a pattern"));
                }
                ellipsis = Some(fields.len());
            } else {
                fields.push(parse_field(&mut cur, regexes)?);
            }
            cur.skip_ws();
            if cur.eat(",") {
                continue;
            }
            if cur.eat("]") {
                break;
            }
            return Err(cur.err(format!("expected `,` or `]`, found {}", cur.found())));
        }
        cur.skip_ws();
        if !cur.at_end() {
            return Err(cur.err(format!("unexpected {} after the closing `]`", cur.found())));
        }
        Ok(DelimitedPattern { fields, ellipsis })
    }

    pub(crate) fn matches(&self, event: &[u8]) -> bool {
        self.bind(event, |_, _| true)
    }

    /// The value of the field named `name` when the pattern matches `event`.
    pub(crate) fn field<'e>(&self, event: &'e [u8], name: &str) -> Option<&'e [u8]> {
        let want = self.fields.iter().position(|f| f.name == name)?;
        let mut found = None;
        self.bind(event, |i, v| {
            if i == want {
                found = Some(v);
            }
            true
        })
        .then_some(())?;
        found
    }

    /// Lines up fields with event fields; true iff every field accepts its value. `visit` sees
    /// each (field index, value) pair.
    fn bind<'e>(&self, event: &'e [u8], mut visit: impl FnMut(usize, &'e [u8]) -> bool) -> bool {
        let tokens = tokenize(event);
        let (k, n) = (self.fields.len(), tokens.len());
        if n < k {
            return false;
        }
        let mut check = |i: usize, v: &'e [u8]| self.fields[i].accepts(v) && visit(i, v);
        let content = |t: &Token| &event[t.start..t.end];
        match self.ellipsis {
            None => {
                if k == 0 {
                    return n == 0;
                }
                if !(0..k - 1).all(|i| check(i, content(&tokens[i]))) {
                    return false;
                }
                let last = if n == k {
                    content(&tokens[k - 1])
                } else {
                    trim_end(&event[tokens[k - 1].raw_start..])
                };
                check(k - 1, last)
            }
            Some(e) => {
                let after = k - e;
                (0..e).all(|i| check(i, content(&tokens[i])))
                    && (0..after).all(|j| check(e + j, content(&tokens[n - after + j])))
            }
        }
    }
}

fn parse_field(cur: &mut Cursor<'_>, regexes: &mut usize) -> Result<Field, ParseError> {
    let at = cur.pos;
    let name = read_name(cur);
    if name.is_empty() {
        return Err(cur.err(format!(
            "expected a field name or `...`, found {}",
            cur.found()
        )));
    }
    let mut any_of: Vec<Vec<(Op, Literal)>> = Vec::new();
    cur.skip_ws();
    let Some(op) = Op::parse(cur) else {
        return Ok(Field { name, any_of });
    };
    let mut all = Vec::new();
    let mut op = op;
    loop {
        cur.skip_ws();
        all.push((op, parse_literal(cur, op, regexes)?));
        cur.skip_ws();
        let joiner = if cur.eat("&&") {
            false
        } else if cur.eat("||") {
            true
        } else {
            any_of.push(all);
            return Ok(Field { name, any_of });
        };
        if joiner {
            any_of.push(std::mem::take(&mut all));
        }
        cur.skip_ws();
        let name_at = cur.pos;
        let again = read_name(cur);
        if again.is_empty() {
            return Err(cur.err(format!(
                "expected the field name `{name}`, found {}",
                cur.found()
            )));
        }
        if !again.eq_ignore_ascii_case(&name) {
            return Err(cur.err_at(
                name_at,
                format!("`&&`/`||` can only join conditions on the same field (`{name}`, declared at column {}), not `{again}`",
                    crate::ParseError::at(cur.src, at, "").column),
            ));
        }
        cur.skip_ws();
        op = Op::parse(cur).ok_or_else(|| {
            cur.err(format!(
                "expected an operator after `{again}`, found {}",
                cur.found()
            ))
        })?;
    }
}

fn trim_end(s: &[u8]) -> &[u8] {
    let mut end = s.len();
    while end > 0 && s[end - 1].is_ascii_whitespace() {
        end -= 1;
    }
    &s[..end]
}

/// Splits an event on blanks; `"…"` and `[…]` are one field each (an unclosed one runs to
/// the end of the event).
fn tokenize(event: &[u8]) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < event.len() {
        if event[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let raw_start = i;
        let close = match event[i] {
            b'"' => Some(b'"'),
            b'[' => Some(b']'),
            _ => None,
        };
        if let Some(close) = close {
            let start = i + 1;
            match memchr::memchr(close, &event[start..]) {
                Some(off) => {
                    tokens.push(Token {
                        raw_start,
                        start,
                        end: start + off,
                    });
                    i = start + off + 1;
                }
                None => {
                    tokens.push(Token {
                        raw_start,
                        start,
                        end: event.len(),
                    });
                    i = event.len();
                }
            }
        } else {
            while i < event.len() && !event[i].is_ascii_whitespace() {
                i += 1;
            }
            tokens.push(Token {
                raw_start,
                start: raw_start,
                end: i,
            });
        }
    }
    tokens
}
