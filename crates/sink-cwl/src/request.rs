//! Turning one planned [`PutRequest`] into PutLogEvents calls, and their answers into
//! delivered / rejected records.
//!
//! Invariant: an event is reported rejected only when the service says so — listed in
//! `rejectedLogEventsInfo`, or refused with `InvalidParameterException` when sent alone (a
//! refused request is bisected until the refusal is pinned to single events); every other
//! failure is retried, so an event is never lost between "sent" and "rejected".

use aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata;
use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use aws_sdk_cloudwatchlogs::Client;
use bytes::Bytes;
use tokio::time::Instant;

use crate::batch::{refused_positions, PutRequest, Reject};
use crate::metric_names as m;
use crate::retry::{classify, error_chain, Backoff, ErrorClass};
use crate::sink::{sleep_or_deadline, CwlSink};
use crate::CwlError;

impl CwlSink {
    /// Sends one planned request; returns the input indexes the service refused. A request the
    /// service refuses as a whole (`InvalidParameterException`) is bisected so only the events
    /// it refuses alone are rejected.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn put(
        &self,
        client: &Client,
        group_arg: &str,
        group: &str,
        stream: &str,
        records: &[(i64, Bytes)],
        req: PutRequest,
        deadline: Option<Instant>,
    ) -> Result<Vec<(usize, Reject)>, CwlError> {
        let mut pending = vec![req.indexes];
        let mut rejected = Vec::new();
        while let Some(indexes) = pending.pop() {
            match self
                .put_once(
                    client, group_arg, group, stream, records, &indexes, deadline,
                )
                .await?
            {
                PutResult::Done(refused) => rejected.extend(refused),
                PutResult::Refused if indexes.len() == 1 => {
                    rejected.push((indexes[0], Reject::Refused))
                }
                PutResult::Refused => {
                    let (a, b) = indexes.split_at(indexes.len() / 2);
                    pending.push(b.to_vec());
                    pending.push(a.to_vec());
                }
            }
        }
        Ok(rejected)
    }

    #[allow(clippy::too_many_arguments)]
    async fn put_once(
        &self,
        client: &Client,
        group_arg: &str,
        group: &str,
        stream: &str,
        records: &[(i64, Bytes)],
        indexes: &[usize],
        deadline: Option<Instant>,
    ) -> Result<PutResult, CwlError> {
        let events: Vec<InputLogEvent> = indexes
            .iter()
            .map(|&i| {
                let (ts, msg) = &records[i];
                InputLogEvent::builder()
                    .timestamp(*ts)
                    .message(String::from_utf8_lossy(msg).into_owned())
                    .build()
                    .expect("timestamp and message are set")
            })
            .collect();
        let mut backoff = Backoff::new();
        loop {
            self.permit().await;
            metrics::counter!(m::CWL_REQUESTS, "operation" => "PutLogEvents").increment(1);
            let r = client
                .put_log_events()
                .log_group_name(group)
                .log_stream_name(stream)
                .set_log_events(Some(events.clone()))
                .send()
                .await;
            let e = match r {
                Ok(out) => {
                    self.note_success();
                    let refused = out
                        .rejected_log_events_info()
                        .map_or_else(Vec::new, |info| {
                            refused_positions(
                                indexes.len(),
                                info.too_new_log_event_start_index(),
                                info.too_old_log_event_end_index(),
                                info.expired_log_event_end_index(),
                            )
                        });
                    return Ok(PutResult::Done(
                        refused
                            .into_iter()
                            .map(|(p, why)| (indexes[p], why))
                            .collect(),
                    ));
                }
                Err(e) => e,
            };
            let status = e.raw_response().map(|r| r.status().as_u16());
            if e.code() == Some("DataAlreadyAcceptedException") {
                return Ok(PutResult::Done(Vec::new()));
            }
            let class = classify(&e, status);
            let message = format!("PutLogEvents {group}/{stream}: {}", error_chain(&e));
            self.note_error(class, message.clone());
            match class {
                ErrorClass::Rejected => return Ok(PutResult::Refused),
                ErrorClass::NotFound => {
                    self.forget(client, group, stream);
                    self.ensure_stream(client, group_arg, group, stream, deadline)
                        .await?;
                }
                _ => {}
            }
            let delay = backoff.next_delay(class);
            sleep_or_deadline(delay, deadline, &message).await?;
        }
    }
}

enum PutResult {
    /// Accepted; these input indexes were refused individually.
    Done(Vec<(usize, Reject)>),
    /// The service refused the request as a whole.
    Refused,
}
