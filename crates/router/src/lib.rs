//! The router stage: for every accepted record, which trails log it.
//!
//! Invariant: routing is a pure function of the record and the trails' compiled selectors — the
//! same input always yields the same routes, which deterministic log files depend on. Records are
//! never copied: a route is one bit per trail beside the record. Partition lifecycle events pass
//! through in order.

use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use trailpipe_event::{Flow, Message, PartitionId, RoutingFields};
use trailpipe_selectors::TrailSelector;
use trailpipe_telemetry as names;

/// The trails' selectors, in configuration order (bit `i` of a route = trail `i`).
pub struct Router {
    trails: Vec<(String, TrailSelector)>,
    routed: Vec<metrics::Counter>,
    unrouted: metrics::Counter,
    tap: Option<Tap>,
    /// New selectors for the same trails (lifecycle changes through the API), taken before
    /// the next message is routed.
    updates: Option<watch::Receiver<Vec<TrailSelector>>>,
}

/// The routed records of one message that a tap asked for (e.g. the Insights stage).
#[derive(Debug)]
pub struct Tapped {
    /// Where the message came from.
    pub partition: Arc<PartitionId>,
    /// The message's offset.
    pub offset: i64,
    /// `(route bits within the tap's mask, the record's fields)`, in message order.
    pub records: Vec<(u64, RoutingFields)>,
}

/// A copy of the routed records of some trails, sent on a bounded channel: a slow consumer slows
/// the router, as any stage does.
struct Tap {
    mask: u64,
    tx: mpsc::Sender<Tapped>,
}

impl Router {
    /// A router over `(trail name, selector)` pairs; at most 64 trails.
    pub fn new(trails: Vec<(String, TrailSelector)>) -> Self {
        assert!(
            trails.len() <= 64,
            "config validation allows at most 64 trails"
        );
        let routed = trails
            .iter()
            .map(|(n, _)| metrics::counter!(names::RECORDS_ROUTED, "trail" => n.clone()))
            .collect();
        Self {
            trails,
            routed,
            unrouted: metrics::counter!(names::RECORDS_UNROUTED),
            tap: None,
            updates: None,
        }
    }

    /// Takes the selectors `updates` sends (one per trail, in the same order) before routing
    /// the next message. The sender must only change them while no message is on its way to
    /// the router (the source's barrier), so a message is never routed by selectors newer
    /// than its segment's.
    pub fn with_updates(mut self, updates: watch::Receiver<Vec<TrailSelector>>) -> Self {
        self.updates = Some(updates);
        self
    }

    fn take_updates(&mut self) {
        let Some(rx) = &mut self.updates else {
            return;
        };
        if !rx.has_changed().unwrap_or(false) {
            return;
        }
        let new = rx.borrow_and_update().clone();
        if new.len() == self.trails.len() {
            for ((_, sel), new) in self.trails.iter_mut().zip(new) {
                *sel = new;
            }
        } else {
            tracing::error!(
                trails = self.trails.len(),
                sent = new.len(),
                "selector update for a different set of trails ignored"
            );
        }
    }

    /// Also sends, per message, the fields of every record routed to a trail in `mask`.
    pub fn with_tap(mut self, mask: u64, tx: mpsc::Sender<Tapped>) -> Self {
        self.tap = Some(Tap { mask, tx });
        self
    }

    /// What the tap gets of `msg` (after [`Router::route`]), if anything.
    fn tapped(mask: u64, msg: &Message) -> Option<Tapped> {
        let records: Vec<(u64, RoutingFields)> = msg
            .records
            .iter()
            .zip(&msg.routes)
            .filter_map(|(r, route)| match r {
                Ok(e) if route & mask != 0 => Some((route & mask, e.fields.clone())),
                _ => None,
            })
            .collect();
        (!records.is_empty()).then(|| Tapped {
            partition: msg.partition.clone(),
            offset: msg.offset,
            records,
        })
    }

    /// Fills `msg.routes`: one bitmask per record (0 for rejected or unselected records).
    pub fn route(&self, msg: &mut Message) {
        msg.routes.clear();
        for record in &msg.records {
            let mut mask = 0u64;
            if let Ok(event) = record {
                for (i, (_, sel)) in self.trails.iter().enumerate() {
                    if sel.matches(&event.fields) {
                        mask |= 1 << i;
                        self.routed[i].increment(1);
                    }
                }
                if mask == 0 {
                    self.unrouted.increment(1);
                }
            }
            msg.routes.push(mask);
        }
    }

    /// Runs the stage until the input closes (dropping the tap's sender with it).
    pub async fn run(mut self, mut rx: mpsc::Receiver<Flow>, tx: mpsc::Sender<Flow>) {
        while let Some(mut flow) = rx.recv().await {
            if let Flow::Message(m) = &mut flow {
                self.take_updates();
                self.route(m);
                if let Some(tap) = &self.tap {
                    if let Some(t) = Self::tapped(tap.mask, m) {
                        if tap.tx.send(t).await.is_err() {
                            tracing::error!("the tapped stage stopped; routing goes on without it");
                            self.tap = None;
                        }
                    }
                }
            }
            if tx.send(flow).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trailpipe_event::parse_message;

    fn message(offset: i64, body: &str) -> Message {
        let mut records = Vec::new();
        parse_message(
            &bytes::Bytes::from(body.to_owned()),
            &Default::default(),
            &mut records,
        );
        Message {
            partition: Arc::new(PartitionId {
                source: "t".into(),
                partition: 2,
            }),
            epoch: 1,
            offset,
            timestamp_ms: None,
            key: None,
            read_at: std::time::Instant::now(),
            records,
            routes: Vec::new(),
            held: Default::default(),
        }
    }

    fn selector(multi_region: bool, home: &str) -> TrailSelector {
        let scope = trailpipe_selectors::RegionScope {
            is_multi_region_trail: multi_region,
            home_region: home.into(),
            include_global_service_events: true,
        };
        TrailSelector::new(scope, &[], &[]).expect("compiles")
    }

    #[tokio::test]
    async fn tap_gets_only_records_routed_to_its_trails() {
        // Trail a logs only us-west-2, trail b everywhere; c is outside the tap's mask.
        let router = Router::new(vec![
            ("a".into(), selector(false, "us-west-2")),
            ("b".into(), selector(true, "us-east-1")),
            ("c".into(), selector(true, "us-east-1")),
        ]);
        let (tap_tx, mut tap_rx) = mpsc::channel(4);
        let (in_tx, in_rx) = mpsc::channel(4);
        let (out_tx, mut out_rx) = mpsc::channel(4);
        tokio::spawn(router.with_tap(0b011, tap_tx).run(in_rx, out_tx));
        let rec = |id: &str| {
            format!(
                r#"{{"eventVersion":"1.08","eventTime":"2024-01-01T00:00:00Z","eventID":"{id}","eventSource":"s3.amazonaws.com","eventName":"CreateBucket","awsRegion":"us-east-1","recipientAccountId":"111122223333","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"eventCategory":"Management"}}"#
            )
        };
        let body = format!(r#"{{"Records":[{},{{"bad":1}},{}]}}"#, rec("e1"), rec("e2"));
        in_tx
            .send(Flow::Message(message(7, &body)))
            .await
            .expect("sent");
        in_tx
            .send(Flow::Message(message(8, "not json")))
            .await
            .expect("sent");
        drop(in_tx);
        let t = tap_rx.recv().await.expect("one tapped message");
        assert_eq!(t.offset, 7);
        assert_eq!(t.partition.partition, 2);
        let ids: Vec<(u64, &str)> = t.records.iter().map(|(r, f)| (*r, &*f.event_id)).collect();
        assert_eq!(ids, vec![(0b10, "e1"), (0b10, "e2")]);
        assert!(
            tap_rx.recv().await.is_none(),
            "nothing tapped from a message with no routed record"
        );
        let mut passed = 0;
        while out_rx.recv().await.is_some() {
            passed += 1;
        }
        assert_eq!(passed, 2, "every message still flows on");
    }

    /// Selectors sent between two messages apply from the second on; a wrong-sized update is
    /// ignored.
    #[tokio::test]
    async fn updated_selectors_apply_from_the_next_message() {
        let (up_tx, up_rx) = watch::channel(vec![selector(true, "us-east-1")]);
        let router =
            Router::new(vec![("a".into(), selector(true, "us-east-1"))]).with_updates(up_rx);
        let (in_tx, in_rx) = mpsc::channel(4);
        let (out_tx, mut out_rx) = mpsc::channel(4);
        tokio::spawn(router.run(in_rx, out_tx));
        let body = r#"{"eventVersion":"1.08","eventTime":"2024-01-01T00:00:00Z","eventID":"e","eventSource":"s3.amazonaws.com","eventName":"CreateBucket","awsRegion":"eu-west-1","recipientAccountId":"111122223333","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"eventCategory":"Management"}"#;
        let mut routes = Vec::new();
        for (offset, update) in [
            (1, None),
            (2, Some(vec![selector(false, "us-east-1")])),
            (
                3,
                Some(vec![selector(true, "us-east-1"), selector(true, "x")]),
            ),
        ] {
            if let Some(u) = update {
                up_tx.send(u).expect("router alive");
            }
            in_tx
                .send(Flow::Message(message(offset, body)))
                .await
                .expect("sent");
            match out_rx.recv().await {
                Some(Flow::Message(m)) => routes.push(m.routes),
                other => panic!("{other:?}"),
            }
        }
        // Multi-region logs eu-west-1; the us-east-1-only trail does not; the bad update
        // leaves it as it was.
        assert_eq!(routes, vec![vec![1], vec![0], vec![0]]);
    }
}
