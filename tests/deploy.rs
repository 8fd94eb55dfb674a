//! Deployment files against the real daemon (issue 9): the Grafana dashboard only queries metrics
//! the daemon exports, the daemon speaks sd_notify to systemd, and `scripts/deploy-check.sh`
//! (systemd-analyze verify, kubectl kustomize, offline schema validation) passes.
//!
//! Which metric names count as "existing": Prometheus exporters render a counter or histogram
//! only after its first use, so one run cannot show them all. A tiny file-source run (records,
//! one unroutable record and one dead letter, through a FIFO so the daemon stays up while it is
//! scraped) exercises the normal path; every dashboard name must then be
//! (1) a series of a metric in `trailpipe_telemetry::METRICS` (the one place names live), and
//! (2) present on the scraped `/metrics`, with the exact series name (so `_bucket` vs a summary's
//!     `quantile` cannot drift) — unless its metric is listed in [`NOT_IN_A_FILE_RUN`]: Kafka-only
//!     gauges and incident-only counters, which no healthy file run can produce.

use std::{
    collections::{BTreeSet, HashSet},
    io::Write,
    os::unix::net::UnixDatagram,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use trailpipe_telemetry as names;

const BIN: &str = env!("CARGO_BIN_EXE_trailpipe");

/// Metrics a file-source run without failures cannot emit: Kafka offsets and assignment, and
/// counters of incidents (store errors, replays, conflicting cuts).
const NOT_IN_A_FILE_RUN: &[&str] = &[
    names::COMMITTED_OFFSET,
    names::CONSUMER_LAG,
    names::PARTITIONS_ASSIGNED,
    names::KAFKA_CLIENT_ERRORS,
    names::OFFSET_GAPS,
    names::FETCH_STALLS,
    names::SEGMENT_REWINDS,
    // Only with [history] / enable_log_file_validation, which the file run does not configure.
    names::HISTORY_EVENTS_STORED,
    names::HISTORY_ERRORS,
    // The history indexer reads a Kafka source only.
    names::HISTORY_INDEXED_EVENTS,
    names::HISTORY_INDEXER_LAG,
    names::DIGESTS_WRITTEN,
    names::DIGEST_ERRORS,
    names::DIGEST_CHAIN_CONFLICTS,
    names::DIGEST_UNVERIFIED_FILES,
    names::STORE_ERRORS,
    names::FILES_ALREADY_PRESENT,
    names::SEGMENT_CONFLICTS,
    // Only for records dated more than 3 days back or 15 minutes ahead.
    names::FILE_TIMES_RECORDED,
    // Insights events need days of baseline; the gauge is there from the start.
    names::INSIGHTS_EVENTS,
    // Only with CloudWatch Logs and SNS (AWS services), which the embedded file run does not use.
    names::CWL_EVENTS_DELIVERED,
    names::CWL_EVENTS_REJECTED,
    names::CWL_LATENCY,
    names::CWL_REQUESTS,
    names::CWL_ERRORS,
    names::METRIC_FILTER_SAMPLES,
    names::METRIC_FILTER_VALUE_SUM,
    names::ALARM_STATE,
    names::ALARM_NOTIFICATIONS,
    names::METRIC_DATA_PUBLISHED,
    names::SNS_NOTIFICATIONS,
    names::SNS_NOTIFIED_KEYS,
    names::SNS_ERRORS,
    names::SNS_MESSAGE_KEYS,
    names::SNS_NOTIFY_LATENCY,
    // Only with [[rules]], which the file run does not configure.
    names::RULE_MATCHED,
    names::RULE_DELIVERED,
    names::RULE_FAILED,
    names::RULE_LATENCY,
    // Only when a client holds connections open or is too slow.
    names::HTTP_CONNECTIONS_REFUSED,
    names::API_CALLS_THROTTLED,
    names::DEAD_LETTER_ERRORS,
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let t0 = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            t0.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A running `trailpipe run` over a file source whose only input file is a FIFO: the daemon
/// keeps reading (and serving HTTP) until the writer closes it.
struct Daemon {
    child: Child,
    port: u16,
    /// Removed (with the FIFO, config and output) when the daemon is dropped.
    _dir: tempfile::TempDir,
    close_input: Option<mpsc::Sender<()>>,
}

impl Daemon {
    fn start(envs: &[(&str, &str)]) -> Daemon {
        let dir = tempfile::tempdir().expect("temp dir");
        let input = dir.path().join("in");
        std::fs::create_dir(&input).expect("input dir");
        let fifo = input.join("records.ndjson");
        let ok = Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("running mkfifo")
            .success();
        assert!(ok, "mkfifo {}", fifo.display());
        let port = crate::support::free_port();
        let out = dir.path().join("out");
        let config = dir.path().join("trailpipe.toml");
        // Tiny version of config/demo.toml: one trail logging management events only, so the
        // generator's data events are unrouted; a 1 s interval delivers while the FIFO is open.
        std::fs::write(
            &config,
            format!(
                r#"[source]
kind = "file"
path = "{input}"
dead_letter_path = "{out}/dead-letters.ndjson"
[storage]
kind = "local"
local_root = "{out}"
[server]
listen = "127.0.0.1:{port}"
[[trails]]
name = "management"
s3_bucket_name = "audit-logs"
is_multi_region_trail = true
home_region = "us-east-1"
delivery_interval_secs = 1
insight_selectors = [{{ insight_type = "ApiCallRateInsight" }}]
"#,
                input = input.display(),
                out = out.display(),
            ),
        )
        .expect("writing the config");
        let records = Command::new(BIN)
            .args(["generate", "--records", "300", "--seed", "9"])
            .output()
            .expect("trailpipe generate");
        assert!(records.status.success(), "trailpipe generate failed");
        let mut input_bytes = records.stdout;
        input_bytes.extend_from_slice(b"this line is not JSON\n");

        let child = Command::new(BIN)
            .args(["run", "--config"])
            .arg(&config)
            .envs(envs.iter().copied())
            .env("TRAILPIPE_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("starting trailpipe run");
        // The writer blocks in open() until the daemon opens the FIFO, so it has its own thread;
        // it holds the FIFO open until told to close it.
        let (written_tx, written_rx) = mpsc::channel();
        let (close_tx, close_rx) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .open(&fifo)
                .expect("opening the FIFO");
            f.write_all(&input_bytes).expect("writing records");
            let _ = written_tx.send(());
            let _ = close_rx.recv();
        });
        let mut d = Daemon {
            child,
            port,
            _dir: dir,
            close_input: Some(close_tx),
        };
        if written_rx.recv_timeout(Duration::from_secs(60)).is_err() {
            let status = d.child.try_wait();
            panic!("the daemon never read its input (exit status so far: {status:?})");
        }
        d
    }

    /// Closes the input and waits for the daemon to deliver everything and exit.
    fn finish(mut self) {
        drop(self.close_input.take());
        let t0 = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for trailpipe") {
                assert!(status.success(), "trailpipe run exited with {status}");
                return;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "trailpipe run did not exit"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Series names on a Prometheus text exposition (`name{labels} value` lines).
fn exposed_series(text: &str) -> HashSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect()
}

/// Every `trailpipe_*` name in the dashboard's queries (panel targets and template variables).
fn dashboard_metric_names(dashboard: &serde_json::Value) -> BTreeSet<String> {
    fn walk(v: &serde_json::Value, out: &mut BTreeSet<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    if let (true, Some(s)) = (
                        matches!(k.as_str(), "expr" | "query" | "definition"),
                        v.as_str(),
                    ) {
                        let mut rest = s;
                        while let Some(i) = rest.find("trailpipe_") {
                            let tail = &rest[i..];
                            let end = tail
                                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                                .unwrap_or(tail.len());
                            out.insert(tail[..end].to_string());
                            rest = &tail[end..];
                        }
                    }
                    walk(v, out);
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    walk(dashboard, &mut out);
    out
}

/// The `METRICS` entry a series belongs to (`x_sum`, `x_count`, `x_bucket` belong to `x`).
fn metric_of(series: &str) -> Option<&'static str> {
    names::METRICS.iter().map(|(n, _, _)| *n).find(|n| {
        series == *n
            || ["_sum", "_count", "_bucket"]
                .iter()
                .any(|s| series.strip_suffix(s) == Some(n))
    })
}

fn load_dashboard() -> serde_json::Value {
    let path = repo().join("deploy/grafana/trailpipe.json");
    let text = std::fs::read_to_string(&path).expect("reading deploy/grafana/trailpipe.json");
    serde_json::from_str(&text).expect("the dashboard is valid JSON")
}

#[test]
fn dashboard_queries_only_metrics_a_running_daemon_exports() {
    let dashboard = load_dashboard();
    assert_eq!(dashboard["templating"]["list"][0]["name"], "datasource");
    let queried = dashboard_metric_names(&dashboard);
    assert!(
        !queried.is_empty(),
        "the dashboard queries no trailpipe metric"
    );

    let daemon = Daemon::start(&[]);
    let port = daemon.port;
    wait_for("/readyz", Duration::from_secs(30), || {
        crate::support::http_get(port, "/readyz").filter(|(s, _)| *s == 200)
    });
    // Wait until the input has gone all the way through: files written, the dead letter counted.
    let metrics = wait_for(
        "delivery to show on /metrics",
        Duration::from_secs(60),
        || {
            let (status, body) = crate::support::http_get(port, "/metrics")?;
            let series = exposed_series(&body);
            (status == 200
                && [
                    names::FILES_WRITTEN,
                    names::RECORDS_DEAD_LETTERED,
                    names::RECORDS_UNROUTED,
                ]
                .iter()
                .all(|n| series.contains(*n)))
            .then_some(body)
        },
    );
    let exposed = exposed_series(&metrics);
    daemon.finish();

    let mut problems = Vec::new();
    let mut checked_live = 0;
    for series in &queried {
        match metric_of(series) {
            None => problems.push(format!(
                "{series}: not a series of any metric in trailpipe_telemetry::METRICS"
            )),
            Some(metric) if exposed.iter().any(|s| metric_of(s) == Some(metric)) => {
                if exposed.contains(series) {
                    checked_live += 1;
                } else {
                    problems.push(format!(
                        "{series}: {metric} is exported, but not as this series (exported: {:?})",
                        exposed
                            .iter()
                            .filter(|s| metric_of(s) == Some(metric))
                            .collect::<BTreeSet<_>>()
                    ));
                }
            }
            Some(metric) if NOT_IN_A_FILE_RUN.contains(&metric) => {}
            Some(metric) => problems.push(format!(
                "{series}: {metric} did not appear on /metrics during a file run"
            )),
        }
    }
    assert!(
        problems.is_empty(),
        "dashboard problems:\n{}",
        problems.join("\n")
    );
    println!(
        "{} dashboard series: {checked_live} seen on a live /metrics, the rest Kafka-only or incident-only",
        queried.len()
    );
    assert!(
        checked_live >= 10,
        "only {checked_live} series checked live"
    );
}

#[test]
fn dashboard_covers_every_metric() {
    let queried: HashSet<&'static str> = dashboard_metric_names(&load_dashboard())
        .iter()
        .filter_map(|s| metric_of(s))
        .collect();
    let missing: Vec<_> = names::METRICS
        .iter()
        .map(|(n, _, _)| *n)
        .filter(|n| !queried.contains(n))
        .collect();
    assert!(
        missing.is_empty(),
        "metrics with no panel in deploy/grafana/trailpipe.json (add one): {missing:?}"
    );
}

#[test]
fn daemon_notifies_ready_then_watchdog() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&path).expect("binding the notify socket");
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let socket = path.to_str().expect("utf-8 temp path");
    let daemon = Daemon::start(&[("NOTIFY_SOCKET", socket), ("WATCHDOG_USEC", "200000")]);

    let mut messages = Vec::new();
    let t0 = Instant::now();
    let mut buf = [0u8; 4096];
    let seen = |m: &[String], what: &str| m.iter().position(|s| s.lines().any(|l| l == what));
    while t0.elapsed() < Duration::from_secs(30) {
        if let Ok(n) = sock.recv(&mut buf) {
            messages.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        if let Some(ready) = seen(&messages, "READY=1") {
            if seen(&messages[ready + 1..], "WATCHDOG=1").is_some() {
                break;
            }
        }
    }
    daemon.finish();
    let ready = seen(&messages, "READY=1")
        .unwrap_or_else(|| panic!("no READY=1 within 30 s; got {messages:?}"));
    assert!(
        seen(&messages[ready + 1..], "WATCHDOG=1").is_some(),
        "no WATCHDOG=1 after READY=1 (WATCHDOG_USEC=200000); got {messages:?}"
    );
}

#[test]
fn deploy_check_script_passes() {
    let script = repo().join("scripts/deploy-check.sh");
    let out = match Command::new("bash").arg(&script).arg(BIN).output() {
        Ok(out) => out,
        Err(e) => {
            println!("SKIP: cannot run bash: {e}");
            return;
        }
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The script skips (with a SKIP line) what a missing tool cannot check.
    println!("{text}");
    assert!(
        out.status.success(),
        "scripts/deploy-check.sh failed:\n{text}"
    );
    assert!(
        text.contains("PASS trailpipe validate"),
        "the example configs were not validated with the binary under test:\n{text}"
    );
}
