//! Shared by the integration tests: a straightforward model of LookupEvents over a list of
//! records (written from the record JSON with `serde_json::Value`, independently of the
//! store's borrowed parser), data sources, and a pager.

#![allow(dead_code)]

use std::collections::BTreeMap;

use serde_json::Value;
use trailpipe_generator::{Generator, GeneratorConfig};
use trailpipe_history::{AttributeKey, HistoryConfig, HistoryStore, LookupRequest};

/// One event as the model sees it.
#[derive(Debug, Clone)]
pub struct ModelEvent {
    pub region: String,
    pub insight: bool,
    pub time: i64,
    pub id: String,
    pub attrs: Vec<(AttributeKey, String)>,
}

fn s(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

fn last_after(arn: &str, sep: char) -> Option<&str> {
    arn.rfind(sep).map(|i| &arn[i + 1..])
}

/// The model's reading of one record; `None` when event history does not keep it.
pub fn model_of(raw: &str) -> Option<ModelEvent> {
    let v: Value = serde_json::from_str(raw).ok()?;
    let cat = v["eventCategory"].as_str();
    let insight = match cat {
        Some("Insight") => true,
        Some("Management") => false,
        Some(_) => return None,
        None if v["eventType"] == "AwsCloudTrailInsight" => true,
        None if v["managementEvent"] == false => return None,
        None => false,
    };
    let time = trailpipe_history::parse_event_time(v["eventTime"].as_str()?)?;
    let id = s(&v["eventID"]).filter(|i| !i.is_empty())?;
    let region = s(&v["awsRegion"]).filter(|r| !r.is_empty())?;
    let mut attrs = vec![(AttributeKey::EventId, id.clone())];
    let name = s(&v["eventName"]).or_else(|| {
        insight
            .then(|| s(&v["insightDetails"]["eventName"]))
            .flatten()
    });
    let source = s(&v["eventSource"]).or_else(|| {
        insight
            .then(|| s(&v["insightDetails"]["eventSource"]))
            .flatten()
    });
    attrs.extend(name.map(|n| (AttributeKey::EventName, n)));
    attrs.extend(source.map(|n| (AttributeKey::EventSource, n)));
    if let Some(b) = v["readOnly"].as_bool() {
        attrs.push((AttributeKey::ReadOnly, b.to_string()));
    }
    let ui = &v["userIdentity"];
    if ui.is_object() {
        let arn = ui["arn"].as_str();
        let user = match ui["type"].as_str() {
            Some("Root") => Some("root".to_owned()),
            Some("AssumedRole") | Some("FederatedUser") => {
                arn.and_then(|a| last_after(a, '/')).map(str::to_owned)
            }
            Some("AWSService") => s(&ui["invokedBy"]),
            _ => s(&ui["userName"])
                .filter(|u| !u.is_empty())
                .or_else(|| arn.and_then(|a| last_after(a, '/')).map(str::to_owned))
                .or_else(|| s(&ui["principalId"])),
        };
        attrs.extend(
            user.filter(|u| !u.is_empty())
                .map(|u| (AttributeKey::Username, u)),
        );
        attrs.extend(
            s(&ui["accessKeyId"])
                .filter(|k| !k.is_empty())
                .map(|k| (AttributeKey::AccessKeyId, k)),
        );
    }
    if let Some(rs) = v["resources"].as_array() {
        for r in rs {
            attrs.extend(s(&r["type"]).map(|t| (AttributeKey::ResourceType, t)));
            if let Some(arn) = s(&r["ARN"]) {
                let short = last_after(&arn, '/')
                    .or_else(|| last_after(&arn, ':'))
                    .unwrap_or(&arn)
                    .to_owned();
                attrs.push((AttributeKey::ResourceName, short));
                attrs.push((AttributeKey::ResourceName, arn));
            }
        }
    }
    attrs.retain(|(_, v)| !v.is_empty() && v.len() <= 4000);
    Some(ModelEvent {
        region,
        insight,
        time,
        id,
        attrs,
    })
}

/// All kept events, one per (region, category, time, id), last write wins.
#[derive(Default)]
pub struct Model {
    pub events: BTreeMap<(String, bool, i64, String), ModelEvent>,
}

impl Model {
    pub fn add(&mut self, raw: &str) {
        if let Some(e) = model_of(raw) {
            self.events
                .insert((e.region.clone(), e.insight, e.time, e.id.clone()), e);
        }
    }

    /// The answer: (time, id) newest first, ties by eventID ascending.
    pub fn answer(
        &self,
        region: &str,
        insight: bool,
        attr: Option<&(AttributeKey, String)>,
        start: i64,
        end: i64,
    ) -> Vec<(i64, String)> {
        let mut out: Vec<(i64, String)> = self
            .events
            .values()
            .filter(|e| e.region == region && e.insight == insight)
            .filter(|e| e.time >= start && e.time <= end)
            .filter(|e| attr.is_none_or(|(k, v)| e.attrs.iter().any(|(ak, av)| ak == k && av == v)))
            .map(|e| (e.time, e.id.clone()))
            .collect();
        out.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        out
    }

    /// Values of `key` among events of `region`, most frequent first.
    pub fn values(&self, region: &str, key: AttributeKey) -> Vec<(String, usize)> {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for e in self
            .events
            .values()
            .filter(|e| e.region == region && !e.insight)
        {
            let mut seen: Vec<&String> = Vec::new();
            for (k, v) in &e.attrs {
                if *k == key && !seen.contains(&v) {
                    seen.push(v);
                    *counts.entry(v.clone()).or_default() += 1;
                }
            }
        }
        let mut v: Vec<(String, usize)> = counts.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    }
}

/// Every page of a lookup, concatenated as (time, id).
pub fn all_pages(store: &HistoryStore, mut req: LookupRequest) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    for _ in 0..100_000 {
        let resp = store.lookup(&req).expect("valid lookup");
        let max = req.max_results.unwrap_or(50) as usize;
        assert!(resp.events.len() <= max, "page larger than MaxResults");
        out.extend(resp.events.into_iter().map(|e| (e.event_time, e.event_id)));
        match resp.next_token {
            Some(t) => req.next_token = Some(t),
            None => return out,
        }
    }
    panic!("paging did not end");
}

/// `n` generated records, `per_second` apart on average, from `start`.
pub fn generated(n: usize, seed: u64, start: i64, per_second: f64) -> Vec<String> {
    let mut g = Generator::new(GeneratorConfig {
        accounts: 3,
        regions: 3,
        seed,
        start_time: start,
        events_per_second: per_second,
    });
    (0..n).map(|_| g.next_record()).collect()
}

/// A fresh store in a temporary directory (kept alive by the returned guard).
pub fn temp_store() -> (tempfile::TempDir, HistoryStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = HistoryStore::open(HistoryConfig::new(dir.path().join("history"))).expect("open");
    (dir, store)
}

/// Appends records in batches of `batch`.
pub fn append_all(store: &HistoryStore, records: &[String], batch: usize) {
    for chunk in records.chunks(batch) {
        let raws: Vec<&[u8]> = chunk.iter().map(|r| r.as_bytes()).collect();
        store.append(&raws).expect("append");
    }
}

/// Tiny deterministic PRNG for picking queries.
pub struct Pick(pub u64);

impl Pick {
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// An Insights record (§9 shape) at `time` in `region`.
pub fn insight_record(id: &str, time: &str, region: &str, name: &str) -> String {
    format!(
        r#"{{"eventVersion":"1.07","eventTime":"{time}","awsRegion":"{region}","eventID":"{id}","eventType":"AwsCloudTrailInsight","recipientAccountId":"123456789012","sharedEventID":"s-{id}","insightDetails":{{"state":"Start","eventSource":"autoscaling.amazonaws.com","eventName":"{name}","insightType":"ApiCallRateInsight","insightContext":{{"statistics":{{"baseline":{{"average":0.0000882145}},"insight":{{"average":0.6}},"insightDuration":5,"baselineDuration":11336}}}}}},"eventCategory":"Insight"}}"#
    )
}

/// A minimal management record.
pub fn mgmt_record(id: &str, time: &str, region: &str, name: &str) -> String {
    format!(
        r#"{{"eventVersion":"1.09","userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::123456789012:user/pat","accountId":"123456789012","accessKeyId":"AKIAEXAMPLE","userName":"pat"}},"eventTime":"{time}","eventSource":"iam.amazonaws.com","eventName":"{name}","awsRegion":"{region}","sourceIPAddress":"192.0.2.1","requestParameters":null,"responseElements":null,"eventID":"{id}","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"123456789012","eventCategory":"Management"}}"#
    )
}

/// RFC 3339 of epoch seconds.
pub fn iso(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .expect("valid time")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("formats")
}
