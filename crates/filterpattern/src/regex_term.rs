//! `%regex%` terms: CloudWatch's restricted regex subset, compiled with the `regex` crate.
//!
//! Invariant: a [`RegexTerm`] only exists for a body made of the documented characters
//! (ASCII alphanumerics, `: _ # = @ / ; , -`, the operators `^ $ ? [ ] { } | \ * + .`, and the
//! space — see the crate docs), so no grouping, look-around or flag syntax can reach the engine.

use std::fmt;

use regex::bytes::{Regex, RegexBuilder};

use crate::cursor::Cursor;
use crate::ParseError;

/// At most this many regexes in one filter pattern (CloudWatch quota).
pub(crate) const MAX_REGEXES_PER_PATTERN: usize = 2;

/// A compiled `%…%` term; matches anywhere in the text it is given (unanchored search).
#[derive(Clone)]
pub(crate) struct RegexTerm {
    source: String,
    regex: Regex,
}

impl fmt::Debug for RegexTerm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "%{}%", self.source)
    }
}

fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || ":_#=@/;,-^$?[]{}|\\*+. ".contains(c)
}

impl RegexTerm {
    /// Reads `%body%` at the cursor (which is on the opening `%`).
    pub(crate) fn parse(cur: &mut Cursor<'_>, regexes: &mut usize) -> Result<Self, ParseError> {
        let open = cur.pos;
        debug_assert!(cur.starts_with("%"));
        cur.pos += 1;
        let body_start = cur.pos;
        loop {
            let here = cur.pos;
            match cur.bump() {
                None => return Err(cur.err_at(open, "unterminated regex: missing closing `%`")),
                Some('%') => break,
                Some('(' | ')') => {
                    return Err(cur.err_at(here, "parentheses are not supported in a regex"))
                }
                Some(c) if !c.is_ascii() => {
                    return Err(
                        cur.err_at(here, "multibyte characters are not supported in a regex")
                    )
                }
                Some(c) if !allowed(c) => {
                    return Err(cur.err_at(here, format!("`{c}` is not allowed in a regex")))
                }
                Some(_) => {}
            }
        }
        let source = &cur.src[body_start..cur.pos - 1];
        if source.is_empty() {
            return Err(cur.err_at(open, "empty regex `%%`"));
        }
        *regexes += 1;
        if *regexes > MAX_REGEXES_PER_PATTERN {
            return Err(cur.err_at(
                open,
                format!(
                    "at most {MAX_REGEXES_PER_PATTERN} regexes are allowed in one filter pattern"
                ),
            ));
        }
        let regex = RegexBuilder::new(source)
            .unicode(false)
            .size_limit(1 << 20)
            .dfa_size_limit(1 << 20)
            .build()
            .map_err(|e| {
                let detail = e.to_string();
                let last = detail.lines().last().unwrap_or("").trim().to_string();
                cur.err_at(body_start, format!("invalid regex: {last}"))
            })?;
        Ok(RegexTerm {
            source: source.to_string(),
            regex,
        })
    }

    /// Whether the regex matches anywhere in `text`.
    pub(crate) fn is_match(&self, text: &[u8]) -> bool {
        self.regex.is_match(text)
    }
}
