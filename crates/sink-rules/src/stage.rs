//! The rules stage: receives the batcher's matched records, delivers each event to every target
//! of every matching rule, and settles each (record, rule) in the pending tracker exactly once.

use std::{
    collections::HashMap,
    panic::AssertUnwindSafe,
    sync::Arc,
    time::{Duration, Instant},
};

use futures::{future::BoxFuture, FutureExt};
use tokio::{sync::mpsc, task::JoinSet};
use trailpipe_batcher::{FastPending, RuleMatch, RulesFeed, RulesMessage, Segment};
use trailpipe_delivery::{panic_message, Ledger, Sink, Step};
use trailpipe_event::{DeadLetter, RejectReason, Rejected};
use trailpipe_retry::Backoff;
use trailpipe_rules::{InputPath, Rules};
use trailpipe_telemetry as names;

use crate::{Failure, KafkaTarget, SnsTarget, Target, TargetError};

/// One target of a rule.
pub struct RuleTarget {
    /// Its `id` (unique within the rule).
    pub id: Arc<str>,
    /// The part of the event it receives.
    pub input_path: InputPath,
    /// Where it goes.
    pub target: Arc<dyn Target>,
}

/// A rule's name and targets, at the rule's index in the configuration.
pub struct RuleTargets {
    /// The rule's name.
    pub name: Arc<str>,
    /// Its targets (at least one).
    pub targets: Vec<RuleTarget>,
}

impl RuleTargets {
    /// A rule named `name` with no targets yet.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            targets: Vec::new(),
        }
    }

    /// Adds a target.
    pub fn with_target(mut self, id: &str, input_path: InputPath, target: Arc<dyn Target>) -> Self {
        self.targets.push(RuleTarget {
            id: id.into(),
            input_path,
            target,
        });
        self
    }
}

/// The rules stage (see the crate documentation).
pub struct RulesStage {
    /// By rule index (the configuration's order, as in `Rules::matching`).
    rules: Vec<RuleTargets>,
    /// (record, rule) units not yet settled (shared with the batcher).
    pending: Arc<FastPending>,
}

/// Messages buffered between the batcher and the stage.
const FEED_CHANNEL: usize = 1024;
/// Event bytes the stage holds in deliveries before it stops receiving (the bounded feed then
/// fills and the batcher, and with it the consumer, waits).
const MAX_BUFFERED_BYTES: usize = 16 * 1024 * 1024;
/// Messages whose deliveries run at once.
const MAX_MESSAGES_IN_FLIGHT: usize = 1024;
/// Least time between two warnings about the same failing target.
const WARN_EVERY: Duration = Duration::from_secs(10);
/// The `sink` of rules' dead letters.
const SINK: &str = "rules";

impl RulesStage {
    /// A stage delivering to `rules` (by rule index).
    pub fn new(rules: Vec<RuleTargets>) -> Arc<Self> {
        Arc::new(Self {
            rules,
            pending: Arc::default(),
        })
    }

    /// The stage for `config`'s `[[rules]]`, or `None` when there are none. Kafka targets
    /// share one producer built from the Kafka source's client settings with `context`; SNS
    /// targets share one client per region (the storage's endpoint, the default credentials).
    pub async fn open(
        config: &trailpipe_config::Config,
        context: Option<trailpipe_ingest::SecureContext>,
    ) -> Result<Option<Arc<Self>>, String> {
        use trailpipe_config::{SourceConfig, TargetKind};
        if config.rules.is_empty() {
            return Ok(None);
        }
        let mut producer = None;
        let mut sns: HashMap<String, aws_sdk_sns::Client> = HashMap::new();
        let mut rules = Vec::new();
        for r in &config.rules {
            let mut rule = RuleTargets::new(&r.name);
            for t in &r.targets {
                let target: Arc<dyn Target> = match t.target_kind() {
                    Some(TargetKind::Kafka(topic)) => {
                        let (SourceConfig::Kafka(k), Some(context)) = (&config.source, &context)
                        else {
                            return Err(format!(
                                "rule {:?} target {:?}: Kafka targets need a Kafka source",
                                r.name, t.id
                            ));
                        };
                        if producer.is_none() {
                            producer = Some(kafka_producer(k, context.clone())?);
                        }
                        Arc::new(KafkaTarget::new(
                            producer.clone().expect("set above"),
                            topic,
                        ))
                    }
                    Some(TargetKind::Sns(arn)) => {
                        let region = arn
                            .split(':')
                            .nth(3)
                            .filter(|r| !r.is_empty())
                            .unwrap_or(&config.storage.region)
                            .to_string();
                        let client = match sns.get(&region) {
                            Some(c) => c.clone(),
                            None => {
                                let c = trailpipe_sink_sns::client(
                                    &region,
                                    config.storage.endpoint_url.as_deref(),
                                )
                                .await;
                                sns.insert(region, c.clone());
                                c
                            }
                        };
                        Arc::new(SnsTarget::new(client, arn))
                    }
                    None => {
                        return Err(format!(
                        "rule {:?} target {:?}: invalid target (validation should have refused it)",
                        r.name, t.id
                    ))
                    }
                };
                rule = rule.with_target(&t.id, t.input_path(), target);
            }
            rules.push(rule);
        }
        Ok(Some(Self::new(rules)))
    }

    /// Starts the fast path: returns the batcher's feed (matching with `compiled`, whose
    /// indexes are this stage's) and the task that delivers what it sends. The task ends once
    /// the feed's senders are gone and everything received is settled.
    pub fn start_feed(
        self: &Arc<Self>,
        compiled: Arc<Rules>,
    ) -> (RulesFeed, tokio::task::JoinHandle<()>) {
        assert_eq!(
            compiled.len(),
            self.rules.len(),
            "the compiled rules are the stage's"
        );
        for r in &self.rules {
            metrics::counter!(names::RULE_MATCHED, "rule" => r.name.to_string()).absolute(0);
            for t in &r.targets {
                let labels = [("rule", r.name.to_string()), ("target", t.id.to_string())];
                metrics::counter!(names::RULE_DELIVERED, &labels).absolute(0);
                metrics::counter!(names::RULE_FAILED, &labels).absolute(0);
            }
        }
        let (tx, rx) = mpsc::channel(FEED_CHANNEL);
        let feed = RulesFeed {
            rules: compiled,
            tx,
            pending: self.pending.clone(),
        };
        (feed, tokio::spawn(self.clone().run_feed(rx)))
    }

    /// The stage's loop: each message is delivered on a task of its own, at most
    /// `MAX_MESSAGES_IN_FLIGHT` and `MAX_BUFFERED_BYTES` at once.
    async fn run_feed(self: Arc<Self>, mut rx: mpsc::Receiver<RulesMessage>) {
        let mut tasks: JoinSet<usize> = JoinSet::new();
        let mut buffered = 0usize;
        let mut closed = false;
        let warned: Arc<std::sync::Mutex<HashMap<(usize, usize), Instant>>> = Arc::default();
        loop {
            if closed && tasks.is_empty() {
                return;
            }
            let room = buffered < MAX_BUFFERED_BYTES && tasks.len() < MAX_MESSAGES_IN_FLIGHT;
            tokio::select! {
                m = rx.recv(), if !closed && room => match m {
                    Some(m) => {
                        let bytes = m.matches.iter().map(|x| x.envelope.len()).sum::<usize>();
                        buffered += bytes;
                        let (stage, warned) = (self.clone(), warned.clone());
                        tasks.spawn(async move {
                            stage.deliver_message(m, &warned).await;
                            bytes
                        });
                    }
                    None => closed = true,
                },
                Some(done) = tasks.join_next() => match done {
                    Ok(bytes) => buffered -= bytes,
                    // deliver_message catches panics and settles every unit, so this is a bug
                    // outside those guards: its units would never settle and their offsets
                    // never commit. Stop the process (crash-only) so the supervisor restarts it
                    // and the uncommitted records are read again.
                    Err(e) => {
                        tracing::error!(error = %e, "rules delivery task failed; exiting so that its records are read again");
                        std::process::exit(70);
                    }
                },
            }
        }
    }

    /// Delivers every (record, rule, target) of `m` concurrently, then settles each (record,
    /// rule) once: accepted by every target, or with a dead letter naming each target that
    /// refused it for good.
    async fn deliver_message(
        &self,
        m: RulesMessage,
        warned: &std::sync::Mutex<HashMap<(usize, usize), Instant>>,
    ) {
        // Invariant: every unit is settled exactly once below, whatever happens — a unit left
        // unsettled would hold its segment's acknowledgement (and the partition's offsets)
        // forever. So a panic in a target is caught here, not left to unwind the task.
        let work = AssertUnwindSafe(self.deliver_all(&m, warned));
        let outcomes: Vec<Vec<Option<String>>> = match work.catch_unwind().await {
            Ok(o) => o,
            Err(p) => {
                let why = format!("delivery panicked: {}", panic_message(&*p));
                tracing::error!(offset = m.offset, error = %why, "rules delivery panicked; its records go to the dead letters");
                m.matches
                    .iter()
                    .map(|x| x.rules.iter().map(|_| Some(why.clone())).collect())
                    .collect()
            }
        };
        for (x, per_rule) in m.matches.iter().zip(outcomes) {
            for refused in per_rule {
                let letter = refused.map(|reason| DeadLetter {
                    partition: m.partition.clone(),
                    offset: m.offset,
                    key: m.key.clone(),
                    rejected: Rejected {
                        raw: x.raw.clone(),
                        reason: RejectReason::SinkRejected { sink: SINK, reason },
                        envelope_index: None,
                    },
                });
                self.pending
                    .complete(&m.partition, m.epoch, m.offset, letter);
            }
        }
    }

    /// Per match, per rule: `None` when every target accepted the event, else the reasons of
    /// the targets that refused it for good.
    async fn deliver_all(
        &self,
        m: &RulesMessage,
        warned: &std::sync::Mutex<HashMap<(usize, usize), Instant>>,
    ) -> Vec<Vec<Option<String>>> {
        let mut per_match = Vec::with_capacity(m.matches.len());
        for x in &m.matches {
            let rules = x.rules.iter().map(|&r| async move {
                let rule = &self.rules[r];
                metrics::counter!(names::RULE_MATCHED, "rule" => rule.name.to_string())
                    .increment(1);
                let sends = rule
                    .targets
                    .iter()
                    .enumerate()
                    .map(|(t, target)| self.until_settled(r, t, target, x, m.read_at, warned));
                let refused: Vec<String> = futures::future::join_all(sends)
                    .await
                    .into_iter()
                    .filter_map(Result::err)
                    .collect();
                (!refused.is_empty()).then(|| refused.join("; "))
            });
            per_match.push(futures::future::join_all(rules));
        }
        futures::future::join_all(per_match).await
    }

    /// Delivers one event to one target until it is accepted (`Ok`) or refused for good
    /// (`Err`: the dead letter's reason, naming the rule and the target). Transient failures
    /// are retried with full-jitter backoff, forever: a target that stays down holds the
    /// offsets.
    async fn until_settled(
        &self,
        rule: usize,
        t: usize,
        target: &RuleTarget,
        x: &RuleMatch,
        read_at: Instant,
        warned: &std::sync::Mutex<HashMap<(usize, usize), Instant>>,
    ) -> Result<(), String> {
        let name = &self.rules[rule].name;
        let labels = [
            ("rule", name.to_string()),
            ("target", target.id.to_string()),
        ];
        let payload = target.input_path.apply(&x.envelope);
        let mut backoff = Backoff::new();
        loop {
            match target.target.send(&x.id, &payload).await {
                Ok(()) => {
                    metrics::counter!(names::RULE_DELIVERED, &labels).increment(1);
                    metrics::histogram!(names::RULE_LATENCY)
                        .record(read_at.elapsed().as_secs_f64());
                    return Ok(());
                }
                Err(TargetError { message, failure }) => {
                    metrics::counter!(names::RULE_FAILED, &labels).increment(1);
                    match failure {
                        Failure::Never => {
                            tracing::warn!(rule = %name, target = %target.id, error = %message, "a rule's target refused an event for good; it goes to the dead letters");
                            return Err(format!("rule {name:?} target {:?}: {message}", target.id));
                        }
                        Failure::Transient(class) => {
                            if warn_due(warned, (rule, t)) {
                                tracing::warn!(rule = %name, target = %target.id, error = %message, class = class.as_str(), "delivery to a rule's target failed; retrying (offsets wait)");
                            }
                            tokio::time::sleep(backoff.next_delay(class)).await;
                        }
                    }
                }
            }
        }
    }
}

/// The segment side of the fast path: a segment is acknowledged only once every (record, rule)
/// unit in its offsets is settled; the events refused for good come back as its dead letters.
impl Sink for RulesStage {
    fn name(&self) -> &'static str {
        SINK
    }

    fn deliver<'a>(&'a self, seg: &'a Segment, ledger: &'a mut Ledger) -> BoxFuture<'a, Step> {
        Box::pin(trailpipe_delivery::fast_path_step(
            &self.pending,
            seg,
            ledger,
        ))
    }
}

/// The producer of every Kafka target: the dead-letter producer's settings (the source's
/// brokers and security, `acks=all`) with idempotence, and a delivery timeout after which the
/// attempt fails and is retried.
fn kafka_producer(
    k: &trailpipe_config::KafkaSource,
    context: trailpipe_ingest::SecureContext,
) -> Result<rdkafka::producer::FutureProducer<trailpipe_ingest::SecureContext>, String> {
    let mut c =
        trailpipe_ingest::producer_config(&k.brokers, &k.client_properties(), k.max_record_bytes);
    c.set("enable.idempotence", "true")
        .set("message.timeout.ms", "30000");
    c.create_with_context(trailpipe_ingest::SecureContext {
        role: "rules target producer",
        ..context
    })
    .map_err(|e| format!("creating the rules' Kafka producer: {e}"))
}

/// Whether a warning about `key` (rule, target) is due (at most one per `WARN_EVERY`).
fn warn_due(
    warned: &std::sync::Mutex<HashMap<(usize, usize), Instant>>,
    key: (usize, usize),
) -> bool {
    let now = Instant::now();
    let mut w = warned.lock().unwrap_or_else(|p| p.into_inner());
    let due = w
        .get(&key)
        .is_none_or(|last| now.duration_since(*last) >= WARN_EVERY);
    if due {
        w.insert(key, now);
    }
    due
}

#[cfg(test)]
mod tests;
