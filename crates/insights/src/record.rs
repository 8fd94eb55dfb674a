//! The Insights event record, in CloudTrail's exact shape (reference §9), and its identifiers.
//!
//! Invariant: a record is a pure function of the insight it describes. `eventID` and
//! `sharedEventID` are name-based UUIDs (v5) of (account, region, eventSource, eventName,
//! insightType, start minute[, state]), so replaying the same input rebuilds byte-identical
//! records and the Start and End of one insight share their `sharedEventID` by construction.
//! Keys are written in the order of CloudTrail's own examples; averages are rounded to 10
//! decimal places and integral ones are written without a fraction (`"average":664`).

use std::sync::Arc;

use bytes::Bytes;
use serde::{Serialize, Serializer};
use time::{format_description::FormatItem, macros::format_description, OffsetDateTime};
use trailpipe_event::{Event, EventCategory, RoutingFields, UserIdentity};
use uuid::Uuid;

/// `eventVersion` of emitted Insights records (the newest version AWS's Insights examples use).
pub const INSIGHT_EVENT_VERSION: &str = "1.08";

/// Namespace of trailpipe's name-based Insights UUIDs.
const ID_NAMESPACE: Uuid = Uuid::from_u128(0x5f0e_2b1c_7a43_4c8e_9d21_3b6f_a0c4_e871);

const EVENT_TIME: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");

/// Which Insights type a record is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InsightType {
    /// `ApiCallRateInsight`.
    ApiCallRate,
    /// `ApiErrorRateInsight`.
    ApiErrorRate,
}

impl InsightType {
    /// CloudTrail's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ApiCallRate => "ApiCallRateInsight",
            Self::ApiErrorRate => "ApiErrorRateInsight",
        }
    }
}

/// `insightDetails.state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InsightState {
    /// The first anomalous minute.
    Start,
    /// The first normal minute after the anomaly.
    End,
}

impl InsightState {
    /// CloudTrail's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "Start",
            Self::End => "End",
        }
    }
}

/// One emitted Insights event: its JSON bytes plus what routing and file naming need.
#[derive(Debug, Clone, PartialEq)]
pub struct InsightRecord {
    /// `recipientAccountId`.
    pub account_id: Box<str>,
    /// `awsRegion`.
    pub aws_region: Box<str>,
    /// `eventTime`, seconds since the Unix epoch (a whole minute).
    pub event_time: i64,
    /// Start or End.
    pub state: InsightState,
    /// Call rate or error rate.
    pub insight_type: InsightType,
    /// `insightDetails.eventSource`.
    pub event_source: Box<str>,
    /// `insightDetails.eventName`.
    pub event_name: Box<str>,
    /// `eventID`.
    pub event_id: Box<str>,
    /// `sharedEventID`, the same on the Start and End of one insight.
    pub shared_event_id: Box<str>,
    /// The record, one compact JSON object, as it goes into a `CloudTrail-Insight` log file.
    pub json: Bytes,
}

impl InsightRecord {
    /// The record as a pipeline [`Event`] (category `Insight`), for the batcher and sinks.
    pub fn to_event(&self) -> Event {
        Event {
            raw: self.json.clone(),
            fields: RoutingFields {
                event_time: self.event_time,
                event_id: (*self.event_id).into(),
                event_source: None,
                event_name: None,
                aws_region: (*self.aws_region).into(),
                account_id: (*self.account_id).into(),
                read_only: None,
                read_only_is_bool: false,
                event_category: EventCategory::Insight,
                management_event: None,
                event_type: Some("AwsCloudTrailInsight".into()),
                resources: Vec::new(),
                user_identity: UserIdentity::default(),
                error_code: None,
                shared_event_id: Some((*self.shared_event_id).into()),
                session_credential_from_console: None,
                vpc_endpoint_id: None,
                user_agent: None,
                source_ip_address: None,
            },
        }
    }
}

/// Top values of one attribute with their averages per minute.
pub(crate) type Averages = Vec<(Arc<str>, f64)>;

/// One attribution: attribute name, insight values, baseline values.
pub(crate) type AttributionSpec = (&'static str, Averages, Averages);

/// Everything one record says, before serialisation.
pub(crate) struct RecordSpec<'a> {
    pub account_id: &'a str,
    pub aws_region: &'a str,
    pub event_source: &'a str,
    pub event_name: &'a str,
    pub insight_type: InsightType,
    pub state: InsightState,
    pub start_minute: i64,
    pub event_minute: i64,
    pub baseline_average: f64,
    pub insight_average: f64,
    pub insight_duration_minutes: u32,
    pub baseline_duration_minutes: u32,
    /// Per attribute (in `topk::ATTRIBUTES` order): insight and baseline (value, average).
    pub attributions: Vec<AttributionSpec>,
}

/// A JSON number rounded to 10 decimal places, integral values without a fraction.
#[derive(Clone, Copy)]
struct Num(f64);

impl Serialize for Num {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let x = if self.0.is_finite() { self.0 } else { 0.0 };
        let r = (x * 1e10).round() / 1e10;
        if r.fract() == 0.0 && r.abs() < 9.0e15 {
            s.serialize_i64(r as i64)
        } else {
            s.serialize_f64(r)
        }
    }
}

#[derive(Serialize)]
struct Average {
    average: Num,
}

#[derive(Serialize)]
struct ValueAverage<'a> {
    value: &'a str,
    average: Num,
}

#[derive(Serialize)]
struct Attribution<'a> {
    attribute: &'a str,
    insight: Vec<ValueAverage<'a>>,
    baseline: Vec<ValueAverage<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Statistics {
    baseline: Average,
    insight: Average,
    insight_duration: u32,
    baseline_duration: u32,
}

#[derive(Serialize)]
struct InsightContext<'a> {
    statistics: Statistics,
    attributions: Vec<Attribution<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InsightDetails<'a> {
    state: &'a str,
    event_source: &'a str,
    event_name: &'a str,
    insight_type: &'a str,
    insight_context: InsightContext<'a>,
}

#[derive(Serialize)]
struct Record<'a> {
    #[serde(rename = "eventVersion")]
    event_version: &'a str,
    #[serde(rename = "eventTime")]
    event_time: &'a str,
    #[serde(rename = "awsRegion")]
    aws_region: &'a str,
    #[serde(rename = "eventID")]
    event_id: &'a str,
    #[serde(rename = "eventType")]
    event_type: &'a str,
    #[serde(rename = "recipientAccountId")]
    recipient_account_id: &'a str,
    #[serde(rename = "sharedEventID")]
    shared_event_id: &'a str,
    #[serde(rename = "insightDetails")]
    insight_details: InsightDetails<'a>,
    #[serde(rename = "eventCategory")]
    event_category: &'a str,
}

fn uuid(name: &str) -> Box<str> {
    Uuid::new_v5(&ID_NAMESPACE, name.as_bytes())
        .hyphenated()
        .to_string()
        .into_boxed_str()
}

/// `YYYY-MM-DDTHH:MM:SSZ`; times outside the calendar fall back to the epoch.
pub(crate) fn format_event_time(secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(secs)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .format(EVENT_TIME)
        .expect("the format has only numeric components, which always format")
}

impl RecordSpec<'_> {
    /// Serialises the record.
    pub(crate) fn build(&self) -> InsightRecord {
        let insight_name = format!(
            "{}/{}/{}/{}/{}/{}",
            self.account_id,
            self.aws_region,
            self.event_source,
            self.event_name,
            self.insight_type.as_str(),
            self.start_minute
        );
        let shared_event_id = uuid(&insight_name);
        let event_id = uuid(&format!("{insight_name}/{}", self.state.as_str()));
        let event_time = self.event_minute * 60;
        let time = format_event_time(event_time);
        let record = Record {
            event_version: INSIGHT_EVENT_VERSION,
            event_time: &time,
            aws_region: self.aws_region,
            event_id: &event_id,
            event_type: "AwsCloudTrailInsight",
            recipient_account_id: self.account_id,
            shared_event_id: &shared_event_id,
            insight_details: InsightDetails {
                state: self.state.as_str(),
                event_source: self.event_source,
                event_name: self.event_name,
                insight_type: self.insight_type.as_str(),
                insight_context: InsightContext {
                    statistics: Statistics {
                        baseline: Average {
                            average: Num(self.baseline_average),
                        },
                        insight: Average {
                            average: Num(self.insight_average),
                        },
                        insight_duration: self.insight_duration_minutes,
                        baseline_duration: self.baseline_duration_minutes,
                    },
                    attributions: self
                        .attributions
                        .iter()
                        .map(|(a, i, b)| Attribution {
                            attribute: a,
                            insight: values(i),
                            baseline: values(b),
                        })
                        .collect(),
                },
            },
            event_category: "Insight",
        };
        let json = serde_json::to_vec(&record).expect("the record has only strings and numbers");
        InsightRecord {
            account_id: self.account_id.into(),
            aws_region: self.aws_region.into(),
            event_time,
            state: self.state,
            insight_type: self.insight_type,
            event_source: self.event_source.into(),
            event_name: self.event_name.into(),
            event_id,
            shared_event_id,
            json: Bytes::from(json),
        }
    }
}

fn values(v: &[(Arc<str>, f64)]) -> Vec<ValueAverage<'_>> {
    v.iter()
        .map(|(value, avg)| ValueAverage {
            value,
            average: Num(*avg),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_and_integral_ones_have_no_fraction() {
        let j = |x| serde_json::to_string(&Num(x)).unwrap();
        assert_eq!(j(664.0), "664");
        assert_eq!(j(0.6), "0.6");
        assert_eq!(j(85.420238095238), "85.4202380952");
        assert_eq!(j(f64::NAN), "0");
    }

    #[test]
    fn event_time_is_cloudtrail_shaped() {
        assert_eq!(format_event_time(1_573_692_660), "2019-11-14T00:51:00Z");
    }
}
