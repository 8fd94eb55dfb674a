//! Why a record was refused, in words a user can act on, and a stable code for metrics.

use bytes::Bytes;

/// Why an input could not become an [`crate::Event`]. Every variant names what was wrong and
/// where, so the dead-letter entry alone tells an operator how to fix the producer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RejectReason {
    /// The bytes are not UTF-8 (JSON must be).
    #[error("invalid UTF-8 at byte {valid_up_to}")]
    InvalidUtf8 {
        /// Length of the longest valid UTF-8 prefix.
        valid_up_to: usize,
    },
    /// The bytes are not one well-formed JSON value.
    #[error("not JSON: {0}")]
    NotJson(String),
    /// Valid JSON, but not an object (CloudTrail records are objects).
    #[error("not a JSON object: found {0}")]
    NotAnObject(&'static str),
    /// The record is larger than `max_record_bytes`.
    #[error("record is {bytes} bytes, larger than max_record_bytes = {limit}")]
    TooLarge {
        /// Size of the record.
        bytes: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The message (record or envelope) is larger than `max_message_bytes`; it was not parsed.
    #[error("message is {bytes} bytes, larger than max_message_bytes = {limit}; not parsed")]
    MessageTooLarge {
        /// Size of the message.
        bytes: usize,
        /// The configured limit.
        limit: usize,
    },
    /// A `{"Records":[...]}` envelope holds more records than `max_envelope_records`.
    #[error("envelope holds more than max_envelope_records = {limit} records")]
    TooManyRecords {
        /// The configured limit.
        limit: usize,
    },
    /// A field every routable record needs is absent (or null).
    #[error("missing required field `{0}`")]
    MissingField(&'static str),
    /// A field has the wrong JSON type.
    #[error("field `{field}` must be {expected}, found {found}")]
    WrongType {
        /// The field's path, e.g. `userIdentity.accountId`.
        field: &'static str,
        /// The JSON type CloudTrail uses for it.
        expected: &'static str,
        /// The JSON type found.
        found: &'static str,
    },
    /// A field has the right type but an unusable value.
    #[error("field `{field}` is malformed: {detail}")]
    Malformed {
        /// The field's path.
        field: &'static str,
        /// What is wrong with the value.
        detail: String,
    },
    /// A sink refused the record (e.g. CloudWatch Logs: too old for PutLogEvents).
    #[error("{sink} refused the record: {reason}")]
    SinkRejected {
        /// The sink.
        sink: &'static str,
        /// Its reason.
        reason: String,
    },
}

impl RejectReason {
    /// A stable, low-cardinality code for metric labels and dead-letter headers.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidUtf8 { .. } => "invalid_utf8",
            Self::NotJson(_) => "not_json",
            Self::NotAnObject(_) => "not_object",
            Self::TooLarge { .. } => "too_large",
            Self::MessageTooLarge { .. } => "message_too_large",
            Self::TooManyRecords { .. } => "too_many_records",
            Self::MissingField(_) => "missing_field",
            Self::WrongType { .. } => "wrong_type",
            Self::Malformed { .. } => "malformed_field",
            Self::SinkRejected { .. } => "sink_rejected",
        }
    }

    /// Every code [`RejectReason::code`] can return, for pre-registering metrics.
    pub const CODES: [&'static str; 10] = [
        "invalid_utf8",
        "not_json",
        "not_object",
        "too_large",
        "message_too_large",
        "too_many_records",
        "missing_field",
        "wrong_type",
        "malformed_field",
        "sink_rejected",
    ];
}

/// An input that could not become an event: its original bytes and the reason.
#[derive(Debug, Clone)]
pub struct Rejected {
    /// The refused bytes, unchanged (the whole message, or one record of an envelope).
    pub raw: Bytes,
    /// Why it was refused.
    pub reason: RejectReason,
    /// Position inside a `{"Records":[...]}` envelope, when the message was one.
    pub envelope_index: Option<usize>,
}
