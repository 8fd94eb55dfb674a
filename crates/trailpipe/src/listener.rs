//! Hardened HTTP listeners for `/metrics` and the CloudTrail API: a connection limit, a
//! deadline for a request's headers, body and TLS handshake, a maximum body size, and
//! optional TLS (rustls) whose certificate is swapped on reload and when its files change.
//!
//! Invariants, enforced in [`serve`]:
//! - At most `max_connections` connections are open per listener. One more is closed as soon
//!   as it is accepted (counted as `limit`), so slow or idle clients cannot exhaust file
//!   descriptors or queue up in the kernel's backlog; the other listener is not affected.
//! - A client that does not finish a TLS handshake, a request's headers or its body within
//!   `header_timeout` is disconnected (counted as `timeout`); an idle kept-alive connection
//!   is closed after the same time (hyper's header timer runs while it waits for the next
//!   request).
//! - A handler, once called, runs to completion: nothing here cancels it (a cancelled
//!   `StopLogging` could change a trail without its self-record); its request is whole by then.

use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::{Arc, RwLock},
    time::Duration,
};

use anyhow::Context;
use axum::{
    body::Body,
    extract::ConnectInfo,
    http::{Request, Response, StatusCode},
    Router,
};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{net::TcpListener, sync::Semaphore};
use tokio_rustls::{rustls, TlsAcceptor};
use tower::ServiceExt;

/// Largest request body accepted (`413` beyond): CloudTrail API requests are a few KiB (the
/// biggest, `PutEventSelectors`, holds at most a few hundred ARNs).
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// Largest request head (request line and headers) accepted.
const MAX_HEAD_BYTES: usize = 64 << 10;

/// A listener's limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections open at once.
    pub max_connections: usize,
    /// Time for a TLS handshake, a request's headers, its body, and an idle keep-alive.
    pub header_timeout: Duration,
}

/// The API listener's current TLS acceptor: replaced on reload, read per connection (a
/// connection keeps the certificate it was accepted with).
pub type TlsSlot = Arc<RwLock<TlsAcceptor>>;

/// Reads `[api.tls]`'s certificate chain and key into an acceptor (HTTP/1.1 over TLS 1.2/1.3,
/// the aws-lc-rs provider the rest of the binary uses).
pub fn load_tls(cfg: &trailpipe_config::ApiTlsConfig) -> anyhow::Result<TlsAcceptor> {
    use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(&cfg.cert_file)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("api.tls.cert_file {}", cfg.cert_file.display()))?;
    anyhow::ensure!(
        !certs.is_empty(),
        "api.tls.cert_file {}: no PEM certificate in it",
        cfg.cert_file.display()
    );
    let key = PrivateKeyDer::from_pem_file(&cfg.key_file).with_context(|| {
        format!(
            "api.tls.key_file {}: an unencrypted PEM private key (PKCS#8, PKCS#1 or SEC1)",
            cfg.key_file.display()
        )
    })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .with_context(|| {
            format!(
                "api.tls: {} does not go with {}",
                cfg.key_file.display(),
                cfg.cert_file.display()
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Loads `cfg`'s certificate into `slot` (`why` says what prompted it, for the log); a
/// certificate that does not load is logged and the previous one kept.
pub fn reload_tls(cfg: &trailpipe_config::ApiTlsConfig, slot: &TlsSlot, why: &str) {
    match load_tls(cfg) {
        Ok(a) => {
            *slot.write().unwrap_or_else(|p| p.into_inner()) = a;
            tracing::info!(cert = %cfg.cert_file.display(), "API TLS certificate reloaded ({why})");
        }
        Err(e) => tracing::error!(
            error = format!("{e:#}"),
            "the API's TLS certificate could not be reloaded ({why}); serving the previous one"
        ),
    }
}

/// How often [`watch_tls`] looks at the certificate files.
const TLS_WATCH_EVERY: Duration = Duration::from_secs(10);

/// Reloads `slot` from `cfg`'s files whenever they change (modification time or size, checked
/// every [`TLS_WATCH_EVERY`]): a renewed certificate (cert-manager, a mounted Secret, certbot)
/// is served without a signal. A file that does not load keeps the previous certificate.
pub fn watch_tls(
    cfg: trailpipe_config::ApiTlsConfig,
    slot: TlsSlot,
) -> tokio::task::JoinHandle<()> {
    let stamp = |cfg: &trailpipe_config::ApiTlsConfig| {
        [&cfg.cert_file, &cfg.key_file].map(|p| {
            std::fs::metadata(p)
                .ok()
                .map(|m| (m.modified().ok(), m.len()))
        })
    };
    tokio::spawn(async move {
        let mut seen = stamp(&cfg);
        let mut tick = tokio::time::interval(TLS_WATCH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = stamp(&cfg);
            if now == seen {
                continue;
            }
            seen = now;
            reload_tls(&cfg, &slot, "certificate files changed");
        }
    })
}

/// Binds `addr` (an error naming it when it cannot be bound).
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))
}

/// Serves `app` on `listener` until the task is dropped; `name` labels the refusal counter
/// (`server` or `api`); with `tls`, every connection is HTTPS.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    tls: Option<TlsSlot>,
    name: &'static str,
) {
    let open = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // EMFILE and friends: the process is out of descriptors; do not spin.
                tracing::warn!(listener = name, error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            refused(name, "limit");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let acceptor = tls
            .as_ref()
            .map(|t| t.read().unwrap_or_else(|p| p.into_inner()).clone());
        tokio::spawn(async move {
            let _permit = permit;
            match acceptor {
                None => connection(TokioIo::new(stream), app, peer, limits, name).await,
                Some(a) => {
                    match tokio::time::timeout(limits.header_timeout, a.accept(stream)).await {
                        Ok(Ok(s)) => connection(TokioIo::new(s), app, peer, limits, name).await,
                        Ok(Err(e)) => {
                            tracing::debug!(listener = name, %peer, error = %e, "TLS handshake failed")
                        }
                        Err(_) => refused(name, "timeout"),
                    }
                }
            }
        });
    }
}

fn refused(listener: &'static str, reason: &'static str) {
    metrics::counter!(trailpipe_telemetry::HTTP_CONNECTIONS_REFUSED, "listener" => listener, "reason" => reason)
        .increment(1);
}

/// Serves HTTP/1.1 requests on one connection until it closes or times out.
async fn connection<I>(io: I, app: Router, peer: SocketAddr, limits: Limits, name: &'static str)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| request(app.clone(), req, peer, limits));
    let served = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .serve_connection(io, service)
        .await;
    if let Err(e) = served {
        if e.is_timeout() {
            refused(name, "timeout");
        } else {
            tracing::debug!(listener = name, %peer, error = %e, "HTTP connection ended");
        }
    }
}

/// Reads the whole body (within the deadline and [`MAX_BODY_BYTES`]), then hands the request,
/// with the peer's address as `ConnectInfo`, to the router.
async fn request(
    app: Router,
    req: Request<Incoming>,
    peer: SocketAddr,
    limits: Limits,
) -> Result<Response<Body>, Infallible> {
    let (mut parts, body) = req.into_parts();
    let limited = http_body_util::Limited::new(body, MAX_BODY_BYTES);
    let bytes = match tokio::time::timeout(limits.header_timeout, limited.collect()).await {
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return Ok(plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request bodies are limited to {MAX_BODY_BYTES} bytes\n"),
            ))
        }
        Ok(Err(e)) => {
            return Ok(plain(
                StatusCode::BAD_REQUEST,
                format!("reading the request body: {e}\n"),
            ))
        }
        Err(_) => {
            return Ok(plain(
                StatusCode::REQUEST_TIMEOUT,
                "the request body was not sent in time\n".into(),
            ))
        }
    };
    parts.extensions.insert(ConnectInfo(peer));
    let req = Request::from_parts(parts, Body::from(bytes));
    Ok(match app.oneshot(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    })
}

fn plain(status: StatusCode, text: String) -> Response<Body> {
    let mut r = Response::new(Body::from(text));
    *r.status_mut() = status;
    r.headers_mut().insert(
        axum::http::header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    r
}
