//! Exactly-once under crashes: while generated records flow from tansu to moto S3, the daemon is
//! killed with SIGKILL at random moments (mid-upload included) and restarted each time. At the
//! end every eventID appears in exactly one log file across the bucket, and every object is a
//! well-formed single-member gzip of `{"Records":[...]}`.

use std::time::Duration;

use crate::support::*;

const RECORDS: usize = 200_000;
const CRASHES: usize = 10;
/// The consumer's `session.timeout.ms` (see [`config`]).
const SESSION_TIMEOUT: Duration = Duration::from_secs(6);

fn config(s: &Services, topic: &str, dlq: &str, group: &str, bucket: &str) -> String {
    let source_extra = format!(
        "[source.librdkafka]\n\"session.timeout.ms\" = \"{}\"\n\"heartbeat.interval.ms\" = \"500\"",
        SESSION_TIMEOUT.as_millis()
    );
    let head = kafka_to_moto(s, topic, dlq, group, free_port(), &source_extra);
    format!(
        r#"{head}
[delivery]
max_segment_bytes = 1048576

{trail}"#,
        trail = trail_of_everything("everything", bucket, "max_file_bytes = 262144"),
    )
}

#[test]
fn kill_9_at_random_moments_loses_nothing_and_duplicates_nothing() {
    let Some(s) = Services::get("crash_exactly_once") else {
        return;
    };
    let (topic, dlq, group, bucket, s3) = fresh(&s, "crash", 4);
    let messages = generated_messages(RECORDS, 99);
    let cfg = config(&s, &topic, &dlq, &group, &bucket);
    let dir = tempfile::tempdir().expect("tempdir");

    // Produce in the background so crashes happen while records flow.
    let producer = produce_in_background(
        &s.brokers,
        &topic,
        &messages,
        20_000,
        Duration::from_millis(300),
    );
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
        if crashes == CRASHES {
            // The last daemon starts once every killed member's session has expired. tansu 0.6
            // never rebalances a formed group that loses a member through a missed heartbeat
            // (tansu-broker's `Inner<O, Formed>::heartbeat` drops the member and answers
            // REBALANCE_IN_PROGRESS, but the group stays formed and keeps the old assignment),
            // so partitions assigned to a killed member would stay orphaned for good; a Kafka
            // broker would rebalance. The crashes above still hit every phase of the join.
            std::thread::sleep(SESSION_TIMEOUT + Duration::from_secs(2));
        }
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

    let report = exactly_once(&s, &s3, &bucket, &topic, 4, &messages);
    eprintln!(
        "crash test: {RECORDS} produced, {report}, {crashes} crashes; {}",
        recoveries(dir.path())
    );
    if report.lost + report.duplicated > 0 {
        eprintln!("daemon logs kept in {}", dir.keep().display());
    }
    assert_eq!(report.lost, 0, "records lost");
    assert_eq!(report.duplicated, 0, "records duplicated");
    assert_eq!(report.unknown, 0, "records never produced");
    assert_eq!(report.delivered, RECORDS);
}
