//! The real `aws cloudtrail` CLI (awscli 1.x in /work/main/.tools/venv, installed by `make test`)
//! against the API served on loopback: what botocore sends and parses is what AWS's own clients
//! will. Skips with a message when the CLI is absent.

mod common;

use std::{path::Path, process::Command};

use common::{TestBackend, ACCOUNT, KEY_DER};
use serde_json::Value;
use trailpipe_auth::{ApiAccess, Credential, CredentialStore, Policy, SecretAccessKey};

const AWS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.tools/venv/bin/aws");

/// Serves the API of `backend` on a free loopback port; returns the port.
async fn serve(backend: &TestBackend) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = trailpipe_api::router(backend.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    port
}

/// Runs `aws cloudtrail <args>` against `port`; returns (exit ok, stdout JSON or Null, stderr).
fn aws(port: u16, region: &str, args: &[String]) -> (bool, Value, String) {
    aws_as(port, region, ("testing", "testing"), args)
}

/// Makes `cmd` (the CLI) sign with the access key `(id, secret)` and see nothing of the
/// developer's own configuration (no retries either: a refusal must show as one).
fn isolated<'c>(cmd: &'c mut Command, key: (&str, &str)) -> &'c mut Command {
    cmd.env("AWS_ACCESS_KEY_ID", key.0)
        .env("AWS_SECRET_ACCESS_KEY", key.1)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_SESSION_TOKEN")
}

/// [`aws`] signing with the access key `(id, secret)`.
fn aws_as(port: u16, region: &str, key: (&str, &str), args: &[String]) -> (bool, Value, String) {
    let endpoint = format!("http://127.0.0.1:{port}");
    let out = isolated(&mut Command::new(AWS), key)
        .arg("cloudtrail")
        .args(args)
        .args([
            "--endpoint-url",
            &endpoint,
            "--region",
            region,
            "--output",
            "json",
        ])
        .output()
        .expect("running the aws CLI");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = if stdout.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("aws {args:?} printed non-JSON ({e}): {stdout}"))
    };
    (
        out.status.success(),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_aws_cli_reads_and_changes_trails_through_the_api() {
    if !Path::new(AWS).exists() {
        eprintln!("SKIP: {AWS} not found (run `make test` once to install the aws CLI)");
        return;
    }
    let backend = TestBackend::new();
    let port = serve(&backend).await;
    let run = move |region: &str, args: &[&str]| {
        let region = region.to_owned();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        tokio::task::spawn_blocking(move || aws(port, &region, &args))
    };

    // describe-trails: the signed region (us-west-2) decides home vs shadow trails.
    let (ok, out, err) = run("us-west-2", &["describe-trails"]).await.unwrap();
    assert!(ok, "{err}");
    let names: Vec<&str> = out["trailList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["management", "west-only"]);
    assert_eq!(out["trailList"][0]["S3KeyPrefix"], "prod");

    // get-trail-status: epoch floats and legacy strings come through botocore unchanged.
    let (ok, out, err) = run("us-east-1", &["get-trail-status", "--name", "management"])
        .await
        .unwrap();
    assert!(ok, "{err}");
    assert_eq!(out["IsLogging"], true);
    assert_eq!(out["LatestDeliveryTime"].as_f64(), Some(1_454_022_144.869));
    assert_eq!(out["TimeLoggingStarted"], "2015-11-06T18:36:38Z");

    let (ok, _, err) = run("us-east-1", &["get-trail-status", "--name", "nosuch"])
        .await
        .unwrap();
    assert!(!ok);
    assert!(err.contains("TrailNotFoundException"), "{err}");

    let (ok, out, err) = run(
        "us-east-1",
        &["get-event-selectors", "--trail-name", "management"],
    )
    .await
    .unwrap();
    assert!(ok, "{err}");
    assert_eq!(
        out["TrailARN"],
        format!("arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/management")
    );
    assert_eq!(out["EventSelectors"][0]["ReadWriteType"], "All");

    // list-public-keys: the CLI serializes --start-time/--end-time as epoch seconds and gets
    // the DER back as base64 text.
    let (ok, out, err) = run(
        "us-east-1",
        &[
            "list-public-keys",
            "--start-time",
            "2016-01-01T20:30:00Z",
            "--end-time",
            "2016-01-31T00:00:00Z",
        ],
    )
    .await
    .unwrap();
    assert!(ok, "{err}");
    use base64::Engine as _;
    let value = out["PublicKeyList"][0]["Value"].as_str().unwrap();
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(value)
            .unwrap(),
        KEY_DER
    );
    assert_eq!(
        out["PublicKeyList"][0]["Fingerprint"],
        "7f3f401420072e50a65a141430817ab3"
    );
    let (start, end) = backend.state().key_queries[0];
    assert_eq!(start.unwrap().unix_timestamp(), 1_451_680_200);
    assert_eq!(end.unwrap().unix_timestamp(), 1_454_198_400);

    let (ok, _, err) = run(
        "us-east-1",
        &[
            "list-public-keys",
            "--start-time",
            "2016-02-01T00:00:00Z",
            "--end-time",
            "2016-01-01T00:00:00Z",
        ],
    )
    .await
    .unwrap();
    assert!(!ok && err.contains("InvalidTimeRangeException"), "{err}");

    // lookup-events: region from the signature, body passed through, output parsed.
    let (ok, out, err) = run(
        "eu-central-1",
        &[
            "lookup-events",
            "--lookup-attributes",
            "AttributeKey=EventName,AttributeValue=ConsoleLogin",
        ],
    )
    .await
    .unwrap();
    assert!(ok, "{err}");
    assert_eq!(out["Events"].as_array().unwrap().len(), 1);
    assert_eq!(out["Events"][0]["EventId"], "e1");
    let (region, body) = backend.state().lookups[0].clone();
    assert_eq!(region, "eu-central-1");
    assert_eq!(
        body["LookupAttributes"][0]["AttributeValue"],
        "ConsoleLogin"
    );

    // put-event-selectors / add-tags / list-tags: request shapes as the CLI builds them.
    let (ok, out, err) = run(
        "us-east-1",
        &["put-event-selectors", "--trail-name", "east-data", "--advanced-event-selectors",
          r#"[{"Name":"s3","FieldSelectors":[{"Field":"eventCategory","Equals":["Data"]},{"Field":"resources.type","Equals":["AWS::S3::Object"]}]}]"#],
    )
    .await
    .unwrap();
    assert!(ok, "{err}");
    assert_eq!(
        out["AdvancedEventSelectors"][0]["FieldSelectors"][1]["Equals"][0],
        "AWS::S3::Object"
    );
    assert!(matches!(
        backend.state().selectors.get("east-data"),
        Some(trailpipe_api::SelectorsInfo::Advanced(s)) if s[0].name.as_deref() == Some("s3")
    ));
    let arn = format!("arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/management");
    let add = [
        "add-tags",
        "--resource-id",
        &arn,
        "--tags-list",
        "Key=team,Value=sec",
    ];
    let (ok, _, err) = run("us-east-1", &add).await.unwrap();
    assert!(ok, "{err}");
    let (ok, out, err) = run("us-east-1", &["list-tags", "--resource-id-list", &arn])
        .await
        .unwrap();
    assert!(ok, "{err}");
    assert_eq!(out["ResourceTagList"][0]["TagsList"][0]["Value"], "sec");

    // start-logging after stop-logging flips IsLogging as the CLI sees it.
    let (ok, _, err) = run("us-east-1", &["stop-logging", "--name", "management"])
        .await
        .unwrap();
    assert!(ok, "{err}");
    let (_, out, _) = run("us-east-1", &["get-trail-status", "--name", "management"])
        .await
        .unwrap();
    assert_eq!(out["IsLogging"], false);
    let (ok, _, err) = run("us-east-1", &["start-logging", "--name", "management"])
        .await
        .unwrap();
    assert!(ok, "{err}");
    let (_, out, _) = run("us-east-1", &["get-trail-status", "--name", "management"])
        .await
        .unwrap();
    assert_eq!(out["IsLogging"], true);
}

const ADMIN: (&str, &str) = ("AKIATRAILPIPEADMIN01", "admin-secret-0123456789abcdef");
const READER: (&str, &str) = ("AKIATRAILPIPEREADER1", "reader-secret-0123456789abcdef");

fn credential(name: &str, key: (&str, &str), policy: Policy) -> Credential {
    Credential {
        name: name.into(),
        access_key_id: key.0.into(),
        secret_access_key: SecretAccessKey::new(key.1),
        policy,
        trails: None,
        account_id: ACCOUNT.into(),
    }
}

/// A raw HTTP/1.1 `POST /` calling `operation` with no signature: `(status, body)`.
fn unsigned_post(port: u16, operation: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        c,
        "POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/x-amz-json-1.1\r\nX-Amz-Target: com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.{operation}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut text = String::new();
    c.read_to_string(&mut text).unwrap();
    let status = text.split(' ').nth(1).unwrap().parse().unwrap();
    (status, text.split_once("\r\n\r\n").unwrap().1.to_owned())
}

/// With credentials configured, the stock CLI signs with a profile's keys and each call is
/// authenticated and authorized; refusals are AWS's errors and change nothing.
/// `aws cloudtrail <args>` as [`aws_as`] in us-east-1, but with botocore's clock set
/// `minutes_ago` back: the CLI's own code signs a request that is that old when it arrives.
fn aws_as_of(
    port: u16,
    key: (&str, &str),
    minutes_ago: u32,
    args: &[&str],
) -> (bool, Value, String) {
    let python = Path::new(AWS).with_file_name("python");
    let shim = format!(
        "import datetime, sys, botocore.auth as a\n\
         real = a.get_current_datetime\n\
         a.get_current_datetime = lambda remove_tzinfo=True: real(remove_tzinfo) - datetime.timedelta(minutes={minutes_ago})\n\
         from awscli.clidriver import main\n\
         sys.exit(main())\n"
    );
    let endpoint = format!("http://127.0.0.1:{port}");
    let out = isolated(&mut Command::new(python), key)
        .args(["-c", &shim, "cloudtrail"])
        .args(args)
        .args(["--endpoint-url", &endpoint, "--region", "us-east-1"])
        .output()
        .expect("running the aws CLI");
    (
        out.status.success(),
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_aws_cli_calls_are_authenticated_and_authorized() {
    if !Path::new(AWS).exists() {
        eprintln!("SKIP: {AWS} not found (run `make test` once to install the aws CLI)");
        return;
    }
    let store = CredentialStore::new([
        credential("ops", ADMIN, Policy::Admin),
        credential("siem", READER, Policy::Read),
    ])
    .unwrap();
    let backend = TestBackend::new().with_access(ApiAccess::new(false, store));
    let port = serve(&backend).await;
    let run = move |key: (&'static str, &'static str), args: &[&str]| {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        tokio::task::spawn_blocking(move || aws_as(port, "us-east-1", key, &args))
    };
    let logging = |b: &TestBackend| b.state().status["management"].is_logging;

    // Unsigned (curl): refused, nothing changes.
    let (status, body) = tokio::task::spawn_blocking(move || {
        unsigned_post(port, "StopLogging", r#"{"Name":"management"}"#)
    })
    .await
    .unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("MissingAuthenticationTokenException"),
        "{body}"
    );
    assert!(logging(&backend));

    // The read-only credential reads but cannot stop logging.
    let (ok, out, err) = run(READER, &["describe-trails"]).await.unwrap();
    assert!(ok, "{err}");
    assert!(out["trailList"].as_array().is_some_and(|l| !l.is_empty()));
    let (ok, _, err) = run(READER, &["stop-logging", "--name", "management"])
        .await
        .unwrap();
    assert!(!ok);
    assert!(
        err.contains("AccessDeniedException") && err.contains("cloudtrail:StopLogging"),
        "{err}"
    );
    assert!(logging(&backend));

    // A wrong secret and an unknown key are refused as AWS refuses them.
    let (ok, _, err) = run(
        (ADMIN.0, "not-the-admin-secret-0123456789"),
        &["stop-logging", "--name", "management"],
    )
    .await
    .unwrap();
    assert!(!ok);
    assert!(err.contains("InvalidSignatureException"), "{err}");
    let (ok, _, err) = run(("AKIANOBODYKNOWSTHIS1", ADMIN.1), &["describe-trails"])
        .await
        .unwrap();
    assert!(!ok);
    assert!(err.contains("UnrecognizedClientException"), "{err}");
    assert!(logging(&backend));

    // The admin's own request, signed 20 minutes ago (the real CLI with its clock set back: a
    // captured request replayed later), is refused.
    let (ok, _, err) = tokio::task::spawn_blocking(move || {
        aws_as_of(port, ADMIN, 20, &["stop-logging", "--name", "management"])
    })
    .await
    .unwrap();
    assert!(!ok);
    assert!(
        err.contains("InvalidSignatureException") && err.contains("Signature expired"),
        "{err}"
    );
    assert!(logging(&backend));

    // The admin credential can.
    let (ok, _, err) = run(ADMIN, &["stop-logging", "--name", "management"])
        .await
        .unwrap();
    assert!(ok, "{err}");
    assert!(!logging(&backend));

    // Every call, refused or not, left its CloudTrail record, in order.
    let records = backend.state().records.clone();
    let summary: Vec<(String, String, String)> = records
        .iter()
        .map(|r| {
            (
                r["eventName"].as_str().unwrap_or("").to_owned(),
                r["userIdentity"]["accessKeyId"]
                    .as_str()
                    .unwrap_or("-")
                    .to_owned(),
                r["errorCode"].as_str().unwrap_or("ok").to_owned(),
            )
        })
        .collect();
    let s = |a: &str, b: &str, c: &str| (a.to_owned(), b.to_owned(), c.to_owned());
    assert_eq!(
        summary,
        [
            s("StopLogging", "-", "MissingAuthenticationTokenException"),
            s("DescribeTrails", READER.0, "ok"),
            s("StopLogging", READER.0, "AccessDenied"),
            s("StopLogging", ADMIN.0, "InvalidSignatureException"),
            s(
                "DescribeTrails",
                "AKIANOBODYKNOWSTHIS1",
                "UnrecognizedClientException"
            ),
            s("StopLogging", ADMIN.0, "InvalidSignatureException"),
            s("StopLogging", ADMIN.0, "ok"),
        ]
    );
    let last = records.last().unwrap();
    assert_eq!(last["eventSource"], "cloudtrail.amazonaws.com");
    assert_eq!(last["userIdentity"]["userName"], "ops");
    assert_eq!(last["requestParameters"]["Name"], "management");
    assert_eq!(last["recipientAccountId"], ACCOUNT);
    assert!(last["userAgent"].as_str().unwrap().starts_with("aws-cli/"));
    assert!(!records
        .iter()
        .any(|r| r.to_string().contains(ADMIN.1) || r.to_string().contains(READER.1)));
}

/// Without credentials configured (and without `allow_unauthenticated`), reading is open and
/// changing is refused, saying how to enable it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_credentials_the_api_is_read_only() {
    let store = CredentialStore::new([]).unwrap();
    let backend = TestBackend::new().with_access(ApiAccess::new(false, store));
    let port = serve(&backend).await;
    let (status, body) =
        tokio::task::spawn_blocking(move || unsigned_post(port, "DescribeTrails", "{}"))
            .await
            .unwrap();
    assert_eq!(status, 200, "{body}");
    let (status, body) = tokio::task::spawn_blocking(move || {
        unsigned_post(port, "StopLogging", r#"{"Name":"management"}"#)
    })
    .await
    .unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("AccessDeniedException") && body.contains("api.credentials"),
        "{body}"
    );
    assert!(backend.state().status["management"].is_logging);
}
