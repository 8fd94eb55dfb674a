//! Outside input: a CloudTrail JSON 1.1 API request (`X-Amz-Target`, `Authorization`, other headers, body) through the real `trailpipe_api::router` with an in-memory backend.
#![no_main]

use std::{
    sync::{Arc, OnceLock},
    time::SystemTime,
};

use aws_credential_types::Credentials;
use aws_sigv4::{
    http_request::{sign, SignableBody, SignableRequest, SigningSettings},
    sign::v4,
};
use axum::{body::Body, http::Request, Router};
use libfuzzer_sys::fuzz_target;
use time::OffsetDateTime;
use tower::ServiceExt;
use trailpipe_api::{
    trail_arn, ApiBackend, ApiError, Operation, PublicKey, SelectorsInfo, Tag, TrailInfo,
    TrailStatus, TARGET_PREFIX,
};
use trailpipe_auth::{ApiAccess, Credential, CredentialStore, Policy, SecretAccessKey};
use trailpipe_fuzz::{runtime, split_nul};

const ACCOUNT: &str = "123456789012";
const ADMIN_KEY: &str = "AKIDFUZZADMIN";
const READ_KEY: &str = "AKIDFUZZREAD";
const SECRET: &str = "fuzz-secret-access-key-0123456789";

/// Stateless: every answer is a function of the request, so a crash reproduces from its input.
#[derive(Clone)]
struct Backend {
    trails: Arc<Vec<TrailInfo>>,
    access: Arc<ApiAccess>,
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
        insight_types: if multi {
            vec!["ApiCallRateInsight".into()]
        } else {
            Vec::new()
        },
        ..TrailInfo::default()
    }
}

fn at(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(secs).expect("in range")
}

impl ApiBackend for Backend {
    fn default_region(&self) -> &str {
        "us-east-1"
    }
    fn access(&self) -> Arc<ApiAccess> {
        self.access.clone()
    }
    fn account_id(&self) -> String {
        ACCOUNT.into()
    }
    async fn record_call(&self, record: serde_json::Value) -> Result<(), ApiError> {
        // What the daemon does with it: serialise and ingest it as a record.
        let _ = serde_json::to_vec(&record);
        Ok(())
    }
    async fn trails(&self) -> Vec<TrailInfo> {
        self.trails.to_vec()
    }
    async fn trail_status(&self, trail: &str) -> Option<TrailStatus> {
        (trail == "management").then(|| TrailStatus {
            is_logging: true,
            latest_delivery_time: Some(at(1_454_022_144)),
            start_logging_time: Some(at(1_446_834_998)),
            latest_delivery_error: Some("AccessDenied".into()),
            ..TrailStatus::default()
        })
    }
    async fn event_selectors(&self, trail: &str) -> Option<SelectorsInfo> {
        (trail == "management").then(SelectorsInfo::cloudtrail_default)
    }
    async fn public_keys(
        &self,
        _start: Option<OffsetDateTime>,
        _end: Option<OffsetDateTime>,
    ) -> Result<Vec<PublicKey>, ApiError> {
        Ok(vec![PublicKey {
            value_der: vec![0x30, 0x03, 0x02, 0x01, 0x03],
            validity_start: at(1_453_076_702),
            validity_end: at(1_455_668_702),
            fingerprint: "7f3f401420072e50a65a141430817ab3".into(),
        }])
    }
    async fn lookup_events(
        &self,
        region: &str,
        body: &[u8],
    ) -> Result<serde_json::Value, ApiError> {
        // The daemon's backend hands the body to the history crate's request parser.
        match trailpipe_history::LookupRequest::from_json(body, region) {
            Ok(_) => Ok(serde_json::json!({ "Events": [] })),
            Err(e) => Err(ApiError::Other {
                error_type: e.aws_error_type(),
                message: e.to_string(),
            }),
        }
    }
    async fn start_logging(&self, _trail: &str) -> Result<(), ApiError> {
        Ok(())
    }
    async fn stop_logging(&self, _trail: &str) -> Result<(), ApiError> {
        Ok(())
    }
    async fn put_event_selectors(
        &self,
        _trail: &str,
        selectors: SelectorsInfo,
    ) -> Result<SelectorsInfo, ApiError> {
        Ok(selectors)
    }
    async fn add_tags(&self, _trail: &str, _tags: Vec<Tag>) -> Result<(), ApiError> {
        Ok(())
    }
    async fn remove_tags(&self, _trail: &str, _tags: Vec<Tag>) -> Result<(), ApiError> {
        Ok(())
    }
    async fn list_tags(&self, trail: &str) -> Result<Vec<Tag>, ApiError> {
        Ok(vec![Tag {
            key: "trail".into(),
            value: Some(trail.into()),
        }])
    }
}

fn app() -> &'static Router {
    static APP: OnceLock<Router> = OnceLock::new();
    APP.get_or_init(|| {
        let credential = |name: &str, key: &str, policy, trails: Option<Vec<String>>| Credential {
            name: name.into(),
            access_key_id: key.into(),
            secret_access_key: SecretAccessKey::new(SECRET),
            policy,
            trails,
            account_id: ACCOUNT.into(),
        };
        let store = CredentialStore::new([
            credential("admin", ADMIN_KEY, Policy::Admin, None),
            credential(
                "reader",
                READ_KEY,
                Policy::Read,
                Some(vec!["management".into()]),
            ),
        ])
        .expect("valid credentials");
        // Unsigned requests may do everything, so every operation's body parser is reachable
        // without a signature; signed ones are verified against the store.
        let backend = Backend {
            trails: Arc::new(vec![
                trail("management", "us-east-1", true),
                trail("east-data", "us-east-1", false),
                trail("west-only", "us-west-2", false),
            ]),
            access: Arc::new(ApiAccess::new(true, store)),
        };
        trailpipe_api::router(backend)
    })
}

/// Signs the request as the AWS SDK would (so that authorization of signed callers is reached).
fn sign_headers(
    headers: &mut Vec<(String, String)>,
    body: &[u8],
    access_key: &str,
    region: &str,
) -> Option<()> {
    let identity = Credentials::new(access_key, SECRET, None, None, "fuzz").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("cloudtrail")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .ok()?
        .into();
    let request = SignableRequest::new(
        "POST",
        "/",
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .ok()?;
    let (instructions, _) = sign(request, &params).ok()?.into_parts();
    let (signed, _) = instructions.into_parts();
    for h in signed {
        headers.push((h.name().to_owned(), h.value().to_owned()));
    }
    Some(())
}

fuzz_target!(|data: &[u8]| {
    // Layout: control byte, then NUL-separated: target, extra headers ("name: value" lines),
    // body.
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let parts = split_nul(rest, 3);
    let target = match control & 0x0f {
        n if (n as usize) < Operation::ALL.len() => {
            format!("{TARGET_PREFIX}.{}", Operation::ALL[n as usize].name())
        }
        _ => String::from_utf8_lossy(parts[0]).into_owned(),
    };
    let body = parts[2];
    let mut headers: Vec<(String, String)> = vec![
        ("host".into(), "localhost:8080".into()),
        ("content-type".into(), "application/x-amz-json-1.1".into()),
        ("x-amz-target".into(), target),
    ];
    for line in parts[1].split(|b| *b == b'\n') {
        let line = String::from_utf8_lossy(line);
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    match control >> 4 {
        // Signed by a configured credential (admin or read-only), for a region the fuzzer may
        // pick from the extra-headers part.
        1 | 2 => {
            let region = if parts[0].is_empty() {
                "us-east-1".to_owned()
            } else {
                String::from_utf8_lossy(parts[0]).into_owned()
            };
            let key = if control >> 4 == 1 {
                ADMIN_KEY
            } else {
                READ_KEY
            };
            let _ = sign_headers(&mut headers, body, key, &region);
        }
        _ => {}
    }
    let mut request = Request::builder().method("POST").uri("/");
    for (k, v) in &headers {
        request = request.header(k.as_str(), v.as_str());
    }
    let Ok(request) = request.body(Body::from(body.to_vec())) else {
        return; // not a valid HTTP request: hyper would have refused it before the router
    };
    runtime().block_on(async {
        let response = app().clone().oneshot(request).await.expect("infallible");
        let _ = axum::body::to_bytes(response.into_body(), usize::MAX).await;
    });
});
