//! One history, whoever answers (issue 17 item 2): three daemons in one consumer group, each
//! with `[history]`, each indexing the whole stream with its own reader. The real
//! `aws cloudtrail lookup-events` (all pages, every region) through **each** replica returns
//! exactly the management events produced — not the share of the partitions the replica owns
//! — and a replica restarted with an empty state and history directory answers the same once
//! it has read the topic again. Prints what it measured: events indexed per second per replica,
//! each replica's peak RSS, and single-page lookup latency through each replica.

use std::{
    collections::BTreeSet,
    process::Command,
    time::{Duration, Instant},
};

use std::sync::LazyLock;

use crate::support::*;

static PORTS: LazyLock<[u16; 3]> = LazyLock::new(|| [free_port(), free_port(), free_port()]);
const RECORDS: usize = 5_000;
/// The read-only API credential every replica is configured with (the aws CLI's environment).
const READER: [(&str, &str); 2] = [
    ("AWS_ACCESS_KEY_ID", "AKIATRAILPIPEHIST001"),
    ("AWS_SECRET_ACCESS_KEY", "history-replicas-secret-01234567"),
];
const INDEXED: &str = "trailpipe_history_indexed_events_total";

fn config(s: &Services, f: &Fresh, port: u16, dir: &std::path::Path) -> String {
    let (topic, dlq, group, bucket) = (&f.0, &f.1, &f.2, &f.3);
    format!(
        r#"{head}
{state_and_history}
[[api.credentials]]
name = "siem"
access_key_id = "{key_id}"
secret_access_key = "{secret}"
policy = "read"
{trail}"#,
        head = kafka_to_moto(s, topic, dlq, group, port, ""),
        state_and_history = state_and_history(dir),
        key_id = READER[0].1,
        secret = READER[1].1,
        trail = everything_trail(bucket),
    )
}

/// One event of a lookup answer: its id and `EventSource`.
type Seen = (String, String);

/// Every management event the history of the replica on `port` returns in `region`: the aws
/// CLI follows every NextToken itself. Checks the answer is newest first, without repeats.
fn lookup_region(port: u16, region: &str) -> Vec<Seen> {
    let aws = std::env::var("TRAILPIPE_TEST_AWS_CLI").expect("TRAILPIPE_TEST_AWS_CLI");
    let out = Command::new(aws)
        .args(["cloudtrail", "lookup-events", "--endpoint-url"])
        .arg(format!("http://127.0.0.1:{port}"))
        .envs(READER)
        .args(["--region", region, "--output", "json"])
        .output()
        .expect("aws");
    assert!(
        out.status.success(),
        "lookup-events through {port} in {region}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let events = v["Events"].as_array().expect("Events");
    let times: Vec<f64> = events
        .iter()
        .map(|e| e["EventTime"].as_f64().expect("EventTime"))
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "{port} {region}: not newest first"
    );
    let seen: Vec<Seen> = events
        .iter()
        .map(|e| {
            (
                e["EventId"].as_str().expect("EventId").to_string(),
                e["EventSource"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let unique: BTreeSet<&String> = seen.iter().map(|(id, _)| id).collect();
    assert_eq!(unique.len(), seen.len(), "{port} {region}: repeated events");
    seen
}

/// What the replica on `port` returns over `regions`: the produced events it holds, and the
/// others (the API's own self-records of the lookups).
fn lookup_all(
    port: u16,
    regions: &BTreeSet<String>,
    produced: &BTreeSet<String>,
) -> (BTreeSet<String>, Vec<Seen>) {
    let mut mine = BTreeSet::new();
    let mut others = Vec::new();
    for region in regions {
        for (id, source) in lookup_region(port, region) {
            if produced.contains(&id) {
                mine.insert(id);
            } else {
                others.push((id, source));
            }
        }
    }
    (mine, others)
}

/// The replica's `trailpipe_history_indexed_events_total`, when it answers.
fn indexed(port: u16) -> Option<u64> {
    let (_, body) = http_get(port, "/metrics")?;
    body.lines()
        .find_map(|l| l.strip_prefix(&format!("{INDEXED} ")))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
}

/// Samples the indexed-events counter of each of `ports` every 50 ms until each reaches
/// `target` (or `timeout`); per port, events per second from its last sample at zero to the
/// first at `target` (under-estimates by up to one sample interval).
fn index_rates(ports: &[u16], target: u64, timeout: Duration) -> Vec<Option<f64>> {
    let deadline = Instant::now() + timeout;
    let mut last_zero: Vec<Option<Instant>> = vec![None; ports.len()];
    let mut rate: Vec<Option<f64>> = vec![None; ports.len()];
    let mut done = vec![false; ports.len()];
    while Instant::now() < deadline && done.iter().any(|d| !d) {
        for (i, port) in ports.iter().enumerate() {
            if done[i] {
                continue;
            }
            let n = indexed(*port).unwrap_or(0);
            let now = Instant::now();
            if n == 0 {
                last_zero[i] = Some(now);
            } else if n >= target {
                done[i] = true;
                rate[i] = last_zero[i].map(|t| n as f64 / now.duration_since(t).as_secs_f64());
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    rate
}

/// Single-page lookups (50 events, `trailpipe lookup`, which signs like the SDKs) through the
/// replica whose config is `cfg`: (p50, max) milliseconds over `n` calls, process start included.
fn page_latency(cfg: &std::path::Path, region: &str, n: usize) -> (f64, f64) {
    let mut ms: Vec<f64> = (0..n)
        .map(|_| {
            let t = Instant::now();
            let out = Command::new(env!("CARGO_BIN_EXE_trailpipe"))
                .args(["lookup", "--config"])
                .arg(cfg)
                .args(["--region", region, "--max-items", "50", "--output", "json"])
                .envs(READER)
                .output()
                .expect("trailpipe lookup");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    (ms[ms.len() / 2], ms[ms.len() - 1])
}

#[test]
fn lookup_events_through_every_replica_returns_the_whole_history() {
    let Some(s) = Services::get("history_replicas") else {
        return;
    };
    for port in *PORTS {
        assert!(
            std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(),
            "port {port} is taken: another daemon would answer this test's lookups"
        );
    }
    let f = fresh(&s, "history-replicas", 3);
    let (topic, group) = (f.0.clone(), f.2.clone());
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().expect("dir")).collect();
    let mut daemons: Vec<Daemon> = (0..3)
        .map(|i| Daemon::start(dirs[i].path(), &config(&s, &f, PORTS[i], dirs[i].path())))
        .collect();
    for port in *PORTS {
        assert!(
            wait_until(Duration::from_secs(30), || http_get(port, "/healthz")
                .is_some()),
            "{}",
            daemon_logs(&daemons)
        );
    }

    let messages = generated_messages(RECORDS, 611);
    let produced: BTreeSet<String> = messages
        .iter()
        .map(|(_, v)| event_id(std::str::from_utf8(v).expect("utf8")))
        .collect();
    let mut regions = BTreeSet::new();
    let expected: BTreeSet<String> = messages
        .iter()
        .filter(|(_, v)| is_management(v))
        .map(|(_, v)| {
            let r: serde_json::Value = serde_json::from_slice(v).expect("json");
            regions.insert(r["awsRegion"].as_str().expect("awsRegion").to_string());
            r["eventID"].as_str().expect("eventID").to_string()
        })
        .collect();
    assert!(
        expected.len() > RECORDS / 3 && expected.len() < produced.len(),
        "{} management events of {}",
        expected.len(),
        produced.len()
    );
    let produce_started = Instant::now();
    produce(&s.brokers, &topic, &messages);
    let produce_secs = produce_started.elapsed().as_secs_f64();
    // Every replica indexes every management event, whichever partitions it owns.
    let rates = index_rates(&PORTS[..], expected.len() as u64, Duration::from_secs(120));
    assert!(
        all_committed(&s.brokers, &group, &topic, 3, Duration::from_secs(120)),
        "not delivered\n{}",
        daemon_logs(&daemons)
    );

    for (i, port) in PORTS.iter().enumerate() {
        let mut last = BTreeSet::new();
        let complete = wait_until(Duration::from_secs(60), || {
            last = lookup_all(*port, &regions, &produced).0;
            last == expected
        });
        let missing = expected.difference(&last).count();
        let extra: Vec<_> = last.difference(&expected).take(5).collect();
        assert!(
            complete,
            "replica {i} (port {port}): {} of {} management events, {missing} missing, data events returned: {extra:?}\n{}",
            last.len(),
            expected.len(),
            daemon_logs(&daemons)
        );
        eprintln!(
            "replica {i}: lookup-events returns all {} management events of {} records (every region, every page)",
            expected.len(),
            RECORDS
        );
    }
    // The lookups above were recorded by the replica that answered them (produced to the
    // topic, on whatever partition): those through replica 0 are in every replica's history.
    let mut self_records: BTreeSet<String> = BTreeSet::new();
    assert!(
        wait_until(Duration::from_secs(30), || {
            for (id, source) in lookup_all(PORTS[0], &regions, &produced).1 {
                assert_eq!(
                    source, "cloudtrail.amazonaws.com",
                    "{id} is neither produced nor a self-record"
                );
                self_records.insert(id);
            }
            !self_records.is_empty()
        }),
        "no self-records of the lookups in replica 0's history"
    );
    for (i, port) in PORTS.iter().enumerate().skip(1) {
        let mut have = 0;
        let ok = wait_until(Duration::from_secs(60), || {
            let others: BTreeSet<String> = lookup_all(*port, &regions, &produced)
                .1
                .into_iter()
                .map(|(id, _)| id)
                .collect();
            have = self_records.intersection(&others).count();
            have == self_records.len()
        });
        assert!(
            ok,
            "replica {i}: {have} of the {} self-records of lookups through replica 0",
            self_records.len()
        );
    }

    // Latency through each replica, and what each holds in memory.
    let region = regions.first().expect("a region").clone();
    let latency: Vec<(f64, f64)> = dirs
        .iter()
        .map(|d| page_latency(&d.path().join("trailpipe.toml"), &region, 15))
        .collect();

    // Replica 2 leaves and comes back with an empty disk: it reads the topic from its start.
    let leaving = daemons.pop().expect("replica 2");
    let rss_left = peak_rss_kib(leaving.child.id());
    assert_eq!(leaving.terminate(Duration::from_secs(30)), Some(0));
    let empty = tempfile::tempdir().expect("dir");
    let restarted = Instant::now();
    daemons.push(Daemon::start(
        empty.path(),
        &config(&s, &f, PORTS[2], empty.path()),
    ));
    let catch_up = index_rates(&PORTS[2..], expected.len() as u64, Duration::from_secs(120))[0];
    let caught_up_after = restarted.elapsed();
    let mut last = BTreeSet::new();
    let complete = wait_until(Duration::from_secs(60), || {
        last = lookup_all(PORTS[2], &regions, &produced).0;
        last == expected
    });
    assert!(
        complete,
        "the replica restarted empty returns {} of {} management events\n{}",
        last.len(),
        expected.len(),
        daemon_logs(&daemons)
    );
    let restarted_latency = page_latency(&empty.path().join("trailpipe.toml"), &region, 15);
    let history_bytes = dir_bytes(&empty.path().join("history"));

    let mut rss: Vec<Option<u64>> = daemons[..2]
        .iter()
        .map(|d| peak_rss_kib(d.child.id()))
        .collect();
    rss.push(rss_left);
    let rss_restarted = peak_rss_kib(daemons[2].child.id());
    eprintln!(
        "history_replicas: {RECORDS} records ({} management) produced in {produce_secs:.1}s",
        expected.len()
    );
    for i in 0..3 {
        eprintln!(
            "  replica {i}: indexed {} events/s while records arrived; peak RSS {} MiB; single-page lookup p50 {:.0} ms, max {:.0} ms (process start included)",
            rates[i].map_or("?".into(), |r| format!("{r:.0}")),
            rss[i].map_or("?".into(), |k| (k / 1024).to_string()),
            latency[i].0,
            latency[i].1,
        );
    }
    eprintln!(
        "  replica 2 restarted empty: caught up in {:.1}s ({} events/s from its first indexed batch); peak RSS {} MiB; lookup p50 {:.0} ms, max {:.0} ms; history on disk {} KiB; log says: {}",
        caught_up_after.as_secs_f64(),
        catch_up.map_or("?".into(), |r| format!("{r:.0}")),
        rss_restarted.map_or("?".into(), |k| (k / 1024).to_string()),
        restarted_latency.0,
        restarted_latency.1,
        history_bytes / 1024,
        daemons[2]
            .log_text()
            .lines()
            .find(|l| l.contains("reader caught up with the source"))
            .unwrap_or("(no caught-up line)")
    );
    // Nothing was committed under the indexer's own group name: it reads outside the group.
    assert_eq!(
        committed_total(&s.brokers, &format!("{group}.history"), &topic, 3),
        0,
        "the history indexer committed offsets"
    );
    for d in daemons {
        assert_eq!(d.terminate(Duration::from_secs(30)), Some(0));
    }
}

/// Bytes of the files under `dir`.
fn dir_bytes(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        total += if p.is_dir() {
            dir_bytes(&p)
        } else {
            entry.metadata().map_or(0, |m| m.len())
        };
    }
    total
}
