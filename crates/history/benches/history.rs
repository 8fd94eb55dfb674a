//! Event history benchmark: ingest rate, LookupEvents latency per attribute (50-event pages),
//! and store size per million events. Run with
//! `cargo bench -p trailpipe-history --bench history` (release profile).
//!
//! `HISTORY_BENCH_EVENTS` records (default 2,000,000) from the project's generator, spread
//! over 80 days in 3 regions, are appended in batches of `HISTORY_BENCH_BATCH` (default 2,000;
//! one fsync each), then the store is reopened and each attribute is looked up with values of
//! high, medium and low frequency: first pages over the whole window, first pages of random
//! windows, and second pages.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use trailpipe_generator::{Generator, GeneratorConfig};
use trailpipe_history::{extract, AttributeKey, HistoryConfig, HistoryStore, LookupRequest};

const DAY: i64 = 86_400;
const T0: i64 = 1_793_491_200;
/// Days the records span (`HISTORY_BENCH_SPAN_DAYS`, default 80).
fn span_days() -> i64 {
    env_or("HISTORY_BENCH_SPAN_DAYS", 80) as i64
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// CPU seconds (user + system) used so far by the process (`self`) or this thread
/// (`thread-self`), from /proc: robust to other load on a shared machine, unlike wall time.
fn cpu_secs(who: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{who}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // After the command name: utime and stime are fields 12 and 13 (0-based), in 1/100 s.
    (ticks(11) + ticks(12)) / 100.0
}

/// Peak resident set size of the process so far (`VmHWM`), in MiB.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let n = env_or("HISTORY_BENCH_EVENTS", 2_000_000);
    let batch = env_or("HISTORY_BENCH_BATCH", 2_000);
    let tmp;
    let path = match std::env::var("HISTORY_BENCH_DIR") {
        Ok(p) => std::path::PathBuf::from(p),
        Err(_) => {
            tmp = tempfile::tempdir().expect("tempdir");
            tmp.path().join("history")
        }
    };
    let cfg = HistoryConfig {
        max_bytes: u64::MAX,
        ..HistoryConfig::new(&path)
    };
    let mut g = Generator::new(GeneratorConfig {
        accounts: 20,
        regions: 3,
        seed: 42,
        start_time: T0,
        events_per_second: n as f64 / (span_days() * DAY) as f64,
    });
    // Every 97th kept us-east-1 event's attribute values, to pick lookups from.
    let mut seen: HashMap<(AttributeKey, String), usize> = HashMap::new();
    let store = HistoryStore::open(cfg.clone()).expect("open");
    let (mut stored, mut gen_time, mut append_time) = (0usize, Duration::ZERO, Duration::ZERO);
    let mut append_cpu = 0.0;
    let process_cpu_start = cpu_secs("self");
    let mut records: Vec<Vec<u8>> = Vec::with_capacity(batch);
    let mut i = 0usize;
    let started = Instant::now();
    while i < n {
        let t = Instant::now();
        records.clear();
        for _ in 0..batch.min(n - i) {
            let mut r = Vec::with_capacity(2048);
            g.write_record(&mut r);
            if i.is_multiple_of(97) {
                if let Ok(e) = extract(&r) {
                    if e.region == "us-east-1" {
                        for (k, v) in e.attribute_values() {
                            *seen.entry((k, v.into_owned())).or_default() += 1;
                        }
                    }
                }
            }
            records.push(r);
            i += 1;
        }
        gen_time += t.elapsed();
        let t = Instant::now();
        let c = cpu_secs("thread-self");
        stored += store.append(&records).expect("append").stored;
        append_cpu += cpu_secs("thread-self") - c;
        append_time += t.elapsed();
        if i % (n / 10).max(1) < batch {
            eprintln!(
                "  {i} records, {:.0} appended/s so far",
                stored as f64 / append_time.as_secs_f64()
            );
        }
    }
    let t = Instant::now();
    store.flush().expect("flush");
    let flush_time = t.elapsed();
    let wall = started.elapsed();
    let process_cpu = cpu_secs("self") - process_cpu_start;
    let disk = store.disk_bytes().expect("size");
    let tables = store.stored_bytes();
    drop(store);
    println!("== ingest ==");
    println!(
        "records generated {n}, stored (management) {stored}, batch {batch}, span {} days",
        span_days()
    );
    println!(
        "append: {:.0} stored events/s ({:.0} records/s incl. data events skipped), {:.1}s; generator {:.1}s; final flush {:.1}s; wall {:.1}s",
        stored as f64 / append_time.as_secs_f64(),
        n as f64 / append_time.as_secs_f64(),
        append_time.as_secs_f64(),
        gen_time.as_secs_f64(),
        flush_time.as_secs_f64(),
        wall.as_secs_f64()
    );
    println!(
        "cpu: appending thread {:.1}s = {:.0} stored events per CPU-second; whole process (incl. generator, flush and compaction workers) {:.1}s; load average {}",
        append_cpu,
        stored as f64 / append_cpu.max(0.01),
        process_cpu,
        std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim()
    );
    println!(
        "size: {:.1} MiB on disk ({:.1} MiB tables), {:.1} MiB per million stored events",
        disk as f64 / 1048576.0,
        tables as f64 / 1048576.0,
        disk as f64 / 1048576.0 / (stored as f64 / 1e6)
    );
    println!(
        "memory: peak RSS (VmHWM) after ingest {:.0} MiB, of which the bench's own records and samples are a few MiB",
        peak_rss_mib()
    );

    let t = Instant::now();
    let store = HistoryStore::open(cfg).expect("reopen");
    println!("reopen: {:.2}s", t.elapsed().as_secs_f64());
    println!("== lookup (us-east-1, MaxResults 50) ==");
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = |m: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % m.max(1)
    };
    let mut all = Vec::new();
    for key in AttributeKey::ALL {
        let mut values: Vec<(&String, &usize)> = seen
            .iter()
            .filter(|((k, _), _)| *k == key)
            .map(|((_, v), c)| (v, c))
            .collect();
        values.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        if values.is_empty() {
            println!("{:<13} no values seen", key.as_str());
            continue;
        }
        let picks: Vec<&String> = [0, values.len() / 2, values.len() - 1]
            .into_iter()
            .map(|i| values[i].0)
            .collect();
        let mut times = Vec::new();
        let mut returned = 0usize;
        for round in 0..60 {
            let value = picks[round % picks.len()].clone();
            let (start, end) = if round % 2 == 0 {
                (None, None)
            } else {
                let a = T0 + next((span_days() * DAY) as u64) as i64;
                (
                    Some(a as f64),
                    Some((a + 1 + next(20 * DAY as u64) as i64) as f64),
                )
            };
            let mut req = LookupRequest {
                region: "us-east-1".into(),
                attribute: Some((key, value)),
                start,
                end,
                ..Default::default()
            };
            let t = Instant::now();
            let resp = store.lookup(&req).expect("lookup");
            times.push(t.elapsed());
            returned += resp.events.len();
            if let Some(tok) = resp.next_token {
                req.next_token = Some(tok);
                let t = Instant::now();
                let resp = store.lookup(&req).expect("lookup");
                times.push(t.elapsed());
                returned += resp.events.len();
            }
        }
        times.sort();
        println!(
            "{:<13} {} lookups, {:.1} events/page, p50 {:>7.2} ms, p99 {:>7.2} ms, max {:>7.2} ms  (values: {} distinct seen; picked freq {:?})",
            key.as_str(),
            times.len(),
            returned as f64 / times.len() as f64,
            percentile(&times, 0.5).as_secs_f64() * 1e3,
            percentile(&times, 0.99).as_secs_f64() * 1e3,
            times.last().expect("lookups ran").as_secs_f64() * 1e3,
            values.len(),
            [0, values.len() / 2, values.len() - 1].map(|i| *values[i].1),
        );
        all.extend(times);
    }
    // No attribute.
    let mut times = Vec::new();
    for _ in 0..60 {
        let a = T0 + next((span_days() * DAY) as u64) as i64;
        let req = LookupRequest {
            region: "us-east-1".into(),
            start: Some(a as f64),
            end: Some((a + DAY) as f64),
            ..Default::default()
        };
        let t = Instant::now();
        store.lookup(&req).expect("lookup");
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "{:<13} {} lookups, p50 {:>7.2} ms, p99 {:>7.2} ms",
        "(none)",
        times.len(),
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3
    );
    all.extend(times);
    all.sort();
    println!(
        "memory: peak RSS (VmHWM) after lookups {:.0} MiB",
        peak_rss_mib()
    );
    println!(
        "all attributes: {} lookups, p50 {:.2} ms, p99 {:.2} ms",
        all.len(),
        percentile(&all, 0.5).as_secs_f64() * 1e3,
        percentile(&all, 0.99).as_secs_f64() * 1e3
    );
}
