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

/// What one end-to-end test reads from and writes to, all new and unique to this run:
/// `(topic, dead-letter topic, consumer group, bucket, S3 client)`.
pub type Fresh = (String, String, String, String, aws_sdk_s3::Client);

/// Creates a topic with `partitions`, a one-partition dead-letter topic, a group name and an
/// empty bucket on moto, named after `name`.
pub fn fresh(s: &Services, name: &str, partitions: i32) -> Fresh {
    let (topic, dlq, group) = (
        unique(name),
        unique(&format!("{name}-dead")),
        unique(&format!("{name}-group")),
    );
    let bucket = unique(name).to_lowercase().replace('_', "-");
    let s3 = s3_client();
    create_topic(&s.brokers, &topic, partitions);
    create_topic(&s.brokers, &dlq, 1);
    create_bucket(&s3, &bucket);
    (topic, dlq, group, bucket, s3)
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
    create_topic_with(brokers, &[], name, partitions)
}

/// A test client's configuration: `brokers` plus `extra` properties (security settings).
pub fn client_config(brokers: &str, extra: &[(String, String)]) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers);
    for (k, v) in extra {
        c.set(k, v);
    }
    c
}

/// [`create_topic`] through a client with `extra` properties (a TLS or SASL listener).
pub fn create_topic_with(brokers: &str, extra: &[(String, String)], name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = client_config(brokers, extra)
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
    produce_with(brokers, &[], topic, messages)
}

/// [`produce`] through a client with `extra` properties (security, `compression.type`).
pub fn produce_with(
    brokers: &str,
    extra: &[(String, String)],
    topic: &str,
    messages: &[(String, Vec<u8>)],
) {
    let p: BaseProducer = client_config(brokers, extra)
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

/// A consumer of `group` that never subscribes: reads and writes the group's committed offsets.
fn group_client(brokers: &str, group: &str) -> BaseConsumer {
    group_client_with(brokers, &[], group)
}

fn group_client_with(brokers: &str, extra: &[(String, String)], group: &str) -> BaseConsumer {
    client_config(brokers, extra)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer")
}

/// Commits `offset` of one partition for `group` without joining it (a resume point set by hand).
pub fn commit_offset(brokers: &str, group: &str, topic: &str, partition: i32, offset: i64) {
    let c = group_client(brokers, group);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(offset))
        .expect("partition offset");
    c.commit(&tpl, rdkafka::consumer::CommitMode::Sync)
        .expect("commit");
}

/// Sum over the topic's partitions of the group's committed offsets.
pub fn committed_total(brokers: &str, group: &str, topic: &str, partitions: i32) -> i64 {
    committed_by_partition(brokers, group, topic, partitions)
        .iter()
        .sum()
}

/// The sum of the topic's partitions' high watermarks (records ever written to it).
pub fn end_offsets_total(brokers: &str, topic: &str, partitions: i32) -> i64 {
    let c = group_client(brokers, "end-offsets");
    (0..partitions)
        .map(|p| {
            c.fetch_watermarks(topic, p, Duration::from_secs(10))
                .map_or(0, |(_, high)| high)
        })
        .sum()
}

/// The group's committed offset of each partition (0 when none).
pub fn committed_by_partition(
    brokers: &str,
    group: &str,
    topic: &str,
    partitions: i32,
) -> Vec<i64> {
    committed_by_partition_with(brokers, &[], group, topic, partitions)
}

/// [`committed_by_partition`] through a client with `extra` properties.
pub fn committed_by_partition_with(
    brokers: &str,
    extra: &[(String, String)],
    group: &str,
    topic: &str,
    partitions: i32,
) -> Vec<i64> {
    let c = group_client_with(brokers, extra, group);
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
            .collect(),
        Err(_) => vec![0; partitions as usize],
    }
}

/// Every message of a topic (all partitions, from the beginning) with its headers.
pub fn consume_all(
    brokers: &str,
    topic: &str,
    expected: usize,
    timeout: Duration,
) -> Vec<(Vec<u8>, HashMap<String, String>)> {
    consume_keyed(brokers, topic, expected, timeout)
        .into_iter()
        .map(|(_, payload, headers)| (payload, headers))
        .collect()
}

/// A message read back: its key, payload and headers.
pub type Consumed = (Option<Vec<u8>>, Vec<u8>, HashMap<String, String>);

/// Every message of a topic (all partitions, from the beginning) as (key, payload, headers),
/// read until `expected` arrived or `timeout` passed.
pub fn consume_keyed(
    brokers: &str,
    topic: &str,
    expected: usize,
    timeout: Duration,
) -> Vec<Consumed> {
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
            out.push((
                m.key().map(<[u8]>::to_vec),
                m.payload().unwrap_or_default().to_vec(),
                headers,
            ));
        }
    }
    out
}

/// Where each record of a topic sits: eventID → (partition, offset), read from the beginning
/// of every partition (`records` messages in all).
pub fn topic_index(
    brokers: &str,
    topic: &str,
    partitions: i32,
    records: usize,
) -> HashMap<String, (i32, i64)> {
    use rdkafka::message::Message;
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", unique("index"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .expect("partition");
    }
    c.assign(&tpl).expect("assign");
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut out = HashMap::new();
    while out.len() < records && Instant::now() < deadline {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(200)) {
            let text = std::str::from_utf8(m.payload().unwrap_or_default()).expect("utf8");
            out.insert(event_id(text), (m.partition(), m.offset()));
        }
    }
    out
}

/// Folds sorted offsets into `[a, b]` ranges for printing.
pub fn ranges(mut offsets: Vec<i64>) -> Vec<(i64, i64)> {
    offsets.sort_unstable();
    let mut out: Vec<(i64, i64)> = Vec::new();
    for o in offsets {
        match out.last_mut() {
            Some((_, b)) if *b + 1 == o => *b = o,
            _ => out.push((o, o)),
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

/// Whether a record (JSON bytes) is a management event, with CloudTrail's meaning (as
/// `trailpipe_event` parses it): its `eventCategory` when present; records from before
/// eventVersion 1.07 have none, and are Insights by `eventType`, data events by
/// `managementEvent: false`, management events otherwise.
pub fn is_management(record: &[u8]) -> bool {
    let r: serde_json::Value = serde_json::from_slice(record).expect("json");
    match r["eventCategory"].as_str() {
        Some(c) => c == "Management",
        None => {
            r["eventType"] != "AwsCloudTrailInsight"
                && r["managementEvent"].as_bool() != Some(false)
        }
    }
}

/// A loopback port for a daemon to listen on: free when checked, random in 20000..32000 —
/// below the kernel's ephemeral range (32768–60999), so no outgoing connection of a test running
/// beside this one can take it before the daemon binds — and never handed out twice in one
/// test process (nextest runs each test in its own).
pub fn free_port() -> u16 {
    use std::hash::{BuildHasher, RandomState};
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
    for attempt in 0u32.. {
        let r = RandomState::new().hash_one((std::process::id(), attempt, Instant::now()));
        let port = 20_000 + (r % 12_000) as u16;
        if !given.contains(&port) && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.push(port);
            return port;
        }
        assert!(attempt < 1000, "no free loopback port in 20000..32000");
    }
    unreachable!()
}

/// The trailpipe daemon, run from the binary under test.
pub struct Daemon {
    pub child: Child,
    pub log: PathBuf,
}

impl Daemon {
    pub fn start(dir: &std::path::Path, config: &str) -> Daemon {
        Self::start_with_env(dir, config, &[])
    }

    /// [`Daemon::start`] with extra environment variables (secrets the config references).
    pub fn start_with_env(dir: &std::path::Path, config: &str, env: &[(&str, &str)]) -> Daemon {
        let cfg = dir.join("trailpipe.toml");
        std::fs::write(&cfg, config).expect("write config");
        let log = dir.join(format!("daemon-{}.log", unique("run")));
        let child = Command::new(env!("CARGO_BIN_EXE_trailpipe"))
            .args(["run", "--config"])
            .arg(&cfg)
            .env(
                "TRAILPIPE_LOG",
                std::env::var("TRAILPIPE_TEST_DAEMON_LOG")
                    .unwrap_or_else(|_| "info,rdkafka=warn".into()),
            )
            .envs(env.iter().copied())
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
    pub metadata: HashMap<String, String>,
}

/// Whether `key` is a file-time marker (see `trailpipe_batcher::file_time`), not a log file.
pub fn is_file_time_marker(key: &str) -> bool {
    key.starts_with("trailpipe/file-times/") || key.contains("/trailpipe/file-times/")
}

/// Reads every object of `bucket` but file-time markers and digest files, checking each is one
/// gzip member of `{"Records":[...]}`.
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
                if is_file_time_marker(&key) || key.contains("/CloudTrail-Digest/") {
                    continue;
                }
                let obj = s3
                    .get_object()
                    .bucket(bucket)
                    .key(&key)
                    .send()
                    .await
                    .expect("get");
                let sse = obj.server_side_encryption().map(|s| s.as_str().to_string());
                let metadata = obj.metadata().cloned().unwrap_or_default();
                let body = obj.body.collect().await.expect("body").into_bytes();
                out.push(Delivered {
                    records: records_of_single_gzip(&key, &body),
                    key,
                    sse,
                    metadata,
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

/// Generated records as `(key, value)` messages, keyed by account slot so partitions mix.
pub fn generated_messages(n: usize, seed: u64) -> Vec<(String, Vec<u8>)> {
    let mut g = trailpipe_generator::Generator::new(trailpipe_generator::GeneratorConfig {
        accounts: 6,
        regions: 4,
        seed,
        ..trailpipe_generator::GeneratorConfig::default()
    });
    (0..n)
        .map(|i| (format!("k{}", i % 24), g.next_record().into_bytes()))
        .collect()
}

/// Produces `messages` in chunks with a pause between them, on a thread, so faults can be
/// injected while records flow.
pub fn produce_in_background(
    brokers: &str,
    topic: &str,
    messages: &[(String, Vec<u8>)],
    chunk: usize,
    pause: Duration,
) -> std::thread::JoinHandle<()> {
    let (brokers, topic, messages) = (brokers.to_string(), topic.to_string(), messages.to_vec());
    std::thread::spawn(move || {
        for c in messages.chunks(chunk) {
            produce(&brokers, &topic, c);
            std::thread::sleep(pause);
        }
    })
}

/// What the bucket holds compared with what was produced.
pub struct ExactlyOnce {
    /// Distinct produced records found.
    pub delivered: usize,
    /// Log files read.
    pub files: usize,
    /// Produced records found in no file.
    pub lost: usize,
    /// Records found in more than one file (or twice in one).
    pub duplicated: usize,
    /// Records found that were never produced.
    pub unknown: usize,
}

impl std::fmt::Display for ExactlyOnce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} delivered in {} files, {} lost, {} duplicated, {} unknown",
            self.delivered, self.files, self.lost, self.duplicated, self.unknown
        )
    }
}

/// Reads the whole bucket (every object must be a well-formed log file with a CloudTrail key)
/// and counts lost and duplicated records; when any, prints where they sit in the topic and
/// which files hold the duplicates.
pub fn exactly_once(
    s: &Services,
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    topic: &str,
    partitions: i32,
    messages: &[(String, Vec<u8>)],
) -> ExactlyOnce {
    let files = read_bucket(s3, bucket);
    let mut seen: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, f) in files.iter().enumerate() {
        check_key(&f.key, None);
        for r in &f.records {
            seen.entry(event_id(r)).or_default().push(i);
        }
    }
    let produced: std::collections::HashSet<String> = messages
        .iter()
        .map(|(_, v)| event_id(std::str::from_utf8(v).expect("utf8")))
        .collect();
    let lost: Vec<&String> = produced
        .iter()
        .filter(|id| !seen.contains_key(*id))
        .collect();
    let duplicated: Vec<(&String, &Vec<usize>)> =
        seen.iter().filter(|(_, v)| v.len() > 1).collect();
    let report = ExactlyOnce {
        delivered: seen.keys().filter(|k| produced.contains(*k)).count(),
        files: files.len(),
        lost: lost.len(),
        duplicated: duplicated.len(),
        unknown: seen.keys().filter(|k| !produced.contains(*k)).count(),
    };
    if !lost.is_empty() || !duplicated.is_empty() {
        let index = topic_index(&s.brokers, topic, partitions, messages.len());
        let mut by_partition: HashMap<i32, Vec<i64>> = HashMap::new();
        for id in &lost {
            if let Some(&(p, o)) = index.get(*id) {
                by_partition.entry(p).or_default().push(o);
            }
        }
        for (p, offsets) in by_partition {
            eprintln!("lost in partition {p}: {:?}", ranges(offsets));
        }
        let mut groups: HashMap<Vec<usize>, Vec<i64>> = HashMap::new();
        for (id, in_files) in &duplicated {
            let o = index.get(*id).map_or(-1, |&(_, o)| o);
            groups.entry((*in_files).clone()).or_default().push(o);
        }
        for (in_files, offsets) in groups.into_iter().take(10) {
            eprintln!("duplicated offsets {:?} in:", ranges(offsets));
            for i in in_files {
                eprintln!("    {} {:?}", files[i].key, files[i].metadata);
            }
        }
    }
    report
}

/// Counts the recovery paths daemons took, from their logs in `dir`.
pub fn recoveries(dir: &std::path::Path) -> String {
    let mut text = String::new();
    for e in std::fs::read_dir(dir).expect("log dir").flatten() {
        if e.file_name().to_string_lossy().starts_with("daemon-") {
            text.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
        }
    }
    [
        ("replayed segments", "replay: segment already delivered"),
        ("rewinds", "rewinding partition"),
        ("corrective seeks", "seeking back to verify"),
        ("stall seeks", "seeking back to re-read"),
        ("real offset gaps", "offsets do not exist"),
    ]
    .iter()
    .map(|(label, needle)| format!("{label} {}", text.matches(needle).count()))
    .collect::<Vec<_>>()
    .join(", ")
}

/// A plain HTTP/1.1 GET on loopback: `(status, body)`, or `None` when nothing answers.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::Write;
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    c.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        c,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    c.read_to_string(&mut text).ok()?;
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    Some((status, body))
}

/// Peak resident set size of a process in KiB (`VmHWM`).
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// A TCP forwarder on loopback that can be taken down (connections refused, open ones cut) and
/// brought back on the same port: an S3 outage without losing the S3 server's state.
pub struct Proxy {
    pub port: u16,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Proxy {
    /// Forwards `127.0.0.1:<port>` to `target` (`host:port`).
    pub fn start(target: &str) -> Proxy {
        use std::sync::{atomic::Ordering, Arc, Mutex};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let target = target.to_string();
        let flag = up.clone();
        std::thread::spawn(move || {
            let open: Arc<Mutex<Vec<std::net::TcpStream>>> = Arc::default();
            let mut listener = Some(listener);
            loop {
                if !flag.load(Ordering::SeqCst) {
                    listener = None;
                    for c in open.lock().expect("lock").drain(..) {
                        let _ = c.shutdown(std::net::Shutdown::Both);
                    }
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
                let l = match &listener {
                    Some(l) => l,
                    None => match std::net::TcpListener::bind(("127.0.0.1", port)) {
                        Ok(l) => listener.insert(l),
                        Err(_) => {
                            std::thread::sleep(Duration::from_millis(50));
                            continue;
                        }
                    },
                };
                l.set_nonblocking(true).expect("nonblocking");
                match l.accept() {
                    Ok((client, _)) => {
                        let _ = client.set_nonblocking(false);
                        let Ok(server) = std::net::TcpStream::connect(&target) else {
                            continue;
                        };
                        let mut o = open.lock().expect("lock");
                        o.push(client.try_clone().expect("clone"));
                        o.push(server.try_clone().expect("clone"));
                        for (mut from, mut to) in [
                            (
                                client.try_clone().expect("clone"),
                                server.try_clone().expect("clone"),
                            ),
                            (server, client),
                        ] {
                            std::thread::spawn(move || {
                                let _ = std::io::copy(&mut from, &mut to);
                                let _ = to.shutdown(std::net::Shutdown::Write);
                            });
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Proxy { port, up }
    }

    /// Refuses new connections and cuts open ones until [`Proxy::resume`].
    pub fn stop(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
    }

    /// Accepts connections again.
    pub fn resume(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Runs the real aws CLI (v1, from `TRAILPIPE_TEST_AWS_CLI`) against `endpoint` (moto when
/// `None`) in us-east-1, and returns its JSON output; a failing command fails the test.
pub fn aws(s: &Services, endpoint: Option<&str>, args: &[&str]) -> serde_json::Value {
    aws_with_env(s, endpoint, &[], args)
}

/// [`aws`] with extra environment variables (e.g. another identity's credentials).
pub fn aws_with_env(
    s: &Services,
    endpoint: Option<&str>,
    env: &[(&str, &str)],
    args: &[&str],
) -> serde_json::Value {
    let cli = std::env::var("TRAILPIPE_TEST_AWS_CLI").expect("TRAILPIPE_TEST_AWS_CLI");
    let out = Command::new(cli)
        .envs(env.iter().copied())
        .args(args)
        .args([
            "--endpoint-url",
            endpoint.unwrap_or(&s.s3_endpoint),
            "--output",
            "json",
            "--region",
            "us-east-1",
        ])
        .output()
        .expect("aws");
    assert!(
        out.status.success(),
        "aws {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

/// A new SNS topic with a new SQS queue subscribed to it (on moto): `(topic ARN, queue URL)`.
pub fn sns_topic_with_queue(s: &Services, name: &str) -> (String, String) {
    let text = |v: &serde_json::Value| v.as_str().expect("string").to_string();
    let topic = text(&aws(s, None, &["sns", "create-topic", "--name", &unique(name)])["TopicArn"]);
    let queue_url = text(
        &aws(
            s,
            None,
            &["sqs", "create-queue", "--queue-name", &unique(name)],
        )["QueueUrl"],
    );
    let queue_arn = text(
        &aws(
            s,
            None,
            &[
                "sqs",
                "get-queue-attributes",
                "--queue-url",
                &queue_url,
                "--attribute-names",
                "QueueArn",
            ],
        )["Attributes"]["QueueArn"],
    );
    aws(
        s,
        None,
        &[
            "sns",
            "subscribe",
            "--topic-arn",
            &topic,
            "--protocol",
            "sqs",
            "--notification-endpoint",
            &queue_arn,
        ],
    );
    (topic, queue_url)
}

/// Receives up to ten messages (waiting at most a second) from an SQS queue subscribed to an
/// SNS topic, deletes them, and returns each SNS notification's `Message`, parsed as JSON.
pub fn receive_sns_messages(s: &Services, queue_url: &str) -> Vec<serde_json::Value> {
    let got = aws(
        s,
        None,
        &[
            "sqs",
            "receive-message",
            "--queue-url",
            queue_url,
            "--max-number-of-messages",
            "10",
            "--wait-time-seconds",
            "1",
        ],
    );
    let mut out = Vec::new();
    for m in got["Messages"].as_array().into_iter().flatten() {
        let envelope: serde_json::Value =
            serde_json::from_str(m["Body"].as_str().expect("Body")).expect("SNS envelope");
        out.push(
            serde_json::from_str(envelope["Message"].as_str().expect("Message"))
                .expect("the SNS Message is JSON"),
        );
        aws(
            s,
            None,
            &[
                "sqs",
                "delete-message",
                "--queue-url",
                queue_url,
                "--receipt-handle",
                m["ReceiptHandle"].as_str().expect("handle"),
            ],
        );
    }
    out
}

/// A `[[trails]]` entry of a test configuration, built up from [`trail`]: multi-region and
/// cut every second unless a setting says otherwise. Displays as its TOML.
pub struct Trail {
    name: String,
    bucket: String,
    /// `key = value` lines, then sub-tables, then the selectors (TOML's order).
    keys: Vec<String>,
    tables: Vec<String>,
    selectors: String,
}

/// The trail `name` delivering to `bucket`, with no selectors yet (all management events).
pub fn trail(name: &str, bucket: &str) -> Trail {
    Trail {
        name: name.into(),
        bucket: bucket.into(),
        keys: vec![
            "is_multi_region_trail = true".into(),
            "delivery_interval_secs = 1".into(),
        ],
        tables: Vec::new(),
        selectors: String::new(),
    }
}

impl Trail {
    /// Adds keys of the trail (`key = value` lines; a key given twice is the later one).
    pub fn with(mut self, keys: &str) -> Self {
        let name = |line: &str| {
            line.split('=')
                .next()
                .unwrap_or_default()
                .trim()
                .to_string()
        };
        for line in keys.lines() {
            // TOML refuses a key given twice: the later one replaces the earlier.
            self.keys.retain(|k| name(k) != name(line));
            self.keys.push(line.into());
        }
        self
    }

    /// Adds a sub-table, e.g. `[trails.cloud_watch_logs]` and its keys.
    pub fn table(mut self, toml: &str) -> Self {
        self.tables.push(toml.into());
        self
    }

    /// Delivers to CloudWatch Logs group `log_group`.
    pub fn log_group(self, log_group: &str) -> Self {
        self.table(&format!(
            "[trails.cloud_watch_logs]\ncloud_watch_logs_log_group = \"{log_group}\""
        ))
    }

    /// Runs Insights of `types` (`ApiCallRateInsight`, `ApiErrorRateInsight`).
    pub fn insights(self, types: &[&str]) -> Self {
        let list: Vec<String> = types
            .iter()
            .map(|t| format!("{{ insight_type = \"{t}\" }}"))
            .collect();
        self.with(&format!("insight_selectors = [{}]", list.join(", ")))
    }

    /// Selects every generated record: all management events, S3 object and Lambda data
    /// events (tests that check every record is delivered).
    pub fn everything(mut self) -> Self {
        self.selectors = r#"[[trails.event_selectors]]
read_write_type = "All"
[[trails.event_selectors.data_resources]]
type = "AWS::S3::Object"
values = ["arn:aws:s3"]
[[trails.event_selectors.data_resources]]
type = "AWS::Lambda::Function"
values = ["arn:aws:lambda"]
"#
        .into();
        self
    }
}

impl std::fmt::Display for Trail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "\n[[trails]]")?;
        writeln!(
            f,
            "name = \"{}\"\ns3_bucket_name = \"{}\"",
            self.name, self.bucket
        )?;
        for k in self.keys.iter().chain(&self.tables) {
            writeln!(f, "{k}")?;
        }
        f.write_str(&self.selectors)
    }
}

/// The trail "everything" of [`Trail::everything`]: the `[[trails]]` of tests that check every
/// record is delivered.
pub fn everything_trail(bucket: &str) -> String {
    trail("everything", bucket).everything().to_string()
}

/// [`everything_trail`] named `name`, with `settings` (keys of the trail, or a sub-table such
/// as `[trails.cloud_watch_logs]`) before its selectors.
pub fn trail_of_everything(name: &str, bucket: &str, settings: &str) -> String {
    trail(name, bucket).with(settings).everything().to_string()
}

/// `[state]` and `[history]` (kept for ten years: generated records are old) in `dir`'s
/// `state` and `history` folders.
pub fn state_and_history(dir: &std::path::Path) -> String {
    format!(
        "[state]\ndir = \"{}\"\n\n[history]\npath = \"{}\"\nretention_days = 3650\n",
        dir.join("state").display(),
        dir.join("history").display()
    )
}

/// Waits up to `timeout` until `group` has committed every offset `topic` holds now.
pub fn all_committed(
    brokers: &str,
    group: &str,
    topic: &str,
    partitions: i32,
    timeout: Duration,
) -> bool {
    let end = end_offsets_total(brokers, topic, partitions);
    wait_until(timeout, || {
        committed_total(brokers, group, topic, partitions) >= end
    })
}

/// Asserts that `bucket` holds every record of `messages` exactly once.
pub fn assert_delivered_once(
    s: &Services,
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    topic: &str,
    partitions: i32,
    messages: &[(String, Vec<u8>)],
) {
    let report = exactly_once(s, s3, bucket, topic, partitions, messages);
    assert_eq!(
        (report.lost, report.duplicated, report.delivered),
        (0, 0, messages.len()),
        "{report}"
    );
}

/// Every digest key of `bucket` by chain `(account, region)`, in key (= end time) order.
pub fn digest_chains(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
) -> std::collections::BTreeMap<(String, String), Vec<String>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let mut out: std::collections::BTreeMap<(String, String), Vec<String>> = Default::default();
    rt.block_on(async {
        let mut pages = s3.list_objects_v2().bucket(bucket).into_paginator().send();
        while let Some(page) = pages.next().await {
            for o in page.expect("list").contents() {
                let key = o.key().expect("key");
                let parts: Vec<&str> = key.split('/').collect();
                if let Some(i) = parts.iter().position(|p| *p == "CloudTrail-Digest") {
                    if i > 0 && i + 1 < parts.len() {
                        out.entry((parts[i - 1].to_string(), parts[i + 1].to_string()))
                            .or_default()
                            .push(key.to_string());
                    }
                }
            }
        }
    });
    out
}

/// One run of the real `aws cloudtrail validate-logs` over a chain: S3 from moto,
/// DescribeTrails and ListPublicKeys from the daemon at `port`.
pub struct AwsValidateLogs<'a> {
    /// The trail's ARN.
    pub trail_arn: &'a str,
    /// The trail's bucket.
    pub bucket: &'a str,
    /// The trail's key prefix.
    pub prefix: Option<&'a str>,
    /// The chain: (account, region).
    pub chain: &'a (String, String),
    /// `--start-time`.
    pub start: &'a str,
    /// Extra environment (credentials for an authenticated API).
    pub env: &'a [(&'a str, &'a str)],
}

impl AwsValidateLogs<'_> {
    /// Runs it (verbose) through the daemon at `port`: `(exit code, stdout + stderr)`.
    pub fn run(&self, s: &Services, port: u16) -> (i32, String) {
        let aws = std::env::var("TRAILPIPE_TEST_AWS_CLI").expect("TRAILPIPE_TEST_AWS_CLI");
        let endpoint = format!("http://127.0.0.1:{port}");
        let mut args = vec![
            "cloudtrail",
            "validate-logs",
            "--trail-arn",
            self.trail_arn,
            "--start-time",
            self.start,
            "--account-id",
            &self.chain.0,
            "--region",
            &self.chain.1,
            "--s3-bucket",
            self.bucket,
            "--endpoint-url",
            &endpoint,
            "--verbose",
        ];
        if let Some(p) = self.prefix {
            args.extend(["--s3-prefix", p]);
        }
        let out = std::process::Command::new(aws)
            .args(args)
            .env("AWS_ENDPOINT_URL_S3", &s.s3_endpoint)
            .env("AWS_ENDPOINT_URL", &s.s3_endpoint)
            .envs(self.env.iter().copied())
            .output()
            .expect("running aws cloudtrail validate-logs");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    }
}

/// The logs of several daemons, separated, for a failed assertion's message.
pub fn daemon_logs(daemons: &[Daemon]) -> String {
    daemons
        .iter()
        .map(Daemon::log_text)
        .collect::<Vec<_>>()
        .join("\n----\n")
}

/// The sum of every series of a metric on the daemon's `/metrics` at `port` (0 when absent).
pub fn metric_sum(port: u16, name: &str) -> f64 {
    let Some((_, text)) = http_get(port, "/metrics") else {
        return 0.0;
    };
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
