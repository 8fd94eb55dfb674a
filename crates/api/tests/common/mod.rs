//! A small in-memory [`ApiBackend`] over fixed trails, shared by the router and aws-CLI tests.
//! It keeps real state (logging on/off, selectors, tags) so tests observe the API's effects,
//! and records what LookupEvents and ListPublicKeys were asked.
#![allow(dead_code)] // each test binary uses a different part

pub mod http;

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};
use trailpipe_auth::{ApiAccess, CredentialStore};

use time::OffsetDateTime;
use trailpipe_api::{
    trail_arn, ApiBackend, ApiError, PublicKey, SelectorsInfo, Tag, TrailInfo, TrailStatus,
};

pub const ACCOUNT: &str = "123456789012";

/// A PKCS#1 RSAPublicKey DER stand-in: the API layer only base64-encodes it.
pub const KEY_DER: &[u8] = &[
    0x30, 0x0d, 0x02, 0x08, 0xc3, 0x5a, 0x01, 0xff, 0x00, 0x10, 0x20, 0x02, 0x01, 0x03,
];

#[derive(Default)]
pub struct State {
    pub status: BTreeMap<String, TrailStatus>,
    pub selectors: BTreeMap<String, SelectorsInfo>,
    pub tags: BTreeMap<String, Vec<Tag>>,
    pub lookups: Vec<(String, serde_json::Value)>,
    pub key_queries: Vec<(Option<OffsetDateTime>, Option<OffsetDateTime>)>,
    /// The self-records of every call answered, in order.
    pub records: Vec<serde_json::Value>,
    /// Unverified (unsigned or badly signed) calls still admitted; `None`: all.
    pub unverified_budget: Option<usize>,
}

#[derive(Clone)]
pub struct TestBackend {
    pub trails: Arc<Vec<TrailInfo>>,
    pub state: Arc<Mutex<State>>,
    /// Who may call what: open to anyone unless a test sets credentials ([`Self::with_access`]).
    pub access: Arc<ApiAccess>,
}

pub fn at(secs: i64, millis: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(
        (secs as i128) * 1_000_000_000 + (millis as i128) * 1_000_000,
    )
    .unwrap()
}

fn trail(name: &str, region: &str, multi: bool) -> TrailInfo {
    TrailInfo {
        name: name.into(),
        arn: trail_arn("aws", region, ACCOUNT, name),
        home_region: region.into(),
        s3_bucket_name: format!("{name}-bucket"),
        s3_key_prefix: (name == "management").then(|| "prod".into()),
        include_global_service_events: true,
        is_multi_region_trail: multi,
        log_file_validation_enabled: true,
        insight_types: if name == "management" {
            vec!["ApiCallRateInsight".into(), "ApiErrorRateInsight".into()]
        } else {
            Vec::new()
        },
        ..TrailInfo::default()
    }
}

impl TestBackend {
    /// `management` (us-east-1, multi-region, logging, delivered), `east-data` (us-east-1),
    /// `west-only` (us-west-2), `broken` (us-east-1; start/stop fail internally).
    pub fn new() -> Self {
        let trails = vec![
            trail("management", "us-east-1", true),
            trail("east-data", "us-east-1", false),
            trail("west-only", "us-west-2", false),
            trail("broken", "us-east-1", false),
        ];
        let mut state = State::default();
        state.status.insert(
            "management".into(),
            TrailStatus {
                is_logging: true,
                latest_delivery_time: Some(at(1_454_022_144, 869)),
                latest_delivery_attempt_time: Some(at(1_454_022_144, 0)),
                start_logging_time: Some(at(1_446_834_998, 695)),
                latest_digest_delivery_error: Some("AccessDenied".into()),
                ..TrailStatus::default()
            },
        );
        Self {
            trails: Arc::new(trails),
            state: Arc::new(Mutex::new(state)),
            access: Arc::new(ApiAccess::new(
                true,
                CredentialStore::new([]).expect("no credentials"),
            )),
        }
    }

    /// The same backend behind other access rules.
    pub fn with_access(mut self, access: ApiAccess) -> Self {
        self.access = Arc::new(access);
        self
    }

    pub fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }
}

impl ApiBackend for TestBackend {
    fn default_region(&self) -> &str {
        "us-east-1"
    }

    fn access(&self) -> Arc<ApiAccess> {
        self.access.clone()
    }

    fn account_id(&self) -> String {
        ACCOUNT.into()
    }

    fn admit_unverified(&self, _source_ip: Option<std::net::IpAddr>) -> bool {
        match &mut self.state().unverified_budget {
            None => true,
            Some(0) => false,
            Some(n) => {
                *n -= 1;
                true
            }
        }
    }

    async fn record_call(&self, record: serde_json::Value) -> Result<(), ApiError> {
        self.state().records.push(record);
        Ok(())
    }

    async fn trails(&self) -> Vec<TrailInfo> {
        self.trails.to_vec()
    }

    async fn trail_status(&self, trail: &str) -> Option<TrailStatus> {
        self.state().status.get(trail).cloned()
    }

    async fn event_selectors(&self, trail: &str) -> Option<SelectorsInfo> {
        self.state().selectors.get(trail).cloned()
    }

    async fn public_keys(
        &self,
        start: Option<OffsetDateTime>,
        end: Option<OffsetDateTime>,
    ) -> Result<Vec<PublicKey>, ApiError> {
        self.state().key_queries.push((start, end));
        Ok(vec![PublicKey {
            value_der: KEY_DER.to_vec(),
            validity_start: at(1_453_076_702, 0),
            validity_end: at(1_455_668_702, 0),
            fingerprint: "7f3f401420072e50a65a141430817ab3".into(),
        }])
    }

    /// Answers from two fixed events, filtered by an `EventName` attribute; more than one
    /// attribute is the history crate's `InvalidLookupAttributesException`.
    async fn lookup_events(
        &self,
        region: &str,
        body: &[u8],
    ) -> Result<serde_json::Value, ApiError> {
        let req: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| ApiError::Serialization(e.to_string()))?;
        self.state().lookups.push((region.to_owned(), req.clone()));
        let attrs = req["LookupAttributes"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if attrs.len() > 1 {
            return Err(ApiError::Other {
                error_type: "InvalidLookupAttributesException",
                message: "at most one lookup attribute".into(),
            });
        }
        let wanted = attrs.first().and_then(|a| a["AttributeValue"].as_str());
        let events: Vec<serde_json::Value> = [
            ("e1", "ConsoleLogin", 1_700_000_100),
            ("e2", "PutObject", 1_700_000_000),
        ]
        .into_iter()
        .filter(|(_, name, _)| wanted.is_none_or(|w| w == *name))
        .map(|(id, name, t)| {
            let record = serde_json::json!({"eventID": id, "eventName": name, "awsRegion": region});
            serde_json::json!({
                "EventId": id, "EventName": name, "ReadOnly": "false", "EventTime": t,
                "EventSource": "signin.amazonaws.com", "Username": "alice", "Resources": [],
                "CloudTrailEvent": record.to_string(),
            })
        })
        .collect();
        Ok(serde_json::json!({ "Events": events }))
    }

    async fn start_logging(&self, trail: &str) -> Result<(), ApiError> {
        if trail == "broken" {
            return Err(ApiError::Internal("state store unavailable".into()));
        }
        let mut st = self.state();
        let s = st.status.entry(trail.into()).or_default();
        s.is_logging = true;
        s.start_logging_time = Some(OffsetDateTime::now_utc());
        Ok(())
    }

    async fn stop_logging(&self, trail: &str) -> Result<(), ApiError> {
        if trail == "broken" {
            return Err(ApiError::Internal("state store unavailable".into()));
        }
        let mut st = self.state();
        let s = st.status.entry(trail.into()).or_default();
        s.is_logging = false;
        s.stop_logging_time = Some(OffsetDateTime::now_utc());
        Ok(())
    }

    async fn put_event_selectors(
        &self,
        trail: &str,
        selectors: SelectorsInfo,
    ) -> Result<SelectorsInfo, ApiError> {
        self.state()
            .selectors
            .insert(trail.into(), selectors.clone());
        Ok(selectors)
    }

    async fn add_tags(&self, trail: &str, tags: Vec<Tag>) -> Result<(), ApiError> {
        let mut st = self.state();
        let have = st.tags.entry(trail.into()).or_default();
        for t in tags {
            have.retain(|h| h.key != t.key);
            have.push(t);
        }
        Ok(())
    }

    async fn remove_tags(&self, trail: &str, tags: Vec<Tag>) -> Result<(), ApiError> {
        let mut st = self.state();
        let have = st.tags.entry(trail.into()).or_default();
        have.retain(|h| !tags.iter().any(|t| t.key == h.key));
        Ok(())
    }

    async fn list_tags(&self, trail: &str) -> Result<Vec<Tag>, ApiError> {
        Ok(self.state().tags.get(trail).cloned().unwrap_or_default())
    }
}
