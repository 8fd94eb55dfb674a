//! The targets of EventBridge rules (`[[rules]]`, issue 21): the event of every record a rule
//! matches goes to each of the rule's targets — a Kafka topic ([`KafkaTarget`]: produced with
//! the source's client settings, keyed by the event's `id`) or an SNS topic ([`SnsTarget`]:
//! published as the message) — optionally cut by the target's `input_path`.
//!
//! [`RulesStage`] is the pipeline's rules stage. The batcher matches records as it reads them
//! and hands the matched ones over at once (`trailpipe_batcher::rules_feed`); the stage
//! delivers every (rule, target) pair, retrying transient failures with full-jitter backoff,
//! and settles each (record, rule) in the shared `FastPending` only once every target of the
//! rule accepted the event or refused it for good ([`Failure::Never`]: then with a dead letter
//! naming the rule, the target and the reason). As a `trailpipe_delivery::Sink` it holds a
//! segment's acknowledgement until all of the segment's (record, rule) units are settled.
//!
//! Delivery guarantees: **at-least-once**. After a crash or a rebalance the uncommitted
//! records are matched and delivered again, with the same event `id` (the Kafka key), so
//! consumers can de-duplicate. A target that stays down holds the partition's offsets (and,
//! through the pipeline's byte budget, eventually the consumer) until it comes back.

mod stage;
mod target;

pub use stage::{RuleTarget, RuleTargets, RulesStage};
pub use target::{Failure, KafkaTarget, SnsTarget, Target, TargetError, SNS_MAX_MESSAGE_BYTES};
