//! A byte cursor over the pattern text shared by the three pattern parsers.
//!
//! Positions are byte offsets into the pattern; they are only ever advanced by whole
//! characters, so every position handed to [`ParseError::at`] is a char boundary.

use crate::ParseError;

/// Reading position in a pattern string.
pub(crate) struct Cursor<'a> {
    pub(crate) src: &'a str,
    pub(crate) pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(src: &'a str, pos: usize) -> Self {
        Cursor { src, pos }
    }

    pub(crate) fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    pub(crate) fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    pub(crate) fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.src.len()
    }

    pub(crate) fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            if c.is_whitespace() {
                self.pos += c.len_utf8();
            } else {
                break;
            }
        }
    }

    pub(crate) fn starts_with(&self, s: &str) -> bool {
        self.rest().starts_with(s)
    }

    pub(crate) fn eat(&mut self, s: &str) -> bool {
        if self.starts_with(s) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    /// An error at the current position.
    pub(crate) fn err(&self, message: impl Into<String>) -> ParseError {
        ParseError::at(self.src, self.pos, message)
    }

    /// An error at an earlier position.
    pub(crate) fn err_at(&self, at: usize, message: impl Into<String>) -> ParseError {
        ParseError::at(self.src, at, message)
    }

    /// Describes the character at the cursor for messages: "`x`" or "end of pattern".
    pub(crate) fn found(&self) -> String {
        match self.peek() {
            Some(c) => format!("`{c}`"),
            None => "end of pattern".to_string(),
        }
    }

    /// Reads a double-quoted string starting at the cursor (which must be on `"`).
    /// `\"` and `\\` are the only escapes; any other backslash is kept literally.
    pub(crate) fn quoted(&mut self) -> Result<String, ParseError> {
        let open = self.pos;
        debug_assert!(self.starts_with("\""));
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.bump() {
                None => return Err(self.err_at(open, "unterminated quoted string")),
                Some('"') => return Ok(out),
                Some('\\') => match self.peek() {
                    Some(c @ ('"' | '\\')) => {
                        self.pos += 1;
                        out.push(c);
                    }
                    _ => out.push('\\'),
                },
                Some(c) => out.push(c),
            }
        }
    }
}
