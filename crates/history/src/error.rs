//! Errors of the store itself (I/O, engine); lookup request errors live in `lookup::LookupError`.

/// What went wrong opening, writing or pruning the store.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The embedded engine (fjall) failed: I/O, corruption detected, poisoned after a failed fsync.
    #[error("history store at {path}: {source}")]
    Engine {
        /// The store's directory.
        path: String,
        /// The engine's error.
        #[source]
        source: fjall::Error,
    },
    /// The configuration cannot be used (see [`crate::HistoryConfig::validate`]).
    #[error("history config: {0}")]
    Config(String),
}

impl HistoryError {
    /// Whether the engine has poisoned itself (or is closed after that): it refuses every write
    /// until it is opened again.
    pub fn is_poisoned(&self) -> bool {
        matches!(
            self,
            Self::Engine {
                source: fjall::Error::Poisoned,
                ..
            }
        )
    }
}

/// Result of store operations.
pub type Result<T, E = HistoryError> = std::result::Result<T, E>;
