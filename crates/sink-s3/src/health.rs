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
}

impl SinkStatus {
    /// Healthy unless the latest event is an error.
    pub fn is_healthy(&self) -> bool {
        self.latest_error.is_none()
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

    /// The current status.
    pub fn status(&self) -> SinkStatus {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}
