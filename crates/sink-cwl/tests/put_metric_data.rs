//! PutMetricData on the wire: [`MetricPublisher::publish`] with the real aws-sdk-cloudwatch
//! client, against a CloudWatch stand-in on loopback.
//!
//! Why a test-side endpoint and not moto: aws-sdk-cloudwatch 1.140 speaks only Smithy
//! RPCv2-CBOR, and moto (the AWS API server of the other tests) answers CloudWatch only in the
//! query/XML protocol. The axum server here stands in for AWS, not for our code: it records each
//! request the SDK sends (gunzipping it: PutMetricData has request compression), answers as
//! CloudWatch does (200, `smithy-protocol: rpc-v2-cbor`, an empty CBOR map) or with a CBOR error
//! (`__type`, which the SDK reads as the error code), and the tests decode the bodies with
//! minicbor. No external services are needed.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use minicbor::data::{Tag, Type};
use minicbor::decode::Error as CborError;
use serde_json::{json, Map, Value};
use trailpipe_sink_cwl::metric_names::METRIC_DATA_PUBLISHED;
use trailpipe_sink_cwl::{
    CwlError, CwlTrailConfig, ErrorClass, MetricEvaluator, MetricPublisher, StatisticSet,
    MAX_DATUMS_PER_CALL,
};

const PUT_METRIC_DATA: &str = "/service/GraniteServiceVersion20100801/operation/PutMetricData";
const S3_NAMESPACE: &str = "Trailpipe/S3";

/// One request as the endpoint received it.
struct Call {
    method: Method,
    path: String,
    headers: HeaderMap,
    /// The body (gunzipped when `content-encoding: gzip`) as JSON, or a string saying why not.
    body: Value,
    /// JSON pointers of the body's tag-1 (epoch time) items.
    tagged: Vec<String>,
}

/// The CloudWatch stand-in: every request, and which one (0-based) to answer with an error.
struct Endpoint {
    calls: Mutex<Vec<Call>>,
    fail_call: Option<usize>,
}

/// Starts the endpoint on 127.0.0.1:0; returns its URL.
async fn start(fail_call: Option<usize>) -> (String, Arc<Endpoint>) {
    let calls = Mutex::default();
    let ep = Arc::new(Endpoint { calls, fail_call });
    let app = axum::Router::new().fallback(answer).with_state(ep.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, ep)
}

async fn answer(
    State(ep): State<Arc<Endpoint>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut raw = body.to_vec();
    if headers.get("content-encoding").is_some_and(|v| v == "gzip") {
        raw.clear();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut raw)
            .expect("gzip body");
    }
    let mut tagged = Vec::new();
    let body = to_json(&mut minicbor::Decoder::new(&raw), "", &mut tagged)
        .unwrap_or_else(|e| format!("not CBOR: {e}").into());
    let path = uri.path().to_string();
    let mut calls = ep.calls.lock().unwrap();
    let fail = ep.fail_call == Some(calls.len());
    calls.push(Call {
        method,
        path,
        headers,
        body,
        tagged,
    });
    let (status, body) = if fail {
        let message = "The value NaN for parameter MetricData.member.1.Value is invalid.";
        let error = [("__type", "InvalidParameterValue"), ("message", message)];
        (StatusCode::BAD_REQUEST, cbor_map(&error))
    } else {
        (StatusCode::OK, cbor_map(&[]))
    };
    let headers = [
        ("smithy-protocol", "rpc-v2-cbor"),
        ("content-type", "application/cbor"),
    ];
    (status, headers, body).into_response()
}

/// A CBOR map of text to text (`&[]`: 0xA0, the empty map).
fn cbor_map(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut e = minicbor::Encoder::new(Vec::new());
    e.map(pairs.len() as u64).unwrap();
    for (k, v) in pairs {
        e.str(k).unwrap().str(v).unwrap();
    }
    e.into_writer()
}

/// The CBOR item at `d` as JSON. Tag-1 (epoch time) items keep their number; their JSON
/// pointers go to `tagged`.
fn to_json(
    d: &mut minicbor::Decoder,
    at: &str,
    tagged: &mut Vec<String>,
) -> Result<Value, CborError> {
    Ok(match d.datatype()? {
        Type::Map | Type::MapIndef => {
            let len = d.map()?;
            let mut m = Map::new();
            let mut i = 0;
            while len.map_or(d.datatype()? != Type::Break, |n| i < n) {
                let k = d.str()?.to_string();
                let v = to_json(d, &format!("{at}/{k}"), tagged)?;
                m.insert(k, v);
                i += 1;
            }
            if len.is_none() {
                d.skip()?; // the break
            }
            Value::Object(m)
        }
        Type::Array | Type::ArrayIndef => {
            let len = d.array()?;
            let mut v = Vec::new();
            while len.map_or(d.datatype()? != Type::Break, |n| (v.len() as u64) < n) {
                v.push(to_json(d, &format!("{at}/{}", v.len()), tagged)?);
            }
            if len.is_none() {
                d.skip()?;
            }
            Value::Array(v)
        }
        Type::String => d.str()?.into(),
        Type::StringIndef => d.str_iter()?.collect::<Result<String, _>>()?.into(),
        Type::Bool => d.bool()?.into(),
        Type::Null | Type::Undefined => {
            d.skip()?;
            Value::Null
        }
        Type::F16 | Type::F32 | Type::F64 => json!(d.f64()?),
        Type::U8 | Type::U16 | Type::U32 | Type::U64 => d.u64()?.into(),
        Type::I8 | Type::I16 | Type::I32 | Type::I64 => d.i64()?.into(),
        Type::Tag if d.probe().tag()? == Tag::new(1) => {
            d.tag()?;
            tagged.push(at.to_string());
            to_json(d, at, tagged)?
        }
        t => return Err(CborError::message(format!("unexpected CBOR item {t}"))),
    })
}

/// A trail whose filters turn S3 data events into `BytesIn`/`BytesOut` per `Bucket`
/// (unit `Bytes`); with `cis`, the CIS filters too (namespace `CloudTrailMetrics`, no unit).
fn evaluator(cis: bool) -> MetricEvaluator {
    let filter = |metric: &str, field: &str| {
        json!({"filter_name": metric, "filter_pattern": r#"{ $.eventSource = "s3.amazonaws.com" }"#,
            "metric_transformations": [{"metric_name": metric, "metric_namespace": S3_NAMESPACE,
                "metric_value": format!("$.additionalEventData.{field}"),
                "dimensions": {"Bucket": "$.requestParameters.bucketName"}, "unit": "Bytes"}]})
    };
    let cfg: CwlTrailConfig = serde_json::from_value(json!({
        "cloud_watch_logs_log_group": "trail-logs", "publish_metric_data": true,
        "cis_benchmark_filters": cis,
        "metric_filters": [filter("BytesIn", "bytesTransferredIn"),
                           filter("BytesOut", "bytesTransferredOut")]}))
    .unwrap();
    MetricEvaluator::new(&cfg).unwrap()
}

/// An S3 data event as CloudTrail writes it.
fn s3_event(name: &str, bucket: &str, bytes_in: u64, bytes_out: u64) -> String {
    json!({"eventVersion": "1.10", "eventTime": "2025-05-01T12:00:00Z",
        "userIdentity": {"type": "AssumedRole", "principalId": "AROAEXAMPLE:app", "accountId": "123456789012"},
        "eventSource": "s3.amazonaws.com", "eventName": name, "awsRegion": "us-east-1",
        "sourceIPAddress": "192.0.2.10", "userAgent": "aws-sdk-rust",
        "requestParameters": {"bucketName": bucket, "key": "data/part-0001.parquet"},
        "responseElements": null,
        "additionalEventData": {"bytesTransferredIn": bytes_in, "bytesTransferredOut": bytes_out},
        "eventID": format!("{bucket}-{bytes_in}-{bytes_out}"), "readOnly": bytes_in == 0,
        "eventType": "AwsApiCall", "managementEvent": false, "recipientAccountId": "123456789012",
        "eventCategory": "Data"})
    .to_string()
}

const ROOT_LOGIN: &str = r#"{"eventVersion":"1.10","eventTime":"2025-05-01T12:00:00Z","userIdentity":{"type":"Root","principalId":"123456789012","accountId":"123456789012"},"eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","awsRegion":"us-east-1","sourceIPAddress":"192.0.2.1","responseElements":{"ConsoleLogin":"Success"},"additionalEventData":{"MFAUsed":"Yes"},"eventID":"e-root","eventType":"AwsConsoleSignIn","managementEvent":true,"recipientAccountId":"123456789012"}"#;

/// A datum's (namespace, metric, dimensions as `name=value` joined by `,`).
type Key = (String, String, String);

fn key(namespace: &str, metric: &str, dimensions: &str) -> Key {
    (namespace.into(), metric.into(), dimensions.into())
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("{v} is not text"))
}

/// Every datum of every call, after checking each call is a PutMetricData RPCv2-CBOR POST
/// whose datums each have a tag-1 `Timestamp` within a minute of now (and nothing else tagged).
/// Per datum: its key, [SampleCount, Sum, Minimum, Maximum], the datum.
fn datums(calls: &[Call]) -> Vec<(Key, [f64; 4], Value)> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let mut out = Vec::new();
    for call in calls {
        assert_eq!(call.method, Method::POST);
        assert_eq!(call.path, PUT_METRIC_DATA);
        assert_eq!(call.headers["smithy-protocol"], "rpc-v2-cbor");
        let body = &call.body;
        let data = body["MetricData"].as_array().expect("MetricData");
        let stamps = (0..data.len()).map(|i| format!("/MetricData/{i}/Timestamp"));
        assert_eq!(call.tagged, stamps.collect::<Vec<_>>(), "tag-1 Timestamps");
        for d in data {
            let ts = d["Timestamp"].as_f64().expect("Timestamp");
            assert!(
                (ts - now.as_secs_f64()).abs() < 60.0,
                "Timestamp {ts}, now {now:?}"
            );
            let dims: Vec<String> = (d["Dimensions"].as_array().into_iter().flatten())
                .map(|x| format!("{}={}", text(&x["Name"]), text(&x["Value"])))
                .collect();
            let stat = |k| {
                d["StatisticValues"][k]
                    .as_f64()
                    .unwrap_or_else(|| panic!("{d}"))
            };
            let stats = ["SampleCount", "Sum", "Minimum", "Maximum"].map(stat);
            let ns = text(&body["Namespace"]);
            out.push((
                key(ns, text(&d["MetricName"]), &dims.join(",")),
                stats,
                d.clone(),
            ));
        }
    }
    out
}

/// `MetricPublisher::publish` of `ev`'s statistics to the endpoint at `url`; also returns the
/// sets `publish` left unsent.
async fn publish(url: &str, ev: &MetricEvaluator) -> (Result<usize, CwlError>, Vec<StatisticSet>) {
    let publisher = MetricPublisher::new(&common::offline(Some(url)));
    let mut stats = ev.take_statistics();
    let r = publisher.publish(&mut stats).await;
    (r, stats)
}

#[tokio::test]
async fn publish_sends_statistic_sets_per_namespace_as_cloudwatch_expects() {
    let (url, ep) = start(None).await;
    let ev = evaluator(true);
    // (event, bucket, bytes in, bytes out): the records' values and the model's input.
    let s3 = [
        ("GetObject", "logs-a", 0, 1_048_576),
        ("GetObject", "logs-a", 0, 512),
        ("PutObject", "logs-a", 2_000, 0),
        ("GetObject", "media-b", 0, 73),
        ("PutObject", "media-b", 5, 0),
        ("PutObject", "media-b", 9_999, 0),
    ];
    let mut model: BTreeMap<Key, [f64; 4]> = BTreeMap::new();
    let mut add = |k: Key, v: f64| {
        let s = model.entry(k).or_insert([0.0, 0.0, f64::MAX, f64::MIN]);
        *s = [s[0] + 1.0, s[1] + v, s[2].min(v), s[3].max(v)];
    };
    for (name, bucket, bytes_in, bytes_out) in s3 {
        ev.observe(s3_event(name, bucket, bytes_in, bytes_out).as_bytes());
        let dims = format!("Bucket={bucket}");
        add(key(S3_NAMESPACE, "BytesIn", &dims), bytes_in as f64);
        add(key(S3_NAMESPACE, "BytesOut", &dims), bytes_out as f64);
    }
    for _ in 0..2 {
        ev.observe(ROOT_LOGIN.as_bytes());
        add(key("CloudTrailMetrics", "RootAccountUsage", ""), 1.0);
    }

    let (sent, unsent) = publish(&url, &ev).await;
    assert_eq!(sent.unwrap(), model.len());
    assert!(unsent.is_empty());
    let calls = ep.calls.lock().unwrap();
    assert_eq!(calls.len(), 2, "one call per namespace");
    let got = datums(&calls);
    let stats: BTreeMap<Key, [f64; 4]> = got.iter().map(|(k, s, _)| (k.clone(), *s)).collect();
    assert_eq!(stats, model);
    for ((namespace, ..), _, d) in &got {
        let unit = (namespace == S3_NAMESPACE).then_some("Bytes");
        assert_eq!(d["Unit"].as_str(), unit, "{d}");
    }
}

/// Observes one S3 event in each of `buckets` buckets: two datums (BytesIn, BytesOut) each.
fn many_datums(ev: &MetricEvaluator, buckets: usize) -> BTreeSet<Key> {
    let mut keys = BTreeSet::new();
    for i in 0..buckets {
        let bucket = format!("bucket-{i:04}");
        ev.observe(s3_event("PutObject", &bucket, i as u64, 1).as_bytes());
        keys.insert(key(S3_NAMESPACE, "BytesIn", &format!("Bucket={bucket}")));
        keys.insert(key(S3_NAMESPACE, "BytesOut", &format!("Bucket={bucket}")));
    }
    keys
}

#[tokio::test]
async fn publish_splits_more_than_max_datums_into_calls_sending_each_once() {
    let (url, ep) = start(None).await;
    let ev = evaluator(false);
    let expected = many_datums(&ev, 600);
    assert!(
        expected.len() > 2 * MAX_DATUMS_PER_CALL,
        "a third, partial call"
    );
    let (sent, unsent) = publish(&url, &ev).await;
    assert_eq!(sent.unwrap(), expected.len());
    assert!(unsent.is_empty());
    let calls = ep.calls.lock().unwrap();
    assert_eq!(calls.len(), expected.len().div_ceil(MAX_DATUMS_PER_CALL));
    for call in calls.iter() {
        let n = call.body["MetricData"].as_array().unwrap().len();
        assert!(
            (1..=MAX_DATUMS_PER_CALL).contains(&n),
            "{n} datums in a call"
        );
    }
    let got: Vec<Key> = datums(&calls).into_iter().map(|(k, _, _)| k).collect();
    assert_eq!(got.len(), expected.len(), "no datum sent twice");
    assert_eq!(BTreeSet::from_iter(got), expected);
}

#[tokio::test]
async fn publish_error_answer_is_an_err_with_its_code_and_stops_counting() {
    let (url, ep) = start(Some(1)).await;
    let rec = DebuggingRecorder::new();
    let _guard = metrics::set_default_local_recorder(&rec);
    let ev = evaluator(false);
    assert!(many_datums(&ev, 600).len() > 2 * MAX_DATUMS_PER_CALL);
    let (r, unsent) = publish(&url, &ev).await;
    let err = r.expect_err("the second call is refused");
    let msg = err.to_string();
    // The code itself, not only the SDK's `InvalidParameterValueException` type name.
    let mut words = msg.split(|c: char| !c.is_ascii_alphanumeric());
    assert!(words.any(|w| w == "InvalidParameterValue"), "{msg}");
    assert!(
        msg.contains(S3_NAMESPACE) && msg.contains("Value is invalid"),
        "{msg}"
    );
    assert_eq!(err.class(), ErrorClass::Rejected);
    assert_eq!(
        ep.calls.lock().unwrap().len(),
        2,
        "no call after the refused one"
    );
    let published: u64 = (rec.snapshotter().snapshot().into_vec().into_iter())
        .filter(|(k, _, _, _)| k.key().name() == METRIC_DATA_PUBLISHED)
        .map(|(_, _, _, v)| match v {
            DebugValue::Counter(c) => c,
            v => panic!("{v:?}"),
        })
        .sum();
    assert_eq!(
        published, MAX_DATUMS_PER_CALL as u64,
        "only the accepted call counts"
    );
    // What is left is exactly what was not accepted: the refused call's sets and the rest.
    let accepted: BTreeSet<Key> = datums(&ep.calls.lock().unwrap()[..1])
        .into_iter()
        .map(|(k, _, _)| k)
        .collect();
    let left: BTreeSet<Key> = unsent
        .iter()
        .map(|s| {
            let dims: Vec<String> = s
                .dimensions
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            key(&s.namespace, &s.metric, &dims.join(","))
        })
        .collect();
    assert_eq!(left.len(), unsent.len(), "no set left twice");
    assert_eq!(accepted.len(), MAX_DATUMS_PER_CALL);
    assert!(
        accepted.is_disjoint(&left),
        "an accepted set left for a retry"
    );
    assert_eq!(
        accepted.len() + left.len(),
        1_200,
        "a set neither sent nor left"
    );
}
