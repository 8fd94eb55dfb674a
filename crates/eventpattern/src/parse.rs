//! Validating a pattern's JSON and compiling it to a [`Node`] tree, refusing what EventBridge
//! refuses with its reasons (worded as AWS's `event-ruler` words them where it has a word).

use serde_json::{Map, Value};

use crate::cidr::Cidr;
use crate::error::{ErrorKind, PatternError};
use crate::tree::{Child, Leaf, Matcher, Negated, Node, Num, Range};
use crate::wildcard::Wildcard;
use crate::MAX_PATTERN_CHARS;

/// Operator names, which EventBridge refuses as field names inside a `$or` alternative.
const RESERVED_IN_OR: &[&str] = &[
    "anything-but",
    "cidr",
    "equals-ignore-case",
    "exists",
    "numeric",
    "prefix",
    "suffix",
    "wildcard",
];

/// Largest magnitude of a `numeric` (and numeric `anything-but`) operand, as EventBridge
/// documents: "values between -5.0e9 and +5.0e9 inclusive".
const NUMERIC_LIMIT: f64 = 5.0e9;

fn err(kind: ErrorKind, path: &str, reason: impl Into<String>) -> PatternError {
    PatternError::new(kind, path, reason)
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Parses and validates a whole pattern.
pub(crate) fn parse(json: &str) -> Result<Node, PatternError> {
    let chars = json.chars().count();
    if chars > MAX_PATTERN_CHARS {
        return Err(err(
            ErrorKind::TooLong,
            "",
            format!("Event pattern is {chars} characters long; the maximum is {MAX_PATTERN_CHARS}"),
        ));
    }
    let value: Value = serde_json::from_str(json)
        .map_err(|e| err(ErrorKind::InvalidJson, "", format!("Invalid JSON: {e}")))?;
    match &value {
        Value::Object(map) => object(map, "", false),
        _ => Err(err(ErrorKind::NotAnObject, "", "Filter is not an object")),
    }
}

fn object(map: &Map<String, Value>, path: &str, in_or: bool) -> Result<Node, PatternError> {
    if map.is_empty() {
        return Err(err(
            ErrorKind::EmptyObject,
            path,
            "Empty objects are not allowed",
        ));
    }
    let mut node = Node::default();
    for (key, value) in map {
        if key == "$or" {
            node.or = or(value, path)?;
            continue;
        }
        let here = join(path, key);
        if in_or && RESERVED_IN_OR.contains(&key.as_str()) {
            return Err(err(
                ErrorKind::BadOr,
                &here,
                format!("{key} is Ruler reserved fieldName which cannot be used inside $or."),
            ));
        }
        let child = match value {
            Value::Object(inner) => Child::Node(object(inner, &here, in_or)?),
            Value::Array(items) => Child::Leaf(leaf(items, &here)?),
            _ => {
                return Err(err(
                    ErrorKind::NotObjectOrArray,
                    &here,
                    format!("\"{key}\" must be an object or an array"),
                ))
            }
        };
        node.fields.push((key.as_str().into(), child));
    }
    // Leaves first: they are cheaper than nested objects and usually decide.
    node.fields
        .sort_by_key(|(_, child)| matches!(child, Child::Node(_)));
    Ok(node)
}

fn or(value: &Value, path: &str) -> Result<Vec<Node>, PatternError> {
    let Value::Array(items) = value else {
        return Err(err(
            ErrorKind::BadOr,
            path,
            "It must be an Array followed with $or.",
        ));
    };
    let mut alternatives = Vec::with_capacity(items.len());
    for item in items {
        let Value::Object(map) = item else {
            return Err(err(
                ErrorKind::BadOr,
                path,
                "Only JSON object is allowed in array of $or relationship.",
            ));
        };
        alternatives.push(object(map, path, true)?);
    }
    if alternatives.len() < 2 {
        return Err(err(
            ErrorKind::BadOr,
            path,
            "There must have at least 2 Objects in $or relationship.",
        ));
    }
    Ok(alternatives)
}

fn leaf(items: &[Value], path: &str) -> Result<Leaf, PatternError> {
    if items.is_empty() {
        return Err(err(
            ErrorKind::EmptyArray,
            path,
            "Empty arrays are not allowed",
        ));
    }
    let mut leaf = Leaf::default();
    for item in items {
        let m = match item {
            Value::String(s) => Matcher::Str(s.as_str().into()),
            Value::Number(n) => Matcher::Num(Num::of(n)),
            Value::Bool(b) => Matcher::Bool(*b),
            Value::Null => Matcher::Null,
            Value::Object(op) => match operator(op, path)? {
                Op::Exists(true) => {
                    leaf.exists_true = true;
                    continue;
                }
                Op::Exists(false) => {
                    leaf.exists_false = true;
                    continue;
                }
                Op::Match(m) => m,
            },
            Value::Array(_) => {
                return Err(err(
                    ErrorKind::BadMatchValue,
                    path,
                    "Match value must be String, number, true, false, or null",
                ))
            }
        };
        leaf.matchers.push(m);
    }
    Ok(leaf)
}

enum Op {
    Exists(bool),
    Match(Matcher),
}

/// The single `(name, operand)` of an operator object.
fn single<'a>(
    op: &'a Map<String, Value>,
    path: &str,
) -> Result<(&'a str, &'a Value), PatternError> {
    let mut it = op.iter();
    match (it.next(), it.next()) {
        (Some((k, v)), None) => Ok((k.as_str(), v)),
        (None, _) => Err(err(
            ErrorKind::BadMatchValue,
            path,
            "Match expression name not found",
        )),
        _ => Err(err(
            ErrorKind::BadMatchValue,
            path,
            "Only one key allowed in match expression",
        )),
    }
}

fn string<'a>(v: &'a Value, path: &str, what: &str) -> Result<&'a str, PatternError> {
    match v {
        Value::String(s) => Ok(s),
        _ => Err(err(
            ErrorKind::BadOperand,
            path,
            format!("{what} match pattern must be a string"),
        )),
    }
}

/// `{"equals-ignore-case": "s"}` as the operand of `prefix` / `suffix`.
fn ignore_case_operand<'a>(v: &'a Value, path: &str, what: &str) -> Result<&'a str, PatternError> {
    let Value::Object(inner) = v else {
        return string(v, path, what);
    };
    match single(inner, path)? {
        ("equals-ignore-case", Value::String(s)) => Ok(s),
        ("equals-ignore-case", _) => Err(err(
            ErrorKind::BadOperand,
            path,
            "equals-ignore-case match pattern must be a string",
        )),
        (other, _) => Err(err(
            ErrorKind::UnknownOperator,
            path,
            format!("Unsupported {what} pattern: {other}"),
        )),
    }
}

fn operator(op: &Map<String, Value>, path: &str) -> Result<Op, PatternError> {
    let (name, operand) = single(op, path)?;
    let m = match name {
        "prefix" | "suffix" => {
            let ic = operand.is_object();
            let s = ignore_case_operand(operand, path, name)?;
            match (name, ic) {
                ("prefix", false) => Matcher::Prefix(s.into()),
                ("prefix", true) => Matcher::PrefixIc(s.to_lowercase().into()),
                ("suffix", false) => Matcher::Suffix(s.into()),
                _ => Matcher::SuffixIc(s.to_lowercase().into()),
            }
        }
        "equals-ignore-case" => Matcher::EqIc(string(operand, path, name)?.to_lowercase().into()),
        "wildcard" => Matcher::Wildcard(Wildcard::parse(string(operand, path, name)?, path)?),
        "cidr" => Matcher::Cidr(Cidr::parse(string(operand, path, name)?, path)?),
        "numeric" => Matcher::Numeric(numeric(operand, path)?),
        "exists" => match operand {
            Value::Bool(b) => return Ok(Op::Exists(*b)),
            _ => {
                return Err(err(
                    ErrorKind::BadOperand,
                    path,
                    "exists match pattern must be either true or false.",
                ))
            }
        },
        "anything-but" => Matcher::Not(anything_but(operand, path)?),
        other => {
            return Err(err(
                ErrorKind::UnknownOperator,
                path,
                format!("Unrecognized match type {other}"),
            ))
        }
    };
    Ok(Op::Match(m))
}

fn bounded(v: &Value, path: &str, what: &str) -> Result<Num, PatternError> {
    let Value::Number(n) = v else {
        return Err(err(
            ErrorKind::BadNumeric,
            path,
            format!("Value of {what} must be numeric"),
        ));
    };
    let num = Num::of(n);
    if !(-NUMERIC_LIMIT..=NUMERIC_LIMIT).contains(&num.f64()) {
        return Err(err(
            ErrorKind::BadNumeric,
            path,
            "Value must be between -5.0E9 and 5.0E9, inclusive",
        ));
    }
    Ok(num)
}

/// `[op, n]` or `[">"|">=", n, "<"|"<=", n]`, as EventBridge accepts them.
fn numeric(operand: &Value, path: &str) -> Result<Range, PatternError> {
    let Value::Array(items) = operand else {
        return Err(err(
            ErrorKind::BadNumeric,
            path,
            "Value of numeric must be an array.",
        ));
    };
    let op_at = |i: usize| -> Result<&str, PatternError> {
        match items.get(i) {
            Some(Value::String(s)) => Ok(s),
            Some(other) => Err(err(
                ErrorKind::BadNumeric,
                path,
                format!("Invalid member in numeric match: {other}"),
            )),
            None => Err(err(
                ErrorKind::BadNumeric,
                path,
                "Invalid member in numeric match: ]",
            )),
        }
    };
    let num_at = |i: usize, what: &str| -> Result<f64, PatternError> {
        bounded(items.get(i).unwrap_or(&Value::Null), path, what).map(|n| n.f64())
    };
    let too_many = || {
        err(
            ErrorKind::BadNumeric,
            path,
            "Too many elements in numeric expression",
        )
    };
    let first = op_at(0)?;
    let unbounded = Range {
        lo: f64::NEG_INFINITY,
        lo_incl: false,
        hi: f64::INFINITY,
        hi_incl: false,
    };
    let range = match first {
        "=" => {
            let x = num_at(1, first)?;
            if items.len() > 2 {
                return Err(too_many());
            }
            Range {
                lo: x,
                lo_incl: true,
                hi: x,
                hi_incl: true,
            }
        }
        "<" | "<=" => {
            let x = num_at(1, first)?;
            if items.len() > 2 {
                return Err(too_many());
            }
            Range {
                hi: x,
                hi_incl: first == "<=",
                ..unbounded
            }
        }
        ">" | ">=" => {
            let lo = num_at(1, first)?;
            let lower = Range {
                lo,
                lo_incl: first == ">=",
                ..unbounded
            };
            if items.len() == 2 {
                lower
            } else {
                let second = match items.get(2) {
                    Some(Value::String(s)) => s.as_str(),
                    Some(other) => {
                        return Err(err(
                            ErrorKind::BadNumeric,
                            path,
                            format!("Bad value in numeric range: {other}"),
                        ))
                    }
                    None => unreachable!("len > 2"),
                };
                if second != "<" && second != "<=" {
                    return Err(err(
                        ErrorKind::BadNumeric,
                        path,
                        format!("Bad numeric range operator: {second}"),
                    ));
                }
                let hi = num_at(3, second)?;
                if items.len() > 4 {
                    return Err(err(
                        ErrorKind::BadNumeric,
                        path,
                        "Too many terms in numeric range expression",
                    ));
                }
                if lo >= hi {
                    return Err(err(
                        ErrorKind::BadNumeric,
                        path,
                        "Bottom must be less than top",
                    ));
                }
                Range {
                    hi,
                    hi_incl: second == "<=",
                    ..lower
                }
            }
        }
        other => {
            return Err(err(
                ErrorKind::BadNumeric,
                path,
                format!("Unrecognized numeric range operator: {other}"),
            ))
        }
    };
    Ok(range)
}

fn anything_but(operand: &Value, path: &str) -> Result<Negated, PatternError> {
    match operand {
        Value::String(s) => Ok(Negated::Strs(vec![s.as_str().into()])),
        Value::Number(_) => Ok(Negated::Nums(vec![bounded(operand, path, "anything-but")?])),
        Value::Array(items) => {
            let mixed = || {
                err(
                    ErrorKind::BadOperand,
                    path,
                    "Inside anything but list, either all values are number or string, mixed type is not supported",
                )
            };
            if items.iter().any(|i| !i.is_string() && !i.is_number()) {
                return Err(err(
                    ErrorKind::BadOperand,
                    path,
                    "Inside anything but list, start|null|boolean is not supported.",
                ));
            }
            if items.is_empty() {
                return Err(mixed());
            }
            if items.iter().all(Value::is_string) {
                Ok(Negated::Strs(
                    items
                        .iter()
                        .filter_map(Value::as_str)
                        .map(Into::into)
                        .collect(),
                ))
            } else if items.iter().all(Value::is_number) {
                items
                    .iter()
                    .map(|i| bounded(i, path, "anything-but"))
                    .collect::<Result<_, _>>()
                    .map(Negated::Nums)
            } else {
                Err(mixed())
            }
        }
        Value::Object(inner) => {
            if inner.is_empty() {
                return Err(err(
                    ErrorKind::BadMatchValue,
                    path,
                    "Anything-But expression name not found",
                ));
            }
            let (name, v) = single(inner, path)?;
            match name {
                "prefix" | "suffix" => {
                    let Value::String(s) = v else {
                        return Err(err(
                            ErrorKind::BadOperand,
                            path,
                            "prefix/suffix match pattern must be a string",
                        ));
                    };
                    if s.is_empty() {
                        return Err(err(
                            ErrorKind::BadOperand,
                            path,
                            "Null prefix/suffix not allowed",
                        ));
                    }
                    Ok(if name == "prefix" {
                        Negated::Prefix(s.as_str().into())
                    } else {
                        Negated::Suffix(s.as_str().into())
                    })
                }
                "equals-ignore-case" => strings(v, path, name)
                    .map(|l| Negated::EqIc(l.iter().map(|s| s.to_lowercase().into()).collect())),
                "wildcard" => strings(v, path, name)?
                    .into_iter()
                    .map(|s| Wildcard::parse(s, path))
                    .collect::<Result<_, _>>()
                    .map(Negated::Wildcard),
                other => Err(err(
                    ErrorKind::UnknownOperator,
                    path,
                    format!("Unsupported anything-but pattern: {other}"),
                )),
            }
        }
        _ => Err(err(
            ErrorKind::BadOperand,
            path,
            "Value of anything-but must be an array or single string/number value.",
        )),
    }
}

/// A string or a non-empty array of strings (the operand of `anything-but`'s
/// `equals-ignore-case` and `wildcard`).
fn strings<'a>(v: &'a Value, path: &str, what: &str) -> Result<Vec<&'a str>, PatternError> {
    let bad = || {
        err(
            ErrorKind::BadOperand,
            path,
            format!("Inside anything-but/{what} list, number|start|null|boolean is not supported."),
        )
    };
    match v {
        Value::String(s) => Ok(vec![s]),
        Value::Array(items) if items.is_empty() => Err(err(
            ErrorKind::EmptyArray,
            path,
            "Empty arrays are not allowed",
        )),
        Value::Array(items) => items.iter().map(|i| i.as_str().ok_or_else(bad)).collect(),
        _ => Err(bad()),
    }
}
