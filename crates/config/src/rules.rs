//! `[[rules]]`: EventBridge rules matched on every accepted record, each delivering the
//! record's EventBridge event to its targets (Kafka topics, SNS topics), at least once.
//!
//! Invariant kept by [`validate_rules`]: a configuration that passed validation compiles
//! ([`crate::Config::compile_rules`]) without error — every pattern parses, every state and
//! kind is known, every target has the field its kind needs and a valid `input_path`.

use std::collections::HashSet;

use serde::Deserialize;
use trailpipe_rules::{InputPath, RuleState};

use crate::ConfigError;

/// One `[[rules]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Unique name, 1 to 64 of `[A-Za-z0-9._-]` (EventBridge's rule-name rule).
    pub name: String,
    /// The EventBridge event pattern, as JSON text.
    pub event_pattern: String,
    /// `ENABLED` (default), `DISABLED` or `ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS`.
    #[serde(default = "RuleConfig::default_state")]
    pub state: String,
    /// Free text, for people.
    #[serde(default)]
    pub description: Option<String>,
    /// Where matching events go (at least one).
    #[serde(default)]
    pub targets: Vec<RuleTargetConfig>,
}

impl RuleConfig {
    fn default_state() -> String {
        RuleState::Enabled.as_str().to_string()
    }
}

/// One `[[rules.targets]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleTargetConfig {
    /// Unique within its rule, 1 to 64 of `[A-Za-z0-9._-]`.
    pub id: String,
    /// `"kafka"` (needs `topic`) or `"sns"` (needs `topic_arn`).
    pub kind: String,
    /// Kafka topic (kind `kafka`), produced to with the source's client settings.
    #[serde(default)]
    pub topic: Option<String>,
    /// SNS topic ARN (kind `sns`).
    #[serde(default)]
    pub topic_arn: Option<String>,
    /// The part of the event delivered (`$`, `$.detail`, ...); default the whole event.
    #[serde(default)]
    pub input_path: Option<String>,
}

/// A target as the rules stage uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetKind {
    /// Produce to this Kafka topic.
    Kafka(String),
    /// Publish to this SNS topic.
    Sns(String),
}

impl RuleTargetConfig {
    /// Its kind with its destination (`None` when invalid: validation reports it).
    pub fn target_kind(&self) -> Option<TargetKind> {
        match self.kind.as_str() {
            "kafka" => self.topic.clone().map(TargetKind::Kafka),
            "sns" => self.topic_arn.clone().map(TargetKind::Sns),
            _ => None,
        }
    }

    /// Its parsed `input_path` (the whole event when absent or invalid).
    pub fn input_path(&self) -> InputPath {
        self.input_path
            .as_deref()
            .and_then(|p| InputPath::parse(p).ok())
            .unwrap_or_default()
    }
}

/// EventBridge's rule-name and target-id rule: 1 to 64 of `[A-Za-z0-9._-]`.
fn name_problem(name: &str) -> Option<&'static str> {
    if !(1..=64).contains(&name.len()) {
        return Some("must be 1 to 64 characters");
    }
    if !name
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || b"._-".contains(&c))
    {
        return Some("may contain only ASCII letters, digits, '.', '_' and '-'");
    }
    None
}

/// Every mistake in `rules`, each naming its field (`rules[1].targets[0].topic`).
pub(crate) fn validate_rules(rules: &[RuleConfig], errors: &mut Vec<ConfigError>) {
    let mut names = HashSet::new();
    for (i, r) in rules.iter().enumerate() {
        let at = |field: &str| format!("rules[{i}].{field}");
        if let Some(p) = name_problem(&r.name) {
            errors.push(ConfigError::new(at("name"), format!("{:?} {p}", r.name)));
        }
        if !names.insert(r.name.as_str()) {
            errors.push(ConfigError::new(
                at("name"),
                format!("{:?} is used by another rule", r.name),
            ));
        }
        if let Err(e) = trailpipe_eventpattern::Pattern::parse(&r.event_pattern) {
            errors.push(ConfigError::new(
                at("event_pattern"),
                format!("rule {:?}: {e}", r.name),
            ));
        }
        if RuleState::from_name(&r.state).is_none() {
            errors.push(ConfigError::new(
                at("state"),
                format!(
                    "{:?} is not a rule state (ENABLED, DISABLED or ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS)",
                    r.state
                ),
            ));
        }
        if r.targets.is_empty() {
            errors.push(ConfigError::new(
                at("targets"),
                format!("rule {:?} needs at least one [[rules.targets]]", r.name),
            ));
        }
        let mut ids = HashSet::new();
        for (j, t) in r.targets.iter().enumerate() {
            let at = |field: &str| format!("rules[{i}].targets[{j}].{field}");
            if let Some(p) = name_problem(&t.id) {
                errors.push(ConfigError::new(at("id"), format!("{:?} {p}", t.id)));
            }
            if !ids.insert(t.id.as_str()) {
                errors.push(ConfigError::new(
                    at("id"),
                    format!("{:?} is used by another target of rule {:?}", t.id, r.name),
                ));
            }
            let (needs, other) = match t.kind.as_str() {
                "kafka" => (("topic", &t.topic), ("topic_arn", &t.topic_arn)),
                "sns" => (("topic_arn", &t.topic_arn), ("topic", &t.topic)),
                k => {
                    errors.push(ConfigError::new(
                        at("kind"),
                        format!("{k:?} is not a target kind (\"kafka\" or \"sns\")"),
                    ));
                    continue;
                }
            };
            match needs.1.as_deref() {
                None | Some("") => errors.push(ConfigError::new(
                    at(needs.0),
                    format!("a {:?} target needs {}", t.kind, needs.0),
                )),
                Some(arn) if t.kind == "sns" => {
                    if !arn.starts_with("arn:") || arn.split(':').count() != 6 {
                        errors.push(ConfigError::new(
                            at("topic_arn"),
                            "must be an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)",
                        ));
                    }
                }
                Some(_) => {}
            }
            if other.1.is_some() {
                errors.push(ConfigError::new(
                    at(other.0),
                    format!("is not used by a {:?} target", t.kind),
                ));
            }
            if let Some(p) = &t.input_path {
                if let Err(e) = InputPath::parse(p) {
                    errors.push(ConfigError::new(at("input_path"), e));
                }
            }
        }
    }
}
