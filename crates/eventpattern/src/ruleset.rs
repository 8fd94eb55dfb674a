//! Many named patterns matched at once, with an index on exact values as a shared prefilter.
//!
//! Each rule gets a *key*: a set of `(field path, exact string)` pairs such that any event the
//! rule matches carries at least one of them (a mandatory field whose values are all exact
//! strings, or, for a `$or`, one such field per alternative). The set picks the cheapest key:
//! fewest values, preferring nested fields (`detail.eventName`) over `source` over the other
//! envelope fields, and `detail-type` last (every CloudTrail event has the same one). An event
//! then evaluates only the rules one of whose keys it carries, plus the rules without a key.
//!
//! Invariant: [`RuleSet::matching_indexes`] returns exactly the rules whose
//! [`Pattern::matches`] is true (the index only skips rules that cannot match).

use serde_json::Value;

use crate::prune::{FastMap, FieldTrie};
use crate::tree::{Child, Node};
use crate::Pattern;

/// A key candidate: its cost, and the `(path, values)` of its fields.
type Key = (u64, Vec<(Vec<Box<str>>, Vec<Box<str>>)>);

/// Compiled named patterns; see the module documentation.
#[derive(Debug, Clone)]
pub struct RuleSet {
    rules: Vec<(String, Pattern)>,
    /// Field paths used by some key, as a trie whose slots index `by_value`.
    paths: Trie,
    /// Per path (same index as `paths`): exact value → rules (ascending, no duplicates).
    by_value: Vec<FastMap<Box<str>, Vec<u32>>>,
    /// The key paths themselves, by slot (for [`RuleSet::candidates`]).
    key_paths: Vec<Vec<Box<str>>>,
    /// Per slot: every rule keyed on that path (ascending, no duplicates).
    keyed: Vec<Vec<u32>>,
    /// Rules without a key, ascending.
    always: Vec<u32>,
    /// Every field any rule reads.
    fields: FieldTrie,
}

/// How costly a key field is: the number of its values times a weight for how selective the
/// field usually is in EventBridge events.
fn cost(path: &[Box<str>], values: usize) -> u64 {
    let weight = match path {
        [_, _, ..] => 1,
        // Above a nested field's 4 values: `source` is shared by many event names.
        [top] if &**top == "source" => 8,
        [top] if &**top == "detail-type" => 64,
        _ => 8,
    };
    weight * values as u64
}

fn best_key(
    node: &Node,
    prefix: &mut Vec<Box<str>>,
    usable: &dyn Fn(&[Box<str>]) -> bool,
) -> Option<Key> {
    let mut best: Option<Key> = None;
    let mut consider = |cand: Option<Key>| {
        if let Some(c) = cand {
            if best.as_ref().is_none_or(|b| c.0 < b.0) {
                best = Some(c);
            }
        }
    };
    for (name, child) in &node.fields {
        prefix.push(name.clone());
        let cand = match child {
            Child::Leaf(_) if !usable(prefix) => None,
            Child::Leaf(leaf) => leaf.exact_strings().map(|values| {
                (
                    cost(prefix, values.len()),
                    vec![(prefix.clone(), values.into_iter().map(Into::into).collect())],
                )
            }),
            Child::Node(inner) => best_key(inner, prefix, usable),
        };
        prefix.pop();
        consider(cand);
    }
    if !node.or.is_empty() {
        let alternatives: Option<Vec<Key>> = node
            .or
            .iter()
            .map(|alt| best_key(alt, prefix, usable))
            .collect();
        consider(alternatives.map(|alts| {
            alts.into_iter()
                .fold((0, Vec::new()), |(c, mut fields), (ac, af)| {
                    fields.extend(af);
                    (c + ac, fields)
                })
        }));
    }
    best
}

/// The key paths as a trie, so that paths sharing a prefix (`detail.…`) look it up once.
#[derive(Debug, Clone, Default)]
struct Trie {
    children: Vec<(Box<str>, Trie)>,
    /// The slot in `RuleSet::by_value` of the path ending here.
    slot: Option<usize>,
}

impl Trie {
    fn insert(&mut self, path: &[Box<str>], slot: usize) {
        match path.split_first() {
            None => self.slot = Some(slot),
            Some((first, rest)) => {
                let at = match self.children.iter().position(|(k, _)| k == first) {
                    Some(at) => at,
                    None => {
                        self.children.push((first.clone(), Trie::default()));
                        self.children.len() - 1
                    }
                };
                self.children[at].1.insert(rest, slot);
            }
        }
    }

    /// Calls `f(slot, s)` for every string `s` of `v` at a path ending in a slot, looking into
    /// every element of arrays.
    fn walk<'a>(&self, v: &'a Value, f: &mut impl FnMut(usize, &'a str)) {
        match v {
            Value::Array(items) => items.iter().for_each(|item| self.walk(item, f)),
            Value::Object(map) => {
                for (key, child) in &self.children {
                    if let Some(inner) = map.get(&**key) {
                        child.walk(inner, f);
                    }
                }
            }
            Value::String(s) => {
                if let Some(slot) = self.slot {
                    f(slot, s);
                }
            }
            _ => {}
        }
    }
}

impl RuleSet {
    /// Compiles the rules' index. Names need not be unique; rules keep their order.
    pub fn new(rules: Vec<(String, Pattern)>) -> Self {
        Self::with_index_on(rules, |_| true)
    }

    /// Like [`RuleSet::new`], with index keys only on the paths `usable` accepts — those a
    /// caller of [`RuleSet::candidates`] can answer before parsing an event, so that a rule is
    /// keyed on a field the caller knows rather than left a candidate for every event.
    pub fn with_index_on(
        rules: Vec<(String, Pattern)>,
        usable: impl Fn(&[Box<str>]) -> bool,
    ) -> Self {
        let mut fields = FieldTrie::default();
        let mut paths: Vec<Vec<Box<str>>> = Vec::new();
        let mut by_value: Vec<FastMap<Box<str>, Vec<u32>>> = Vec::new();
        let mut always = Vec::new();
        for (i, (_, pattern)) in rules.iter().enumerate() {
            let i = u32::try_from(i).expect("fewer than 2^32 rules");
            fields.add(&pattern.root);
            let Some((_, key)) = best_key(&pattern.root, &mut Vec::new(), &usable) else {
                always.push(i);
                continue;
            };
            for (path, values) in key {
                let slot = match paths.iter().position(|p| *p == path) {
                    Some(slot) => slot,
                    None => {
                        paths.push(path);
                        by_value.push(FastMap::default());
                        paths.len() - 1
                    }
                };
                for value in values {
                    let list = by_value[slot].entry(value).or_default();
                    if list.last() != Some(&i) {
                        list.push(i);
                    }
                }
            }
        }
        let mut trie = Trie::default();
        for (slot, path) in paths.iter().enumerate() {
            trie.insert(path, slot);
        }
        let keyed = by_value
            .iter()
            .map(|values| {
                let mut rules: Vec<u32> = values.values().flatten().copied().collect();
                rules.sort_unstable();
                rules.dedup();
                rules
            })
            .collect();
        Self {
            rules,
            paths: trie,
            by_value,
            key_paths: paths,
            keyed,
            always,
            fields,
        }
    }

    /// The number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there is no rule.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules, in the order given.
    pub fn rules(&self) -> &[(String, Pattern)] {
        &self.rules
    }

    /// How many rules have no index key and are evaluated for every event.
    pub fn unindexed(&self) -> usize {
        self.always.len()
    }

    /// The indexes (in the order given to [`RuleSet::new`]) of the rules that match `event`,
    /// ascending.
    pub fn matching_indexes(&self, event: &Value) -> Vec<usize> {
        let mut candidates: Vec<u32> = Vec::with_capacity(8 + self.always.len());
        self.paths.walk(event, &mut |slot, s| {
            if let Some(rules) = self.by_value[slot].get(s) {
                candidates.extend_from_slice(rules);
            }
        });
        candidates.extend_from_slice(&self.always);
        candidates.sort_unstable();
        candidates.dedup();
        candidates
            .into_iter()
            .map(|i| i as usize)
            .filter(|&i| self.rules[i].1.matches(event))
            .collect()
    }

    /// The rules (ascending indexes) that may match an event that is not parsed yet, from what
    /// `strings_at` knows of it: called with each key path (e.g. `["detail", "eventName"]`), it
    /// calls its second argument with every string the event holds there and returns `true`,
    /// or returns `false` when it cannot tell (then every rule keyed on that path is a
    /// candidate). Rules without a key are always candidates.
    ///
    /// Invariant: every rule that [`Pattern::matches`] the event is among the candidates when
    /// `strings_at` reports the event's strings truthfully (the index only skips rules none of
    /// whose key values the event carries), so a caller can parse only events with candidates.
    pub fn candidates(
        &self,
        mut strings_at: impl FnMut(&[Box<str>], &mut dyn FnMut(&str)) -> bool,
    ) -> Vec<usize> {
        let mut out: Vec<u32> = self.always.clone();
        for (slot, path) in self.key_paths.iter().enumerate() {
            let values = &self.by_value[slot];
            let known = strings_at(path, &mut |s| {
                if let Some(rules) = values.get(s) {
                    out.extend_from_slice(rules);
                }
            });
            if !known {
                out.extend_from_slice(&self.keyed[slot]);
            }
        }
        out.sort_unstable();
        out.dedup();
        out.into_iter().map(|i| i as usize).collect()
    }

    /// Every field the rules read (see [`FieldTrie`]).
    pub fn fields(&self) -> &FieldTrie {
        &self.fields
    }

    /// Parses an event with only the fields the rules read: every rule matches the result
    /// exactly as it matches the whole event, at a fraction of the cost of a full parse.
    pub fn parse_event(&self, json: &str) -> serde_json::Result<Value> {
        self.fields.parse(json)
    }

    /// Whether rule `index` matches `event` (see [`RuleSet::candidates`]).
    pub fn rule_matches(&self, index: usize, event: &Value) -> bool {
        self.rules[index].1.matches(event)
    }

    /// The names of the rules that match `event`, in rule order.
    pub fn matching<'a>(&'a self, event: &Value) -> impl Iterator<Item = &'a str> + 'a {
        self.matching_indexes(event)
            .into_iter()
            .map(move |i| self.rules[i].0.as_str())
    }
}
