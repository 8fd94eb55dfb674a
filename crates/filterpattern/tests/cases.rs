//! The conformance table: (pattern, event, expected) for every construct and every CIS filter.
//! A note starting with `Dnn` names the crate-level decision (lib.rs docs) the case pins.

mod common;

use common::*;
use trailpipe_filterpattern::{FilterPattern, FilterSet, CIS_FILTERS, CIS_V14_VARIANTS};

struct Case {
    pattern: String,
    event: String,
    expected: bool,
    note: &'static str,
}

fn cis(id: &str) -> String {
    CIS_FILTERS
        .iter()
        .chain(CIS_V14_VARIANTS)
        .find(|f| f.id == id)
        .unwrap_or_else(|| panic!("no CIS filter {id}"))
        .pattern
        .to_string()
}

fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    let mut add = |pattern: &str, event: &str, expected: bool, note: &'static str| {
        v.push(Case {
            pattern: pattern.to_string(),
            event: event.to_string(),
            expected,
            note,
        })
    };

    // ---- Terms (user guide examples) -------------------------------------------------
    let e400 = "[ERROR 400] BAD REQUEST";
    let e401 = "[ERROR 401] UNAUTHORIZED REQUEST";
    let e419 = "[ERROR 419] MISSING ARGUMENTS";
    let e500 = "[ERROR 500] INTERNAL SERVER ERROR";
    let ok200 = "[SUCCESS 200] AUTHORIZED REQUEST";
    add("ERROR", e400, true, "single term");
    add("ERROR", e419, true, "single term");
    add("ERROR", ok200, false, "single term absent");
    add("ERROR ARGUMENTS", e419, true, "all terms");
    add("ERROR ARGUMENTS", e400, false, "all terms: one missing");
    add("?ERROR ?ARGUMENTS", e400, true, "any term");
    add("?ERROR ?ARGUMENTS", ok200, false, "any term: none present");
    add("?SUCCESS ?ARGUMENTS", ok200, true, "any term: first");
    add("\"INTERNAL SERVER ERROR\"", e500, true, "exact phrase");
    add(
        "\"INTERNAL SERVER ERROR\"",
        "INTERNAL ERROR SERVER",
        false,
        "phrase order matters",
    );
    add("ERROR -ARGUMENTS", e400, true, "exclusion absent");
    add("ERROR -ARGUMENTS", e419, false, "exclusion present");
    add(
        "\" \"",
        "nospaces",
        true,
        "D05 blank phrase matches everything",
    );
    add(
        "\"\"",
        "anything",
        true,
        "D05 empty phrase matches everything",
    );
    add("-\" \"", "anything", false, "D05 excluding everything");
    add("", "anything at all", true, "D01 empty pattern");
    add("   ", "", true, "D01 blank pattern");
    add("ERROR", "ERRORNEOUS", true, "D03 substring match");
    add("ERROR", "Error happened", false, "D02 case-sensitive");
    add("error", "ERROR", false, "D02 case-sensitive");
    add(
        "\"ERROR\" \"Exception\"",
        "ERROR: NullPointerException",
        true,
        "two quoted terms AND",
    );
    add(
        "\"ERROR\" \"Exception\"",
        "ERROR: null",
        false,
        "two quoted terms AND",
    );
    add(
        "\"ORDER-ITEM-1\"",
        "bought ORDER-ITEM-1 today",
        true,
        "quoted term with dashes",
    );
    add(
        "ORDER-ITEM-1",
        "bought ORDER-ITEM-1 today",
        true,
        "D04 inner dash is literal",
    );
    add(
        "ORDER-ITEM-1",
        "bought ORDER today",
        false,
        "D04 inner dash is literal",
    );
    add("-DEBUG", "INFO started", true, "D04 only an exclusion");
    add("-DEBUG", "DEBUG started", false, "D04 only an exclusion");
    add(
        "ERROR ?disk ?memory",
        "ERROR memory low",
        true,
        "D04 plain + any",
    );
    add(
        "ERROR ?disk ?memory",
        "ERROR cpu high",
        false,
        "D04 plain + any: no ?-term",
    );
    add(
        "ERROR ?disk ?memory",
        "WARN disk low",
        false,
        "D04 plain + any: plain missing",
    );
    add(
        "?disk ?memory -test",
        "disk full",
        true,
        "D04 any + exclusion",
    );
    add(
        "?disk ?memory -test",
        "disk full in test",
        false,
        "D04 any + exclusion",
    );
    add(
        "AccessDenied",
        &ct(
            "s3.amazonaws.com",
            "GetObject",
            r#","errorCode":"AccessDenied""#,
        ),
        true,
        "D03 term in JSON text",
    );
    add(
        "\"eventName\":\"GetObject\"",
        &ct("s3.amazonaws.com", "GetObject", ""),
        true,
        "D03 JSON searched as text",
    );
    add(
        "\"say \\\"hi\\\"\"",
        "they say \"hi\" loudly",
        true,
        "D10 escaped quote in phrase",
    );

    // ---- Regex -------------------------------------------------------------------------
    add(
        "%AUTHORIZED%",
        e401,
        true,
        "D13 regex unanchored (UNAUTHORIZED)",
    );
    add("%AUTHORIZED%", ok200, true, "regex");
    add("%AUTHORIZED%", e400, false, "regex absent");
    add("%^\\[ERROR%", e400, true, "regex anchor ^");
    add("%^\\[ERROR%", ok200, false, "regex anchor ^");
    add("%REQUEST$%", e401, true, "regex anchor $");
    add(
        "%\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}%",
        "from 10.0.0.1 port",
        true,
        "regex IP",
    );
    add(
        "%\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}%",
        "from host-a",
        false,
        "regex IP",
    );
    add(
        "%[Ee]rror|[Ff]ail%",
        "operation failed",
        true,
        "regex alternation",
    );
    add("%[Ee]rror|[Ff]ail%", "all good", false, "regex alternation");
    add("%colou?r%", "color", true, "regex ?");
    add("%colou?r%", "colour", true, "regex ?");
    add("%a{3,5}%", "xaaay", true, "regex {m,n}");
    add("%a{3,5}%", "xaay", false, "regex {m,n}");
    add(
        "%bind: address already in use%",
        "listen: bind: address already in use",
        true,
        "D13 space allowed",
    );
    add("%\\d+%", "٣", false, "D13 \\d is ASCII");

    // ---- JSON: user guide examples ------------------------------------------------------
    add(
        r#"{ $.eventType = "UpdateTrail" }"#,
        DOC_EVENT,
        true,
        "json string =",
    );
    add(
        r#"{ $.eventType = "updatetrail" }"#,
        DOC_EVENT,
        false,
        "D02 json case-sensitive",
    );
    add(
        r#"{ $.sourceIPAddress != 123.123.* }"#,
        DOC_EVENT,
        true,
        "D09 bare wildcard !=",
    );
    add(
        r#"{ $.sourceIPAddress = 111.111.* }"#,
        DOC_EVENT,
        true,
        "D09 bare wildcard =",
    );
    add(
        r#"{ $.arrayKey[0] = "value" }"#,
        DOC_EVENT,
        true,
        "array index",
    );
    add(
        r#"{ $.arrayKey[1] = "another value" }"#,
        DOC_EVENT,
        true,
        "array index 1",
    );
    add(
        r#"{ $.arrayKey[2] = "*" }"#,
        DOC_EVENT,
        false,
        "array index out of range",
    );
    add(
        r#"{ $.objectList[1].id = 2 }"#,
        DOC_EVENT,
        true,
        "object in array, number",
    );
    add(
        r#"{ $.objectList[0].id = 2 }"#,
        DOC_EVENT,
        false,
        "object in array, number",
    );
    add(r#"{ $.SomeObject IS NULL }"#, DOC_EVENT, true, "IS NULL");
    add(
        r#"{ $.eventType IS NULL }"#,
        DOC_EVENT,
        false,
        "IS NULL on string",
    );
    add(
        r#"{ $.Missing IS NULL }"#,
        DOC_EVENT,
        false,
        "IS NULL on missing",
    );
    add(
        r#"{ $.SomeOtherObject NOT EXISTS }"#,
        DOC_EVENT,
        true,
        "NOT EXISTS",
    );
    add(
        r#"{ $.SomeObject NOT EXISTS }"#,
        DOC_EVENT,
        false,
        "NOT EXISTS: null exists",
    );
    add(
        r#"{ $.objectList NOT EXISTS }"#,
        DOC_EVENT,
        false,
        "NOT EXISTS: array exists",
    );
    add(
        r#"{ $.eventType.sub NOT EXISTS }"#,
        DOC_EVENT,
        true,
        "NOT EXISTS through a string",
    );
    add(
        r#"{ $.eventType = "*" && $.sourceIPAddress != 123.123.* }"#,
        DOC_EVENT,
        true,
        "dimension example",
    );
    add(
        r#"{ $.arrayKey = "*" }"#,
        DOC_EVENT,
        false,
        "selector on array never matches",
    );
    add(
        r#"{ $.objectList[0] != "x" }"#,
        DOC_EVENT,
        false,
        "D06 != on object is false",
    );
    add(
        r#"{ $.SomeObject != "x" }"#,
        DOC_EVENT,
        true,
        "D06 != on null is true",
    );
    add(
        r#"{ $.SomeObject = "*" }"#,
        DOC_EVENT,
        false,
        "D06 = * on null is false",
    );
    add(
        r#"{ $.nothere != "x" }"#,
        DOC_EVENT,
        false,
        "D06 != on missing is false",
    );
    add(
        r#"{ ($.user.id = 1) && ($.users[0].email = "John.Doe@example.com") }"#,
        DOC_COMPOUND,
        true,
        "doc AND",
    );
    add(
        r#"{ $.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = "nonmatch" && $.actions[2] = "nonmatch" }"#,
        DOC_COMPOUND,
        true,
        "doc OR precedence",
    );
    add(
        r#"{ ($.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = "nonmatch") && $.actions[2] = "nonmatch" }"#,
        DOC_COMPOUND,
        false,
        "doc parens",
    );
    add(
        r#"{ ($.user.id = 2 && $.users[0].email = "nonmatch") || $.actions[2] = "GET" }"#,
        DOC_COMPOUND,
        false,
        "doc OR no match",
    );
    add(
        r#"{ $.coordinates[1][2] = 6 }"#,
        DOC_COMPOUND,
        true,
        "nested arrays",
    );
    add(
        r#"{ $.coordinates[2][0] >= 7 && $.coordinates[2][0] <= 7 }"#,
        DOC_COMPOUND,
        true,
        "<= >=",
    );
    add(
        r#"{ $.actions[1] = %^P% }"#,
        DOC_COMPOUND,
        true,
        "D13 regex value",
    );
    add(
        r#"{ $.actions[2] != %^P% }"#,
        DOC_COMPOUND,
        true,
        "D13 regex value !=",
    );
    add(
        r#"{ $.users[1].email = "*Doe@*" }"#,
        DOC_COMPOUND,
        true,
        "wildcard in the middle",
    );
    add(
        r#"{ $.users[1].email = "Jane*" }"#,
        DOC_COMPOUND,
        true,
        "prefix wildcard",
    );
    add(
        r#"{ $.users[1].email = "*example.org" }"#,
        DOC_COMPOUND,
        false,
        "suffix wildcard mismatch",
    );
    // Numbers.
    let nums = r#"{"bandwidth":80,"latency":40,"refreshRate":60,"responseTime":5,"errorCode":400,"number":[0.001,1000.0],"neg":-5,"code":"404","big":1e3,"flag":true,"off":false,"ratio":0.5}"#;
    add(r#"{ $.bandwidth > 75 }"#, nums, true, ">");
    add(r#"{ $.bandwidth > 80 }"#, nums, false, "> strict");
    add(r#"{ $.latency < 50 }"#, nums, true, "<");
    add(r#"{ $.refreshRate >= 60 }"#, nums, true, ">=");
    add(r#"{ $.responseTime <= 5 }"#, nums, true, "<=");
    add(r#"{ $.responseTime <= 4 }"#, nums, false, "<=");
    add(r#"{ $.errorCode = 400}"#, nums, true, "number =");
    add(r#"{ $.errorCode != 500 }"#, nums, true, "number !=");
    add(r#"{ $.number[0] = 1e-3 }"#, nums, true, "scientific");
    add(r#"{ $.number[0] != 1e+3 }"#, nums, true, "scientific plus");
    add(
        r#"{ $.number[1] = 1e+3 }"#,
        nums,
        true,
        "D08 1000.0 == 1e+3",
    );
    add(
        r#"{ $.big = 1000 }"#,
        nums,
        true,
        "D08 numeric equality of spellings",
    );
    add(r#"{ $.neg = -5 }"#, nums, true, "negative");
    add(r#"{ $.neg < -4.5 }"#, nums, true, "negative decimal");
    add(r#"{ $.ratio = 0.5 }"#, nums, true, "decimal");
    add(
        r#"{ $.code = 404 }"#,
        nums,
        true,
        "D08 numeric literal vs numeric string",
    );
    add(
        r#"{ $.code > 400 }"#,
        nums,
        true,
        "D08 relational on numeric string",
    );
    add(
        r#"{ $.errorCode = "400" }"#,
        nums,
        true,
        "D07 string literal vs number text",
    );
    add(
        r#"{ $.errorCode = 4* }"#,
        nums,
        true,
        "D07 wildcard on number text",
    );
    add(
        r#"{ $.big = "1000" }"#,
        nums,
        false,
        "D07 text comparison uses JSON spelling (1e3)",
    );
    add(r#"{ $.flag IS TRUE }"#, nums, true, "IS TRUE");
    add(r#"{ $.flag IS FALSE }"#, nums, false, "IS FALSE on true");
    add(r#"{ $.off IS FALSE }"#, nums, true, "IS FALSE");
    add(r#"{ $.code IS TRUE }"#, nums, false, "IS TRUE on string");
    add(r#"{ $.flag = "true" }"#, nums, true, "D07 boolean text");
    add(
        r#"{ $.bandwidth > 75 && $.latency < 50 || $.nothing = 1 }"#,
        nums,
        true,
        "mixed precedence",
    );
    add(
        r#"{ $.nothing = 1 || $.bandwidth > 75 && $.latency > 50 }"#,
        nums,
        false,
        "&& binds tighter",
    );
    add(
        r#"{ ($.nothing = 1 || $.bandwidth > 75) && $.latency < 50 }"#,
        nums,
        true,
        "parens",
    );
    add(
        r#"{ $.bandwidth > 75 }"#,
        r#"{"bandwidth":"fast"}"#,
        false,
        "D08 relational on non-numeric string",
    );
    // JSON edge cases.
    add(
        r#"{ $.a = "x" }"#,
        "not json at all",
        false,
        "D12 non-JSON never matches",
    );
    add(
        r#"{ $.a NOT EXISTS }"#,
        "not json at all",
        false,
        "D12 NOT EXISTS on non-JSON",
    );
    add(
        r#"{ $.a NOT EXISTS }"#,
        r#"{"b":1} trailing"#,
        false,
        "D12 trailing garbage",
    );
    add(
        r#"{ $.a NOT EXISTS }"#,
        r#"{"b":[1,2}"#,
        false,
        "D12 malformed nested value",
    );
    add(
        r#"{ $.a NOT EXISTS }"#,
        r#"{"b":01}"#,
        false,
        "D12 invalid number",
    );
    add(
        r#"{ $.a = "x" }"#,
        r#"{"a":"y","a":"x"}"#,
        true,
        "D12 duplicate keys: last wins",
    );
    add(
        r#"{ $.a = "y" }"#,
        r#"{"a":"y","a":"x"}"#,
        false,
        "D12 duplicate keys: last wins",
    );
    add(
        r#"{ $.a.b NOT EXISTS }"#,
        r#"{"a":{"b":1},"a":2}"#,
        true,
        "D12 duplicate keys: later scalar hides earlier object",
    );
    add(
        r#"{ $.a = "x y" }"#,
        "{\n  \"a\" : \"x y\"\n}",
        true,
        "pretty-printed JSON",
    );
    add(
        r#"{ $.a = "é\"q" }"#,
        r#"{"a":"\u00e9\"q"}"#,
        true,
        "escaped string value",
    );
    add(
        r#"{ $.k-1 = "v" }"#,
        r#"{"k\u002d1":"v"}"#,
        true,
        "escaped key",
    );
    add(
        r#"{ $.a_b-c = 1 }"#,
        r#"{"a_b-c":1}"#,
        true,
        "selector name with _ and -",
    );
    add(r#"{ $[1] = "b" }"#, r#"["a","b"]"#, true, "top-level array");
    add(
        r#"{ $.a = "x" }"#,
        r#"{"a":"x"}   "#,
        true,
        "trailing whitespace ok",
    );

    // ---- Space-delimited -------------------------------------------------------------
    add(
        "[ip, user, username, timestamp, request =*.html*, status_code = 4*, bytes]",
        DOC_LINE,
        true,
        "doc delimited",
    );
    add(
        "[ip, user, username, timestamp, request =*.php*, status_code = 4*, bytes]",
        DOC_LINE,
        false,
        "doc delimited: request differs",
    );
    add(
        "[..., request =*.html*, status_code = 4*, bytes]",
        DOC_LINE,
        true,
        "ellipsis first",
    );
    add(
        "[ip, ..., status_code = 404, bytes]",
        DOC_LINE,
        true,
        "ellipsis middle",
    );
    add(
        "[ip = 127.0.0.1, ...]",
        DOC_LINE,
        true,
        "ellipsis last, IP as glob text",
    );
    add("[ip, user, username, timestamp, request =*.html*, status_code = 404 || status_code = 410, bytes]", DOC_LINE, true, "|| in a field");
    add(
        "[ip, user, username, timestamp, request, status_code = 500 || status_code = 410, bytes]",
        DOC_LINE,
        false,
        "|| in a field: neither",
    );
    add(
        "[ip, server, username, timestamp, request, status_code, bytes > 1000]",
        DOC_LINE,
        true,
        "numeric >",
    );
    add(
        "[ip, server, username, timestamp, request, status_code, bytes > 2000]",
        DOC_LINE,
        false,
        "numeric >",
    );
    add(
        "[ip, user, username, timestamp, request, status_code >= 400 && status_code < 500, bytes]",
        DOC_LINE,
        true,
        "&& range",
    );
    add(
        "[ip, user, username, timestamp = \"10/Oct/2000*\", request, status_code, bytes]",
        DOC_LINE,
        true,
        "D14 bracket field stripped",
    );
    add("[ip, user, username, timestamp, request = \"GET /index.html HTTP/1.0\", status_code, bytes]", DOC_LINE, true, "D14 quoted field stripped");
    add(
        "[ip, user, username, timestamp, request, status_code, bytes, extra]",
        DOC_LINE,
        false,
        "D14 fewer event fields than pattern",
    );
    add(
        "[ip, user, rest = \"frank*1534\"]",
        DOC_LINE,
        true,
        "D14 last field takes the rest of the line",
    );
    add(
        "[w1=ERROR, w2]",
        "ERROR disk is full",
        true,
        "D14 first word",
    );
    add(
        "[w1=ERROR, w2]",
        "WARN disk is full",
        false,
        "D14 first word",
    );
    add("[w1=ERROR, w2]", "ERROR", false, "D14 w2 needs a field");
    add(
        "[w1=ERROR]",
        "ERROR disk",
        false,
        "D14 single field takes the whole line (why AWS says add w2)",
    );
    add(
        "[w1=ERROR*]",
        "ERROR disk",
        true,
        "D14 single field takes the whole line",
    );
    add(
        "[w1=ERROR || W1=WARNING, w2]",
        "WARNING low disk",
        true,
        "D14 case-insensitive field name in ||",
    );
    add(
        "[w1!=ERROR && w1!=WARNING, w2]",
        "INFO fine",
        true,
        "!= && !=",
    );
    add(
        "[w1!=ERROR && w1!=WARNING, w2]",
        "ERROR bad",
        false,
        "!= && !=",
    );
    add("[w1 = %^ERR%, w2]", "ERROR x", true, "regex in field");
    add("[w1 = %^ERR%, w2]", "WARN x", false, "regex in field");
    add(
        "[w1 = \"a b\", w2]",
        "\"a b\" c",
        true,
        "quoted pattern value",
    );
    add(
        "[w1, w2 = \"unterminated*\"]",
        "x \"unterminated quote",
        true,
        "D14 unclosed quote runs to end",
    );
    add("[...]", "", true, "bare ellipsis");
    add(
        "[a, b]",
        "  spaced   out  ",
        true,
        "runs of blanks separate",
    );
    add(
        "[a = 5, b]",
        "5.0 x",
        true,
        "D08 numeric equality in fields",
    );
    add(
        "[a = 5, b]",
        "five x",
        false,
        "D08 non-numeric field vs number",
    );
    add(
        "[a != 5, b]",
        "five x",
        true,
        "D08 != non-numeric field vs number",
    );

    // ---- CIS 3.1 unauthorized API calls ------------------------------------------------
    let p = cis("3.1");
    add(
        &p,
        &ct(
            "ec2.amazonaws.com",
            "RunInstances",
            r#","errorCode":"Client.UnauthorizedOperation""#,
        ),
        true,
        "CIS 3.1",
    );
    add(
        &p,
        &ct(
            "s3.amazonaws.com",
            "GetObject",
            r#","errorCode":"AccessDenied""#,
        ),
        true,
        "CIS 3.1",
    );
    add(
        &p,
        &ct(
            "lambda.amazonaws.com",
            "ListFunctions",
            r#","errorCode":"AccessDeniedException""#,
        ),
        true,
        "CIS 3.1 prefix wildcard",
    );
    add(
        &p,
        &ct(
            "ec2.amazonaws.com",
            "RunInstances",
            r#","errorCode":"ThrottlingException""#,
        ),
        false,
        "CIS 3.1 other error",
    );
    add(
        &p,
        &ct("ec2.amazonaws.com", "DescribeInstances", ""),
        false,
        "CIS 3.1 no error",
    );
    add(
        &p,
        &ct(
            "s3.amazonaws.com",
            "GetObject",
            r#","errorCode":"accessdenied""#,
        ),
        false,
        "CIS 3.1 case",
    );
    // ---- CIS 3.2 console sign-in without MFA -----------------------------------------
    let p = cis("3.2");
    add(
        &p,
        &console_login(IAM_USER, "Success", Some("No"), None),
        true,
        "CIS 3.2",
    );
    add(
        &p,
        &console_login(IAM_USER, "Success", Some("Yes"), None),
        false,
        "CIS 3.2 with MFA",
    );
    add(
        &p,
        &console_login(IAM_USER, "Success", Some("YES"), None),
        true,
        "CIS 3.2 D02 `YES` is not `Yes`",
    );
    add(
        &p,
        &console_login(ROOT, "Success", Some("No"), None),
        false,
        "CIS 3.2 root is not IAMUser",
    );
    add(
        &p,
        &console_login(
            IAM_USER,
            "Failure",
            Some("No"),
            Some("Failed authentication"),
        ),
        false,
        "CIS 3.2 failed login",
    );
    add(
        &p,
        &console_login(IAM_USER, "Success", None, None),
        false,
        "CIS 3.2 D06 MFAUsed missing",
    );
    // ---- CIS 3.3 root usage -----------------------------------------------------------
    let p = cis("3.3");
    add(
        &p,
        &ct_as(
            ROOT,
            "ec2.amazonaws.com",
            "DescribeInstances",
            "AwsApiCall",
            "",
        ),
        true,
        "CIS 3.3",
    );
    add(
        &p,
        &console_login(ROOT, "Success", Some("Yes"), None),
        true,
        "CIS 3.3 root console login",
    );
    add(
        &p,
        &ct_as(
            ROOT_VIA_SERVICE,
            "ec2.amazonaws.com",
            "DescribeInstances",
            "AwsApiCall",
            "",
        ),
        false,
        "CIS 3.3 invokedBy present",
    );
    add(
        &p,
        &ct_as(
            ROOT,
            "ec2.amazonaws.com",
            "DescribeInstances",
            "AwsServiceEvent",
            "",
        ),
        false,
        "CIS 3.3 service event",
    );
    add(
        &p,
        &ct("ec2.amazonaws.com", "DescribeInstances", ""),
        false,
        "CIS 3.3 IAM user",
    );
    // ---- CIS 3.4 IAM policy changes --------------------------------------------------
    let p = cis("3.4");
    for name in [
        "PutRolePolicy",
        "DeleteGroupPolicy",
        "CreatePolicyVersion",
        "DetachGroupPolicy",
        "AttachUserPolicy",
    ] {
        add(&p, &ct("iam.amazonaws.com", name, ""), true, "CIS 3.4");
    }
    add(
        &p,
        &ct("iam.amazonaws.com", "GetRolePolicy", ""),
        false,
        "CIS 3.4 read",
    );
    add(
        &p,
        &ct("iam.amazonaws.com", "putrolepolicy", ""),
        false,
        "CIS 3.4 case",
    );
    add(
        &p,
        &ct("iam.amazonaws.com", "CreatePolicyVersions", ""),
        false,
        "CIS 3.4 exact, no prefix match",
    );
    // ---- CIS 3.5 CloudTrail changes ---------------------------------------------------
    let p = cis("3.5");
    for name in [
        "CreateTrail",
        "UpdateTrail",
        "DeleteTrail",
        "StartLogging",
        "StopLogging",
    ] {
        add(
            &p,
            &ct("cloudtrail.amazonaws.com", name, ""),
            true,
            "CIS 3.5",
        );
    }
    add(
        &p,
        &ct("cloudtrail.amazonaws.com", "DescribeTrails", ""),
        false,
        "CIS 3.5 read",
    );
    // ---- CIS 3.6 console auth failures ------------------------------------------------
    let p = cis("3.6");
    add(
        &p,
        &console_login(
            IAM_USER,
            "Failure",
            Some("No"),
            Some("Failed authentication"),
        ),
        true,
        "CIS 3.6",
    );
    add(
        &p,
        &console_login(ROOT, "Failure", None, Some("Failed authentication")),
        true,
        "CIS 3.6 root",
    );
    add(
        &p,
        &console_login(
            IAM_USER,
            "Failure",
            Some("No"),
            Some("No username found in supplied account"),
        ),
        false,
        "CIS 3.6 other failure text",
    );
    add(
        &p,
        &console_login(IAM_USER, "Success", Some("No"), None),
        false,
        "CIS 3.6 success",
    );
    add(
        &p,
        &ct(
            "iam.amazonaws.com",
            "CreateUser",
            r#","errorMessage":"Failed authentication""#,
        ),
        false,
        "CIS 3.6 not ConsoleLogin",
    );
    // ---- CIS 3.7 CMK disable/delete ---------------------------------------------------
    let p = cis("3.7");
    add(
        &p,
        &ct("kms.amazonaws.com", "DisableKey", ""),
        true,
        "CIS 3.7",
    );
    add(
        &p,
        &ct("kms.amazonaws.com", "ScheduleKeyDeletion", ""),
        true,
        "CIS 3.7",
    );
    add(
        &p,
        &ct("kms.amazonaws.com", "EnableKey", ""),
        false,
        "CIS 3.7 other call",
    );
    add(
        &p,
        &ct("ec2.amazonaws.com", "DisableKey", ""),
        false,
        "CIS 3.7 other source",
    );
    // ---- CIS 3.8 S3 bucket policy -----------------------------------------------------
    let p = cis("3.8");
    for name in [
        "PutBucketAcl",
        "PutBucketPolicy",
        "DeleteBucketCors",
        "PutBucketReplication",
        "DeleteBucketLifecycle",
    ] {
        add(&p, &ct("s3.amazonaws.com", name, ""), true, "CIS 3.8");
    }
    add(
        &p,
        &ct("s3.amazonaws.com", "GetBucketPolicy", ""),
        false,
        "CIS 3.8 read",
    );
    add(
        &p,
        &ct("s3control.amazonaws.com", "PutBucketPolicy", ""),
        false,
        "CIS 3.8 other source",
    );
    // ---- CIS 3.9 AWS Config -----------------------------------------------------------
    let p = cis("3.9");
    for name in [
        "StopConfigurationRecorder",
        "DeleteDeliveryChannel",
        "PutDeliveryChannel",
        "PutConfigurationRecorder",
    ] {
        add(&p, &ct("config.amazonaws.com", name, ""), true, "CIS 3.9");
    }
    add(
        &p,
        &ct("config.amazonaws.com", "DescribeConfigRules", ""),
        false,
        "CIS 3.9 read",
    );
    add(
        &p,
        &ct("s3.amazonaws.com", "PutDeliveryChannel", ""),
        false,
        "CIS 3.9 other source",
    );
    // ---- CIS 3.10 security groups -----------------------------------------------------
    let p = cis("3.10");
    for name in [
        "AuthorizeSecurityGroupIngress",
        "RevokeSecurityGroupEgress",
        "CreateSecurityGroup",
        "DeleteSecurityGroup",
    ] {
        add(&p, &ct("ec2.amazonaws.com", name, ""), true, "CIS 3.10");
    }
    add(
        &p,
        &ct("ec2.amazonaws.com", "DescribeSecurityGroups", ""),
        false,
        "CIS 3.10 read",
    );
    // ---- CIS 3.11 NACLs ---------------------------------------------------------------
    let p = cis("3.11");
    for name in [
        "CreateNetworkAcl",
        "CreateNetworkAclEntry",
        "ReplaceNetworkAclAssociation",
        "DeleteNetworkAclEntry",
    ] {
        add(&p, &ct("ec2.amazonaws.com", name, ""), true, "CIS 3.11");
    }
    add(
        &p,
        &ct("ec2.amazonaws.com", "DescribeNetworkAcls", ""),
        false,
        "CIS 3.11 read",
    );
    // ---- CIS 3.12 network gateways ----------------------------------------------------
    let p = cis("3.12");
    for name in [
        "CreateCustomerGateway",
        "AttachInternetGateway",
        "DetachInternetGateway",
    ] {
        add(&p, &ct("ec2.amazonaws.com", name, ""), true, "CIS 3.12");
    }
    add(
        &p,
        &ct("ec2.amazonaws.com", "CreateNatGateway", ""),
        false,
        "CIS 3.12 NAT gateway not listed",
    );
    // ---- CIS 3.13 route tables --------------------------------------------------------
    let p = cis("3.13");
    for name in [
        "CreateRoute",
        "CreateRouteTable",
        "ReplaceRouteTableAssociation",
        "DisassociateRouteTable",
    ] {
        add(&p, &ct("ec2.amazonaws.com", name, ""), true, "CIS 3.13");
    }
    add(
        &p,
        &ct("ec2.amazonaws.com", "DescribeRouteTables", ""),
        false,
        "CIS 3.13 read",
    );
    // ---- CIS 3.14 VPCs ----------------------------------------------------------------
    let p = cis("3.14");
    for name in [
        "CreateVpc",
        "ModifyVpcAttribute",
        "AcceptVpcPeeringConnection",
        "EnableVpcClassicLink",
    ] {
        add(&p, &ct("ec2.amazonaws.com", name, ""), true, "CIS 3.14");
    }
    add(
        &p,
        &ct("ec2.amazonaws.com", "CreateVpcEndpoint", ""),
        false,
        "CIS 3.14 endpoint not listed",
    );
    // ---- CIS v1.4 variants ------------------------------------------------------------
    let p = cis("4.1");
    let from_delivery = |code: &str, name: &str| {
        ct(
            "s3.amazonaws.com",
            name,
            &format!(r#","errorCode":"{code}","sourceIPAddress":"delivery.logs.amazonaws.com""#),
        )
    };
    add(
        &p,
        &ct(
            "s3.amazonaws.com",
            "GetObject",
            r#","errorCode":"AccessDenied""#,
        ),
        true,
        "CIS 4.1",
    );
    add(
        &p,
        &from_delivery("AccessDenied", "PutObject"),
        false,
        "CIS 4.1 D17 delivery.logs excluded for AccessDenied",
    );
    add(
        &p,
        &from_delivery("Client.UnauthorizedOperation", "PutObject"),
        true,
        "CIS 4.1 D17 exclusion does not bind the first branch",
    );
    add(
        &p,
        &ct(
            "s3.amazonaws.com",
            "HeadBucket",
            r#","errorCode":"AccessDenied""#,
        ),
        false,
        "CIS 4.1 HeadBucket excluded",
    );
    add(
        &p,
        &ct("s3.amazonaws.com", "GetObject", ""),
        false,
        "CIS 4.1 no error",
    );
    let paren = r#"{(($.errorCode = "*UnauthorizedOperation") || ($.errorCode = "AccessDenied*")) && (($.sourceIPAddress!="delivery.logs.amazonaws.com") && ($.eventName!="HeadBucket"))}"#;
    add(
        paren,
        &from_delivery("Client.UnauthorizedOperation", "PutObject"),
        false,
        "CIS 4.1 parenthesised form excludes both",
    );
    add(
        paren,
        &ct(
            "ec2.amazonaws.com",
            "RunInstances",
            r#","errorCode":"Client.UnauthorizedOperation""#,
        ),
        true,
        "CIS 4.1 parenthesised form",
    );
    let all_or = r#"{ ($.errorCode ="*UnauthorizedOperation") || ($.errorCode ="AccessDenied*") || ($.sourceIPAddress!="delivery.logs.amazonaws.com") || ($.eventName!="HeadBucket") }"#;
    add(
        all_or,
        &ct("ec2.amazonaws.com", "DescribeInstances", ""),
        true,
        "CIS 4.1 all-|| form matches nearly everything",
    );
    let p = cis("4.2");
    add(
        &p,
        &console_login(ROOT, "Success", Some("No"), None),
        true,
        "CIS 4.2 any identity",
    );
    add(
        &p,
        &console_login(IAM_USER, "Success", Some("Yes"), None),
        false,
        "CIS 4.2 MFA used",
    );
    let p = cis("4.3");
    add(
        &p,
        &ct_as(
            ROOT,
            "iam.amazonaws.com",
            "CreateAccessKey",
            "AwsApiCall",
            "",
        ),
        true,
        "CIS 4.3",
    );
    add(
        &p,
        &ct_as(
            ROOT_VIA_SERVICE,
            "iam.amazonaws.com",
            "CreateAccessKey",
            "AwsApiCall",
            "",
        ),
        false,
        "CIS 4.3 invokedBy",
    );
    let p = cis("4.15");
    add(
        &p,
        &ct("organizations.amazonaws.com", "CreateAccount", ""),
        true,
        "CIS 4.15",
    );
    add(
        &p,
        &ct("organizations.amazonaws.com", "LeaveOrganization", ""),
        true,
        "CIS 4.15",
    );
    add(
        &p,
        &ct("organizations.amazonaws.com", "DescribeAccount", ""),
        false,
        "CIS 4.15 read",
    );
    add(
        &p,
        &ct("iam.amazonaws.com", "CreateAccount", ""),
        false,
        "CIS 4.15 other source",
    );
    // Spaced style of AWS's own alarm guide (v1.4+ 4.4–4.14 are written this way).
    add(
        "{ ($.eventName = ConsoleLogin) && ($.errorMessage = \"Failed authentication\") }",
        &console_login(
            IAM_USER,
            "Failure",
            Some("No"),
            Some("Failed authentication"),
        ),
        true,
        "spaced CIS style",
    );
    add(
        "{ ($.eventName = CreateTrail) || ($.eventName = UpdateTrail) }",
        &ct("cloudtrail.amazonaws.com", "UpdateTrail", ""),
        true,
        "spaced CIS style",
    );
    v
}

#[test]
fn table_has_at_least_150_cases_and_all_pass() {
    let cases = cases();
    assert!(cases.len() >= 150, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        let pattern = match FilterPattern::parse(&c.pattern) {
            Ok(p) => p,
            Err(e) => {
                failures.push(format!(
                    "#{i} [{}] {:?}: parse error {e}",
                    c.note, c.pattern
                ));
                continue;
            }
        };
        let got = pattern.matches(c.event.as_bytes());
        if got != c.expected {
            failures.push(format!(
                "#{i} [{}] pattern {:?} on {:?}: expected {}, got {got}",
                c.note, c.pattern, c.event, c.expected
            ));
        }
    }
    println!("{} cases", cases.len());
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn filter_set_agrees_with_each_pattern_on_every_table_event() {
    let cases = cases();
    let patterns: Vec<FilterPattern> = cases
        .iter()
        .filter_map(|c| FilterPattern::parse(&c.pattern).ok())
        .collect();
    let set = FilterSet::new(patterns.clone());
    for c in &cases {
        let got = set.matches(c.event.as_bytes());
        let want: Vec<bool> = patterns
            .iter()
            .map(|p| p.matches(c.event.as_bytes()))
            .collect();
        assert_eq!(got, want, "event {:?}", c.event);
    }
}

#[test]
fn every_cis_filter_has_matching_and_non_matching_cases() {
    let cases = cases();
    for f in CIS_FILTERS.iter().chain(CIS_V14_VARIANTS) {
        let of = |want: bool| {
            cases
                .iter()
                .any(|c| c.pattern == f.pattern && c.expected == want)
        };
        assert!(
            of(true) && of(false),
            "CIS {} lacks a matching or non-matching case",
            f.id
        );
    }
}
