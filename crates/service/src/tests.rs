//! The environment is process-global, so every test that sets `NOTIFY_SOCKET` or `WATCHDOG_*`
//! lives in the one test function below, which runs its steps in order.

use std::{
    os::unix::net::UnixDatagram,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use super::*;

/// Next datagram on `sock` as text, or `None` when none arrives within `wait`.
fn recv(sock: &UnixDatagram, wait: Duration) -> Option<String> {
    sock.set_read_timeout(Some(wait)).expect("set timeout");
    let mut buf = [0u8; 4096];
    match sock.recv(&mut buf) {
        Ok(n) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            None
        }
        Err(e) => panic!("recv: {e}"),
    }
}

fn drain(sock: &UnixDatagram) {
    while recv(sock, Duration::from_millis(1)).is_some() {}
}

#[test]
fn notifications_reach_the_socket_named_by_notify_socket() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&path).expect("bind notify socket");
    let short = Duration::from_millis(150);
    let long = Duration::from_secs(2);
    for v in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] {
        std::env::remove_var(v);
    }

    // Unsupervised: nothing is sent, no watchdog task.
    assert!(!is_supervised());
    notify_ready();
    notify_status("idle");
    assert_eq!(recv(&sock, short), None, "sent without NOTIFY_SOCKET");
    std::env::set_var("WATCHDOG_USEC", "200000");
    assert_eq!(watchdog_interval(), None, "watchdog without NOTIFY_SOCKET");
    std::env::remove_var("WATCHDOG_USEC");

    // Supervised: one datagram per call, in the protocol's words.
    std::env::set_var("NOTIFY_SOCKET", &path);
    assert!(is_supervised());
    notify_ready();
    assert_eq!(recv(&sock, long).as_deref(), Some("READY=1\n"));
    notify_status("consuming\nREADY=1");
    assert_eq!(
        recv(&sock, long).as_deref(),
        Some("STATUS=consuming READY=1\n"),
        "a status must stay one line"
    );
    notify_stopping();
    assert_eq!(recv(&sock, long).as_deref(), Some("STOPPING=1\n"));
    notify_reloading();
    let reloading = recv(&sock, long).expect("RELOADING=1");
    let usec = reloading
        .strip_prefix("RELOADING=1\nMONOTONIC_USEC=")
        .and_then(|r| r.strip_suffix('\n'))
        .unwrap_or_else(|| panic!("unexpected reload message {reloading:?}"));
    assert!(usec.parse::<u64>().expect("MONOTONIC_USEC is a number") > 0);

    // The watchdog interval is half of WATCHDOG_USEC, and only for the process it names.
    assert_eq!(watchdog_interval(), None, "no WATCHDOG_USEC, no watchdog");
    std::env::set_var("WATCHDOG_USEC", "200000");
    assert_eq!(watchdog_interval(), Some(Duration::from_millis(100)));
    std::env::set_var("WATCHDOG_PID", (std::process::id() + 1).to_string());
    assert_eq!(watchdog_interval(), None, "watchdog meant for another pid");
    std::env::set_var("WATCHDOG_PID", std::process::id().to_string());
    assert_eq!(watchdog_interval(), Some(Duration::from_millis(100)));

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_time()
        .build()
        .expect("runtime");
    let _in_runtime = rt.enter();

    // Pings flow at about half the interval while healthy, stop while not, and resume.
    let healthy = Arc::new(AtomicBool::new(true));
    let flag = healthy.clone();
    let task = spawn_watchdog(move || flag.load(Ordering::SeqCst)).expect("watchdog task");
    let t0 = Instant::now();
    for _ in 0..3 {
        assert_eq!(recv(&sock, long).as_deref(), Some("WATCHDOG=1\n"));
    }
    let three = t0.elapsed();
    assert!(
        three >= Duration::from_millis(180) && three < Duration::from_millis(1500),
        "3 pings (at 0, 100, 200 ms) took {three:?}"
    );
    healthy.store(false, Ordering::SeqCst);
    std::thread::sleep(short);
    drain(&sock);
    assert_eq!(
        recv(&sock, Duration::from_millis(400)),
        None,
        "pinged while unhealthy"
    );
    healthy.store(true, Ordering::SeqCst);
    assert_eq!(recv(&sock, long).as_deref(), Some("WATCHDOG=1\n"));
    task.abort();
    std::thread::sleep(short);
    drain(&sock);

    // Periodic STATUS= lines.
    let mut n = 0u64;
    let status = spawn_status_updates(Duration::from_millis(50), move || {
        n += 1;
        format!("tick {n}")
    })
    .expect("status task");
    assert_eq!(recv(&sock, long).as_deref(), Some("STATUS=tick 1\n"));
    assert_eq!(recv(&sock, long).as_deref(), Some("STATUS=tick 2\n"));
    status.abort();

    for v in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] {
        std::env::remove_var(v);
    }
}

#[test]
fn throughput_reports_rates_between_samples() {
    let mut t = Throughput::new();
    let t0 = Instant::now();
    assert_eq!(
        t.status_line_at(t0, 1000, 0),
        "received 1000 records, delivered 0"
    );
    assert_eq!(
        t.status_line_at(t0 + Duration::from_secs(2), 5000, 3000),
        "received 5000 records (2000/s), delivered 3000 (1500/s)"
    );
    // Same instant: no division by zero, totals only.
    assert_eq!(
        t.status_line_at(t0 + Duration::from_secs(2), 5000, 3000),
        "received 5000 records, delivered 3000"
    );
}

#[test]
fn status_text_is_kept_on_one_line() {
    assert_eq!(one_line("a\r\nb\nc"), "a  b c");
    assert_eq!(one_line("plain"), "plain");
}
