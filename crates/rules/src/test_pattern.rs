//! `trailpipe test-event-pattern`: the local twin of `aws events test-event-pattern`.

use bytes::Bytes;
use trailpipe_event::{parse_message, ParseLimits};
use trailpipe_eventpattern::{Pattern, PatternError};

use crate::envelope;

/// What `event` of [`test_event_pattern`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// An EventBridge event (any JSON object), matched as it is.
    EventBridge,
    /// A CloudTrail record, matched in the envelope EventBridge would deliver for it.
    CloudTrailRecord,
}

/// Why [`test_event_pattern`] could not answer.
#[derive(Debug, thiserror::Error)]
pub enum TestPatternError {
    /// The pattern is not valid (EventBridge's `InvalidEventPatternException`).
    #[error("InvalidEventPatternException: {0}")]
    Pattern(#[from] PatternError),
    /// The event is not a JSON object.
    #[error("the event is not valid: {0}")]
    Event(String),
    /// The record is one trailpipe would dead-letter.
    #[error("the record would be dead-lettered: {0}")]
    Record(String),
}

/// Whether `pattern` matches `event` (JSON text of the kind `kind`).
pub fn test_event_pattern(
    pattern: &str,
    event: &str,
    kind: EventKind,
) -> Result<bool, TestPatternError> {
    let pattern = Pattern::parse(pattern)?;
    let value = match kind {
        EventKind::EventBridge => {
            let v: serde_json::Value =
                serde_json::from_str(event).map_err(|e| TestPatternError::Event(e.to_string()))?;
            if !v.is_object() {
                return Err(TestPatternError::Event("not a JSON object".into()));
            }
            v
        }
        EventKind::CloudTrailRecord => {
            let mut parsed = Vec::new();
            parse_message(
                &Bytes::copy_from_slice(event.trim().as_bytes()),
                &ParseLimits::default(),
                &mut parsed,
            );
            let record = match parsed.as_slice() {
                [Ok(record)] => record,
                [Err(rejected)] => {
                    return Err(TestPatternError::Record(rejected.reason.to_string()))
                }
                _ => {
                    return Err(TestPatternError::Record(
                        "one record is expected, not a {\"Records\": [...]} file".into(),
                    ))
                }
            };
            envelope::to_value(record).map_err(|e| TestPatternError::Record(e.to_string()))?
        }
    };
    Ok(pattern.matches(&value))
}
