//! The CloudTrail API through the router in-process: trail operations (region rules, response
//! shapes) and protocol-level error framing.

mod common;

use axum::{
    body::Body,
    http::{Request, StatusCode},
    routing::get,
    Router,
};
use common::{
    http::{assert_error, call, call_raw, names},
    TestBackend, ACCOUNT,
};
use serde_json::json;
use tower::ServiceExt;
use trailpipe_api::router;

#[tokio::test]
async fn describe_trails_shows_home_trails_plus_shadow_trails_of_the_signed_region() {
    let b = TestBackend::new();
    let west = call(&b, "DescribeTrails", Some("us-west-2"), json!({})).await;
    assert_eq!(west.status, StatusCode::OK);
    assert_eq!(
        west.content_type.as_deref(),
        Some("application/x-amz-json-1.1")
    );
    assert_eq!(names(&west, "trailList"), ["management", "west-only"]);
    let no_shadow = call(
        &b,
        "DescribeTrails",
        Some("us-west-2"),
        json!({"includeShadowTrails": false}),
    )
    .await;
    assert_eq!(names(&no_shadow, "trailList"), ["west-only"]);
    // Unsigned requests use the backend's default region (us-east-1).
    let east = call(&b, "DescribeTrails", None, json!({})).await;
    assert_eq!(
        names(&east, "trailList"),
        ["management", "east-data", "broken"]
    );
    let t = &east.body["trailList"][0];
    assert_eq!(
        t["TrailARN"],
        format!("arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/management")
    );
    assert_eq!(t["S3BucketName"], "management-bucket");
    assert_eq!(t["S3KeyPrefix"], "prod");
    assert_eq!(t["IsMultiRegionTrail"], true);
    assert_eq!(t["HomeRegion"], "us-east-1");
    assert_eq!(t["LogFileValidationEnabled"], true);
    assert_eq!(t["HasCustomEventSelectors"], false);
    assert!(t.get("KmsKeyId").is_none() && t.get("SnsTopicARN").is_none());
    assert!(east.body["trailList"][1].get("S3KeyPrefix").is_none());
}

#[tokio::test]
async fn describe_trails_by_name_list_skips_unknown_and_reaches_other_regions_by_arn() {
    let b = TestBackend::new();
    let west_arn = format!("arn:aws:cloudtrail:us-west-2:{ACCOUNT}:trail/west-only");
    let r = call(
        &b,
        "DescribeTrails",
        Some("us-east-1"),
        json!({"trailNameList": ["east-data", "west-only", "nosuch", &west_arn, "east-data"]}),
    )
    .await;
    assert_eq!(names(&r, "trailList"), ["east-data", "west-only"]);
    let bad = call(
        &b,
        "DescribeTrails",
        None,
        json!({"trailNameList": ["a..b"]}),
    )
    .await;
    assert_error(&bad, "InvalidTrailNameException");
    let bad_arn = call(
        &b,
        "DescribeTrails",
        None,
        json!({"trailNameList": ["arn:aws:s3:::x"]}),
    )
    .await;
    assert_error(&bad_arn, "CloudTrailARNInvalidException");
}

#[tokio::test]
async fn get_trail_finds_names_in_the_home_region_and_arns_anywhere() {
    let b = TestBackend::new();
    let r = call(
        &b,
        "GetTrail",
        Some("us-west-2"),
        json!({"Name": "west-only"}),
    )
    .await;
    assert_eq!(r.body["Trail"]["Name"], "west-only");
    let r = call(
        &b,
        "GetTrail",
        Some("us-east-1"),
        json!({"Name": "west-only"}),
    )
    .await;
    assert_error(&r, "TrailNotFoundException");
    let arn = format!("arn:aws:cloudtrail:us-west-2:{ACCOUNT}:trail/west-only");
    let r = call(&b, "GetTrail", Some("us-east-1"), json!({"Name": arn})).await;
    assert_eq!(r.body["Trail"]["HomeRegion"], "us-west-2");
    let r = call(&b, "GetTrail", None, json!({})).await;
    assert_error(&r, "InvalidTrailNameException");
}

#[tokio::test]
async fn list_trails_lists_every_region() {
    let b = TestBackend::new();
    let r = call(&b, "ListTrails", Some("eu-west-1"), json!({})).await;
    let trails = r.body["Trails"].as_array().unwrap();
    assert_eq!(trails.len(), 4);
    assert_eq!(
        trails[2],
        json!({"Name": "west-only", "HomeRegion": "us-west-2",
        "TrailARN": format!("arn:aws:cloudtrail:us-west-2:{ACCOUNT}:trail/west-only")})
    );
}

#[tokio::test]
async fn get_trail_status_sends_epoch_seconds_errors_and_legacy_strings() {
    let b = TestBackend::new();
    let r = call(&b, "GetTrailStatus", None, json!({"Name": "management"})).await;
    assert_eq!(r.status, StatusCode::OK);
    let s = &r.body;
    assert_eq!(s["IsLogging"], true);
    assert_eq!(s["LatestDeliveryTime"].as_f64(), Some(1_454_022_144.869));
    assert_eq!(s["StartLoggingTime"].as_f64(), Some(1_446_834_998.695));
    assert_eq!(s["LatestDigestDeliveryError"], "AccessDenied");
    assert_eq!(s["LatestDeliveryAttemptSucceeded"], "2016-01-28T23:02:24Z");
    assert_eq!(s["LatestDeliveryAttemptTime"], "2016-01-28T23:02:24Z");
    assert_eq!(s["TimeLoggingStarted"], "2015-11-06T18:36:38Z");
    assert_eq!(s["TimeLoggingStopped"], "");
    assert!(s.get("StopLoggingTime").is_none() && s.get("LatestDeliveryError").is_none());
    // A known trail without recorded status answers from TrailInfo::is_logging.
    let r = call(&b, "GetTrailStatus", None, json!({"Name": "east-data"})).await;
    assert_eq!(r.body["IsLogging"], false);
    let r = call(&b, "GetTrailStatus", None, json!({"Name": "nosuch"})).await;
    assert_error(&r, "TrailNotFoundException");
}

#[tokio::test]
async fn start_and_stop_logging_change_status_only_in_the_home_region() {
    let b = TestBackend::new();
    let r = call(&b, "StopLogging", None, json!({"Name": "management"})).await;
    assert_eq!((r.status, &r.body), (StatusCode::OK, &json!({})));
    let s = call(&b, "GetTrailStatus", None, json!({"Name": "management"})).await;
    assert_eq!(s.body["IsLogging"], false);
    assert!(s.body["StopLoggingTime"].is_f64());
    let arn = format!("arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/management");
    let r = call(&b, "StartLogging", Some("eu-west-1"), json!({"Name": arn})).await;
    assert_error(&r, "InvalidHomeRegionException");
    let r = call(&b, "StartLogging", Some("us-east-1"), json!({"Name": arn})).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(b.state().status["management"].is_logging);
}

#[tokio::test]
async fn backend_internal_failures_are_500_internal_failure() {
    let b = TestBackend::new();
    let r = call(&b, "StartLogging", None, json!({"Name": "broken"})).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(r.body["__type"], "InternalFailure");
}

#[tokio::test]
async fn protocol_errors_name_the_aws_exception() {
    let b = TestBackend::new();
    let r = call(&b, "CreateTrail", None, json!({})).await;
    assert_error(&r, "UnknownOperationException");
    let app = router(b.clone());
    let req = Request::post("/").body(Body::from("{}")).unwrap();
    let resp = app.oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        resp.headers()["x-amzn-errortype"],
        "UnknownOperationException"
    );
    let r = call_raw(router(b.clone()), "GetTrail", None, "{\"Name\": ").await;
    assert_error(&r, "SerializationException");
    let r = call_raw(router(b.clone()), "GetTrail", None, "{\"Name\": 7}").await;
    assert_error(&r, "SerializationException");
    // An empty body is an empty input.
    let r = call_raw(router(b), "DescribeTrails", None, "").await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn merged_router_still_serves_the_other_endpoints() {
    let app = Router::new()
        .route("/metrics", get(|| async { "metric 1\n" }))
        .route("/healthz", get(|| async { "ok\n" }))
        .merge(router(TestBackend::new()));
    let resp = app
        .clone()
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body = axum::body::to_bytes(resp.into_body(), 1024).await.unwrap();
    assert_eq!(&body[..], b"metric 1\n");
    let r = call_raw(app.clone(), "ListTrails", None, "{}").await;
    assert_eq!(r.status, StatusCode::OK);
    let resp = app
        .oneshot(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
}

/// Past the backend's rate, an unverified call runs nothing, is answered
/// `ThrottlingException` and leaves no record (anyone who reaches the port could otherwise
/// write records without bound).
#[tokio::test]
async fn unverified_calls_past_the_backends_rate_run_nothing_and_are_not_recorded() {
    let b = TestBackend::new();
    b.state().unverified_budget = Some(1);
    let first = call(&b, "StopLogging", None, json!({"Name": "management"})).await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    let second = call(&b, "StartLogging", None, json!({"Name": "management"})).await;
    assert_error(&second, "ThrottlingException");
    assert!(
        !b.state().status["management"].is_logging,
        "the refused call ran"
    );
    let records = &b.state().records;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["eventName"], "StopLogging");
}
