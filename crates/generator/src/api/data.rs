//! Data events (`managementEvent: false`, `eventCategory: "Data"`): S3 object reads and writes
//! and Lambda invocations, against the fixed [`S3_BUCKETS`] and [`LAMBDA_FUNCTIONS`] so event
//! selectors in tests can name them.

use super::{api, bucket_host, response, s3_additional, Api, Caller, Ctx};
use crate::catalog::{LAMBDA_FUNCTIONS, OBJECT_KEYS, S3_BUCKETS};
use crate::fmt::fill;

pub(crate) static DATA: &[Api] = &[
    Api {
        callers: &["cloudfront.amazonaws.com"],
        ..api("s3.amazonaws.com", "GetObject", true, 50, |c, o| {
            object(c, o, Op::Get)
        })
    },
    Api {
        callers: &["delivery.logs.amazonaws.com"],
        ..api("s3.amazonaws.com", "PutObject", false, 25, |c, o| {
            object(c, o, Op::Put)
        })
    },
    api("s3.amazonaws.com", "DeleteObject", false, 5, |c, o| {
        object(c, o, Op::Delete)
    }),
    Api {
        api_version: Some("2015-03-31"),
        callers: &[
            "s3.amazonaws.com",
            "apigateway.amazonaws.com",
            "events.amazonaws.com",
        ],
        ..api("lambda.amazonaws.com", "Invoke", false, 20, invoke)
    },
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Get,
    Put,
    Delete,
}

fn object(c: &mut Ctx<'_>, o: &mut Vec<u8>, op: Op) {
    // Services touch the bucket they serve: CloudFront reads assets, log delivery writes logs.
    let index = match c.caller {
        Caller::Service("cloudfront.amazonaws.com") => 1,
        Caller::Service(_) => 2,
        Caller::Principal(_) => c.rng.below(S3_BUCKETS.len() as u64) as usize,
    };
    let (index, bucket) = c.use_bucket(index);
    let (prefix, suffix) = c.rng.choose(OBJECT_KEYS[index]);
    let mut key = prefix.as_bytes().to_vec();
    fill(&mut key, "%s%s", &[&c.rng.range(1, 99_999), &suffix]);
    fill(o, r#","requestParameters":{"bucketName":"%s","#, &[&bucket]);
    bucket_host(c, o, bucket);
    if op == Op::Put && matches!(c.caller, Caller::Service(_)) {
        o.extend_from_slice(br#","x-amz-acl":"bucket-owner-full-control""#);
    }
    fill(o, r#","key":"%s"}"#, &[&key]);
    response(c, o, |_, o| match op {
        Op::Put => o.extend_from_slice(br#"{"x-amz-server-side-encryption":"AES256"}"#),
        Op::Get | Op::Delete => o.extend_from_slice(b"null"),
    });
    let size = c.rng.range(200, 4_000_000);
    let (bytes_in, bytes_out) = match (op, c.error) {
        (_, true) | (Op::Delete, _) => (0, 243),
        (Op::Get, _) => (0, size),
        (Op::Put, _) => (size, 0),
    };
    s3_additional(c, o, bytes_in, bytes_out);
    if !c.resources.is_empty() {
        c.resources.push(b',');
    }
    let object = r#"{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::%s/%s"}"#;
    fill(c.resources, object, &[&bucket, &key]);
    c.resource_bucket(bucket);
    c.shared_event_id = matches!(c.caller, Caller::Service(_));
}

fn invoke(c: &mut Ctx<'_>, o: &mut Vec<u8>) {
    let f = c.rng.choose(LAMBDA_FUNCTIONS);
    let mut arn = Vec::with_capacity(80);
    let (region, acct) = (c.region, c.account.id.as_str());
    fill(
        &mut arn,
        "arn:aws:lambda:%s:%s:function:%s",
        &[&region, &acct, &f],
    );
    fill(o, r#","requestParameters":{"functionName":"%s""#, &[&arn]);
    match c.caller {
        Caller::Service("s3.amazonaws.com") => {
            o.extend_from_slice(br#","sourceArn":"arn:aws:s3:::customer-data""#);
        }
        Caller::Service("apigateway.amazonaws.com") => {
            let source = r#","sourceArn":"arn:aws:execute-api:%s:%s:k3x9q2m7pa/prod/POST/orders""#;
            fill(o, source, &[&region, &acct]);
        }
        Caller::Service(_) => {
            fill(
                o,
                r#","sourceArn":"arn:aws:events:%s:%s:rule/nightly""#,
                &[&region, &acct],
            );
        }
        Caller::Principal(_) => o.extend_from_slice(br#","invocationType":"RequestResponse""#),
    }
    let rest =
        r#"},"responseElements":null,"additionalEventData":{"functionVersion":"%s:$LATEST"}"#;
    fill(o, rest, &[&arn]);
    c.resource_arn("AWS::Lambda::Function", &arn);
    c.shared_event_id = matches!(c.caller, Caller::Service(_));
}
