//! The log-file sink: writes each segment's CloudTrail log files to the object store
//! (`trailpipe-store`), the first of the sinks a segment visits ([`trailpipe_delivery`]).
//!
//! Invariants: a log file is written with the store's create-only put, so a replay never
//! overwrites or duplicates a file; the anchor file (`files[0]`) is durable before any other
//! file of its segment is written, so a missing anchor proves the segment was not written; a
//! file already at its key counts as delivered only when its metadata records this very cut.

mod files;

pub use files::LogFiles;
