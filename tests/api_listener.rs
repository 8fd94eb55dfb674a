//! The API's own listener, with real parts (tansu, moto, the daemon binary, the real `aws` CLI):
//! slow clients holding a thousand connections stop neither `/metrics` nor delivery, and HTTPS
//! with a certificate that a SIGHUP replaces.

use std::{
    io::{Read, Write},
    net::TcpStream,
    path::Path,
    process::Command,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use crate::support::*;

/// One unsigned `DescribeTrails` on `port`: the HTTP status, or 0 when the connection was
/// closed without an answer.
fn describe_trails(port: u16) -> u16 {
    let Ok(mut c) = TcpStream::connect(("127.0.0.1", port)) else {
        return 0;
    };
    let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
    let body = "{}";
    let _ = write!(
        c,
        "POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/x-amz-json-1.1\r\nX-Amz-Target: com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.DescribeTrails\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut text = String::new();
    let _ = c.read_to_string(&mut text);
    text.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// The value of the counter sample `name{labels}` in a Prometheus text exposition (0 when
/// absent).
fn sample(metrics: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Open descriptors of process `pid`.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// Keeps `n` connections to `port` open, each having sent half a request head and then
/// nothing (slowloris); a connection the server closes is opened again.
fn slow_clients(port: u16, n: usize, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let mut open: Vec<TcpStream> = Vec::new();
        let mut opened = 0;
        while !stop.load(Ordering::Relaxed) {
            // Still open: nothing to read yet. Closed (or answered): replaced below.
            open.retain(|c| {
                matches!(c.peek(&mut [0u8; 1]), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
            });
            while open.len() < n {
                let Ok(mut c) = TcpStream::connect(("127.0.0.1", port)) else {
                    break;
                };
                let _ = c.write_all(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Tar");
                let _ = c.set_nonblocking(true);
                open.push(c);
                opened += 1;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        opened
    })
}

/// A thousand clients that open connections to the API and send half a request head (and
/// reconnect when cut): `/metrics` on its own listener keeps answering, records keep being
/// delivered and committed exactly once, the daemon's descriptors stay within
/// `api.max_connections`, the slow clients are cut at `header_read_timeout_secs`, and once
/// they stop the API answers again.
#[test]
fn a_thousand_slow_header_clients_stop_neither_metrics_nor_delivery() {
    let Some(s) = Services::get("slow header clients") else {
        return;
    };
    let (topic, dlq, group, bucket, s3) = fresh(&s, "slowloris", 2);
    let (port, api_port) = (free_port(), free_port());
    let cfg = format!(
        "{}header_read_timeout_secs = 3\n[api]\nlisten = \"127.0.0.1:{api_port}\"\nallow_unauthenticated = true\nmax_connections = 100\n{}",
        kafka_to_moto(&s, &topic, &dlq, &group, port, ""),
        everything_trail(&bucket)
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(dir.path(), &cfg);
    assert!(
        wait_until(Duration::from_secs(30), || describe_trails(api_port) == 200),
        "the API never answered\n{}",
        daemon.log_text()
    );
    let idle_fds = open_fds(daemon.child.id());

    let stop = Arc::new(AtomicBool::new(false));
    let flood = slow_clients(api_port, 1_000, stop.clone());
    std::thread::sleep(Duration::from_secs(2));
    let messages = generated_messages(3_000, 91);
    produce(&s.brokers, &topic, &messages);
    let mut slowest = Duration::ZERO;
    let mut peak_fds = 0;
    let delivered = wait_until(Duration::from_secs(90), || {
        let t = Instant::now();
        let answered = http_get(port, "/metrics").is_some_and(|(status, _)| status == 200);
        assert!(answered, "/metrics did not answer during the flood");
        slowest = slowest.max(t.elapsed());
        peak_fds = peak_fds.max(open_fds(daemon.child.id()));
        committed_total(&s.brokers, &group, &topic, 2) >= messages.len() as i64
    });
    // Held for at least two header timeouts, so cut clients have come back.
    std::thread::sleep(Duration::from_secs(7));
    let refused_during = describe_trails(api_port);
    stop.store(true, Ordering::Relaxed);
    let opened = flood.join().expect("slow clients");
    assert!(
        delivered,
        "records not committed during the flood\n{}",
        daemon.log_text()
    );
    eprintln!(
        "{opened} slow connections opened; /metrics answered within {slowest:?}; descriptors {idle_fds} idle, {peak_fds} at peak; an API call during the flood: {refused_during}"
    );
    assert!(opened >= 1_000, "only {opened} slow connections opened");
    assert!(
        slowest < Duration::from_secs(2),
        "/metrics took {slowest:?} during the flood"
    );
    // The slow clients' share is capped at 100; the rest is the daemon's own (S3 and broker
    // connections grow with delivery under load).
    assert!(
        peak_fds <= idle_fds + 100 + 64,
        "{peak_fds} descriptors open (idle: {idle_fds}, api.max_connections 100)"
    );

    // Slow clients were cut when the limit was reached and when their time was up.
    let (_, metrics) = http_get(port, "/metrics").expect("/metrics");
    let name = "trailpipe_http_connections_refused_total";
    let limit = sample(&metrics, name, &[("listener", "api"), ("reason", "limit")]);
    let timeout = sample(
        &metrics,
        name,
        &[("listener", "api"), ("reason", "timeout")],
    );
    assert!(
        limit >= 800.0 && timeout >= 100.0,
        "refused: {limit} at the limit, {timeout} timed out\n{metrics}"
    );
    assert_eq!(
        sample(&metrics, name, &[("listener", "server")]),
        0.0,
        "the /metrics listener refused connections"
    );
    // The flood is over: within a header timeout the API answers again.
    assert!(
        wait_until(Duration::from_secs(10), || describe_trails(api_port) == 200),
        "the API did not recover"
    );
    assert_eq!(daemon.terminate(Duration::from_secs(30)), Some(0));
    assert_delivered_once(&s, &s3, &bucket, &topic, 2, &messages);
}

/// Runs the real aws CLI's `cloudtrail describe-trails` against `https://localhost:port`
/// trusting `ca`; (success, stderr).
fn describe_over_tls(port: u16, ca: &Path) -> (bool, String) {
    let cli = std::env::var("TRAILPIPE_TEST_AWS_CLI").expect("TRAILPIPE_TEST_AWS_CLI");
    let out = Command::new(cli)
        .args(["cloudtrail", "describe-trails", "--endpoint-url"])
        .arg(format!("https://localhost:{port}"))
        .arg("--ca-bundle")
        .arg(ca)
        .args(["--region", "us-east-1", "--output", "json"])
        .env("AWS_MAX_ATTEMPTS", "1")
        .output()
        .expect("aws");
    (
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("everything"),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `[api.tls]`: the real CLI calls the API over HTTPS (and plain HTTP to that port gets
/// nothing), `/metrics` stays plain on its own listener, `trailpipe lookup` follows, and a
/// SIGHUP serves the certificate now in the files — an unreadable one is refused and the
/// previous one kept — as does a change of the files without a signal.
#[test]
fn the_api_serves_https_and_a_sighup_swaps_its_certificate() {
    let Some(s) = Services::get("API over TLS") else {
        return;
    };
    let Ok(tls) = std::env::var("TRAILPIPE_TEST_TLS_DIR") else {
        eprintln!("skipping API over TLS: TRAILPIPE_TEST_TLS_DIR not set (scripts/services.sh makes the certificates)");
        return;
    };
    let tls = Path::new(&tls);
    let (topic, dlq, group, bucket, _s3) = fresh(&s, "apitls", 1);
    let (port, api_port) = (free_port(), free_port());
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = (dir.path().join("api.pem"), dir.path().join("api.key"));
    std::fs::copy(tls.join("server.pem"), &cert).expect("cert");
    std::fs::copy(tls.join("server.key"), &key).expect("key");
    let cfg = format!(
        "{}[api]\nlisten = \"127.0.0.1:{api_port}\"\nallow_unauthenticated = true\n[api.tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n[history]\npath = \"{}\"\n{}",
        kafka_to_moto(&s, &topic, &dlq, &group, port, ""),
        cert.display(),
        key.display(),
        dir.path().join("history").display(),
        everything_trail(&bucket)
    );
    let daemon = Daemon::start(dir.path(), &cfg);
    let ca = tls.join("ca.pem");
    assert!(
        wait_until(Duration::from_secs(30), || describe_over_tls(api_port, &ca)
            .0),
        "the CLI could not call the API over TLS: {}\n{}",
        describe_over_tls(api_port, &ca).1,
        daemon.log_text()
    );
    assert_eq!(
        describe_trails(api_port),
        0,
        "plain HTTP answered on the TLS port"
    );
    assert_eq!(
        http_get(port, "/healthz").map(|(s, _)| s),
        Some(200),
        "/healthz on the plain listener"
    );
    let lookup = Command::new(env!("CARGO_BIN_EXE_trailpipe"))
        .args(["lookup", "--config"])
        .arg(dir.path().join("trailpipe.toml"))
        .arg("--ca-bundle")
        .arg(&ca)
        .output()
        .expect("trailpipe lookup");
    assert!(
        lookup.status.success(),
        "trailpipe lookup over TLS: {}",
        String::from_utf8_lossy(&lookup.stderr)
    );

    // A renewed certificate (here: an expired one, which the CLI must then refuse) is served
    // after a SIGHUP, without a restart.
    std::fs::copy(tls.join("server-expired.pem"), &cert).expect("cert");
    std::fs::copy(tls.join("server-expired.key"), &key).expect("key");
    let hup = |d: &Daemon| {
        Command::new("kill")
            .args(["-HUP", &d.child.id().to_string()])
            .status()
            .expect("kill -HUP");
    };
    hup(&daemon);
    assert!(
        wait_until(Duration::from_secs(30), || daemon
            .log_text()
            .contains("API TLS certificate reloaded (configuration reloaded)")),
        "{}",
        daemon.log_text()
    );
    let (ok, err) = describe_over_tls(api_port, &ca);
    assert!(
        !ok && err.to_lowercase().contains("expired"),
        "the reloaded (expired) certificate was not served: {err}"
    );

    // A broken certificate file is refused on reload; the previous certificate stays.
    std::fs::write(&cert, "not a certificate").expect("cert");
    hup(&daemon);
    assert!(
        wait_until(Duration::from_secs(30), || daemon
            .log_text()
            .contains("could not be reloaded (configuration reloaded)")),
        "{}",
        daemon.log_text()
    );
    let (ok, err) = describe_over_tls(api_port, &ca);
    assert!(
        !ok && err.to_lowercase().contains("expired"),
        "the API stopped serving its previous certificate: {err}"
    );

    // Renewed files are picked up without a signal (a mounted Secret is not signalled).
    std::fs::copy(tls.join("server.pem"), &cert).expect("cert");
    std::fs::copy(tls.join("server.key"), &key).expect("key");
    assert!(
        wait_until(Duration::from_secs(40), || describe_over_tls(api_port, &ca)
            .0),
        "the renewed certificate files were not picked up: {}\n{}",
        describe_over_tls(api_port, &ca).1,
        daemon.log_text()
    );
    assert!(daemon.log_text().contains("certificate files changed"));
    assert_eq!(daemon.terminate(Duration::from_secs(30)), Some(0));
}

/// A flood of unsigned calls from one address: past `api.max_unverified_calls_per_sec` (and
/// its burst of five times as many) they are answered `ThrottlingException` and counted, and
/// only the admitted ones become self-records — an anonymous client cannot fill the trails.
#[test]
fn an_unsigned_flood_is_throttled_and_cannot_fill_the_trails() {
    let Some(s) = Services::get("unsigned flood") else {
        return;
    };
    let (topic, dlq, group, bucket, _s3) = fresh(&s, "unsignedflood", 1);
    let port = free_port();
    let cfg = format!(
        "{}[api]\nmax_unverified_calls_per_sec = 5\n{}",
        kafka_to_moto(&s, &topic, &dlq, &group, port, ""),
        everything_trail(&bucket)
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(dir.path(), &cfg);
    assert!(
        wait_until(Duration::from_secs(30), || http_get(port, "/healthz")
            .is_some()),
        "{}",
        daemon.log_text()
    );
    let began = Instant::now();
    let statuses: Vec<u16> = (0..200).map(|_| describe_trails(port)).collect();
    let took = began.elapsed();
    let ok = statuses.iter().filter(|&&c| c == 200).count();
    let throttled = statuses.iter().filter(|&&c| c == 400).count();
    // A burst of 25, then 5 a second.
    let most = 25 + 5 * (took.as_secs_f64().ceil() as usize) + 1;
    eprintln!("200 unsigned calls in {took:?}: {ok} answered, {throttled} throttled");
    assert_eq!(ok + throttled, 200, "{statuses:?}");
    assert!(
        (25..=most).contains(&ok),
        "{ok} of 200 admitted in {took:?}"
    );
    let (_, metrics) = http_get(port, "/metrics").expect("/metrics");
    assert_eq!(
        sample(&metrics, "trailpipe_api_calls_throttled_total", &[]) as usize,
        throttled
    );
    // The admitted calls' self-records, and no more, are in the topic.
    let records = consume_all(&s.brokers, &topic, ok + 1, Duration::from_secs(10));
    let calls = records
        .iter()
        .filter(|(r, _)| {
            let v: serde_json::Value = serde_json::from_slice(r).expect("json");
            v["eventSource"] == "cloudtrail.amazonaws.com" && v["eventName"] == "DescribeTrails"
        })
        .count();
    assert_eq!(
        (records.len(), calls),
        (ok, ok),
        "self-records of the admitted calls"
    );
    assert_eq!(daemon.terminate(Duration::from_secs(30)), Some(0));
}
