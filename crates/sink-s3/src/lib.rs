//! The S3 sink: the delivery stage that makes each segment durable ([`Delivery`]) in the object
//! store (`trailpipe-store`).
//!
//! Invariants: a log file is written with the store's create-only put, so a replay never
//! overwrites or duplicates a file; a segment is acknowledged only after its anchor file, then its other files, then its dead
//! letters are durable; segments of one partition are delivered one after another.

mod deliver;
mod health;

pub use deliver::{append_history, DeadLetterSink, Delivery, DeliveryTrail, Outcome, SegmentSink};
pub use health::{SinkHealth, SinkStatus};
