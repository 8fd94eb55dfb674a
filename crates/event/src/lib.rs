//! The event model: one CloudTrail record as trailpipe carries it through the pipeline.
//!
//! Invariant: [`Event::raw`] holds the record's bytes exactly as they arrived (field order, number
//! formatting, escapes and unknown fields untouched); they are what log files contain. Beside them,
//! [`RoutingFields`] holds the few values routing, key layout and lookups need, extracted in one
//! parse that never builds a full JSON tree. Input that cannot be used becomes a [`Rejected`] with
//! a [`RejectReason`] that names the field at fault; nothing is dropped silently.

mod budget;
mod fields;
mod flow;
mod parse;
mod reject;
mod time_format;
mod trail;

pub use budget::{Held, MemoryBudget, RECORD_OVERHEAD_BYTES};
pub use fields::{EventCategory, FieldStr, Resource, RoutingFields, UserIdentity};
pub use flow::{
    DeadLetter, Epoch, Feedback, Flow, Message, PartitionId, PartitionProgress, SegmentAck,
};
pub use parse::{
    parse_message, ParseLimits, Parsed, DEFAULT_MAX_ENVELOPE_RECORDS, DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_MAX_RECORD_BYTES,
};
pub use reject::{RejectReason, Rejected};
pub use time_format::{format_epoch_secs, format_time, CLOUDTRAIL_TIME};
pub use trail::Trail;

use bytes::Bytes;

/// One accepted CloudTrail record: its original bytes and the fields extracted from them.
#[derive(Debug, Clone)]
pub struct Event {
    /// The record's original bytes (one JSON object), written to log files unchanged.
    pub raw: Bytes,
    /// Values extracted from `raw` for routing, file naming and lookups.
    pub fields: RoutingFields,
}
