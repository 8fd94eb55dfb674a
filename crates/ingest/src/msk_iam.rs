//! Amazon MSK IAM access control: the SASL/OAUTHBEARER token the brokers expect.
//!
//! The token is what AWS's official signers (`aws-msk-iam-sasl-signer-python`, `-go`, `-js`)
//! produce, byte for byte apart from the `User-Agent` value:
//!
//! 1. a SigV4 **query-string** presigned URL for
//!    `GET https://kafka.<region>.amazonaws.com/?Action=kafka-cluster%3AConnect`, signed for the
//!    service `kafka-cluster` with the `host` header only, an empty payload and
//!    `X-Amz-Expires=900`; with temporary credentials `X-Amz-Security-Token` is part of the
//!    signed query;
//! 2. the query parameters in the Python signer's order (`Action`, `X-Amz-Algorithm`,
//!    `X-Amz-Credential`, `X-Amz-Date`, `X-Amz-Expires`, `X-Amz-SignedHeaders`,
//!    `X-Amz-Security-Token` if any, `X-Amz-Signature`), percent-encoded with everything but the
//!    RFC 3986 unreserved characters escaped;
//! 3. `&User-Agent=trailpipe%2F<version>` appended **after** signing (it is not signed);
//! 4. the whole URL base64url-encoded without `=` padding.
//!
//! Invariants:
//! - [`sign_token`] is pure: the same region, credentials and time give the same token. The
//!   SigV4 maths is the `aws-sigv4` crate's; this module only arranges and encodes the result.
//!   Its `expires_at_ms` mirrors the Python signer: the signing time truncated to the second
//!   (the `X-Amz-Date` value) plus 900 s, in milliseconds since the Unix epoch.
//! - [`MskIamAuth::token`] is synchronous and safe to call from librdkafka's OAUTHBEARER refresh
//!   callback on any thread, including a tokio worker thread: it never calls
//!   `Handle::block_on`, never panics and never waits unboundedly. Credentials come from an
//!   async provider that runs only on a dedicated thread with its own current-thread tokio
//!   runtime (see [`MskIamAuth`]); a caller at most waits on a channel with a timeout.
//! - Cached credentials are reused until [`REFRESH_BEFORE_EXPIRY`] before their expiry (for
//!   credentials without an expiry, 15 min after their fetch, like the AWS SDK's identity
//!   cache); the credential thread also refreshes expiring ones in the background ahead of
//!   that, so the callback normally finds fresh credentials without waiting.
//! - [`MskIamAuth::token`] reports an expiry no later than the credentials' own expiry (a
//!   presigned URL is worthless once its credentials expire, and librdkafka reuses the token for
//!   every new connection until it refreshes it at 80 % of the reported lifetime).
//! - No secret (secret access key, session token, token) is ever logged, put in an error or
//!   printed by a `Debug` implementation.

use std::{
    fmt,
    panic::AssertUnwindSafe,
    sync::{mpsc as std_mpsc, Arc, Mutex, PoisonError},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use aws_credential_types::{
    provider::{ProvideCredentials as _, SharedCredentialsProvider},
    Credentials,
};
use aws_sigv4::{
    http_request::{
        sign, SessionTokenMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
    },
    sign::v4,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use futures::FutureExt as _;
use tokio::sync::{mpsc as tokio_mpsc, oneshot};

/// Lifetime of a presigned token, as in AWS's signers (`X-Amz-Expires`).
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(900);

/// Cached credentials are fetched again once they are this close to their expiry.
pub const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);

/// The credential thread refreshes credentials in the background this long before they expire
/// (a token's lifetime plus a minute), so tokens normally never outlive their credentials and
/// the refresh callback does not wait for a fetch.
const BACKGROUND_REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(16 * 60);

/// Credentials without an expiry (static keys from the environment or a profile) are fetched
/// again after this long, as the AWS SDK's identity cache does, so rotated keys are picked up.
const NO_EXPIRY_REUSE: Duration = Duration::from_secs(15 * 60);

/// Shortest wait between two background refreshes (also the retry delay after a failure).
const MIN_BACKGROUND_INTERVAL: Duration = Duration::from_secs(30);

/// Longest a credentials fetch may take before it counts as failed.
const FETCH_TIMEOUT: Duration = Duration::from_secs(15);

/// Extra time a caller waits for the credential thread beyond [`FETCH_TIMEOUT`].
const REPLY_MARGIN: Duration = Duration::from_secs(2);

const SERVICE: &str = "kafka-cluster";
const ACTION_KEY: &str = "Action";
const ACTION: &str = "kafka-cluster:Connect";
const USER_AGENT_KEY: &str = "User-Agent";
/// The user agent appended to every token (the Python signer uses
/// `aws-msk-iam-sasl-signer-python/<version>`).
const USER_AGENT: &str = concat!("trailpipe/", env!("CARGO_PKG_VERSION"));
/// Session name of the role assumed by [`MskIamAuth::from_env`].
const SESSION_NAME: &str = "trailpipe";

/// The query parameters `aws-sigv4` returns, in the order AWS's Python signer writes them
/// (botocore's `SigV4QueryAuth`: the auth parameters, then the signature).
const SIGNED_PARAM_ORDER: [&str; 7] = [
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Security-Token",
    "X-Amz-Signature",
];

/// An MSK IAM authentication token, ready for librdkafka's `rd_kafka_oauthbearer_set_token`.
///
/// `Debug` does not print the token (it is a bearer credential for its lifetime).
#[derive(Clone, PartialEq, Eq)]
pub struct MskToken {
    /// The base64url-encoded (unpadded) presigned URL.
    pub token: String,
    /// When librdkafka should consider the token expired, in milliseconds since the Unix epoch.
    pub expires_at_ms: i64,
    /// The Kafka principal name handed to librdkafka with the token: the access key id that
    /// signed it (not a secret; librdkafka only uses it locally, MSK derives the principal from
    /// the signature).
    pub principal: String,
}

impl fmt::Debug for MskToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MskToken")
            .field(
                "token",
                &format_args!("<redacted, {} chars>", self.token.len()),
            )
            .field("expires_at_ms", &self.expires_at_ms)
            .field("principal", &self.principal)
            .finish()
    }
}

/// Why no token could be produced. Messages name what failed and never contain a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MskIamError {
    /// The region is not a plausible AWS region name (it becomes part of a host name).
    #[error("invalid AWS region {0:?} for MSK IAM authentication (expected e.g. \"us-east-1\")")]
    InvalidRegion(String),
    /// The credentials have an empty access key id or secret access key.
    #[error("the AWS credentials for MSK IAM authentication have an empty access key id or secret access key")]
    EmptyCredentials,
    /// The signing time is before the Unix epoch.
    #[error("the system clock is before 1970; cannot sign an MSK IAM token")]
    Clock,
    /// `aws-sigv4` refused to sign.
    #[error("signing the MSK IAM token failed: {0}")]
    Signing(String),
    /// Credentials could not be obtained.
    #[error(
        "fetching AWS credentials for MSK IAM authentication from {provider} failed: {message}"
    )]
    Credentials {
        /// Which provider was asked (e.g. the default chain, or the role being assumed).
        provider: String,
        /// What went wrong, with the provider's error chain.
        message: String,
    },
}

/// Signs an MSK IAM token for `region` with `creds` at time `now`, exactly as AWS's Python
/// signer does but with the user agent `trailpipe/<version>`.
///
/// Pure and deterministic. `expires_at_ms` is `now` truncated to the second plus 900 s (the
/// Python signer's value); it does not look at the credentials' expiry.
pub fn sign_token(
    region: &str,
    creds: &Credentials,
    now: SystemTime,
) -> Result<MskToken, MskIamError> {
    sign_with_user_agent(region, creds, now, USER_AGENT)
}

/// [`sign_token`] with a chosen `User-Agent` value (the known-answer test uses the Python
/// signer's).
fn sign_with_user_agent(
    region: &str,
    creds: &Credentials,
    now: SystemTime,
    user_agent: &str,
) -> Result<MskToken, MskIamError> {
    check_region(region)?;
    if creds.access_key_id().is_empty() || creds.secret_access_key().is_empty() {
        return Err(MskIamError::EmptyCredentials);
    }
    let signed_at_secs = now
        .duration_since(UNIX_EPOCH)
        .map_err(|_| MskIamError::Clock)?
        .as_secs();

    let mut url = format!(
        "https://kafka.{region}.amazonaws.com/?{ACTION_KEY}={}",
        encode(ACTION)
    );

    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(TOKEN_LIFETIME);
    settings.session_token_mode = SessionTokenMode::Include;
    let identity = creds.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(SERVICE)
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| MskIamError::Signing(e.to_string()))?
        .into();
    let request = SignableRequest::new(
        "GET",
        url.as_str(),
        std::iter::empty(),
        SignableBody::Bytes(&[]),
    )
    .map_err(|e| MskIamError::Signing(error_chain(&e)))?;
    let (instructions, _signature) = sign(request, &params)
        .map_err(|e| MskIamError::Signing(error_chain(&e)))?
        .into_parts();
    let (_headers, signed_params) = instructions.into_parts();

    if let Some((unknown, _)) = signed_params
        .iter()
        .find(|(name, _)| !SIGNED_PARAM_ORDER.contains(name))
    {
        // A future aws-sigv4 adding a parameter would silently change the token; refuse.
        return Err(MskIamError::Signing(format!(
            "aws-sigv4 returned an unexpected query parameter {unknown:?}"
        )));
    }
    for name in SIGNED_PARAM_ORDER {
        if let Some((_, value)) = signed_params.iter().find(|(n, _)| *n == name) {
            url.push('&');
            url.push_str(name);
            url.push('=');
            url.push_str(&encode(value));
        }
    }
    url.push('&');
    url.push_str(USER_AGENT_KEY);
    url.push('=');
    url.push_str(&encode(user_agent));

    let expires_at_secs = signed_at_secs.saturating_add(TOKEN_LIFETIME.as_secs());
    Ok(MskToken {
        token: URL_SAFE_NO_PAD.encode(url.as_bytes()),
        expires_at_ms: i64::try_from(expires_at_secs.saturating_mul(1000)).unwrap_or(i64::MAX),
        principal: creds.access_key_id().to_owned(),
    })
}

/// A region becomes part of the host name: accept only what AWS region names are made of.
fn check_region(region: &str) -> Result<(), MskIamError> {
    let plausible = !region.is_empty()
        && region.len() <= 64
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if plausible {
        Ok(())
    } else {
        Err(MskIamError::InvalidRegion(region.to_owned()))
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters, as botocore's
/// `percent_encode` (and Python's `quote_plus`, for the user agent's characters) do.
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An error and its sources' messages, `: `-separated. Only `Display` output: the errors'
/// `Debug` forms are long and could carry more than a message should.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let message = e.to_string();
        // Some errors repeat their source's message in their own; do not print it twice.
        if !out.ends_with(&message) {
            out.push_str(": ");
            out.push_str(&message);
        }
        source = e.source();
    }
    out
}

fn millis_since_epoch(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

/// Produces MSK IAM tokens from an AWS credentials provider, for librdkafka's OAUTHBEARER
/// refresh callback.
///
/// Design: the provider's futures run only on one dedicated thread (`trailpipe-msk-iam`) with
/// its own current-thread tokio runtime, shared by all clones and ended when the last clone is
/// dropped. Keeping every fetch on that one runtime matters: the SDK's HTTP connection pool
/// (STS, IMDS, ECS) must not be used across runtimes, and the synchronous [`Self::token`] may be
/// called on a tokio worker thread, where it must not block on a runtime. A caller needing
/// credentials sends a request and waits on a channel with a timeout; the thread also
/// refreshes expiring credentials ahead of time, so that wait is rare.
///
/// `Debug` prints the region, the provider description and the cached credentials' expiry,
/// never a secret.
#[derive(Clone)]
pub struct MskIamAuth {
    inner: Arc<Inner>,
    lifetime: Option<Duration>,
}

struct Inner {
    region: String,
    /// What the provider is, for error messages.
    provider: String,
    /// The last credentials fetched (written by the credential thread only).
    cache: Arc<Mutex<Option<Cached>>>,
    /// Held by a caller while it waits for a fetch, so concurrent callers wait for one fetch
    /// instead of queueing several. Never taken by the credential thread.
    fetch_lock: Mutex<()>,
    /// Requests to the credential thread; `None` if it could not be started.
    requests: Option<tokio_mpsc::UnboundedSender<Request>>,
    fetch_timeout: Duration,
}

impl fmt::Debug for MskIamAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let expiry = lock(&self.inner.cache).as_ref().map(|c| c.creds.expiry());
        f.debug_struct("MskIamAuth")
            .field("region", &self.inner.region)
            .field("provider", &self.inner.provider)
            .field("lifetime", &self.lifetime)
            .field("cached_credentials_expiry", &expiry)
            .finish()
    }
}

/// Credentials and until when they may be used without fetching again.
struct Cached {
    creds: Credentials,
    /// Their expiry, or [`NO_EXPIRY_REUSE`] after the fetch for credentials without one.
    reuse_until: SystemTime,
}

/// A request to the credential thread: fetch now and answer here.
enum Request {
    Blocking(std_mpsc::SyncSender<Result<Credentials, String>>),
    Async(oneshot::Sender<Result<Credentials, String>>),
}

impl Request {
    fn answer(self, result: Result<Credentials, String>) {
        // The caller may have given up waiting; nothing to do then.
        match self {
            Request::Blocking(tx) => drop(tx.try_send(result)),
            Request::Async(tx) => drop(tx.send(result)),
        }
    }
}

impl MskIamAuth {
    /// Credentials from the AWS default credential chain
    /// (`aws_config::defaults(BehaviorVersion::latest())`), or, with `role_arn`, from assuming
    /// that role (session name `trailpipe`) with the default chain's credentials.
    ///
    /// Fetches credentials once before returning, so a misconfiguration fails at start with an
    /// error naming the provider and the cause.
    pub async fn from_env(region: &str, role_arn: Option<&str>) -> Result<Self, MskIamError> {
        check_region(region)?;
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_owned()))
            .load()
            .await;
        let chain = "the default AWS credential chain";
        let (provider, description) = match role_arn {
            None => {
                let provider =
                    sdk.credentials_provider()
                        .ok_or_else(|| MskIamError::Credentials {
                            provider: chain.to_owned(),
                            message: "no credentials provider is configured".to_owned(),
                        })?;
                (provider, chain.to_owned())
            }
            Some(arn) => {
                let provider = aws_config::sts::AssumeRoleProvider::builder(arn)
                    .session_name(SESSION_NAME)
                    .configure(&sdk)
                    .build()
                    .await;
                (
                    SharedCredentialsProvider::new(provider),
                    format!("AssumeRole {arn} (session {SESSION_NAME:?}) with {chain}"),
                )
            }
        };
        let auth = Self::build(region, provider, description, FETCH_TIMEOUT);
        auth.fetch_async().await?;
        Ok(auth)
    }

    /// Tokens for `region` signed with credentials from `provider`.
    ///
    /// Fetches nothing yet: the first [`Self::token`] call does. Starts the credential thread.
    pub fn with_provider(region: &str, provider: SharedCredentialsProvider) -> Self {
        Self::build(
            region,
            provider,
            "the configured credentials provider".to_owned(),
            FETCH_TIMEOUT,
        )
    }

    /// Caps the `expires_at_ms` of the tokens this handle returns at `lifetime` from their
    /// signing, so librdkafka (which refreshes at 80 % of the reported lifetime) asks for a new
    /// token sooner. The token itself stays valid for 900 s. Exists for tests and for users who
    /// want earlier refreshes.
    pub fn with_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = Some(lifetime);
        self
    }

    fn build(
        region: &str,
        provider: SharedCredentialsProvider,
        description: String,
        fetch_timeout: Duration,
    ) -> Self {
        let cache = Arc::new(Mutex::new(None));
        let (tx, rx) = tokio_mpsc::unbounded_channel();
        let worker_cache = Arc::clone(&cache);
        let spawned = std::thread::Builder::new()
            .name("trailpipe-msk-iam".to_owned())
            .spawn(move || credential_thread(provider, worker_cache, rx, fetch_timeout));
        let requests = match spawned {
            Ok(_detached) => Some(tx),
            Err(e) => {
                tracing::error!(error = %e, "could not start the MSK IAM credential thread");
                None
            }
        };
        MskIamAuth {
            inner: Arc::new(Inner {
                region: region.to_owned(),
                provider: description,
                cache,
                fetch_lock: Mutex::new(()),
                requests,
                fetch_timeout,
            }),
            lifetime: None,
        }
    }

    /// A fresh token. Synchronous; see the module documentation for why it is safe to call on
    /// any thread. Waits for the credential thread only when the cached credentials are missing
    /// or within `REFRESH_BEFORE_EXPIRY` (5 min) of their expiry (credentials without an expiry:
    /// 10 min after they were fetched); each fetch is bounded at about 17 s.
    ///
    /// The reported `expires_at_ms` is the earliest of `sign_token`'s value, the credentials'
    /// expiry and the [`Self::with_lifetime`] cap.
    pub fn token(&self) -> Result<MskToken, MskIamError> {
        let creds = self.credentials()?;
        let now = SystemTime::now();
        let mut token = sign_token(&self.inner.region, &creds, now)?;
        if let Some(expiry) = creds.expiry() {
            token.expires_at_ms = token.expires_at_ms.min(millis_since_epoch(expiry));
        }
        if let Some(lifetime) = self.lifetime {
            let cap = millis_since_epoch(now)
                .saturating_add(i64::try_from(lifetime.as_millis()).unwrap_or(i64::MAX));
            token.expires_at_ms = token.expires_at_ms.min(cap);
        }
        Ok(token)
    }

    /// [`Self::token`] as rdkafka's `OAuthToken`, for `ClientContext::generate_oauth_token`
    /// (with `const ENABLE_REFRESH_OAUTH_TOKEN: bool = true`).
    pub fn oauth_token(&self) -> Result<rdkafka::client::OAuthToken, Box<dyn std::error::Error>> {
        let token = self.token()?;
        Ok(rdkafka::client::OAuthToken {
            token: token.token,
            principal_name: token.principal,
            lifetime_ms: token.expires_at_ms,
        })
    }

    /// Cached credentials if they are not within [`REFRESH_BEFORE_EXPIRY`] of expiring, else
    /// freshly fetched ones (or, if the fetch fails, the cached ones while still unexpired).
    fn credentials(&self) -> Result<Credentials, MskIamError> {
        if let Some(creds) = self.cached(REFRESH_BEFORE_EXPIRY) {
            return Ok(creds);
        }
        let _one_fetch = lock(&self.inner.fetch_lock);
        // Another caller may have fetched while this one waited for the lock.
        if let Some(creds) = self.cached(REFRESH_BEFORE_EXPIRY) {
            return Ok(creds);
        }
        match self.fetch_blocking() {
            Ok(creds) => Ok(creds),
            Err(e) => match self.cached(Duration::ZERO) {
                Some(creds) => {
                    tracing::warn!(
                        error = %e,
                        "refreshing AWS credentials for MSK IAM failed; signing with the cached ones until they expire"
                    );
                    Ok(creds)
                }
                None => Err(e),
            },
        }
    }

    /// The cached credentials if they may be reused for at least `margin` more.
    fn cached(&self, margin: Duration) -> Option<Credentials> {
        let cache = lock(&self.inner.cache);
        let cached = cache.as_ref()?;
        match cached.reuse_until.duration_since(SystemTime::now()) {
            Ok(left) if left > margin => Some(cached.creds.clone()),
            _ => None,
        }
    }

    fn fetch_blocking(&self) -> Result<Credentials, MskIamError> {
        let (tx, rx) = std_mpsc::sync_channel(1);
        self.send(Request::Blocking(tx))?;
        match rx.recv_timeout(self.inner.fetch_timeout + REPLY_MARGIN) {
            Ok(result) => result.map_err(|message| self.error(message)),
            Err(std_mpsc::RecvTimeoutError::Timeout) => Err(self.error(format!(
                "no answer from the credential thread within {:?}",
                self.inner.fetch_timeout + REPLY_MARGIN
            ))),
            Err(std_mpsc::RecvTimeoutError::Disconnected) => {
                Err(self.error("the credential thread stopped".to_owned()))
            }
        }
    }

    async fn fetch_async(&self) -> Result<Credentials, MskIamError> {
        // No timeout here (the caller's runtime may have no timer): the credential thread
        // bounds the fetch itself, and a stopped thread drops the sender.
        let (tx, rx) = oneshot::channel();
        self.send(Request::Async(tx))?;
        match rx.await {
            Ok(result) => result.map_err(|message| self.error(message)),
            Err(_) => Err(self.error("the credential thread stopped".to_owned())),
        }
    }

    fn send(&self, request: Request) -> Result<(), MskIamError> {
        let sent = match &self.inner.requests {
            Some(tx) => tx.send(request).is_ok(),
            None => false,
        };
        if sent {
            Ok(())
        } else {
            Err(self.error("the credential thread is not running".to_owned()))
        }
    }

    fn error(&self, message: String) -> MskIamError {
        MskIamError::Credentials {
            provider: self.inner.provider.clone(),
            message,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The credential thread: answers fetch requests and refreshes expiring credentials in the
/// background, until every [`MskIamAuth`] clone is dropped.
fn credential_thread(
    provider: SharedCredentialsProvider,
    cache: Arc<Mutex<Option<Cached>>>,
    mut requests: tokio_mpsc::UnboundedReceiver<Request>,
    fetch_timeout: Duration,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            let message = format!("could not start the credential thread's runtime: {e}");
            // Not inside a runtime here, so blocking_recv cannot panic.
            while let Some(request) = requests.blocking_recv() {
                request.answer(Err(message.clone()));
            }
            return;
        }
    };
    runtime.block_on(async move {
        loop {
            let wait = background_refresh_in(&cache);
            let request = match wait {
                Some(wait) => tokio::select! {
                    request = requests.recv() => match request {
                        Some(request) => Some(request),
                        None => break,
                    },
                    () = tokio::time::sleep(wait) => None,
                },
                None => match requests.recv().await {
                    Some(request) => Some(request),
                    None => break,
                },
            };
            let result = fetch(&provider, fetch_timeout).await;
            match &result {
                Ok(creds) => {
                    tracing::debug!(
                        expiry = ?creds.expiry(),
                        background = request.is_none(),
                        "fetched AWS credentials for MSK IAM"
                    );
                    let reuse_until = creds
                        .expiry()
                        .unwrap_or_else(|| SystemTime::now() + NO_EXPIRY_REUSE);
                    *lock(&cache) = Some(Cached {
                        creds: creds.clone(),
                        reuse_until,
                    });
                }
                Err(e) if request.is_none() => tracing::warn!(
                    error = %e,
                    retry_in = ?MIN_BACKGROUND_INTERVAL,
                    "background refresh of AWS credentials for MSK IAM failed"
                ),
                Err(_) => {} // reported to the caller
            }
            if let Some(request) = request {
                request.answer(result);
            }
        }
    });
}

/// How long until the cached credentials should be refreshed in the background: at
/// [`BACKGROUND_REFRESH_BEFORE_EXPIRY`] before their expiry (or halfway there, for short-lived
/// ones), never sooner than [`MIN_BACKGROUND_INTERVAL`] from now. `None` when nothing is cached
/// or the credentials do not expire (those are fetched again on demand, which is quick for
/// static keys).
fn background_refresh_in(cache: &Mutex<Option<Cached>>) -> Option<Duration> {
    let expiry = lock(cache).as_ref()?.creds.expiry()?;
    let left = expiry
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    let wait = left.saturating_sub(BACKGROUND_REFRESH_BEFORE_EXPIRY.min(left / 2));
    Some(wait.max(MIN_BACKGROUND_INTERVAL))
}

/// One provider call, bounded in time, with a panic in the provider turned into an error.
async fn fetch(
    provider: &SharedCredentialsProvider,
    timeout: Duration,
) -> Result<Credentials, String> {
    let call = AssertUnwindSafe(provider.provide_credentials()).catch_unwind();
    match tokio::time::timeout(timeout, call).await {
        Err(_) => Err(format!("timed out after {timeout:?}")),
        Ok(Err(_panic)) => Err("the credentials provider panicked".to_owned()),
        Ok(Ok(Err(e))) => Err(error_chain(&e)),
        Ok(Ok(Ok(creds))) => Ok(creds),
    }
}

#[cfg(test)]
mod tests {
    use std::{
        error::Error,
        net::TcpListener,
        process::Command,
        sync::atomic::{AtomicUsize, Ordering},
        time::Instant,
    };

    use aws_credential_types::{
        credential_fn::provide_credentials_fn, provider::error::CredentialsError,
    };
    use rdkafka::{
        client::OAuthToken,
        config::ClientConfig,
        consumer::{BaseConsumer, Consumer as _, ConsumerContext},
        ClientContext,
    };

    use super::*;

    const AKID: &str = "AKIDEXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const SESSION_TOKEN: &str = "FwoGZXIvYXdzEPb//////////wEaDExampleSessionToken+with/slash==";

    // Known answers from AWS's Python signer (aws-msk-iam-sasl-signer-python 1.0.2, botocore
    // 1.44.18), produced with `pip install aws-msk-iam-sasl-signer-python` and:
    //
    // import base64, datetime
    // import botocore.auth
    // from botocore.credentials import Credentials
    // import aws_msk_iam_sasl_signer.MSKAuthTokenProvider as p
    // # Freeze botocore's clock at 2024-03-01T12:34:56.789Z (naive UTC, like get_current_datetime()).
    // botocore.auth.get_current_datetime = lambda remove_tzinfo=True: datetime.datetime(2024, 3, 1, 12, 34, 56, 789000)
    // AK, SK = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    // TOK = "FwoGZXIvYXdzEPb//////////wEaDExampleSessionToken+with/slash=="
    // for creds in (Credentials(AK, SK), Credentials(AK, SK, TOK)):
    //     token, expiry_ms = getattr(p, "__construct_auth_token")("us-east-1", creds)
    //     print(token, expiry_ms)
    //     print(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode())
    //
    // (`__construct_auth_token` is what every public `generate_auth_token*` function ends in.)
    const PY_USER_AGENT: &str = "aws-msk-iam-sasl-signer-python/1.0.2";
    /// 2024-03-01T12:34:56.789Z.
    const KAT_TIME_MS: u64 = 1_709_296_496_789;
    const PY_EXPIRY_MS: i64 = 1_709_297_396_000;
    const PY_TOKEN: &str = "aHR0cHM6Ly9rYWZrYS51cy1lYXN0LTEuYW1hem9uYXdzLmNvbS8_QWN0aW9uPWthZmthLWNsdXN0ZXIlM0FDb25uZWN0JlgtQW16LUFsZ29yaXRobT1BV1M0LUhNQUMtU0hBMjU2JlgtQW16LUNyZWRlbnRpYWw9QUtJREVYQU1QTEUlMkYyMDI0MDMwMSUyRnVzLWVhc3QtMSUyRmthZmthLWNsdXN0ZXIlMkZhd3M0X3JlcXVlc3QmWC1BbXotRGF0ZT0yMDI0MDMwMVQxMjM0NTZaJlgtQW16LUV4cGlyZXM9OTAwJlgtQW16LVNpZ25lZEhlYWRlcnM9aG9zdCZYLUFtei1TaWduYXR1cmU9MGRhMTM0ZDBlYzY4NGU1MTc3MDFhMGZhMzAxNDU0ZGQ2OTAxYTU4NGM3NjRkNjkxNjYzODc0ZGVmYWVmNWIyMiZVc2VyLUFnZW50PWF3cy1tc2staWFtLXNhc2wtc2lnbmVyLXB5dGhvbiUyRjEuMC4y";
    const PY_URL: &str = "https://kafka.us-east-1.amazonaws.com/?Action=kafka-cluster%3AConnect&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20240301%2Fus-east-1%2Fkafka-cluster%2Faws4_request&X-Amz-Date=20240301T123456Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature=0da134d0ec684e517701a0fa301454dd6901a584c764d691663874defaef5b22&User-Agent=aws-msk-iam-sasl-signer-python%2F1.0.2";
    const PY_SESSION_TOKEN: &str = "aHR0cHM6Ly9rYWZrYS51cy1lYXN0LTEuYW1hem9uYXdzLmNvbS8_QWN0aW9uPWthZmthLWNsdXN0ZXIlM0FDb25uZWN0JlgtQW16LUFsZ29yaXRobT1BV1M0LUhNQUMtU0hBMjU2JlgtQW16LUNyZWRlbnRpYWw9QUtJREVYQU1QTEUlMkYyMDI0MDMwMSUyRnVzLWVhc3QtMSUyRmthZmthLWNsdXN0ZXIlMkZhd3M0X3JlcXVlc3QmWC1BbXotRGF0ZT0yMDI0MDMwMVQxMjM0NTZaJlgtQW16LUV4cGlyZXM9OTAwJlgtQW16LVNpZ25lZEhlYWRlcnM9aG9zdCZYLUFtei1TZWN1cml0eS1Ub2tlbj1Gd29HWlhJdllYZHpFUGIlMkYlMkYlMkYlMkYlMkYlMkYlMkYlMkYlMkYlMkZ3RWFERXhhbXBsZVNlc3Npb25Ub2tlbiUyQndpdGglMkZzbGFzaCUzRCUzRCZYLUFtei1TaWduYXR1cmU9N2UyMTE1ZmM0NDUwY2I3MTkwYTRjYmU2MTBjY2M2MjMxYTNjZDEwMjE3OTkyM2E5ZGJiZTIwYjcwODBmYmQyNyZVc2VyLUFnZW50PWF3cy1tc2staWFtLXNhc2wtc2lnbmVyLXB5dGhvbiUyRjEuMC4y";
    const PY_SESSION_URL: &str = "https://kafka.us-east-1.amazonaws.com/?Action=kafka-cluster%3AConnect&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20240301%2Fus-east-1%2Fkafka-cluster%2Faws4_request&X-Amz-Date=20240301T123456Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Security-Token=FwoGZXIvYXdzEPb%2F%2F%2F%2F%2F%2F%2F%2F%2F%2FwEaDExampleSessionToken%2Bwith%2Fslash%3D%3D&X-Amz-Signature=7e2115fc4450cb7190a4cbe610ccc6231a3cd102179923a9dbbe20b7080fbd27&User-Agent=aws-msk-iam-sasl-signer-python%2F1.0.2";

    fn creds(session_token: Option<&str>) -> Credentials {
        Credentials::new(AKID, SECRET, session_token.map(str::to_owned), None, "test")
    }

    fn kat_time() -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(KAT_TIME_MS)
    }

    fn decode(token: &str) -> String {
        String::from_utf8(URL_SAFE_NO_PAD.decode(token).expect("base64url")).expect("utf-8")
    }

    fn percent_decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    }

    /// The query parameters of a decoded token, in order, percent-decoded.
    fn query(url: &str) -> Vec<(String, String)> {
        let (_, query) = url.split_once('?').expect("query");
        query
            .split('&')
            .map(|kv| {
                let (k, v) = kv.split_once('=').expect("key=value");
                (percent_decode(k), percent_decode(v))
            })
            .collect()
    }

    fn param<'a>(q: &'a [(String, String)], name: &str) -> &'a str {
        let found: Vec<_> = q.iter().filter(|(k, _)| k == name).collect();
        assert_eq!(found.len(), 1, "{name} in {q:?}");
        &found[0].1
    }

    #[test]
    fn known_answer_matches_python_signer_without_session_token() {
        let t = sign_with_user_agent("us-east-1", &creds(None), kat_time(), PY_USER_AGENT).unwrap();
        assert_eq!(decode(&t.token), PY_URL);
        assert_eq!(t.token, PY_TOKEN);
        assert_eq!(t.expires_at_ms, PY_EXPIRY_MS);
        assert_eq!(t.principal, AKID);
    }

    #[test]
    fn known_answer_matches_python_signer_with_session_token() {
        let t = sign_with_user_agent(
            "us-east-1",
            &creds(Some(SESSION_TOKEN)),
            kat_time(),
            PY_USER_AGENT,
        )
        .unwrap();
        assert_eq!(decode(&t.token), PY_SESSION_URL);
        assert_eq!(t.token, PY_SESSION_TOKEN);
        assert_eq!(t.expires_at_ms, PY_EXPIRY_MS);
    }

    /// The public function differs from the Python signer only in the unsigned user agent.
    #[test]
    fn sign_token_is_the_python_token_with_trailpipe_user_agent() {
        for (c, py_url) in [
            (creds(None), PY_URL),
            (creds(Some(SESSION_TOKEN)), PY_SESSION_URL),
        ] {
            let t = sign_token("us-east-1", &c, kat_time()).unwrap();
            let url = decode(&t.token);
            let (signed, ua) = url.rsplit_once("&User-Agent=").unwrap();
            let (py_signed, _) = py_url.rsplit_once("&User-Agent=").unwrap();
            assert_eq!(signed, py_signed);
            assert_eq!(ua, format!("trailpipe%2F{}", env!("CARGO_PKG_VERSION")));
            assert_eq!(t.expires_at_ms, PY_EXPIRY_MS);
            // Deterministic.
            assert_eq!(t, sign_token("us-east-1", &c, kat_time()).unwrap());
        }
    }

    #[test]
    fn token_format() {
        // 2031-07-09T23:59:59.999Z: the date in the scope is the signing day's.
        let now = UNIX_EPOCH + Duration::from_millis(1_941_407_999_999);
        for session in [None, Some(SESSION_TOKEN)] {
            let t = sign_token("eu-west-3", &creds(session), now).unwrap();
            assert!(!t.token.contains(['=', '+', '/']), "{}", t.token);
            assert!(t
                .token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            let url = decode(&t.token);
            assert!(
                url.starts_with(
                    "https://kafka.eu-west-3.amazonaws.com/?Action=kafka-cluster%3AConnect&"
                ),
                "{url}"
            );
            let q = query(&url);
            assert_eq!(q[0], ("Action".into(), "kafka-cluster:Connect".into()));
            assert_eq!(param(&q, "X-Amz-Algorithm"), "AWS4-HMAC-SHA256");
            assert_eq!(
                param(&q, "X-Amz-Credential"),
                format!("{AKID}/20310709/eu-west-3/kafka-cluster/aws4_request")
            );
            assert_eq!(param(&q, "X-Amz-Date"), "20310709T235959Z");
            assert_eq!(param(&q, "X-Amz-Expires"), "900");
            assert_eq!(param(&q, "X-Amz-SignedHeaders"), "host");
            let signature = param(&q, "X-Amz-Signature");
            assert_eq!(signature.len(), 64);
            assert!(signature.bytes().all(|b| b.is_ascii_hexdigit()));
            match session {
                Some(s) => assert_eq!(param(&q, "X-Amz-Security-Token"), s),
                None => assert!(q.iter().all(|(k, _)| k != "X-Amz-Security-Token")),
            }
            assert_eq!(q.last().unwrap().0, "User-Agent");
            assert_eq!(
                q.last().unwrap().1,
                format!("trailpipe/{}", env!("CARGO_PKG_VERSION"))
            );
            assert_eq!(t.expires_at_ms, 1_941_407_999_000 + 900_000);
        }
    }

    #[test]
    fn rejects_bad_input() {
        let now = kat_time();
        for region in ["", "us-east-1.evil.com/", "US-EAST-1", "us east 1"] {
            assert!(
                matches!(
                    sign_token(region, &creds(None), now),
                    Err(MskIamError::InvalidRegion(_))
                ),
                "{region:?}"
            );
        }
        let empty = Credentials::new("", SECRET, None, None, "test");
        assert!(matches!(
            sign_token("us-east-1", &empty, now),
            Err(MskIamError::EmptyCredentials)
        ));
        assert!(matches!(
            sign_token(
                "us-east-1",
                &creds(None),
                UNIX_EPOCH - Duration::from_secs(1)
            ),
            Err(MskIamError::Clock)
        ));
    }

    #[test]
    fn debug_prints_no_secret() {
        let c = Credentials::new(
            AKID,
            SECRET,
            Some(SESSION_TOKEN.to_owned()),
            Some(SystemTime::now() + Duration::from_secs(3600)),
            "test",
        );
        let auth = MskIamAuth::with_provider("us-east-1", SharedCredentialsProvider::new(c));
        let token = auth.token().unwrap();
        for printed in [
            format!("{auth:?}"),
            format!("{token:?}"),
            format!("{auth:#?}"),
        ] {
            assert!(!printed.contains(SECRET), "{printed}");
            assert!(!printed.contains(SESSION_TOKEN), "{printed}");
            assert!(!printed.contains(&token.token), "{printed}");
            assert!(!printed.contains(&token.token[..16]), "{printed}");
        }
        // The cached expiry is shown, so the Debug output really reads the cache.
        assert!(format!("{auth:?}").contains("cached_credentials_expiry: Some"));
    }

    /// A provider counting its calls; each call sleeps on the tokio timer (so it needs a
    /// runtime) and then does what `step` says for that call number (1-based).
    fn scripted(
        calls: &Arc<AtomicUsize>,
        step: fn(usize) -> Option<Result<Duration, &'static str>>,
    ) -> SharedCredentialsProvider {
        let calls = Arc::clone(calls);
        SharedCredentialsProvider::new(provide_credentials_fn(move || {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                match step(n) {
                    Some(Ok(valid_for)) => Ok(Credentials::new(
                        format!("AKID{n}"),
                        SECRET,
                        Some(SESSION_TOKEN.to_owned()),
                        Some(SystemTime::now() + valid_for),
                        "scripted",
                    )),
                    Some(Err(msg)) => Err(CredentialsError::provider_error(msg)),
                    None => std::future::pending().await,
                }
            }
        }))
    }

    /// `token()` on a worker thread of a 2-worker runtime, on a current-thread runtime and on a
    /// plain thread: no panic, no deadlock, credentials cached.
    #[test]
    fn token_is_sync_safe_everywhere_and_caches() {
        let calls = Arc::new(AtomicUsize::new(0));
        let auth = MskIamAuth::with_provider(
            "us-east-1",
            scripted(&calls, |_| Some(Ok(Duration::from_secs(3600)))),
        );

        let multi = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let a = auth.clone();
        let t1 = multi
            .block_on(async move { tokio::spawn(async move { a.token() }).await })
            .unwrap()
            .unwrap();

        let current = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let t2 = current.block_on(async { auth.token() }).unwrap();
        let a = auth.clone();
        let t3 = std::thread::spawn(move || a.token())
            .join()
            .unwrap()
            .unwrap();

        assert_eq!(calls.load(Ordering::SeqCst), 1, "credentials are cached");
        for t in [&t1, &t2, &t3] {
            assert_eq!(t.principal, "AKID1");
            assert!(decode(&t.token).contains("X-Amz-Security-Token="));
        }
    }

    /// Concurrent callers needing credentials wait for one fetch.
    #[test]
    fn concurrent_callers_share_one_fetch() {
        let calls = Arc::new(AtomicUsize::new(0));
        let auth = MskIamAuth::with_provider(
            "us-east-1",
            scripted(&calls, |_| Some(Ok(Duration::from_secs(3600)))),
        );
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let a = auth.clone();
                std::thread::spawn(move || a.token())
            })
            .collect();
        for t in threads {
            t.join().unwrap().unwrap();
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    /// Credentials within five minutes of expiry are fetched again; the token never claims to
    /// outlive its credentials.
    #[test]
    fn expiring_credentials_are_refetched_and_cap_the_expiry() {
        let calls = Arc::new(AtomicUsize::new(0));
        let auth = MskIamAuth::with_provider(
            "us-east-1",
            scripted(&calls, |_| Some(Ok(Duration::from_secs(4 * 60)))),
        );
        let before = millis_since_epoch(SystemTime::now());
        let t1 = auth.token().unwrap();
        let t2 = auth.token().unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(
            (t1.principal.as_str(), t2.principal.as_str()),
            ("AKID1", "AKID2")
        );
        // Capped at the credentials' expiry (4 min), not the URL's 15 min.
        assert!(t2.expires_at_ms <= before + 4 * 60_000 + 1_000, "{t2:?}");
        assert!(t2.expires_at_ms >= before + 4 * 60_000 - 1_000, "{t2:?}");
    }

    #[test]
    fn provider_failure_is_a_clear_error() {
        let calls = Arc::new(AtomicUsize::new(0));
        let auth = MskIamAuth::with_provider(
            "us-east-1",
            scripted(&calls, |_| Some(Err("STS said no (AccessDenied)"))),
        );
        let err = auth.token().unwrap_err().to_string();
        assert!(err.contains("the configured credentials provider"), "{err}");
        assert!(err.contains("STS said no (AccessDenied)"), "{err}");
        let err = match auth.oauth_token() {
            Ok(_) => panic!("a token from a failing provider"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("STS said no"), "{err}");
    }

    /// A failed refresh falls back to the cached credentials while they are unexpired.
    #[test]
    fn failed_refresh_uses_unexpired_cached_credentials() {
        let calls = Arc::new(AtomicUsize::new(0));
        let auth = MskIamAuth::with_provider(
            "us-east-1",
            scripted(&calls, |n| match n {
                1 => Some(Ok(Duration::from_secs(4 * 60))),
                _ => Some(Err("refresh failed")),
            }),
        );
        assert_eq!(auth.token().unwrap().principal, "AKID1");
        assert_eq!(auth.token().unwrap().principal, "AKID1");
        assert_eq!(calls.load(Ordering::SeqCst), 2, "the refresh was attempted");
    }

    #[test]
    fn hanging_provider_times_out() {
        let calls = Arc::new(AtomicUsize::new(0));
        let auth = MskIamAuth::build(
            "us-east-1",
            scripted(&calls, |_| None),
            "a hanging provider".to_owned(),
            Duration::from_millis(300),
        );
        let started = Instant::now();
        let err = auth.token().unwrap_err().to_string();
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        assert!(err.contains("a hanging provider"), "{err}");
        assert!(err.contains("timed out"), "{err}");
    }

    #[test]
    fn with_lifetime_caps_the_expiry() {
        let auth =
            MskIamAuth::with_provider("us-east-1", SharedCredentialsProvider::new(creds(None)))
                .with_lifetime(Duration::from_secs(10));
        let before = millis_since_epoch(SystemTime::now());
        let t = auth.token().unwrap();
        let after = millis_since_epoch(SystemTime::now());
        assert!(t.expires_at_ms >= before + 10_000 && t.expires_at_ms <= after + 10_000);
    }

    /// A client context whose OAUTHBEARER refresh callback records what it hands over.
    struct RefreshContext {
        auth: MskIamAuth,
        /// (time of the call in ms, token, reported expiry in ms).
        handed: Mutex<Vec<(i64, String, i64)>>,
    }

    impl ClientContext for RefreshContext {
        const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

        fn generate_oauth_token(
            &self,
            _oauthbearer_config: Option<&str>,
        ) -> Result<OAuthToken, Box<dyn Error>> {
            let token = self.auth.oauth_token()?;
            lock(&self.handed).push((
                millis_since_epoch(SystemTime::now()),
                token.token.clone(),
                token.lifetime_ms,
            ));
            Ok(token)
        }
    }

    impl ConsumerContext for RefreshContext {}

    /// librdkafka asks for a token at start and again at 80 % of the reported lifetime; every
    /// token it gets is freshly signed and unexpired.
    #[test]
    fn librdkafka_refreshes_tokens_through_the_callback() {
        // A port nobody listens on: the consumer never connects, the token timer still runs.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let context = RefreshContext {
            auth: MskIamAuth::with_provider(
                "us-east-1",
                SharedCredentialsProvider::new(creds(Some(SESSION_TOKEN))),
            )
            .with_lifetime(Duration::from_millis(1500)),
            handed: Mutex::new(Vec::new()),
        };
        let consumer: BaseConsumer<RefreshContext> = ClientConfig::new()
            .set("bootstrap.servers", format!("127.0.0.1:{port}"))
            .set("group.id", "trailpipe-msk-iam-test")
            .set("security.protocol", "SASL_PLAINTEXT")
            .set("sasl.mechanism", "OAUTHBEARER")
            .create_with_context(context)
            .unwrap();

        // Polled from a task on a 2-worker runtime, as the Kafka source does.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let consumer = runtime.block_on(async move {
            tokio::spawn(async move {
                let deadline = Instant::now() + Duration::from_secs(8);
                while Instant::now() < deadline && lock(&consumer.context().handed).len() < 3 {
                    let _ = consumer.poll(Duration::from_millis(100));
                }
                consumer
            })
            .await
            .unwrap()
        });

        let handed = lock(&consumer.context().handed).clone();
        assert!(handed.len() >= 3, "callback ran {} times", handed.len());
        for (at, token, expires_at) in &handed {
            assert!(expires_at > at, "handed an expired token");
            assert!(*expires_at <= at + 1500 + 5);
            assert!(decode(token).contains("X-Amz-Security-Token="));
        }
        for pair in handed.windows(2) {
            let ((_, t0, e0), (_, t1, e1)) = (&pair[0], &pair[1]);
            assert!(e1 > e0, "expiry increases");
            let date = |t: &str| param(&query(&decode(t)), "X-Amz-Date").to_owned();
            assert!(
                date(t1) > date(t0),
                "signed again: {} then {}",
                date(t0),
                date(t1)
            );
            assert_ne!(t0, t1);
        }
    }

    /// `from_env` with nothing to get credentials from fails at once with an error naming the
    /// provider. Runs in a child process (this test binary, this test) with a cleared
    /// environment, so the test process's environment is never mutated.
    #[test]
    fn from_env_without_credentials_fails_clearly() {
        if std::env::var_os("TRAILPIPE_MSK_IAM_CHILD").is_some() {
            return from_env_child();
        }
        let this_test = format!(
            "{}::from_env_without_credentials_fails_clearly",
            module_path!().split_once("::").unwrap().1
        );
        let started = Instant::now();
        let out = Command::new(std::env::current_exe().unwrap())
            .args([
                this_test.as_str(),
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env_clear()
            .env("TRAILPIPE_MSK_IAM_CHILD", "1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/nonexistent/trailpipe-msk-iam/config")
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                "/nonexistent/trailpipe-msk-iam/credentials",
            )
            .env("HOME", "/nonexistent/trailpipe-msk-iam")
            .output()
            .unwrap();
        let elapsed = started.elapsed();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
        assert!(
            stdout.contains("1 passed"),
            "the child ran the test:\n{stdout}"
        );
        assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
    }

    fn from_env_child() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let bound = Duration::from_secs(20);
            let role = "arn:aws:iam::123456789012:role/trailpipe-test";
            let started = Instant::now();
            let err = tokio::time::timeout(bound, MskIamAuth::from_env("us-east-1", Some(role)))
                .await
                .expect("bounded time")
                .unwrap_err()
                .to_string();
            println!("with role ({:?}): {err}", started.elapsed());
            assert!(err.starts_with("fetching AWS credentials for MSK IAM authentication from AssumeRole arn:aws:iam::123456789012:role/trailpipe-test (session \"trailpipe\") with the default AWS credential chain failed: "), "{err}");
            assert!(err.contains("no credentials found in chain"), "{err}");

            let started = Instant::now();
            let err = tokio::time::timeout(bound, MskIamAuth::from_env("us-east-1", None))
                .await
                .expect("bounded time")
                .unwrap_err()
                .to_string();
            println!("without role ({:?}): {err}", started.elapsed());
            assert!(err.starts_with("fetching AWS credentials for MSK IAM authentication from the default AWS credential chain failed: "), "{err}");
            assert!(err.contains("no credentials found in chain"), "{err}");

            let err = MskIamAuth::from_env("us-east-1.example.com", None).await.unwrap_err();
            assert!(matches!(err, MskIamError::InvalidRegion(_)), "{err}");
        });
    }
}
