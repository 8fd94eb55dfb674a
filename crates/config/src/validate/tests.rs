use crate::Config;

const BASE: &str = r#"
[source]
kind = "kafka"
brokers = "127.0.0.1:9092"
topics = ["cloudtrail-events"]
group_id = "trailpipe"
dead_letter_topic = "cloudtrail-dead-letters"
[source.librdkafka]
"fetch.max.bytes" = "52428800"

[storage]
kind = "s3"
region = "us-east-1"

[server]
listen = "127.0.0.1:9464"

[[trails]]
name = "management"
s3_bucket_name = "audit-logs"
s3_key_prefix = "prod"
is_multi_region_trail = true
home_region = "us-east-1"
include_global_service_events = true
delivery_interval_secs = 300
[[trails.event_selectors]]
read_write_type = "All"
include_management_events = true
[[trails.event_selectors.data_resources]]
type = "AWS::S3::Object"
values = ["arn:aws:s3:::customer-data/"]
"#;

fn errors(text: &str) -> Vec<String> {
    match Config::parse(text) {
        Ok(_) => Vec::new(),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn the_documented_example_is_valid() {
    let c = Config::parse(BASE).expect("valid");
    assert_eq!(c.trails[0].max_file_bytes, 8 * 1024 * 1024);
    assert_eq!(c.delivery.shutdown_grace_secs, 20);
}

#[test]
fn each_mistake_is_reported_once_naming_its_field() {
    let bad = BASE
        .replace("s3_key_prefix = \"prod\"", "s3_key_prefix = \"prod/\"")
        .replace(
            "s3_bucket_name = \"audit-logs\"",
            "s3_bucket_name = \"Audit_Logs\"",
        )
        .replace("delivery_interval_secs = 300", "delivery_interval_secs = 0")
        .replace("arn:aws:s3:::customer-data/", "customer-data");
    let errs = errors(&bad);
    assert_eq!(errs.len(), 4, "{errs:#?}");
    assert!(
        errs[0].starts_with("trails[0].s3_bucket_name:"),
        "{errs:#?}"
    );
    assert!(errs[1].starts_with("trails[0].s3_key_prefix:"), "{errs:#?}");
    assert!(
        errs[2].starts_with("trails[0].delivery_interval_secs:"),
        "{errs:#?}"
    );
    assert!(
        errs[3].starts_with("trails[0].event_selectors[0].data_resources[0].values[0]"),
        "{errs:#?}"
    );
}

#[test]
fn unknown_keys_are_refused_by_name() {
    let errs = errors(&BASE.replace(
        "delivery_interval_secs = 300",
        "delivery_interval_sec = 300",
    ));
    assert_eq!(errs.len(), 1);
    assert!(errs[0].contains("delivery_interval_sec"), "{errs:#?}");
}

#[test]
fn managed_librdkafka_properties_are_refused() {
    let errs = errors(&BASE.replace("\"fetch.max.bytes\"", "\"enable.auto.commit\""));
    assert_eq!(errs, vec!["source.librdkafka.\"enable.auto.commit\": is managed by trailpipe (offsets are committed only after delivery); remove it"]);
}

#[test]
fn duplicate_trail_names_and_bad_names_are_refused() {
    let two = format!("{BASE}\n[[trails]]\nname = \"management\"\ns3_bucket_name = \"other\"\n[[trails]]\nname = \"a\"\ns3_bucket_name = \"other\"\n");
    let errs = errors(&two);
    assert!(
        errs.iter()
            .any(|e| e.starts_with("trails[1].name:") && e.contains("another trail")),
        "{errs:#?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.starts_with("trails[2].name:") && e.contains("3 to 128")),
        "{errs:#?}"
    );
}

#[test]
fn local_storage_needs_a_root() {
    let errs = errors(&BASE.replace("kind = \"s3\"", "kind = \"local\""));
    assert_eq!(
        errs,
        vec!["storage.local_root: is required when storage.kind = \"local\""]
    );
}

fn with_insights(selectors: &str, tuning: &str) -> String {
    let trail = BASE.replace(
        "delivery_interval_secs = 300",
        &format!("delivery_interval_secs = 300\ninsight_selectors = {selectors}"),
    );
    format!("{tuning}\n{trail}")
}

#[test]
fn insight_selectors_choose_the_types_and_insights_tunes_the_detector() {
    let text = with_insights(
        r#"[{ insight_type = "ApiErrorRateInsight" }]"#,
        "[insights]\nmin_baseline_minutes = 60\nthreshold_sigmas = 5.0",
    );
    let c = Config::parse(&text).expect("valid");
    let cfg = c.insight_config(&c.trails[0]).expect("Insights on");
    assert!(!cfg.call_rate && cfg.error_rate);
    assert_eq!(cfg.min_baseline_minutes, 60);
    assert_eq!(cfg.threshold_sigmas, 5.0);
    let plain = Config::parse(BASE).expect("valid");
    assert!(plain.insight_config(&plain.trails[0]).is_none());
}

#[test]
fn insight_mistakes_name_their_field() {
    let errs = errors(&with_insights(
        r#"[{ insight_type = "ApiCallRateInsight" }, { insight_type = "ApiCallRateInsight" }, { insight_type = "Nope" }]"#,
        "[insights]\nmin_ratio = 0.5",
    ));
    assert_eq!(
        errs,
        vec![
            "insights.min_ratio: must be a finite number >= 1",
            "trails[0].insight_selectors[1].insight_type: is listed twice",
            "trails[0].insight_selectors[2].insight_type: \"Nope\" is not an Insights type (ApiCallRateInsight or ApiErrorRateInsight)",
        ]
    );
    let errs = errors(&with_insights(
        r#"[{ insight_type = "ApiCallRateInsight" }]"#,
        "[insights]\ncall_rate = false",
    ));
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(
        errs[0].contains("call_rate: Insights types are chosen per trail"),
        "{errs:#?}"
    );
}

#[test]
fn cloudwatch_logs_tunables_default_and_are_checked() {
    let c = Config::parse(BASE).expect("valid");
    assert_eq!(c.cloudwatch_logs, crate::CloudWatchLogsConfig::default());
    assert_eq!(c.cloudwatch_logs.flush_millis, 200);
    let c = Config::parse(&format!(
        "{BASE}\n[cloudwatch_logs]\ncloudwatch_logs_max_requests_per_sec = 50\nflush_millis = 1000\n"
    ))
    .expect("the issue's name for the rate limit is accepted");
    assert_eq!(c.cloudwatch_logs.max_requests_per_sec, 50);
    assert_eq!(c.cloudwatch_logs.flush_millis, 1000);
    let errs = errors(&format!(
        "{BASE}\n[cloudwatch_logs]\nmax_requests_per_sec = 0\nmax_concurrent_puts = 0\nflush_millis = 5\n"
    ));
    assert_eq!(
        errs,
        [
            "cloudwatch_logs.max_requests_per_sec: must be at least 1",
            "cloudwatch_logs.max_concurrent_puts: must be 1 to 64",
            "cloudwatch_logs.flush_millis: must be 10 to 60000",
        ]
    );
}

#[test]
fn the_file_mac_key_comes_from_the_environment_or_a_file_and_must_be_long() {
    let with = |line: &str| format!("{BASE}\n[integrity]\n{line}\n");
    let key = "k".repeat(32);
    let env = |name: &str| (name == "MAC").then(|| "k".repeat(32));
    let c = Config::parse_with_env(&with("file_mac_key = \"${MAC}\""), env).expect("valid");
    assert_eq!(
        c.integrity.file_mac_key.as_ref().map(|k| k.expose()),
        Some(key.as_str())
    );
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("mac");
    std::fs::write(&file, format!("{key}\n")).expect("write");
    let c = Config::parse(&with(&format!(
        "file_mac_key_file = {:?}",
        file.display().to_string()
    )))
    .expect("valid");
    assert_eq!(
        c.integrity.file_mac_key.as_ref().map(|k| k.expose()),
        Some(key.as_str())
    );
    let short = errors(&with("file_mac_key = \"too-short\""));
    assert_eq!(short.len(), 1, "{short:?}");
    assert!(short[0].contains("integrity.file_mac_key") && short[0].contains("32 bytes"));
    assert!(
        !short[0].contains("too-short"),
        "the secret is never printed"
    );
    let both = errors(&with(&format!(
        "file_mac_key = \"{key}\"\nfile_mac_key_file = \"/x\""
    )));
    assert!(both.iter().any(|e| e.contains("not both")), "{both:?}");
}

const RULES: &str = r#"
[[rules]]
name = "sign-ins"
description = "console sign-ins"
event_pattern = '{"detail-type": ["AWS Console Sign In via CloudTrail"]}'
[[rules.targets]]
id = "to-kafka"
kind = "kafka"
topic = "sign-ins"
input_path = "$.detail"
[[rules.targets]]
id = "to-sns"
kind = "sns"
topic_arn = "arn:aws:sns:us-east-1:123456789012:sign-ins"

[[rules]]
name = "off"
state = "DISABLED"
event_pattern = '{"source": ["aws.iam"]}'
[[rules.targets]]
id = "t"
kind = "kafka"
topic = "iam"
"#;

#[test]
fn rules_parse_with_their_targets_and_compile() {
    let c = Config::parse(&format!("{BASE}{RULES}")).expect("valid");
    assert_eq!(c.rules.len(), 2);
    assert_eq!(c.rules[0].state, "ENABLED");
    assert_eq!(
        c.rules[0].targets[1].target_kind(),
        Some(crate::TargetKind::Sns(
            "arn:aws:sns:us-east-1:123456789012:sign-ins".into()
        ))
    );
    assert!(!c.rules[0].targets[0].input_path().is_whole());
    let rules = c.compile_rules();
    assert_eq!(rules.names().collect::<Vec<_>>(), ["sign-ins", "off"]);
}

#[test]
fn rule_mistakes_name_their_field() {
    let bad = RULES
        .replace("name = \"off\"", "name = \"sign-ins\"")
        .replace("id = \"to-sns\"", "id = \"to-kafka\"")
        .replace("\"DISABLED\"", "\"PAUSED\"")
        .replace("kind = \"sns\"", "kind = \"sqs\"")
        .replace("\"$.detail\"", "\"detail\"")
        .replace(r#"["aws.iam"]"#, r#""aws.iam""#)
        .replace("topic = \"iam\"", "");
    let errs = errors(&format!("{BASE}{bad}"));
    let fields: Vec<&str> = errs.iter().map(|e| e.split(':').next().unwrap()).collect();
    assert_eq!(
        fields,
        [
            "rules[0].targets[0].input_path",
            "rules[0].targets[1].id",
            "rules[0].targets[1].kind",
            "rules[1].name",
            "rules[1].event_pattern",
            "rules[1].state",
            "rules[1].targets[0].topic",
        ],
        "{errs:#?}"
    );
    assert!(
        errs[4].contains("rule \"sign-ins\""),
        "the pattern error names the rule: {errs:#?}"
    );
    let more = errors(&format!(
        "{BASE}\n[[rules]]\nname = \"bad name!\"\nevent_pattern = '{{}}'\n"
    ));
    assert!(
        more.iter().any(|e| e.starts_with("rules[0].name:")),
        "{more:#?}"
    );
    assert!(
        more.iter().any(|e| e.starts_with("rules[0].targets:")),
        "{more:#?}"
    );
}
