//! Trail lifecycle changed through the CloudTrail API (StartLogging, StopLogging,
//! PutEventSelectors, tags), kept in `state.dir/trails.json` so it survives restarts, and
//! applied on top of the configuration file.
//!
//! Invariant: the file is replaced atomically (write to a temporary file, fsync, rename), so a
//! crash leaves either the old or the new state, never a torn one.

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

/// Every trail's state, shared by the API and the control loop.
#[derive(Debug, Clone)]
pub struct TrailStates {
    path: PathBuf,
    states: Arc<Mutex<BTreeMap<String, TrailState>>>,
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
        })
    }

    /// The state of `trail` (default when never changed).
    pub fn get(&self, trail: &str) -> TrailState {
        self.lock().get(trail).cloned().unwrap_or_default()
    }

    /// Changes `trail`'s state with `f` and persists it before returning; `false` (and nothing
    /// written) when `f` changed nothing, e.g. `StartLogging` on a trail that is logging.
    pub fn update(&self, trail: &str, f: impl FnOnce(&mut TrailState)) -> anyhow::Result<bool> {
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
