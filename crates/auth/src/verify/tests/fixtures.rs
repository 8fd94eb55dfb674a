//! Requests signed by botocore, the `aws` CLI's signer, kept as known answers.

// Known answers from botocore 1.44.18 (the signer of the `aws` CLI v1 and boto3), produced once
// with the project's venv (`.tools/venv/bin/python make_fixtures.py`):
//
// import datetime, json
// import botocore.auth, botocore.session
// from botocore.awsrequest import AWSResponse
//
// NOW = datetime.datetime(2026, 12, 6, 10, 30, 0, tzinfo=datetime.timezone.utc)
// botocore.auth.get_current_datetime = lambda: NOW  # freeze SigV4's clock
//
// session = botocore.session.get_session()
// client = session.create_client(
//     "cloudtrail", region_name="us-east-1", endpoint_url="http://127.0.0.1:9464",
//     aws_access_key_id="AKIDEXAMPLE",
//     aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
// )
//
// class Raw:  # the request never leaves the process
//     def stream(self):
//         yield b"{}"
//
// def capture(request, **_):
//     print(json.dumps({
//         "method": request.method, "url": request.url,
//         "headers": [[k, v if isinstance(v, str) else v.decode()] for k, v in request.headers.items()],
//         "body": request.body.decode() if isinstance(request.body, bytes) else request.body,
//     }, indent=1))
//     return AWSResponse(request.url, 200, {}, Raw())
//
// client.meta.events.register("before-send", capture)
// client.stop_logging(Name="management")
// client.describe_trails(trailNameList=["management"])
//
// botocore signs `host` from the URL and urllib3 sends it as `Host: 127.0.0.1:9464`; it adds
// `amz-sdk-*` and `Content-Length` after signing (they are not in SignedHeaders).

pub(super) const AKID: &str = "AKIDEXAMPLE";
pub(super) const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
pub(super) const SIGNED_AT: &str = "20261206T103000Z";
pub(super) const HOST: &str = "127.0.0.1:9464";

pub(super) const STOP_LOGGING_BODY: &str = r#"{"Name": "management"}"#;
pub(super) const STOP_LOGGING_HEADERS: &[(&str, &str)] = &[
    ("X-Amz-Target", "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.StopLogging"),
    ("Content-Type", "application/x-amz-json-1.1"),
    ("User-Agent", "Botocore/1.44.18 ua/2.1 os/linux#6.18.44-fc-v1272 md/arch#x86_64 lang/python#3.11.7 md/pyimpl#CPython m/Z,E,N,e,b cfg/retry-mode#standard"),
    ("X-Amz-Date", "20261206T103000Z"),
    ("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261206/us-east-1/cloudtrail/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=3e9e07bdb74cfa6b62df28cd3da78981ed39842803661d784290450c721738a7"),
    ("amz-sdk-invocation-id", "f8c20262-e7d6-4122-a946-c77d5ed8b3ab"),
    ("amz-sdk-request", "attempt=1; max=3"),
    ("Content-Length", "22"),
    ("Host", HOST),
];

pub(super) const DESCRIBE_TRAILS_BODY: &str = r#"{"trailNameList": ["management"]}"#;
pub(super) const DESCRIBE_TRAILS_HEADERS: &[(&str, &str)] = &[
    ("X-Amz-Target", "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.DescribeTrails"),
    ("Content-Type", "application/x-amz-json-1.1"),
    ("User-Agent", "Botocore/1.44.18 ua/2.1 os/linux#6.18.44-fc-v1272 md/arch#x86_64 lang/python#3.11.7 md/pyimpl#CPython m/Z,E,N,e,b cfg/retry-mode#standard"),
    ("X-Amz-Date", "20261206T103000Z"),
    ("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261206/us-east-1/cloudtrail/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=be10bea1167d7bb8956a506723820333fdfc0c622f07efa5d442416eed857841"),
    ("amz-sdk-invocation-id", "4c8e0d9d-9d1f-43a0-98a1-9e2ec1d8a0e4"),
    ("amz-sdk-request", "attempt=1; max=3"),
    ("Content-Length", "33"),
    ("Host", HOST),
];
