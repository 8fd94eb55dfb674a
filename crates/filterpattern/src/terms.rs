//! Term and phrase patterns (`ERROR`, `"INTERNAL SERVER ERROR"`, `?A ?B`, `ERROR -ARGUMENTS`):
//! case-sensitive substring tests over the raw event bytes.
//!
//! Invariant: an event matches iff it contains every plain term, contains at least one
//! `?`-term (when there are any), and contains no `-`-term. A quoted term that is empty or
//! only blanks (`" "`) is "match everything".

use memchr::memmem::Finder;

use crate::cursor::Cursor;
use crate::ParseError;

/// One term or phrase.
#[derive(Debug, Clone)]
struct Term {
    /// `None` for a blank quoted term, which is contained in every event.
    finder: Option<Finder<'static>>,
}

impl Term {
    fn new(text: &str) -> Self {
        let finder = if text.trim().is_empty() {
            None
        } else {
            Some(Finder::new(text.as_bytes()).into_owned())
        };
        Term { finder }
    }

    fn found_in(&self, event: &[u8]) -> bool {
        self.finder.as_ref().is_none_or(|f| f.find(event).is_some())
    }
}

/// A parsed term pattern.
#[derive(Debug, Clone)]
pub(crate) struct TermPattern {
    required: Vec<Term>,
    any: Vec<Term>,
    excluded: Vec<Term>,
}

impl TermPattern {
    pub(crate) fn parse(src: &str) -> Result<Self, ParseError> {
        let mut cur = Cursor::new(src, 0);
        let mut pattern = TermPattern {
            required: Vec::new(),
            any: Vec::new(),
            excluded: Vec::new(),
        };
        loop {
            cur.skip_ws();
            if cur.at_end() {
                return Ok(pattern);
            }
            let prefix = match cur.peek() {
                Some(c @ ('?' | '-')) => {
                    cur.bump();
                    Some(c)
                }
                _ => None,
            };
            let text = match cur.peek() {
                Some('"') => cur.quoted()?,
                Some(c) if !c.is_whitespace() => {
                    let start = cur.pos;
                    while cur.peek().is_some_and(|c| !c.is_whitespace()) {
                        cur.bump();
                    }
                    cur.src[start..cur.pos].to_string()
                }
                _ => {
                    let p = prefix.expect("a term always starts with a prefix or a non-blank");
                    return Err(cur.err(format!(
                        "expected a term after `{p}`, found {}",
                        cur.found()
                    )));
                }
            };
            let term = Term::new(&text);
            match prefix {
                Some('?') => pattern.any.push(term),
                Some(_) => pattern.excluded.push(term),
                None => pattern.required.push(term),
            }
        }
    }

    pub(crate) fn matches(&self, event: &[u8]) -> bool {
        self.required.iter().all(|t| t.found_in(event))
            && (self.any.is_empty() || self.any.iter().any(|t| t.found_in(event)))
            && !self.excluded.iter().any(|t| t.found_in(event))
    }
}
