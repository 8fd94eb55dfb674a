//! Outside input: a request's SigV4 `Authorization`, `X-Amz-Date`, `X-Amz-Content-Sha256` and other headers, target and body through `trailpipe_auth::verify` (and `ApiAccess::authenticate`/`authorize`).
#![no_main]

use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use libfuzzer_sys::fuzz_target;
use trailpipe_auth::{
    classify, verify, ApiAccess, Caller, Credential, CredentialStore, Policy, SecretAccessKey,
};
use trailpipe_fuzz::split_nul;

fn store() -> CredentialStore {
    CredentialStore::new([Credential {
        name: "alice".into(),
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: SecretAccessKey::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        policy: Policy::Read,
        trails: Some(vec![
            "management".into(),
            "arn:aws:cloudtrail:us-east-1:123456789012:trail/audit".into(),
        ]),
        account_id: "123456789012".into(),
    }])
    .expect("valid credential")
}

fuzz_target!(|data: &[u8]| {
    // Layout: control byte, then NUL-separated: request target, headers ("name: value" lines),
    // body, operation name.
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let parts = split_nul(rest, 4);
    let uri = std::str::from_utf8(parts[0])
        .ok()
        .filter(|s| !s.is_empty())
        .and_then(|s| s.parse::<Uri>().ok())
        .unwrap_or_else(|| Uri::from_static("/"));
    let mut headers = HeaderMap::new();
    for line in parts[1].split(|b| *b == b'\n') {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        let value = value.strip_prefix(b" ").unwrap_or(value);
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
            headers.append(n, v);
        }
    }
    let body = parts[2];
    // The verifier's clock: the request's own x-amz-date when it has one (so that the signature
    // computation is reached), shifted by up to ±20 minutes, else a fixed time.
    let date = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| {
            time::PrimitiveDateTime::parse(
                s.get(..15)?,
                time::macros::format_description!("[year][month][day]T[hour][minute][second]"),
            )
            .ok()
        })
        .map(|p| p.assume_utc().unix_timestamp());
    let shift = (i64::from(control >> 2) - 32) * 40;
    let now = date
        .and_then(|d| d.checked_add(shift))
        .and_then(|t| u64::try_from(t).ok())
        .map_or(
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            |t| SystemTime::UNIX_EPOCH + Duration::from_secs(t),
        );
    let method = if control & 1 == 1 {
        Method::GET
    } else {
        Method::POST
    };
    let store = store();
    let _ = verify(&method, &uri, &headers, body, now, &store);

    let access = ApiAccess::new(control & 2 == 2, store);
    let operation = String::from_utf8_lossy(parts[3]);
    let _ = classify(&operation);
    if let Ok(caller) = access.authenticate(&method, &uri, &headers, body, now) {
        for trail in [
            None,
            Some("management"),
            Some("arn:aws:cloudtrail:us-east-1:123456789012:trail/audit"),
            Some(&*operation),
        ] {
            let _ = access.authorize(&caller, &operation, trail);
        }
        if let Caller::Signed(p) = caller {
            let _ = p.arn();
        }
    }
});
