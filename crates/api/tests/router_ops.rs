//! The CloudTrail API through the router in-process: event selectors, public keys, event
//! history pass-through and tags.

mod common;

use axum::http::StatusCode;
use common::{
    http::{assert_error, call},
    TestBackend, ACCOUNT,
};
use serde_json::json;

#[tokio::test]
async fn event_selectors_default_put_and_get_round_trip() {
    let b = TestBackend::new();
    let r = call(
        &b,
        "GetEventSelectors",
        None,
        json!({"TrailName": "management"}),
    )
    .await;
    assert_eq!(
        r.body["TrailARN"],
        format!("arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/management")
    );
    assert_eq!(
        r.body["EventSelectors"],
        json!([{"ReadWriteType": "All", "IncludeManagementEvents": true,
        "DataResources": [], "ExcludeManagementEventSources": []}])
    );
    assert!(r.body.get("AdvancedEventSelectors").is_none());

    let advanced = json!([{"Name": "s3 writes", "FieldSelectors": [
        {"Field": "eventCategory", "Equals": ["Data"]},
        {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
        {"Field": "resources.ARN", "StartsWith": ["arn:aws:s3:::b/"], "NotEndsWith": [".tmp"]}]}]);
    let r = call(
        &b,
        "PutEventSelectors",
        None,
        json!({"TrailName": "management", "AdvancedEventSelectors": advanced}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["AdvancedEventSelectors"], advanced);
    let r = call(
        &b,
        "GetEventSelectors",
        None,
        json!({"TrailName": "management"}),
    )
    .await;
    assert_eq!(r.body["AdvancedEventSelectors"], advanced);
    assert!(r.body.get("EventSelectors").is_none());

    let basic = json!([{"ReadWriteType": "WriteOnly"}]);
    let r = call(
        &b,
        "PutEventSelectors",
        None,
        json!({"TrailName": "east-data", "EventSelectors": basic}),
    )
    .await;
    assert_eq!(r.body["EventSelectors"][0]["ReadWriteType"], "WriteOnly");
    assert_eq!(r.body["EventSelectors"][0]["IncludeManagementEvents"], true);
}

#[tokio::test]
async fn put_event_selectors_rejects_bad_input_before_the_backend() {
    let b = TestBackend::new();
    let both =
        json!({"TrailName": "management", "EventSelectors": [], "AdvancedEventSelectors": []});
    assert_error(
        &call(&b, "PutEventSelectors", None, both).await,
        "InvalidEventSelectorsException",
    );
    let bad_rw =
        json!({"TrailName": "management", "EventSelectors": [{"ReadWriteType": "Sometimes"}]});
    assert_error(
        &call(&b, "PutEventSelectors", None, bad_rw).await,
        "InvalidEventSelectorsException",
    );
    let six = json!({"TrailName": "management", "EventSelectors": [{}, {}, {}, {}, {}, {}]});
    assert_error(
        &call(&b, "PutEventSelectors", None, six).await,
        "InvalidEventSelectorsException",
    );
    let arn = format!("arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/management");
    let elsewhere = json!({"TrailName": arn, "EventSelectors": [{}]});
    assert_error(
        &call(&b, "PutEventSelectors", Some("us-west-2"), elsewhere).await,
        "InvalidHomeRegionException",
    );
    assert!(b.state().selectors.is_empty());
}

#[tokio::test]
async fn list_public_keys_sends_base64_der_and_checks_the_range() {
    let b = TestBackend::new();
    let r = call(
        &b,
        "ListPublicKeys",
        None,
        json!({"StartTime": 1_453_000_000, "EndTime": 1_453_100_000.5}),
    )
    .await;
    let k = &r.body["PublicKeyList"][0];
    use base64::Engine as _;
    let der = base64::engine::general_purpose::STANDARD
        .decode(k["Value"].as_str().unwrap())
        .unwrap();
    assert_eq!(der, common::KEY_DER);
    assert_eq!(k["ValidityStartTime"].as_f64(), Some(1_453_076_702.0));
    assert_eq!(k["ValidityEndTime"].as_f64(), Some(1_455_668_702.0));
    assert_eq!(k["Fingerprint"], "7f3f401420072e50a65a141430817ab3");
    let (start, end) = b.state().key_queries[0];
    assert_eq!(start.unwrap().unix_timestamp(), 1_453_000_000);
    assert_eq!(
        end.unwrap().unix_timestamp_nanos(),
        1_453_100_000_500_000_000
    );
    let r = call(
        &b,
        "ListPublicKeys",
        None,
        json!({"StartTime": 2, "EndTime": 1}),
    )
    .await;
    assert_error(&r, "InvalidTimeRangeException");
    let r = call(
        &b,
        "ListPublicKeys",
        None,
        json!({"StartTime": "yesterday"}),
    )
    .await;
    assert_error(&r, "SerializationException");
    assert_eq!(b.state().key_queries.len(), 1);
}

#[tokio::test]
async fn lookup_events_passes_region_and_body_through_and_keeps_backend_errors() {
    let b = TestBackend::new();
    let req = json!({"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "ConsoleLogin"}], "MaxResults": 5});
    let r = call(&b, "LookupEvents", Some("ap-south-1"), req.clone()).await;
    assert_eq!(r.body["Events"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["Events"][0]["EventName"], "ConsoleLogin");
    assert_eq!(b.state().lookups[0], ("ap-south-1".to_owned(), req));
    let two = json!({"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "a"},
                                          {"AttributeKey": "Username", "AttributeValue": "b"}]});
    assert_error(
        &call(&b, "LookupEvents", None, two).await,
        "InvalidLookupAttributesException",
    );
}

#[tokio::test]
async fn tags_are_added_listed_and_removed_by_trail_arn() {
    let b = TestBackend::new();
    let arn = format!("arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/management");
    let add =
        json!({"ResourceId": arn, "TagsList": [{"Key": "team", "Value": "sec"}, {"Key": "flag"}]});
    assert_eq!(call(&b, "AddTags", None, add).await.status, StatusCode::OK);
    let r = call(&b, "ListTags", None, json!({"ResourceIdList": [arn]})).await;
    assert_eq!(
        r.body,
        json!({"ResourceTagList": [{"ResourceId": arn,
        "TagsList": [{"Key": "team", "Value": "sec"}, {"Key": "flag"}]}]})
    );
    let rm = json!({"ResourceId": arn, "TagsList": [{"Key": "team"}]});
    assert_eq!(
        call(&b, "RemoveTags", None, rm).await.status,
        StatusCode::OK
    );
    assert_eq!(b.state().tags["management"].len(), 1);

    let missing = format!("arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/nosuch");
    let r = call(&b, "ListTags", None, json!({"ResourceIdList": [missing]})).await;
    assert_error(&r, "ResourceNotFoundException");
    let r = call(
        &b,
        "AddTags",
        None,
        json!({"ResourceId": "management", "TagsList": []}),
    )
    .await;
    assert_error(&r, "CloudTrailARNInvalidException");
    let long = json!({"ResourceId": arn, "TagsList": [{"Key": "k".repeat(129)}]});
    assert_error(
        &call(&b, "AddTags", None, long).await,
        "InvalidTagParameterException",
    );
    let r = call(
        &b,
        "ListTags",
        None,
        json!({"ResourceIdList": [arn], "NextToken": "x"}),
    )
    .await;
    assert_error(&r, "InvalidTokenException");
}

#[tokio::test]
async fn insight_selectors_are_reported_and_a_trail_without_them_is_refused() {
    let b = TestBackend::new();
    let r = call(
        &b,
        "GetInsightSelectors",
        None,
        json!({"TrailName": "management"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        r.body,
        json!({
            "TrailARN": format!("arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/management"),
            "InsightSelectors": [
                {"InsightType": "ApiCallRateInsight", "EventCategories": ["Management"]},
                {"InsightType": "ApiErrorRateInsight", "EventCategories": ["Management"]}
            ]
        })
    );
    assert_error(
        &call(
            &b,
            "GetInsightSelectors",
            None,
            json!({"TrailName": "east-data"}),
        )
        .await,
        "InsightNotEnabledException",
    );
    let r = call(&b, "GetTrail", None, json!({"Name": "management"})).await;
    assert_eq!(r.body["Trail"]["HasInsightSelectors"], true);
}
