//! Random patterns and events against a model matcher written here, separately from the
//! crate: a plain recursive interpreter over the pattern's and the event's `serde_json` values.
//! Also: `RuleSet::matching` is exactly the rules whose `Pattern::matches` is true.

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use trailpipe_eventpattern::{Pattern, RuleSet};

// ---- The model ----------------------------------------------------------------------------

/// Scalars at a leaf place: none for missing / object; arrays flattened, objects skipped.
fn scalars(v: Option<&Value>) -> Vec<&Value> {
    fn walk<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
        match v {
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            Value::Object(_) => {}
            s => out.push(s),
        }
    }
    let mut out = Vec::new();
    if let Some(v) = v {
        walk(v, &mut out);
    }
    out
}

/// Objects of an array, nested arrays flattened.
fn objects(items: &[Value]) -> Vec<&Value> {
    let mut out = Vec::new();
    for i in items {
        match i {
            Value::Array(inner) => out.extend(objects(inner)),
            Value::Object(_) => out.push(i),
            _ => {}
        }
    }
    out
}

fn model_node(pattern: &Map<String, Value>, event: Option<&Value>) -> bool {
    match event {
        Some(Value::Array(items)) => {
            let objs = objects(items);
            if objs.is_empty() {
                model_node(pattern, None)
            } else {
                objs.into_iter().any(|o| model_node(pattern, Some(o)))
            }
        }
        _ => {
            let map = match event {
                Some(Value::Object(m)) => Some(m),
                _ => None,
            };
            pattern.iter().all(|(k, pv)| {
                if k == "$or" {
                    return pv
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|alt| model_node(alt.as_object().unwrap(), event));
                }
                let ev = map.and_then(|m| m.get(k));
                match pv {
                    Value::Object(inner) => model_node(inner, ev),
                    Value::Array(values) => model_leaf(values, ev),
                    _ => unreachable!(),
                }
            })
        }
    }
}

fn model_leaf(values: &[Value], event: Option<&Value>) -> bool {
    let found = scalars(event);
    values.iter().any(|pv| {
        if let Some(e) = pv.get("exists") {
            return e.as_bool().unwrap() != found.is_empty();
        }
        found.iter().any(|v| model_value(pv, v))
    })
}

fn num_eq(a: &Value, b: &Value) -> bool {
    matches!((a.as_f64(), b.as_f64()), (Some(x), Some(y)) if x == y)
        && a.is_number()
        && b.is_number()
}

fn model_value(pv: &Value, v: &Value) -> bool {
    let s = v.as_str();
    match pv {
        Value::Object(op) => {
            let (name, arg) = op.iter().next().unwrap();
            match name.as_str() {
                "prefix" | "suffix" => {
                    let Some(s) = s else { return false };
                    let (needle, hay) = match arg {
                        Value::String(p) => (p.clone(), s.to_string()),
                        _ => (
                            arg["equals-ignore-case"].as_str().unwrap().to_lowercase(),
                            s.to_lowercase(),
                        ),
                    };
                    if name == "prefix" {
                        hay.starts_with(&needle)
                    } else {
                        hay.ends_with(&needle)
                    }
                }
                "equals-ignore-case" => {
                    s.is_some_and(|s| s.to_lowercase() == arg.as_str().unwrap().to_lowercase())
                }
                "wildcard" => {
                    s.is_some_and(|s| glob(arg.as_str().unwrap().as_bytes(), s.as_bytes()))
                }
                "numeric" => v
                    .as_f64()
                    .is_some_and(|x| v.is_number() && numeric(arg.as_array().unwrap(), x)),
                "cidr" => s.is_some_and(|s| cidr(arg.as_str().unwrap(), s)),
                "anything-but" => !excluded(arg, v),
                other => panic!("model does not know {other}"),
            }
        }
        Value::Number(_) => num_eq(pv, v),
        other => other == v,
    }
}

fn excluded(arg: &Value, v: &Value) -> bool {
    match arg {
        Value::Array(list) => list.iter().any(|x| excluded(x, v)),
        Value::Number(_) => num_eq(arg, v),
        Value::String(_) => arg == v,
        Value::Object(op) => {
            let (name, inner) = op.iter().next().unwrap();
            let Some(s) = v.as_str() else { return false };
            let list: Vec<&str> = match inner {
                Value::Array(l) => l.iter().map(|x| x.as_str().unwrap()).collect(),
                x => vec![x.as_str().unwrap()],
            };
            list.iter().any(|p| match name.as_str() {
                "prefix" => s.starts_with(p),
                "suffix" => s.ends_with(p),
                "equals-ignore-case" => s.to_lowercase() == p.to_lowercase(),
                "wildcard" => glob(p.as_bytes(), s.as_bytes()),
                other => panic!("model does not know anything-but {other}"),
            })
        }
        _ => unreachable!(),
    }
}

/// Backtracking glob: `*` any run, `\x` the literal `x`.
fn glob(p: &[u8], s: &[u8]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some(b'*') => (0..=s.len()).any(|i| glob(&p[1..], &s[i..])),
        Some(b'\\') => s.first() == Some(&p[1]) && glob(&p[2..], &s[1..]),
        Some(c) => s.first() == Some(c) && glob(&p[1..], &s[1..]),
    }
}

fn numeric(terms: &[Value], x: f64) -> bool {
    terms.chunks(2).all(|pair| {
        let n = pair[1].as_f64().unwrap();
        match pair[0].as_str().unwrap() {
            "<" => x < n,
            "<=" => x <= n,
            "=" => x == n,
            ">=" => x >= n,
            ">" => x > n,
            op => panic!("{op}"),
        }
    })
}

fn cidr(net: &str, ip: &str) -> bool {
    let (addr, len) = net.split_once('/').unwrap();
    let len: u32 = len.parse().unwrap();
    let to_bits = |a: &str| -> Option<(u32, u128)> {
        if let Ok(v4) = a.parse::<std::net::Ipv4Addr>() {
            Some((32, u128::from(u32::from(v4)) << 96))
        } else {
            a.parse::<std::net::Ipv6Addr>()
                .ok()
                .map(|v6| (128, u128::from(v6)))
        }
    };
    match (to_bits(addr), to_bits(ip)) {
        (Some((w1, a)), Some((w2, b))) if w1 == w2 => {
            len == 0 || (a >> (128 - len)) == (b >> (128 - len))
        }
        _ => false,
    }
}

fn model(pattern: &Value, event: &Value) -> bool {
    model_node(pattern.as_object().unwrap(), Some(event))
}

// ---- Generators ---------------------------------------------------------------------------

const KEYS: &[&str] = &["a", "b", "c"];
const STRINGS: &[&str] = &[
    "x",
    "xy",
    "Xy",
    "yx",
    "",
    "10.0.0.5",
    "10.1.2.3",
    "2001:db8::1",
    "a*b",
    "a\\b",
];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => prop::sample::select(STRINGS).prop_map(|s| json!(s)),
        2 => prop::sample::select(vec![json!(0), json!(1), json!(-1.5), json!(5), json!(300), json!(300.0), json!(3e2)]),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => Just(Value::Null),
    ]
}

fn event_value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(KEYS).prop_map(String::from),
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn event() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(
        prop::sample::select(KEYS).prop_map(String::from),
        event_value(),
        0..4,
    )
    .prop_map(|m| Value::Object(m.into_iter().collect()))
}

fn matcher() -> impl Strategy<Value = Value> {
    let ops = vec![
        json!({"prefix": "x"}),
        json!({"prefix": ""}),
        json!({"prefix": "10."}),
        json!({"prefix": {"equals-ignore-case": "XY"}}),
        json!({"suffix": "y"}),
        json!({"suffix": {"equals-ignore-case": "Y"}}),
        json!({"equals-ignore-case": "xy"}),
        json!({"wildcard": "x*"}),
        json!({"wildcard": "*y"}),
        json!({"wildcard": "*"}),
        json!({"wildcard": "a\\*b"}),
        json!({"wildcard": "a\\\\b"}),
        json!({"wildcard": "*0.*.5"}),
        json!({"numeric": [">", 0]}),
        json!({"numeric": [">=", 1, "<", 300]}),
        json!({"numeric": [">", -2, "<=", 300]}),
        json!({"numeric": ["=", 300]}),
        json!({"numeric": ["<=", -1.5]}),
        json!({"numeric": ["<", 5]}),
        json!({"cidr": "10.0.0.0/24"}),
        json!({"cidr": "10.0.0.0/8"}),
        json!({"cidr": "2001:db8::/32"}),
        json!({"cidr": "0.0.0.0/0"}),
        json!({"exists": true}),
        json!({"exists": false}),
        json!({"anything-but": "x"}),
        json!({"anything-but": ["x", "xy"]}),
        json!({"anything-but": 300}),
        json!({"anything-but": [0, 1]}),
        json!({"anything-but": {"prefix": "x"}}),
        json!({"anything-but": {"suffix": "y"}}),
        json!({"anything-but": {"equals-ignore-case": ["XY", "x"]}}),
        json!({"anything-but": {"wildcard": "x*"}}),
    ];
    prop_oneof![3 => scalar(), 4 => prop::sample::select(ops)]
}

fn pattern_node(depth: u32, in_or: bool) -> BoxedStrategy<Value> {
    let leaf = prop::collection::vec(matcher(), 1..4).prop_map(Value::Array);
    let child = if depth == 0 {
        leaf.boxed()
    } else {
        prop_oneof![3 => leaf, 1 => pattern_node(depth - 1, in_or)].boxed()
    };
    let fields = prop::collection::btree_map(
        prop::sample::select(KEYS).prop_map(String::from),
        child,
        1..3,
    );
    let or = if depth == 0 {
        Just(None).boxed()
    } else {
        prop_oneof![
            3 => Just(None),
            1 => prop::collection::vec(pattern_node(depth - 1, true), 2..4).prop_map(Some),
        ]
        .boxed()
    };
    let _ = in_or;
    (fields, or)
        .prop_map(|(fields, or)| {
            let mut map: Map<String, Value> = fields.into_iter().collect();
            if let Some(alts) = or {
                map.insert("$or".into(), Value::Array(alts));
            }
            Value::Object(map)
        })
        .boxed()
}

fn pattern() -> BoxedStrategy<Value> {
    pattern_node(2, false)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn crate_agrees_with_model(p in pattern(), events in prop::collection::vec(event(), 1..8)) {
        let text = p.to_string();
        let compiled = Pattern::parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        for e in &events {
            prop_assert_eq!(compiled.matches(e), model(&p, e), "pattern {} event {}", text, e);
        }
    }

    #[test]
    fn ruleset_is_exactly_the_matching_rules(
        patterns in prop::collection::vec(pattern(), 1..16),
        events in prop::collection::vec(event(), 1..8),
    ) {
        let (rules, set) = rule_set(&patterns);
        for e in &events {
            let want: Vec<&str> = rules.iter().filter(|(_, p)| p.matches(e)).map(|(n, _)| n.as_str()).collect();
            let got: Vec<&str> = set.matching(e).collect();
            prop_assert_eq!(got, want, "event {}", e);
        }
    }

    #[test]
    fn candidates_from_known_strings_hold_every_matching_rule(
        patterns in prop::collection::vec(pattern(), 1..16),
        events in prop::collection::vec(event(), 1..8),
        unknown_depth in 0usize..3,
    ) {
        let (rules, set) = rule_set(&patterns);
        for e in &events {
            // Paths this deep (or deeper) are "unknown" to the caller, as fields it did not extract.
            let candidates = set.candidates(|path, found| {
                if unknown_depth > 0 && path.len() >= unknown_depth {
                    return false;
                }
                strings_at(e, path, found);
                true
            });
            for (i, (name, p)) in rules.iter().enumerate() {
                if p.matches(e) {
                    prop_assert!(candidates.contains(&i), "{} matches {} but is no candidate", name, e);
                }
                prop_assert_eq!(set.rule_matches(i, e), p.matches(e));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn rules_match_the_pruned_parse_as_they_match_the_whole_event(
        patterns in prop::collection::vec(pattern(), 1..8),
        events in prop::collection::vec(event(), 1..8),
    ) {
        let (rules, set) = rule_set(&patterns);
        for e in &events {
            let pruned = set.parse_event(&e.to_string()).unwrap();
            for (name, p) in &rules {
                prop_assert_eq!(p.matches(&pruned), p.matches(e), "{} on {} pruned to {}", name, e, pruned);
            }
        }
    }
}

/// The random patterns as rules named `r0`, `r1`, ..., and their [`RuleSet`].
fn rule_set(patterns: &[Value]) -> (Vec<(String, Pattern)>, RuleSet) {
    let rules: Vec<(String, Pattern)> = patterns
        .iter()
        .enumerate()
        .map(|(i, p)| (format!("r{i}"), Pattern::parse(&p.to_string()).unwrap()))
        .collect();
    let set = RuleSet::new(rules.clone());
    (rules, set)
}

/// Every string at `path` in `v`, looking into every element of arrays (the model's reading).
fn strings_at(v: &Value, path: &[Box<str>], found: &mut dyn FnMut(&str)) {
    match (v, path.split_first()) {
        (Value::Array(items), _) => items.iter().for_each(|i| strings_at(i, path, found)),
        (Value::String(s), None) => found(s),
        (Value::Object(map), Some((first, rest))) => {
            if let Some(inner) = map.get(&**first) {
                strings_at(inner, rest, found);
            }
        }
        _ => {}
    }
}

#[test]
fn candidates_skip_rules_whose_key_values_are_absent() {
    let rules = vec![
        (
            "create-user".to_string(),
            Pattern::parse(r#"{"detail": {"eventName": ["CreateUser"]}}"#).unwrap(),
        ),
        (
            "s3".to_string(),
            Pattern::parse(r#"{"source": ["aws.s3"]}"#).unwrap(),
        ),
        (
            "not-us".to_string(),
            Pattern::parse(r#"{"region": [{"anything-but": "us-east-1"}]}"#).unwrap(),
        ),
    ];
    let set = RuleSet::new(rules);
    let known = |path: &[Box<str>], found: &mut dyn FnMut(&str)| {
        match path.iter().map(|p| &**p).collect::<Vec<_>>().as_slice() {
            ["detail", "eventName"] => found("CreateUser"),
            ["source"] => found("aws.iam"),
            _ => return false,
        }
        true
    };
    assert_eq!(set.candidates(known), [0, 2]);
    // A caller that knows nothing gets every rule.
    assert_eq!(set.candidates(|_, _| false), [0, 1, 2]);
}

#[test]
fn ruleset_indexes_the_usual_fields() {
    let rules = vec![
        (
            "a".to_string(),
            Pattern::parse(r#"{"source": ["aws.iam"], "detail": {"eventName": ["CreateUser"]}}"#)
                .unwrap(),
        ),
        (
            "b".to_string(),
            Pattern::parse(
                r#"{"$or": [{"detail": {"eventName": ["X"]}}, {"source": ["aws.s3"]}]}"#,
            )
            .unwrap(),
        ),
        (
            "c".to_string(),
            Pattern::parse(r#"{"detail": {"awsRegion": [{"anything-but": "us-east-1"}]}}"#)
                .unwrap(),
        ),
    ];
    let set = RuleSet::new(rules);
    assert_eq!(set.unindexed(), 1);
    let e = json!({"source": "aws.iam", "detail": {"eventName": "CreateUser", "awsRegion": "eu-west-1"}});
    assert_eq!(set.matching(&e).collect::<Vec<_>>(), ["a", "c"]);
    let e = json!({"source": "aws.s3", "detail": [{"eventName": "CreateUser"}, {"awsRegion": "us-east-1"}]});
    assert_eq!(set.matching(&e).collect::<Vec<_>>(), ["b"]);
}

#[test]
fn the_pruned_parse_keeps_only_the_fields_rules_read() {
    let set = RuleSet::new(vec![(
        "r".to_string(),
        Pattern::parse(
            r#"{"detail": {"eventName": ["X"], "userIdentity": {"type": [{"exists": true}]}}}"#,
        )
        .unwrap(),
    )]);
    let e = r#"{"source":"aws.iam","detail":{"eventName":"X","requestParameters":{"big":[1,2,3]},
        "userIdentity":{"type":"Root","arn":"a"},"items":[{"eventName":"Y"}]}}"#;
    assert_eq!(
        set.parse_event(e).unwrap(),
        json!({"detail": {"eventName": "X", "userIdentity": {"type": "Root"}}})
    );
    // Still a validating parse: malformed JSON in a skipped field is an error.
    assert!(set
        .parse_event(r#"{"detail":{"requestParameters":{"a":tru}}}"#)
        .is_err());
    assert!(set.parse_event(r#"{"detail":{}} x"#).is_err());
}
