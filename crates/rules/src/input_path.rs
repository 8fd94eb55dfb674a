//! A target's `input_path`: the part of the envelope it receives, as EventBridge's `InputPath`
//! limited to `$` (the whole event) and dotted field names (`$.detail.userIdentity`).
//!
//! Decisions: the selected part is delivered byte for byte as it stands in the envelope (the
//! record's own text for `$.detail`), not re-serialised; a path that selects nothing (a missing
//! field, or a field of something that is not an object) delivers JSON `null`.

use std::collections::HashMap;

use serde_json::value::RawValue;

/// A parsed `input_path`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InputPath {
    /// Field names from the top; empty for `$`.
    fields: Vec<String>,
}

impl InputPath {
    /// Parses `$` or `$.a.b`: every field name is non-empty and made of ASCII letters, digits,
    /// `_` and `-`.
    pub fn parse(path: &str) -> Result<Self, String> {
        let Some(rest) = path.strip_prefix('$') else {
            return Err(format!("{path:?} must start with '$'"));
        };
        if rest.is_empty() {
            return Ok(Self::default());
        }
        let Some(rest) = rest.strip_prefix('.') else {
            return Err(format!(
                "{path:?}: only '$' and dotted field names ($.detail.eventName) are supported"
            ));
        };
        let fields: Vec<String> = rest.split('.').map(str::to_owned).collect();
        for f in &fields {
            if f.is_empty()
                || !f
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return Err(format!(
                    "{path:?}: field names must be non-empty ASCII letters, digits, '_' or '-'"
                ));
            }
        }
        Ok(Self { fields })
    }

    /// Whether this is `$` (the whole envelope).
    pub fn is_whole(&self) -> bool {
        self.fields.is_empty()
    }

    /// The part of `envelope` (JSON text) this path selects, as JSON text.
    pub fn apply<'a>(&self, envelope: &'a str) -> std::borrow::Cow<'a, str> {
        let mut cur: &'a str = envelope;
        for f in &self.fields {
            let Ok(map) = serde_json::from_str::<HashMap<String, &'a RawValue>>(cur) else {
                return "null".into();
            };
            match map.get(f) {
                Some(v) => cur = v.get(),
                None => return "null".into(),
            }
        }
        cur.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_and_cut_the_envelope_byte_for_byte() {
        let env = r#"{"id":"x","detail":{"b": 1, "a":{"c":[1, 2]}}}"#;
        assert_eq!(InputPath::parse("$").unwrap().apply(env), env);
        assert_eq!(
            InputPath::parse("$.detail").unwrap().apply(env),
            r#"{"b": 1, "a":{"c":[1, 2]}}"#
        );
        assert_eq!(
            InputPath::parse("$.detail.a.c").unwrap().apply(env),
            "[1, 2]"
        );
        assert_eq!(InputPath::parse("$.detail.z").unwrap().apply(env), "null");
        assert_eq!(InputPath::parse("$.id.z").unwrap().apply(env), "null");
        for bad in ["", "detail", "$detail", "$.", "$.a..b", "$.a[0]", "$.a b"] {
            assert!(InputPath::parse(bad).is_err(), "{bad:?}");
        }
    }
}
