//! `kill -9` while appending: after reopening, every event whose `append` returned `Ok` is
//! there, a batch is all-or-nothing, and replaying batches (the pipeline is at-least-once)
//! duplicates nothing.
//!
//! The writer is this test binary itself, re-run as a child with `crash_child` selected.

mod common;

use std::{
    io::{BufRead, BufReader, Write},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use common::*;
use trailpipe_generator::{Generator, GeneratorConfig};
use trailpipe_history::{AttributeKey, HistoryConfig, HistoryStore, LookupRequest};

const CHILD_ENV: &str = "TRAILPIPE_HISTORY_CRASH_DIR";
const BATCH: usize = 200;
const T0: i64 = 1_793_491_200;

fn batches() -> impl Iterator<Item = Vec<String>> {
    let mut g = Generator::new(GeneratorConfig {
        accounts: 2,
        regions: 2,
        seed: 99,
        start_time: T0,
        events_per_second: 0.5,
    });
    std::iter::repeat_with(move || (0..BATCH).map(|_| g.next_record()).collect())
}

/// The writer: appends batch after batch from the start, printing `acked N` after each `Ok`.
/// Does nothing unless started by the crash test.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let store = HistoryStore::open(HistoryConfig::new(dir)).expect("child opens the store");
    let mut out = std::io::stdout().lock();
    for (i, batch) in batches().enumerate() {
        store.append(&batch).expect("append");
        writeln!(out, "acked {i}").expect("stdout");
        out.flush().expect("stdout");
    }
}

fn present(store: &HistoryStore, raw: &str) -> bool {
    let Some(e) = model_of(raw) else { return true };
    let req = LookupRequest {
        region: e.region.clone(),
        attribute: Some((AttributeKey::EventId, e.id.clone())),
        ..Default::default()
    };
    !store.lookup(&req).expect("lookup").events.is_empty()
}

#[test]
fn kill_9_while_appending_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("history");
    let exe = std::env::current_exe().expect("test binary path");
    let mut max_acked: Option<usize> = None;
    for round in 0..3u64 {
        let mut child = Command::new(&exe)
            .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the writer");
        let stdout = child.stdout.take().expect("piped");
        let mut acked: Option<usize> = None;
        let target = 10 + 7 * round as usize + max_acked.unwrap_or(0);
        let deadline = Instant::now() + Duration::from_secs(60);
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("child output");
            if let Some(n) = line.strip_prefix("acked ") {
                acked = Some(n.parse().expect("batch number"));
            }
            if acked.is_some_and(|a| a >= target) || Instant::now() > deadline {
                break;
            }
        }
        // Land the kill at a varying point of the next append.
        std::thread::sleep(Duration::from_millis(3 * round));
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        let acked = acked.expect("the writer acknowledged batches before the deadline");
        max_acked = Some(max_acked.map_or(acked, |m| m.max(acked)));

        let store = HistoryStore::open(HistoryConfig::new(&path)).expect("opens after kill -9");
        let all: Vec<Vec<String>> = batches().take(max_acked.unwrap_or(0) + 2).collect();
        for (i, batch) in all.iter().enumerate().take(max_acked.unwrap_or(0) + 1) {
            for raw in batch {
                assert!(
                    present(&store, raw),
                    "round {round}: batch {i} was acknowledged but lost"
                );
            }
        }
        // The batch in flight at the kill is all or nothing.
        let next = &all[max_acked.unwrap_or(0) + 1];
        let kept: Vec<bool> = next
            .iter()
            .filter(|r| model_of(r).is_some())
            .map(|r| present(&store, r))
            .collect();
        assert!(
            kept.iter().all(|&k| k) || kept.iter().all(|&k| !k),
            "round {round}: torn batch"
        );
        // Replays from batch 0 duplicated nothing.
        for region in ["us-east-1", "us-west-2"] {
            let pages = all_pages(
                &store,
                LookupRequest {
                    region: region.into(),
                    ..Default::default()
                },
            );
            let unique: std::collections::BTreeSet<_> = pages.iter().collect();
            assert_eq!(
                unique.len(),
                pages.len(),
                "round {round}: duplicates in {region}"
            );
        }
    }
}
