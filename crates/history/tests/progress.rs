//! Source progress committed with the events it covers (`append_with_progress`): read back
//! after reopening, re-appending a batch with its progress duplicates nothing, and after a
//! `kill -9` the recorded progress and the stored events agree — every batch below the
//! progress is there, the batch that would have moved it further is not.

mod common;

use std::{
    collections::BTreeSet,
    io::{BufRead, BufReader, Write},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use common::*;
use trailpipe_history::{
    AttributeKey, HistoryConfig, HistoryStore, LookupRequest, PartitionProgress,
};

/// 2026-11-01T00:00:00Z.
const T0: i64 = 1_793_491_200;
const CHILD_ENV: &str = "TRAILPIPE_HISTORY_PROGRESS_CRASH_DIR";
const BATCH: usize = 150;

fn everything(store: &HistoryStore) -> Vec<(i64, String)> {
    ["us-east-1", "us-west-2", "eu-west-1"]
        .iter()
        .flat_map(|region| {
            all_pages(
                store,
                LookupRequest {
                    region: (*region).into(),
                    ..Default::default()
                },
            )
        })
        .collect()
}

fn sorted(mut p: Vec<PartitionProgress>) -> Vec<PartitionProgress> {
    p.sort();
    p
}

#[test]
fn progress_is_read_back_after_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = HistoryConfig::new(dir.path().join("h"));
    let records = generated(900, 31, T0, 1.0);
    {
        let store = HistoryStore::open(cfg.clone()).expect("open");
        assert_eq!(store.progress().expect("progress"), vec![], "a new store");
        for (i, chunk) in records.chunks(300).enumerate() {
            let n = (i as i64 + 1) * 300;
            store
                .append_with_progress(
                    chunk,
                    &[
                        PartitionProgress::new("cloudtrail", 0, n),
                        PartitionProgress::new("cloudtrail", 1, 2 * n),
                    ],
                )
                .expect("append");
        }
        // A batch without management events still records how far the reader got.
        let data_only: Vec<String> = records
            .iter()
            .filter(|r| model_of(r).is_none())
            .take(3)
            .cloned()
            .collect();
        assert!(!data_only.is_empty(), "the generator makes data events");
        let s = store
            .append_with_progress(&data_only, &[PartitionProgress::new("other.topic", 7, 42)])
            .expect("progress only");
        assert_eq!(s.stored, 0);
        // And so does an empty batch.
        store
            .append_with_progress::<String>(&[], &[PartitionProgress::new("cloudtrail", 1, 1801)])
            .expect("empty batch");
    }
    let store = HistoryStore::open(cfg).expect("reopen");
    assert_eq!(
        sorted(store.progress().expect("progress")),
        vec![
            PartitionProgress::new("cloudtrail", 0, 900),
            PartitionProgress::new("cloudtrail", 1, 1801),
            PartitionProgress::new("other.topic", 7, 42),
        ]
    );
    let mut model = Model::default();
    records.iter().for_each(|r| model.add(r));
    let want: usize = ["us-east-1", "us-west-2", "eu-west-1"]
        .iter()
        .map(|r| model.answer(r, false, None, i64::MIN, i64::MAX).len())
        .sum();
    assert!(want > 100, "{want}");
    assert_eq!(everything(&store).len(), want);
}

#[test]
fn re_appending_a_batch_with_its_progress_adds_no_duplicates() {
    let (_dir, store) = temp_store();
    let records = generated(800, 32, T0, 2.0);
    let progress = |n: usize| [PartitionProgress::new("t", 0, n as i64)];
    for (i, chunk) in records.chunks(200).enumerate() {
        store
            .append_with_progress(chunk, &progress((i + 1) * 200))
            .expect("append");
    }
    let once = everything(&store);
    assert!(once.len() > 100);
    // The same batches again (a crash before the progress moved), and cut differently (a
    // reader resuming mid-way through what it had batched before).
    for (i, chunk) in records.chunks(200).enumerate() {
        store
            .append_with_progress(chunk, &progress((i + 1) * 200))
            .expect("append again");
    }
    for chunk in records[150..].chunks(333) {
        store
            .append_with_progress(chunk, &progress(800))
            .expect("append cut differently");
    }
    let twice = everything(&store);
    assert_eq!(twice, once, "re-appending changed the answer");
    let unique: BTreeSet<&(i64, String)> = twice.iter().collect();
    assert_eq!(unique.len(), twice.len(), "duplicates");
    for (_, id) in once.iter().step_by(37) {
        let region = records
            .iter()
            .filter_map(|r| model_of(r))
            .find(|e| &e.id == id)
            .expect("in the model")
            .region;
        let by_id = all_pages(
            &store,
            LookupRequest {
                region,
                attribute: Some((AttributeKey::EventId, id.clone())),
                ..Default::default()
            },
        );
        assert_eq!(by_id.len(), 1, "{id}");
    }
    assert_eq!(store.progress().expect("progress"), progress(800).to_vec());
}

fn batches() -> impl Iterator<Item = Vec<String>> {
    let records = generated(BATCH * 400, 33, T0, 1.0);
    (0..400).map(move |i| records[i * BATCH..(i + 1) * BATCH].to_vec())
}

/// The writer: batch `i` with progress `(i + 1) * BATCH`, printing `acked i` after each `Ok`.
/// Does nothing unless started by the crash test.
#[test]
fn progress_crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let store = HistoryStore::open(HistoryConfig::new(dir)).expect("child opens the store");
    let start = store
        .progress()
        .expect("progress")
        .first()
        .map_or(0, |p| p.next_offset as usize / BATCH);
    let mut out = std::io::stdout().lock();
    for (i, batch) in batches().enumerate().skip(start) {
        let next = ((i + 1) * BATCH) as i64;
        store
            .append_with_progress(&batch, &[PartitionProgress::new("t", 0, next)])
            .expect("append");
        writeln!(out, "acked {i}").expect("stdout");
        out.flush().expect("stdout");
    }
}

fn present(store: &HistoryStore, raw: &str) -> Option<bool> {
    let e = model_of(raw)?;
    let req = LookupRequest {
        region: e.region.clone(),
        attribute: Some((AttributeKey::EventId, e.id.clone())),
        ..Default::default()
    };
    Some(!store.lookup(&req).expect("lookup").events.is_empty())
}

#[test]
fn kill_9_leaves_progress_and_events_in_agreement() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("history");
    let exe = std::env::current_exe().expect("test binary path");
    let all: Vec<Vec<String>> = batches().collect();
    for round in 0..8u64 {
        let mut child = Command::new(&exe)
            .args([
                "progress_crash_child",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the writer");
        let stdout = child.stdout.take().expect("piped");
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut acked = 0;
        for line in BufReader::new(stdout).lines() {
            if line.expect("child output").starts_with("acked ") {
                acked += 1;
            }
            if acked >= 5 + 2 * round || Instant::now() > deadline {
                break;
            }
        }
        // Land the kill at a varying point of the next append.
        std::thread::sleep(Duration::from_micros(700 * round));
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        assert!(acked > 0, "round {round}: the writer acknowledged nothing");

        let store = HistoryStore::open(HistoryConfig::new(&path)).expect("opens after kill -9");
        let progress = store.progress().expect("progress");
        assert_eq!(progress.len(), 1, "{progress:?}");
        let covered = progress[0].next_offset as usize / BATCH;
        assert_eq!(progress[0].next_offset as usize % BATCH, 0);
        for (i, batch) in all.iter().enumerate().take(covered) {
            for raw in batch {
                assert_ne!(
                    present(&store, raw),
                    Some(false),
                    "round {round}: batch {i} is below the recorded progress but not stored"
                );
            }
        }
        // The batch after the progress was never committed: none of it is there.
        let beyond: Vec<bool> = all[covered]
            .iter()
            .filter_map(|r| present(&store, r))
            .collect();
        assert!(!beyond.is_empty());
        assert!(
            beyond.iter().all(|p| !p),
            "round {round}: batch {covered} is stored but the progress does not cover it"
        );
        let pages = everything(&store);
        let unique: BTreeSet<_> = pages.iter().collect();
        assert_eq!(unique.len(), pages.len(), "round {round}: duplicates");
    }
}
