//! CloudTrail log-file formats, with no I/O: where a log file lives (the S3 key layout of
//! reference §2.1), how its 16-character unique name is derived, and how its body is built.
//!
//! Invariants kept here:
//! - a key is a pure function of its inputs, so a replay of the same input produces the same key
//!   (exactly-once delivery rests on this);
//! - a body is one gzip member holding `{"Records":[...]}` with every record's bytes unchanged,
//!   and its SHA-256 is computed over exactly the uncompressed bytes that were compressed.

mod body;
mod key;
pub mod mac;

pub use body::{LogFileBody, LogFileWriter, DEFAULT_COMPRESSION_LEVEL};
pub use key::{
    format_file_timestamp, insight_file_key, log_file_key, unique_string, KeyParts, UNIQUE_LEN,
};
pub use mac::{FileMac, MacCheck, MacInput};
