//! Shared harness of the integration tests: the real servers started by `scripts/services.sh`
//! (tansu for Kafka, moto for S3), the real `trailpipe` binary, and readers that check delivered
//! log files from the outside.
//!
//! Without those servers (plain `cargo test`), each test prints why it is skipped and passes;
//! `make test` sets `TRAILPIPE_REQUIRE_SERVICES=1`, which turns a missing server into a failure.

#![allow(dead_code)]

use std::{
    collections::HashMap,
    io::Read,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use rdkafka::{
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    consumer::{BaseConsumer, Consumer},
    producer::{BaseProducer, BaseRecord, Producer},
    ClientConfig, Offset, TopicPartitionList,
};

/// Addresses of the running test servers.
pub struct Services {
    pub brokers: String,
    pub s3_endpoint: String,
}

impl Services {
    /// The servers from `.test-services/env` (exported by `make test`), or `None` to skip.
    pub fn get(test: &str) -> Option<Services> {
        match (
            std::env::var("TRAILPIPE_TEST_BROKERS"),
            std::env::var("AWS_ENDPOINT_URL"),
        ) {
            (Ok(brokers), Ok(s3_endpoint)) => Some(Services {
                brokers,
                s3_endpoint,
            }),
            _ => {
                if std::env::var_os("TRAILPIPE_REQUIRE_SERVICES").is_some() {
                    panic!("{test}: TRAILPIPE_TEST_BROKERS / AWS_ENDPOINT_URL not set but TRAILPIPE_REQUIRE_SERVICES is");
                }
                eprintln!("skipping {test}: test servers not running (use `make test`, which starts tansu and moto)");
                None
            }
        }
    }
}

/// The `[source]`, `[storage]` and `[server]` part of a daemon config reading `topic` from the
/// test broker into moto S3; `source_extra` is appended inside `[source]` (keys, then
/// `[source.librdkafka]` lines). Tests append their own `[delivery]` and `[[trails]]`.
pub fn kafka_to_moto(
    s: &Services,
    topic: &str,
    dlq: &str,
    group: &str,
    port: u16,
    source_extra: &str,
) -> String {
    format!(
        r#"
[source]
kind = "kafka"
brokers = "{brokers}"
topics = ["{topic}"]
group_id = "{group}"
dead_letter_topic = "{dlq}"
{source_extra}

[storage]
kind = "s3"
region = "us-east-1"
endpoint_url = "{endpoint}"

[server]
listen = "127.0.0.1:{port}"
"#,
        brokers = s.brokers,
        endpoint = s.s3_endpoint,
    )
}

/// A name unique to this test run.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    format!("{prefix}-{}-{}", std::process::id(), nanos % 1_000_000_000)
}

pub fn create_topic(brokers: &str, name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("admin client");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let res = rt
        .block_on(admin.create_topics(
            &[NewTopic::new(name, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        ))
        .expect("create topics");
    for r in res {
        r.expect("topic created");
    }
}

/// Produces `(key, value)` pairs and waits until all are acknowledged.
pub fn produce(brokers: &str, topic: &str, messages: &[(String, Vec<u8>)]) {
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "10")
        .set("message.max.bytes", "10000000")
        .create()
        .expect("producer");
    for (k, v) in messages {
        let mut rec = BaseRecord::to(topic).key(k.as_bytes()).payload(&v[..]);
        loop {
            match p.send(rec) {
                Ok(()) => break,
                Err((_, r)) => {
                    p.poll(Duration::from_millis(10));
                    rec = r;
                }
            }
        }
        p.poll(Duration::ZERO);
    }
    p.flush(Duration::from_secs(60)).expect("flush");
}

/// Sum over the topic's partitions of the group's committed offsets.
pub fn committed_total(brokers: &str, group: &str, topic: &str, partitions: i32) -> i64 {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    match c.committed_offsets(tpl, Duration::from_secs(10)) {
        Ok(list) => list
            .elements()
            .iter()
            .map(|e| {
                if let Offset::Offset(o) = e.offset() {
                    o
                } else {
                    0
                }
            })
            .sum(),
        Err(_) => 0,
    }
}

/// Every message of a topic (all partitions, from the beginning) with its headers.
pub fn consume_all(
    brokers: &str,
    topic: &str,
    expected: usize,
    timeout: Duration,
) -> Vec<(Vec<u8>, HashMap<String, String>)> {
    use rdkafka::message::{Headers, Message};
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", unique("reader"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    c.subscribe(&[topic]).expect("subscribe");
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    while out.len() < expected && Instant::now() < deadline {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(200)) {
            let headers = m
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|h| {
                            (
                                h.key.to_string(),
                                String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            out.push((m.payload().unwrap_or_default().to_vec(), headers));
        }
    }
    out
}

/// Polls `f` until it is true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    f()
}

/// The trailpipe daemon, run from the binary under test.
pub struct Daemon {
    pub child: Child,
    pub log: PathBuf,
}

impl Daemon {
    pub fn start(dir: &std::path::Path, config: &str) -> Daemon {
        let cfg = dir.join("trailpipe.toml");
        std::fs::write(&cfg, config).expect("write config");
        let log = dir.join(format!("daemon-{}.log", unique("run")));
        let child = Command::new(env!("CARGO_BIN_EXE_trailpipe"))
            .args(["run", "--config"])
            .arg(&cfg)
            .env("TRAILPIPE_LOG", "info,rdkafka=warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("spawn trailpipe");
        Daemon { child, log }
    }

    /// SIGTERM, then waits; returns the exit status code.
    pub fn terminate(mut self, timeout: Duration) -> Option<i32> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s.code();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        None
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn s3_client() -> aws_sdk_s3::Client {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let shared = rt.block_on(
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .load(),
    );
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(true)
            .build(),
    )
}

pub fn create_bucket(s3: &aws_sdk_s3::Client, bucket: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(s3.create_bucket().bucket(bucket).send())
        .expect("create bucket");
}

/// One delivered log file, read back from S3: key, metadata, and each record's raw bytes.
pub struct Delivered {
    pub key: String,
    pub records: Vec<String>,
    pub sse: Option<String>,
}

/// Reads every object of `bucket`, checking each is one gzip member of `{"Records":[...]}`.
pub fn read_bucket(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<Delivered> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async {
        let mut out = Vec::new();
        let mut pages = s3.list_objects_v2().bucket(bucket).into_paginator().send();
        while let Some(page) = pages.next().await {
            for o in page.expect("list").contents() {
                let key = o.key().expect("key").to_string();
                let obj = s3
                    .get_object()
                    .bucket(bucket)
                    .key(&key)
                    .send()
                    .await
                    .expect("get");
                let sse = obj.server_side_encryption().map(|s| s.as_str().to_string());
                let body = obj.body.collect().await.expect("body").into_bytes();
                out.push(Delivered {
                    records: records_of_single_gzip(&key, &body),
                    key,
                    sse,
                });
            }
        }
        out
    })
}

/// Decompresses exactly one gzip member (trailing data is an error, as in `validate-logs`) and
/// returns the raw text of each record of `{"Records":[...]}`.
pub fn records_of_single_gzip(key: &str, body: &[u8]) -> Vec<String> {
    let mut d = flate2::read::GzDecoder::new(body);
    let mut plain = Vec::new();
    d.read_to_end(&mut plain)
        .unwrap_or_else(|e| panic!("{key}: not gzip: {e}"));
    let mut rest = Vec::new();
    d.into_inner().read_to_end(&mut rest).expect("rest");
    assert!(rest.is_empty(), "{key}: data after the gzip member");
    #[derive(serde::Deserialize)]
    struct Body<'a> {
        #[serde(rename = "Records", borrow)]
        records: Vec<&'a serde_json::value::RawValue>,
    }
    let text = std::str::from_utf8(&plain).unwrap_or_else(|e| panic!("{key}: not UTF-8: {e}"));
    let b: Body<'_> = serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("{key}: not {{\"Records\":[...]}}: {e}"));
    assert!(!b.records.is_empty(), "{key}: empty log file");
    b.records.iter().map(|r| r.get().to_string()).collect()
}

/// Checks a key against CloudTrail's layout; returns (account, region).
pub fn check_key(key: &str, prefix: Option<&str>) -> (String, String) {
    let rest = match prefix {
        Some(p) => key
            .strip_prefix(&format!("{p}/"))
            .unwrap_or_else(|| panic!("{key}: missing prefix {p}/")),
        None => key,
    };
    let parts: Vec<&str> = rest.split('/').collect();
    assert_eq!(parts.len(), 8, "{key}: wrong depth");
    assert_eq!((parts[0], parts[2]), ("AWSLogs", "CloudTrail"), "{key}");
    let (acct, region) = (parts[1], parts[3]);
    assert!(
        acct.len() == 12 && acct.bytes().all(|b| b.is_ascii_digit()),
        "{key}: account"
    );
    assert!(
        parts[4].len() == 4 && parts[5].len() == 2 && parts[6].len() == 2,
        "{key}: YYYY/MM/DD"
    );
    let name = parts[7]
        .strip_suffix(".json.gz")
        .unwrap_or_else(|| panic!("{key}: not .json.gz"));
    let f: Vec<&str> = name.split('_').collect();
    assert_eq!(f.len(), 5, "{key}: name fields");
    assert_eq!((f[0], f[1], f[2]), (acct, "CloudTrail", region), "{key}");
    let ts = f[3].as_bytes();
    assert!(
        ts.len() == 14 && ts[8] == b'T' && ts[13] == b'Z',
        "{key}: timestamp"
    );
    assert_eq!(
        &f[3][..8],
        format!("{}{}{}", parts[4], parts[5], parts[6]),
        "{key}: folder date = file date"
    );
    assert!(
        f[4].len() == 16 && f[4].bytes().all(|b| b.is_ascii_alphanumeric()),
        "{key}: unique part"
    );
    (acct.to_string(), region.to_string())
}

pub fn event_id(record: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(record).expect("record JSON");
    v["eventID"].as_str().expect("eventID").to_string()
}
