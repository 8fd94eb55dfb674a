//! Exactly-once under crashes: while generated records flow from tansu to moto S3, the daemon is
//! killed with SIGKILL at random moments (mid-upload included) and restarted each time. At the
//! end every eventID appears in exactly one log file across the bucket, and every object is a
//! well-formed single-member gzip of `{"Records":[...]}`.

mod support;

use std::{collections::HashMap, time::Duration};

use support::*;
use trailpipe_generator::{Generator, GeneratorConfig};

const RECORDS: usize = 200_000;
const CRASHES: usize = 10;

fn config(s: &Services, topic: &str, dlq: &str, group: &str, bucket: &str) -> String {
    let source_extra = "[source.librdkafka]\n\"session.timeout.ms\" = \"6000\"\n\"heartbeat.interval.ms\" = \"500\"";
    let head = kafka_to_moto(s, topic, dlq, group, 19474, source_extra);
    format!(
        r#"{head}
[delivery]
max_segment_bytes = 1048576

[[trails]]
name = "everything"
s3_bucket_name = "{bucket}"
is_multi_region_trail = true
delivery_interval_secs = 1
max_file_bytes = 262144
[[trails.event_selectors]]
read_write_type = "All"
[[trails.event_selectors.data_resources]]
type = "AWS::S3::Object"
values = ["arn:aws:s3"]
[[trails.event_selectors.data_resources]]
type = "AWS::Lambda::Function"
values = ["arn:aws:lambda"]
"#
    )
}

// Known failure, tracked in issue 3: with 10 kills over 200k records the last run measured
// 259 lost and 1222 duplicated eventIDs (all offsets committed). Run with `--ignored`.
#[test]
#[ignore = "exactly-once under kill -9 is not yet achieved (issue 3); run with --ignored"]
fn kill_9_at_random_moments_loses_nothing_and_duplicates_nothing() {
    let Some(s) = Services::get("crash_exactly_once") else {
        return;
    };
    let (topic, dlq, group, bucket) = (
        unique("crash"),
        unique("crash-dead"),
        unique("crash-group"),
        unique("crash").to_lowercase(),
    );
    create_topic(&s.brokers, &topic, 4);
    create_topic(&s.brokers, &dlq, 1);
    let s3 = s3_client();
    create_bucket(&s3, &bucket);
    let mut g = Generator::new(GeneratorConfig {
        accounts: 6,
        regions: 4,
        seed: 99,
        ..GeneratorConfig::default()
    });
    let messages: Vec<(String, Vec<u8>)> = (0..RECORDS)
        .map(|i| (format!("k{}", i % 24), g.next_record().into_bytes()))
        .collect();
    let cfg = config(&s, &topic, &dlq, &group, &bucket);
    let dir = tempfile::tempdir().expect("tempdir");

    // Produce in the background so crashes happen while records flow.
    let producer = {
        let (brokers, topic, messages) = (s.brokers.clone(), topic.clone(), messages.clone());
        std::thread::spawn(move || {
            for chunk in messages.chunks(20_000) {
                produce(&brokers, &topic, chunk);
                std::thread::sleep(Duration::from_millis(300));
            }
        })
    };
    // Crash moments from a fixed seed, 0.3–2.5 s apart: sometimes during the group join, often mid-upload.
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut crashes = 0;
    let mut daemon = Daemon::start(dir.path(), &cfg);
    while crashes < CRASHES {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(300 + seed % 2200));
        let before = committed_total(&s.brokers, &group, &topic, 4);
        daemon.child.kill().expect("SIGKILL");
        let _ = daemon.child.wait();
        crashes += 1;
        eprintln!("crash {crashes}: killed with {before} committed");
        daemon = Daemon::start(dir.path(), &cfg);
    }
    producer.join().expect("producer");
    let all = RECORDS as i64;
    let done = wait_until(Duration::from_secs(240), || {
        committed_total(&s.brokers, &group, &topic, 4) >= all
    });
    assert!(
        done,
        "committed {} of {all}\n{}",
        committed_total(&s.brokers, &group, &topic, 4),
        daemon.log_text()
    );
    assert_eq!(daemon.terminate(Duration::from_secs(25)), Some(0));

    let files = read_bucket(&s3, &bucket);
    let mut seen: HashMap<String, usize> = HashMap::new();
    for f in &files {
        check_key(&f.key, None);
        for r in &f.records {
            *seen.entry(event_id(r)).or_default() += 1;
        }
    }
    let produced: Vec<String> = messages
        .iter()
        .map(|(_, v)| event_id(std::str::from_utf8(v).expect("utf8")))
        .collect();
    let lost = produced.iter().filter(|id| !seen.contains_key(*id)).count();
    let duplicated = seen.values().filter(|&&n| n > 1).count();
    eprintln!("crash test: {RECORDS} produced, {} delivered in {} files, {lost} lost, {duplicated} duplicated, {crashes} crashes", seen.len(), files.len());
    assert_eq!(lost, 0, "records lost");
    assert_eq!(duplicated, 0, "records duplicated");
    assert_eq!(
        seen.len(),
        RECORDS,
        "records that were never produced appeared"
    );
}
