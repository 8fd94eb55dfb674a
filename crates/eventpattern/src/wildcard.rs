//! `wildcard` operands: `*` matches any run of characters (including none), `\*` a literal
//! asterisk and `\\` a literal backslash.
//!
//! Invariant (enforced by [`Wildcard::parse`]): no two unescaped `*` are adjacent, and a `\`
//! escapes only `*` or `\`; so the compiled form is a list of literal pieces separated by
//! single stars, matched greedily leftmost (exact for `*`-only globs).

use crate::error::{ErrorKind, PatternError};

/// A compiled `wildcard` operand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Wildcard {
    /// Literal pieces; a star sits between each two consecutive pieces (so one piece means
    /// no star at all, and an empty first / last piece a leading / trailing star).
    pieces: Vec<String>,
}

impl Wildcard {
    /// Compiles `text`, refusing `**` and escapes of anything but `*` and `\` the way
    /// EventBridge does.
    pub(crate) fn parse(text: &str, path: &str) -> Result<Self, PatternError> {
        let mut pieces = vec![String::new()];
        let mut prev_star = false;
        let mut chars = text.char_indices();
        while let Some((pos, c)) = chars.next() {
            match c {
                '*' => {
                    if prev_star {
                        return Err(PatternError::new(
                            ErrorKind::BadWildcard,
                            path,
                            format!("Consecutive wildcard characters at pos {pos}"),
                        ));
                    }
                    prev_star = true;
                    pieces.push(String::new());
                }
                '\\' => {
                    prev_star = false;
                    match chars.next() {
                        Some((_, e @ ('*' | '\\'))) => {
                            pieces.last_mut().expect("non-empty").push(e)
                        }
                        _ => {
                            return Err(PatternError::new(
                                ErrorKind::BadWildcard,
                                path,
                                format!("Invalid escape character at pos {pos}"),
                            ))
                        }
                    }
                }
                c => {
                    prev_star = false;
                    pieces.last_mut().expect("non-empty").push(c);
                }
            }
        }
        Ok(Self { pieces })
    }

    /// Whether the whole of `s` matches.
    pub(crate) fn matches(&self, s: &str) -> bool {
        let n = self.pieces.len();
        if n == 1 {
            return s == self.pieces[0];
        }
        let first = &self.pieces[0];
        let last = &self.pieces[n - 1];
        if s.len() < first.len() + last.len()
            || !s.starts_with(first.as_str())
            || !s.ends_with(last.as_str())
        {
            return false;
        }
        // The middle pieces, leftmost each, within what the first and last pieces leave.
        let mut rest = &s[first.len()..s.len() - last.len()];
        for piece in &self.pieces[1..n - 1] {
            match rest.find(piece.as_str()) {
                Some(at) => rest = &rest[at + piece.len()..],
                None => return false,
            }
        }
        true
    }
}
