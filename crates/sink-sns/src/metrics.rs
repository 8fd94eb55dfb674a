//! Metric names this crate emits (defined with their help texts in `trailpipe-telemetry`).

pub use trailpipe_telemetry::{
    SNS_ERRORS, SNS_MESSAGE_KEYS, SNS_NOTIFICATIONS, SNS_NOTIFIED_KEYS, SNS_NOTIFY_LATENCY,
};
