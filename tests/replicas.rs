//! Many replicas, one trailpipe (issue 17): three daemons in one consumer group share the
//! trails' lifecycle through the group's control topic. A change through any replica applies on
//! every replica, no file of a stopped trail is written afterwards by any of them, and a
//! replica that joins with an empty disk knows every change.

use std::{collections::HashSet, time::Duration};

use std::sync::LazyLock;

use crate::support::*;

static PORTS: LazyLock<[u16; 3]> = LazyLock::new(|| [free_port(), free_port(), free_port()]);
static IDLE_PORT: LazyLock<u16> = LazyLock::new(free_port);
const ADMIN_KEY_ID: &str = "AKIATRAILPIPEOPS0002";
const ADMIN_SECRET: &str = "replicas-admin-secret-0123456789";
const REBUILD: &str = "trail lifecycle applied: routing by the new state";

/// One replica's configuration: two trails logging everything, `main` and `other`, each to its
/// own bucket.
fn config(
    s: &Services,
    f: &Fresh,
    other_bucket: &str,
    port: u16,
    state: &std::path::Path,
) -> String {
    let (topic, dlq, group, bucket) = (&f.0, &f.1, &f.2, &f.3);
    format!(
        r#"{head}
[state]
dir = "{state}"

[integrity]
digest_settle_secs = 2

[[api.credentials]]
name = "ops"
access_key_id = "{ADMIN_KEY_ID}"
secret_access_key = "{ADMIN_SECRET}"
policy = "admin"
{main}{other}"#,
        head = kafka_to_moto(s, topic, dlq, group, port, ""),
        state = state.display(),
        main = trail_of_everything("main", bucket, ""),
        other = trail_of_everything(
            "other",
            other_bucket,
            "enable_log_file_validation = true
digest_interval_secs = 5"
        ),
    )
}

fn call(s: &Services, port: u16, args: &[&str]) -> serde_json::Value {
    aws_with_env(
        s,
        Some(&format!("http://127.0.0.1:{port}")),
        &[
            ("AWS_ACCESS_KEY_ID", ADMIN_KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", ADMIN_SECRET),
        ],
        args,
    )
}

fn is_logging(s: &Services, port: u16, trail: &str) -> bool {
    call(
        s,
        port,
        &["cloudtrail", "get-trail-status", "--name", trail],
    )["IsLogging"]
        .as_bool()
        .expect("IsLogging")
}

/// Event ids of every record in `bucket`'s log files.
fn ids_in(s3: &aws_sdk_s3::Client, bucket: &str) -> HashSet<String> {
    read_bucket(s3, bucket)
        .iter()
        .flat_map(|f| f.records.iter().map(|r| event_id(r)))
        .collect()
}

/// Waits until every record of `batch` is in `bucket` (delivered, so routed).
fn delivered(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    batch: &[(String, Vec<u8>)],
    daemons: &[Daemon],
) {
    let ids = ids_of(batch);
    assert!(
        wait_until(Duration::from_secs(60), || ids
            .is_subset(&ids_in(s3, bucket))),
        "{}",
        daemon_logs(daemons)
    );
}

fn ids_of(messages: &[(String, Vec<u8>)]) -> HashSet<String> {
    messages
        .iter()
        .map(|(_, v)| event_id(std::str::from_utf8(v).expect("utf8")))
        .collect()
}

#[test]
fn a_change_through_any_replica_applies_on_every_replica() {
    let Some(s) = Services::get("replicas") else {
        return;
    };
    let f = fresh(&s, "replicas", 3);
    let (topic, group, bucket, s3) = (f.0.clone(), f.2.clone(), f.3.clone(), f.4.clone());
    let other = unique("replicas-other").to_lowercase();
    create_bucket(&s3, &other);
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().expect("dir")).collect();
    let cfgs: Vec<String> = (0..3)
        .map(|i| config(&s, &f, &other, PORTS[i], &dirs[i].path().join("state")))
        .collect();
    let mut daemons: Vec<Daemon> = (0..3)
        .map(|i| Daemon::start(dirs[i].path(), &cfgs[i]))
        .collect();
    for port in *PORTS {
        assert!(wait_until(Duration::from_secs(30), || http_get(
            port, "/healthz"
        )
        .is_some()));
    }
    let started_at = (time::OffsetDateTime::now_utc() - time::Duration::minutes(2))
        .format(&time::format_description::well_known::Rfc3339)
        .expect("time");
    let before = generated_messages(300, 151);
    produce(&s.brokers, &topic, &before);
    delivered(&s3, &other, &before, &daemons);

    // Stop `main` through replica 0: every replica says so within seconds, and rebuilds.
    call(
        &s,
        PORTS[0],
        &["cloudtrail", "stop-logging", "--name", "main"],
    );
    let started = std::time::Instant::now();
    for port in *PORTS {
        assert!(
            wait_until(Duration::from_secs(10), || !is_logging(&s, port, "main")),
            "replica {port} still logging main\n{}",
            daemon_logs(&daemons)
        );
    }
    eprintln!(
        "stop-logging through one replica seen by all three in {:?}",
        started.elapsed()
    );
    assert!(
        wait_until(Duration::from_secs(30), || daemons.iter().all(|d| d
            .log_text()
            .matches(REBUILD)
            .count()
            >= 1)),
        "{}",
        daemon_logs(&daemons)
    );
    let stopped = generated_messages(300, 152);
    produce(&s.brokers, &topic, &stopped);
    delivered(&s3, &other, &stopped, &daemons);

    // Start it through replica 1; replica 2 leaves, and comes back with an empty disk.
    call(
        &s,
        PORTS[1],
        &["cloudtrail", "start-logging", "--name", "main"],
    );
    for port in *PORTS {
        assert!(wait_until(Duration::from_secs(10), || is_logging(
            &s, port, "main"
        )));
    }
    let leaving = daemons.pop().expect("replica 2");
    assert_eq!(leaving.terminate(Duration::from_secs(30)), Some(0));
    assert!(
        wait_until(Duration::from_secs(30), || daemons.iter().all(|d| d
            .log_text()
            .matches(REBUILD)
            .count()
            >= 2)),
        "{}",
        daemon_logs(&daemons)
    );
    let after = generated_messages(300, 153);
    produce(&s.brokers, &topic, &after);
    let empty = tempfile::tempdir().expect("dir");
    let cfg = config(&s, &f, &other, PORTS[2], &empty.path().join("state"));
    daemons.push(Daemon::start(empty.path(), &cfg));
    assert!(wait_until(Duration::from_secs(30), || http_get(
        PORTS[2], "/healthz"
    )
    .is_some()));
    assert!(
        is_logging(&s, PORTS[2], "main"),
        "the rejoined replica disagrees"
    );
    // A member that reads an empty topic delivers nothing itself: the delivery status it
    // reports is the group's.
    let idle_dir = tempfile::tempdir().expect("dir");
    let idle_topic = unique("replicas-idle");
    create_topic(&s.brokers, &idle_topic, 1);
    let idle_cfg = config(&s, &f, &other, *IDLE_PORT, &idle_dir.path().join("state")).replace(
        &format!("topics = [\"{topic}\"]"),
        &format!("topics = [\"{idle_topic}\"]"),
    );
    let idle = Daemon::start(idle_dir.path(), &idle_cfg);
    assert!(wait_until(Duration::from_secs(30), || http_get(
        *IDLE_PORT, "/healthz"
    )
    .is_some()));
    let status = call(
        &s,
        *IDLE_PORT,
        &["cloudtrail", "get-trail-status", "--name", "other"],
    );
    assert!(
        !status["LatestDeliveryTime"].is_null(),
        "a member that delivered nothing does not know the group's deliveries: {status}\n{}",
        idle.log_text()
    );
    let (_, ready) = http_get(*IDLE_PORT, "/readyz").expect("/readyz");
    let ready: serde_json::Value = serde_json::from_str(&ready).expect("json");
    let live_delivering = ready["group"]["replicas"]
        .as_array()
        .expect("group replicas")
        .iter()
        .filter(|r| r["live"] == true && !r["LatestDeliveryTime"].is_null())
        .count();
    assert!(live_delivering >= 2, "/readyz group section: {ready}");
    assert_eq!(idle.terminate(Duration::from_secs(30)), Some(0));
    let tagged = call(&s, PORTS[2], &["cloudtrail", "describe-trails"]);
    assert!(
        tagged["trailList"].as_array().is_some_and(|t| t.len() == 2),
        "{tagged}"
    );
    assert!(
        all_committed(&s.brokers, &group, &topic, 3, Duration::from_secs(90)),
        "{}",
        daemon_logs(&daemons)
    );

    let all: Vec<_> = [before.clone(), stopped.clone(), after.clone()].concat();
    // tansu's high watermarks can lag what it acknowledged, so "committed up to the end" is
    // checked against the records themselves too.
    assert!(
        wait_until(Duration::from_secs(60), || ids_of(&all)
            .is_subset(&ids_in(&s3, &other))),
        "{}",
        daemon_logs(&daemons)
    );
    assert_delivered_once(&s, &s3, &other, &topic, 3, &all);
    let in_main = ids_in(&s3, &bucket);
    let leaked = ids_of(&stopped)
        .iter()
        .filter(|id| in_main.contains(*id))
        .count();
    assert_eq!(
        leaked, 0,
        "records produced while main was stopped are in its files"
    );
    let expected = ids_of(&[before, after].concat());
    let missing = expected.iter().filter(|id| !in_main.contains(*id)).count();
    assert_eq!(
        missing, 0,
        "records produced while main was logging are missing from it"
    );
    let mut seen = HashSet::new();
    let duplicated = read_bucket(&s3, &bucket)
        .iter()
        .flat_map(|f| f.records.iter().map(|r| event_id(r)))
        .filter(|id| !seen.insert(id.clone()))
        .count();
    assert_eq!(duplicated, 0, "records in main's files twice");

    // One set of signing keys, whichever replica answers, and `validate-logs` through each
    // replica accepts the digests all three wrote.
    let keys = |port: u16| -> Vec<String> {
        let mut k: Vec<String> = call(&s, port, &["cloudtrail", "list-public-keys"])
            ["PublicKeyList"]
            .as_array()
            .expect("PublicKeyList")
            .iter()
            .map(|k| k["Fingerprint"].as_str().expect("Fingerprint").to_string())
            .collect();
        k.sort();
        k
    };
    let first = keys(PORTS[0]);
    assert!(!first.is_empty());
    for port in &PORTS[1..] {
        assert_eq!(keys(*port), first, "replica {port} lists other keys");
    }
    let chain = digest_chain(&s3, &other, &daemons);
    for port in *PORTS {
        let (code, text) = validate_other(&s, &other, &chain, &started_at, port);
        assert!(
            code == 0 && text.contains("digest files valid") && !text.contains("INVALID"),
            "validate-logs through replica {port}: {text}"
        );
    }
    eprintln!(
        "{} signing key(s), the same on all three replicas; validate-logs passes through each",
        first.len()
    );
    for d in daemons {
        assert_eq!(d.terminate(Duration::from_secs(30)), Some(0));
    }
}

/// A chain (account, region) of `bucket` with at least two digests (waits up to a minute).
fn digest_chain(s3: &aws_sdk_s3::Client, bucket: &str, daemons: &[Daemon]) -> (String, String) {
    let mut found = None;
    let ok = wait_until(Duration::from_secs(60), || {
        found = digest_chains(s3, bucket)
            .into_iter()
            .find(|(_, keys)| keys.len() >= 2)
            .map(|(c, _)| c);
        found.is_some()
    });
    assert!(ok, "no chain with two digests\n{}", daemon_logs(daemons));
    found.expect("found")
}

/// The real `aws cloudtrail validate-logs` over one chain of trail `other` through the replica
/// at `port`: `(exit code, output)`.
fn validate_other(
    s: &Services,
    bucket: &str,
    chain: &(String, String),
    start: &str,
    port: u16,
) -> (i32, String) {
    AwsValidateLogs {
        trail_arn: "arn:aws:cloudtrail:us-east-1:000000000000:trail/other",
        bucket,
        prefix: None,
        chain,
        start,
        env: &[
            ("AWS_ACCESS_KEY_ID", ADMIN_KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", ADMIN_SECRET),
        ],
    }
    .run(s, port)
}
