//! Notification health per topic, for `GetTrailStatus`'s `LatestNotificationTime`,
//! `LatestNotificationError` and the (deprecated) `LatestNotificationAttemptTime`.
//!
//! Invariant: a topic's `latest_error` is cleared by the next accepted message, so it is set
//! exactly while the latest outcome for that topic is a failure.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::SystemTime,
};

/// A snapshot of one topic's notification health.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotificationStatus {
    /// When SNS last accepted a message.
    pub latest_notification: Option<SystemTime>,
    /// When a `Publish` was last attempted.
    pub latest_attempt: Option<SystemTime>,
    /// The last error, if it came after the last accepted message.
    pub latest_error: Option<String>,
    /// When that error happened.
    pub latest_error_time: Option<SystemTime>,
    /// Messages accepted since start.
    pub messages: u64,
    /// Keys in those messages.
    pub keys: u64,
}

/// Shared, updated by the notifier, read by `GetTrailStatus`; one status per topic ARN.
#[derive(Debug, Clone, Default)]
pub struct NotifierHealth(Arc<Mutex<HashMap<String, NotificationStatus>>>);

impl NotifierHealth {
    fn with<R>(&self, topic_arn: &str, f: impl FnOnce(&mut NotificationStatus) -> R) -> R {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match m.get_mut(topic_arn) {
            Some(s) => f(s),
            None => f(m.entry(topic_arn.to_string()).or_default()),
        }
    }

    /// Records a `Publish` attempt.
    pub fn attempt(&self, topic_arn: &str) {
        self.with(topic_arn, |s| s.latest_attempt = Some(SystemTime::now()));
    }

    /// Records a message of `keys` keys accepted (clears the error).
    pub fn notified(&self, topic_arn: &str, keys: u64) {
        self.with(topic_arn, |s| {
            s.latest_notification = Some(SystemTime::now());
            s.latest_error = None;
            s.messages += 1;
            s.keys += keys;
        });
    }

    /// Records a failed attempt.
    pub fn error(&self, topic_arn: &str, message: String) {
        self.with(topic_arn, |s| {
            s.latest_error = Some(message);
            s.latest_error_time = Some(SystemTime::now());
        });
    }

    /// The status of one topic (default when nothing was attempted yet).
    pub fn status(&self, topic_arn: &str) -> NotificationStatus {
        let m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        m.get(topic_arn).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_cleared_by_the_next_accepted_message_of_that_topic_only() {
        let h = NotifierHealth::default();
        h.attempt("a");
        h.error("a", "NotFound".into());
        h.notified("b", 3);
        assert!(h.status("b").latest_error.is_none());
        let a = h.status("a");
        assert_eq!(a.latest_error.as_deref(), Some("NotFound"));
        assert!(a.latest_attempt.is_some() && a.latest_notification.is_none());
        h.notified("a", 2);
        let a = h.status("a");
        assert!(a.latest_error.is_none() && a.latest_error_time.is_some());
        assert_eq!((a.messages, a.keys), (1, 2));
        assert_eq!((h.status("b").messages, h.status("b").keys), (1, 3));
        assert_eq!(h.status("never"), NotificationStatus::default());
    }
}
