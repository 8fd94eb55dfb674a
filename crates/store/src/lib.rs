//! The object store behind log files and digests, and the metadata trailpipe records on them.
//!
//! [`Store`] is S3 (or an S3-compatible server) or a local directory with S3's layout; both
//! offer the same create-only put ([`Store::put_new`]): `If-None-Match: *` on S3,
//! hard-link-into-place on a local directory. A replay therefore never overwrites or duplicates
//! a file, which is what makes delivery exactly-once (see `trailpipe-delivery`).
//!
//! [`meta`] is the one place the object-metadata schema lives: the keys, the map written on each
//! log file ([`meta::LogFileMeta`]) and the cut read back from it ([`RecordedCut`]).

mod error;
mod local;
pub mod meta;
mod s3;
mod store;

pub use error::{Backoff, ErrorClass, StoreError};
pub use local::LocalStore;
pub use meta::RecordedCut;
pub use s3::S3Store;
pub use store::{ObjectInfo, PutOutcome, Store};
