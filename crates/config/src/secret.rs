//! Secrets in the configuration: passwords and key passphrases that must never be printed.
//!
//! A secret field `x` can be written three ways, so no secret has to sit in the file itself:
//! - `x = "${KAFKA_PASSWORD}"`: the value of an environment variable (any number of `${NAME}`
//!   references inside the text; `$${` writes a literal `${`);
//! - `x_file = "/run/credentials/trailpipe.service/kafka-password"`: the file's contents, with
//!   one trailing newline removed (systemd `LoadCredential=`, a Kubernetes `Secret` volume);
//! - `x = "literal"` (tests and demos only).
//!
//! Both forms are resolved when the configuration is loaded, so a SIGHUP reload reads the files
//! and the environment again.
//!
//! Invariant: a [`Secret`]'s value is reachable only through [`Secret::expose`]; its `Debug`
//! and `Display` print `<redacted>`, so a secret cannot reach a log line, `/metrics`, the API or
//! an error message by formatting a configuration value.

use std::path::Path;

use serde::Deserialize;

/// A secret string (a password, a key passphrase). Printing it shows `<redacted>`.
#[derive(Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// A secret from its value (tests, and values resolved from `*_file` fields).
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret's value, for the one place that hands it to a client library.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Expands `${NAME}` references from `lookup` (`$${` is a literal `${`). The error names the
/// variable, never the text around it (which may be part of the secret).
pub(crate) fn expand(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix("${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix('{') {
            let end = tail
                .find('}')
                .ok_or_else(|| "has '${' without a closing '}'".to_string())?;
            let name = &tail[..end];
            let valid = !name.is_empty()
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && !name.as_bytes()[0].is_ascii_digit();
            if !valid {
                return Err(format!(
                    "'${{{name}}}' is not an environment variable reference (letters, digits, '_')"
                ));
            }
            let value = lookup(name).ok_or_else(|| {
                format!("refers to environment variable {name}, which is not set")
            })?;
            out.push_str(&value);
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Expands `${NAME}` references in a path field in place (`password_file =
/// "${CREDENTIALS_DIRECTORY}/kafka-password"` for systemd's `LoadCredential=`); a mistake is
/// reported against `field`.
pub(crate) fn expand_path(
    field: &str,
    path: &mut Option<std::path::PathBuf>,
    lookup: &impl Fn(&str) -> Option<String>,
    errors: &mut Vec<crate::ConfigError>,
) {
    let Some(p) = path.as_ref() else { return };
    let Some(text) = p.to_str() else { return };
    if !text.contains('$') {
        return;
    }
    match expand(text, lookup) {
        Ok(v) => *path = Some(v.into()),
        Err(m) => errors.push(crate::ConfigError::new(field, m)),
    }
}

/// Resolves one secret field: `value` (with `${ENV}` references) or `file`, not both. Returns
/// the resolved secret, or a message for the field. `field` is the value's own path
/// (`source.sasl.password`); the file's is `<field>_file`.
pub(crate) fn resolve(
    field: &str,
    value: Option<&Secret>,
    file: Option<&Path>,
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<Option<Secret>, crate::ConfigError> {
    match (value, file) {
        (Some(_), Some(_)) => Err(crate::ConfigError::new(
            field,
            format!("set either {field} or {field}_file, not both"),
        )),
        (Some(v), None) => expand(v.expose(), lookup)
            .map(|s| Some(Secret(s)))
            .map_err(|m| crate::ConfigError::new(field, m)),
        (None, Some(path)) => match std::fs::read_to_string(path) {
            Ok(mut s) => {
                if s.ends_with('\n') {
                    s.pop();
                    if s.ends_with('\r') {
                        s.pop();
                    }
                }
                Ok(Some(Secret(s)))
            }
            Err(e) => Err(crate::ConfigError::new(
                format!("{field}_file"),
                format!("cannot read {}: {e}", path.display()),
            )),
        },
        (None, None) => Ok(None),
    }
}

/// Resolves a secret field pair in place, as every secret field of the configuration is
/// resolved: `${ENV}` references in the `<field>_file` path, then [`resolve`]; on success the
/// secret is in `value` and `file` is cleared, a mistake is reported against its field.
pub(crate) fn resolve_field(
    field: &str,
    value: &mut Option<Secret>,
    file: &mut Option<std::path::PathBuf>,
    lookup: &impl Fn(&str) -> Option<String>,
    errors: &mut Vec<crate::ConfigError>,
) {
    expand_path(&format!("{field}_file"), file, lookup, errors);
    match resolve(field, value.as_ref(), file.as_deref(), lookup) {
        Ok(v) => {
            *value = v;
            *file = None;
        }
        Err(e) => errors.push(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "PASS" => Some("s3cr3t".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_references_and_keeps_other_text() {
        assert_eq!(expand("${PASS}", env).unwrap(), "s3cr3t");
        assert_eq!(expand("a-${PASS}-b${EMPTY}", env).unwrap(), "a-s3cr3t-b");
        assert_eq!(expand("cost $5 and $$", env).unwrap(), "cost $5 and $$");
        assert_eq!(expand("$${PASS}", env).unwrap(), "${PASS}");
        assert_eq!(expand("no refs", env).unwrap(), "no refs");
    }

    #[test]
    fn a_missing_variable_or_bad_reference_is_named_without_the_text() {
        let e = expand("hunter2${NOPE}", env).unwrap_err();
        assert_eq!(e, "refers to environment variable NOPE, which is not set");
        assert!(!e.contains("hunter2"));
        assert!(expand("${PASS", env).unwrap_err().contains("closing"));
        assert!(expand("${1X}", env)
            .unwrap_err()
            .contains("not an environment"));
        assert!(expand("${}", env)
            .unwrap_err()
            .contains("not an environment"));
    }

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "<redacted> <redacted>");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn a_file_is_read_with_one_trailing_newline_removed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pw");
        std::fs::write(&p, "line1\n\n").unwrap();
        let got = resolve("x.password", None, Some(&p), &env)
            .unwrap()
            .unwrap();
        assert_eq!(got.expose(), "line1\n");
        std::fs::write(&p, "crlf\r\n").unwrap();
        let got = resolve("x.password", None, Some(&p), &env)
            .unwrap()
            .unwrap();
        assert_eq!(got.expose(), "crlf");
        let missing = dir.path().join("missing");
        let e = resolve("x.password", None, Some(&missing), &env).unwrap_err();
        assert_eq!(e.field, "x.password_file");
        assert!(e.message.contains("cannot read"), "{e}");
    }

    #[test]
    fn paths_expand_references() {
        let mut errors = Vec::new();
        let mut p = Some(std::path::PathBuf::from("/run/${PASS}/pw"));
        expand_path("a.b_file", &mut p, &env, &mut errors);
        assert_eq!(p.unwrap(), std::path::Path::new("/run/s3cr3t/pw"));
        let mut p = Some(std::path::PathBuf::from("${NOPE}/pw"));
        expand_path("a.b_file", &mut p, &env, &mut errors);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "a.b_file");
    }

    #[test]
    fn value_and_file_together_are_refused() {
        let e = resolve(
            "x.password",
            Some(&Secret::new("a")),
            Some(Path::new("/dev/null")),
            &env,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "x.password: set either x.password or x.password_file, not both"
        );
    }
}
