//! The coordinator: a worker per partition and epoch takes each segment through the registered
//! sinks in order, then acknowledges it (the protocol is stated in the crate's documentation).

use std::{collections::HashMap, sync::Arc};

use tokio::{sync::mpsc, task::JoinHandle};
use trailpipe_batcher::{InFlight, PendingSegment, Segment};
use trailpipe_event::{Epoch, Feedback, PartitionId, SegmentAck};
use trailpipe_telemetry as names;

use crate::{Ledger, Sink, SinkHealth, Step};

/// How delivering one segment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Durable in every sink and acknowledged.
    Acknowledged,
    /// A sink found a different cut at the anchor file's key; a rewind was requested.
    Rewound,
    /// A sink holds data that contradicts the segment; not acknowledged.
    Stuck,
}

/// The delivery stage: the sinks every segment visits, in order, and where acknowledgements go.
#[derive(Clone)]
pub struct Delivery {
    sinks: Vec<Arc<dyn Sink>>,
    acks: mpsc::UnboundedSender<Feedback>,
    health: SinkHealth,
    inflight: Arc<InFlight>,
}

/// Segments queued per partition worker (the bounded channel before it holds the rest).
const WORKER_QUEUE: usize = 2;

impl Delivery {
    /// A delivery stage with no sinks yet, acknowledging on `acks`. `inflight` is the batcher's:
    /// every received segment is marked done once it settles. A segment that cannot be
    /// acknowledged is reported in `health`.
    pub fn new(
        acks: mpsc::UnboundedSender<Feedback>,
        inflight: Arc<InFlight>,
        health: SinkHealth,
    ) -> Self {
        Self {
            sinks: Vec::new(),
            acks,
            health,
            inflight,
        }
    }

    /// Adds `sink` after the ones registered before it. Order matters: the log files first
    /// (their anchor decides whether the segment may be written), the dead letters after every
    /// sink that can refuse records.
    pub fn register(mut self, sink: Arc<dyn Sink>) -> Self {
        self.sinks.push(sink);
        self
    }

    /// Adds `sink` when there is one.
    pub fn register_some(self, sink: Option<Arc<dyn Sink>>) -> Self {
        match sink {
            Some(s) => self.register(s),
            None => self,
        }
    }

    /// Runs until the input closes and every queued segment is delivered.
    pub async fn run(self, mut rx: mpsc::Receiver<PendingSegment>) {
        let mut workers: HashMap<
            Arc<PartitionId>,
            (Epoch, mpsc::Sender<PendingSegment>, JoinHandle<()>),
        > = HashMap::new();
        let mut retired = Vec::new();
        while let Some(p) = rx.recv().await {
            let stale = workers
                .get(&p.partition)
                .is_some_and(|(e, _, _)| *e != p.epoch);
            if stale {
                if let Some((_, tx, handle)) = workers.remove(&p.partition) {
                    drop(tx);
                    retired.push(handle);
                }
            }
            let (_, tx, _) = workers.entry(p.partition.clone()).or_insert_with(|| {
                let (tx, rx) = mpsc::channel(WORKER_QUEUE);
                (p.epoch, tx, tokio::spawn(self.clone().worker(rx)))
            });
            if tx.send(p).await.is_err() {
                tracing::error!("delivery worker stopped unexpectedly");
            }
        }
        for (_, tx, handle) in workers.into_values() {
            drop(tx);
            retired.push(handle);
        }
        for h in retired {
            let _ = h.await;
        }
    }

    /// Delivers one epoch of one partition, in cut order. After a rewind, every later segment
    /// of the epoch is dropped unwritten: it was cut after a segment the store contradicts.
    async fn worker(self, mut rx: mpsc::Receiver<PendingSegment>) {
        let mut poisoned = false;
        while let Some(p) = rx.recv().await {
            if poisoned {
                p.built.abort();
            } else {
                match p.built.await {
                    Ok(segment) => poisoned = self.deliver(segment).await == Outcome::Rewound,
                    Err(e) => {
                        // Nothing after this segment may be acknowledged: the watermark stops
                        // at its start, and a restart replays it.
                        tracing::error!(partition = %p.partition, error = %e, "building a segment failed; it will be replayed");
                        poisoned = true;
                    }
                }
            }
            self.inflight.done(&p.partition);
        }
    }

    /// Takes one segment through every sink, in order, then acknowledges it.
    pub async fn deliver(&self, seg: Segment) -> Outcome {
        let mut ledger = Ledger::default();
        for sink in &self.sinks {
            match sink.deliver(&seg, &mut ledger).await {
                Step::Durable => {}
                Step::Rewind => {
                    metrics::counter!(names::SEGMENT_REWINDS).increment(1);
                    tracing::warn!(partition = %seg.partition, start = seg.start, sink = sink.name(), "anchor file holds an earlier owner's cut: re-reading the partition from the segment start");
                    let _ = self.acks.send(Feedback::Rewind {
                        partition: seg.partition.clone(),
                        epoch: seg.epoch,
                        start: seg.start,
                    });
                    return Outcome::Rewound;
                }
                Step::Stuck(why) => {
                    // The watermark stops here (visible as lag and in /readyz).
                    self.health.error(format!(
                        "segment {}[{}..{}) {why}; not committed",
                        seg.partition, seg.start, seg.end
                    ));
                    return Outcome::Stuck;
                }
            }
        }
        metrics::histogram!(names::DELIVERY_LATENCY).record(seg.opened_at.elapsed().as_secs_f64());
        let _ = self.acks.send(Feedback::Delivered(SegmentAck {
            partition: seg.partition.clone(),
            epoch: seg.epoch,
            start: seg.start,
            end: seg.end,
            delivered: ledger.delivered,
        }));
        Outcome::Acknowledged
    }
}
