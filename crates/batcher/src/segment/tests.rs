use std::sync::Mutex;

use bytes::Bytes;
use trailpipe_event::{parse_message, Flow, Message, PartitionId};

use super::*;
use crate::CutReason;

/// A lookup over the files a previous run "delivered" (a map from key to recorded cut), and
/// the other objects (file-time markers) in `.1`.
#[derive(Default)]
struct Delivered(
    Mutex<HashMap<String, RecordedCut>>,
    Mutex<HashMap<String, Bytes>>,
);

impl CutLookup for Delivered {
    fn lookup(
        &self,
        _bucket: Arc<str>,
        key: String,
    ) -> BoxFuture<'static, Result<Option<RecordedCut>, String>> {
        let found = self.0.lock().expect("lock").get(&key).copied();
        Box::pin(async move { Ok(found) })
    }

    fn read(
        &self,
        _bucket: Arc<str>,
        key: String,
    ) -> BoxFuture<'static, Result<Option<Bytes>, String>> {
        let found = self.1.lock().expect("lock").get(&key).cloned();
        Box::pin(async move { Ok(found) })
    }

    fn create(
        &self,
        _bucket: Arc<str>,
        key: String,
        body: Bytes,
    ) -> BoxFuture<'static, Result<bool, String>> {
        let mut objects = self.1.lock().expect("lock");
        let created = !objects.contains_key(&key);
        objects.entry(key).or_insert(body);
        Box::pin(async move { Ok(created) })
    }
}

/// The generated records' Kafka timestamp (2026-01-01T00:00:00Z), in seconds.
const KAFKA_TIME: i64 = 1_767_225_600;

/// A clock a minute after the records' timestamps, so they date their files.
fn clock() -> i64 {
    KAFKA_TIME + 60
}

fn record(i: i64, account: &str, region: &str) -> Bytes {
    Bytes::from(format!(
        r#"{{"eventVersion":"1.08","eventTime":"2026-01-01T00:00:{:02}Z","eventSource":"ec2.amazonaws.com","eventName":"DescribeInstances","awsRegion":"{region}","eventID":"id-{i}","readOnly":true,"recipientAccountId":"{account}","eventCategory":"Management","pad":"{}"}}"#,
        i % 60,
        "x".repeat(100)
    ))
}

fn message(p: &Arc<PartitionId>, epoch: u64, offset: i64) -> Message {
    let account = if offset % 3 == 0 {
        "111111111111"
    } else {
        "222222222222"
    };
    let region = if offset % 2 == 0 {
        "us-east-1"
    } else {
        "eu-west-1"
    };
    let mut records = Vec::new();
    parse_message(
        &record(offset, account, region),
        &Default::default(),
        &mut records,
    );
    // Every 7th record is routed nowhere, to exercise anchors after unrouted records.
    let routes = vec![if offset % 7 == 0 { 0 } else { 0b11 }];
    Message {
        partition: p.clone(),
        epoch,
        offset,
        timestamp_ms: Some(KAFKA_TIME * 1000),
        key: None,
        read_at: Instant::now(),
        records,
        routes,
        held: Default::default(),
    }
}

fn config() -> BatcherConfig {
    config_of(trails())
}

/// Two trails, "one" and "two", accepting every account.
fn trails() -> Vec<Trail> {
    let trail = |name: &str| Trail {
        name: name.into(),
        bucket: "b".into(),
        prefix: None,
        max_file_bytes: 4096,
        max_file_records: 1000,
        delivery_interval: Duration::from_secs(3600),
        organization_id: None,
        kms_key_id: None,
        sns_topic_arn: None,
        accounts: Arc::from(Vec::new()),
        cwl_log_group: None,
    };
    vec![trail("one"), trail("two")]
}

fn config_of(trails: Vec<Trail>) -> BatcherConfig {
    BatcherConfig {
        trails: trails.into(),
        max_segment_bytes: 16384,
        compression_level: 6,
        history: false,
    }
}

/// Assigns partition `topic/3` to `b` under epoch 1.
async fn assign(b: &mut Batcher, replay: bool) -> Arc<PartitionId> {
    let p = Arc::new(PartitionId {
        source: "topic".into(),
        partition: 3,
    });
    assert!(
        b.handle(Flow::Assigned {
            partition: p.clone(),
            epoch: 1,
            replay
        })
        .await
    );
    p
}

/// Runs the messages `make` builds through a batcher (assigned with `replay`), then cuts;
/// returns the built segments.
async fn run_with(
    lookup: Arc<Delivered>,
    replay: bool,
    make: impl FnOnce(&Arc<PartitionId>) -> Vec<Message>,
) -> Vec<Segment> {
    run_at(clock, lookup, replay, make).await
}

/// [`run_with`] with the batcher's clock reading `now`.
async fn run_at(
    now: fn() -> i64,
    lookup: Arc<Delivered>,
    replay: bool,
    make: impl FnOnce(&Arc<PartitionId>) -> Vec<Message>,
) -> Vec<Segment> {
    let (tx, mut rx) = mpsc::channel(1000);
    let mut b = Batcher::new(config(), lookup, tx, Arc::default()).with_clock(now);
    let p = assign(&mut b, replay).await;
    for m in make(&p) {
        assert!(b.handle(Flow::Message(m)).await);
    }
    assert!(
        b.handle(Flow::Cut {
            partition: p,
            epoch: 1
        })
        .await
    );
    drop(b);
    let mut out = Vec::new();
    while let Some(s) = rx.recv().await {
        out.push(s.built.await.expect("build"));
    }
    out
}

/// Runs generated records at offsets `range` through a batcher.
async fn run(lookup: Arc<Delivered>, replay: bool, range: std::ops::Range<i64>) -> Vec<Segment> {
    run_with(lookup, replay, |p| {
        range.map(|o| message(p, 1, o)).collect()
    })
    .await
}

/// (start, end, [(key, gzip body)]) of each segment: what must be identical on replay.
type Fingerprint = Vec<(i64, i64, Vec<(String, Vec<u8>)>)>;

fn fingerprint(segs: &[Segment]) -> Fingerprint {
    segs.iter()
        .map(|s| {
            (
                s.start,
                s.end,
                s.files
                    .iter()
                    .map(|f| (f.key.clone(), f.body.gzip.clone()))
                    .collect(),
            )
        })
        .collect()
}

#[tokio::test]
async fn segments_are_contiguous_and_respect_limits() {
    let segs = run(Arc::default(), false, 0..400).await;
    assert!(segs.len() > 5, "size limits must cut: {}", segs.len());
    assert_eq!(segs[0].start, 0);
    for w in segs.windows(2) {
        assert_eq!(w[0].end, w[1].start);
    }
    assert_eq!(segs.last().map(|s| s.end), Some(400));
    for s in &segs {
        for f in &s.files {
            assert!(
                f.body.uncompressed_len as usize <= 4096 + 16,
                "{}",
                f.body.uncompressed_len
            );
        }
        if let Some(a) = s.anchor {
            assert!(a % 7 != 0, "an unrouted record cannot anchor a segment");
        }
    }
}

#[tokio::test]
async fn replay_after_crash_rewrites_identical_objects() {
    let original = run(Arc::default(), false, 0..400).await;
    // A previous run delivered every segment: record each anchor file's cut.
    let delivered = Arc::new(Delivered::default());
    for s in &original {
        if let (Some(a), Some(f)) = (s.anchor, s.files.first()) {
            delivered.0.lock().expect("lock").insert(
                f.key.clone(),
                RecordedCut {
                    first: a,
                    end: s.end,
                },
            );
        }
    }
    // Resume from the start of the 3rd segment, as if that were the committed offset.
    let resume = original[2].start;
    let replayed = run(delivered, true, resume..400).await;
    assert_eq!(fingerprint(&replayed), fingerprint(&original[2..]));
}

/// What a previous run "delivered": the anchor file's cut of each segment.
fn delivered_from(segs: &[Segment], lookup: &Delivered) {
    for s in segs {
        if let (Some(a), Some(f)) = (s.anchor, s.files.first()) {
            lookup.0.lock().expect("lock").insert(
                f.key.clone(),
                RecordedCut {
                    first: a,
                    end: s.end,
                },
            );
        }
    }
}

/// Generated records stamped 2100-01-01 by their producer.
fn from_the_future(p: &Arc<PartitionId>, range: std::ops::Range<i64>) -> Vec<Message> {
    range
        .map(|o| {
            let mut m = message(p, 1, o);
            m.timestamp_ms = Some(4_102_444_800_000);
            m
        })
        .collect()
}

#[tokio::test]
async fn a_forged_future_timestamp_dates_files_by_the_recorded_read_time() {
    let lookup = Arc::new(Delivered::default());
    let segs = run_with(lookup.clone(), false, |p| from_the_future(p, 0..200)).await;
    assert!(segs.len() > 2);
    let markers = lookup.1.lock().expect("lock").clone();
    assert_eq!(
        markers.len(),
        segs.len(),
        "one marker per segment: {markers:?}"
    );
    for s in &segs {
        assert_eq!(s.file_time, Some(FileTimeSource::Recorded));
        for f in &s.files {
            assert!(
                f.key.contains("/2026/01/01/") && f.key.contains("_20260101T0001Z_"),
                "{}",
                f.key
            );
        }
    }
    for body in markers.values() {
        assert_eq!(file_time::parse_marker(body), Some(clock()));
    }
}

#[tokio::test]
async fn a_replay_days_later_reuses_the_recorded_time() {
    let lookup = Arc::new(Delivered::default());
    let original = run_with(lookup.clone(), false, |p| from_the_future(p, 0..200)).await;
    delivered_from(&original, &lookup);
    fn two_days_later() -> i64 {
        clock() + 2 * 86_400
    }
    let resume = original[1].start;
    let replayed = run_at(two_days_later, lookup, true, |p| {
        from_the_future(p, resume..200)
    })
    .await;
    assert_eq!(fingerprint(&replayed), fingerprint(&original[1..]));
}

#[tokio::test]
async fn a_replay_after_the_window_moved_finds_files_dated_by_their_kafka_time() {
    let lookup = Arc::new(Delivered::default());
    let original = run(lookup.clone(), false, 0..400).await;
    assert!(original
        .iter()
        .all(|s| s.file_time == Some(FileTimeSource::KafkaTimestamp)));
    delivered_from(&original, &lookup);
    // Ten days on, the records' Kafka time is outside the window — yet the replay rebuilds the
    // delivered files under it, and records no other time for them.
    fn ten_days_later() -> i64 {
        clock() + 10 * 86_400
    }
    let resume = original[2].start;
    let replayed = run_at(ten_days_later, lookup.clone(), true, |p| {
        (resume..400).map(|o| message(p, 1, o)).collect()
    })
    .await;
    assert_eq!(fingerprint(&replayed), fingerprint(&original[2..]));
    assert!(lookup.1.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn a_racing_writers_recorded_time_wins() {
    let lookup = Arc::new(Delivered::default());
    let p = PartitionId {
        source: "topic".into(),
        partition: 3,
    };
    // Offset 0 is routed nowhere (every 7th), so offset 1 anchors the first segment.
    let unique = trailpipe_logfile::unique_string("one", &p.source, p.partition, 1);
    let recorded = 1_767_312_000; // 2026-01-02T00:00:00Z
    lookup.1.lock().expect("lock").insert(
        file_time::marker_key(None, &unique),
        Bytes::from(file_time::marker_body(
            recorded,
            0,
            FileTimeSource::KafkaTimestamp,
            "x",
        )),
    );
    let segs = run_with(lookup, false, |p| from_the_future(p, 0..20)).await;
    assert_eq!(segs[0].anchor, Some(1));
    assert!(
        segs[0].files[0].key.contains("_20260102T0000Z_"),
        "{}",
        segs[0].files[0].key
    );
}

#[tokio::test]
async fn replay_follows_a_recorded_wall_clock_cut() {
    // The earlier run cut the first segment early (by the clock, here: end of input) at offset 5.
    let early = run(Arc::default(), false, 0..5).await.remove(0);
    assert_eq!((early.start, early.end), (0, 5));
    let delivered = Arc::new(Delivered::default());
    delivered
        .0
        .lock()
        .expect("lock")
        .insert(early.files[0].key.clone(), RecordedCut { first: 1, end: 5 });
    // The replay sees more records, yet rebuilds the first segment exactly as delivered.
    let replayed = run(delivered, true, 0..50).await;
    assert_eq!(fingerprint(&replayed[..1]), fingerprint(&[early]));
    assert_eq!(replayed[1].start, 5);
}

#[tokio::test]
async fn dead_letters_stay_in_their_segment() {
    let mut records = Vec::new();
    parse_message(
        &Bytes::from_static(b"not json"),
        &Default::default(),
        &mut records,
    );
    let segs = run_with(Arc::default(), false, |p| {
        vec![Message {
            partition: p.clone(),
            epoch: 1,
            offset: 0,
            timestamp_ms: None,
            key: None,
            read_at: Instant::now(),
            records,
            routes: vec![0],
            held: Default::default(),
        }]
    })
    .await;
    let seg = &segs[0];
    assert_eq!(
        (
            segs.len(),
            seg.start,
            seg.end,
            seg.files.len(),
            seg.dead_letters.len()
        ),
        (1, 0, 1, 0, 1)
    );
    assert_eq!(seg.dead_letters[0].rejected.reason.code(), "not_json");
}

/// A partition carrying only rejected records is cut by `max_segment_bytes` like any other,
/// rather than holding every dead letter until the (here: hour-long) interval.
#[tokio::test]
async fn dead_letters_count_towards_the_segment_size() {
    let segs = run_with(Arc::default(), false, |p| {
        (0..50)
            .map(|offset| {
                let mut records = Vec::new();
                parse_message(
                    &Bytes::from(vec![b'x'; 1000]),
                    &Default::default(),
                    &mut records,
                );
                Message {
                    partition: p.clone(),
                    epoch: 1,
                    offset,
                    timestamp_ms: None,
                    key: None,
                    read_at: Instant::now(),
                    records,
                    routes: vec![0],
                    held: Default::default(),
                }
            })
            .collect()
    })
    .await;
    // 16 letters of 1,001 bytes fit in 16,384; the 17th starts the next segment.
    let sizes: Vec<usize> = segs.iter().map(|s| s.dead_letters.len()).collect();
    assert_eq!(sizes, [16, 16, 16, 2]);
    assert!(segs.windows(2).all(|w| w[0].end == w[1].start));
    assert_eq!((segs[0].start, segs[3].end), (0, 50));
}

#[tokio::test]
async fn cloudwatch_logs_records_are_fed_and_registered_before_their_segment_is_cut() {
    let mut trails = trails();
    trails[1].cwl_log_group = Some("group".into());
    let cfg = config_of(trails);
    let (tx, mut segs) = mpsc::channel(1000);
    let (feed_tx, mut fed) = mpsc::channel(1000);
    let pending = Arc::new(crate::FastPending::default());
    let feed = crate::CwlFeed {
        tx: feed_tx,
        pending: pending.clone(),
    };
    let mut b = Batcher::new(cfg, Arc::new(Delivered::default()), tx, Arc::default())
        .with_clock(clock)
        .with_cwl(Some(feed));
    let p = assign(&mut b, false).await;
    for o in 0..20 {
        assert!(b.handle(Flow::Message(message(&p, 1, o))).await);
    }
    // Every routed record of trail "two" (index 1) was handed over at once, none of "one".
    let mut offsets = Vec::new();
    while let Ok(m) = fed.try_recv() {
        assert!(m
            .records
            .iter()
            .all(|r| r.trail == 1 && &*r.log_group == "group"));
        offsets.push(m.offset);
    }
    let routed: Vec<i64> = (0..20).filter(|o| o % 7 != 0).collect();
    assert_eq!(offsets, routed);
    assert_eq!(pending.outstanding(), routed.len());
    // A segment's wait is released only by completions of its own offsets.
    assert!(
        b.handle(Flow::Cut {
            partition: p.clone(),
            epoch: 1
        })
        .await
    );
    let mut end = 0;
    while let Ok(s) = segs.try_recv() {
        end = s.built.await.expect("built").end;
    }
    assert_eq!(end, 20, "the last segment ends after the last message");
    let wait = tokio::spawn({
        let (pending, p) = (pending.clone(), p.clone());
        async move { pending.wait_through(&p, 1, end).await }
    });
    for &o in &routed[..routed.len() - 1] {
        pending.complete(&p, 1, o, None);
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!wait.is_finished(), "one record is still on its way");
    pending.complete(&p, 1, routed[routed.len() - 1], None);
    assert!(wait.await.expect("wait").is_empty());
    // A revoke forgets what the assignment still had pending.
    assert!(b.handle(Flow::Message(message(&p, 1, 20))).await);
    assert_eq!(pending.outstanding(), 1);
    assert!(b.handle(Flow::Revoked { partition: p }).await);
    assert_eq!(pending.outstanding(), 0);
}

#[tokio::test]
async fn rule_matches_are_fed_and_registered_before_their_segment_is_cut() {
    use trailpipe_rules::{Rule, RuleState, Rules};
    let rule = |name: &str, state| Rule {
        name: name.into(),
        pattern: trailpipe_eventpattern::Pattern::parse(r#"{"region": ["eu-west-1"]}"#)
            .expect("pattern"),
        state,
    };
    let rules = Rules::new(vec![
        rule(
            "all-eu",
            RuleState::EnabledWithAllCloudTrailManagementEvents,
        ),
        // The records are read-only Describe calls: ENABLED withholds them.
        rule("enabled-eu", RuleState::Enabled),
        rule("off", RuleState::Disabled),
    ]);
    let (tx, mut segs) = mpsc::channel(1000);
    let (feed_tx, mut fed) = mpsc::channel(1000);
    let pending = Arc::new(crate::FastPending::default());
    let feed = crate::RulesFeed {
        rules: Arc::new(rules),
        tx: feed_tx,
        pending: pending.clone(),
    };
    let mut b = Batcher::new(config(), Arc::new(Delivered::default()), tx, Arc::default())
        .with_clock(clock)
        .with_rules(Some(feed));
    let p = assign(&mut b, false).await;
    for o in 0..20 {
        assert!(b.handle(Flow::Message(message(&p, 1, o))).await);
    }
    // Every eu-west-1 record (odd offsets), routed to a trail or not, was handed over at once.
    let mut offsets = Vec::new();
    while let Ok(m) = fed.try_recv() {
        assert_eq!(m.matches.len(), 1);
        let x = &m.matches[0];
        assert_eq!(x.rules, [0]);
        let envelope: serde_json::Value = serde_json::from_str(&x.envelope).expect("JSON");
        assert_eq!(envelope["id"], &*x.id);
        assert_eq!(envelope["detail"]["eventID"], format!("id-{}", m.offset));
        offsets.push(m.offset);
    }
    let matched: Vec<i64> = (0..20).filter(|o| o % 2 == 1).collect();
    assert_eq!(offsets, matched);
    assert_eq!(pending.outstanding(), matched.len());
    assert!(
        b.handle(Flow::Cut {
            partition: p.clone(),
            epoch: 1
        })
        .await
    );
    let mut end = 0;
    while let Ok(s) = segs.try_recv() {
        end = s.built.await.expect("built").end;
    }
    assert_eq!(end, 20);
    let wait = tokio::spawn({
        let (pending, p) = (pending.clone(), p.clone());
        async move { pending.wait_through(&p, 1, end).await }
    });
    for &o in &matched[..matched.len() - 1] {
        pending.complete(&p, 1, o, None);
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!wait.is_finished(), "one event is still on its way");
    pending.complete(&p, 1, matched[matched.len() - 1], None);
    assert!(wait.await.expect("wait").is_empty());
    // A revoke forgets what the assignment still had pending.
    assert!(b.handle(Flow::Message(message(&p, 1, 21))).await);
    assert_eq!(pending.outstanding(), 1);
    assert!(b.handle(Flow::Revoked { partition: p }).await);
    assert_eq!(pending.outstanding(), 0);
}

#[tokio::test]
async fn a_segment_no_trail_selects_is_cut_by_the_clock_too() {
    // Without a routed record nothing used to set the segment's deadline: a tail of unrouted
    // (or history-only, or dead-letter) records waited for the next routed one to be committed.
    let (tx, mut rx) = mpsc::channel(10);
    let mut trails = trails();
    for t in &mut trails {
        t.delivery_interval = Duration::from_millis(50);
    }
    let cfg = config_of(trails);
    let mut b =
        Batcher::new(cfg, Arc::new(Delivered::default()), tx, Arc::default()).with_clock(clock);
    let p = assign(&mut b, false).await;
    let mut m = message(&p, 1, 0);
    m.routes = vec![0];
    assert!(b.handle(Flow::Message(m)).await);
    assert!(b.cut_due().await);
    assert!(rx.try_recv().is_err(), "cut before the interval");
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert!(b.cut_due().await);
    let seg = rx
        .try_recv()
        .expect("cut by the clock")
        .built
        .await
        .expect("build");
    assert_eq!((seg.start, seg.end, seg.files.len()), (0, 1, 0));
}

/// When less than a quarter of the memory budget is free, the next tick cuts open segments
/// (reason `memory`) instead of waiting for their hour-long interval; their shares come back
/// when the built segment is dropped after delivery.
#[tokio::test]
async fn open_segments_are_cut_when_the_memory_budget_runs_low() {
    let budget = trailpipe_event::MemoryBudget::new(10_000);
    let (tx, mut rx) = mpsc::channel(1000);
    let lookup: Arc<Delivered> = Arc::default();
    let mut b = Batcher::new(config(), lookup, tx, Arc::default())
        .with_clock(clock)
        .with_budget(budget.clone());
    let p = assign(&mut b, false).await;
    for offset in 0..7 {
        let mut m = message(&p, 1, offset);
        m.held = budget.hold(1_000).await;
        assert!(b.handle(Flow::Message(m)).await);
    }
    // 3,000 of 10,000 free: no pressure yet, nothing due for an hour.
    assert!(b.cut_due().await);
    assert!(rx.try_recv().is_err(), "cut without pressure");
    let mut m = message(&p, 1, 7);
    m.held = budget.hold(1_000).await;
    assert!(b.handle(Flow::Message(m)).await);
    assert!(b.cut_due().await);
    let seg = rx
        .try_recv()
        .expect("a memory cut")
        .built
        .await
        .expect("build");
    assert_eq!((seg.cut, seg.start, seg.end), (CutReason::Memory, 0, 8));
    assert_eq!(seg.held.bytes(), 8_000);
    drop(seg);
    assert_eq!(budget.available(), 10_000);
}
