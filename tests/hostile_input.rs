//! Hostile input end to end (tansu, moto, the daemon binary): messages too large to parse,
//! envelopes with too many records and compression bombs become dead letters — their pointer
//! form when the original cannot be carried — and the partition moves on, within its memory.

use std::{collections::HashMap, time::Duration};

use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use crate::support::*;

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Produces one message of any size (up to 256 MiB before compression) with `compression`.
fn produce_large(brokers: &str, topic: &str, value: &[u8], compression: &str) {
    let p: BaseProducer = client_config(brokers, &[])
        .set("message.max.bytes", "268435456")
        .set("compression.type", compression)
        .create()
        .expect("producer");
    p.send(BaseRecord::to(topic).key("bomb").payload(value))
        .map_err(|(e, _)| e)
        .expect("send");
    p.flush(Duration::from_secs(60)).expect("flush");
}

/// The dead letters of `dlq` (at least `n`, waiting up to a minute): payload and headers.
fn letters(brokers: &str, dlq: &str, n: usize) -> Vec<(Vec<u8>, HashMap<String, String>)> {
    consume_all(brokers, dlq, n, Duration::from_secs(60))
}

/// With small limits: a message over `max_message_bytes` and larger than any letter becomes a
/// pointer letter (its SHA-256 names it); an envelope over `max_envelope_records` is carried
/// whole with its reason; the good records around them are delivered exactly once and the
/// committed offset reaches the end of the topic.
#[test]
fn oversized_messages_and_envelopes_are_dead_lettered_and_the_partition_moves_on() {
    let Some(s) = Services::get("oversized input") else {
        return;
    };
    let (topic, dlq, group, bucket, s3) = fresh(&s, "oversized", 1);
    let port = free_port();
    let limits = "max_record_bytes = 16384\nmax_message_bytes = 65536\nmax_envelope_records = 10";
    let cfg = format!(
        "{}{}",
        kafka_to_moto(&s, &topic, &dlq, &group, port, limits),
        everything_trail(&bucket)
    );
    let before = generated_messages(300, 101);
    let after = generated_messages(300, 102);
    let huge = vec![b'x'; 100_000];
    let records: Vec<String> = generated_messages(11, 103)
        .into_iter()
        .map(|(_, v)| String::from_utf8(v).expect("utf8"))
        .collect();
    let envelope = format!(r#"{{"Records":[{}]}}"#, records.join(",")).into_bytes();
    produce(&s.brokers, &topic, &before);
    produce(
        &s.brokers,
        &topic,
        &[
            ("huge".to_string(), huge.clone()),
            ("envelope".to_string(), envelope.clone()),
        ],
    );
    produce(&s.brokers, &topic, &after);
    let dir = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(dir.path(), &cfg);
    assert!(
        all_committed(&s.brokers, &group, &topic, 1, Duration::from_secs(90)),
        "the partition did not move past the bad messages\n{}",
        daemon.log_text()
    );
    assert_eq!(daemon.terminate(Duration::from_secs(30)), Some(0));

    let dead = letters(&s.brokers, &dlq, 2);
    assert_eq!(dead.len(), 2, "{dead:?}");
    let (pointer, headers) = &dead[0];
    assert_eq!(headers["trailpipe.dead_letter.form"], "pointer");
    assert_eq!(headers["trailpipe.error.code"], "message_too_large");
    assert_eq!(headers["trailpipe.source.offset"], "300");
    let p: serde_json::Value = serde_json::from_slice(pointer).expect("pointer JSON");
    assert_eq!(p["sha256"], sha256_hex(&huge));
    assert_eq!(p["bytes"], 100_000);
    assert_eq!(
        (&p["source"], &p["offset"]),
        (&topic.as_str().into(), &300.into())
    );
    let (original, headers) = &dead[1];
    assert_eq!(headers["trailpipe.dead_letter.form"], "original");
    assert_eq!(headers["trailpipe.error.code"], "too_many_records");
    assert_eq!(original, &envelope, "the envelope is carried unchanged");

    let good: Vec<(String, Vec<u8>)> = [before, after].concat();
    assert_delivered_once(&s, &s3, &bucket, &topic, 1, &good);
}

/// A gzip message of about 100 KB that inflates to a ~105 MB `{"Records":[...]}` of 35
/// million records, at the default limits: it is dead-lettered as a pointer without being
/// parsed, the records around it are delivered, and the daemon's peak RSS stays under the
/// 512 MiB the deployment gives it.
#[test]
fn a_compression_bomb_is_dead_lettered_unparsed_within_the_memory_bound() {
    let Some(s) = Services::get("compression bomb") else {
        return;
    };
    let (topic, dlq, group, bucket, s3) = fresh(&s, "bomb", 1);
    let port = free_port();
    let cfg = format!(
        "{}{}",
        kafka_to_moto(&s, &topic, &dlq, &group, port, ""),
        everything_trail(&bucket)
    );
    let records = 35_000_000;
    let mut bomb = Vec::with_capacity(3 * records + 16);
    bomb.extend_from_slice(b"{\"Records\":[");
    for _ in 0..records - 1 {
        bomb.extend_from_slice(b"{},");
    }
    bomb.extend_from_slice(b"{}]}");
    let before = generated_messages(200, 111);
    let after = generated_messages(200, 112);
    produce(&s.brokers, &topic, &before);
    produce_large(&s.brokers, &topic, &bomb, "gzip");
    produce(&s.brokers, &topic, &after);
    let bomb_sha = sha256_hex(&bomb);
    let bomb_len = bomb.len();
    drop(bomb);

    let dir = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(dir.path(), &cfg);
    assert!(
        all_committed(&s.brokers, &group, &topic, 1, Duration::from_secs(120)),
        "the partition did not move past the bomb\n{}",
        daemon.log_text()
    );
    let peak = peak_rss_kib(daemon.child.id()).expect("VmHWM");
    assert_eq!(daemon.terminate(Duration::from_secs(30)), Some(0));
    eprintln!(
        "a {bomb_len}-byte envelope of {records} records: peak RSS {} MiB",
        peak / 1024
    );
    assert!(peak < 512 * 1024, "peak RSS {} MiB", peak / 1024);

    let dead = letters(&s.brokers, &dlq, 1);
    assert_eq!(dead.len(), 1);
    let (pointer, headers) = &dead[0];
    assert_eq!(headers["trailpipe.dead_letter.form"], "pointer");
    assert_eq!(headers["trailpipe.error.code"], "message_too_large");
    let p: serde_json::Value = serde_json::from_slice(pointer).expect("pointer JSON");
    assert_eq!(
        (&p["sha256"], &p["bytes"]),
        (&bomb_sha.into(), &bomb_len.into())
    );

    let good: Vec<(String, Vec<u8>)> = [before, after].concat();
    assert_delivered_once(&s, &s3, &bucket, &topic, 1, &good);
}

/// A dead-letter topic that does not exist is reported at start (log and `/readyz`); a rejected
/// record then holds its partition (nothing is committed past it) until the topic is created,
/// when the letter is written, the partition moves on and `/readyz` is ready again.
#[test]
fn a_missing_dead_letter_topic_is_reported_and_holds_the_partition_until_created() {
    let Some(s) = Services::get("missing dead-letter topic") else {
        return;
    };
    let (topic, _dlq, group, bucket, s3) = fresh(&s, "nodlq", 1);
    let dlq = unique("nodlq-missing");
    let port = free_port();
    let cfg = format!(
        "{}{}",
        kafka_to_moto(&s, &topic, &dlq, &group, port, ""),
        everything_trail(&bucket)
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(dir.path(), &cfg);
    let not_ready =
        || http_get(port, "/readyz").filter(|(status, body)| *status == 503 && body.contains(&dlq));
    assert!(
        wait_until(Duration::from_secs(60), || not_ready().is_some()),
        "/readyz did not report the missing topic: {:?}\n{}",
        http_get(port, "/readyz"),
        daemon.log_text()
    );
    assert!(daemon.log_text().contains("does not exist"));

    let good = generated_messages(100, 121);
    produce(&s.brokers, &topic, &good[..50]);
    assert!(
        wait_until(Duration::from_secs(60), || committed_total(
            &s.brokers, &group, &topic, 1
        ) >= 50),
        "{}",
        daemon.log_text()
    );
    // A rejected record: nothing from it on is committed while its letter cannot be written.
    produce(
        &s.brokers,
        &topic,
        &[("bad".to_string(), b"not json".to_vec())],
    );
    produce(&s.brokers, &topic, &good[50..]);
    std::thread::sleep(Duration::from_secs(8));
    assert_eq!(
        committed_total(&s.brokers, &group, &topic, 1),
        50,
        "committed past a record whose dead letter was not written"
    );
    assert!(not_ready().is_some() || http_get(port, "/readyz").is_some_and(|(c, _)| c == 503));

    create_topic(&s.brokers, &dlq, 1);
    assert!(
        wait_until(Duration::from_secs(120), || committed_total(
            &s.brokers, &group, &topic, 1
        ) >= 101),
        "the partition did not move on once the topic existed\n{}",
        daemon.log_text()
    );
    assert!(
        wait_until(Duration::from_secs(30), || http_get(port, "/readyz")
            .is_some_and(|(c, _)| c == 200)),
        "{:?}",
        http_get(port, "/readyz")
    );
    assert_eq!(daemon.terminate(Duration::from_secs(30)), Some(0));
    let dead = letters(&s.brokers, &dlq, 1);
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].1["trailpipe.error.code"], "not_json");
    assert_delivered_once(&s, &s3, &bucket, &topic, 1, &good);
}

/// Records near the 1 MiB limit keep arriving while S3 is down for 30 s: the pipeline holds
/// at most `delivery.max_inflight_bytes` of them (the source waits, Kafka keeps the rest), so
/// peak RSS stays near the budget instead of growing with the backlog; once S3 is back
/// everything lands exactly once.
#[test]
fn large_records_during_an_s3_outage_stay_within_the_memory_budget() {
    let Some(s) = Services::get("large records, S3 outage") else {
        return;
    };
    let (topic, dlq, group, bucket, s3) = fresh(&s, "bigoutage", 2);
    let moto = s
        .s3_endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let proxy = Proxy::start(&moto);
    let port = free_port();
    let cfg = format!(
        "{}[delivery]\nmax_inflight_bytes = 67108864\n{}",
        kafka_to_moto(&s, &topic, &dlq, &group, port, ""),
        everything_trail(&bucket)
    )
    .replace(
        &format!("endpoint_url = \"{}\"", s.s3_endpoint),
        &format!("endpoint_url = \"http://127.0.0.1:{}\"", proxy.port),
    );
    // 400 records of ~900 KB: 360 MB, over five times the budget.
    let pad = "x".repeat(900_000);
    let messages: Vec<(String, Vec<u8>)> = generated_messages(400, 131)
        .into_iter()
        .map(|(k, v)| {
            let mut r: serde_json::Value = serde_json::from_slice(&v).expect("json");
            r["additionalEventData"] = serde_json::json!({ "pad": pad });
            (k, serde_json::to_vec(&r).expect("json"))
        })
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(dir.path(), &cfg);
    assert!(
        wait_until(Duration::from_secs(30), || http_get(port, "/healthz")
            .is_some()),
        "{}",
        daemon.log_text()
    );
    proxy.stop();
    produce(&s.brokers, &topic, &messages);
    std::thread::sleep(Duration::from_secs(30));
    let during = peak_rss_kib(daemon.child.id()).expect("VmHWM");
    proxy.resume();
    assert!(
        all_committed(&s.brokers, &group, &topic, 2, Duration::from_secs(180)),
        "not everything was committed after the outage\n{}",
        daemon.log_text()
    );
    let peak = peak_rss_kib(daemon.child.id()).expect("VmHWM");
    assert_eq!(daemon.terminate(Duration::from_secs(30)), Some(0));
    eprintln!(
        "360 MB of 900 KB records through a 30 s S3 outage, 64 MiB budget: peak RSS {} MiB during the outage, {} MiB overall",
        during / 1024,
        peak / 1024
    );
    assert!(
        during < 320 * 1024,
        "peak RSS {} MiB during the outage with a 64 MiB budget",
        during / 1024
    );
    assert_delivered_once(&s, &s3, &bucket, &topic, 2, &messages);
}

/// A corrupt lifecycle state file is refused at start with a message naming it and saying
/// what to do, not a panic and not a guess (a stopped trail must not silently log again).
#[test]
fn a_corrupt_state_file_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::create_dir_all(d.join("state")).expect("state dir");
    std::fs::write(
        d.join("state/trails.json"),
        b"{\"management\": {\"stopped\": tru",
    )
    .expect("state");
    std::fs::write(d.join("in.ndjson"), &generated_messages(1, 141)[0].1).expect("input");
    let cfg = format!(
        "[source]\nkind = \"file\"\npath = \"{in}\"\ndead_letter_path = \"{dead}\"\n[storage]\nkind = \"local\"\nlocal_root = \"{out}\"\n[state]\ndir = \"{state}\"\n[[trails]]\nname = \"management\"\ns3_bucket_name = \"audit-logs\"\n",
        in = d.join("in.ndjson").display(),
        dead = d.join("dead.ndjson").display(),
        out = d.join("out").display(),
        state = d.join("state").display(),
    );
    std::fs::write(d.join("trailpipe.toml"), cfg).expect("config");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_trailpipe"))
        .args(["run", "--config"])
        .arg(d.join("trailpipe.toml"))
        .output()
        .expect("trailpipe run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("trails.json") && err.contains("corrupt") && err.contains("remove it"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        !d.join("out").exists(),
        "delivered with an unknown lifecycle state"
    );
}

/// A broker process, killed when dropped (a failing test leaves none behind).
struct Broker(std::process::Child);

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A broker of this test's own (tansu, sqlite storage, so it keeps topics and offsets across
/// a restart) on `port`, run in `dir`.
fn private_broker(dir: &std::path::Path, port: u16) -> Broker {
    let tansu = std::env::var("TRAILPIPE_TEST_TANSU").expect("TRAILPIPE_TEST_TANSU");
    let url = format!("tcp://127.0.0.1:{port}");
    std::process::Command::new(tansu)
        .current_dir(dir)
        .env_remove("SCHEMA_REGISTRY")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env("RUST_LOG", "warn")
        .args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
        ])
        .args(["--storage-engine", "sqlite://broker.db"])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.join("broker.log")).expect("broker log"))
        .spawn()
        .map(Broker)
        .expect("start tansu")
}

/// The broker is killed mid-stream and comes back 10 s later on the same port and storage: the
/// daemon reconnects by itself, and every record is delivered exactly once.
#[test]
fn a_broker_restart_mid_stream_loses_and_duplicates_nothing() {
    let Some(s) = Services::get("broker restart") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let kafka_port = free_port();
    let brokers = format!("127.0.0.1:{kafka_port}");
    let broker = private_broker(dir.path(), kafka_port);
    assert!(
        wait_until(Duration::from_secs(30), || std::net::TcpStream::connect((
            "127.0.0.1",
            kafka_port
        ))
        .is_ok()),
        "the private broker did not start"
    );
    let (topic, dlq, group) = (
        unique("restart"),
        unique("restart-dead"),
        unique("restart-group"),
    );
    create_topic(&brokers, &topic, 2);
    create_topic(&brokers, &dlq, 1);
    let bucket = unique("restart").to_lowercase();
    let s3 = s3_client();
    create_bucket(&s3, &bucket);
    let private = Services {
        brokers: brokers.clone(),
        s3_endpoint: s.s3_endpoint.clone(),
    };
    let port = free_port();
    let cfg = format!(
        "{}{}",
        kafka_to_moto(&private, &topic, &dlq, &group, port, ""),
        everything_trail(&bucket)
    );
    let first = generated_messages(3_000, 151);
    let second = generated_messages(3_000, 152);
    produce(&brokers, &topic, &first);
    let daemon = Daemon::start(dir.path(), &cfg);
    assert!(
        wait_until(Duration::from_secs(60), || committed_total(
            &brokers, &group, &topic, 2
        ) >= 3_000),
        "{}",
        daemon.log_text()
    );
    drop(broker);
    std::thread::sleep(Duration::from_secs(10));
    let broker = private_broker(dir.path(), kafka_port);
    assert!(
        wait_until(Duration::from_secs(30), || std::net::TcpStream::connect((
            "127.0.0.1",
            kafka_port
        ))
        .is_ok()),
        "the private broker did not come back"
    );
    produce(&brokers, &topic, &second);
    let all: Vec<(String, Vec<u8>)> = [first, second].concat();
    assert!(
        wait_until(Duration::from_secs(120), || committed_total(
            &brokers, &group, &topic, 2
        ) >= all.len() as i64),
        "not everything committed after the broker came back\n{}",
        daemon.log_text()
    );
    assert_eq!(daemon.terminate(Duration::from_secs(30)), Some(0));
    assert_delivered_once(&private, &s3, &bucket, &topic, 2, &all);
    drop(broker);
}

/// Produces `messages` stamped `timestamp_ms` (CreateTime) by their producer.
fn produce_stamped(brokers: &str, topic: &str, messages: &[(String, Vec<u8>)], timestamp_ms: i64) {
    let p: BaseProducer = client_config(brokers, &[]).create().expect("producer");
    for (k, v) in messages {
        p.send(
            BaseRecord::to(topic)
                .key(k.as_bytes())
                .payload(&v[..])
                .timestamp(timestamp_ms),
        )
        .map_err(|(e, _)| e)
        .expect("send");
        p.poll(Duration::ZERO);
    }
    p.flush(Duration::from_secs(60)).expect("flush");
}

/// Every log file the bucket's digests list.
fn digested(s3: &aws_sdk_s3::Client, bucket: &str) -> std::collections::HashSet<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async {
        let mut out = std::collections::HashSet::new();
        let mut pages = s3.list_objects_v2().bucket(bucket).into_paginator().send();
        while let Some(page) = pages.next().await {
            for o in page.expect("list").contents() {
                let key = o.key().expect("key");
                if !key.contains("/CloudTrail-Digest/") {
                    continue;
                }
                let obj = s3.get_object().bucket(bucket).key(key).send().await;
                let body = obj.expect("get").body.collect().await.expect("body");
                let mut plain = Vec::new();
                std::io::Read::read_to_end(
                    &mut flate2::read::GzDecoder::new(&body.into_bytes()[..]),
                    &mut plain,
                )
                .expect("gunzip digest");
                let d: serde_json::Value = serde_json::from_slice(&plain).expect("digest json");
                for f in d["logFiles"].as_array().expect("logFiles") {
                    out.insert(f["s3Object"].as_str().expect("s3Object").to_string());
                }
            }
        }
        out
    })
}

/// Producer-chosen Kafka timestamps (2100, 2001) cannot put files where no digest looks: their
/// segments are dated by the recorded read time (a marker object each), every record is
/// delivered exactly once, and every log file is listed by a digest. Objects someone else
/// writes under the log-file pattern — bare, or with a real file's metadata copied on — are
/// never listed, and are counted.
#[test]
fn forged_timestamps_and_foreign_objects_never_escape_or_enter_the_digests() {
    let Some(s) = Services::get("forged timestamps, foreign objects") else {
        return;
    };
    let (topic, dlq, group, bucket, s3) = fresh(&s, "forgedtime", 1);
    let port = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = format!(
        r#"{}
[state]
dir = "{state}"
[integrity]
digest_settle_secs = 2
{trail}"#,
        kafka_to_moto(&s, &topic, &dlq, &group, port, ""),
        state = dir.path().join("state").display(),
        trail = trail_of_everything(
            "forged",
            &bucket,
            "enable_log_file_validation = true\ndigest_interval_secs = 5"
        ),
    );
    let now = generated_messages(200, 141);
    let future = generated_messages(200, 142);
    let past = generated_messages(200, 143);
    let later = generated_messages(200, 144);
    let daemon = Daemon::start(dir.path(), &cfg);
    produce(&s.brokers, &topic, &now);
    assert!(all_committed(
        &s.brokers,
        &group,
        &topic,
        1,
        Duration::from_secs(60)
    ));
    // Each batch anchors its own segment: the previous one is delivered before it is produced.
    for (batch, stamp) in [
        (&future, Some(4_102_444_800_000)),
        (&past, Some(978_307_200_000)),
    ] {
        produce_stamped(&s.brokers, &topic, batch, stamp.expect("stamp")); // 2100, 2001
        assert!(all_committed(
            &s.brokers,
            &group,
            &topic,
            1,
            Duration::from_secs(60)
        ));
    }
    produce(&s.brokers, &topic, &later);
    assert!(
        all_committed(&s.brokers, &group, &topic, 1, Duration::from_secs(90)),
        "{}",
        daemon.log_text()
    );
    let all: Vec<_> = [now, future, past, later].concat();
    assert_delivered_once(&s, &s3, &bucket, &topic, 1, &all);

    let files = read_bucket(&s3, &bucket);
    let logs: Vec<&Delivered> = files
        .iter()
        .filter(|f| f.key.contains("/CloudTrail/"))
        .collect();
    let folder_of = |t: time::OffsetDateTime| {
        format!(
            "/{:04}/{:02}/{:02}/",
            t.year(),
            u8::from(t.month()),
            t.day()
        )
    };
    let now_utc = time::OffsetDateTime::now_utc();
    let (today, yesterday) = (
        folder_of(now_utc),
        folder_of(now_utc - time::Duration::days(1)),
    );
    for f in &logs {
        assert!(
            f.key.contains(&today) || f.key.contains(&yesterday),
            "a log file dated away from now: {}",
            f.key
        );
    }
    let by_source = |v: &str| {
        logs.iter()
            .filter(|f| f.metadata.get("trailpipe-file-time").map(String::as_str) == Some(v))
            .count()
    };
    let (recorded, kafka) = (by_source("recorded"), by_source("kafka-timestamp"));
    assert!(
        recorded >= 2 && kafka >= 1,
        "recorded {recorded}, kafka {kafka}"
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let markers = rt.block_on(async {
        let l = s3
            .list_objects_v2()
            .bucket(&bucket)
            .prefix("trailpipe/file-times/")
            .send()
            .await
            .expect("list markers");
        l.contents().len()
    });
    assert!(
        markers >= 2,
        "{markers} file-time markers; files: {:?}",
        logs.iter()
            .map(|f| (&f.key, &f.metadata))
            .collect::<Vec<_>>()
    );

    // Foreign objects under the log-file pattern, in the folder of a real file, while digests
    // are still being written: one bare, one with the real file's metadata (MAC included).
    let real = logs[0];
    let folder = real.key.rsplit_once('/').expect("folder").0.to_string();
    let name = real.key.rsplit_once('/').expect("name").1;
    let forged_bare = format!("{folder}/{}", name.replace(".json.gz", "X.json.gz"));
    let forged_copy = format!("{folder}/{}", name.replace(".json.gz", "Y.json.gz"));
    let body = {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut e, br#"{"Records":[{"eventName":"Forged"}]}"#)
            .expect("gzip");
        e.finish().expect("gzip")
    };
    rt.block_on(async {
        for (key, meta) in [
            (&forged_bare, None),
            (&forged_copy, Some(real.metadata.clone())),
        ] {
            s3.put_object()
                .bucket(&bucket)
                .key(key)
                .body(body.clone().into())
                .set_metadata(meta)
                .send()
                .await
                .expect("put forged");
        }
    });
    let delivered: Vec<String> = logs.iter().map(|f| f.key.clone()).collect();
    let mut listed = Default::default();
    let complete = wait_until(Duration::from_secs(60), || {
        listed = digested(&s3, &bucket);
        delivered.iter().all(|k| listed.contains(k))
            && http_get(port, "/metrics").is_some_and(|(_, m)| {
                m.lines().any(|l| {
                    l.starts_with("trailpipe_digest_unverified_files_total{trail=\"forged\"}")
                })
            })
    });
    let missing: Vec<&String> = delivered.iter().filter(|k| !listed.contains(*k)).collect();
    assert!(
        complete,
        "log files no digest lists: {missing:?}\n{}",
        daemon.log_text()
    );
    assert!(!listed.contains(&forged_bare) && !listed.contains(&forged_copy));
    let log = daemon.log_text();
    assert!(
        log.contains(&forged_bare) && log.contains(&forged_copy),
        "{log}"
    );
    assert_eq!(daemon.terminate(Duration::from_secs(30)), Some(0));
    eprintln!(
        "{} log files ({recorded} dated by a recorded time, {kafka} by the Kafka timestamp), {markers} markers, all digested; 2 foreign objects left out",
        logs.len()
    );
}
