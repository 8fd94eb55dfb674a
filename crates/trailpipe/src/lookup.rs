//! `trailpipe lookup`: event history for people on the box. It asks the running daemon
//! (LookupEvents on its CloudTrail API: `api.listen`, over HTTPS with `[api.tls]`, else
//! `server.listen`), which owns the store.

use std::{
    io::{Read, Write},
    sync::Arc,
};

use anyhow::Context;
use trailpipe_config::Config;
use trailpipe_history::{render, LookupResponse, OutputFormat};

/// Flags of `trailpipe lookup`.
#[derive(clap::Args)]
pub struct LookupArgs {
    /// Configuration file of the running daemon (for where its API listens).
    #[arg(long, short)]
    config: std::path::PathBuf,
    /// PEM file of the CA certificates that may sign the API's TLS certificate (with
    /// `[api.tls]`; default: the certificates in `api.tls.cert_file` itself).
    #[arg(long)]
    ca_bundle: Option<std::path::PathBuf>,
    /// One lookup attribute, `Key=Value` (EventId, EventName, ReadOnly, Username, ResourceType,
    /// ResourceName, EventSource, AccessKeyId).
    #[arg(long)]
    attribute: Option<String>,
    /// Oldest event time (RFC 3339).
    #[arg(long)]
    start: Option<String>,
    /// Newest event time (RFC 3339).
    #[arg(long)]
    end: Option<String>,
    /// Region whose events are listed (default: the storage region).
    #[arg(long)]
    region: Option<String>,
    /// Most events to print.
    #[arg(long, default_value_t = 50)]
    max_items: usize,
    /// `table` or `json`.
    #[arg(long, default_value = "table")]
    output: String,
}

fn epoch(s: &str) -> anyhow::Result<i64> {
    Ok(
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .with_context(|| format!("{s:?} is not an RFC 3339 time"))?
            .unix_timestamp(),
    )
}

const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
const TARGET: &str = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents";

/// The SigV4 headers of a LookupEvents request, signed (by `aws-sigv4`, as the AWS SDKs sign)
/// with `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` from the environment when they are set —
/// needed once the daemon has `[[api.credentials]]`. Without them, an unverifiable
/// `Authorization` that only names the region (accepted while no credentials are configured).
fn signature(
    listen: std::net::SocketAddr,
    region: &str,
    body: &str,
) -> anyhow::Result<Vec<(String, String)>> {
    use aws_sigv4::{
        http_request::{sign, SignableBody, SignableRequest, SigningSettings},
        sign::v4,
    };
    let (Ok(id), Ok(secret)) = (
        std::env::var("AWS_ACCESS_KEY_ID"),
        std::env::var("AWS_SECRET_ACCESS_KEY"),
    ) else {
        return Ok(vec![(
            "Authorization".into(),
            format!("AWS4-HMAC-SHA256 Credential=local/20260101/{region}/cloudtrail/aws4_request"),
        )]);
    };
    let identity =
        aws_credential_types::Credentials::new(id, secret, None, None, "environment").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("cloudtrail")
        .time(std::time::SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .context("signing the request")?
        .into();
    let host = listen.to_string();
    let headers = [
        ("host", host.as_str()),
        ("content-type", CONTENT_TYPE),
        ("x-amz-target", TARGET),
    ];
    let request = SignableRequest::new(
        "POST",
        format!("http://{listen}/"),
        headers.into_iter(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .context("signing the request")?;
    let (instructions, _) = sign(request, &params)
        .context("signing the request")?
        .into_parts();
    let (headers, _) = instructions.into_parts();
    Ok(headers
        .into_iter()
        .map(|h| (h.name().to_owned(), h.value().to_owned()))
        .collect())
}

/// Where the daemon's API is: its address (a wildcard one is reached on loopback) and, with
/// `[api.tls]`, the TLS client settings and the name its certificate must carry.
struct Endpoint {
    addr: std::net::SocketAddr,
    tls: Option<(
        Arc<rustls::ClientConfig>,
        rustls::pki_types::ServerName<'static>,
    )>,
}

impl Endpoint {
    fn of(config: &Config, ca_bundle: Option<&std::path::Path>) -> anyhow::Result<Self> {
        use rustls::pki_types::{pem::PemObject, CertificateDer, ServerName};
        let mut addr = config.api.served_on(&config.server).context(
            "the daemon does not serve its API (server.listen is not loopback and api.listen is not set)",
        )?;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        let Some(t) = config
            .api
            .tls
            .as_ref()
            .filter(|_| config.api.listen.is_some())
        else {
            return Ok(Self { addr, tls: None });
        };
        let anchors = ca_bundle.unwrap_or(&t.cert_file);
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(anchors)
            .with_context(|| format!("reading {}", anchors.display()))?
        {
            roots
                .add(c.with_context(|| format!("reading {}", anchors.display()))?)
                .with_context(|| format!("a certificate in {}", anchors.display()))?;
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = if addr.ip().is_loopback() {
            ServerName::try_from("localhost")?
        } else {
            ServerName::IpAddress(addr.ip().into())
        };
        Ok(Self {
            addr,
            tls: Some((Arc::new(client), name)),
        })
    }

    fn connect(&self) -> anyhow::Result<Box<dyn ReadWrite>> {
        let addr = self.addr;
        let tcp = std::net::TcpStream::connect(addr)
            .with_context(|| format!("connecting to the daemon at {addr} (is it running?)"))?;
        Ok(match &self.tls {
            None => Box::new(tcp),
            Some((client, name)) => {
                let conn = rustls::ClientConnection::new(client.clone(), name.clone())?;
                Box::new(rustls::StreamOwned::new(conn, tcp))
            }
        })
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// One LookupEvents call; the body of the answer, or the AWS error.
fn call(endpoint: &Endpoint, region: &str, body: &str) -> anyhow::Result<String> {
    let listen = endpoint.addr;
    let mut c = endpoint.connect()?;
    let mut auth = String::new();
    for (name, value) in signature(listen, region, body)? {
        auth.push_str(&format!("{name}: {value}\r\n"));
    }
    write!(
        c,
        "POST / HTTP/1.1\r\nHost: {listen}\r\nConnection: close\r\nContent-Type: {CONTENT_TYPE}\r\n\
         X-Amz-Target: {TARGET}\r\n{auth}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut text = String::new();
    c.read_to_string(&mut text).with_context(|| {
        if endpoint.tls.is_some() {
            format!("reading the answer from https://{listen} (pass --ca-bundle when its certificate is not signed by a certificate in api.tls.cert_file)")
        } else {
            format!("reading the answer from http://{listen}")
        }
    })?;
    let (head, rest) = text
        .split_once("\r\n\r\n")
        .context("malformed HTTP answer")?;
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    if !head.starts_with("HTTP/1.1 200") {
        let body = body.trim();
        let unsigned = std::env::var_os("AWS_SECRET_ACCESS_KEY").is_none();
        if unsigned && (body.contains("Signature") || body.contains("Authentication")) {
            anyhow::bail!(
                "{body}\nthe daemon requires signed requests: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to one of its [[api.credentials]]"
            );
        }
        anyhow::bail!("{body}");
    }
    Ok(body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// Pages through LookupEvents until `max_items` events or the end, and prints them.
pub fn run(args: LookupArgs) -> anyhow::Result<()> {
    let config = Config::load(&args.config).map_err(|errors| {
        anyhow::anyhow!(
            "{}",
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )
    })?;
    let format = match args.output.as_str() {
        "table" => OutputFormat::Table,
        "json" => OutputFormat::Json,
        o => anyhow::bail!("--output {o:?}: use table or json"),
    };
    let region = args
        .region
        .clone()
        .unwrap_or_else(|| config.storage.region.clone());
    let mut req = serde_json::Map::new();
    if let Some(a) = &args.attribute {
        let (k, v) = a.split_once('=').context("--attribute must be Key=Value")?;
        req.insert(
            "LookupAttributes".into(),
            serde_json::json!([{ "AttributeKey": k, "AttributeValue": v }]),
        );
    }
    if let Some(s) = &args.start {
        req.insert("StartTime".into(), epoch(s)?.into());
    }
    if let Some(e) = &args.end {
        req.insert("EndTime".into(), epoch(e)?.into());
    }
    let endpoint = Endpoint::of(&config, args.ca_bundle.as_deref())?;
    let mut all = LookupResponse {
        events: Vec::new(),
        next_token: None,
    };
    loop {
        let body = serde_json::Value::Object(req.clone()).to_string();
        let page: LookupResponse = serde_json::from_str(&call(&endpoint, &region, &body)?)
            .context("decoding the LookupEvents answer")?;
        all.events.extend(page.events);
        match page.next_token {
            Some(t) if all.events.len() < args.max_items => {
                req.insert("NextToken".into(), t.into());
            }
            other => {
                all.next_token = other;
                break;
            }
        }
    }
    all.events.truncate(args.max_items);
    print!("{}", render(&all, format));
    Ok(())
}
