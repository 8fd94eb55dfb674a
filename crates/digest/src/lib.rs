//! CloudTrail log-file integrity validation (reference §3): digest files, the keys that sign
//! them, the [`Digester`] that writes one digest per delivery-time window from what the bucket
//! holds, and [`validate`], a library equivalent of `aws cloudtrail validate-logs`.
//!
//! Invariants kept here:
//! - the bucket is the only state: the chain head is the newest digest in the bucket and the
//!   files a window lists are the log objects whose `LastModified` falls in it, so a crash
//!   anywhere neither skips a file nor breaks the chain;
//! - a digest's key and bytes are a pure function of the listing and the previous digest
//!   (RSASSA-PKCS1-v1_5 is deterministic), and digests are written create-only, so two writers
//!   of the same window produce one object;
//! - the signed hash covers exactly the uncompressed bytes that are gzipped (one gzip member).

mod chain;
mod digester;
mod error;
pub mod format;
pub mod keys;
mod listing;
pub mod validate;

pub use chain::{discover_chains, ChainId, DigestChainConfig};
pub use digester::{ChainView, DigestRunReport, Digester};
pub use error::DigestError;
pub use keys::{DigestSigner, KeyRing, KmsSigner, PublicKeyInfo, StaticKey};
