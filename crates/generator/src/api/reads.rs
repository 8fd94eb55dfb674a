//! Read-only management calls (`readOnly: true`): Describe*, List*, Get*, KMS decrypts and
//! STS `AssumeRole`/`GetCallerIdentity`. Reads answer with `responseElements: null`, except
//! `AssumeRole`, whose credentials CloudTrail logs.

use super::{api, bucket_host, response, s3_additional, Api, Caller, Ctx};
use crate::catalog::{LAMBDA_FUNCTIONS, S3_BUCKETS, SECRETS, SSM_PARAMETERS};
use crate::fmt::{fill, push_console_time, push_rand_base64, push_rand_chars, KEY_CHARS};
use crate::identity::{HUMAN_ASSUMED_ROLES, SERVICE_ROLE_CALLERS};

/// `,"requestParameters":` + `params` + `,"responseElements":null`, for reads.
fn params(o: &mut Vec<u8>, params: &str, pieces: &[&dyn crate::fmt::Piece]) {
    o.extend_from_slice(br#","requestParameters":"#);
    fill(o, params, pieces);
    o.extend_from_slice(br#","responseElements":null"#);
}

pub(crate) static READS: &[Api] = &[
    api(
        "ec2.amazonaws.com",
        "DescribeInstances",
        true,
        12,
        describe_instances,
    ),
    api(
        "ec2.amazonaws.com",
        "DescribeSecurityGroups",
        true,
        5,
        |c, o| {
            let vpc = &c.account.vpc_id;
            params(
                o,
                r#"{"securityGroupSet":{},"securityGroupIdSet":{},"filterSet":{"items":[{"name":"vpc-id","valueSet":{"items":[{"value":"%s"}]}}]}}"#,
                &[vpc],
            );
        },
    ),
    api("ec2.amazonaws.com", "DescribeVpcs", true, 3, |c, o| {
        ec2_set(c, o, "vpcSet")
    }),
    api("ec2.amazonaws.com", "DescribeSubnets", true, 3, |c, o| {
        ec2_set(c, o, "subnetSet")
    }),
    api(
        "ec2.amazonaws.com",
        "DescribeRouteTables",
        true,
        4,
        |c, o| ec2_set(c, o, "routeTableIdSet"),
    ),
    api("ec2.amazonaws.com", "DescribeVolumes", true, 3, |c, o| {
        ec2_set(c, o, "volumeSet")
    }),
    api("iam.amazonaws.com", "GetUser", true, 4, user_param),
    api("iam.amazonaws.com", "ListUsers", true, 2, null_null),
    api("iam.amazonaws.com", "ListRoles", true, 2, null_null),
    api("iam.amazonaws.com", "GetRole", true, 3, role_param),
    api(
        "iam.amazonaws.com",
        "ListAttachedRolePolicies",
        true,
        3,
        role_param,
    ),
    api("iam.amazonaws.com", "ListAccessKeys", true, 2, user_param),
    api("iam.amazonaws.com", "GetAccountSummary", true, 1, null_null),
    api("s3.amazonaws.com", "ListBuckets", true, 3, list_buckets),
    api("s3.amazonaws.com", "GetBucketAcl", true, 5, |c, o| {
        bucket_read(c, o, "acl")
    }),
    api("s3.amazonaws.com", "GetBucketPolicy", true, 3, |c, o| {
        bucket_read(c, o, "policy")
    }),
    api("s3.amazonaws.com", "GetBucketLocation", true, 2, |c, o| {
        bucket_read(c, o, "location")
    }),
    api(
        "s3.amazonaws.com",
        "GetBucketEncryption",
        true,
        2,
        |c, o| bucket_read(c, o, "encryption"),
    ),
    api(
        "s3.amazonaws.com",
        "GetBucketVersioning",
        true,
        2,
        |c, o| bucket_read(c, o, "versioning"),
    ),
    Api {
        callers: &[
            "s3.amazonaws.com",
            "secretsmanager.amazonaws.com",
            "ssm.amazonaws.com",
        ],
        ..api("kms.amazonaws.com", "Decrypt", true, 8, kms_decrypt)
    },
    Api {
        callers: &["s3.amazonaws.com", "logs.amazonaws.com"],
        ..api(
            "kms.amazonaws.com",
            "GenerateDataKey",
            true,
            6,
            kms_generate_data_key,
        )
    },
    api("kms.amazonaws.com", "DescribeKey", true, 2, |c, o| {
        let arn = c.kms_key_arn();
        params(o, r#"{"keyId":"%s"}"#, &[&arn]);
        c.resource_arn("AWS::KMS::Key", &arn);
    }),
    api("kms.amazonaws.com", "ListAliases", true, 1, null_null),
    Api {
        action: "ListFunctions",
        api_version: Some("2015-03-31"),
        ..api(
            "lambda.amazonaws.com",
            "ListFunctions20150331",
            true,
            2,
            |_, o| {
                params(o, r#"{"functionVersion":"ALL"}"#, &[]);
            },
        )
    },
    Api {
        action: "GetFunction",
        api_version: Some("2015-03-31"),
        ..api(
            "lambda.amazonaws.com",
            "GetFunction20150331v2",
            true,
            2,
            |c, o| {
                params(
                    o,
                    r#"{"functionName":"%s"}"#,
                    &[&c.rng.choose(LAMBDA_FUNCTIONS)],
                );
            },
        )
    },
    api("sts.amazonaws.com", "GetCallerIdentity", true, 5, null_null),
    Api {
        callers: SERVICE_ROLE_CALLERS,
        ..api("sts.amazonaws.com", "AssumeRole", true, 10, assume_role)
    },
    api(
        "cloudtrail.amazonaws.com",
        "DescribeTrails",
        true,
        2,
        |_, o| {
            params(o, r#"{"trailNameList":[],"includeShadowTrails":true}"#, &[]);
        },
    ),
    api(
        "cloudtrail.amazonaws.com",
        "GetTrailStatus",
        true,
        2,
        |c, o| {
            let template = r#"{"name":"arn:aws:cloudtrail:us-east-1:%s:trail/management-events"}"#;
            params(o, template, &[&c.account.id]);
        },
    ),
    api(
        "cloudtrail.amazonaws.com",
        "LookupEvents",
        true,
        1,
        |_, o| {
            params(
                o,
                r#"{"maxResults":50,"lookupAttributes":[{"attributeKey":"EventName","attributeValue":"ConsoleLogin"}]}"#,
                &[],
            );
        },
    ),
    api("ssm.amazonaws.com", "GetParameter", true, 3, |c, o| {
        let name = c.rng.choose(SSM_PARAMETERS);
        params(o, r#"{"name":"%s","withDecryption":true}"#, &[&name]);
    }),
    api(
        "secretsmanager.amazonaws.com",
        "GetSecretValue",
        true,
        3,
        |c, o| {
            params(o, r#"{"secretId":"%s"}"#, &[&c.rng.choose(SECRETS)]);
        },
    ),
];

fn null_null(_: &mut Ctx<'_>, o: &mut Vec<u8>) {
    o.extend_from_slice(br#","requestParameters":null,"responseElements":null"#);
}

fn describe_instances(c: &mut Ctx<'_>, o: &mut Vec<u8>) {
    let filter = if c.rng.chance(500) {
        r#"{"items":[{"name":"instance-state-name","valueSet":{"items":[{"value":"running"}]}}]}"#
    } else {
        "{}"
    };
    params(o, r#"{"instancesSet":{},"filterSet":%s}"#, &[&filter]);
}

fn ec2_set(c: &mut Ctx<'_>, o: &mut Vec<u8>, set: &str) {
    let template = r#"{"%s":{},"filterSet":{"items":[{"name":"vpc-id","valueSet":{"items":[{"value":"%s"}]}}]}}"#;
    params(o, template, &[&set, &c.account.vpc_id]);
}

fn user_param(c: &mut Ctx<'_>, o: &mut Vec<u8>) {
    params(
        o,
        r#"{"userName":"%s"}"#,
        &[&c.rng.choose(&c.account.users)],
    );
}

fn role_param(c: &mut Ctx<'_>, o: &mut Vec<u8>) {
    params(
        o,
        r#"{"roleName":"%s"}"#,
        &[&c.rng.pick(&c.account.roles).name],
    );
}

fn list_buckets(c: &mut Ctx<'_>, o: &mut Vec<u8>) {
    params(o, r#"{"Host":"s3.%s.amazonaws.com"}"#, &[&c.region]);
    let bytes_out = c.rng.range(400, 2000);
    s3_additional(c, o, 0, bytes_out);
}

/// A bucket-level `Get*` whose sub-resource (`?acl`, `?policy`) appears as an empty parameter.
fn bucket_read(c: &mut Ctx<'_>, o: &mut Vec<u8>, sub_resource: &str) {
    let (_, bucket) = c.pick_bucket();
    fill(o, r#","requestParameters":{"bucketName":"%s","#, &[&bucket]);
    bucket_host(c, o, bucket);
    fill(o, r#","%s":""},"responseElements":null"#, &[&sub_resource]);
    let bytes_out = c.rng.range(100, 900);
    s3_additional(c, o, 0, bytes_out);
    c.resource_bucket(bucket);
}

fn kms_decrypt(c: &mut Ctx<'_>, o: &mut Vec<u8>) {
    let arn = c.kms_key_arn();
    let template = r#"{"encryptionContext":{"aws:s3:arn":"arn:aws:s3:::%s"},"encryptionAlgorithm":"SYMMETRIC_DEFAULT"}"#;
    params(o, template, &[&c.rng.choose(S3_BUCKETS)]);
    c.resource_arn("AWS::KMS::Key", &arn);
}

fn kms_generate_data_key(c: &mut Ctx<'_>, o: &mut Vec<u8>) {
    let arn = c.kms_key_arn();
    let template = r#"{"keyId":"%s","encryptionContext":{"aws:s3:arn":"arn:aws:s3:::%s"},"keySpec":"AES_256"}"#;
    params(o, template, &[&arn, &c.rng.choose(S3_BUCKETS)]);
    c.resource_arn("AWS::KMS::Key", &arn);
}

/// `AssumeRole`: a service assumes its own role; people and pipelines assume the admin or
/// deploy role. The response carries fresh credentials and the assumed-role user.
fn assume_role(c: &mut Ctx<'_>, o: &mut Vec<u8>) {
    let by_service = matches!(c.caller, Caller::Service(_));
    let role_index = match c.caller {
        Caller::Service(s) => SERVICE_ROLE_CALLERS
            .iter()
            .position(|&x| x == s)
            .unwrap_or(0),
        Caller::Principal(_) => c.rng.choose(HUMAN_ASSUMED_ROLES),
    };
    let account = c.account;
    let role = &account.roles[role_index];
    let duration = if by_service {
        3600
    } else {
        900 * c.rng.range(1, 4)
    };
    fill(
        o,
        r#","requestParameters":{"roleArn":"%s","roleSessionName":"%s","durationSeconds":%s}"#,
        &[&role.arn, &role.session, &duration],
    );
    let expires = c.now + duration as i64;
    response(c, o, |c, o| {
        o.extend_from_slice(br#"{"credentials":{"accessKeyId":"ASIA"#);
        push_rand_chars(o, c.rng, KEY_CHARS, 16);
        o.extend_from_slice(br#"","sessionToken":"IQoJb3JpZ2luX2VjE"#);
        push_rand_base64(o, c.rng, 280, false);
        o.extend_from_slice(br#"","expiration":""#);
        push_console_time(o, expires);
        fill(
            o,
            r#""},"assumedRoleUser":{"assumedRoleId":"%s:%s","arn":"arn:aws:sts::%s:assumed-role/%s/%s"}}"#,
            &[
                &role.role_id,
                &role.session,
                &account.id,
                &role.name,
                &role.session,
            ],
        );
    });
    c.resource_arn("AWS::IAM::Role", role.arn.as_bytes());
    c.shared_event_id = by_service;
}
