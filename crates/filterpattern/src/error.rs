//! The one error type of the crate: where in the pattern parsing failed and why.
//!
//! Invariant: `column` is 1-based and counts characters (not bytes) of the pattern string, so
//! it can be shown under the pattern as a caret.

/// A filter pattern that CloudWatch Logs would refuse, with the column of the offending character.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct ParseError {
    /// 1-based character column in the pattern where the problem was found.
    pub column: usize,
    /// What was expected or why the construct is refused.
    pub message: String,
}

impl ParseError {
    /// An error at byte offset `at` of `src` (converted to a 1-based character column).
    pub(crate) fn at(src: &str, at: usize, message: impl Into<String>) -> Self {
        let at = at.min(src.len());
        // `at` is always a char boundary where the parser produces it; be defensive anyway.
        let column = src.char_indices().take_while(|(i, _)| *i < at).count() + 1;
        ParseError {
            column,
            message: message.into(),
        }
    }
}
