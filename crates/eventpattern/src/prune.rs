//! Parsing only what rules can look at: the union of every field path of a set of patterns as
//! a trie ([`FieldTrie`]), and a parser that builds a JSON tree with only those fields
//! ([`FieldTrie::parse`]), skipping (still validating) everything else.
//!
//! Invariant: for every pattern whose fields were added to the trie, matching the pruned tree
//! gives the same answer as matching the whole event. It holds because matching only ever
//! reads the values at a pattern's own field paths: objects keep exactly the trie's keys,
//! arrays keep every element (objects in them pruned the same way, so "one element per match"
//! is unchanged), and a field that some pattern matches as a leaf keeps its whole value.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::tree::{Child, Node};

/// A hash map with a fast hasher (keys are field names and values from the patterns, never
/// chosen by an adversary in a way that matters: a collision only slows a lookup).
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// The field paths of some patterns, as a trie (see the module documentation).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldTrie {
    children: FastMap<Box<str>, FieldTrie>,
    /// Some pattern matches the value here as a leaf: keep it whole.
    leaf: bool,
}

impl FieldTrie {
    /// Adds every field path of `node` (its `$or` alternatives included).
    pub(crate) fn add(&mut self, node: &Node) {
        for (key, child) in &node.fields {
            let t = self.children.entry(key.clone()).or_default();
            match child {
                Child::Leaf(_) => t.leaf = true,
                Child::Node(inner) => t.add(inner),
            }
        }
        for alt in &node.or {
            self.add(alt);
        }
    }

    /// The fields read under field `key`, if any pattern reads it.
    pub fn child(&self, key: &str) -> Option<&FieldTrie> {
        self.children.get(key)
    }

    /// Whether some pattern matches the value here as a whole (a leaf): then all of it is
    /// needed, not only the fields of [`FieldTrie::child`].
    pub fn is_leaf(&self) -> bool {
        self.leaf
    }

    /// Every path some pattern matches as a leaf, from the top.
    pub fn leaf_paths(&self) -> Vec<Vec<&str>> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect<'a>(&'a self, prefix: &mut Vec<&'a str>, out: &mut Vec<Vec<&'a str>>) {
        if self.leaf {
            out.push(prefix.clone());
        }
        for (key, child) in &self.children {
            prefix.push(key);
            child.collect(prefix, out);
            prefix.pop();
        }
    }

    /// Whether `path` (field names from the top) leads to a field some pattern reads.
    pub fn contains(&self, path: &[&str]) -> bool {
        match path.split_first() {
            None => true,
            Some((first, rest)) => self
                .children
                .get(*first)
                .is_some_and(|t| t.leaf || t.contains(rest)),
        }
    }

    /// Parses `json` (which must be valid JSON: anything else is an error, as with
    /// `serde_json::from_str`) into a tree holding only the fields of the trie.
    pub fn parse(&self, json: &str) -> serde_json::Result<Value> {
        let mut de = serde_json::Deserializer::from_str(json);
        let v = Prune(self).deserialize(&mut de)?;
        de.end()?;
        Ok(v)
    }
}

/// Deserializes a value keeping only the fields of the trie.
struct Prune<'t>(&'t FieldTrie);

impl<'de> DeserializeSeed<'de> for Prune<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Prune<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(Prune(self.0))? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(kept) = map.next_key_seed(Key(self.0))? {
            match kept {
                Some((key, t)) if t.leaf => {
                    out.insert(key, map.next_value::<Value>()?);
                }
                Some((key, t)) => {
                    out.insert(key, map.next_value_seed(Prune(t))?);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Value::Object(out))
    }
}

/// Reads an object key and looks it up in the trie; only kept keys are copied.
struct Key<'t>(&'t FieldTrie);

impl<'de, 't> DeserializeSeed<'de> for Key<'t> {
    type Value = Option<(String, &'t FieldTrie)>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de, 't> Visitor<'de> for Key<'t> {
    type Value = Option<(String, &'t FieldTrie)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(self.0.children.get(v).map(|t| (v.to_owned(), t)))
    }
}
