//! The 100 typical security rules of the matching benchmarks (CIS / GuardDuty-style
//! detections and variations), shared by this crate's `rules` bench and `trailpipe-rules`'
//! `engine` bench.

use serde_json::json;

pub fn api(source: &str, names: &[&str]) -> String {
    json!({
        "source": [source],
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {"eventName": names}
    })
    .to_string()
}

/// 100 security rules: the usual CIS / GuardDuty-style detections and variations of them.
pub fn security_rules() -> Vec<(String, String)> {
    let mut rules: Vec<(String, String)> = vec![
        ("root-signin".into(), r#"{"detail-type": ["AWS Console Sign In via CloudTrail"], "detail": {"userIdentity": {"type": ["Root"]}}}"#.into()),
        ("root-any-activity".into(), r#"{"detail": {"userIdentity": {"type": ["Root"], "invokedBy": [{"exists": false}]}, "eventType": [{"anything-but": "AwsServiceEvent"}]}}"#.into()),
        ("console-login-no-mfa".into(), r#"{"source": ["aws.signin"], "detail": {"eventName": ["ConsoleLogin"], "additionalEventData": {"MFAUsed": [{"anything-but": "Yes"}]}, "responseElements": {"ConsoleLogin": ["Success"]}}}"#.into()),
        ("console-login-failure".into(), r#"{"source": ["aws.signin"], "detail": {"eventName": ["ConsoleLogin"], "responseElements": {"ConsoleLogin": ["Failure"]}}}"#.into()),
        ("stop-logging".into(), api("aws.cloudtrail", &["StopLogging", "DeleteTrail", "UpdateTrail", "PutEventSelectors"])),
        ("sg-open-ingress".into(), r#"{"source": ["aws.ec2"], "detail": {"eventName": ["AuthorizeSecurityGroupIngress"], "requestParameters": {"ipPermissions": {"items": {"ipRanges": {"items": {"cidrIp": ["0.0.0.0/0"]}}}}}}}"#.into()),
        ("sg-open-ingress-v6".into(), r#"{"source": ["aws.ec2"], "detail": {"eventName": ["AuthorizeSecurityGroupIngress"], "requestParameters": {"ipPermissions": {"items": {"ipv6Ranges": {"items": {"cidrIpv6": ["::/0"]}}}}}}}"#.into()),
        ("s3-bucket-policy".into(), api("aws.s3", &["PutBucketPolicy", "DeleteBucketPolicy", "PutBucketAcl", "PutObjectAcl"])),
        ("s3-public-access-block".into(), api("aws.s3", &["PutBucketPublicAccessBlock", "DeleteBucketPublicAccessBlock", "PutAccountPublicAccessBlock", "DeleteAccountPublicAccessBlock"])),
        ("kms-key-deletion".into(), api("aws.kms", &["ScheduleKeyDeletion", "DisableKey"])),
        ("cross-account-assume-role".into(), r#"{"source": ["aws.sts"], "detail": {"eventName": ["AssumeRole"], "userIdentity": {"type": ["AWSAccount"]}}}"#.into()),
        ("access-denied".into(), r#"{"detail": {"errorCode": ["AccessDenied", "Client.UnauthorizedOperation", "UnauthorizedOperation", "AccessDeniedException"]}}"#.into()),
        ("access-denied-prefix".into(), r#"{"detail": {"errorCode": [{"prefix": "AccessDenied"}], "userIdentity": {"type": ["IAMUser"]}}}"#.into()),
        ("outside-approved-regions".into(), r#"{"detail-type": ["AWS API Call via CloudTrail"], "detail": {"awsRegion": [{"anything-but": ["us-east-1", "us-west-2", "eu-west-1"]}], "readOnly": [false]}}"#.into()),
        ("untrusted-ip".into(), r#"{"detail": {"sourceIPAddress": [{"cidr": "198.51.100.0/24"}, {"cidr": "203.0.113.0/24"}], "readOnly": [false]}}"#.into()),
        ("non-corporate-ip-console".into(), r#"{"source": ["aws.signin"], "detail": {"sourceIPAddress": [{"anything-but": {"prefix": "10."}}]}}"#.into()),
        ("network-acl-change".into(), api("aws.ec2", &["CreateNetworkAcl", "CreateNetworkAclEntry", "DeleteNetworkAcl", "DeleteNetworkAclEntry", "ReplaceNetworkAclEntry", "ReplaceNetworkAclAssociation"])),
        ("gateway-change".into(), api("aws.ec2", &["CreateCustomerGateway", "DeleteCustomerGateway", "AttachInternetGateway", "CreateInternetGateway", "DeleteInternetGateway", "DetachInternetGateway"])),
        ("route-table-change".into(), api("aws.ec2", &["CreateRoute", "CreateRouteTable", "ReplaceRoute", "ReplaceRouteTableAssociation", "DeleteRouteTable", "DeleteRoute", "DisassociateRouteTable"])),
        ("vpc-change".into(), api("aws.ec2", &["CreateVpc", "DeleteVpc", "ModifyVpcAttribute", "AcceptVpcPeeringConnection", "CreateVpcPeeringConnection", "DeleteVpcPeeringConnection"])),
        ("config-change".into(), api("aws.config", &["StopConfigurationRecorder", "DeleteDeliveryChannel", "PutDeliveryChannel", "PutConfigurationRecorder"])),
        ("guardduty-disable".into(), api("aws.guardduty", &["DeleteDetector", "DisassociateFromMasterAccount", "UpdateDetector"])),
        ("secrets-read-by-user".into(), r#"{"source": ["aws.secretsmanager"], "detail": {"eventName": ["GetSecretValue"], "userIdentity": {"type": ["IAMUser", "Root"]}}}"#.into()),
        ("lambda-code-update".into(), r#"{"source": ["aws.lambda"], "detail": {"eventName": [{"prefix": "UpdateFunctionCode"}, {"prefix": "AddPermission"}]}}"#.into()),
        ("ssm-parameter-write".into(), api("aws.ssm", &["PutParameter", "DeleteParameter", "DeleteParameters"])),
        ("ec2-run-large".into(), r#"{"source": ["aws.ec2"], "detail": {"eventName": ["RunInstances"], "requestParameters": {"instanceType": [{"wildcard": "*.metal"}, {"prefix": "p4"}, {"prefix": "x2"}]}}}"#.into()),
        ("cli-from-tor-like-agent".into(), r#"{"detail": {"userAgent": [{"wildcard": "*kali*"}, {"wildcard": "*parrot*"}, {"equals-ignore-case": "pacu"}]}}"#.into()),
        ("s3-data-delete".into(), r#"{"source": ["aws.s3"], "detail": {"eventName": ["DeleteObject", "DeleteObjects"], "requestParameters": {"bucketName": [{"suffix": "-logs"}, {"suffix": "-backups"}]}}}"#.into()),
        ("long-sts-session".into(), r#"{"source": ["aws.sts"], "detail": {"eventName": ["AssumeRole"], "requestParameters": {"durationSeconds": [{"numeric": [">", 3600]}]}}}"#.into()),
        ("either-iam-or-org".into(), r#"{"$or": [{"source": ["aws.organizations"]}, {"source": ["aws.iam"], "detail": {"eventName": ["CreateAccountAlias", "DeleteAccountAlias"]}}]}"#.into()),
    ];
    let iam = [
        "CreateUser",
        "DeleteUser",
        "CreateAccessKey",
        "DeleteAccessKey",
        "UpdateAccessKey",
        "AttachUserPolicy",
        "DetachUserPolicy",
        "PutUserPolicy",
        "DeleteUserPolicy",
        "AttachRolePolicy",
        "DetachRolePolicy",
        "PutRolePolicy",
        "DeleteRolePolicy",
        "AttachGroupPolicy",
        "DetachGroupPolicy",
        "PutGroupPolicy",
        "CreatePolicy",
        "DeletePolicy",
        "CreatePolicyVersion",
        "DeletePolicyVersion",
        "SetDefaultPolicyVersion",
        "UpdateAssumeRolePolicy",
        "CreateLoginProfile",
        "UpdateLoginProfile",
        "DeleteLoginProfile",
        "DeactivateMFADevice",
        "DeleteVirtualMFADevice",
        "CreateRole",
        "DeleteRole",
        "AddUserToGroup",
        "RemoveUserFromGroup",
        "CreateSAMLProvider",
        "UpdateSAMLProvider",
        "CreateOpenIDConnectProvider",
        "UploadServerCertificate",
    ];
    for name in iam {
        rules.push((format!("iam-{name}"), api("aws.iam", &[name])));
    }
    let more = [
        ("aws.kms", "CreateGrant"),
        ("aws.kms", "PutKeyPolicy"),
        ("aws.kms", "RetireGrant"),
        ("aws.kms", "CancelKeyDeletion"),
        ("aws.s3", "PutBucketVersioning"),
        ("aws.s3", "PutBucketLogging"),
        ("aws.s3", "DeleteBucketEncryption"),
        ("aws.s3", "PutBucketReplication"),
        ("aws.s3", "PutBucketLifecycle"),
        ("aws.s3", "DeleteBucket"),
        ("aws.ec2", "ModifyInstanceAttribute"),
        ("aws.ec2", "CreateKeyPair"),
        ("aws.ec2", "ImportKeyPair"),
        ("aws.ec2", "ModifySnapshotAttribute"),
        ("aws.ec2", "ModifyImageAttribute"),
        ("aws.ec2", "DisableEbsEncryptionByDefault"),
        ("aws.ec2", "RevokeSecurityGroupEgress"),
        ("aws.ec2", "AuthorizeSecurityGroupEgress"),
        ("aws.ec2", "CreateSecurityGroup"),
        ("aws.ec2", "DeleteSecurityGroup"),
        ("aws.rds", "ModifyDBInstance"),
        ("aws.rds", "ModifyDBSnapshotAttribute"),
        ("aws.rds", "DeleteDBCluster"),
        ("aws.lambda", "CreateFunction20150331"),
        ("aws.lambda", "AddPermission20150331v2"),
        ("aws.logs", "DeleteLogGroup"),
        ("aws.logs", "PutRetentionPolicy"),
        ("aws.sts", "GetFederationToken"),
        ("aws.sts", "GetSessionToken"),
        ("aws.secretsmanager", "DeleteSecret"),
        ("aws.cloudtrail", "CreateTrail"),
        ("aws.ssm", "SendCommand"),
        ("aws.ssm", "StartSession"),
        ("aws.organizations", "LeaveOrganization"),
        ("aws.ec2", "StopInstances"),
    ];
    for (source, name) in more {
        rules.push((format!("{source}-{name}"), api(source, &[name])));
    }
    assert!(rules.len() >= 100, "{} rules", rules.len());
    rules.truncate(100);
    rules
}
