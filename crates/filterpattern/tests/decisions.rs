//! One test per crate-level decision (D1–D17 in the lib.rs docs), named after it.

use trailpipe_filterpattern::{FilterPattern, PatternKind, ValuePath};

fn m(pattern: &str, event: &str) -> bool {
    FilterPattern::parse(pattern)
        .unwrap_or_else(|e| panic!("{pattern}: {e}"))
        .matches(event.as_bytes())
}

#[test]
fn d01_first_non_blank_character_picks_the_kind() {
    let kind = |p: &str| FilterPattern::parse(p).unwrap().kind();
    assert_eq!(kind(""), PatternKind::MatchAll);
    assert_eq!(kind("  \t"), PatternKind::MatchAll);
    assert_eq!(kind("  { $.a = 1 }"), PatternKind::Json);
    assert_eq!(kind(" [a, b]"), PatternKind::SpaceDelimited);
    assert_eq!(kind(" %ab%"), PatternKind::Regex);
    assert_eq!(kind("ERROR { $.a = 1 }"), PatternKind::Terms);
    assert!(m("", ""));
}

#[test]
fn d02_matching_and_keywords_are_case_sensitive() {
    assert!(!m("error", "ERROR"));
    assert!(!m(r#"{ $.a = "X" }"#, r#"{"a":"x"}"#));
    assert!(!m(r#"{ $.A = "x" }"#, r#"{"a":"x"}"#));
    assert!(FilterPattern::parse("{ $.a is null }").is_err());
    assert!(FilterPattern::parse("{ $.a IS NOT NULL }").is_err());
    assert!(FilterPattern::parse("{ $.a EXISTS }").is_err());
}

#[test]
fn d03_terms_are_substrings_of_the_raw_event() {
    assert!(m("ERROR", "ERRORNEOUS"));
    assert!(m("Denied", r#"{"errorCode":"AccessDenied"}"#));
    assert!(m(r#""errorCode":"#, r#"{"errorCode":"AccessDenied"}"#));
}

#[test]
fn d04_plain_terms_and_any_question_term_and_no_minus_term() {
    assert!(m("A ?B ?C -D", "A C"));
    assert!(!m("A ?B ?C -D", "A"));
    assert!(!m("A ?B ?C -D", "A B D"));
    assert!(m("ORDER-ITEM-1", "ORDER-ITEM-1"));
    assert!(!m("ORDER-ITEM-1", "ORDER"));
}

#[test]
fn d05_blank_quoted_term_matches_everything() {
    assert!(m("\" \"", "no-blanks-here"));
    assert!(m("\" \"", ""));
    assert!(!m("-\" \"", "x"));
}

#[test]
fn d06_comparisons_on_missing_objects_and_arrays_are_false_even_for_ne() {
    assert!(!m(r#"{ $.x != "a" }"#, r#"{"y":1}"#));
    assert!(!m(r#"{ $.x != "a" }"#, r#"{"x":{"a":1}}"#));
    assert!(!m(r#"{ $.x != "a" }"#, r#"{"x":["b"]}"#));
    assert!(m(r#"{ $.x != "a" }"#, r#"{"x":null}"#));
    assert!(!m(r#"{ $.x = "*" }"#, r#"{"x":null}"#));
    assert!(m(r#"{ $.x NOT EXISTS }"#, r#"{"y":1}"#));
}

#[test]
fn d07_text_literals_match_the_json_text_of_numbers_and_booleans() {
    assert!(m(r#"{ $.x = "404" }"#, r#"{"x":404}"#));
    assert!(m(r#"{ $.x = 4* }"#, r#"{"x":404}"#));
    assert!(m(r#"{ $.x = "true" }"#, r#"{"x":true}"#));
    assert!(!m(r#"{ $.x = "404" }"#, r#"{"x":4.04e2}"#));
}

#[test]
fn d08_number_literals_compare_numerically_with_numbers_and_numeric_strings() {
    assert!(m("{ $.x = 404 }", r#"{"x":4.04e2}"#));
    assert!(m("{ $.x = 404 }", r#"{"x":"404"}"#));
    assert!(m("{ $.x < 1e3 }", r#"{"x":"999.5"}"#));
    assert!(!m("{ $.x < 1e3 }", r#"{"x":"small"}"#));
    assert!(!m("{ $.x = 1 }", r#"{"x":true}"#));
    assert!(FilterPattern::parse(r#"{ $.x > "5" }"#).is_err());
}

#[test]
fn d09_bare_values_allow_dots_colons_and_wildcards() {
    assert!(m(
        "{ $.s = kms.amazonaws.com }",
        r#"{"s":"kms.amazonaws.com"}"#
    ));
    assert!(m(
        "{ $.arn = arn:aws:iam::*:root }",
        r#"{"arn":"arn:aws:iam::123:root"}"#
    ));
    assert!(m("{ $.ip != 123.123.* }", r#"{"ip":"10.0.0.1"}"#));
    assert!(!m("{ $.ip != 123.123.* }", r#"{"ip":"123.123.0.1"}"#));
}

#[test]
fn d10_quoted_strings_escape_only_quote_and_backslash() {
    assert!(m(r#"{ $.x = "a\"b" }"#, r#"{"x":"a\"b"}"#));
    assert!(m(r#"{ $.x = "a\\b" }"#, r#"{"x":"a\\b"}"#));
    assert!(
        m(r#"{ $.x = "a\nb" }"#, r#"{"x":"a\\nb"}"#),
        "\\n stays a backslash and n"
    );
    assert!(m(r#"{ $.x = "a*" }"#, r#"{"x":"a*b"}"#));
}

#[test]
fn d11_only_documented_selectors() {
    assert!(FilterPattern::parse("{ $.a[*] = 1 }").is_err());
    assert!(FilterPattern::parse("{ $.* = 1 }").is_err());
    assert!(FilterPattern::parse("{ $.a.b_c-d[0][12] = 1 }").is_ok());
    assert!(FilterPattern::parse("{ $.@timestamp = 1 }").is_err());
}

#[test]
fn d12_non_json_events_match_no_json_pattern() {
    for bad in [
        "",
        "x",
        "{",
        r#"{"a":1}x"#,
        r#"{"a":tru}"#,
        r#"{"a":"\x"}"#,
        "{\"a\":\"\t\"}",
        r#"{"a":1,}"#,
    ] {
        assert!(!m("{ $.z NOT EXISTS }", bad), "{bad:?}");
    }
    let deep = format!("{}1{}", "[".repeat(129), "]".repeat(129));
    assert!(!m("{ $.z NOT EXISTS }", &deep));
    let ok = format!("{}1{}", "[".repeat(128), "]".repeat(128));
    assert!(m("{ $[1] NOT EXISTS }", &ok));
    assert!(m(r#"{ $.a = 2 }"#, r#"{"a":1,"a":2}"#));
}

#[test]
fn d13_regex_subset() {
    assert!(m("%AUTHORIZED%", "UNAUTHORIZED"));
    assert!(m(
        "{ $.m = %address already in use% }",
        r#"{"m":"bind: address already in use"}"#
    ));
    assert!(FilterPattern::parse("%(a)%").is_err());
    assert!(FilterPattern::parse("%a!%").is_err());
    assert!(FilterPattern::parse("%a% %b%").is_err());
    assert!(FilterPattern::parse("{ $.a = %a% || $.b = %b% || $.c = %c% }").is_err());
    assert!(!m(r"%\w+%", "é"));
}

#[test]
fn d14_space_delimited_layout() {
    let line =
        r#"127.0.0.1 Prod frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534"#;
    assert!(m("[w1=ERROR, w2]", "ERROR a b c"));
    assert!(!m("[w1=ERROR]", "ERROR a b c"));
    assert!(!m("[a, b, c]", "only two"));
    assert!(m("[w1=ERROR || W1=WARNING, w2]", "WARNING x"));
    assert!(FilterPattern::parse("[..., status_code = 4* && bytes > 1000]").is_err());
    assert!(FilterPattern::parse("[a, ..., b, ...]").is_err());
    let p = FilterPattern::parse("[ip, user, username, timestamp, request, status_code, bytes]")
        .unwrap();
    let get = |name: &str| p.extract(line.as_bytes(), &ValuePath::parse(name).unwrap());
    assert_eq!(
        get("$timestamp").as_deref(),
        Some("10/Oct/2000:13:25:15 -0700")
    );
    assert_eq!(get("$request").as_deref(), Some("GET /index.html HTTP/1.0"));
    assert_eq!(get("$bytes").as_deref(), Some("1534"));
}

#[test]
fn d15_pattern_length_limit_is_1024_characters() {
    assert!(FilterPattern::parse(&"x".repeat(1024)).is_ok());
    assert_eq!(
        FilterPattern::parse(&"x".repeat(1025)).unwrap_err().column,
        1025
    );
}

#[test]
fn d16_extraction_only_from_matching_events() {
    let p = FilterPattern::parse("{ $.latency = * }").unwrap();
    let v = ValuePath::parse("$.latency").unwrap();
    assert_eq!(
        p.extract(br#"{"latency":50,"requestType":"GET"}"#, &v)
            .as_deref(),
        Some("50")
    );
    assert_eq!(p.extract_number(br#"{"latency":50}"#, &v), Some(50.0));
    assert_eq!(p.extract(br#"{"other":50}"#, &v), None);
    let q = FilterPattern::parse(r#"{ $.t = "a" }"#).unwrap();
    let obj = ValuePath::parse("$.o").unwrap();
    assert_eq!(q.extract(br#"{"t":"a","o":{"x":1}}"#, &obj), None);
    assert_eq!(q.extract(br#"{"t":"a","o":null}"#, &obj), None);
    assert_eq!(
        q.extract(br#"{"t":"b","o":"v"}"#, &obj),
        None,
        "pattern does not match"
    );
    assert_eq!(
        q.extract(br#"{"t":"a","o":"v\u0021"}"#, &obj).as_deref(),
        Some("v!")
    );
    let field = ValuePath::parse("$t").unwrap();
    assert_eq!(
        q.extract(br#"{"t":"a"}"#, &field),
        None,
        "`$field` is for delimited patterns"
    );
    let terms = FilterPattern::parse("ERROR").unwrap();
    assert_eq!(terms.extract(br#"{"o":"ERROR"}"#, &obj), None);
    let d = FilterPattern::parse("[w1, w2 > 10]").unwrap();
    let w2 = ValuePath::parse("$w2").unwrap();
    assert_eq!(d.extract_number(b"GET 12.5", &w2), Some(12.5));
    assert_eq!(d.extract_number(b"GET 9", &w2), None);
}

#[test]
fn d17_cis_4_1_and_binds_tighter_than_or() {
    let p = FilterPattern::parse(trailpipe_filterpattern::CIS_V14_VARIANTS[0].pattern).unwrap();
    assert!(p.matches(br#"{"errorCode":"Client.UnauthorizedOperation","sourceIPAddress":"delivery.logs.amazonaws.com","eventName":"HeadBucket"}"#));
    assert!(!p.matches(br#"{"errorCode":"AccessDenied","sourceIPAddress":"delivery.logs.amazonaws.com","eventName":"PutObject"}"#));
}

#[test]
fn display_prints_the_source_verbatim() {
    for f in trailpipe_filterpattern::CIS_FILTERS {
        let p = f.compile();
        assert_eq!(p.to_string(), f.pattern);
        assert_eq!(p.as_str(), f.pattern);
        let again: FilterPattern = p.to_string().parse().unwrap();
        assert_eq!(again.as_str(), f.pattern);
    }
    assert_eq!(trailpipe_filterpattern::CIS_FILTERS.len(), 14);
}
