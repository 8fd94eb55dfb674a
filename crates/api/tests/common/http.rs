//! In-process calls to the router (`tower::ServiceExt::oneshot`) and assertions on the
//! AWS JSON 1.1 answer.

use axum::{
    body::Body,
    http::{Request, StatusCode},
    Router,
};
use serde_json::Value;
use tower::ServiceExt;
use trailpipe_api::{router, TARGET_PREFIX};

use super::TestBackend;

pub struct Reply {
    pub status: StatusCode,
    pub error_type_header: Option<String>,
    pub content_type: Option<String>,
    pub body: Value,
}

pub async fn call_raw(app: Router, op: &str, region: Option<&str>, body: &str) -> Reply {
    let mut req = Request::post("/")
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", format!("{TARGET_PREFIX}.{op}"));
    if let Some(r) = region {
        req = req.header(
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential=testing/20261121/{r}/cloudtrail/aws4_request, \
                 SignedHeaders=host;x-amz-date;x-amz-target, Signature=deadbeef"
            ),
        );
    }
    let resp = app
        .oneshot(req.body(Body::from(body.to_owned())).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let header = |n: &str| {
        resp.headers()
            .get(n)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let error_type_header = header("x-amzn-errortype");
    let content_type = header("content-type");
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    Reply {
        status,
        error_type_header,
        content_type,
        body,
    }
}

pub async fn call(b: &TestBackend, op: &str, region: Option<&str>, body: Value) -> Reply {
    call_raw(router(b.clone()), op, region, &body.to_string()).await
}

pub fn assert_error(r: &Reply, name: &str) {
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
    assert_eq!(r.body["__type"], name, "{:?}", r.body);
    assert_eq!(r.error_type_header.as_deref(), Some(name));
    assert!(r.body["message"].as_str().is_some_and(|m| !m.is_empty()));
}

pub fn names(r: &Reply, list: &str) -> Vec<String> {
    r.body[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["Name"].as_str().unwrap().to_owned())
        .collect()
}
