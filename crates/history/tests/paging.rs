//! NextToken is stable while events arrive between pages: nothing of the first page's snapshot
//! is lost or repeated, including events newer than the first page and events sharing the
//! cursor's timestamp.

mod common;

use std::collections::BTreeSet;

use common::*;
use trailpipe_history::{AttributeKey, LookupRequest};

const T0: i64 = 1_793_491_200;

fn record(id: &str, t: i64, name: &str, read_only: bool) -> String {
    mgmt_record(id, &iso(t), "us-east-1", name).replace(
        "\"readOnly\":false",
        if read_only {
            "\"readOnly\":true"
        } else {
            "\"readOnly\":false"
        },
    )
}

fn check_paging(attr: Option<(AttributeKey, String)>, page: i64) {
    let (_dir, store) = temp_store();
    let mut records = generated(2000, 21, T0, 0.05);
    let t_eq = T0 + 20_000;
    for i in 0..20 {
        records.push(record(&format!("eq-{i:02}"), t_eq, "Cluster", i % 2 == 0));
    }
    append_all(&store, &records, 250);
    let mut model = Model::default();
    records.iter().for_each(|r| model.add(r));
    let snapshot = model.answer("us-east-1", false, attr.as_ref(), i64::MIN, i64::MAX);
    assert!(
        snapshot.len() > 2 * page as usize,
        "enough for several pages"
    );

    let name = match &attr {
        Some((AttributeKey::EventName, v)) => v.clone(),
        _ => "Cluster".to_owned(),
    };
    let read_only = matches!(&attr, Some((AttributeKey::ReadOnly, v)) if v == "true");
    let mut req = LookupRequest {
        region: "us-east-1".into(),
        attribute: attr.clone(),
        max_results: Some(page),
        ..Default::default()
    };
    let mut pages: Vec<(i64, String)> = Vec::new();
    let mut n = 0;
    loop {
        let resp = store.lookup(&req).expect("lookup");
        assert!(resp.events.len() <= page as usize);
        pages.extend(
            resp.events
                .iter()
                .map(|e| (e.event_time, e.event_id.clone())),
        );
        let Some(token) = resp.next_token else { break };
        // Between pages: newer events, events at the cursor's very time (ids sorting before
        // and after it), and older events inside the window.
        let (t_last, _) = pages
            .last()
            .cloned()
            .expect("a page with a token is not empty");
        let new = [
            record(&format!("new-{n:03}"), T0 + 1_000_000 + n, &name, read_only),
            record(&format!("0-same-{n:03}"), t_last, &name, read_only),
            record(&format!("z-same-{n:03}"), t_last, &name, read_only),
            record(&format!("old-{n:03}"), T0 - 1_000 - n, &name, read_only),
        ];
        store.append(&new).expect("append");
        new.iter().for_each(|r| model.add(r));
        req.next_token = Some(token);
        n += 1;
        assert!(n < 10_000, "paging must end");
    }
    let unique: BTreeSet<&(i64, String)> = pages.iter().collect();
    assert_eq!(unique.len(), pages.len(), "an event was repeated");
    for w in pages.windows(2) {
        assert!(
            w[0].0 > w[1].0 || (w[0].0 == w[1].0 && w[0].1 < w[1].1),
            "pages out of order at {w:?}"
        );
    }
    for s in &snapshot {
        assert!(unique.contains(s), "lost {s:?}");
    }
    let now = model.answer("us-east-1", false, attr.as_ref(), i64::MIN, i64::MAX);
    for p in &pages {
        assert!(now.contains(p), "{p:?} does not match the request");
    }
    // Newer events never slip in behind the cursor; older ones inside the window do show up.
    assert!(pages.iter().all(|(_, id)| !id.starts_with("new-")));
    assert!(pages.iter().any(|(_, id)| id.starts_with("old-")));
}

#[test]
fn paging_without_attribute_is_stable_under_appends() {
    check_paging(None, 7);
}

#[test]
fn paging_inside_equal_timestamps_is_stable_under_appends() {
    check_paging(Some((AttributeKey::EventName, "Cluster".into())), 3);
}

#[test]
fn paging_by_read_only_is_stable_under_appends() {
    check_paging(Some((AttributeKey::ReadOnly, "true".into())), 50);
}

#[test]
fn page_size_may_change_between_pages() {
    let (_dir, store) = temp_store();
    append_all(&store, &generated(400, 2, T0, 1.0), 400);
    let mut req = LookupRequest {
        region: "us-east-1".into(),
        max_results: Some(5),
        ..Default::default()
    };
    let first = store.lookup(&req).expect("lookup");
    req.max_results = Some(50);
    req.next_token = first.next_token;
    let second = store
        .lookup(&req)
        .expect("a token stays valid with another MaxResults");
    assert!(second.events[0].event_time <= first.events[4].event_time);
}

/// A NextToken stays valid across a restart (its key is kept in the store), and a token made
/// by another store (another key) is refused.
#[test]
fn tokens_survive_a_restart_and_other_stores_tokens_are_refused() {
    let (dir, store) = temp_store();
    let records = generated(200, 5, T0, 0.05);
    append_all(&store, &records, 100);
    let req = LookupRequest {
        region: "us-east-1".into(),
        max_results: Some(5),
        ..Default::default()
    };
    let first = store.lookup(&req).expect("lookup");
    let token = first.next_token.clone().expect("more pages");
    let next = LookupRequest {
        next_token: Some(token.clone()),
        ..req.clone()
    };
    let page2 = store.lookup(&next).expect("page 2").events;
    drop(store);
    let reopened = trailpipe_history::HistoryStore::open(trailpipe_history::HistoryConfig::new(
        dir.path().join("history"),
    ))
    .expect("reopen");
    let again = reopened
        .lookup(&next)
        .expect("the token after a restart")
        .events;
    assert_eq!(
        again.iter().map(|e| &e.event_id).collect::<Vec<_>>(),
        page2.iter().map(|e| &e.event_id).collect::<Vec<_>>()
    );
    let (_other_dir, other) = temp_store();
    append_all(&other, &records, 100);
    let e = other.lookup(&next).expect_err("a token of another store");
    assert_eq!(e.aws_error_type(), "InvalidNextTokenException");
}
