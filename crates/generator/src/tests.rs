//! Stream-level properties: determinism, JSON validity, uniqueness, mix, and agreement with the
//! event crate's parser.

use std::collections::HashSet;

use bytes::Bytes;
use serde_json::Value;

use crate::{
    bad_inputs, Generator, GeneratorConfig, DEFAULT_START_TIME, LAMBDA_FUNCTIONS, S3_BUCKETS,
};

fn stream(cfg: GeneratorConfig, n: usize) -> Vec<String> {
    let mut g = Generator::new(cfg);
    (0..n).map(|_| g.next_record()).collect()
}

fn seeded(seed: u64) -> GeneratorConfig {
    GeneratorConfig {
        seed,
        ..GeneratorConfig::default()
    }
}

/// Top-level keys in document order (serde_json's `Value` sorts them).
struct KeyOrder(Vec<String>);

impl<'de> serde::Deserialize<'de> for KeyOrder {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = KeyOrder;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<KeyOrder, A::Error> {
                let mut keys = Vec::new();
                while let Some(k) = m.next_key::<String>()? {
                    m.next_value::<serde::de::IgnoredAny>()?;
                    keys.push(k);
                }
                Ok(KeyOrder(keys))
            }
        }
        d.deserialize_map(V)
    }
}

const KEY_ORDER: &[&str] = &[
    "eventVersion",
    "userIdentity",
    "eventTime",
    "eventSource",
    "eventName",
    "awsRegion",
    "sourceIPAddress",
    "userAgent",
    "errorCode",
    "errorMessage",
    "requestParameters",
    "responseElements",
    "additionalEventData",
    "requestID",
    "eventID",
    "readOnly",
    "resources",
    "eventType",
    "apiVersion",
    "managementEvent",
    "recipientAccountId",
    "sharedEventID",
    "eventCategory",
    "tlsDetails",
    "sessionCredentialFromConsole",
];

#[test]
fn same_seed_gives_identical_bytes() {
    let a = stream(seeded(42), 5_000);
    let b = stream(seeded(42), 5_000);
    assert_eq!(a, b);
}

#[test]
fn different_seeds_give_different_streams() {
    let a = stream(seeded(1), 100);
    let b = stream(seeded(2), 100);
    assert!(a.iter().zip(&b).all(|(x, y)| x != y));
    assert_ne!(
        Generator::new(seeded(1)).account_ids(),
        Generator::new(seeded(2)).account_ids()
    );
}

#[test]
fn write_record_appends_one_line_without_newline() {
    let mut g = Generator::new(GeneratorConfig::default());
    let mut buf = b"prefix".to_vec();
    g.write_record(&mut buf);
    assert!(buf.starts_with(b"prefix{"));
    assert!(buf.ends_with(b"}"));
    assert!(!buf.contains(&b'\n'));
    assert_eq!(g.records_written(), 1);
}

#[test]
fn records_are_json_objects_in_aws_key_order() {
    for (i, r) in stream(seeded(5), 20_000).iter().enumerate() {
        let KeyOrder(keys) =
            serde_json::from_str(r).unwrap_or_else(|e| panic!("record {i}: {e}\n{r}"));
        let mut expected = KEY_ORDER.iter();
        for k in &keys {
            assert!(
                expected.any(|e| e == k),
                "record {i}: key {k} out of order or unknown\n{r}"
            );
        }
        for required in [
            "eventVersion",
            "userIdentity",
            "eventTime",
            "eventID",
            "readOnly",
            "recipientAccountId",
        ] {
            assert!(
                keys.iter().any(|k| k == required),
                "record {i} lacks {required}\n{r}"
            );
        }
    }
}

#[test]
fn event_and_request_ids_are_unique_over_100k_records() {
    let mut g = Generator::new(GeneratorConfig::default());
    let (mut events, mut requests) = (HashSet::new(), HashSet::new());
    for _ in 0..100_000 {
        let v: Value = serde_json::from_str(&g.next_record()).expect("json");
        let id = v["eventID"].as_str().expect("eventID").to_string();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4", "{id} is not a v4 UUID");
        assert!(events.insert(id));
        if let Some(r) = v["requestID"].as_str() {
            assert!(requests.insert(r.to_string()), "duplicate requestID {r}");
        }
    }
}

#[derive(Default, Debug)]
struct Mix {
    total: f64,
    read: f64,
    write: f64,
    data: f64,
    console: f64,
    error: f64,
    bytes: f64,
}

fn measure(n: usize) -> (Mix, Vec<Value>) {
    let mut g = Generator::new(GeneratorConfig::default());
    let mut mix = Mix::default();
    let mut all = Vec::with_capacity(n);
    for _ in 0..n {
        let r = g.next_record();
        mix.bytes += r.len() as f64;
        let v: Value = serde_json::from_str(&r).expect("json");
        mix.total += 1.0;
        if v["eventType"] == "AwsConsoleSignIn" {
            mix.console += 1.0;
        } else if v["eventCategory"] == "Data" {
            mix.data += 1.0;
        } else if v["readOnly"] == true {
            mix.read += 1.0;
        } else {
            mix.write += 1.0;
        }
        if v.get("errorCode").is_some() {
            mix.error += 1.0;
        }
        all.push(v);
    }
    (mix, all)
}

#[test]
fn mix_matches_the_documented_proportions() {
    let (m, records) = measure(100_000);
    let share = |x: f64| x / m.total;
    eprintln!(
        "read {:.3} write {:.3} data {:.3} console {:.3} error {:.3} avg {:.0} B",
        share(m.read),
        share(m.write),
        share(m.data),
        share(m.console),
        share(m.error),
        m.bytes / m.total
    );
    assert!((share(m.read) - 0.63).abs() < 0.015);
    assert!((share(m.write) - 0.25).abs() < 0.015);
    assert!((share(m.data) - 0.10).abs() < 0.01);
    assert!((share(m.console) - 0.02).abs() < 0.004);
    assert!((share(m.error) - 0.05).abs() < 0.01);
    assert!(
        (1000.0..1600.0).contains(&(m.bytes / m.total)),
        "average size {}",
        m.bytes / m.total
    );

    let mut identity_types = std::collections::HashMap::new();
    for v in &records {
        *identity_types
            .entry(
                v["userIdentity"]["type"]
                    .as_str()
                    .unwrap_or("?")
                    .to_string(),
            )
            .or_insert(0u32) += 1;
    }
    for t in [
        "IAMUser",
        "AssumedRole",
        "Root",
        "AWSService",
        "FederatedUser",
    ] {
        let n = identity_types.get(t).copied().unwrap_or(0);
        assert!(
            n > 300,
            "only {n} records with userIdentity.type {t}: {identity_types:?}"
        );
    }
}

#[test]
fn record_shapes_follow_cloudtrail() {
    let (_, records) = measure(20_000);
    let g = Generator::new(GeneratorConfig::default());
    let (accounts, regions) = (g.account_ids(), g.regions());
    let (mut s3_objects, mut invokes, mut logins, mut root_logins, mut failed_logins, mut assume) =
        (0, 0, 0, 0, 0, 0);
    for v in &records {
        let acct = v["recipientAccountId"]
            .as_str()
            .expect("recipientAccountId");
        assert!(accounts.contains(&acct));
        let region = v["awsRegion"].as_str().expect("awsRegion");
        assert!(regions.contains(&region));
        let source = v["eventSource"].as_str().expect("eventSource");
        if matches!(
            source,
            "iam.amazonaws.com" | "sts.amazonaws.com" | "signin.amazonaws.com"
        ) {
            assert_eq!(region, "us-east-1");
        }
        assert!(v["readOnly"].is_boolean());
        assert!(matches!(
            v["eventVersion"].as_str(),
            Some("1.08" | "1.09" | "1.10" | "1.11")
        ));
        let time = v["eventTime"].as_str().expect("eventTime");
        assert!(
            time.len() == 20 && time.ends_with('Z') && time.starts_with("2026-01-01T"),
            "{time}"
        );
        if let Some(mfa) = v["userIdentity"]["sessionContext"]["attributes"].get("mfaAuthenticated")
        {
            assert!(mfa == "true" || mfa == "false");
        }
        if v["userIdentity"]["type"] == "AssumedRole" {
            assert_eq!(
                v["userIdentity"]["sessionContext"]["sessionIssuer"]["type"],
                "Role"
            );
        }
        let arn = v["userIdentity"]["arn"].as_str().unwrap_or("");
        if arn.contains("ReadOnlyAccess") || arn.contains("AWSServiceRoleForConfig") {
            assert_eq!(v["readOnly"], true, "a read-only principal wrote: {v}");
        }
        if v["userIdentity"]["type"] == "AWSService" {
            assert!(v["userIdentity"]["invokedBy"].is_string());
            assert!(v.get("tlsDetails").is_none());
        }
        let resources = v["resources"].as_array();
        match v["eventName"].as_str().expect("eventName") {
            "GetObject" | "PutObject" | "DeleteObject" => {
                s3_objects += 1;
                let r = resources.expect("S3 object events name their resources");
                assert_eq!(r[0]["type"], "AWS::S3::Object");
                assert_eq!(r[1]["type"], "AWS::S3::Bucket");
                let bucket = r[1]["ARN"]
                    .as_str()
                    .expect("ARN")
                    .trim_start_matches("arn:aws:s3:::");
                assert!(S3_BUCKETS.contains(&bucket));
                assert!(r[0]["ARN"]
                    .as_str()
                    .expect("ARN")
                    .starts_with(&format!("arn:aws:s3:::{bucket}/")));
                assert_eq!(v["managementEvent"], false);
                assert_eq!(v["eventCategory"], "Data");
            }
            "Invoke" => {
                invokes += 1;
                let arn = resources.expect("Invoke names its function")[0]["ARN"]
                    .as_str()
                    .expect("ARN");
                let prefix = format!("arn:aws:lambda:{region}:{acct}:function:");
                assert!(
                    LAMBDA_FUNCTIONS.contains(&arn.trim_start_matches(prefix.as_str())),
                    "{arn}"
                );
                assert_eq!(v["eventCategory"], "Data");
            }
            "ConsoleLogin" => {
                logins += 1;
                assert_eq!(v["eventType"], "AwsConsoleSignIn");
                assert!(v["requestParameters"].is_null());
                let outcome = &v["responseElements"]["ConsoleLogin"];
                assert!(outcome == "Success" || outcome == "Failure");
                if outcome == "Failure" {
                    failed_logins += 1;
                    assert_eq!(v["errorMessage"], "Failed authentication");
                }
                assert!(matches!(
                    v["additionalEventData"]["MFAUsed"].as_str(),
                    Some("Yes" | "No")
                ));
                assert_eq!(v["additionalEventData"]["MobileVersion"], "No");
                if v["userIdentity"]["type"] == "Root" {
                    root_logins += 1;
                }
            }
            "AssumeRole" if v.get("errorCode").is_none() => {
                assume += 1;
                let creds = &v["responseElements"]["credentials"];
                assert!(creds["accessKeyId"]
                    .as_str()
                    .expect("key")
                    .starts_with("ASIA"));
                assert!(creds["sessionToken"].is_string() && creds["expiration"].is_string());
                assert!(v["responseElements"]["assumedRoleUser"]["arn"].is_string());
            }
            _ => {}
        }
        if v["eventCategory"] == "Management" {
            assert_eq!(v["managementEvent"], true);
        }
    }
    assert!(
        s3_objects > 500 && invokes > 100 && assume > 100,
        "{s3_objects} {invokes} {assume}"
    );
    assert!(
        logins > 200 && root_logins > 10 && failed_logins > 10,
        "{logins} {root_logins} {failed_logins}"
    );
}

#[test]
fn event_time_advances_with_events_per_second() {
    let cfg = GeneratorConfig {
        events_per_second: 10.0,
        ..GeneratorConfig::default()
    };
    let times: Vec<String> = stream(cfg, 25)
        .iter()
        .map(|r| {
            let v: Value = serde_json::from_str(r).expect("json");
            v["eventTime"].as_str().expect("eventTime").to_string()
        })
        .collect();
    assert_eq!(times[0], "2026-01-01T00:00:00Z");
    assert_eq!(times[9], "2026-01-01T00:00:00Z");
    assert_eq!(times[10], "2026-01-01T00:00:01Z");
    assert_eq!(times[24], "2026-01-01T00:00:02Z");
    assert_eq!(GeneratorConfig::default().start_time, DEFAULT_START_TIME);
}

#[test]
fn accounts_and_regions_follow_the_config() {
    let g = Generator::new(GeneratorConfig {
        accounts: 7,
        regions: 5,
        ..GeneratorConfig::default()
    });
    let ids = g.account_ids();
    assert_eq!(ids.len(), 7);
    assert!(ids
        .iter()
        .all(|id| id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit())));
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 7);
    assert_eq!(
        g.regions(),
        &[
            "us-east-1",
            "us-west-2",
            "eu-west-1",
            "eu-central-1",
            "ap-southeast-2"
        ]
    );
    let tiny = Generator::new(GeneratorConfig {
        accounts: 0,
        regions: 0,
        ..GeneratorConfig::default()
    });
    assert_eq!((tiny.account_ids().len(), tiny.regions().len()), (1, 1));
}

#[test]
fn every_record_is_accepted_by_the_event_parser() {
    let mut g = Generator::new(seeded(9));
    let mut out = Vec::new();
    let mut buf = Vec::with_capacity(2048);
    for i in 0..50_000 {
        buf.clear();
        g.write_record(&mut buf);
        let message = Bytes::copy_from_slice(&buf);
        out.clear();
        trailpipe_event::parse_message(&message, &Default::default(), &mut out);
        assert_eq!(out.len(), 1);
        match &out[0] {
            Ok(event) => assert_eq!(event.raw, message),
            Err(rejected) => panic!(
                "record {i} rejected: {}\n{}",
                rejected.reason,
                String::from_utf8_lossy(&buf)
            ),
        }
    }
}

#[test]
fn bad_inputs_are_rejected_with_their_stated_codes() {
    let inputs = bad_inputs();
    let codes: HashSet<&str> = inputs.iter().map(|(c, _)| *c).collect();
    for code in [
        "invalid_utf8",
        "not_json",
        "not_object",
        "missing_field",
        "wrong_type",
        "malformed_field",
    ] {
        assert!(codes.contains(code), "no bad input for {code}");
    }
    let mut out = Vec::new();
    for (code, input) in inputs {
        out.clear();
        trailpipe_event::parse_message(&Bytes::from(input.clone()), &Default::default(), &mut out);
        assert_eq!(out.len(), 1);
        match &out[0] {
            Err(rejected) => assert_eq!(
                rejected.reason.code(),
                code,
                "{}: {}",
                rejected.reason,
                String::from_utf8_lossy(&input)
            ),
            Ok(_) => {
                panic!(
                    "accepted an input meant to be {code}: {}",
                    String::from_utf8_lossy(&input)
                )
            }
        }
    }
}

/// Throughput, printed; run with `cargo test --release -p trailpipe-generator -- --ignored
/// --nocapture throughput`.
#[test]
#[ignore = "timing; meaningful only in release builds"]
fn throughput() {
    let mut g = Generator::new(GeneratorConfig::default());
    let mut buf = Vec::with_capacity(1 << 20);
    let n = 1_000_000u32;
    let start = std::time::Instant::now();
    let mut bytes = 0usize;
    for _ in 0..n {
        buf.clear();
        g.write_record(&mut buf);
        bytes += buf.len();
    }
    let secs = start.elapsed().as_secs_f64();
    let rate = f64::from(n) / secs;
    eprintln!("{rate:.0} records/s, {:.0} MB/s", bytes as f64 / secs / 1e6);
    if !cfg!(debug_assertions) {
        assert!(rate >= 300_000.0, "{rate:.0} records/s");
    }
}
