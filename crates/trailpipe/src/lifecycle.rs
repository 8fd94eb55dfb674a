//! Trail lifecycle changed through the CloudTrail API (StartLogging, StopLogging,
//! PutEventSelectors, tags), applied on top of the configuration file.
//!
//! Where it is kept:
//! - with a Kafka source, in the group's compacted control topic ([`crate::control_topic`]),
//!   one record per field — `trail/<name>/logging`, `trail/<name>/selectors`,
//!   `trail/<name>/tag/<key>` (a tombstone removes a tag or the selectors) — so every replica
//!   applies the same changes in the same order, and concurrent calls about different fields
//!   of a trail do not overwrite each other (the last write of a field wins, as compaction
//!   keeps it);
//! - with a file source, in `state.dir/trails.json`, replaced atomically (write to a temporary
//!   file, fsync, rename), so a crash leaves either the old or the new state, never a torn one.
//!
//! Precedence: the configuration file holds every trail's static settings and its initial
//! selectors; what the API changed (logging, selectors, tags) wins over the file for a trail of
//! that name. Changes about trails the file does not have are kept but unused.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{Arc, Mutex},
};

use serde::{Deserialize, Serialize};
use trailpipe_config::Config;
use trailpipe_selectors::{AdvancedEventSelector, EventSelector};

/// What the API changed about one trail.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TrailState {
    /// StopLogging was called (and no StartLogging since).
    #[serde(default)]
    pub stopped: bool,
    /// When logging last started (epoch seconds; the daemon's start when never stopped).
    #[serde(default)]
    pub start_logging_time: Option<i64>,
    /// When logging last stopped.
    #[serde(default)]
    pub stop_logging_time: Option<i64>,
    /// Selectors set by PutEventSelectors (replace the file's).
    #[serde(default)]
    pub selectors: Option<Selectors>,
    /// Tags (key → value).
    #[serde(default)]
    pub tags: BTreeMap<String, Option<String>>,
}

/// Basic or advanced selectors, in the configuration's own types.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum Selectors {
    /// `event_selectors`.
    Basic(Vec<EventSelector>),
    /// `advanced_event_selectors`.
    Advanced(Vec<AdvancedEventSelector>),
}

/// The logging fields of a [`TrailState`] (one control-topic record).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
struct Logging {
    stopped: bool,
    start_logging_time: Option<i64>,
    stop_logging_time: Option<i64>,
}

/// One control-topic record: its key, and its value (`None`: a tombstone).
pub type ControlRecord = (String, Option<Vec<u8>>);

/// Every trail's state, shared by the API and the control loop.
#[derive(Clone)]
pub struct TrailStates {
    path: PathBuf,
    states: Arc<Mutex<BTreeMap<String, TrailState>>>,
    /// Set with a Kafka source: changes go through the control topic.
    topic: Arc<std::sync::OnceLock<Arc<crate::control_topic::ControlTopic>>>,
}

impl std::fmt::Debug for TrailStates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrailStates")
            .field("path", &self.path)
            .field("topic", &self.topic.get().map(|t| t.name().to_string()))
            .finish()
    }
}

impl TrailStates {
    /// Loads `dir/trails.json` (empty when absent).
    pub fn open(dir: &std::path::Path) -> anyhow::Result<Self> {
        let path = dir.join("trails.json");
        let states = match std::fs::read(&path) {
            // Refused, not guessed: a trail stopped through the API must not start logging
            // again (or the reverse) because its state could not be read.
            Ok(b) => serde_json::from_slice(&b).map_err(|e| {
                anyhow::anyhow!(
                    "{}: the trails' lifecycle state (StartLogging/StopLogging, selectors, tags set through the API) is corrupt ({e}); restore it from a backup, or remove it to run every trail as configured",
                    path.display()
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => anyhow::bail!("{}: {e}", path.display()),
        };
        Ok(Self {
            path,
            states: Arc::new(Mutex::new(states)),
            topic: Arc::default(),
        })
    }

    /// No state, and no file: for readers of the control topic that change nothing.
    pub fn in_memory() -> Self {
        Self {
            path: PathBuf::new(),
            states: Arc::default(),
            topic: Arc::default(),
        }
    }

    /// From now on, changes are published to `topic` (and applied when read back from it)
    /// instead of written to `trails.json`.
    pub fn use_topic(&self, topic: Arc<crate::control_topic::ControlTopic>) {
        let _ = self.topic.set(topic);
    }

    /// Forgets every state (before the control topic is read from its start).
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Every state as control-topic records (to seed an empty topic from `trails.json`).
    pub fn all_records(&self) -> Vec<ControlRecord> {
        let states = self.lock();
        states
            .iter()
            .flat_map(|(name, s)| records_of(name, &TrailState::default(), s))
            .collect()
    }

    /// Applies one control-topic record; whether it changed anything. A key or value that
    /// cannot be read is an error (the record is skipped, and said so, by the caller).
    pub fn apply_record(&self, key: &str, value: Option<&[u8]>) -> Result<bool, String> {
        let (trail, field) = key
            .strip_prefix("trail/")
            .and_then(|rest| rest.split_once('/'))
            .ok_or_else(|| format!("unknown control record key {key:?}"))?;
        let bad = |e: serde_json::Error| format!("control record {key:?}: {e}");
        let mut states = self.lock();
        let before = states.get(trail).cloned().unwrap_or_default();
        let mut after = before.clone();
        match (field, value) {
            ("logging", Some(v)) => {
                let l: Logging = serde_json::from_slice(v).map_err(bad)?;
                after.stopped = l.stopped;
                after.start_logging_time = l.start_logging_time;
                after.stop_logging_time = l.stop_logging_time;
            }
            ("logging", None) => {
                after.stopped = false;
                after.start_logging_time = None;
                after.stop_logging_time = None;
            }
            ("selectors", Some(v)) => {
                after.selectors = Some(serde_json::from_slice(v).map_err(bad)?);
            }
            ("selectors", None) => after.selectors = None,
            (tag, value) => {
                let Some(tag) = tag.strip_prefix("tag/") else {
                    return Err(format!("unknown control record field in {key:?}"));
                };
                match value {
                    Some(v) => {
                        let v: Option<String> = serde_json::from_slice(v).map_err(bad)?;
                        after.tags.insert(tag.to_string(), v);
                    }
                    None => {
                        after.tags.remove(tag);
                    }
                }
            }
        }
        let changed = after != before;
        states.insert(trail.to_string(), after);
        Ok(changed)
    }

    /// The state of `trail` (default when never changed).
    pub fn get(&self, trail: &str) -> TrailState {
        self.lock().get(trail).cloned().unwrap_or_default()
    }

    /// Changes `trail`'s state with `f` and persists it before returning — in the control
    /// topic, once every replica can read it (and this one has applied it), else in
    /// `trails.json`; `false` (and nothing written) when `f` changed nothing, e.g.
    /// `StartLogging` on a trail that is logging.
    pub async fn update(
        &self,
        trail: &str,
        f: impl FnOnce(&mut TrailState),
    ) -> anyhow::Result<bool> {
        if let Some(topic) = self.topic.get() {
            let before = self.get(trail);
            let mut after = before.clone();
            f(&mut after);
            let records = records_of(trail, &before, &after);
            if records.is_empty() {
                return Ok(false);
            }
            topic.publish(records).await.map_err(anyhow::Error::msg)?;
            return Ok(true);
        }
        let mut states = self.lock();
        let before = states.get(trail).cloned().unwrap_or_default();
        let mut after = before.clone();
        f(&mut after);
        if after == before {
            return Ok(false);
        }
        let mut next = states.clone();
        next.insert(trail.to_string(), after);
        let bytes = serde_json::to_vec_pretty(&next)?;
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = self.path.with_extension("json.tmp");
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)?;
        *states = next;
        Ok(true)
    }

    /// `config` with every trail's API changes applied: replaced selectors; a stopped trail
    /// gets a selector that logs nothing (its records are not delivered to it, and other
    /// trails are unaffected).
    pub fn apply(&self, config: &Config) -> Config {
        let mut c = config.clone();
        let states = self.lock();
        for t in &mut c.trails {
            let Some(s) = states.get(&t.name) else {
                continue;
            };
            match &s.selectors {
                Some(Selectors::Basic(b)) => {
                    t.event_selectors = b.clone();
                    t.advanced_event_selectors.clear();
                }
                Some(Selectors::Advanced(a)) => {
                    t.advanced_event_selectors = a.clone();
                    t.event_selectors.clear();
                }
                None => {}
            }
            if s.stopped {
                t.event_selectors = vec![EventSelector {
                    include_management_events: false,
                    data_resources: Vec::new(),
                    ..EventSelector::default()
                }];
                t.advanced_event_selectors.clear();
            }
        }
        c
    }

    /// Whether `trail` is logging.
    pub fn is_logging(&self, trail: &str) -> bool {
        !self.lock().get(trail).is_some_and(|s| s.stopped)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, TrailState>> {
        self.states.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The control-topic records that turn `before` into `after` for `trail` (one per changed
/// field).
fn records_of(trail: &str, before: &TrailState, after: &TrailState) -> Vec<ControlRecord> {
    fn json<T: Serialize>(v: &T) -> Option<Vec<u8>> {
        Some(serde_json::to_vec(v).expect("serializable"))
    }
    let mut out = Vec::new();
    let logging = |s: &TrailState| Logging {
        stopped: s.stopped,
        start_logging_time: s.start_logging_time,
        stop_logging_time: s.stop_logging_time,
    };
    if logging(before) != logging(after) {
        out.push((format!("trail/{trail}/logging"), json(&logging(after))));
    }
    if before.selectors != after.selectors {
        let value = after.selectors.as_ref().and_then(json);
        out.push((format!("trail/{trail}/selectors"), value));
    }
    for (k, v) in &after.tags {
        if before.tags.get(k) != Some(v) {
            out.push((format!("trail/{trail}/tag/{k}"), json(v)));
        }
    }
    for k in before.tags.keys().filter(|k| !after.tags.contains_key(*k)) {
        out.push((format!("trail/{trail}/tag/{k}"), None));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn states() -> (tempfile::TempDir, TrailStates) {
        let dir = tempfile::tempdir().expect("dir");
        let s = TrailStates::open(dir.path()).expect("open");
        (dir, s)
    }

    /// Replaying the records of any change on another replica's copy reproduces the state.
    #[test]
    fn records_replayed_elsewhere_reproduce_every_change() {
        let (_d, a) = states();
        let (_e, b) = states();
        type Step = Box<dyn Fn(&mut TrailState)>;
        let steps: Vec<Step> = vec![
            Box::new(|s| {
                s.stopped = true;
                s.stop_logging_time = Some(5);
            }),
            Box::new(|s| {
                s.tags.insert("team".into(), Some("sec".into()));
                s.tags.insert("a/b:c".into(), None);
            }),
            Box::new(|s| s.selectors = Some(Selectors::Basic(Vec::new()))),
            Box::new(|s| {
                s.tags.remove("team");
                s.stopped = false;
                s.start_logging_time = Some(9);
            }),
            Box::new(|s| s.selectors = None),
        ];
        for step in steps {
            let before = a.get("t");
            let mut after = before.clone();
            step(&mut after);
            let records = records_of("t", &before, &after);
            assert!(!records.is_empty());
            a.lock().insert("t".into(), after.clone());
            for (k, v) in &records {
                b.apply_record(k, v.as_deref()).expect("apply");
            }
            assert_eq!(b.get("t"), after);
        }
        // A record that changes nothing says so.
        let (k, v) = records_of("t", &TrailState::default(), &a.get("t"))
            .into_iter()
            .next()
            .expect("a record");
        assert!(!b.apply_record(&k, v.as_deref()).expect("apply"));
    }

    #[test]
    fn unreadable_records_are_errors_not_guesses() {
        let (_d, s) = states();
        assert!(s.apply_record("nonsense", None).is_err());
        assert!(s.apply_record("trail/t/unknown", None).is_err());
        assert!(s.apply_record("trail/t/logging", Some(b"{")).is_err());
        assert_eq!(s.get("t"), TrailState::default());
    }

    #[test]
    fn all_records_seed_an_empty_topic_with_the_files_state() {
        let (_d, a) = states();
        {
            let mut m = a.lock();
            let mut t = TrailState {
                stopped: true,
                ..TrailState::default()
            };
            t.tags.insert("k".into(), Some("v".into()));
            m.insert("x".into(), t);
        }
        let (_e, b) = states();
        for (k, v) in a.all_records() {
            b.apply_record(&k, v.as_deref()).expect("apply");
        }
        assert_eq!(b.get("x"), a.get("x"));
    }
}
