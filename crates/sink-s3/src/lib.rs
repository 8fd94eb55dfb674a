//! The S3 sink: an object store with create-only writes ([`Store`]) and the delivery stage that
//! makes each segment durable ([`Delivery`]).
//!
//! Invariants: a log file is written with create-only semantics (`If-None-Match: *` on S3,
//! hard-link-into-place on a local directory), so a replay never overwrites or duplicates a file;
//! a segment is acknowledged only after its anchor file, then its other files, then its dead
//! letters are durable; segments of one partition are delivered one after another.

mod deliver;
mod health;
mod local;
mod retry;
mod s3;
mod store;

pub use deliver::{
    append_history, DeadLetterSink, Delivery, DeliveryTrail, Outcome, SegmentSink, META_NEWEST,
    META_OLDEST, META_SHA256,
};
pub use health::{SinkHealth, SinkStatus};
pub use retry::{Backoff, ErrorClass, StoreError};
pub use store::{ObjectInfo, PutOutcome, Store};
