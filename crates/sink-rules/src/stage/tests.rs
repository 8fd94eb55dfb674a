use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Mutex,
};

use bytes::Bytes;
use trailpipe_event::PartitionId;
use trailpipe_eventpattern::Pattern;
use trailpipe_rules::{Rule, RuleState};

use super::*;

/// A target that fails `transient` times, then accepts (or, with `never`, refuses for good);
/// it keeps what it accepted.
#[derive(Default)]
struct Fake {
    transient: AtomicUsize,
    never: bool,
    got: Mutex<Vec<(String, String)>>,
}

impl Target for Fake {
    fn send<'a>(&'a self, id: &'a str, payload: &'a str) -> BoxFuture<'a, Result<(), TargetError>> {
        Box::pin(async move {
            if self.never {
                return Err(TargetError {
                    message: "NotFound Topic does not exist".into(),
                    failure: Failure::Never,
                });
            }
            if self
                .transient
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                return Err(TargetError {
                    message: "broker down".into(),
                    failure: Failure::Transient(trailpipe_retry::ErrorClass::Retriable),
                });
            }
            self.got
                .lock()
                .unwrap()
                .push((id.to_string(), payload.to_string()));
            Ok(())
        })
    }
}

fn compiled(n: usize) -> Arc<Rules> {
    Arc::new(Rules::new(
        (0..n)
            .map(|i| Rule {
                name: format!("r{i}"),
                pattern: Pattern::parse(r#"{"source": ["aws.iam"]}"#).unwrap(),
                state: RuleState::Enabled,
            })
            .collect(),
    ))
}

fn message(p: &Arc<PartitionId>, offset: i64, rules: Vec<usize>) -> RulesMessage {
    RulesMessage {
        partition: p.clone(),
        epoch: 1,
        offset,
        key: None,
        read_at: Instant::now(),
        matches: vec![RuleMatch {
            rules,
            envelope: format!(r#"{{"id":"id-{offset}","detail":{{"n":{offset}}}}}"#).into(),
            id: format!("id-{offset}").into(),
            raw: Bytes::from(format!(r#"{{"n":{offset}}}"#)),
        }],
    }
}

#[tokio::test(start_paused = true)]
async fn a_segment_waits_for_every_target_and_refusals_become_dead_letters() {
    let p = Arc::new(PartitionId {
        source: "t".into(),
        partition: 0,
    });
    let flaky = Arc::new(Fake {
        transient: AtomicUsize::new(3),
        ..Fake::default()
    });
    let ok = Arc::new(Fake::default());
    let gone = Arc::new(Fake {
        never: true,
        ..Fake::default()
    });
    let stage = RulesStage::new(vec![
        RuleTargets::new("r0")
            .with_target("flaky", InputPath::default(), flaky.clone())
            .with_target("cut", InputPath::parse("$.detail").unwrap(), ok.clone()),
        RuleTargets::new("r1").with_target("gone", InputPath::default(), gone.clone()),
    ]);
    let (feed, task) = stage.start_feed(compiled(2));
    assert!(feed.send(message(&p, 0, vec![0])).await);
    assert!(feed.send(message(&p, 1, vec![0, 1])).await);
    assert!(stage.pending.outstanding() > 0);
    let letters = stage.pending.wait_through(&p, 1, 2).await;
    // Offset 0 and 1 reached both targets of r0 (after the flaky one's failures)...
    assert_eq!(flaky.got.lock().unwrap().len(), 2);
    assert_eq!(
        ok.got.lock().unwrap().clone(),
        [
            ("id-0".to_string(), r#"{"n":0}"#.to_string()),
            ("id-1".to_string(), r#"{"n":1}"#.to_string())
        ]
    );
    // ...and r1's target refused offset 1 for good: one dead letter naming rule and target.
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].offset, 1);
    let reason = letters[0].rejected.reason.to_string();
    assert!(
        reason.contains("rule \"r1\" target \"gone\"") && reason.contains("NotFound"),
        "{reason}"
    );
    assert_eq!(stage.pending.outstanding(), 0);
    drop(feed);
    task.await.expect("the stage ends with its feed");
}

#[tokio::test(start_paused = true)]
async fn a_target_that_stays_down_holds_the_segment() {
    let p = Arc::new(PartitionId {
        source: "t".into(),
        partition: 0,
    });
    let down = Arc::new(Fake {
        transient: AtomicUsize::new(usize::MAX),
        ..Fake::default()
    });
    let stage = RulesStage::new(vec![RuleTargets::new("r0").with_target(
        "down",
        InputPath::default(),
        down.clone(),
    )]);
    let (feed, _task) = stage.start_feed(compiled(1));
    assert!(feed.send(message(&p, 5, vec![0])).await);
    let wait = {
        let (stage, p) = (stage.clone(), p.clone());
        tokio::spawn(async move { stage.pending.wait_through(&p, 1, 6).await })
    };
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert!(!wait.is_finished(), "offsets must wait for the target");
    // It comes back: the event is delivered and the segment released, without a dead letter.
    down.transient.store(0, Ordering::SeqCst);
    assert!(wait.await.expect("wait").is_empty());
    assert_eq!(down.got.lock().unwrap().len(), 1);
}
