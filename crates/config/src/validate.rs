//! Validation: every mistake in a configuration, each as one message naming its field.

use std::collections::HashSet;

use trailpipe_selectors::{RegionScope, TrailSelector};

use crate::{storage::StorageKind, Config, SourceConfig, TrailConfig};

/// One configuration mistake: the field (`trails[0].s3_bucket_name`) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ConfigError {
    /// Path of the field, in the user's own key names.
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl ConfigError {
    /// A mistake at `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    pub(crate) fn from_toml(e: &toml::de::Error) -> Self {
        // The TOML error already names the key and shows the offending line.
        Self::new("config", e.to_string().trim_end().to_string())
    }
}

/// CloudTrail's trail-name rule: 3–128 of `[A-Za-z0-9._-]`, starting and ending alphanumeric,
/// no adjacent `.`, `_`, `-`.
fn trail_name_problem(name: &str) -> Option<&'static str> {
    let b = name.as_bytes();
    if !(3..=128).contains(&b.len()) {
        return Some("must be 3 to 128 characters");
    }
    if !b
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || b"._-".contains(c))
    {
        return Some("may contain only ASCII letters, digits, '.', '_' and '-'");
    }
    if !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric() {
        return Some("must start and end with a letter or digit");
    }
    if b.windows(2)
        .any(|w| !w[0].is_ascii_alphanumeric() && !w[1].is_ascii_alphanumeric())
    {
        return Some("must not have adjacent '.', '_' or '-'");
    }
    None
}

/// S3 bucket naming rules that matter for keys and endpoints.
fn bucket_problem(name: &str) -> Option<&'static str> {
    let b = name.as_bytes();
    if !(3..=63).contains(&b.len()) {
        return Some("must be 3 to 63 characters");
    }
    if !b
        .iter()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'.' || *c == b'-')
    {
        return Some("may contain only lowercase letters, digits, '.' and '-'");
    }
    if !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric() {
        return Some("must start and end with a letter or digit");
    }
    None
}

impl Config {
    /// Returns every mistake in the configuration (empty when it is valid).
    pub fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        match &self.source {
            SourceConfig::Kafka(k) => {
                if k.brokers.trim().is_empty() {
                    errors.push(ConfigError::new(
                        "source.brokers",
                        "must list at least one broker",
                    ));
                }
                if k.topics.is_empty() {
                    errors.push(ConfigError::new(
                        "source.topics",
                        "must list at least one topic",
                    ));
                }
                if k.group_id.is_empty() {
                    errors.push(ConfigError::new("source.group_id", "must not be empty"));
                }
                if k.dead_letter_topic.is_empty() {
                    errors.push(ConfigError::new(
                        "source.dead_letter_topic",
                        "must not be empty",
                    ));
                } else if k.topics.contains(&k.dead_letter_topic) {
                    errors.push(ConfigError::new(
                        "source.dead_letter_topic",
                        "must differ from the consumed topics (dead letters would be consumed again)",
                    ));
                }
                for key in [
                    "enable.auto.commit",
                    "enable.auto.offset.store",
                    "group.id",
                    "bootstrap.servers",
                ] {
                    if k.librdkafka.contains_key(key) {
                        errors.push(ConfigError::new(
                            format!("source.librdkafka.\"{key}\""),
                            "is managed by trailpipe (offsets are committed only after delivery); remove it",
                        ));
                    }
                }
                k.security_errors(&mut errors);
            }
            SourceConfig::File(f) => {
                if f.path.as_os_str().is_empty() {
                    errors.push(ConfigError::new("source.path", "must not be empty"));
                }
            }
        }
        if self.delivery.max_inflight_bytes < 1024 * 1024 {
            errors.push(ConfigError::new(
                "delivery.max_inflight_bytes",
                "must be at least 1048576 (1 MiB)",
            ));
        }
        let limits = self.source.parse_limits();
        if limits.max_record_bytes < 1024 {
            errors.push(ConfigError::new(
                "source.max_record_bytes",
                "must be at least 1024",
            ));
        }
        if limits.max_message_bytes < limits.max_record_bytes {
            errors.push(ConfigError::new(
                "source.max_message_bytes",
                "must be at least source.max_record_bytes (a message holds at least one record)",
            ));
        }
        if limits.max_envelope_records == 0 {
            errors.push(ConfigError::new(
                "source.max_envelope_records",
                "must be at least 1",
            ));
        }
        if self.storage.kind == StorageKind::Local && self.storage.local_root.is_none() {
            errors.push(ConfigError::new(
                "storage.local_root",
                "is required when storage.kind = \"local\"",
            ));
        }
        if self.delivery.compression_level > 9 {
            errors.push(ConfigError::new(
                "delivery.compression_level",
                "must be 0 to 9",
            ));
        }
        if self.delivery.max_segment_bytes < 64 * 1024 {
            errors.push(ConfigError::new(
                "delivery.max_segment_bytes",
                "must be at least 65536",
            ));
        }
        let cwl = &self.cloudwatch_logs;
        if cwl.max_requests_per_sec == 0 {
            errors.push(ConfigError::new(
                "cloudwatch_logs.max_requests_per_sec",
                "must be at least 1",
            ));
        }
        if !(1..=64).contains(&cwl.max_concurrent_puts) {
            errors.push(ConfigError::new(
                "cloudwatch_logs.max_concurrent_puts",
                "must be 1 to 64",
            ));
        }
        if !(10..=60_000).contains(&cwl.flush_millis) {
            errors.push(ConfigError::new(
                "cloudwatch_logs.flush_millis",
                "must be 10 to 60000",
            ));
        }
        if self.trails.is_empty() {
            errors.push(ConfigError::new(
                "trails",
                "at least one [[trails]] is required",
            ));
        }
        if self.trails.len() > 64 {
            errors.push(ConfigError::new("trails", "at most 64 trails"));
        }
        let mut names = HashSet::new();
        if let Some(h) = &self.history {
            for m in h.validate() {
                errors.push(ConfigError::new("history", m));
            }
        }
        if self.trails.iter().any(|t| !t.insight_selectors.is_empty()) {
            if let Err(trailpipe_insights::InsightError::Config(ms)) = self.insights.0.validate() {
                for m in ms {
                    let (field, msg) = m.split_once(": ").unwrap_or(("", m.as_str()));
                    errors.push(ConfigError::new(format!("insights.{field}"), msg));
                }
            }
        }
        let acct = &self.integrity.account_id;
        if acct.len() != 12 || !acct.bytes().all(|b| b.is_ascii_digit()) {
            errors.push(ConfigError::new(
                "integrity.account_id",
                "must be 12 digits",
            ));
        }
        if self.integrity.signing_key_pem.is_some() && self.integrity.kms_key_id.is_some() {
            errors.push(ConfigError::new(
                "integrity.kms_key_id",
                "set either signing_key_pem or kms_key_id, not both",
            ));
        }
        if !(1..=365).contains(&self.integrity.signing_key_rotation_days) {
            errors.push(ConfigError::new(
                "integrity.signing_key_rotation_days",
                "must be 1 to 365",
            ));
        }
        for (i, t) in self.trails.iter().enumerate() {
            let at = |field: &str| format!("trails[{i}].{field}");
            if t.digest_interval_secs == 0 {
                errors.push(ConfigError::new(
                    at("digest_interval_secs"),
                    "must be at least 1",
                ));
            }
            if t.is_organization_trail {
                let ok = t.organization_id.as_deref().is_some_and(|o| {
                    o.strip_prefix("o-").is_some_and(|r| {
                        (10..=32).contains(&r.len())
                            && r.bytes()
                                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                    })
                });
                if !ok {
                    errors.push(ConfigError::new(
                        at("organization_id"),
                        "an organization trail needs organization_id = \"o-\" followed by 10 to 32 lowercase letters or digits",
                    ));
                }
            } else if t.organization_id.is_some() {
                errors.push(ConfigError::new(
                    at("organization_id"),
                    "is only for organization trails (is_organization_trail = true)",
                ));
            }
            for (j, a) in t.account_ids.iter().enumerate() {
                if a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()) {
                    errors.push(ConfigError::new(
                        format!("trails[{i}].account_ids[{j}]"),
                        "must be 12 digits",
                    ));
                }
            }
            if let Some(arn) = &t.sns_topic_arn {
                if !arn.starts_with("arn:") || arn.split(':').count() != 6 {
                    errors.push(ConfigError::new(
                        at("sns_topic_arn"),
                        "must be an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)",
                    ));
                }
            }
            if let Some(c) = &t.cloud_watch_logs {
                for m in c.validate() {
                    errors.push(ConfigError::new(at("cloud_watch_logs"), m));
                }
            }
            let mut seen = HashSet::new();
            for (j, sel) in t.insight_selectors.iter().enumerate() {
                let field = format!("trails[{i}].insight_selectors[{j}].insight_type");
                if !crate::INSIGHT_TYPES.contains(&sel.insight_type.as_str()) {
                    errors.push(ConfigError::new(
                        field,
                        format!(
                            "{:?} is not an Insights type (ApiCallRateInsight or ApiErrorRateInsight)",
                            sel.insight_type
                        ),
                    ));
                } else if !seen.insert(sel.insight_type.as_str()) {
                    errors.push(ConfigError::new(field, "is listed twice"));
                }
            }
            if t.kms_key_id.as_deref().is_some_and(str::is_empty) {
                errors.push(ConfigError::new(at("kms_key_id"), "must not be empty"));
            }
            if let Some(p) = trail_name_problem(&t.name) {
                errors.push(ConfigError::new(at("name"), format!("{:?} {p}", t.name)));
            }
            if !names.insert(t.name.as_str()) {
                errors.push(ConfigError::new(
                    at("name"),
                    format!("{:?} is used by another trail", t.name),
                ));
            }
            if let Some(p) = bucket_problem(&t.s3_bucket_name) {
                errors.push(ConfigError::new(
                    at("s3_bucket_name"),
                    format!("{:?} {p}", t.s3_bucket_name),
                ));
            }
            if let Some(prefix) = &t.s3_key_prefix {
                if prefix.len() > 200 {
                    errors.push(ConfigError::new(
                        at("s3_key_prefix"),
                        "must be at most 200 characters",
                    ));
                }
                if prefix.ends_with('/') || prefix.starts_with('/') {
                    errors.push(ConfigError::new(
                        at("s3_key_prefix"),
                        "must not start or end with '/' (CloudTrail joins it to AWSLogs/ with one '/')",
                    ));
                }
            }
            if t.delivery_interval_secs == 0 || t.delivery_interval_secs > 3600 {
                errors.push(ConfigError::new(
                    at("delivery_interval_secs"),
                    "must be 1 to 3600",
                ));
            }
            if t.max_file_records == 0 {
                errors.push(ConfigError::new(
                    at("max_file_records"),
                    "must be at least 1",
                ));
            }
            if t.max_file_bytes < 1024 || t.max_file_bytes > self.delivery.max_segment_bytes {
                errors.push(ConfigError::new(
                    at("max_file_bytes"),
                    format!(
                        "must be 1024 to delivery.max_segment_bytes ({})",
                        self.delivery.max_segment_bytes
                    ),
                ));
            }
            if let Err(errs) = self.trail_selector(t) {
                errors.extend(
                    errs.into_iter()
                        .map(|e| ConfigError::new(at(&e.path), e.kind.to_string())),
                );
            }
        }
        crate::rules::validate_rules(&self.rules, &mut errors);
        if matches!(self.source, SourceConfig::File(_)) {
            for (i, r) in self.rules.iter().enumerate() {
                for (j, t) in r.targets.iter().enumerate() {
                    if t.kind == "kafka" {
                        errors.push(ConfigError::new(
                            format!("rules[{i}].targets[{j}].kind"),
                            "Kafka targets are produced with the Kafka source's settings: they need source.kind = \"kafka\"",
                        ));
                    }
                }
            }
        }
        errors
    }

    /// The rules compiled for matching, in configuration order (indexes in
    /// `trailpipe_rules::Matched::rules` refer to `self.rules`). Call only on a validated
    /// configuration: an invalid pattern or state panics.
    pub fn compile_rules(&self) -> trailpipe_rules::Rules {
        trailpipe_rules::Rules::new(
            self.rules
                .iter()
                .map(|r| trailpipe_rules::Rule {
                    name: r.name.clone(),
                    pattern: trailpipe_eventpattern::Pattern::parse(&r.event_pattern)
                        .expect("validated: the pattern parses"),
                    state: trailpipe_rules::RuleState::from_name(&r.state)
                        .expect("validated: the state is known"),
                })
                .collect(),
        )
    }

    /// The trails as the pipeline shares them (see [`trailpipe_event::Trail`]): in
    /// configuration order, which is the router's route-bit order.
    pub fn compile_trails(&self) -> std::sync::Arc<[trailpipe_event::Trail]> {
        self.trails
            .iter()
            .map(|t| trailpipe_event::Trail {
                name: t.name.as_str().into(),
                bucket: t.s3_bucket_name.as_str().into(),
                prefix: t.key_prefix().map(Into::into),
                organization_id: t.key_organization_id().map(Into::into),
                kms_key_id: t.kms_key_id.as_deref().map(Into::into),
                sns_topic_arn: t.sns_topic_arn.as_deref().map(Into::into),
                cwl_log_group: t
                    .cloud_watch_logs
                    .as_ref()
                    .map(|c| c.cloud_watch_logs_log_group.as_str().into()),
                accounts: t.account_ids.iter().map(|a| a.as_str().into()).collect(),
                max_file_bytes: t.max_file_bytes,
                max_file_records: t.max_file_records,
                delivery_interval: std::time::Duration::from_secs(t.delivery_interval_secs),
            })
            .collect()
    }

    /// The Insights detector configuration of a trail, or `None` when it has no
    /// `insight_selectors`.
    pub fn insight_config(&self, t: &TrailConfig) -> Option<trailpipe_insights::InsightConfig> {
        if t.insight_selectors.is_empty() {
            return None;
        }
        let has = |ty: &str| t.insight_selectors.iter().any(|s| s.insight_type == ty);
        Some(trailpipe_insights::InsightConfig {
            call_rate: has("ApiCallRateInsight"),
            error_rate: has("ApiErrorRateInsight"),
            ..self.insights.0.clone()
        })
    }

    /// The compiled selector of a trail; its errors carry paths relative to the trail.
    pub fn trail_selector(
        &self,
        t: &TrailConfig,
    ) -> Result<TrailSelector, Vec<trailpipe_selectors::SelectorError>> {
        TrailSelector::new(
            RegionScope {
                is_multi_region_trail: t.is_multi_region_trail,
                home_region: t
                    .home_region
                    .clone()
                    .unwrap_or_else(|| self.storage.region.clone()),
                include_global_service_events: t.include_global_service_events,
            },
            &t.event_selectors,
            &t.advanced_event_selectors,
        )
    }
}

#[cfg(test)]
mod tests;
