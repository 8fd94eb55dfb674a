//! Mutating management calls (`readOnly: false`), weighted towards the ones security teams
//! alert on: `RunInstances`, `AuthorizeSecurityGroupIngress`, `CreateUser`, `AttachRolePolicy`,
//! `PutBucketPolicy`, `StopLogging`, `DisableKey`.

use super::{api, bucket_host, response, s3_additional, Api, Ctx};
use crate::catalog::{INSTANCE_TYPES, LAMBDA_FUNCTIONS, MANAGED_POLICIES, SECRETS, SSM_PARAMETERS};
use crate::fmt::{
    fill, push_console_time, push_date_path, push_rand_chars, push_rand_hex, push_rand_uuid,
    KEY_CHARS,
};

pub(crate) static WRITES: &[Api] = &[
    api("ec2.amazonaws.com", "RunInstances", false, 3, run_instances),
    api(
        "ec2.amazonaws.com",
        "TerminateInstances",
        false,
        2,
        |c, o| instance_state_change(c, o, "", (32, "shutting-down")),
    ),
    api("ec2.amazonaws.com", "StopInstances", false, 2, |c, o| {
        instance_state_change(c, o, r#","force":false"#, (64, "stopping"))
    }),
    api("ec2.amazonaws.com", "CreateTags", false, 5, create_tags),
    api(
        "ec2.amazonaws.com",
        "AuthorizeSecurityGroupIngress",
        false,
        2,
        authorize_ingress,
    ),
    api(
        "ec2.amazonaws.com",
        "CreateSecurityGroup",
        false,
        1,
        create_security_group,
    ),
    api("iam.amazonaws.com", "CreateUser", false, 1, create_user),
    api(
        "iam.amazonaws.com",
        "AttachRolePolicy",
        false,
        1,
        attach_role_policy,
    ),
    api(
        "iam.amazonaws.com",
        "PutRolePolicy",
        false,
        1,
        put_role_policy,
    ),
    api(
        "iam.amazonaws.com",
        "CreateAccessKey",
        false,
        1,
        create_access_key,
    ),
    api(
        "s3.amazonaws.com",
        "PutBucketPolicy",
        false,
        1,
        put_bucket_policy,
    ),
    api(
        "s3.amazonaws.com",
        "PutBucketPublicAccessBlock",
        false,
        1,
        put_public_access_block,
    ),
    api("kms.amazonaws.com", "DisableKey", false, 1, |c, o| {
        let arn = c.kms_key_arn();
        fill(
            o,
            r#","requestParameters":{"keyId":"%s"},"responseElements":null"#,
            &[&arn],
        );
        c.resource_arn("AWS::KMS::Key", &arn);
    }),
    api(
        "kms.amazonaws.com",
        "ScheduleKeyDeletion",
        false,
        1,
        schedule_key_deletion,
    ),
    Api {
        action: "UpdateFunctionCode",
        api_version: Some("2015-03-31"),
        ..api(
            "lambda.amazonaws.com",
            "UpdateFunctionCode20150331v2",
            false,
            1,
            update_function_code,
        )
    },
    api(
        "cloudtrail.amazonaws.com",
        "CreateTrail",
        false,
        1,
        create_trail,
    ),
    api(
        "cloudtrail.amazonaws.com",
        "StopLogging",
        false,
        1,
        trail_name,
    ),
    api(
        "cloudtrail.amazonaws.com",
        "StartLogging",
        false,
        1,
        trail_name,
    ),
    api(
        "cloudtrail.amazonaws.com",
        "PutEventSelectors",
        false,
        1,
        put_event_selectors,
    ),
    api(
        "logs.amazonaws.com",
        "CreateLogStream",
        false,
        10,
        create_log_stream,
    ),
    api("ssm.amazonaws.com", "PutParameter", false, 2, |c, o| {
        let name = c.rng.choose(SSM_PARAMETERS);
        let version = c.rng.range(2, 90);
        let request = r#","requestParameters":{"name":"%s","type":"String","overwrite":true}"#;
        fill(o, request, &[&name]);
        response(c, o, |_, o| {
            fill(o, r#"{"version":%s,"tier":"Standard"}"#, &[&version])
        });
    }),
    api(
        "secretsmanager.amazonaws.com",
        "PutSecretValue",
        false,
        1,
        put_secret_value,
    ),
];

fn instance_id(c: &mut Ctx<'_>) -> Vec<u8> {
    let mut id = b"i-0".to_vec();
    push_rand_hex(&mut id, c.rng, 16);
    id
}

fn run_instances(c: &mut Ctx<'_>, o: &mut Vec<u8>) {
    let instance_type = c.rng.choose(INSTANCE_TYPES);
    let mut ami = b"ami-0".to_vec();
    push_rand_hex(&mut ami, c.rng, 16);
    let name = c.rng.range(1, 60);
    fill(
        o,
        concat!(
            r#","requestParameters":{"instancesSet":{"items":[{"imageId":"%s","minCount":1,"maxCount":1}]},"#,
            r#""instanceType":"%s","blockDeviceMapping":{},"monitoring":{"enabled":false},"#,
            r#""disableApiTermination":false,"disableApiStop":false,"clientToken":""#
        ),
        &[&ami, &instance_type],
    );
    push_rand_uuid(o, c.rng);
    let tags = r#"","tagSpecificationSet":{"items":[{"resourceType":"instance","tags":[{"key":"Name","value":"web-%s"}]}]}}"#;
    fill(o, tags, &[&name]);
    let launch_ms = c.now.max(0) as u64 * 1000;
    response(c, o, |c, o| {
        let (a, b) = (c.rng.range(0, 255), c.rng.range(2, 254));
        let mut reservation = b"r-0".to_vec();
        push_rand_hex(&mut reservation, c.rng, 16);
        let instance = instance_id(c);
        fill(
            o,
            concat!(
                r#"{"requestId":"%s","reservationId":"%s","ownerId":"%s","groupSet":{},"instancesSet":{"items":[{"#,
                r#""instanceId":"%s","imageId":"%s","instanceState":{"code":0,"name":"pending"},"#,
                r#""privateDnsName":"ip-10-0-%s-%s.%s.compute.internal","amiLaunchIndex":0,"productCodes":{},"#,
                r#""instanceType":"%s","launchTime":%s,"placement":{"availabilityZone":"%sa","tenancy":"default"},"#,
                r#""monitoring":{"state":"disabled"},"subnetId":"%s","vpcId":"%s","privateIpAddress":"10.0.%s.%s","#,
                r#""stateReason":{"code":"pending","message":"pending"},"architecture":"x86_64","#,
                r#""rootDeviceType":"ebs","rootDeviceName":"/dev/xvda","virtualizationType":"hvm","#,
                r#""hypervisor":"xen","ebsOptimized":false,"enaSupport":true}]}}"#
            ),
            &[
                &c.request_id,
                &reservation,
                &c.account.id,
                &instance,
                &ami,
                &a,
                &b,
                &c.region,
                &instance_type,
                &launch_ms,
                &c.region,
                &c.account.subnet_id,
                &c.account.vpc_id,
                &a,
                &b,
            ],
        );
    });
}

fn instance_state_change(c: &mut Ctx<'_>, o: &mut Vec<u8>, extra: &str, state: (u64, &str)) {
    let id = instance_id(c);
    let request = r#","requestParameters":{"instancesSet":{"items":[{"instanceId":"%s"}]}%s}"#;
    fill(o, request, &[&id, &extra]);
    response(c, o, |c, o| {
        fill(
            o,
            concat!(
                r#"{"requestId":"%s","instancesSet":{"items":[{"instanceId":"%s","#,
                r#""currentState":{"code":%s,"name":"%s"},"previousState":{"code":16,"name":"running"}}]}}"#
            ),
            &[&c.request_id, &id, &state.0, &state.1],
        );
    });
}

fn create_tags(c: &mut Ctx<'_>, o: &mut Vec<u8>) {
    let id = instance_id(c);
    let (key, value) = c.rng.choose(&[
        ("Owner", "platform-team"),
        ("CostCenter", "cc-4410"),
        ("Environment", "production"),
    ]);
    fill(
        o,
        concat!(
            r#","requestParameters":{"resourcesSet":{"items":[{"resourceId":"%s"}]},"#,
            r#""tagSet":{"items":[{"key":"%s","value":"%s"}]}}"#
        ),
        &[&id, &key, &value],
    );
    response(c, o, |c, o| {
        fill(o, r#"{"requestId":"%s","_return":true}"#, &[&c.request_id])
    });
}

fn authorize_ingress(c: &mut Ctx<'_>, o: &mut Vec<u8>) {
    let port = c.rng.choose(&[22u64, 443, 3389, 5432]);
    let cidr = c
        .rng
        .choose(&["0.0.0.0/0", "10.0.0.0/16", "203.0.113.0/24"]);
    let mut sg = b"sg-0".to_vec();
    push_rand_hex(&mut sg, c.rng, 16);
    fill(
        o,
        concat!(
            r#","requestParameters":{"groupId":"%s","ipPermissions":{"items":[{"ipProtocol":"tcp","#,
            r#""fromPort":%s,"toPort":%s,"groups":{},"ipRanges":{"items":[{"cidrIp":"%s"}]},"#,
            r#""ipv6Ranges":{},"prefixListIds":{}}]}}"#
        ),
        &[&sg, &port, &port, &cidr],
    );
    response(c, o, |c, o| {
        let mut rule = b"sgr-0".to_vec();
        push_rand_hex(&mut rule, c.rng, 16);
        fill(
            o,
            concat!(
                r#"{"requestId":"%s","_return":true,"securityGroupRuleSet":{"items":[{"groupOwnerId":"%s","#,
                r#""groupId":"%s","securityGroupRuleId":"%s","isEgress":false,"ipProtocol":"tcp","#,
                r#""fromPort":%s,"toPort":%s,"cidrIpv4":"%s"}]}}"#
            ),
            &[
                &c.request_id,
                &c.account.id,
                &sg,
                &rule,
                &port,
                &port,
                &cidr,
            ],
        );
    });
}

fn create_security_group(c: &mut Ctx<'_>, o: &mut Vec<u8>) {
    let n = c.rng.range(1, 99);
    let request = r#","requestParameters":{"groupName":"web-sg-%s","groupDescription":"web tier","vpcId":"%s"}"#;
    fill(o, request, &[&n, &c.account.vpc_id]);
    response(c, o, |c, o| {
        let mut sg = b"sg-0".to_vec();
        push_rand_hex(&mut sg, c.rng, 16);
        let template = r#"{"requestId":"%s","_return":true,"groupId":"%s"}"#;
        fill(o, template, &[&c.request_id, &sg]);
    });
}

fn create_user(c: &mut Ctx<'_>, o: &mut Vec<u8>) {
    let who = c
        .rng
        .choose(&["svc-reporting", "contractor", "svc-backup", "intern"]);
    let n = c.rng.range(1, 999);
    fill(
        o,
        r#","requestParameters":{"userName":"%s-%s"}"#,
        &[&who, &n],
    );
    let now = c.now;
    response(c, o, |c, o| {
        fill(
            o,
            r#"{"user":{"path":"/","userName":"%s-%s","userId":"AIDA"#,
            &[&who, &n],
        );
        push_rand_chars(o, c.rng, KEY_CHARS, 17);
        let arn = r#"","arn":"arn:aws:iam::%s:user/%s-%s","createDate":""#;
        fill(o, arn, &[&c.account.id, &who, &n]);
        push_console_time(o, now);
        o.extend_from_slice(br#""}}"#);
    });
}

fn attach_role_policy(c: &mut Ctx<'_>, o: &mut Vec<u8>) {
    let role = &c.rng.pick(&c.account.roles).name;
    let policy = c.rng.choose(MANAGED_POLICIES);
    fill(
        o,
        r#","requestParameters":{"roleName":"%s","policyArn":"arn:aws:iam::aws:policy/%s"},"responseElements":null"#,
        &[role, &policy],
    );
}

fn put_role_policy(c: &mut Ctx<'_>, o: &mut Vec<u8>) {
    let role = &c.rng.pick(&c.account.roles).name;
    // IAM logs the policy document as a JSON string, so its quotes and newlines arrive escaped.
    fill(
        o,
        concat!(
            r#","requestParameters":{"roleName":"%s","policyName":"inline-s3-access","policyDocument":""#,
            r#"{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [{\"Effect\": \"Allow\", "#,
            r#"\"Action\": [\"s3:GetObject\", \"s3:PutObject\"], "#,
            r#"\"Resource\": \"arn:aws:s3:::customer-data/*\"}]\n}"},"responseElements":null"#
        ),
        &[role],
    );
}

fn create_access_key(c: &mut Ctx<'_>, o: &mut Vec<u8>) {
    let user = c.rng.choose(&c.account.users);
    fill(o, r#","requestParameters":{"userName":"%s"}"#, &[&user]);
    let now = c.now;
    response(c, o, |c, o| {
        fill(
            o,
            r#"{"accessKey":{"userName":"%s","accessKeyId":"AKIA"#,
            &[&user],
        );
        push_rand_chars(o, c.rng, KEY_CHARS, 16);
        o.extend_from_slice(br#"","status":"Active","createDate":""#);
        push_console_time(o, now);
        o.extend_from_slice(br#""}}"#);
    });
}

fn put_bucket_policy(c: &mut Ctx<'_>, o: &mut Vec<u8>) {
    let (_, bucket) = c.pick_bucket();
    fill(
        o,
        concat!(
            r#","requestParameters":{"bucketPolicy":{"Version":"2012-10-17","Statement":[{"Sid":"AllowCloudFrontRead","#,
            r#""Effect":"Allow","Principal":{"Service":"cloudfront.amazonaws.com"},"Action":"s3:GetObject","#,
            r#""Resource":"arn:aws:s3:::%s/*"}]},"bucketName":"%s","#
        ),
        &[&bucket, &bucket],
    );
    bucket_host(c, o, bucket);
    o.extend_from_slice(br#","policy":""},"responseElements":null"#);
    let bytes_in = c.rng.range(200, 600);
    s3_additional(c, o, bytes_in, 0);
    c.resource_bucket(bucket);
}

fn put_public_access_block(c: &mut Ctx<'_>, o: &mut Vec<u8>) {
    let (_, bucket) = c.pick_bucket();
    let block = if c.rng.chance(800) { "true" } else { "false" };
    fill(
        o,
        r#","requestParameters":{"publicAccessBlock":"","bucketName":"%s","#,
        &[&bucket],
    );
    bucket_host(c, o, bucket);
    fill(
        o,
        concat!(
            r#","PublicAccessBlockConfiguration":{"xmlns":"http://s3.amazonaws.com/doc/2006-03-01/","#,
            r#""RestrictPublicBuckets":%s,"BlockPublicPolicy":%s,"BlockPublicAcls":%s,"IgnorePublicAcls":%s}},"#,
            r#""responseElements":null"#
        ),
        &[&block, &block, &block, &block],
    );
    s3_additional(c, o, 180, 0);
    c.resource_bucket(bucket);
}

fn schedule_key_deletion(c: &mut Ctx<'_>, o: &mut Vec<u8>) {
    let arn = c.kms_key_arn();
    let request = r#","requestParameters":{"keyId":"%s","pendingWindowInDays":30}"#;
    fill(o, request, &[&arn]);
    let deletion = c.now + 30 * 86_400;
    response(c, o, |_, o| {
        fill(o, r#"{"keyId":"%s","deletionDate":""#, &[&arn]);
        push_console_time(o, deletion);
        o.extend_from_slice(br#"","keyState":"PendingDeletion","pendingWindowInDays":30}"#);
    });
    c.resource_arn("AWS::KMS::Key", &arn);
}

fn update_function_code(c: &mut Ctx<'_>, o: &mut Vec<u8>) {
    let f = c.rng.choose(LAMBDA_FUNCTIONS);
    let request = r#","requestParameters":{"functionName":"%s","publish":false,"dryRun":false}"#;
    fill(o, request, &[&f]);
    response(c, o, |c, o| {
        let size = c.rng.range(2_000, 9_000_000);
        fill(
            o,
            concat!(
                r#"{"functionName":"%s","functionArn":"arn:aws:lambda:%s:%s:function:%s","runtime":"python3.12","#,
                r#""role":"arn:aws:iam::%s:role/order-processor-role","handler":"app.handler","codeSize":%s,"#,
                r#""timeout":30,"memorySize":512,"version":"$LATEST","state":"Active","#,
                r#""lastUpdateStatus":"InProgress","packageType":"Zip","architectures":["arm64"]}"#
            ),
            &[&f, &c.region, &c.account.id, &f, &c.account.id, &size],
        );
    });
}

fn create_trail(c: &mut Ctx<'_>, o: &mut Vec<u8>) {
    let request = r#","requestParameters":{"name":"security-audit","s3BucketName":"trail-logs-%s","isMultiRegionTrail":true,"enableLogFileValidation":true}"#;
    fill(o, request, &[&c.account.id]);
    response(c, o, |c, o| {
        fill(
            o,
            concat!(
                r#"{"name":"security-audit","s3BucketName":"trail-logs-%s","includeGlobalServiceEvents":true,"#,
                r#""isMultiRegionTrail":true,"trailARN":"arn:aws:cloudtrail:%s:%s:trail/security-audit","#,
                r#""logFileValidationEnabled":true,"isOrganizationTrail":false}"#
            ),
            &[&c.account.id, &c.region, &c.account.id],
        );
    });
}

fn trail_name(c: &mut Ctx<'_>, o: &mut Vec<u8>) {
    let request = r#","requestParameters":{"name":"arn:aws:cloudtrail:us-east-1:%s:trail/management-events"},"responseElements":null"#;
    fill(o, request, &[&c.account.id]);
}

fn put_event_selectors(c: &mut Ctx<'_>, o: &mut Vec<u8>) {
    let selectors = concat!(
        r#"[{"readWriteType":"All","includeManagementEvents":true,"#,
        r#""dataResources":[{"type":"AWS::S3::Object","values":["arn:aws:s3:::customer-data/"]}],"#,
        r#""excludeManagementEventSources":[]}]"#
    );
    let request = r#","requestParameters":{"trailName":"management-events","eventSelectors":%s}"#;
    fill(o, request, &[&selectors]);
    response(c, o, |c, o| {
        let template = r#"{"trailARN":"arn:aws:cloudtrail:us-east-1:%s:trail/management-events","eventSelectors":%s}"#;
        fill(o, template, &[&c.account.id, &selectors]);
    });
}

fn create_log_stream(c: &mut Ctx<'_>, o: &mut Vec<u8>) {
    let f = c.rng.choose(LAMBDA_FUNCTIONS);
    let request = r#","requestParameters":{"logGroupName":"/aws/lambda/%s","logStreamName":""#;
    fill(o, request, &[&f]);
    push_date_path(o, c.now);
    o.extend_from_slice(b"/[$LATEST]");
    push_rand_hex(o, c.rng, 32);
    o.extend_from_slice(br#""},"responseElements":null"#);
}

fn put_secret_value(c: &mut Ctx<'_>, o: &mut Vec<u8>) {
    let name = c.rng.choose(SECRETS);
    fill(
        o,
        r#","requestParameters":{"secretId":"%s","clientRequestToken":""#,
        &[&name],
    );
    push_rand_uuid(o, c.rng);
    o.extend_from_slice(br#""}"#);
    response(c, o, |c, o| {
        let arn = r#"{"arn":"arn:aws:secretsmanager:%s:%s:secret:%s-"#;
        fill(o, arn, &[&c.region, &c.account.id, &name]);
        push_rand_chars(o, c.rng, KEY_CHARS, 6);
        fill(
            o,
            r#"","name":"%s","versionStages":["AWSCURRENT"]}"#,
            &[&name],
        );
    });
}
