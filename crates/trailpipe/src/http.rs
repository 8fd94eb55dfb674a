//! The HTTP server: `/metrics` (Prometheus), `/healthz` (alive), `/readyz` (ready to deliver:
//! the sink's last event is a success, like CloudTrail's GetTrailStatus, and no Kafka
//! authentication, TLS or transport error is unresolved), and the CloudTrail
//! JSON API on `POST /` (DescribeTrails, GetTrailStatus, ListPublicKeys, ... — see `api`).

use std::net::SocketAddr;

use axum::{extract::State, http::StatusCode, routing::get, Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use trailpipe_ingest::KafkaHealth;
use trailpipe_sink_s3::SinkHealth;

#[derive(Clone)]
struct AppState {
    prometheus: PrometheusHandle,
    s3: SinkHealth,
    kafka: KafkaHealth,
}

fn epoch(t: Option<std::time::SystemTime>) -> serde_json::Value {
    t.and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(serde_json::Value::Null, |d| d.as_secs().into())
}

async fn ready(State(s): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    let st = s.s3.status();
    let k = s.kafka.status();
    let body = serde_json::json!({
        "s3": {
            "healthy": st.is_healthy(),
            "LatestDeliveryTime": epoch(st.latest_delivery),
            "LatestDeliveryError": st.latest_error,
            "LatestDeliveryErrorTime": epoch(st.latest_error_time),
        },
        "kafka": {
            "healthy": k.is_healthy(),
            "LatestConnectedTime": epoch(k.latest_connected),
            "LatestError": k.latest_error,
            "LatestErrorKind": k.latest_error_kind.map(|k| k.as_str()),
            "LatestErrorTime": epoch(k.latest_error_time),
        }
    });
    (
        if st.is_healthy() && k.is_healthy() {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        Json(body),
    )
}

/// Serves the endpoints and the CloudTrail API (`POST /`) on `listen` until the process ends.
pub async fn serve(
    listen: SocketAddr,
    prometheus: PrometheusHandle,
    s3: SinkHealth,
    kafka: KafkaHealth,
    api: crate::api::Backend,
) -> anyhow::Result<()> {
    let app = Router::new()
        .route(
            "/metrics",
            get(|State(s): State<AppState>| async move { s.prometheus.render() }),
        )
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .with_state(AppState {
            prometheus,
            s3,
            kafka,
        })
        .merge(trailpipe_api::router(api));
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("binding {listen}: {e}"))?;
    tracing::info!(%listen, "serving /metrics /healthz /readyz and the CloudTrail API");
    // The peer address becomes the self-records' sourceIPAddress.
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}
