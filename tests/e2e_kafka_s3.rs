//! End to end with real parts: generated (and real) CloudTrail records produced to the tansu
//! broker, the `trailpipe` daemon consuming them, moto S3 receiving log files; everything read
//! back from the outside with the AWS SDK.

use std::{collections::BTreeMap, time::Duration};

use crate::support::*;
use bytes::Bytes;
use trailpipe_event::parse_message;
use trailpipe_generator::{bad_inputs, Generator, GeneratorConfig};

fn config(
    s: &Services,
    topic: &str,
    dlq: &str,
    group: &str,
    b1: &str,
    b2: &str,
    port: u16,
) -> String {
    let source_extra =
        "max_record_bytes = 65536\n[source.librdkafka]\n\"session.timeout.ms\" = \"10000\"";
    let head = kafka_to_moto(s, topic, dlq, group, port, source_extra);
    format!(
        r#"{head}
[[trails]]
name = "management"
s3_bucket_name = "{b1}"
s3_key_prefix = "prod"
is_multi_region_trail = true
home_region = "us-east-1"
delivery_interval_secs = 2
max_file_bytes = 262144
[[trails.event_selectors]]
read_write_type = "All"
include_management_events = true
[[trails.event_selectors.data_resources]]
type = "AWS::S3::Object"
values = ["arn:aws:s3:::customer-data/"]

[[trails]]
name = "s3-writes"
s3_bucket_name = "{b2}"
is_multi_region_trail = true
home_region = "us-east-1"
delivery_interval_secs = 2
[[trails.advanced_event_selectors]]
name = "s3-writes"
field_selectors = [ {{ field = "eventCategory", equals = ["Data"] }},
                    {{ field = "resources.type", equals = ["AWS::S3::Object"] }},
                    {{ field = "readOnly", equals = ["false"] }} ]

[[trails]]
name = "eu-only"
s3_bucket_name = "{b1}"
s3_key_prefix = "eu"
home_region = "eu-west-1"
include_global_service_events = false
delivery_interval_secs = 2
"#
    )
}

/// Which trails (by name) the configuration routes each record to, using the project's compiled
/// selectors (themselves model-tested against a naive implementation).
fn expected_routes(cfg_text: &str, values: &[Vec<u8>]) -> BTreeMap<String, Vec<String>> {
    let cfg = trailpipe_config::Config::parse(cfg_text).expect("valid config");
    let sels: Vec<_> = cfg
        .trails
        .iter()
        .map(|t| (t.name.clone(), cfg.trail_selector(t).expect("selector")))
        .collect();
    let mut out: BTreeMap<String, Vec<String>> =
        sels.iter().map(|(n, _)| (n.clone(), Vec::new())).collect();
    for v in values {
        let mut parsed = Vec::new();
        parse_message(
            &Bytes::from(v.clone()),
            &trailpipe_event::ParseLimits::with_max_record_bytes(65536),
            &mut parsed,
        );
        for e in parsed.into_iter().flatten() {
            for (name, sel) in &sels {
                if sel.matches(&e.fields) {
                    out.get_mut(name)
                        .expect("trail")
                        .push(String::from_utf8(e.raw.to_vec()).expect("utf8"));
                }
            }
        }
    }
    out
}

struct Run {
    delivered: BTreeMap<String, Vec<String>>,
    keys: usize,
}

/// Produces `messages`, runs the daemon until the group committed them all, stops it with
/// SIGTERM, and returns what each trail delivered (every key checked against the layout).
fn run_pipeline(
    s: &Services,
    test: &str,
    messages: &[(String, Vec<u8>)],
    port: u16,
) -> (String, String, Run) {
    let (topic, dlq, group) = (unique("events"), unique("dead"), unique("group"));
    let (b1, b2) = (
        unique("audit").to_lowercase(),
        unique("writes").to_lowercase(),
    );
    create_topic(&s.brokers, &topic, 3);
    create_topic(&s.brokers, &dlq, 1);
    let s3 = s3_client();
    create_bucket(&s3, &b1);
    create_bucket(&s3, &b2);
    produce(&s.brokers, &topic, messages);
    let cfg = config(s, &topic, &dlq, &group, &b1, &b2, port);
    let dir = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(dir.path(), &cfg);
    let n = messages.len() as i64;
    let done = wait_until(Duration::from_secs(120), || {
        committed_total(&s.brokers, &group, &topic, 3) >= n
    });
    let log = daemon.log_text();
    assert!(
        done,
        "{test}: committed {} of {n}\n{log}",
        committed_total(&s.brokers, &group, &topic, 3)
    );
    assert_eq!(
        daemon.terminate(Duration::from_secs(25)),
        Some(0),
        "{test}: graceful exit"
    );
    let mut delivered: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut keys = 0;
    for (bucket, trail_of) in [(&b1, None), (&b2, Some("s3-writes"))] {
        for f in read_bucket(&s3, bucket) {
            keys += 1;
            let (trail, prefix) = match trail_of {
                Some(t) => (t, None),
                None if f.key.starts_with("prod/") => ("management", Some("prod")),
                None if f.key.starts_with("eu/") => ("eu-only", Some("eu")),
                None => panic!("unexpected key {}", f.key),
            };
            let (acct, region) = check_key(&f.key, prefix);
            assert_eq!(f.sse.as_deref(), Some("AES256"), "{}: SSE-S3", f.key);
            for r in &f.records {
                let v: serde_json::Value = serde_json::from_str(r).expect("record");
                let rec_acct = v["recipientAccountId"]
                    .as_str()
                    .or(v["userIdentity"]["accountId"].as_str());
                assert_eq!(
                    (rec_acct, v["awsRegion"].as_str()),
                    (Some(acct.as_str()), Some(region.as_str())),
                    "{}: record in the wrong file",
                    f.key
                );
            }
            delivered
                .entry(trail.to_string())
                .or_default()
                .extend(f.records);
        }
    }
    (cfg, dlq, Run { delivered, keys })
}

fn assert_exactly_the_expected(
    test: &str,
    expected: &BTreeMap<String, Vec<String>>,
    got: &BTreeMap<String, Vec<String>>,
) {
    for (trail, want) in expected {
        let mut want = want.clone();
        let mut have = got.get(trail).cloned().unwrap_or_default();
        want.sort();
        have.sort();
        assert_eq!(
            have.len(),
            want.len(),
            "{test}: trail {trail} delivered {} records, expected {}",
            have.len(),
            want.len()
        );
        assert!(have == want, "{test}: trail {trail}: delivered records differ from the routed records (bytes must be unchanged)");
    }
}

fn generated(n: usize, seed: u64) -> Vec<(String, Vec<u8>)> {
    let mut g = Generator::new(GeneratorConfig {
        accounts: 4,
        regions: 4,
        seed,
        ..GeneratorConfig::default()
    });
    (0..n)
        .map(|_| {
            let r = g.next_record();
            let v: serde_json::Value = serde_json::from_str(&r).expect("json");
            (
                format!(
                    "{}/{}",
                    v["recipientAccountId"].as_str().unwrap_or(""),
                    v["awsRegion"].as_str().unwrap_or("")
                ),
                r.into_bytes(),
            )
        })
        .collect()
}

#[test]
fn kafka_to_s3_routes_each_record_to_its_trails_once_with_bytes_unchanged() {
    let Some(s) = Services::get("kafka_to_s3") else {
        return;
    };
    let messages = generated(20_000, 7);
    let (cfg, _, run) = run_pipeline(&s, "kafka_to_s3", &messages, free_port());
    let values: Vec<Vec<u8>> = messages.iter().map(|(_, v)| v.clone()).collect();
    let expected = expected_routes(&cfg, &values);
    // Independent checks of the three trails' meaning, not only agreement with the selectors.
    assert!(expected["s3-writes"]
        .iter()
        .all(|r| r.contains("\"eventCategory\":\"Data\"")
            && r.contains("\"readOnly\":false")
            && r.contains("AWS::S3::Object")));
    assert!(expected["eu-only"]
        .iter()
        .all(|r| r.contains("\"awsRegion\":\"eu-west-1\"") && !r.contains("iam.amazonaws.com")));
    assert!(
        expected.values().all(|v| !v.is_empty()),
        "every trail must receive records"
    );
    assert_exactly_the_expected("kafka_to_s3", &expected, &run.delivered);
    let ids: std::collections::HashSet<String> = run.delivered["management"]
        .iter()
        .map(|r| event_id(r))
        .collect();
    assert_eq!(
        ids.len(),
        run.delivered["management"].len(),
        "an eventID appears twice in the management trail"
    );
    eprintln!(
        "kafka_to_s3: {} messages, {} log files, {:?} records per trail",
        messages.len(),
        run.keys,
        run.delivered
            .iter()
            .map(|(k, v)| (k, v.len()))
            .collect::<Vec<_>>()
    );
}

#[test]
fn bad_input_goes_to_the_dead_letter_topic_with_its_reason_and_good_records_around_it_are_delivered(
) {
    let Some(s) = Services::get("dead_letters") else {
        return;
    };
    let mut messages = generated(2_000, 11);
    let mut bad: Vec<(&str, Vec<u8>)> = bad_inputs();
    bad.push((
        "too_large",
        format!("{{\"pad\":\"{}\"}}", "x".repeat(70_000)).into_bytes(),
    ));
    // An envelope with one good and one bad record: the good one is delivered.
    let (_, good) = messages[0].clone();
    let envelope = format!(
        "{{\"Records\":[{},{{\"eventID\":\"no-time\"}}]}}",
        String::from_utf8(good).expect("utf8")
    );
    bad.push(("missing_field", Vec::new()));
    let envelope_index = bad.len() - 1;
    for (i, (_, b)) in bad.iter().enumerate() {
        let value = if i == envelope_index {
            envelope.clone().into_bytes()
        } else {
            b.clone()
        };
        messages.insert(100 + i * 50, (format!("bad-{i}"), value));
    }
    let (cfg, dlq, run) = run_pipeline(&s, "dead_letters", &messages, free_port());
    let values: Vec<Vec<u8>> = messages.iter().map(|(_, v)| v.clone()).collect();
    assert_exactly_the_expected(
        "dead_letters",
        &expected_routes(&cfg, &values),
        &run.delivered,
    );
    let letters = consume_all(&s.brokers, &dlq, bad.len(), Duration::from_secs(30));
    assert_eq!(letters.len(), bad.len(), "one dead letter per bad input");
    let mut want: Vec<&str> = bad.iter().map(|(c, _)| *c).collect();
    let mut got: Vec<&str> = letters
        .iter()
        .map(|(_, h)| h.get("trailpipe.error.code").map_or("none", String::as_str))
        .collect();
    want.sort();
    got.sort();
    assert_eq!(got, want);
    for (value, headers) in &letters {
        assert!(
            headers.contains_key("trailpipe.error.reason")
                && headers.contains_key("trailpipe.source.offset"),
            "{headers:?}"
        );
        if headers.get("trailpipe.source.envelope_index").is_none() {
            assert!(
                bad.iter().any(|(_, b)| b == value),
                "dead letter keeps the original bytes"
            );
        }
    }
}

#[test]
fn real_sample_records_are_delivered_unchanged() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/samples/cloudtrail/_normalized");
    if !dir.is_dir() {
        eprintln!("skipping real_sample_records: {} not present (the samples live outside the repository)", dir.display());
        return;
    }
    let Some(s) = Services::get("real_samples") else {
        return;
    };
    let mut messages = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("samples")
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    for f in files
        .iter()
        .filter(|p| p.to_string_lossy().ends_with(".records.ndjson.gz"))
    {
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(std::fs::File::open(f).expect("open")),
            &mut text,
        )
        .expect("gunzip");
        messages.extend(
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| (String::new(), l.as_bytes().to_vec())),
        );
    }
    let (cfg, _, run) = run_pipeline(&s, "real_samples", &messages, free_port());
    let values: Vec<Vec<u8>> = messages.iter().map(|(_, v)| v.clone()).collect();
    assert_exactly_the_expected(
        "real_samples",
        &expected_routes(&cfg, &values),
        &run.delivered,
    );
    eprintln!(
        "real_samples: {} records, {:?} per trail",
        messages.len(),
        run.delivered
            .iter()
            .map(|(k, v)| (k, v.len()))
            .collect::<Vec<_>>()
    );
}
