//! Named EventBridge rules matched on routed records (see the crate documentation).
//!
//! Three steps per record, each skipped when the one before settles it:
//! 1. the index of [`RuleSet`], fed the strings the parser extracted ([`RoutingFields`]),
//!    names the candidate rules (for the usual rules, none);
//! 2. a candidate that reads only extracted fields, all present in this record, is matched on
//!    a small envelope built from them (no parse);
//! 3. any other candidate is matched on the envelope parsed with only the fields the rules
//!    read ([`envelope::to_pruned_value`]).
//!
//! Invariant: the result is exactly the admitted rules whose pattern matches the whole
//! envelope. Step 2 is exact because it is used only when every field the rule reads is one
//! the parser extracted verbatim and present (an absent field is not told from a JSON `null`
//! by the extracted fields, and `exists`, `null` and `anything-but` tell them apart).

use std::borrow::Cow;

use serde_json::{Map, Value};
use trailpipe_event::{Event, RoutingFields};
use trailpipe_eventpattern::{Pattern, RuleSet};

use crate::{envelope, RuleState};

/// One rule: a name, its pattern and its state.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The rule's name (unique within [`Rules`] by convention; not checked here).
    pub name: String,
    /// Its event pattern.
    pub pattern: Pattern,
    /// Its state.
    pub state: RuleState,
}

/// Rules compiled together, matched on records.
#[derive(Debug, Clone)]
pub struct Rules {
    set: RuleSet,
    states: Vec<RuleState>,
    /// Per rule: when it reads only extracted fields, the getters of the optional ones (all
    /// must be present for step 2).
    fast: Vec<Option<Vec<Get>>>,
    /// The extracted fields the step-2 rules read, for the small envelope.
    small_fields: Vec<(Vec<Box<str>>, Get)>,
}

/// Reads one extracted field of a record.
type Get = for<'a> fn(&'a RoutingFields) -> Lookup<'a>;

/// What the extracted fields say of one field of a record.
enum Lookup<'a> {
    /// A string.
    Str(Cow<'a, str>),
    /// A boolean.
    Bool(bool),
    /// Absent, or `null` (the extracted fields do not tell which).
    Absent,
    /// Not kept verbatim for this record (`readOnly` written as a string).
    Unknown,
}

impl<'a> From<Option<&'a str>> for Lookup<'a> {
    fn from(v: Option<&'a str>) -> Self {
        v.map_or(Lookup::Absent, |s| Lookup::Str(s.into()))
    }
}

impl Lookup<'_> {
    /// Whether the field is present with a value the small envelope can hold.
    fn present(&self) -> bool {
        matches!(self, Lookup::Str(_) | Lookup::Bool(_))
    }
}

/// `readOnly`, when the record wrote it as a JSON boolean.
fn read_only(f: &RoutingFields) -> Lookup<'_> {
    match f.read_only {
        None => Lookup::Absent,
        Some(b) if f.read_only_is_bool => Lookup::Bool(b),
        Some(_) => Lookup::Unknown,
    }
}

/// How the extracted fields answer a path of the envelope.
enum Known {
    /// One string at most; `required` when the record always has it.
    One { get: Get, required: bool },
    /// `detail.resources[].ARN` (or `.type`): every entry's, for the index only.
    Resources { arn: bool },
}

/// What the extracted fields hold at `path`, if anything.
fn known<S: AsRef<str>>(path: &[S]) -> Option<Known> {
    let path: Vec<&str> = path.iter().map(AsRef::as_ref).collect();
    let (get, required): (Get, bool) = match path.as_slice() {
        ["version"] => (|_| Lookup::Str("0".into()), true),
        ["source"] => (|f| Lookup::Str(envelope::source(f).into()), true),
        ["detail-type"] => (|f| Lookup::Str(envelope::detail_type(f).into()), true),
        ["account"] => (|f| Lookup::Str(f.account_id.as_str().into()), true),
        ["region"] => (|f| Lookup::Str(f.aws_region.as_str().into()), true),
        ["detail", "awsRegion"] => (|f| Lookup::Str(f.aws_region.as_str().into()), true),
        ["detail", "eventID"] => (|f| Lookup::Str(f.event_id.as_str().into()), true),
        ["detail", "eventName"] => (|f| f.event_name.as_deref().into(), false),
        ["detail", "eventSource"] => (|f| f.event_source.as_deref().into(), false),
        ["detail", "eventType"] => (|f| f.event_type.as_deref().into(), false),
        ["detail", "errorCode"] => (|f| f.error_code.as_deref().into(), false),
        ["detail", "sharedEventID"] => (|f| f.shared_event_id.as_deref().into(), false),
        ["detail", "vpcEndpointId"] => (|f| f.vpc_endpoint_id.as_deref().into(), false),
        ["detail", "userAgent"] => (|f| f.user_agent.as_deref().into(), false),
        ["detail", "sourceIPAddress"] => (|f| f.source_ip_address.as_deref().into(), false),
        ["detail", "readOnly"] => (read_only, false),
        ["detail", "userIdentity", field] => (
            match *field {
                "type" => |f| f.user_identity.identity_type.as_deref().into(),
                "userName" => |f| f.user_identity.user_name.as_deref().into(),
                "arn" => |f| f.user_identity.arn.as_deref().into(),
                "accountId" => |f| f.user_identity.account_id.as_deref().into(),
                "accessKeyId" => |f| f.user_identity.access_key_id.as_deref().into(),
                "principalId" => |f| f.user_identity.principal_id.as_deref().into(),
                "invokedBy" => |f| f.user_identity.invoked_by.as_deref().into(),
                _ => return None,
            },
            false,
        ),
        ["detail", "resources", "ARN"] => return Some(Known::Resources { arn: true }),
        ["detail", "resources", "type"] => return Some(Known::Resources { arn: false }),
        _ => return None,
    };
    Some(Known::One { get, required })
}

/// The index's view of a record (see [`RuleSet::candidates`]).
fn strings_at(f: &RoutingFields, path: &[Box<str>], found: &mut dyn FnMut(&str)) -> bool {
    match known(path) {
        None => false,
        Some(Known::One { get, .. }) => match get(f) {
            Lookup::Str(v) => {
                found(&v);
                true
            }
            Lookup::Bool(_) | Lookup::Absent => true,
            Lookup::Unknown => false,
        },
        Some(Known::Resources { arn }) => {
            for r in &f.resources {
                let v = if arn { &r.arn } else { &r.resource_type };
                if let Some(v) = v.as_deref() {
                    found(v);
                }
            }
            true
        }
    }
}

impl Rules {
    /// Compiles `rules`; indexes in [`Matched::rules`] refer to this order.
    pub fn new(rules: Vec<Rule>) -> Self {
        let states = rules.iter().map(|r| r.state).collect();
        let mut small_fields: Vec<(Vec<Box<str>>, Get)> = Vec::new();
        let fast = rules
            .iter()
            .map(|r| {
                let fields = r.pattern.fields();
                let mut optional = Vec::new();
                for path in fields.leaf_paths() {
                    let Some(Known::One { get, required }) = known(&path) else {
                        return None;
                    };
                    if !required {
                        optional.push(get);
                    }
                    if !small_fields
                        .iter()
                        .any(|(p, _)| p.iter().map(|s| &**s).eq(path.iter().copied()))
                    {
                        small_fields.push((path.iter().map(|&s| s.into()).collect(), get));
                    }
                }
                Some(optional)
            })
            .collect();
        let set = RuleSet::with_index_on(
            rules.into_iter().map(|r| (r.name, r.pattern)).collect(),
            |path| known(path).is_some(),
        );
        Self {
            set,
            states,
            fast,
            small_fields,
        }
    }

    /// The rules' names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.set.rules().iter().map(|(n, _)| n.as_str())
    }

    /// The number of rules.
    pub fn len(&self) -> usize {
        self.states.len()
    }

    /// Whether there is no rule.
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    /// The rules that match `event`, and its envelope as JSON text when any does (see the
    /// module documentation for how little is parsed).
    pub fn matching(&self, event: &Event) -> Matched {
        let f = &event.fields;
        let mut rules = self
            .set
            .candidates(|path, found| strings_at(f, path, found));
        rules.retain(|&i| self.states[i].admits(f));
        let mut small: Option<Value> = None;
        let mut pruned: Option<Option<Value>> = None;
        rules.retain(|&i| match &self.fast[i] {
            Some(optional) if optional.iter().all(|get| get(f).present()) => {
                let tree = small.get_or_insert_with(|| self.small_envelope(f));
                self.set.rule_matches(i, tree)
            }
            _ => {
                // Accepted records are JSON objects, so their envelope parses.
                let tree = pruned.get_or_insert_with(|| {
                    envelope::to_pruned_value(event, self.set.fields()).ok()
                });
                tree.as_ref().is_some_and(|t| self.set.rule_matches(i, t))
            }
        });
        if rules.is_empty() {
            return Matched::default();
        }
        let id = envelope::id(f);
        Matched {
            rules,
            envelope: Some(envelope::to_json_with_id(event, &id)),
            id: Some(id),
        }
    }

    /// The envelope with only the extracted fields step-2 rules read.
    fn small_envelope(&self, f: &RoutingFields) -> Value {
        let mut top = Map::new();
        for (path, get) in &self.small_fields {
            let v = match get(f) {
                Lookup::Str(s) => Value::String(s.into_owned()),
                Lookup::Bool(b) => Value::Bool(b),
                Lookup::Absent | Lookup::Unknown => continue,
            };
            let (last, parents) = path.split_last().expect("paths are not empty");
            let mut map = &mut top;
            for p in parents {
                let entry = map
                    .entry(p.to_string())
                    .or_insert_with(|| Value::Object(Map::new()));
                map = entry.as_object_mut().expect("only objects are made here");
            }
            map.insert(last.to_string(), v);
        }
        Value::Object(top)
    }
}

/// What [`Rules::matching`] found for one record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matched {
    /// Indexes of the matching rules, ascending.
    pub rules: Vec<usize>,
    /// The record's EventBridge event as JSON text, when some rule matches.
    pub envelope: Option<String>,
    /// That event's `id` (the same on every replay), when some rule matches.
    pub id: Option<String>,
}
