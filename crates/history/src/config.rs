//! What the user writes under `[history]`: where the store lives and how much it may keep.

use std::path::PathBuf;

use serde::Deserialize;

/// Default retention, as CloudTrail's event history: 90 days.
pub const fn default_retention_days() -> u32 {
    90
}

/// Default size budget: 20 GiB (about 20 million events: the store takes about 0.85 GiB per
/// million generated management events, see the README).
pub const fn default_max_bytes() -> u64 {
    20 * 1024 * 1024 * 1024
}

/// `[history]`: the event history store.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryConfig {
    /// Directory of the store; created if missing. One process at a time.
    pub path: PathBuf,
    /// Events older than this many days are pruned and never returned.
    #[serde(default = "default_retention_days")]
    pub retention_days: u32,
    /// Upper bound of the stored tables' size on disk; the oldest days are dropped beyond it.
    /// The journal (up to 64 MiB) comes on top.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
}

impl HistoryConfig {
    /// A configuration with the default retention and size budget.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            retention_days: default_retention_days(),
            max_bytes: default_max_bytes(),
        }
    }

    /// One message per mistake, naming the field.
    pub fn validate(&self) -> Vec<String> {
        let mut errors = Vec::new();
        if self.path.as_os_str().is_empty() {
            errors.push("history.path: must not be empty".to_owned());
        }
        if self.retention_days == 0 {
            errors.push("history.retention_days: must be at least 1".to_owned());
        }
        if self.max_bytes < 1024 * 1024 {
            errors.push("history.max_bytes: must be at least 1048576 (1 MiB)".to_owned());
        }
        errors
    }
}
