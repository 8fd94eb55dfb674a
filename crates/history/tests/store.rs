//! Durability across reopen, idempotent replays, retention and the size budget, and every
//! bad request's AWS error name.

mod common;

use common::*;
use trailpipe_history::{
    AttributeKey, HistoryConfig, HistoryStore, LookupError, LookupRequest, MAX_FUTURE_SECS,
};

const DAY: i64 = 86_400;
/// 2026-11-01T00:00:00Z.
const T0: i64 = 1_793_491_200;

fn everything(store: &HistoryStore, region: &str) -> Vec<(i64, String)> {
    all_pages(
        store,
        LookupRequest {
            region: region.into(),
            ..Default::default()
        },
    )
}

#[test]
fn reopen_after_drop_keeps_every_event_and_the_cutoff() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = HistoryConfig::new(dir.path().join("h"));
    let records = generated(1500, 4, T0, 0.05);
    let before = {
        let store = HistoryStore::open(cfg.clone()).expect("open");
        append_all(&store, &records, 100);
        store.prune(T0 + 90 * DAY + 3_600).expect("prune");
        everything(&store, "us-west-2")
    };
    let store = HistoryStore::open(cfg).expect("reopen");
    let after = everything(&store, "us-west-2");
    assert_eq!(before, after);
    let mut model = Model::default();
    records.iter().for_each(|r| model.add(r));
    // The persisted cutoff (T0 + 1h) still hides the first hour after reopening.
    assert_eq!(
        after,
        model.answer("us-west-2", false, None, T0 + 3_600, i64::MAX)
    );
    assert!(
        after.len()
            < model
                .answer("us-west-2", false, None, i64::MIN, i64::MAX)
                .len()
    );
}

#[test]
fn replaying_a_batch_does_not_duplicate() {
    let (_dir, store) = temp_store();
    let records = generated(600, 9, T0, 1.0);
    append_all(&store, &records, 200);
    let once = everything(&store, "us-east-1");
    append_all(&store, &records, 77);
    append_all(&store, &records[100..300], 13);
    assert_eq!(everything(&store, "us-east-1"), once);
    let by_id = all_pages(
        &store,
        LookupRequest {
            region: "us-east-1".into(),
            attribute: Some((AttributeKey::EventId, once[10].1.clone())),
            ..Default::default()
        },
    );
    assert_eq!(by_id, vec![once[10].clone()]);
}

#[test]
fn data_events_and_unusable_records_are_counted_not_stored() {
    let (_dir, store) = temp_store();
    let records = generated(1000, 6, T0, 1.0);
    let raws: Vec<&str> = records
        .iter()
        .map(String::as_str)
        .chain(["not json", "{\"eventID\":\"x\"}"])
        .collect();
    let s = store.append(&raws).expect("append");
    assert!(
        s.not_management > 50,
        "the generator makes about 10% data events: {s:?}"
    );
    assert_eq!(s.unusable, 2);
    assert_eq!(s.stored + s.not_management + s.unusable, raws.len());
    let mut model = Model::default();
    records.iter().for_each(|r| model.add(r));
    assert_eq!(s.stored, model.events.len());
}

#[test]
fn retention_drops_old_days_and_hides_expired_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = HistoryConfig {
        retention_days: 3,
        ..HistoryConfig::new(dir.path().join("h"))
    };
    let store = HistoryStore::open(cfg).expect("open");
    // One event every 3 hours for 6 days.
    let records: Vec<String> = (0..48)
        .map(|i| {
            mgmt_record(
                &format!("r-{i:04}"),
                &iso(T0 + i * 3 * 3_600),
                "us-east-1",
                "PutRolePolicy",
            )
        })
        .collect();
    append_all(&store, &records, 10);
    let now = T0 + 6 * DAY + 3_600;
    let summary = store.prune(now).expect("prune");
    assert_eq!(summary.expired_days, 3, "{summary:?}");
    let left = everything(&store, "us-east-1");
    let cutoff = now - 3 * DAY;
    assert_eq!(
        left.len(),
        records
            .iter()
            .filter(|r| model_of(r).expect("kept").time >= cutoff)
            .count()
    );
    assert!(left.iter().all(|(t, _)| *t >= cutoff));
    // An event older than the cutoff is not stored; a newer one is.
    let late = [
        mgmt_record("late-old", &iso(cutoff - 10), "us-east-1", "X"),
        mgmt_record("late-new", &iso(now - 10), "us-east-1", "X"),
    ];
    let s = store.append(&late).expect("append");
    assert_eq!((s.expired, s.stored), (1, 1));
    // A second prune at the same time changes nothing.
    assert_eq!(store.prune(now).expect("prune").expired_days, 0);
}

#[test]
fn size_budget_drops_oldest_days_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = HistoryConfig::new(dir.path().join("h"));
    let records = generated(20_000, 8, T0, 20_000.0 / (10.0 * DAY as f64));
    {
        let store = HistoryStore::open(cfg.clone()).expect("open");
        append_all(&store, &records, 1000);
        store.flush().expect("flush");
        assert!(
            store.stored_bytes() > 4 * 1024 * 1024,
            "{}",
            store.stored_bytes()
        );
    }
    cfg.max_bytes = 2 * 1024 * 1024;
    let store = HistoryStore::open(cfg).expect("reopen");
    store.flush().expect("flush");
    let s = store.prune(T0).expect("prune");
    assert!(s.evicted_days > 0, "{s:?}");
    assert!(store.stored_bytes() <= 2 * 1024 * 1024 || s.evicted_days == 10);
    let left = everything(&store, "us-east-1");
    let oldest_left = left.last().expect("the newest day is never dropped").0;
    // Whole days, oldest first: everything left is newer than everything dropped.
    let mut model = Model::default();
    records.iter().for_each(|r| model.add(r));
    assert_eq!(
        left,
        model.answer(
            "us-east-1",
            false,
            None,
            oldest_left.div_euclid(DAY) * DAY,
            i64::MAX
        )
    );
}

fn err(body: &str) -> &'static str {
    match LookupRequest::from_json(body.as_bytes(), "us-east-1") {
        Ok(r) => panic!("{body} was accepted as {r:?}"),
        Err(e) => e.aws_error_type(),
    }
}

#[test]
fn every_bad_request_gets_its_aws_error_name() {
    let two = r#"{"LookupAttributes":[{"AttributeKey":"EventName","AttributeValue":"A"},{"AttributeKey":"Username","AttributeValue":"b"}]}"#;
    assert_eq!(err(two), "InvalidLookupAttributesException");
    assert_eq!(
        err(r#"{"LookupAttributes":[{"AttributeKey":"eventname","AttributeValue":"A"}]}"#),
        "InvalidLookupAttributesException"
    );
    assert_eq!(
        err(r#"{"LookupAttributes":[{"AttributeKey":"EventName","AttributeValue":""}]}"#),
        "InvalidLookupAttributesException"
    );
    assert_eq!(
        err(r#"{"LookupAttributes":[{"AttributeKey":"EventName"}]}"#),
        "InvalidLookupAttributesException"
    );
    assert_eq!(
        err(r#"{"LookupAttributes":[{"AttributeKey":"ReadOnly","AttributeValue":"True"}]}"#),
        "InvalidLookupAttributesException"
    );
    // 1000 underscores weigh 2000: allowed; 1001 weigh 2002: not.
    let ok = format!(
        r#"{{"LookupAttributes":[{{"AttributeKey":"EventName","AttributeValue":"{}"}}]}}"#,
        "_".repeat(1000)
    );
    assert!(LookupRequest::from_json(ok.as_bytes(), "r").is_ok());
    let long = format!(
        r#"{{"LookupAttributes":[{{"AttributeKey":"EventName","AttributeValue":"{}"}}]}}"#,
        "_".repeat(1001)
    );
    assert_eq!(err(&long), "InvalidLookupAttributesException");
    assert_eq!(
        err(r#"{"StartTime":200,"EndTime":100}"#),
        "InvalidTimeRangeException"
    );
    assert_eq!(
        err(r#"{"EventCategory":"Insight"}"#),
        "InvalidEventCategoryException"
    );
    assert_eq!(
        err(r#"{"EventCategory":"management"}"#),
        "InvalidEventCategoryException"
    );
    assert_eq!(err(r#"{"MaxResults":0}"#), "InvalidMaxResultsException");
    assert_eq!(err(r#"{"MaxResults":51}"#), "InvalidMaxResultsException");
    assert_eq!(err(r#"{"MaxResults":"5"}"#), "SerializationException");
    assert_eq!(err("[1,2]"), "SerializationException");
    assert_eq!(err("{"), "SerializationException");

    // Good bodies: floats, empty body, the maximum page.
    let r = LookupRequest::from_json(br#"{"StartTime":1.5,"EndTime":1.7,"MaxResults":50,"EventCategory":"insight","LookupAttributes":[{"AttributeKey":"EventName","AttributeValue":"X"}]}"#, "eu-west-1").expect("valid");
    assert_eq!(
        (r.start, r.end, r.max_results),
        (Some(1.5), Some(1.7), Some(50))
    );
    assert_eq!(r.attribute, Some((AttributeKey::EventName, "X".into())));
    assert_eq!(
        LookupRequest::from_json(b"", "r")
            .expect("empty body")
            .region,
        "r"
    );

    // Tokens: garbage, and a token used with other parameters.
    let (_dir, store) = temp_store();
    append_all(&store, &generated(300, 1, T0, 1.0), 300);
    let base = LookupRequest {
        region: "us-east-1".into(),
        max_results: Some(2),
        ..Default::default()
    };
    let token = store
        .lookup(&base)
        .expect("lookup")
        .next_token
        .expect("more pages");
    for req in [
        LookupRequest {
            next_token: Some("garbage".into()),
            ..base.clone()
        },
        LookupRequest {
            next_token: Some(token.clone()),
            region: "eu-west-1".into(),
            ..base.clone()
        },
        LookupRequest {
            next_token: Some(token.clone()),
            start: Some(1.0),
            ..base.clone()
        },
        LookupRequest {
            next_token: Some(token.clone()),
            attribute: Some((AttributeKey::EventName, "X".into())),
            ..base.clone()
        },
    ] {
        let e = store.lookup(&req).expect_err("rejected");
        assert_eq!(e.aws_error_type(), "InvalidNextTokenException");
        assert_eq!(e.http_status(), 400);
        let body: serde_json::Value = serde_json::from_str(&e.to_aws_json()).expect("json");
        assert_eq!(body["__type"], "InvalidNextTokenException");
    }
    // lookup validates requests built in code, too.
    let bad = LookupRequest {
        max_results: Some(0),
        ..base.clone()
    };
    assert!(matches!(
        store.lookup(&bad),
        Err(LookupError::InvalidMaxResults(_))
    ));
    let bad = LookupRequest {
        start: Some(5.0),
        end: Some(4.0),
        ..base
    };
    assert!(matches!(
        store.lookup(&bad),
        Err(LookupError::InvalidTimeRange(_))
    ));
}

#[test]
fn fractional_window_inside_one_second_is_empty_not_an_error() {
    let (_dir, store) = temp_store();
    append_all(&store, &generated(50, 1, T0, 1.0), 50);
    let req = LookupRequest {
        region: "us-east-1".into(),
        start: Some(T0 as f64 + 0.2),
        end: Some(T0 as f64 + 0.8),
        ..Default::default()
    };
    assert!(store.lookup(&req).expect("valid").events.is_empty());
}

#[test]
fn background_pruner_applies_retention_by_the_wall_clock_and_stops_with_the_store() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64;
    let (_dir, store) = temp_store();
    let store = std::sync::Arc::new(store);
    let records = [
        mgmt_record("old", &iso(now - 200 * DAY), "us-east-1", "X"),
        mgmt_record("new", &iso(now - DAY), "us-east-1", "X"),
    ];
    store.append(&records).expect("append");
    assert_eq!(everything(&store, "us-east-1").len(), 2);
    let handle = HistoryStore::spawn_pruner(&store, std::time::Duration::from_millis(10));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while everything(&store, "us-east-1").len() != 1 {
        assert!(std::time::Instant::now() < deadline, "pruner did not run");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(everything(&store, "us-east-1")[0].1, "new");
    drop(store);
    handle
        .join()
        .expect("the pruner ends once the store is dropped");
}

#[test]
fn a_rewritten_record_is_found_only_by_its_latest_attributes() {
    let (_dir, store) = temp_store();
    let t = iso(T0);
    store
        .append(&[mgmt_record("same", &t, "us-east-1", "First")])
        .expect("append");
    store
        .append(&[mgmt_record("same", &t, "us-east-1", "Second")])
        .expect("append");
    let by_name = |name: &str| {
        all_pages(
            &store,
            LookupRequest {
                region: "us-east-1".into(),
                attribute: Some((AttributeKey::EventName, name.into())),
                ..Default::default()
            },
        )
    };
    assert!(by_name("First").is_empty(), "stale index entry returned");
    assert_eq!(by_name("Second"), vec![(T0, "same".to_owned())]);
    assert_eq!(everything(&store, "us-east-1").len(), 1);
}

/// Records a producer dates in the future (here: 2100) are not kept, and so cannot open days
/// that would outlive today's real events under the size budget; events up to 15 minutes
/// ahead of the clock are kept.
#[test]
fn events_dated_in_the_future_are_not_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = HistoryStore::open(HistoryConfig::new(dir.path().join("h"))).expect("open");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let records = [
        mgmt_record("today", &iso(now - 60), "us-east-1", "X"),
        mgmt_record("skewed", &iso(now + MAX_FUTURE_SECS - 60), "us-east-1", "X"),
        mgmt_record("tomorrow", &iso(now + 86_400), "us-east-1", "X"),
        mgmt_record("far", "2100-01-01T00:00:00Z", "us-east-1", "X"),
    ];
    let s = store.append(&records).expect("append");
    assert_eq!((s.stored, s.future), (2, 2), "{s:?}");
    let ids: Vec<String> = everything(&store, "us-east-1")
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(
        ids.iter().all(|id| id == "today" || id == "skewed"),
        "{ids:?}"
    );
}
