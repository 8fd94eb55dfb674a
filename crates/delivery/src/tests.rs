//! The coordinator's ordering rules, with sinks that record what they saw (the real sinks are
//! exercised end to end by the integration tests against tansu and moto).

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::future::BoxFuture;
use tokio::sync::mpsc;
use trailpipe_batcher::{CutReason, InFlight, PendingSegment, Segment};
use trailpipe_event::{DeadLetter, Feedback, PartitionId, RejectReason, Rejected};

use crate::{Delivery, Ledger, Outcome, Sink, SinkHealth, Step};

type Log = Arc<Mutex<Vec<String>>>;

/// A sink that logs `<name>:<start>` and answers `step` for segments starting at `at`.
struct Recorder {
    name: &'static str,
    log: Log,
    at: Option<(i64, Step)>,
    refuse: bool,
}

impl Sink for Recorder {
    fn name(&self) -> &'static str {
        self.name
    }

    fn deliver<'a>(&'a self, seg: &'a Segment, ledger: &'a mut Ledger) -> BoxFuture<'a, Step> {
        Box::pin(async move {
            let refused: Vec<i64> = ledger.refused.iter().map(|l| l.offset).collect();
            self.log
                .lock()
                .unwrap()
                .push(format!("{}:{} refused={refused:?}", self.name, seg.start));
            if self.refuse {
                ledger.refused.push(letter(seg.start));
                ledger.delivered += 1;
            }
            match &self.at {
                Some((start, step)) if *start == seg.start => step.clone(),
                _ => Step::Durable,
            }
        })
    }
}

fn partition() -> Arc<PartitionId> {
    Arc::new(PartitionId {
        source: "topic".into(),
        partition: 3,
    })
}

fn letter(offset: i64) -> DeadLetter {
    DeadLetter {
        partition: partition(),
        offset,
        key: None,
        rejected: Rejected {
            raw: Bytes::from_static(b"{}"),
            reason: RejectReason::SinkRejected {
                sink: "test",
                reason: "refused".into(),
            },
            envelope_index: None,
        },
    }
}

fn segment(start: i64, end: i64) -> Segment {
    Segment {
        partition: partition(),
        epoch: 1,
        start,
        end,
        anchor: None,
        file_time: None,
        files: Vec::new(),
        dead_letters: Vec::new(),
        history: Vec::new(),
        cut: CutReason::End,
        opened_at: std::time::Instant::now(),
        held: Default::default(),
    }
}

fn recorder(name: &'static str, log: &Log) -> Recorder {
    Recorder {
        name,
        log: log.clone(),
        at: None,
        refuse: false,
    }
}

/// Runs `segments` (start, end) through a delivery stage with `sinks`; returns the feedback.
async fn run(sinks: Vec<Recorder>, segments: &[(i64, i64)]) -> Vec<Feedback> {
    let (acks, mut feedback) = mpsc::unbounded_channel();
    let inflight = Arc::new(InFlight::default());
    let mut d = Delivery::new(acks, inflight.clone(), SinkHealth::default());
    for s in sinks {
        d = d.register(Arc::new(s));
    }
    let (tx, rx) = mpsc::channel(8);
    let task = tokio::spawn(d.run(rx));
    for &(start, end) in segments {
        inflight.add(&partition());
        let seg = segment(start, end);
        tx.send(PendingSegment {
            partition: partition(),
            epoch: 1,
            built: tokio::spawn(async move { seg }),
        })
        .await
        .expect("delivery runs");
    }
    drop(tx);
    task.await.expect("delivery ends");
    let mut out = Vec::new();
    while let Ok(f) = feedback.try_recv() {
        out.push(f);
    }
    out
}

fn acked(f: &[Feedback]) -> Vec<(i64, i64, u64)> {
    f.iter()
        .filter_map(|f| match f {
            Feedback::Delivered(a) => Some((a.start, a.end, a.delivered)),
            Feedback::Rewind { .. } => None,
        })
        .collect()
}

#[tokio::test]
async fn every_sink_sees_each_segment_in_order_before_it_is_acknowledged() {
    let log = Log::default();
    let mut files = recorder("files", &log);
    files.refuse = true;
    let feedback = run(vec![files, recorder("letters", &log)], &[(0, 10), (10, 20)]).await;
    assert_eq!(
        *log.lock().unwrap(),
        [
            "files:0 refused=[]",
            "letters:0 refused=[0]",
            "files:10 refused=[]",
            "letters:10 refused=[10]",
        ],
        "registration order, one segment after another, refusals passed on and not carried over"
    );
    assert_eq!(acked(&feedback), [(0, 10, 1), (10, 20, 1)]);
}

#[tokio::test]
async fn a_rewind_stops_the_segment_and_drops_the_rest_of_its_epoch() {
    let log = Log::default();
    let mut files = recorder("files", &log);
    files.at = Some((10, Step::Rewind));
    let feedback = run(
        vec![files, recorder("history", &log)],
        &[(0, 10), (10, 20), (20, 30)],
    )
    .await;
    assert_eq!(
        *log.lock().unwrap(),
        [
            "files:0 refused=[]",
            "history:0 refused=[]",
            "files:10 refused=[]"
        ],
        "no later sink and no later segment of the epoch runs after a rewind"
    );
    assert_eq!(acked(&feedback), [(0, 10, 0)]);
    assert!(
        matches!(
            feedback.last(),
            Some(Feedback::Rewind {
                start: 10,
                epoch: 1,
                ..
            })
        ),
        "{feedback:?}"
    );
}

#[tokio::test]
async fn a_stuck_segment_is_never_acknowledged_and_is_reported() {
    let log = Log::default();
    let mut files = recorder("files", &log);
    files.at = Some((0, Step::Stuck("conflicts".into())));
    let health = SinkHealth::default();
    let (acks, mut feedback) = mpsc::unbounded_channel();
    let d = Delivery::new(acks, Arc::new(InFlight::default()), health.clone())
        .register(Arc::new(files))
        .register(Arc::new(recorder("sns", &log)));
    assert_eq!(d.deliver(segment(0, 5)).await, Outcome::Stuck);
    assert!(feedback.try_recv().is_err(), "nothing acknowledged");
    assert_eq!(*log.lock().unwrap(), ["files:0 refused=[]"]);
    let error = health.status().latest_error.expect("reported");
    assert!(error.contains("topic[3][0..5) conflicts"), "{error}");
}
