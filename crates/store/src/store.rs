//! The object store behind log files: S3 (or an S3-compatible server) or a local directory laid
//! out as `<local_root>/<bucket>/<key>`. Both offer the same create-only put.

use std::collections::HashMap;

use bytes::Bytes;

use crate::{local::LocalStore, s3::S3Store, StoreError};

/// Result of a create-only put.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// The object was created.
    Created,
    /// An object already existed at the key (S3 412 Precondition Failed); nothing was written.
    AlreadyExists,
}

/// A listed object: its key and S3 `LastModified` (a local store's file modification time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The object's key.
    pub key: String,
    /// When the object was written.
    pub last_modified: std::time::SystemTime,
    /// Its size in bytes.
    pub size: u64,
}

/// An object store with create-only writes.
#[derive(Clone)]
pub enum Store {
    /// Amazon S3 / S3-compatible, through the AWS SDK.
    S3(S3Store),
    /// A local directory.
    Local(LocalStore),
}

impl Store {
    /// S3 in `region`, at `endpoint` when given (else `AWS_ENDPOINT_URL` or AWS), credentials from
    /// the default chain (env, profile, web identity, instance metadata).
    pub async fn s3(
        region: String,
        endpoint: Option<String>,
        force_path_style: Option<bool>,
    ) -> Self {
        Self::S3(S3Store::new(region, endpoint, force_path_style).await)
    }

    /// A local directory store.
    pub fn local(root: std::path::PathBuf) -> Self {
        Self::Local(LocalStore::new(root))
    }

    /// Writes `body` at `bucket/key` only if nothing is there yet, with user `metadata`.
    pub async fn put_new(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        metadata: HashMap<String, String>,
    ) -> Result<PutOutcome, StoreError> {
        match self {
            Self::S3(s) => s.put_new(bucket, key, body, metadata, None).await,
            Self::Local(l) => l.put_new(bucket, key, body, metadata).await,
        }
    }

    /// [`Store::put_new`] encrypted with SSE-KMS under `kms_key_id` (key id, alias or ARN) when
    /// given, SSE-S3 (`AES256`) otherwise. The local store has no encryption and ignores it.
    pub async fn put_new_sse(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        metadata: HashMap<String, String>,
        kms_key_id: Option<&str>,
    ) -> Result<PutOutcome, StoreError> {
        match self {
            Self::S3(s) => s.put_new(bucket, key, body, metadata, kms_key_id).await,
            Self::Local(l) => l.put_new(bucket, key, body, metadata).await,
        }
    }

    /// The user metadata of `bucket/key`, or `None` when it does not exist.
    pub async fn head(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<HashMap<String, String>>, StoreError> {
        match self {
            Self::S3(s) => s.head(bucket, key).await,
            Self::Local(l) => l.head(bucket, key).await,
        }
    }

    /// The object's bytes, or `None` when it does not exist.
    pub async fn get(&self, bucket: &str, key: &str) -> Result<Option<Bytes>, StoreError> {
        match self {
            Self::S3(s) => s.get(bucket, key).await,
            Self::Local(l) => l.get(bucket, key).await,
        }
    }

    /// Every key under `prefix`, sorted.
    pub async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, StoreError> {
        match self {
            Self::S3(s) => s.list(bucket, prefix).await,
            Self::Local(l) => l.list(bucket, prefix).await,
        }
    }

    /// Objects under `prefix` whose keys sort after `start_after` (S3 `StartAfter`), sorted by
    /// key, with their last-modified times.
    pub async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
    ) -> Result<Vec<ObjectInfo>, StoreError> {
        match self {
            Self::S3(s) => s.list_objects(bucket, prefix, start_after).await,
            Self::Local(l) => l.list_objects(bucket, prefix, start_after).await,
        }
    }

    /// The "folders" directly under `prefix` (S3 `CommonPrefixes` with delimiter `/`), each
    /// ending in `/`, sorted. `prefix` should be empty or end with `/`.
    pub async fn list_folders(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<String>, StoreError> {
        match self {
            Self::S3(s) => s.list_folders(bucket, prefix).await,
            Self::Local(l) => l.list_folders(bucket, prefix).await,
        }
    }
}
