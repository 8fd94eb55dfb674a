//! Delivery status of the whole group, so `GetTrailStatus` answers for the trail whichever
//! replica is asked: every replica publishes what it knows (latest log-file delivery and error,
//! latest digest per trail) to the control topic as `status/<replica>` every
//! [`PUBLISH_EVERY`] while it changes, and a status answer combines its own with the others'.
//!
//! Combining: times are the latest any replica reports; an error is shown when a replica that
//! published within [`LIVE_FOR`] still reports it (the newest one wins), so the error of a
//! replica that has since gone away stops being shown, while its delivery times stay true.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use serde::{Deserialize, Serialize};
use trailpipe_delivery::SinkHealth;

use crate::{control_topic::ControlTopic, integrity::DigestStatuses};

/// How often a replica publishes its status (when it changed, or to stay live).
pub const PUBLISH_EVERY: Duration = Duration::from_secs(10);
/// A replica whose status is older than this no longer contributes errors.
pub const LIVE_FOR: Duration = Duration::from_secs(60);

/// What one replica reports (epoch seconds).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplicaStatus {
    /// The replica (host name and process id).
    pub replica: String,
    /// When it published this.
    pub updated_at: i64,
    /// Its latest log-file delivery.
    pub latest_delivery: Option<i64>,
    /// Its latest delivery error, while unresolved.
    pub latest_error: Option<String>,
    /// When that error happened.
    pub latest_error_time: Option<i64>,
    /// Digest status by trail.
    pub digests: BTreeMap<String, DigestReport>,
}

/// One trail's digests, as one replica saw them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DigestReport {
    /// Latest digest written.
    pub latest_delivery: Option<i64>,
    /// Latest digest error, while unresolved.
    pub latest_error: Option<String>,
}

/// The status of a trail across the group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Combined {
    /// Latest log-file delivery by any replica.
    pub latest_delivery: Option<i64>,
    /// The newest unresolved delivery error of a live replica.
    pub latest_error: Option<String>,
    /// When that error happened.
    pub latest_error_time: Option<i64>,
    /// Latest digest of the trail by any replica.
    pub latest_digest: Option<i64>,
    /// An unresolved digest error of a live replica.
    pub latest_digest_error: Option<String>,
}

fn secs(t: std::time::SystemTime) -> i64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// This replica's name: `$HOSTNAME` (the pod name in Kubernetes) and the process id.
pub fn replica_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}-{}", std::process::id())
}

/// What this replica knows now.
pub fn snapshot(
    replica: &str,
    health: &SinkHealth,
    digests: &DigestStatuses,
    now: i64,
) -> ReplicaStatus {
    let s = health.status();
    let digests = digests
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|(trail, d)| {
            (
                trail.clone(),
                DigestReport {
                    latest_delivery: d.latest_delivery.map(|t| t.unix_timestamp()),
                    latest_error: d.latest_error.clone(),
                },
            )
        })
        .collect();
    ReplicaStatus {
        replica: replica.to_string(),
        updated_at: now,
        latest_delivery: s.latest_delivery.map(secs),
        latest_error: s.latest_error,
        latest_error_time: s.latest_error_time.map(secs),
        digests,
    }
}

/// The other replicas' statuses from the control topic.
pub fn others(topic: &ControlTopic, replica: &str) -> Vec<ReplicaStatus> {
    topic
        .records("status/")
        .into_iter()
        .filter_map(|(_, _, v)| serde_json::from_slice::<ReplicaStatus>(&v).ok())
        .filter(|s| s.replica != replica)
        .collect()
}

/// `trail`'s status across `own` and `others` at `now`.
pub fn combine(own: &ReplicaStatus, others: &[ReplicaStatus], trail: &str, now: i64) -> Combined {
    let live = |s: &&&ReplicaStatus| {
        std::ptr::eq(**s, own) || now.saturating_sub(s.updated_at) <= LIVE_FOR.as_secs() as i64
    };
    let all: Vec<&ReplicaStatus> = std::iter::once(own).chain(others).collect();
    let error = all
        .iter()
        .filter(live)
        .filter_map(|s| Some((s.latest_error_time.unwrap_or(0), s.latest_error.clone()?)))
        .max_by_key(|(t, _)| *t);
    let digest = |s: &ReplicaStatus| s.digests.get(trail).cloned().unwrap_or_default();
    Combined {
        latest_delivery: all.iter().filter_map(|s| s.latest_delivery).max(),
        latest_error_time: error.as_ref().map(|e| e.0),
        latest_error: error.map(|e| e.1),
        latest_digest: all.iter().filter_map(|s| digest(s).latest_delivery).max(),
        latest_digest_error: all.iter().filter(live).find_map(|s| digest(s).latest_error),
    }
}

/// Publishes this replica's status every [`PUBLISH_EVERY`] while it changes (and once a
/// minute regardless, to stay live), until the process ends.
pub fn spawn_publisher(
    topic: Arc<ControlTopic>,
    replica: String,
    health: SinkHealth,
    digests: DigestStatuses,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut last: Option<ReplicaStatus> = None;
        let mut tick = tokio::time::interval(PUBLISH_EVERY);
        loop {
            tick.tick().await;
            let now = secs(std::time::SystemTime::now());
            let s = snapshot(&replica, &health, &digests, now);
            let unchanged = last.as_ref().is_some_and(|l| {
                ReplicaStatus {
                    updated_at: s.updated_at,
                    ..l.clone()
                } == s
                    && now - l.updated_at < LIVE_FOR.as_secs() as i64 / 2
            });
            if unchanged {
                continue;
            }
            let value = serde_json::to_vec(&s).expect("serializable");
            match topic
                .publish(vec![(format!("status/{replica}"), Some(value))])
                .await
            {
                Ok(()) => last = Some(s),
                Err(e) => tracing::warn!(error = %e, "publishing this replica's status failed"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(replica: &str, updated_at: i64) -> ReplicaStatus {
        ReplicaStatus {
            replica: replica.into(),
            updated_at,
            ..ReplicaStatus::default()
        }
    }

    #[test]
    fn times_are_the_latest_of_any_replica_and_errors_only_from_live_ones() {
        let now = 10_000;
        let mut own = status("a", now);
        own.latest_delivery = Some(100);
        let mut b = status("b", now - 5);
        b.latest_delivery = Some(900);
        b.latest_error = Some("b: AccessDenied".into());
        b.latest_error_time = Some(950);
        b.digests.insert(
            "t".into(),
            DigestReport {
                latest_delivery: Some(800),
                latest_error: Some("b: digest".into()),
            },
        );
        let mut gone = status("c", now - 3_600);
        gone.latest_delivery = Some(9_000);
        gone.latest_error = Some("c: old".into());
        gone.latest_error_time = Some(9_500);
        let c = combine(&own, &[b.clone(), gone.clone()], "t", now);
        assert_eq!(
            c.latest_delivery,
            Some(9_000),
            "a gone replica's deliveries stay true"
        );
        assert_eq!(c.latest_error.as_deref(), Some("b: AccessDenied"));
        assert_eq!(c.latest_error_time, Some(950));
        assert_eq!(c.latest_digest, Some(800));
        assert_eq!(c.latest_digest_error.as_deref(), Some("b: digest"));
        // Alone, nothing is borrowed; a different trail has no digest.
        let alone = combine(&own, &[], "t", now);
        assert_eq!(
            (
                alone.latest_delivery,
                alone.latest_error,
                alone.latest_digest
            ),
            (Some(100), None, None)
        );
        assert_eq!(combine(&own, &[b], "other", now).latest_digest, None);
        // The newest error wins.
        own.latest_error = Some("a: newer".into());
        own.latest_error_time = Some(990);
        let mut b = status("b", now);
        b.latest_error = Some("b: older".into());
        b.latest_error_time = Some(950);
        assert_eq!(
            combine(&own, &[b], "t", now).latest_error.as_deref(),
            Some("a: newer")
        );
    }
}
