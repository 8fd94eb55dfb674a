//! Sink health for `/readyz`, like CloudTrail's `GetTrailStatus`: last delivery, last error.

use std::{
    sync::{Arc, Mutex},
    time::SystemTime,
};

/// A snapshot of a sink's health.
#[derive(Debug, Clone, Default)]
pub struct SinkStatus {
    /// When a file was last delivered.
    pub latest_delivery: Option<SystemTime>,
    /// The last error, if it came after the last delivery.
    pub latest_error: Option<String>,
    /// When that error happened.
    pub latest_error_time: Option<SystemTime>,
    /// Log files written since start.
    pub files: u64,
    /// Records in those files.
    pub records: u64,
    /// Why dead letters cannot be written (a missing or refusing dead-letter topic), until one
    /// is: independent of log files, which may well be delivered meanwhile while the partition
    /// holding the rejected record stays stuck behind it.
    pub dead_letter_error: Option<String>,
    /// When that error was last seen.
    pub dead_letter_error_time: Option<SystemTime>,
}

impl SinkStatus {
    /// Healthy unless the latest event is an error or dead letters cannot be written.
    pub fn is_healthy(&self) -> bool {
        self.latest_error.is_none() && self.dead_letter_error.is_none()
    }
}

/// Shared, updated by delivery, read by the HTTP server.
#[derive(Debug, Clone, Default)]
pub struct SinkHealth(Arc<Mutex<SinkStatus>>);

impl SinkHealth {
    /// Records a file of `records` records written (clears the error).
    pub fn delivered(&self, records: u64) {
        let mut s = self.0.lock().unwrap_or_else(|p| p.into_inner());
        s.latest_delivery = Some(SystemTime::now());
        s.latest_error = None;
        s.files += 1;
        s.records += records;
    }

    /// Records an error.
    pub fn error(&self, message: String) {
        let mut s = self.0.lock().unwrap_or_else(|p| p.into_inner());
        s.latest_error = Some(message);
        s.latest_error_time = Some(SystemTime::now());
    }

    /// Records that dead letters cannot be written, and why (cleared by [`Self::dead_letters_written`]).
    pub fn dead_letters_failing(&self, message: String) {
        metrics::counter!(trailpipe_telemetry::DEAD_LETTER_ERRORS).increment(1);
        let mut s = self.0.lock().unwrap_or_else(|p| p.into_inner());
        s.dead_letter_error = Some(message);
        s.dead_letter_error_time = Some(SystemTime::now());
    }

    /// Records that dead letters were written.
    pub fn dead_letters_written(&self) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .dead_letter_error = None;
    }

    /// The current status.
    pub fn status(&self) -> SinkStatus {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}
