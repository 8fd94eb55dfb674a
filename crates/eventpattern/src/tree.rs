//! The compiled form of a pattern and how it matches an event.
//!
//! A pattern compiles to a tree of [`Node`]s (JSON objects of the pattern) whose leaves are
//! [`Leaf`]s (the arrays of values to match). Matching walks the pattern and the event
//! together; see the crate documentation for the semantics of arrays, absence and types.

use serde_json::{Number, Value};

use crate::cidr::Cidr;
use crate::wildcard::Wildcard;

/// A JSON number as written in a pattern or an event, compared numerically.
///
/// Invariant: `int` is `Some` exactly when the number is an integer that fits `i64` or `u64`;
/// two such numbers compare exactly, anything else compares as `f64` (so `300`, `300.0` and
/// `3e2` are equal).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Num {
    f: f64,
    int: Option<i128>,
}

impl Num {
    pub(crate) fn of(n: &Number) -> Self {
        Self {
            f: n.as_f64().unwrap_or(f64::NAN),
            int: n
                .as_i64()
                .map(i128::from)
                .or_else(|| n.as_u64().map(i128::from)),
        }
    }

    pub(crate) fn f64(&self) -> f64 {
        self.f
    }

    fn same(&self, other: &Num) -> bool {
        match (self.int, other.int) {
            (Some(a), Some(b)) => a == b,
            _ => self.f == other.f,
        }
    }
}

/// A `numeric` range; an unbounded side is infinite.
///
/// Invariant (enforced by the parser): `lo < hi`, or `lo == hi` with both inclusive (`=`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Range {
    pub(crate) lo: f64,
    pub(crate) lo_incl: bool,
    pub(crate) hi: f64,
    pub(crate) hi_incl: bool,
}

impl Range {
    fn contains(&self, x: f64) -> bool {
        let above = if self.lo_incl {
            x >= self.lo
        } else {
            x > self.lo
        };
        let below = if self.hi_incl {
            x <= self.hi
        } else {
            x < self.hi
        };
        above && below
    }
}

/// One positive value matcher of a leaf (an element of the pattern's array).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Matcher {
    /// An exact string.
    Str(Box<str>),
    /// An exact number, compared numerically.
    Num(Num),
    /// `true` or `false`.
    Bool(bool),
    /// JSON `null`.
    Null,
    /// `{"prefix": s}`.
    Prefix(Box<str>),
    /// `{"prefix": {"equals-ignore-case": s}}`; stored lower-cased.
    PrefixIc(Box<str>),
    /// `{"suffix": s}`.
    Suffix(Box<str>),
    /// `{"suffix": {"equals-ignore-case": s}}`; stored lower-cased.
    SuffixIc(Box<str>),
    /// `{"equals-ignore-case": s}`; stored lower-cased.
    EqIc(Box<str>),
    /// `{"wildcard": s}`.
    Wildcard(Wildcard),
    /// `{"numeric": [...]}`.
    Numeric(Range),
    /// `{"cidr": s}`.
    Cidr(Cidr),
    /// `{"anything-but": ...}`.
    Not(Negated),
}

/// What an `anything-but` excludes. A value matches when it is *not* excluded; values of
/// another JSON type than the excluded ones are never excluded.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Negated {
    /// Strings (one or a list).
    Strs(Vec<Box<str>>),
    /// Numbers (one or a list), compared numerically.
    Nums(Vec<Num>),
    /// `{"prefix": s}`, `s` non-empty.
    Prefix(Box<str>),
    /// `{"suffix": s}`, `s` non-empty.
    Suffix(Box<str>),
    /// `{"equals-ignore-case": s | [s, ...]}`; stored lower-cased.
    EqIc(Vec<Box<str>>),
    /// `{"wildcard": s | [s, ...]}`.
    Wildcard(Vec<Wildcard>),
}

/// Lower-cases for the `equals-ignore-case` forms, without allocating for the common
/// all-lower-case ASCII value.
fn lower(s: &str) -> std::borrow::Cow<'_, str> {
    if s.bytes().all(|b| !b.is_ascii_uppercase() && b.is_ascii()) {
        std::borrow::Cow::Borrowed(s)
    } else {
        std::borrow::Cow::Owned(s.to_lowercase())
    }
}

impl Negated {
    /// Whether `v` is one of the excluded values.
    fn excludes(&self, v: &Value) -> bool {
        match (self, v) {
            (Negated::Strs(list), Value::String(s)) => list.iter().any(|x| **x == **s),
            (Negated::Nums(list), Value::Number(n)) => {
                let n = Num::of(n);
                list.iter().any(|x| x.same(&n))
            }
            (Negated::Prefix(p), Value::String(s)) => s.starts_with(&**p),
            (Negated::Suffix(p), Value::String(s)) => s.ends_with(&**p),
            (Negated::EqIc(list), Value::String(s)) => {
                let s = lower(s);
                list.iter().any(|x| **x == *s)
            }
            (Negated::Wildcard(list), Value::String(s)) => list.iter().any(|w| w.matches(s)),
            _ => false,
        }
    }
}

impl Matcher {
    /// Whether the scalar `v` (never an array or object) matches.
    fn matches(&self, v: &Value) -> bool {
        match (self, v) {
            (Matcher::Str(x), Value::String(s)) => **x == **s,
            (Matcher::Num(x), Value::Number(n)) => x.same(&Num::of(n)),
            (Matcher::Bool(x), Value::Bool(b)) => x == b,
            (Matcher::Null, Value::Null) => true,
            (Matcher::Prefix(p), Value::String(s)) => s.starts_with(&**p),
            (Matcher::Suffix(p), Value::String(s)) => s.ends_with(&**p),
            (Matcher::PrefixIc(p), Value::String(s)) => {
                let mut want = p.chars();
                let mut have = s.chars().flat_map(char::to_lowercase);
                want.all(|c| have.next() == Some(c))
            }
            (Matcher::SuffixIc(p), Value::String(s)) => lower(s).ends_with(&**p),
            (Matcher::EqIc(p), Value::String(s)) => {
                s.len() <= 4 * p.len() + 4 && s.chars().flat_map(char::to_lowercase).eq(p.chars())
            }
            (Matcher::Wildcard(w), Value::String(s)) => w.matches(s),
            (Matcher::Numeric(r), Value::Number(n)) => n.as_f64().is_some_and(|x| r.contains(x)),
            (Matcher::Cidr(c), Value::String(s)) => c.contains(s),
            (Matcher::Not(n), v) => !n.excludes(v),
            _ => false,
        }
    }
}

/// The array of values of one pattern field: matches when any element matches.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Leaf {
    /// Value matchers (everything but `exists`).
    pub(crate) matchers: Vec<Matcher>,
    /// Whether the array holds `{"exists": true}` / `{"exists": false}`.
    pub(crate) exists_true: bool,
    pub(crate) exists_false: bool,
}

impl Leaf {
    /// Matches the event value at the field's place (`None` when the field is missing).
    ///
    /// The field *exists* when it holds at least one leaf value: a scalar (including `null`),
    /// or an array (nested arrays flattened) with at least one scalar. An object, `[]` or an
    /// array of objects only is not a leaf value, so for `exists` it is absent.
    fn matches(&self, v: Option<&Value>) -> bool {
        match v {
            None | Some(Value::Object(_)) => self.exists_false,
            Some(Value::Array(items)) => {
                let mut present = false;
                let hit = self.any_scalar(items, &mut present);
                hit || (present && self.exists_true) || (!present && self.exists_false)
            }
            Some(scalar) => self.exists_true || self.matchers.iter().any(|m| m.matches(scalar)),
        }
    }

    fn any_scalar(&self, items: &[Value], present: &mut bool) -> bool {
        items.iter().any(|item| match item {
            Value::Array(inner) => self.any_scalar(inner, present),
            Value::Object(_) => false,
            scalar => {
                *present = true;
                self.matchers.iter().any(|m| m.matches(scalar))
            }
        })
    }

    /// The exact strings of a leaf that holds nothing else, for [`crate::RuleSet`]'s index.
    pub(crate) fn exact_strings(&self) -> Option<Vec<&str>> {
        if self.exists_true || self.exists_false || self.matchers.is_empty() {
            return None;
        }
        self.matchers
            .iter()
            .map(|m| match m {
                Matcher::Str(s) => Some(&**s),
                _ => None,
            })
            .collect()
    }
}

/// What a pattern field holds: nested fields or values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Child {
    Node(Node),
    Leaf(Leaf),
}

/// A JSON object of the pattern: every field must match, and when it has a `$or`, at least one
/// alternative too.
///
/// Invariant (enforced by the parser): `fields` and `or` are not both empty, and `or`, when
/// not empty, has at least two alternatives.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Node {
    pub(crate) fields: Vec<(Box<str>, Child)>,
    pub(crate) or: Vec<Node>,
}

impl Node {
    /// Matches the event value at this object's place (`None` when missing).
    ///
    /// An array of objects matches when one of its objects (nested arrays flattened) matches
    /// the whole node, so all the fields a match uses come from the same element. A missing
    /// value, a scalar or an array without objects offers no field at all.
    pub(crate) fn matches(&self, v: Option<&Value>) -> bool {
        match v {
            Some(obj @ Value::Object(map)) => {
                self.fields.iter().all(|(key, child)| {
                    let v = map.get(&**key);
                    match child {
                        Child::Leaf(leaf) => leaf.matches(v),
                        Child::Node(node) => node.matches(v),
                    }
                }) && (self.or.is_empty() || self.or.iter().any(|alt| alt.matches(Some(obj))))
            }
            Some(Value::Array(items)) => {
                let mut saw_object = false;
                self.any_object(items, &mut saw_object) || (!saw_object && self.matches(None))
            }
            _ => {
                self.fields.iter().all(|(_, child)| match child {
                    Child::Leaf(leaf) => leaf.matches(None),
                    Child::Node(node) => node.matches(None),
                }) && (self.or.is_empty() || self.or.iter().any(|alt| alt.matches(None)))
            }
        }
    }

    fn any_object(&self, items: &[Value], saw_object: &mut bool) -> bool {
        items.iter().any(|item| match item {
            Value::Array(inner) => self.any_object(inner, saw_object),
            Value::Object(_) => {
                *saw_object = true;
                self.matches(Some(item))
            }
            _ => false,
        })
    }
}
