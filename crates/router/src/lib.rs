//! The router stage: for every accepted record, which trails log it.
//!
//! Invariant: routing is a pure function of the record and the trails' compiled selectors — the
//! same input always yields the same routes, which deterministic log files depend on. Records are
//! never copied: a route is one bit per trail beside the record. Partition lifecycle events pass
//! through in order.

use tokio::sync::mpsc;
use trailpipe_event::{Flow, Message};
use trailpipe_selectors::TrailSelector;
use trailpipe_telemetry as names;

/// The trails' selectors, in configuration order (bit `i` of a route = trail `i`).
pub struct Router {
    trails: Vec<(String, TrailSelector)>,
    routed: Vec<metrics::Counter>,
    unrouted: metrics::Counter,
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
        }
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

    /// Runs the stage until the input closes.
    pub async fn run(self, mut rx: mpsc::Receiver<Flow>, tx: mpsc::Sender<Flow>) {
        while let Some(mut flow) = rx.recv().await {
            if let Flow::Message(m) = &mut flow {
                self.route(m);
            }
            if tx.send(flow).await.is_err() {
                return;
            }
        }
    }
}
