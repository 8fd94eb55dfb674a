//! S3 through the AWS SDK: PutObject with `If-None-Match: *`, SSE-S3 and
//! `bucket-owner-full-control` (as CloudTrail writes), HeadObject for recorded cuts.

use std::collections::HashMap;

use aws_sdk_s3::{
    config::http::HttpResponse,
    error::{ProvideErrorMetadata, SdkError},
    primitives::ByteStream,
    types::{ObjectCannedAcl, ServerSideEncryption},
    Client,
};
use bytes::Bytes;
use trailpipe_retry::error_chain;

use crate::{store::ObjectInfo, ErrorClass, PutOutcome, StoreError};

/// An S3 client.
#[derive(Clone)]
pub struct S3Store {
    client: Client,
}

fn classify<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>, status: Option<u16>) -> ErrorClass {
    let code = e.code().unwrap_or_default();
    match (status, code) {
        (_, "SlowDown" | "Throttling" | "ThrottlingException" | "RequestLimitExceeded")
        | (Some(429 | 503), _) => ErrorClass::Throttled,
        (None, _) | (Some(500..=599 | 408 | 409), _) | (_, "RequestTimeout" | "InternalError") => {
            ErrorClass::Retriable
        }
        _ => ErrorClass::Permanent,
    }
}

fn store_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
    operation: &'static str,
    bucket: &str,
    key: &str,
    e: &SdkError<E, HttpResponse>,
) -> StoreError {
    let status = e.raw_response().map(|r| r.status().as_u16());
    let message = match e {
        SdkError::ServiceError(s) => format!(
            "{} {}",
            s.err().code().unwrap_or("error"),
            s.err().message().unwrap_or("")
        ),
        other => error_chain(other),
    };
    StoreError {
        operation,
        bucket: bucket.into(),
        key: key.into(),
        message,
        class: classify(e, status),
    }
}

impl S3Store {
    pub(crate) async fn new(
        region: String,
        endpoint: Option<String>,
        force_path_style: Option<bool>,
    ) -> Self {
        let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(region))
            .load()
            .await;
        let mut b = aws_sdk_s3::config::Builder::from(&shared);
        let has_endpoint = endpoint.is_some()
            || std::env::var_os("AWS_ENDPOINT_URL").is_some()
            || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
        if let Some(ep) = endpoint {
            b = b.endpoint_url(ep);
        }
        // S3-compatible servers on custom endpoints rarely resolve bucket subdomains.
        b = b.force_path_style(force_path_style.unwrap_or(has_endpoint));
        // A hung connection must surface as a retriable error (and in /readyz), not stall a
        // partition forever: bound each attempt; delivery retries with backoff.
        b = b.timeout_config(
            aws_sdk_s3::config::timeout::TimeoutConfig::builder()
                .connect_timeout(std::time::Duration::from_secs(5))
                .operation_attempt_timeout(std::time::Duration::from_secs(60))
                .build(),
        );
        Self {
            client: Client::from_conf(b.build()),
        }
    }

    pub(crate) async fn put_new(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        metadata: HashMap<String, String>,
        kms_key_id: Option<&str>,
    ) -> Result<PutOutcome, StoreError> {
        let put = self
            .client
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from(body))
            .if_none_match("*");
        let put = match kms_key_id {
            Some(k) => put
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .ssekms_key_id(k),
            None => put.server_side_encryption(ServerSideEncryption::Aes256),
        };
        let r = put
            .acl(ObjectCannedAcl::BucketOwnerFullControl)
            .set_metadata(Some(metadata))
            .send()
            .await;
        match r {
            Ok(_) => Ok(PutOutcome::Created),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 412) => {
                Ok(PutOutcome::AlreadyExists)
            }
            Err(e) => Err(store_error("PutObject", bucket, key, &e)),
        }
    }

    pub(crate) async fn head(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<HashMap<String, String>>, StoreError> {
        match self
            .client
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => Ok(Some(out.metadata().cloned().unwrap_or_default())),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(None),
            Err(e) => Err(store_error("HeadObject", bucket, key, &e)),
        }
    }

    pub(crate) async fn get(&self, bucket: &str, key: &str) -> Result<Option<Bytes>, StoreError> {
        match self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => out
                .body
                .collect()
                .await
                .map(|b| Some(b.into_bytes()))
                .map_err(|e| StoreError {
                    operation: "GetObject",
                    bucket: bucket.into(),
                    key: key.into(),
                    message: e.to_string(),
                    class: ErrorClass::Retriable,
                }),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(None),
            Err(e) => Err(store_error("GetObject", bucket, key, &e)),
        }
    }

    pub(crate) async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut keys = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| store_error("ListObjectsV2", bucket, prefix, &e))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(String::from)),
            );
        }
        keys.sort();
        Ok(keys)
    }

    pub(crate) async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
    ) -> Result<Vec<ObjectInfo>, StoreError> {
        let mut out = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_start_after(start_after.map(String::from))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| store_error("ListObjectsV2", bucket, prefix, &e))?;
            for o in page.contents() {
                let (Some(key), Some(modified)) = (o.key(), o.last_modified()) else {
                    continue;
                };
                let last_modified =
                    std::time::SystemTime::try_from(*modified).map_err(|e| StoreError {
                        operation: "ListObjectsV2",
                        bucket: bucket.into(),
                        key: key.into(),
                        message: format!("LastModified out of range: {e}"),
                        class: ErrorClass::Permanent,
                    })?;
                out.push(ObjectInfo {
                    key: key.to_string(),
                    last_modified,
                    size: o.size().map_or(0, |s| u64::try_from(s).unwrap_or(0)),
                });
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    pub(crate) async fn list_folders(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .delimiter("/")
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| store_error("ListObjectsV2", bucket, prefix, &e))?;
            out.extend(
                page.common_prefixes()
                    .iter()
                    .filter_map(|p| p.prefix().map(String::from)),
            );
        }
        out.sort();
        Ok(out)
    }
}
