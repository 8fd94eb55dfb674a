//! Every operator, the examples of AWS's documentation, validation errors, and the decisions
//! of the crate documentation (tests named `decision_...`).

use serde_json::{json, Value};
use trailpipe_eventpattern::{ErrorKind, Pattern, PatternError, MAX_PATTERN_CHARS};

fn m(pattern: &str, event: Value) -> bool {
    Pattern::parse(pattern)
        .unwrap_or_else(|e| panic!("{pattern}: {e}"))
        .matches(&event)
}

fn refused(pattern: &str) -> PatternError {
    match Pattern::parse(pattern) {
        Ok(p) => panic!("{pattern} was accepted: {p:?}"),
        Err(e) => e,
    }
}

fn kind(pattern: &str) -> ErrorKind {
    refused(pattern).kind()
}

// ---- Exact values ------------------------------------------------------------------------

#[test]
fn exact_string_is_case_sensitive() {
    assert!(m(r#"{"a": ["x", "y"]}"#, json!({"a": "y"})));
    assert!(!m(r#"{"a": ["x"]}"#, json!({"a": "X"})));
    assert!(!m(r#"{"a": ["x"]}"#, json!({"b": "x"})));
}

#[test]
fn exact_numbers_compare_numerically() {
    for v in [json!(300), json!(300.0), json!(3e2)] {
        assert!(m(r#"{"a": [300]}"#, json!({ "a": v.clone() })), "{v}");
        assert!(m(r#"{"a": [3.0e2]}"#, json!({ "a": v })));
    }
    assert!(!m(r#"{"a": [300]}"#, json!({"a": 301})));
    assert!(!m(r#"{"a": [300]}"#, json!({"a": "300"})));
    // Large integers compare exactly, not through f64.
    assert!(!m(
        r#"{"a": [123456789012345678]}"#,
        json!({"a": 123456789012345679_u64})
    ));
    assert!(m(r#"{"a": [-7]}"#, json!({"a": -7})));
}

#[test]
fn exact_bool_and_null() {
    assert!(m(r#"{"a": [true]}"#, json!({"a": true})));
    assert!(!m(r#"{"a": [true]}"#, json!({"a": "true"})));
    assert!(!m(r#"{"a": [true]}"#, json!({"a": 1})));
    assert!(m(r#"{"a": [false]}"#, json!({"a": false})));
    assert!(m(r#"{"a": [null]}"#, json!({"a": null})));
    assert!(!m(r#"{"a": [null]}"#, json!({})));
    assert!(!m(r#"{"a": [null]}"#, json!({"a": "null"})));
}

#[test]
fn empty_string_is_not_null() {
    // "Matching null values and empty strings in Amazon EventBridge event patterns".
    let event = json!({
        "version": "0", "id": "3e3c153a-8339-4e30-8c35-687ebef853fe",
        "detail-type": "EC2 Instance Launch Successful", "source": "aws.autoscaling",
        "account": "123456789012", "time": "2015-11-11T21:31:47Z", "region": "us-east-1",
        "resources": [], "detail": {"eventVersion": "", "responseElements": null}
    });
    assert!(m(r#"{"detail": {"eventVersion": [""]}}"#, event.clone()));
    assert!(m(
        r#"{"detail": {"responseElements": [null]}}"#,
        event.clone()
    ));
    assert!(!m(r#"{"detail": {"eventVersion": [null]}}"#, event.clone()));
    assert!(!m(
        r#"{"detail": {"responseElements": [""]}}"#,
        event.clone()
    ));
    // "Amazon EventBridge event patterns", field matching example.
    assert!(m(
        r#"{"source": ["aws.autoscaling"], "detail-type": ["EC2 Instance Launch Successful"], "detail": {"responseElements": [null]}}"#,
        event
    ));
}

#[test]
fn event_arrays_match_when_any_element_matches() {
    // "Arrays in Amazon EventBridge event patterns".
    let pattern = r#"{"resources": [
        "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f",
        "arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f",
        "arn:aws:ec2:us-east-1:444455556666:instance/i-b188560f"]}"#;
    let event = json!({"resources": [
        "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:eb56d16b-bbf0-401d-b893-d5978ed4a025:autoScalingGroupName/ASGTerminate",
        "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f"]});
    assert!(m(pattern, event));
    assert!(!m(pattern, json!({"resources": ["arn:other"]})));
    assert!(m(r#"{"a": [3]}"#, json!({"a": [[1, [3]]]})));
}

#[test]
fn nested_fields_and_the_ec2_example() {
    // "Amazon EventBridge event patterns": the EC2 instance-termination example.
    let event = json!({
        "version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2",
        "account": "111122223333", "time": "2017-12-22T18:43:48Z", "region": "us-west-1",
        "resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"],
        "detail": {"instance-id": "i-1234567890abcdef0", "state": "terminated"}
    });
    let p = r#"{"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"], "detail": {"state": ["terminated"]}}"#;
    assert!(m(p, event.clone()));
    assert!(m(
        r#"{"source": ["aws.ec2", "aws.fargate"]}"#,
        event.clone()
    ));
    assert!(!m(r#"{"detail": {"state": ["running"]}}"#, event.clone()));
    // The nesting must be the event's: "state" is not at the top level.
    assert!(!m(r#"{"state": ["terminated"]}"#, event));
}

#[test]
fn macie_value_matching_example() {
    // "Amazon EventBridge event patterns": value matching (Macie alert, numbers nested).
    let event = json!({
        "version": "0", "detail-type": "Macie Alert", "source": "aws.macie",
        "detail": {"notification-type": "ALERT_CREATED", "tags": ["Custom_Alert", "Insider"],
                   "risk-score": 80, "trigger": {"alert-type": "basic", "risk": 8}}
    });
    let p = r#"{"source": ["aws.macie"], "detail-type": ["Macie Alert"], "detail": {"risk-score": [80], "trigger": {"risk": [8]}}}"#;
    assert!(m(p, event.clone()));
    assert!(m(r#"{"detail": {"tags": ["Insider"]}}"#, event));
}

// ---- prefix / suffix / equals-ignore-case / wildcard --------------------------------------

#[test]
fn prefix_and_suffix() {
    // "Content filtering": prefix on "time", suffix on "FileName".
    assert!(m(
        r#"{"time": [{"prefix": "2017-10-02"}]}"#,
        json!({"time": "2017-10-02T18:43:48Z"})
    ));
    assert!(!m(
        r#"{"time": [{"prefix": "2017-10-02"}]}"#,
        json!({"time": "2017-10-03T18:43:48Z"})
    ));
    assert!(m(
        r#"{"FileName": [{"suffix": ".png"}]}"#,
        json!({"FileName": "a.png"})
    ));
    assert!(!m(
        r#"{"FileName": [{"suffix": ".png"}]}"#,
        json!({"FileName": "a.PNG"})
    ));
    assert!(!m(r#"{"a": [{"prefix": "1"}]}"#, json!({"a": 123})));
    assert!(m(r#"{"a": [{"prefix": ""}]}"#, json!({"a": "anything"})));
}

#[test]
fn ignore_case_forms() {
    // "Content filtering": prefix/suffix with equals-ignore-case, and equals-ignore-case.
    let p = r#"{"detail": {"service": [{"prefix": {"equals-ignore-case": "EventB"}}]}}"#;
    for s in ["EventBridge", "EVENTBRIDGE", "eventb"] {
        assert!(m(p, json!({"detail": {"service": s}})), "{s}");
    }
    assert!(!m(p, json!({"detail": {"service": "Event"}})));
    let p = r#"{"detail": {"FileName": [{"suffix": {"equals-ignore-case": ".png"}}]}}"#;
    assert!(m(p, json!({"detail": {"FileName": "A.PNG"}})));
    assert!(!m(p, json!({"detail": {"FileName": "A.PNGX"}})));
    let p =
        r#"{"detail-type": [{"equals-ignore-case": "ec2 instance state-change notification"}]}"#;
    assert!(m(
        p,
        json!({"detail-type": "EC2 Instance State-change Notification"})
    ));
    assert!(!m(p, json!({"detail-type": "EC2 Instance"})));
    assert!(m(
        r#"{"a": [{"equals-ignore-case": "ÉTÉ"}]}"#,
        json!({"a": "été"})
    ));
    assert!(!m(
        r#"{"a": [{"equals-ignore-case": "1"}]}"#,
        json!({"a": 1})
    ));
}

#[test]
fn wildcard() {
    // "Content filtering": wildcard "dir/*.png" and the escapes of the blog post.
    let p = r#"{"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:*:event-bus/*"}]}"#;
    assert!(m(
        p,
        json!({"EventBusArn": "arn:aws:events:us-east-1:123456789012:event-bus/default"})
    ));
    assert!(!m(
        p,
        json!({"EventBusArn": "arn:aws:events:us-west-2:123456789012:event-bus/default"})
    ));
    let p = r#"{"FilePath": [{"wildcard": "dir/*.png"}]}"#;
    assert!(m(p, json!({"FilePath": "dir/a.png"})));
    assert!(m(p, json!({"FilePath": "dir/sub/a.png"})));
    assert!(m(p, json!({"FilePath": "dir/.png"})));
    assert!(!m(p, json!({"FilePath": "dir/a.png.bak"})));
    assert!(!m(p, json!({"FilePath": "xdir/a.png"})));
    assert!(m(r#"{"a": [{"wildcard": "a\\*b"}]}"#, json!({"a": "a*b"})));
    assert!(!m(r#"{"a": [{"wildcard": "a\\*b"}]}"#, json!({"a": "axb"})));
    assert!(m(
        r#"{"a": [{"wildcard": "a\\\\b"}]}"#,
        json!({"a": "a\\b"})
    ));
    assert!(m(r#"{"a": [{"wildcard": "*"}]}"#, json!({"a": ""})));
    assert!(m(
        r#"{"a": [{"wildcard": "*ab*ab*"}]}"#,
        json!({"a": "xabyab"})
    ));
    assert!(!m(
        r#"{"a": [{"wildcard": "*ab*ab*"}]}"#,
        json!({"a": "xaby"})
    ));
    assert!(!m(r#"{"a": [{"wildcard": "ab*ba"}]}"#, json!({"a": "aba"})));
    assert!(m(
        r#"{"a": [{"wildcard": "exact"}]}"#,
        json!({"a": "exact"})
    ));
    assert!(!m(r#"{"a": [{"wildcard": "1*"}]}"#, json!({"a": 12})));
}

// ---- anything-but -------------------------------------------------------------------------

#[test]
fn anything_but_values_and_lists() {
    // "Content filtering": anything-but with a string, a number and lists of each.
    let p = r#"{"detail": {"state": [{"anything-but": "initializing"}]}}"#;
    assert!(m(p, json!({"detail": {"state": "running"}})));
    assert!(!m(p, json!({"detail": {"state": "initializing"}})));
    let p = r#"{"detail": {"x-limit": [{"anything-but": 123}]}}"#;
    assert!(m(p, json!({"detail": {"x-limit": 124}})));
    assert!(!m(p, json!({"detail": {"x-limit": 123.0}})));
    let p = r#"{"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}}"#;
    assert!(m(p, json!({"detail": {"state": "running"}})));
    assert!(!m(p, json!({"detail": {"state": "overloaded"}})));
    let p = r#"{"detail": {"x-limit": [{"anything-but": [100, 200, 300]}]}}"#;
    assert!(m(p, json!({"detail": {"x-limit": 301.8}})));
    assert!(!m(p, json!({"detail": {"x-limit": 200}})));
}

#[test]
fn anything_but_prefix_suffix_ignore_case_wildcard() {
    let p = r#"{"detail": {"state": [{"anything-but": {"prefix": "init"}}]}}"#;
    assert!(m(p, json!({"detail": {"state": "running"}})));
    assert!(!m(p, json!({"detail": {"state": "initializing"}})));
    let p = r#"{"FileName": [{"anything-but": {"suffix": ".png"}}]}"#;
    assert!(m(p, json!({"FileName": "a.txt"})));
    assert!(!m(p, json!({"FileName": "a.png"})));
    let p = r#"{"state": [{"anything-but": {"equals-ignore-case": "initializing"}}]}"#;
    assert!(!m(p, json!({"state": "INITIALIZING"})));
    assert!(m(p, json!({"state": "running"})));
    let p = r#"{"state": [{"anything-but": {"equals-ignore-case": ["Stopped", "overloaded"]}}]}"#;
    assert!(!m(p, json!({"state": "STOPPED"})));
    assert!(m(p, json!({"state": "running"})));
    let p = r#"{"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]}"#;
    assert!(!m(p, json!({"FilePath": "/usr/lib/x"})));
    assert!(m(p, json!({"FilePath": "/usr/bin/x"})));
}

#[test]
fn anything_but_needs_a_value() {
    assert!(!m(r#"{"a": [{"anything-but": "x"}]}"#, json!({})));
    assert!(!m(
        r#"{"a": [{"anything-but": "x"}]}"#,
        json!({"a": {"b": 1}})
    ));
    assert!(!m(r#"{"a": [{"anything-but": "x"}]}"#, json!({"a": []})));
}

#[test]
fn decision_anything_but_matches_other_types() {
    assert!(m(r#"{"a": [{"anything-but": "x"}]}"#, json!({"a": 5})));
    assert!(m(r#"{"a": [{"anything-but": "x"}]}"#, json!({"a": null})));
    assert!(m(r#"{"a": [{"anything-but": [1, 2]}]}"#, json!({"a": "1"})));
    assert!(m(
        r#"{"a": [{"anything-but": {"prefix": "x"}}]}"#,
        json!({"a": 5})
    ));
    assert!(m(
        r#"{"a": [{"anything-but": {"wildcard": "*"}}]}"#,
        json!({"a": true})
    ));
}

#[test]
fn decision_anything_but_on_arrays_needs_one_non_excluded_element() {
    let p = r#"{"a": [{"anything-but": ["x", "y"]}]}"#;
    assert!(m(p, json!({"a": ["x", "z"]})));
    assert!(!m(p, json!({"a": ["x", "y"]})));
}

// ---- numeric ------------------------------------------------------------------------------

#[test]
fn numeric_ranges() {
    // "Content filtering": numeric matching example, all fields must match.
    let p = r#"{"detail": {
        "c-count": [{"numeric": [">", 0, "<=", 5]}],
        "d-count": [{"numeric": ["<", 10]}],
        "x-limit": [{"numeric": ["=", 3.018e2]}]}}"#;
    assert!(m(
        p,
        json!({"detail": {"c-count": 5, "d-count": 9.99, "x-limit": 301.8}})
    ));
    assert!(!m(
        p,
        json!({"detail": {"c-count": 0, "d-count": 9, "x-limit": 301.8}})
    ));
    assert!(!m(
        p,
        json!({"detail": {"c-count": 1, "d-count": 10, "x-limit": 301.8}})
    ));
    assert!(!m(
        p,
        json!({"detail": {"c-count": 1, "d-count": 1, "x-limit": 301}})
    ));
    assert!(m(
        r#"{"a": [{"numeric": [">=", -1.5]}]}"#,
        json!({"a": -1.5})
    ));
    assert!(!m(
        r#"{"a": [{"numeric": [">", -1.5]}]}"#,
        json!({"a": -1.5})
    ));
    assert!(m(r#"{"a": [{"numeric": ["<=", 7]}]}"#, json!({"a": 7})));
    assert!(m(
        r#"{"a": [{"numeric": [">=", 1, "<", 2]}]}"#,
        json!({"a": 1})
    ));
    assert!(!m(
        r#"{"a": [{"numeric": [">=", 1, "<", 2]}]}"#,
        json!({"a": 2})
    ));
    assert!(!m(r#"{"a": [{"numeric": [">", 0]}]}"#, json!({"a": "5"})));
    assert!(!m(r#"{"a": [{"numeric": [">", 0]}]}"#, json!({"a": true})));
    assert!(m(
        r#"{"a": [{"numeric": [">", 0]}]}"#,
        json!({"a": [-1, 3]})
    ));
}

#[test]
fn complex_example_with_multiple_matching() {
    // "Content filtering": complex example (anything-but, numeric, prefix).
    let p = r#"{
      "time": [{"prefix": "2017-10-02"}],
      "detail": {
        "state": [{"anything-but": "initializing"}],
        "c-count": [{"numeric": [">", 0, "<=", 5]}],
        "d-count": [{"numeric": ["<", 10]}],
        "x-limit": [{"anything-but": [100, 200, 300]}]}}"#;
    // The event of event-ruler's README, from which the docs' example comes.
    let event = json!({
        "version": "0", "id": "ddddd4-aaaa-7777-4444-345dd43cc333",
        "detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2",
        "account": "012345679012", "time": "2017-10-02T16:24:49Z", "region": "us-east-1",
        "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000"],
        "detail": {"c-count": 5, "d-count": 3, "x-limit": 301.8, "source-ip": "10.0.0.33",
                   "instance-id": "i-000000aaaaaa00000", "state": "running"}
    });
    assert!(m(p, event.clone()));
    assert!(m(
        r#"{"detail": {"source-ip": [{"cidr": "10.0.0.0/8"}]}}"#,
        event.clone()
    ));
    let mut other = event;
    other["detail"]["state"] = json!("initializing");
    assert!(!m(p, other));
}

// ---- cidr ---------------------------------------------------------------------------------

#[test]
fn cidr_ipv4_and_ipv6() {
    // "Content filtering": IP address matching.
    let p = r#"{"detail": {"sourceIPAddress": [{"cidr": "10.0.0.0/24"}]}}"#;
    assert!(m(p, json!({"detail": {"sourceIPAddress": "10.0.0.255"}})));
    assert!(!m(p, json!({"detail": {"sourceIPAddress": "10.0.1.0"}})));
    assert!(!m(
        p,
        json!({"detail": {"sourceIPAddress": "AWS Internal"}})
    ));
    assert!(!m(
        p,
        json!({"detail": {"sourceIPAddress": "::ffff:10.0.0.1"}})
    ));
    let p = r#"{"ip": [{"cidr": "2001:db8::/32"}]}"#;
    assert!(m(p, json!({"ip": "2001:db8:1::5"})));
    assert!(!m(p, json!({"ip": "2001:db9::5"})));
    assert!(!m(p, json!({"ip": "10.0.0.1"})));
    assert!(m(
        r#"{"ip": [{"cidr": "0.0.0.0/0"}]}"#,
        json!({"ip": "1.2.3.4"})
    ));
    assert!(m(
        r#"{"ip": [{"cidr": "1.2.3.4/32"}]}"#,
        json!({"ip": "1.2.3.4"})
    ));
    assert!(!m(
        r#"{"ip": [{"cidr": "1.2.3.4/32"}]}"#,
        json!({"ip": "1.2.3.5"})
    ));
}

#[test]
fn decision_cidr_host_bits_are_ignored() {
    // moto refuses (matches nothing) "10.0.0.7/24" because Python's ip_network is strict.
    assert!(m(
        r#"{"ip": [{"cidr": "10.0.0.7/24"}]}"#,
        json!({"ip": "10.0.0.200"})
    ));
}

// ---- exists -------------------------------------------------------------------------------

#[test]
fn exists_examples() {
    // "Content filtering": exists matching, both documented events.
    let p = r#"{"detail": {"c-count": [{"exists": false}]}}"#;
    let e1 = json!({
        "detail-type": ["EC2 Instance State-change Notification"],
        "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-02ebd4584a2ebd341"],
        "detail": {"state": ["initializing", "running"]}
    });
    let e2 = json!({
        "detail-type": ["EC2 Instance State-change Notification"],
        "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-02ebd4584a2ebd341"],
        "detail": {"state": ["initializing", "running"], "c-count": {"c1": 100}}
    });
    assert!(m(p, e1.clone()));
    assert!(m(p, e2.clone()));
    let p = r#"{"detail": {"c-count": [{"exists": true}]}}"#;
    assert!(!m(p, e1));
    assert!(!m(p, e2));
    assert!(m(p, json!({"detail": {"c-count": 0}})));
    assert!(m(p, json!({"detail": {"c-count": null}})));
    assert!(!m(
        r#"{"detail": {"c-count": [{"exists": false}]}}"#,
        json!({"detail": {"c-count": null}})
    ));
}

#[test]
fn exists_false_when_the_parent_is_missing() {
    assert!(m(r#"{"a": {"b": [{"exists": false}]}}"#, json!({})));
    assert!(m(
        r#"{"a": {"b": [{"exists": false}]}}"#,
        json!({"a": "scalar"})
    ));
    assert!(!m(
        r#"{"a": {"b": [{"exists": true}]}}"#,
        json!({"a": "scalar"})
    ));
}

#[test]
fn decision_empty_array_is_absent() {
    // moto treats [] as present: exists:true matches it there.
    assert!(m(r#"{"a": [{"exists": false}]}"#, json!({"a": []})));
    assert!(!m(r#"{"a": [{"exists": true}]}"#, json!({"a": []})));
    assert!(m(r#"{"a": [{"exists": true}]}"#, json!({"a": [1]})));
    assert!(m(r#"{"a": [{"exists": false}]}"#, json!({"a": [{"b": 1}]})));
}

#[test]
fn exists_and_values_in_one_array() {
    let p = r#"{"a": [{"exists": false}, "x"]}"#;
    assert!(m(p, json!({})));
    assert!(m(p, json!({"a": "x"})));
    assert!(!m(p, json!({"a": "y"})));
}

// ---- $or ----------------------------------------------------------------------------------

#[test]
fn or_examples() {
    // "Content filtering" / event-ruler README: "$or" examples.
    let p = r#"{"source": ["aws.cloudwatch"], "$or": [
        {"metricName": ["CPUUtilization", "ReadLatency"]},
        {"namespace": ["AWS/EC2", "AWS/ES"]}]}"#;
    assert!(m(
        p,
        json!({"source": "aws.cloudwatch", "metricName": "ReadLatency"})
    ));
    assert!(m(
        p,
        json!({"source": "aws.cloudwatch", "namespace": "AWS/ES"})
    ));
    assert!(!m(
        p,
        json!({"source": "aws.cloudwatch", "namespace": "AWS/S3"})
    ));
    assert!(!m(p, json!({"source": "aws.ec2", "namespace": "AWS/ES"})));
    let p = r#"{"source": ["aws.cloudwatch"], "$or": [
        {"metricName": ["CPUUtilization", "ReadLatency"]},
        {"metricType": ["MetricType"], "namespace": ["AWS/EC2", "AWS/ES"],
         "$or": [{"metricId": [1234]}, {"spaceId": [1000]}]},
        {"scope": ["Service"]}]}"#;
    assert!(m(
        p,
        json!({"source": "aws.cloudwatch", "metricType": "MetricType", "namespace": "AWS/EC2", "spaceId": 1000})
    ));
    assert!(!m(
        p,
        json!({"source": "aws.cloudwatch", "metricType": "MetricType", "namespace": "AWS/EC2", "spaceId": 1})
    ));
    assert!(m(
        p,
        json!({"source": "aws.cloudwatch", "scope": "Service"})
    ));
    let p = r#"{"detail": {"$or": [{"c-count": [{"numeric": [">", 0, "<=", 5]}]}, {"d-count": [{"numeric": ["<", 10]}]}]}}"#;
    assert!(m(p, json!({"detail": {"d-count": 3}})));
    assert!(!m(p, json!({"detail": {"d-count": 30}})));
}

// ---- arrays of objects --------------------------------------------------------------------

#[test]
fn arrays_of_objects_use_one_element() {
    // event-ruler README, "JSON Array Matching".
    let event = json!({"employees": [
        {"firstName": "John", "lastName": "Doe"},
        {"firstName": "Anna", "lastName": "Smith"},
        {"firstName": "Peter", "lastName": "Jones"}]});
    assert!(m(
        r#"{"employees": {"firstName": ["Anna"]}}"#,
        event.clone()
    ));
    assert!(m(
        r#"{"employees": {"firstName": ["Anna"], "lastName": ["Smith"]}}"#,
        event.clone()
    ));
    assert!(!m(
        r#"{"employees": {"firstName": ["Anna"], "lastName": ["Jones"]}}"#,
        event
    ));
    let nested = json!({"employees": [[{"firstName": "John"}, {"firstName": "Anna"}], [{"firstName": "Peter"}]]});
    assert!(m(r#"{"employees": {"firstName": ["Peter"]}}"#, nested));
}

#[test]
fn decision_exists_false_through_arrays_of_objects_is_per_element() {
    let p = r#"{"a": {"b": [{"exists": false}]}}"#;
    assert!(m(p, json!({"a": [{"b": 1}, {"c": 2}]})));
    assert!(!m(p, json!({"a": [{"b": 1}]})));
    assert!(m(p, json!({"a": [1, 2]})));
}

// ---- validation ---------------------------------------------------------------------------

#[test]
fn messages_read_like_eventbridge() {
    let e = refused(r#"{"a": []}"#);
    assert_eq!(
        e.to_string(),
        "Event pattern is not valid. Reason: Empty arrays are not allowed"
    );
    assert_eq!(e.path(), "a");
    let e = refused(r#"{"a": {"b": "x"}}"#);
    assert_eq!(
        e.to_string(),
        r#"Event pattern is not valid. Reason: "b" must be an object or an array"#
    );
    assert_eq!(e.path(), "a.b");
    assert_eq!(
        refused(r#"{"a": [{"anything-but": [{"prefix": "x"}]}]}"#).reason(),
        "Inside anything but list, start|null|boolean is not supported."
    );
}

#[test]
fn structure_errors() {
    assert_eq!(kind("not json"), ErrorKind::InvalidJson);
    assert_eq!(kind(r#"{"a": ["x"]"#), ErrorKind::InvalidJson);
    assert_eq!(kind(r#"["a"]"#), ErrorKind::NotAnObject);
    assert_eq!(kind(r#""a""#), ErrorKind::NotAnObject);
    assert_eq!(kind(r#"{"a": "x"}"#), ErrorKind::NotObjectOrArray);
    assert_eq!(kind(r#"{"a": 1}"#), ErrorKind::NotObjectOrArray);
    assert_eq!(kind(r#"{"a": null}"#), ErrorKind::NotObjectOrArray);
    assert_eq!(kind(r#"{"a": []}"#), ErrorKind::EmptyArray);
    assert_eq!(kind(r#"{"a": {}}"#), ErrorKind::EmptyObject);
    assert_eq!(kind(r#"{"a": [["x"]]}"#), ErrorKind::BadMatchValue);
    assert_eq!(kind(r#"{"a": [{}]}"#), ErrorKind::BadMatchValue);
    assert_eq!(
        kind(r#"{"a": [{"prefix": "x", "suffix": "y"}]}"#),
        ErrorKind::BadMatchValue
    );
}

#[test]
fn decision_empty_pattern_is_refused() {
    // event-ruler refuses empty objects everywhere; moto accepts {} and matches everything.
    assert_eq!(kind("{}"), ErrorKind::EmptyObject);
}

#[test]
fn operator_errors() {
    assert_eq!(
        kind(r#"{"a": [{"contains": "x"}]}"#),
        ErrorKind::UnknownOperator
    );
    assert_eq!(
        kind(r#"{"a": [{"equals": "x"}]}"#),
        ErrorKind::UnknownOperator
    );
    assert_eq!(kind(r#"{"a": [{"prefix": 1}]}"#), ErrorKind::BadOperand);
    assert_eq!(kind(r#"{"a": [{"prefix": ["x"]}]}"#), ErrorKind::BadOperand);
    assert_eq!(
        kind(r#"{"a": [{"prefix": {"equals-ignore-case": 1}}]}"#),
        ErrorKind::BadOperand
    );
    assert_eq!(
        kind(r#"{"a": [{"prefix": {"wildcard": "x"}}]}"#),
        ErrorKind::UnknownOperator
    );
    assert_eq!(kind(r#"{"a": [{"suffix": null}]}"#), ErrorKind::BadOperand);
    assert_eq!(
        kind(r#"{"a": [{"equals-ignore-case": ["x"]}]}"#),
        ErrorKind::BadOperand
    );
    assert_eq!(kind(r#"{"a": [{"wildcard": 5}]}"#), ErrorKind::BadOperand);
    assert_eq!(
        kind(r#"{"a": [{"exists": "true"}]}"#),
        ErrorKind::BadOperand
    );
    assert_eq!(kind(r#"{"a": [{"cidr": 10}]}"#), ErrorKind::BadOperand);
}

#[test]
fn anything_but_errors() {
    for p in [
        r#"{"a": [{"anything-but": true}]}"#,
        r#"{"a": [{"anything-but": null}]}"#,
        r#"{"a": [{"anything-but": ["x", 1]}]}"#,
        r#"{"a": [{"anything-but": []}]}"#,
        r#"{"a": [{"anything-but": [null]}]}"#,
        r#"{"a": [{"anything-but": {"prefix": ""}}]}"#,
        r#"{"a": [{"anything-but": {"prefix": 1}}]}"#,
        r#"{"a": [{"anything-but": {"suffix": ["x"]}}]}"#,
        r#"{"a": [{"anything-but": {"equals-ignore-case": 1}}]}"#,
        r#"{"a": [{"anything-but": {"equals-ignore-case": ["x", 1]}}]}"#,
        r#"{"a": [{"anything-but": {"wildcard": 1}}]}"#,
    ] {
        assert_eq!(kind(p), ErrorKind::BadOperand, "{p}");
    }
    assert_eq!(
        kind(r#"{"a": [{"anything-but": {"numeric": [">", 1]}}]}"#),
        ErrorKind::UnknownOperator
    );
    assert_eq!(
        kind(r#"{"a": [{"anything-but": {"cidr": "10.0.0.0/8"}}]}"#),
        ErrorKind::UnknownOperator
    );
    assert_eq!(
        kind(r#"{"a": [{"anything-but": {}}]}"#),
        ErrorKind::BadMatchValue
    );
    assert_eq!(
        kind(r#"{"a": [{"anything-but": {"prefix": "a", "suffix": "b"}}]}"#),
        ErrorKind::BadMatchValue
    );
    assert_eq!(
        kind(r#"{"a": [{"anything-but": {"equals-ignore-case": []}}]}"#),
        ErrorKind::EmptyArray
    );
    assert_eq!(
        kind(r#"{"a": [{"anything-but": {"wildcard": "a**"}}]}"#),
        ErrorKind::BadWildcard
    );
    assert_eq!(
        kind(r#"{"a": [{"anything-but": 6e9}]}"#),
        ErrorKind::BadNumeric
    );
}

#[test]
fn numeric_errors() {
    for p in [
        r#"{"a": [{"numeric": 5}]}"#,
        r#"{"a": [{"numeric": []}]}"#,
        r#"{"a": [{"numeric": [">"]}]}"#,
        r#"{"a": [{"numeric": [5]}]}"#,
        r#"{"a": [{"numeric": [">", "5"]}]}"#,
        r#"{"a": [{"numeric": ["!=", 5]}]}"#,
        r#"{"a": [{"numeric": ["=", 5, "<", 6]}]}"#,
        r#"{"a": [{"numeric": ["<", 5, ">", 1]}]}"#,
        r#"{"a": [{"numeric": [">", 5, ">", 6]}]}"#,
        r#"{"a": [{"numeric": [">", 5, "<"]}]}"#,
        r#"{"a": [{"numeric": [">", 5, "<", 6, "x"]}]}"#,
        r#"{"a": [{"numeric": [">", 5, 6]}]}"#,
        r#"{"a": [{"numeric": [">", 6, "<", 5]}]}"#,
        r#"{"a": [{"numeric": [">=", 5, "<=", 5]}]}"#,
        r#"{"a": [{"numeric": [">", 5e9, "<", 6e9]}]}"#,
        r#"{"a": [{"numeric": ["<", -5.1e9]}]}"#,
    ] {
        assert_eq!(kind(p), ErrorKind::BadNumeric, "{p}");
    }
    assert_eq!(
        refused(r#"{"a": [{"numeric": [">", 6, "<", 5]}]}"#).reason(),
        "Bottom must be less than top"
    );
    assert!(Pattern::parse(r#"{"a": [{"numeric": [">=", -5e9, "<=", 5e9]}]}"#).is_ok());
}

#[test]
fn cidr_errors() {
    for p in [
        "10.0.0.0",
        "10.0.0.0/33",
        "10.0.0/8",
        "::/129",
        "x/8",
        "10.0.0.0/",
        "10.0.0.0/-1",
        "10.0.0.0/8/8",
    ] {
        let pattern = format!(r#"{{"a": [{{"cidr": "{p}"}}]}}"#);
        assert_eq!(kind(&pattern), ErrorKind::BadCidr, "{p}");
    }
}

#[test]
fn wildcard_errors() {
    assert_eq!(
        kind(r#"{"a": [{"wildcard": "a**b"}]}"#),
        ErrorKind::BadWildcard
    );
    assert_eq!(
        kind(r#"{"a": [{"wildcard": "a\\b"}]}"#),
        ErrorKind::BadWildcard
    );
    assert_eq!(
        kind(r#"{"a": [{"wildcard": "a\\"}]}"#),
        ErrorKind::BadWildcard
    );
    // An escaped star next to a star is not two wildcards.
    assert!(Pattern::parse(r#"{"a": [{"wildcard": "a*\\**"}]}"#).is_ok());
}

#[test]
fn or_errors() {
    assert_eq!(kind(r#"{"$or": {"a": ["x"]}}"#), ErrorKind::BadOr);
    assert_eq!(kind(r#"{"$or": [{"a": ["x"]}]}"#), ErrorKind::BadOr);
    assert_eq!(kind(r#"{"$or": []}"#), ErrorKind::BadOr);
    assert_eq!(kind(r#"{"$or": [{"a": ["x"]}, ["b"]]}"#), ErrorKind::BadOr);
    assert_eq!(
        kind(r#"{"$or": [{"numeric": [">", 1]}, {"prefix": ["x"]}]}"#),
        ErrorKind::BadOr
    );
    assert_eq!(
        kind(r#"{"$or": [{"a": {"prefix": ["x"]}}, {"b": ["y"]}]}"#),
        ErrorKind::BadOr
    );
    assert_eq!(
        kind(r#"{"$or": [{"a": ["x"]}, {}]}"#),
        ErrorKind::EmptyObject
    );
    // Operator names are fine as field names outside "$or".
    assert!(m(r#"{"prefix": ["x"]}"#, json!({"prefix": "x"})));
}

#[test]
fn decision_too_long_is_refused() {
    let long = format!(r#"{{"a": ["{}"]}}"#, "x".repeat(MAX_PATTERN_CHARS));
    assert_eq!(kind(&long), ErrorKind::TooLong);
    let fits = format!(r#"{{"a": ["{}"]}}"#, "x".repeat(MAX_PATTERN_CHARS - 11));
    assert_eq!(fits.chars().count(), MAX_PATTERN_CHARS);
    assert!(Pattern::parse(&fits).is_ok());
}

// ---- moto's differences from the documentation, pinned to the documentation --------------

#[test]
fn decision_bool_is_not_number() {
    // moto (Python: True == 1) matches [1] against true and numeric against booleans.
    assert!(!m(r#"{"a": [1]}"#, json!({"a": true})));
    assert!(!m(r#"{"a": [true]}"#, json!({"a": 1})));
    assert!(!m(r#"{"a": [{"numeric": [">", 0]}]}"#, json!({"a": true})));
}

#[test]
fn decision_dotted_keys_are_not_paths() {
    // moto flattens the event with "." joins, so a pattern key "a.b" matches {"a": {"b": ..}}.
    // (event-ruler does the same, but calls it a caveat not to rely on.)
    assert!(!m(r#"{"a.b": ["x"]}"#, json!({"a": {"b": "x"}})));
    assert!(m(r#"{"a.b": ["x"]}"#, json!({"a.b": "x"})));
}

#[test]
fn decision_non_object_events() {
    assert!(!m(r#"{"a": ["x"]}"#, json!("x")));
    assert!(m(r#"{"a": [{"exists": false}]}"#, json!(null)));
}
