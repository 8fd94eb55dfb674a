//! The HTTP endpoints: `/metrics` (Prometheus), `/healthz` (alive), `/readyz` (ready to deliver:
//! the sink's last event is a success, like CloudTrail's GetTrailStatus, dead letters can be
//! written, and no Kafka authentication, TLS or transport error is unresolved), and the CloudTrail
//! JSON API on `POST /` (DescribeTrails, GetTrailStatus, ListPublicKeys, ... — see `api`),
//! on the listeners of `listener`.

use std::time::Duration;

use axum::{extract::State, http::StatusCode, routing::get, Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use trailpipe_delivery::SinkHealth;
use trailpipe_ingest::KafkaHealth;

use crate::listener::{self, Limits, TlsSlot};

#[derive(Clone)]
struct AppState {
    prometheus: PrometheusHandle,
    s3: SinkHealth,
    kafka: KafkaHealth,
    /// The group's statuses (`group_status`), when there is a control topic.
    group: crate::api::GroupSlot,
    digests: crate::integrity::DigestStatuses,
    cwl: trailpipe_sink_cwl::CwlHealthSlot,
}

fn epoch(t: Option<std::time::SystemTime>) -> serde_json::Value {
    t.and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(serde_json::Value::Null, |d| d.as_secs().into())
}

/// `/healthz`: the process answers.
async fn healthz() -> &'static str {
    "ok\n"
}

async fn ready(State(s): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    let st = s.s3.status();
    let k = s.kafka.status();
    // CloudWatch Logs holds offsets back like S3 does: an outage there is not ready either.
    let cwl = s
        .cwl
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .map(|c| c.health());
    let cwl_healthy = cwl
        .as_ref()
        .is_none_or(|h| match (&h.last_error, h.last_success) {
            (None, _) => true,
            (Some((at, _)), Some(ok)) => ok > *at,
            (Some(_), None) => false,
        });
    let body = serde_json::json!({
        "s3": {
            "healthy": st.is_healthy(),
            "LatestDeliveryTime": epoch(st.latest_delivery),
            "LatestDeliveryError": st.latest_error,
            "LatestDeliveryErrorTime": epoch(st.latest_error_time),
        },
        "dead_letters": {
            "healthy": st.dead_letter_error.is_none(),
            "LatestError": st.dead_letter_error,
            "LatestErrorTime": epoch(st.dead_letter_error_time),
        },
        "kafka": {
            "healthy": k.is_healthy(),
            "LatestConnectedTime": epoch(k.latest_connected),
            "LatestError": k.latest_error,
            "LatestErrorKind": k.latest_error_kind.map(|k| k.as_str()),
            "LatestErrorTime": epoch(k.latest_error_time),
        }
    });
    let mut body = body;
    if let Some(h) = &cwl {
        body["cloudwatch_logs"] = serde_json::json!({
            "healthy": cwl_healthy,
            "LatestDeliveryTime": epoch(h.last_success),
            "LatestDeliveryError": h.last_error.as_ref().map(|e| e.1.clone()),
            "LatestDeliveryErrorTime": epoch(h.last_error.as_ref().map(|e| e.0)),
        });
    }
    // Digest chains: informative (a chain conflict means the replicas are configured
    // differently; taking this pod out of service would not fix it, and delivery goes on).
    let digests: serde_json::Map<String, serde_json::Value> = s
        .digests
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|(trail, d)| {
            (
                trail.clone(),
                serde_json::json!({
                    "healthy": d.latest_error.is_none(),
                    "LatestDigestDeliveryTime": d.latest_delivery.map(|t| t.unix_timestamp()),
                    "LatestDigestDeliveryError": d.latest_error,
                    "ChainConflict": d.chain_conflict.as_ref().map(|(at, detail)| serde_json::json!({
                        "Time": at.unix_timestamp(),
                        "Detail": detail,
                    })),
                }),
            )
        })
        .collect();
    if !digests.is_empty() {
        body["digests"] = serde_json::Value::Object(digests);
    }
    // What the other replicas of the group last published: informative only, readiness stays
    // this pod's own (one failing replica must not take the others out of service).
    if let Some((topic, replica)) = s.group.get() {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let own = crate::group_status::snapshot(replica, &s.s3, &s.digests, now);
        let replicas: Vec<serde_json::Value> = std::iter::once(own)
            .chain(crate::group_status::others(topic, replica))
            .map(|r| {
                serde_json::json!({
                    "replica": r.replica,
                    "live": now - r.updated_at <= crate::group_status::LIVE_FOR.as_secs() as i64,
                    "UpdatedTime": r.updated_at,
                    "LatestDeliveryTime": r.latest_delivery,
                    "LatestDeliveryError": r.latest_error,
                })
            })
            .collect();
        body["group"] = serde_json::json!({ "replicas": replicas });
    }
    (
        if st.is_healthy() && k.is_healthy() && cwl_healthy {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        Json(body),
    )
}

/// Binds the listeners and serves on them until the returned tasks are aborted: `/metrics`,
/// `/healthz`, `/readyz` on `server.listen`; the CloudTrail API (`POST /`, and `/healthz` for
/// load balancers) on `api.listen` (HTTPS with `tls`), or beside the others when `api.listen` is
/// absent and `server.listen` is loopback (see `ApiConfig::served_on`). A bind error refuses
/// the start.
pub async fn start(
    config: &trailpipe_config::Config,
    prometheus: PrometheusHandle,
    s3: SinkHealth,
    kafka: KafkaHealth,
    cwl: trailpipe_sink_cwl::CwlHealthSlot,
    api: crate::api::Backend,
    tls: Option<TlsSlot>,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let server = &config.server;
    let header_timeout = Duration::from_secs(server.header_read_timeout_secs);
    let endpoints = Router::new()
        .route(
            "/metrics",
            get(|State(s): State<AppState>| async move { s.prometheus.render() }),
        )
        .route("/healthz", get(healthz))
        .route("/readyz", get(ready))
        .with_state(AppState {
            prometheus,
            s3,
            kafka,
            group: api.group.clone(),
            digests: api.digests.clone(),
            cwl,
        });
    let api_router = trailpipe_api::router(api);
    let server_limits = Limits {
        max_connections: server.max_connections,
        header_timeout,
    };
    let mut tasks = Vec::new();
    match config.api.served_on(server) {
        Some(a) if a == server.listen => {
            let l = listener::bind(server.listen).await?;
            tracing::info!(listen = %server.listen, "serving /metrics /healthz /readyz and the CloudTrail API");
            tasks.push(tokio::spawn(listener::serve(
                l,
                endpoints.merge(api_router),
                server_limits,
                None,
                "server",
            )));
        }
        served => {
            let l = listener::bind(server.listen).await?;
            tasks.push(tokio::spawn(listener::serve(
                l,
                endpoints,
                server_limits,
                None,
                "server",
            )));
            match served {
                Some(a) => {
                    let l = listener::bind(a).await?;
                    tracing::info!(
                        listen = %server.listen,
                        api = %a,
                        tls = tls.is_some(),
                        "serving /metrics /healthz /readyz, and the CloudTrail API on its own listener"
                    );
                    let api_limits = Limits {
                        max_connections: config.api.max_connections,
                        header_timeout,
                    };
                    let app = api_router.route("/healthz", get(healthz));
                    tasks.push(tokio::spawn(listener::serve(
                        l, app, api_limits, tls, "api",
                    )));
                }
                None => tracing::warn!(
                    listen = %server.listen,
                    "the CloudTrail API is not served: server.listen is not a loopback address and api.listen is not set (set api.listen to serve it, e.g. on 0.0.0.0:9465 behind a NetworkPolicy)"
                ),
            }
        }
    }
    Ok(tasks)
}
