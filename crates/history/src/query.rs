//! LookupEvents over the store: newest first, one region, at most one attribute, paged.
//!
//! A page walks the days newest first. Without an attribute it reads one key range of the
//! day's records; with one it merges the value's postings of the day (one range seek per
//! level, see `posting.rs`) and point-reads each record, so a page costs three range seeks per
//! day visited plus one point read per event returned.

use serde::{Deserialize, Serialize};

use crate::{
    keys::{self, day_of},
    posting::Merge,
    record::{bool_str, extract, parse},
    token::{self, Cursor},
    HistoryCategory, HistoryError, HistoryStore, LookupError, LookupRequest, MAX_RESULTS,
};

/// The LookupEvents response, serialising to exactly AWS's JSON shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookupResponse {
    /// Matching events, newest first.
    #[serde(rename = "Events")]
    pub events: Vec<LookupEvent>,
    /// Present when more events may follow.
    #[serde(rename = "NextToken", skip_serializing_if = "Option::is_none", default)]
    pub next_token: Option<String>,
}

/// One event as LookupEvents shows it. Absent values are left out, as AWS does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookupEvent {
    /// `eventID`.
    #[serde(rename = "EventId")]
    pub event_id: String,
    /// `eventName`.
    #[serde(rename = "EventName", skip_serializing_if = "Option::is_none", default)]
    pub event_name: Option<String>,
    /// `"true"` / `"false"`.
    #[serde(rename = "ReadOnly", skip_serializing_if = "Option::is_none", default)]
    pub read_only: Option<String>,
    /// `userIdentity.accessKeyId`.
    #[serde(
        rename = "AccessKeyId",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub access_key_id: Option<String>,
    /// `eventTime`, seconds since the epoch.
    #[serde(rename = "EventTime")]
    pub event_time: i64,
    /// `eventSource`.
    #[serde(
        rename = "EventSource",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub event_source: Option<String>,
    /// Derived user name.
    #[serde(rename = "Username", skip_serializing_if = "Option::is_none", default)]
    pub username: Option<String>,
    /// `resources[]`.
    #[serde(rename = "Resources", default)]
    pub resources: Vec<LookupEventResource>,
    /// The whole record, as a JSON string.
    #[serde(rename = "CloudTrailEvent")]
    pub cloud_trail_event: String,
}

/// One resource of a [`LookupEvent`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookupEventResource {
    /// `resources[].type`.
    #[serde(
        rename = "ResourceType",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub resource_type: Option<String>,
    /// `resources[].ARN`.
    #[serde(
        rename = "ResourceName",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub resource_name: Option<String>,
}

impl LookupEvent {
    /// Builds the response entry of a stored record.
    pub fn from_record(raw: &[u8]) -> Option<Self> {
        let e = extract(raw).ok()?;
        Some(Self {
            event_id: e.event_id,
            event_name: e.event_name,
            read_only: e.read_only.map(|b| bool_str(b).to_owned()),
            access_key_id: e.access_key_id,
            event_time: e.event_time,
            event_source: e.event_source,
            username: e.username,
            resources: e
                .resources
                .into_iter()
                .map(|r| LookupEventResource {
                    resource_type: r.resource_type,
                    resource_name: r.resource_name,
                })
                .collect(),
            cloud_trail_event: String::from_utf8_lossy(raw).into_owned(),
        })
    }
}

/// Whether the record still has the requested attribute value (see the call site).
fn stale_checked_match(raw: &[u8], req: &LookupRequest) -> bool {
    match &req.attribute {
        Some((k, v)) => parse(raw).is_ok_and(|e| e.matches(*k, v)),
        None => true,
    }
}

impl HistoryStore {
    /// Answers one LookupEvents call.
    pub fn lookup(&self, req: &LookupRequest) -> Result<LookupResponse, LookupError> {
        req.validate()?;
        let fingerprint = req.fingerprint();
        let cursor = match &req.next_token {
            Some(t) => Some(token::decode(&self.token_key, &fingerprint, t)?),
            None => None,
        };
        let category = match req.category {
            Some(_) => HistoryCategory::Insight,
            None => HistoryCategory::Management,
        };
        let max =
            usize::try_from(req.max_results.unwrap_or(MAX_RESULTS)).expect("validated to 1..=50");
        let (start, end) = req.seconds();
        let start = start.max(self.cutoff.load(std::sync::atomic::Ordering::Acquire));
        let end = match &cursor {
            Some(c) => end.min(c.time),
            None => end,
        };
        let mut found: Vec<(Cursor, Vec<u8>)> = Vec::with_capacity(max + 1);
        if start <= end {
            self.collect(
                req,
                category,
                start,
                end,
                cursor.as_ref(),
                max + 1,
                &mut found,
            )
            .map_err(|source| HistoryError::Engine {
                path: self.config().path.display().to_string(),
                source,
            })?;
        }
        let next_token = (found.len() > max)
            .then(|| token::encode(&self.token_key, &fingerprint, &found[max - 1].0));
        found.truncate(max);
        let events = found
            .iter()
            .filter_map(|(_, raw)| LookupEvent::from_record(raw))
            .collect();
        Ok(LookupResponse { events, next_token })
    }

    /// Appends to `out` up to `limit` (position, record) pairs in `[start, end]` after `cursor`.
    #[allow(clippy::too_many_arguments)]
    fn collect(
        &self,
        req: &LookupRequest,
        category: HistoryCategory,
        start: i64,
        end: i64,
        cursor: Option<&Cursor>,
        limit: usize,
        out: &mut Vec<(Cursor, Vec<u8>)>,
    ) -> fjall::Result<()> {
        let guard = self.engine.read().expect("engine lock poisoned");
        let days = &guard.as_ref().ok_or(fjall::Error::Poisoned)?.days;
        let events_prefix = keys::events_prefix(category, &req.region);
        let index_hash = req
            .attribute
            .as_ref()
            .map(|(k, v)| keys::index_hash(category, &req.region, *k, v));
        for (&day, d) in days.range(day_of(start)..=day_of(end)).rev() {
            let after = cursor
                .filter(|c| day_of(c.time) == day)
                .map(|c| (c.time, c.event_id.as_slice()));
            match index_hash {
                None => {
                    let range = keys::window(&events_prefix, start, end, after);
                    for kv in d.events.range::<Vec<u8>, _>(range) {
                        let (k, v) = kv.into_inner()?;
                        let Some((time, id)) = keys::position(&k, events_prefix.len()) else {
                            continue;
                        };
                        let c = Cursor {
                            time,
                            event_id: id.to_vec(),
                        };
                        out.push((c, v.to_vec()));
                        if out.len() >= limit {
                            return Ok(());
                        }
                    }
                }
                Some(hash) => {
                    let mut merge = Merge::new(&d.index, hash, start, end, after)?;
                    while let Some((time, id)) = merge.next_position()? {
                        let rk = keys::with_position_bytes(&events_prefix, time, &id);
                        // Written in the same atomic batch as the posting: always there.
                        let Some(v) = d.events.get(&rk)? else {
                            continue;
                        };
                        // Drops hash collisions, and index entries left stale by a later record
                        // with the same (time, eventID) but other content: last write wins.
                        if !stale_checked_match(&v, req) {
                            continue;
                        }
                        let c = Cursor { time, event_id: id };
                        out.push((c, v.to_vec()));
                        if out.len() >= limit {
                            return Ok(());
                        }
                    }
                }
            }
        }
        Ok(())
    }
}
