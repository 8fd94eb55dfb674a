//! Parse errors: the column points at the offending character and Display reads `column N: …`.

use trailpipe_filterpattern::{FilterPattern, ValuePath};

fn err(pattern: &str) -> (usize, String) {
    let e = FilterPattern::parse(pattern).expect_err(pattern);
    (e.column, e.to_string())
}

#[track_caller]
fn assert_err(pattern: &str, column: usize, needle: &str) {
    let (col, msg) = err(pattern);
    assert_eq!(col, column, "{pattern:?}: {msg}");
    assert!(msg.starts_with(&format!("column {column}: ")), "{msg}");
    assert!(
        msg.contains(needle),
        "{pattern:?}: {msg:?} lacks {needle:?}"
    );
}

#[test]
fn json_errors_point_at_the_offending_column() {
    assert_err("{ $.a = }", 9, "expected a value after `=`");
    assert_err("{ $.a = \"x\" ", 13, "expected `&&`, `||` or `}`");
    assert_err("{ $.a == \"x\" }", 8, "expected a value");
    assert_err("{ a = 1 }", 3, "expected a `$` selector or `(`");
    assert_err("{ $a = 1 }", 4, "expected `.` or `[` after `$`");
    assert_err("{ $. = 1 }", 5, "expected a property name");
    assert_err("{ $.a[x] = 1 }", 7, "expected an array index");
    assert_err("{ $.a[1 = 1 }", 8, "expected `]`");
    assert_err("{ ($.a = 1 }", 12, "expected `)`");
    assert_err("{ $.a = 1 } x", 13, "after the closing `}`");
    assert_err("{ $.a > \"5\" }", 9, "needs a number");
    assert_err("{ $.a < 5* }", 9, "needs a number");
    assert_err("{ $.a >= %5% }", 10, "needs a number");
    assert_err("{ $.a IS NOT NULL }", 10, "IS NOT is not supported");
    assert_err("{ $.a EXISTS }", 7, "EXISTS is not supported");
    assert_err("{ $.a NOT THERE }", 11, "expected EXISTS after NOT");
    assert_err("{ $.a is null }", 7, "expected an operator");
    assert_err("{ $.a = \"x }", 9, "unterminated quoted string");
    assert_err("{}", 2, "expected a `$` selector");
    assert_err("{ $.a = 1 &&  }", 15, "expected a `$` selector");
    assert_err("{ $.a = 1 & $.b = 2 }", 11, "expected `&&`, `||` or `}`");
}

#[test]
fn d11_wildcard_selectors_are_refused() {
    assert_err("{ $.list[*].name = \"x\" }", 10, "array wildcards");
    assert_err("{ $.* = \"x\" }", 5, "wildcard selectors");
}

#[test]
fn d02_lower_case_keywords_are_refused() {
    assert_err("{ $.a not exists }", 7, "expected an operator");
    assert!(FilterPattern::parse("{ $.a NOT  EXISTS }").is_ok());
}

#[test]
fn delimited_errors_point_at_the_offending_column() {
    assert_err("[a, b", 6, "expected `,` or `]`");
    assert_err("[a, , b]", 5, "expected a field name or `...`");
    assert_err("[..., a, ...]", 10, "only one `...`");
    assert_err("[status_code = 4* && bytes > 1000]", 22, "same field");
    assert_err("[a = 1 || ]", 11, "expected the field name `a`");
    assert_err("[a = 1 || a 2]", 13, "expected an operator after `a`");
    assert_err("[a > x]", 6, "needs a number");
    assert_err("[a] b", 5, "after the closing `]`");
    assert_err("[a = (1)]", 6, "expected a value after `=`");
}

#[test]
fn regex_errors_point_at_the_offending_column() {
    assert_err("%something!%", 11, "`!` is not allowed in a regex");
    assert_err("%(a|b)%", 2, "parentheses are not supported");
    assert_err("%ab(c)%", 4, "parentheses are not supported");
    assert_err("%é%", 2, "multibyte characters");
    assert_err("%abc", 1, "unterminated regex");
    assert_err("%%", 1, "empty regex");
    assert_err("%a% b", 5, "must stand alone");
    assert_err("%a{2,1}%", 2, "invalid regex");
    assert_err(
        "{ $.a = %x% || $.b = %y% || $.c = %z% }",
        35,
        "at most 2 regexes",
    );
    assert_err("[a = %x%, b = %y%, c = %z%]", 24, "at most 2 regexes");
}

#[test]
fn term_errors_point_at_the_offending_column() {
    assert_err("ERROR ?", 8, "expected a term after `?`");
    assert_err("ERROR - x", 8, "expected a term after `-`");
    assert_err("ERROR \"unterminated", 7, "unterminated quoted string");
}

#[test]
fn d15_patterns_over_1024_characters_are_refused() {
    let long = "a".repeat(1025);
    assert_err(&long, 1025, "longer than 1024");
    assert!(FilterPattern::parse(&"a".repeat(1024)).is_ok());
    // The limit counts characters, not bytes.
    assert!(FilterPattern::parse(&"é".repeat(1024)).is_ok());
}

#[test]
fn columns_count_characters_not_bytes() {
    assert_err("{ $.a = \"é\" && $.b > x }", 22, "needs a number");
}

#[test]
fn value_path_errors() {
    for bad in ["eventName", "$", "$.", "$.a[", "$.a b", "$na me"] {
        assert!(ValuePath::parse(bad).is_err(), "{bad}");
    }
    assert_eq!(ValuePath::parse("$.a b").unwrap_err().column, 4);
}
