//! Property tests: boolean composition, set/single agreement, scanner vs serde_json, no panics.

use proptest::prelude::*;
use trailpipe_filterpattern::{FilterPattern, FilterSet, ValuePath, CIS_FILTERS};

/// Small random JSON events over a fixed vocabulary so that conditions hit often.
fn event() -> impl Strategy<Value = String> {
    let scalar = prop_oneof![
        Just("null".to_string()),
        Just("true".to_string()),
        Just("false".to_string()),
        (-20i32..20).prop_map(|n| n.to_string()),
        prop::sample::select(vec![
            "\"a\"",
            "\"b\"",
            "\"ab\"",
            "\"5\"",
            "\"a\\\"b\"",
            "\"\\u0061\""
        ])
        .prop_map(str::to_string),
    ];
    let value = scalar.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec((prop::sample::select(vec!["x", "y", "z"]), inner), 0..3)
                .prop_map(|m| {
                    let body: Vec<String> = m.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                    format!("{{{}}}", body.join(","))
                }),
        ]
    });
    prop::collection::vec((prop::sample::select(vec!["x", "y", "z"]), value), 0..4).prop_map(|m| {
        let body: Vec<String> = m.iter().map(|(k, v)| format!("\"{k}\" : {v}")).collect();
        format!("{{ {} }}", body.join(", "))
    })
}

/// A random condition (without braces).
fn condition() -> impl Strategy<Value = String> {
    let selector = prop::sample::select(vec![
        "$.x", "$.y", "$.z", "$.x.y", "$.x[0]", "$.y[1]", "$.z.x",
    ]);
    let test = prop::sample::select(vec![
        "= \"a\"",
        "!= \"a\"",
        "= \"a*\"",
        "= *",
        "!= *b",
        "= 5",
        "!= 5",
        "> 0",
        "<= -3",
        ">= 5",
        "IS NULL",
        "IS TRUE",
        "IS FALSE",
        "NOT EXISTS",
        "= %^a%",
        "= true",
    ]);
    (selector, test).prop_map(|(s, t)| format!("{s} {t}"))
}

fn json(expr: &str) -> FilterPattern {
    FilterPattern::parse(&format!("{{ {expr} }}")).expect("generated patterns are valid")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn and_is_both_or_is_either(a in condition(), b in condition(), e in event()) {
        let (pa, pb) = (json(&a), json(&b));
        let (ma, mb) = (pa.matches(e.as_bytes()), pb.matches(e.as_bytes()));
        prop_assert_eq!(json(&format!("({a}) && ({b})")).matches(e.as_bytes()), ma && mb);
        prop_assert_eq!(json(&format!("({a}) || ({b})")).matches(e.as_bytes()), ma || mb);
        if !a.contains('%') {
            // `&&` binds tighter, so this is a || (b && a) == a. Three conditions would exceed the
            // 2-regex quota when `a` holds one.
            prop_assert_eq!(json(&format!("{a} || {b} && {a}")).matches(e.as_bytes()), ma, "absorption: a || (b && a) == a");
        }
    }

    #[test]
    fn set_agrees_with_single_patterns(conds in prop::collection::vec(condition(), 1..6), e in event()) {
        let patterns: Vec<FilterPattern> = conds.iter().map(|c| json(c)).collect();
        let set = FilterSet::new(patterns.clone());
        let want: Vec<bool> = patterns.iter().map(|p| p.matches(e.as_bytes())).collect();
        prop_assert_eq!(set.matches(e.as_bytes()), want);
    }

    #[test]
    fn scanner_resolves_like_serde_json(e in event(), path in prop::sample::select(vec![&["x"][..], &["y"], &["x", "y"], &["z", "x"]])) {
        let v: serde_json::Value = serde_json::from_str(&e).expect("generated events are JSON");
        let p = FilterPattern::parse(&format!("{{ $.{} = \"*\" || $.{} NOT EXISTS || $.{} IS NULL || $.q NOT EXISTS }}", path[0], path[0], path[0])).unwrap();
        let got = p.extract(e.as_bytes(), &ValuePath::parse(&format!("$.{}", path.join("."))).unwrap());
        let want = path.iter().try_fold(&v, |v, k| v.get(k)).and_then(|v| match v {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Bool(b) => Some(b.to_string()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        });
        prop_assert_eq!(got, want);
    }

    #[test]
    fn terms_or_is_either(a in "[a-c]{1,2}", b in "[a-c]{1,2}", e in "[a-c ]{0,8}") {
        let has = |t: &str| e.contains(t);
        let m = |p: String| FilterPattern::parse(&p).unwrap().matches(e.as_bytes());
        prop_assert_eq!(m(format!("?{a} ?{b}")), has(&a) || has(&b));
        prop_assert_eq!(m(format!("{a} {b}")), has(&a) && has(&b));
        prop_assert_eq!(m(format!("{a} -{b}")), has(&a) && !has(&b));
    }

    #[test]
    fn parser_never_panics_on_arbitrary_text(s in "\\PC{0,80}") {
        if let Ok(p) = FilterPattern::parse(&s) {
            let _ = p.matches(s.as_bytes());
            prop_assert_eq!(p.to_string(), s);
        }
    }

    #[test]
    fn parser_never_panics_on_pattern_like_text(s in "[\\[\\]{}()$.=!<>&|%\"*?, a-z0-9\\\\-]{0,60}") {
        if let Ok(p) = FilterPattern::parse(&s) {
            let _ = p.matches(br#"{"a":[1,{"b":"c"}]} x"#);
        }
    }

    #[test]
    fn mutated_cis_patterns_never_panic(i in 0usize..14, at in 0usize..400, c in any::<char>()) {
        let mut s: Vec<char> = CIS_FILTERS[i].pattern.chars().collect();
        let at = at % (s.len() + 1);
        s.insert(at, c);
        let s: String = s.into_iter().collect();
        if let Err(e) = FilterPattern::parse(&s) {
            prop_assert!(e.column >= 1 && e.column <= s.chars().count() + 1);
        }
    }

    #[test]
    fn matching_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        for f in CIS_FILTERS {
            let _ = f.compile().matches(&bytes);
        }
        let _ = FilterPattern::parse("[a, ..., b = 5]").unwrap().matches(&bytes);
    }
}
