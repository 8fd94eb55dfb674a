//! A local directory with S3's layout: `<root>/<bucket>/<key>`. Create-only puts write a
//! temporary file, fsync it, then hard-link it into place — `link` fails if the key exists, the
//! local equivalent of `If-None-Match: *`. User metadata lives beside the objects, under
//! `<root>/.trailpipe-meta/<bucket>/<key>.json`, written before the object is linked, so an
//! object that exists always has its metadata.

use std::{
    collections::HashMap,
    io::Write,
    path::{Path, PathBuf},
};

use bytes::Bytes;

use crate::{store::ObjectInfo, ErrorClass, PutOutcome, StoreError};

/// A local object store.
#[derive(Clone, Debug)]
pub struct LocalStore {
    root: PathBuf,
}

const META_DIR: &str = ".trailpipe-meta";
const TMP_DIR: &str = ".trailpipe-tmp";

fn err(operation: &'static str, bucket: &str, key: &str, e: std::io::Error) -> StoreError {
    let class = match e.kind() {
        std::io::ErrorKind::PermissionDenied => ErrorClass::Permanent,
        _ => ErrorClass::Retriable,
    };
    StoreError {
        operation,
        bucket: bucket.into(),
        key: key.into(),
        message: e.to_string(),
        class,
    }
}

/// Keys must stay inside the root: no absolute paths, no `..`.
fn safe(key: &str) -> bool {
    !key.starts_with('/') && key.split('/').all(|c| c != ".." && c != ".")
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

impl LocalStore {
    pub(crate) fn new(root: PathBuf) -> Self {
        Self { root }
    }

    fn object(&self, bucket: &str, key: &str) -> PathBuf {
        self.root.join(bucket).join(key)
    }

    fn meta(&self, bucket: &str, key: &str) -> PathBuf {
        self.root
            .join(META_DIR)
            .join(bucket)
            .join(format!("{key}.json"))
    }

    pub(crate) async fn put_new(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        metadata: HashMap<String, String>,
    ) -> Result<PutOutcome, StoreError> {
        if !safe(key) || !safe(bucket) {
            return Err(StoreError {
                operation: "PutObject",
                bucket: bucket.into(),
                key: key.into(),
                message: "unsafe key".into(),
                class: ErrorClass::Permanent,
            });
        }
        let (object, meta, tmp_dir) = (
            self.object(bucket, key),
            self.meta(bucket, key),
            self.root.join(TMP_DIR),
        );
        let result = tokio::task::spawn_blocking(move || -> std::io::Result<PutOutcome> {
            if object.exists() {
                return Ok(PutOutcome::AlreadyExists);
            }
            for dir in [object.parent(), meta.parent(), Some(tmp_dir.as_path())]
                .into_iter()
                .flatten()
            {
                std::fs::create_dir_all(dir)?;
            }
            write_synced(
                &meta,
                &serde_json::to_vec(&metadata).expect("string map serialises"),
            )?;
            let tmp = tmp_dir.join(format!("{:016x}", rand::random::<u64>()));
            if let Err(e) = write_synced(&tmp, &body) {
                // A failed write (a full disk) must not leave its partial copy behind: every
                // retry would leak another one, and the space it holds.
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
            let linked = std::fs::hard_link(&tmp, &object);
            std::fs::remove_file(&tmp)?;
            match linked {
                Ok(()) => {
                    if let Some(parent) = object.parent() {
                        std::fs::File::open(parent)?.sync_all()?;
                    }
                    Ok(PutOutcome::Created)
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    Ok(PutOutcome::AlreadyExists)
                }
                Err(e) => Err(e),
            }
        })
        .await
        .expect("local store task panicked");
        result.map_err(|e| err("PutObject", bucket, key, e))
    }

    pub(crate) async fn head(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<HashMap<String, String>>, StoreError> {
        // A key that would leave the root (`/etc/passwd`, `../x`) names no object here: keys
        // come from digests and other input anyone with bucket access can write.
        if !safe(key) || !safe(bucket) || !self.object(bucket, key).exists() {
            return Ok(None);
        }
        match tokio::fs::read(self.meta(bucket, key)).await {
            Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes).unwrap_or_default())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Some(HashMap::new())),
            Err(e) => Err(err("HeadObject", bucket, key, e)),
        }
    }

    pub(crate) async fn get(&self, bucket: &str, key: &str) -> Result<Option<Bytes>, StoreError> {
        if !safe(key) || !safe(bucket) {
            return Ok(None);
        }
        match tokio::fs::read(self.object(bucket, key)).await {
            Ok(b) => Ok(Some(b.into())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(err("GetObject", bucket, key, e)),
        }
    }

    pub(crate) async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, StoreError> {
        let base = self.root.join(bucket);
        let prefix = prefix.to_string();
        let found = tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            let mut stack = vec![base.clone()];
            while let Some(dir) = stack.pop() {
                let Ok(entries) = std::fs::read_dir(&dir) else {
                    continue;
                };
                for e in entries.flatten() {
                    let p = e.path();
                    if p.is_dir() {
                        stack.push(p);
                    } else if let Ok(rel) = p.strip_prefix(&base) {
                        let key = rel.to_string_lossy().replace('\\', "/");
                        if key.starts_with(&prefix) {
                            out.push(key);
                        }
                    }
                }
            }
            out.sort();
            out
        })
        .await
        .expect("listing task panicked");
        Ok(found)
    }

    /// Walks only the directory the prefix names (up to its last `/`), not the whole bucket.
    pub(crate) async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
    ) -> Result<Vec<ObjectInfo>, StoreError> {
        let base = self.root.join(bucket);
        let start_dir = match prefix.rfind('/') {
            Some(i) if safe(&prefix[..i]) => base.join(&prefix[..i]),
            Some(_) => return Ok(Vec::new()),
            None => base.clone(),
        };
        let (prefix, start_after) = (prefix.to_string(), start_after.map(String::from));
        let (b, p) = (bucket.to_string(), prefix.clone());
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            let mut stack = vec![start_dir];
            while let Some(dir) = stack.pop() {
                let entries = match std::fs::read_dir(&dir) {
                    Ok(e) => e,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                };
                for e in entries {
                    let e = e?;
                    let ft = e.file_type()?;
                    let path = e.path();
                    if ft.is_dir() {
                        stack.push(path);
                        continue;
                    }
                    let Ok(rel) = path.strip_prefix(&base) else {
                        continue;
                    };
                    let key = rel.to_string_lossy().replace('\\', "/");
                    if !key.starts_with(&prefix)
                        || start_after.as_deref().is_some_and(|s| key.as_str() <= s)
                    {
                        continue;
                    }
                    let (last_modified, size) = match e.metadata() {
                        Ok(m) => (m.modified()?, m.len()),
                        // Deleted between read_dir and stat: not listed, as on S3.
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(e),
                    };
                    out.push(ObjectInfo {
                        key,
                        last_modified,
                        size,
                    });
                }
            }
            out.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(out)
        })
        .await
        .expect("listing task panicked")
        .map_err(|e| err("ListObjectsV2", &b, &p, e))
    }

    pub(crate) async fn list_folders(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<String>, StoreError> {
        let dir_part = prefix.trim_end_matches('/');
        if !dir_part.is_empty() && !safe(dir_part) {
            return Ok(Vec::new());
        }
        let dir = self.root.join(bucket).join(dir_part);
        let mut out = Vec::new();
        let mut entries = match tokio::fs::read_dir(&dir).await {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(err("ListObjectsV2", bucket, prefix, e)),
        };
        while let Some(e) = entries
            .next_entry()
            .await
            .map_err(|e| err("ListObjectsV2", bucket, prefix, e))?
        {
            if e.file_type().await.is_ok_and(|t| t.is_dir()) {
                out.push(format!("{prefix}{}/", e.file_name().to_string_lossy()));
            }
        }
        out.sort();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn second_put_of_a_key_is_refused_and_keeps_the_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = LocalStore::new(dir.path().to_path_buf());
        let meta = HashMap::from([("k".to_string(), "1".to_string())]);
        assert_eq!(
            s.put_new("b", "a/x.json.gz", Bytes::from_static(b"one"), meta.clone())
                .await
                .expect("put"),
            PutOutcome::Created
        );
        let other = HashMap::from([("k".to_string(), "2".to_string())]);
        assert_eq!(
            s.put_new("b", "a/x.json.gz", Bytes::from_static(b"two"), other)
                .await
                .expect("put"),
            PutOutcome::AlreadyExists
        );
        assert_eq!(
            s.get("b", "a/x.json.gz").await.expect("get").as_deref(),
            Some(&b"one"[..])
        );
        assert_eq!(s.head("b", "a/x.json.gz").await.expect("head"), Some(meta));
        assert_eq!(s.head("b", "a/y.json.gz").await.expect("head"), None);
        assert_eq!(
            s.list("b", "a/").await.expect("list"),
            vec!["a/x.json.gz".to_string()]
        );
        assert!(s
            .put_new("b", "../escape", Bytes::new(), HashMap::new())
            .await
            .is_err());
    }
}
