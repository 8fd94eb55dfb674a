//! Glue between stage crates: the batcher's cut lookup (and file-time markers) over the object
//! store, and the Insights stage's publication to every replica's history over the control
//! topic.

use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use trailpipe_batcher::CutLookup;
use trailpipe_store::{PutOutcome, RecordedCut, Store};

/// Reads recorded cuts from log files' metadata.
pub struct StoreCutLookup(pub Store);

impl CutLookup for StoreCutLookup {
    fn lookup(
        &self,
        bucket: Arc<str>,
        key: String,
    ) -> BoxFuture<'static, Result<Option<RecordedCut>, String>> {
        let store = self.0.clone();
        Box::pin(async move {
            let meta = store.head(&bucket, &key).await.map_err(|e| e.to_string())?;
            Ok(meta.as_ref().and_then(RecordedCut::from_metadata))
        })
    }

    fn read(
        &self,
        bucket: Arc<str>,
        key: String,
    ) -> BoxFuture<'static, Result<Option<Bytes>, String>> {
        let store = self.0.clone();
        Box::pin(async move { store.get(&bucket, &key).await.map_err(|e| e.to_string()) })
    }

    fn create(
        &self,
        bucket: Arc<str>,
        key: String,
        body: Bytes,
    ) -> BoxFuture<'static, Result<bool, String>> {
        let store = self.0.clone();
        Box::pin(async move {
            store
                .put_new(&bucket, &key, body, Default::default())
                .await
                .map(|o| o == PutOutcome::Created)
                .map_err(|e| e.to_string())
        })
    }
}

/// Insights events into the control topic under `insight/<eventID>`, for every replica's
/// control-topic reader to store in its history.
pub struct ControlInsights(pub Arc<crate::control_topic::ControlTopic>);

impl trailpipe_insights::stage::PublishInsights for ControlInsights {
    fn publish<'a>(
        &'a self,
        records: &'a [trailpipe_insights::InsightRecord],
    ) -> BoxFuture<'a, Result<(), String>> {
        let batch: Vec<crate::lifecycle::ControlRecord> = records
            .iter()
            .map(|r| {
                (
                    format!("{}{}", crate::control_topic::INSIGHT_PREFIX, r.event_id),
                    Some(r.json.to_vec()),
                )
            })
            .collect();
        Box::pin(async move { self.0.publish(batch).await.map_err(|e| e.to_string()) })
    }
}
