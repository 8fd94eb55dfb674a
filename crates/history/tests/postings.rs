//! The posting-list index against the model when postings overlap: events arrive out of order
//! and at mixed densities (so one value has postings at every level, overlapping in time),
//! batches are replayed with other chunking, and pages are small. Every attribute lookup, whole
//! or windowed, paged, must equal the model: newest first, ties by eventID, each event once.

mod common;

use common::*;
use trailpipe_history::{AttributeKey, LookupRequest};

const T0: i64 = 1_793_491_200;

/// Records of three densities (dense: 40/s, medium: one per 30 s, sparse: one per 20 min)
/// over the same two days, plus events that share one second, in a shuffled order.
fn mixed_records(seed: u64) -> Vec<String> {
    let mut records = generated(600, seed, T0 + 3_000, 40.0);
    records.extend(generated(600, seed + 1, T0, 1.0 / 30.0));
    records.extend(generated(150, seed + 2, T0, 1.0 / 1_200.0));
    for i in 0..12 {
        records.push(mgmt_record(
            &format!("same-second-{i:02}"),
            &iso(T0 + 3_000),
            "us-east-1",
            "SameSecond",
        ));
    }
    let mut pick = Pick(seed | 1);
    for i in (1..records.len()).rev() {
        let j = pick.below(i as u64 + 1) as usize;
        records.swap(i, j);
    }
    records
}

#[test]
fn overlapping_postings_merge_to_the_model_order_across_replays_and_pages() {
    let (_dir, store) = temp_store();
    let records = mixed_records(7);
    let mut pick = Pick(99);
    let mut i = 0;
    while i < records.len() {
        let n = 1 + pick.below(300) as usize;
        append_all(&store, &records[i..(i + n).min(records.len())], n);
        i += n;
    }
    // Replays with other chunking: postings repeat entries, the reader must merge them away.
    append_all(&store, &records[200..900], 97);
    append_all(&store, &records[..50], 50);
    let mut model = Model::default();
    records.iter().for_each(|r| model.add(r));

    let mut checked = 0;
    for key in AttributeKey::ALL {
        let values = model.values("us-east-1", key);
        let picks = [
            0,
            values.len() / 3,
            values.len() / 2,
            values.len().saturating_sub(1),
        ];
        for v in picks.iter().filter_map(|&i| values.get(i)) {
            let attr = (key, v.0.clone());
            for (start, end) in [
                (None, None),
                (Some(T0 + 3_005), Some(T0 + 30_000)),
                (Some(T0 + 3_000), Some(T0 + 3_000)),
                (Some(T0 + 40_000), Some(T0 + 100_000)),
            ] {
                let want = model.answer(
                    "us-east-1",
                    false,
                    Some(&attr),
                    start.unwrap_or(i64::MIN),
                    end.unwrap_or(i64::MAX),
                );
                let got = all_pages(
                    &store,
                    LookupRequest {
                        region: "us-east-1".into(),
                        attribute: Some(attr.clone()),
                        start: start.map(|s| s as f64),
                        end: end.map(|e| e as f64),
                        max_results: Some(7),
                        ..Default::default()
                    },
                );
                assert_eq!(got, want, "{key:?}={} window {start:?}..{end:?}", v.0);
                checked += want.len();
            }
        }
    }
    assert!(checked > 2_000, "the queries covered {checked} events");
}

#[test]
fn an_event_id_is_found_once_however_often_it_was_replayed() {
    let (_dir, store) = temp_store();
    let records = mixed_records(3);
    append_all(&store, &records, 128);
    append_all(&store, &records, 333);
    append_all(&store, &records[10..20], 1);
    let mut model = Model::default();
    records.iter().for_each(|r| model.add(r));
    let all = model.answer("us-east-1", false, None, i64::MIN, i64::MAX);
    for (t, id) in all.iter().step_by(37) {
        let got = all_pages(
            &store,
            LookupRequest {
                region: "us-east-1".into(),
                attribute: Some((AttributeKey::EventId, id.clone())),
                ..Default::default()
            },
        );
        assert_eq!(got, vec![(*t, id.clone())]);
    }
}
