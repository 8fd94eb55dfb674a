//! The CIS AWS Foundations Benchmark CloudTrail metric filters, patterns kept verbatim.
//!
//! Invariant: every `pattern` is byte-for-byte the text of reference §6.6 (compliance scanners
//! compare stored patterns as strings), and every one parses (tested).

use crate::{FilterPattern, FilterSet};

/// One CIS monitoring control: a metric filter on the CloudTrail log group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CisFilter {
    /// CIS v1.2.0 control id (`3.1` … `3.14`), or the v1.4.0+ id for [`CIS_V14_VARIANTS`].
    pub id: &'static str,
    /// The same control's id in CIS v1.4.0 and later (`4.1` … `4.15`).
    pub cis_v14_id: &'static str,
    /// What the control watches.
    pub name: &'static str,
    /// The filter pattern, verbatim.
    pub pattern: &'static str,
    /// Suggested metric name (AWS's CloudTrail alarm guide names for 3.4, 3.6 and 3.10;
    /// descriptive names chosen here for the others — the benchmark leaves them to the user).
    pub metric_name: &'static str,
}

impl CisFilter {
    /// Compiles the pattern.
    pub fn compile(&self) -> FilterPattern {
        FilterPattern::parse(self.pattern).expect("CIS patterns are tested to parse")
    }

    /// All of `filters` compiled into one [`FilterSet`], in order.
    pub fn set(filters: &[CisFilter]) -> FilterSet {
        FilterSet::new(filters.iter().map(CisFilter::compile))
    }
}

/// The 14 CIS v1.2.0 filters 3.1–3.14 exactly as AWS Security Hub prints them.
pub const CIS_FILTERS: &[CisFilter] = &[
    CisFilter {
        id: "3.1",
        cis_v14_id: "4.1",
        name: "Unauthorized API calls",
        pattern: r#"{($.errorCode="*UnauthorizedOperation") || ($.errorCode="AccessDenied*")}"#,
        metric_name: "UnauthorizedAPICalls",
    },
    CisFilter {
        id: "3.2",
        cis_v14_id: "4.2",
        name: "Management Console sign-in without MFA",
        pattern: r#"{ ($.eventName = "ConsoleLogin") && ($.additionalEventData.MFAUsed != "Yes") && ($.userIdentity.type = "IAMUser") && ($.responseElements.ConsoleLogin = "Success") }"#,
        metric_name: "ConsoleSigninWithoutMFA",
    },
    CisFilter {
        id: "3.3",
        cis_v14_id: "4.3",
        name: "Usage of the root user",
        pattern: r#"{$.userIdentity.type="Root" && $.userIdentity.invokedBy NOT EXISTS && $.eventType !="AwsServiceEvent"}"#,
        metric_name: "RootAccountUsage",
    },
    CisFilter {
        id: "3.4",
        cis_v14_id: "4.4",
        name: "IAM policy changes",
        pattern: r#"{($.eventName=DeleteGroupPolicy) || ($.eventName=DeleteRolePolicy) || ($.eventName=DeleteUserPolicy) || ($.eventName=PutGroupPolicy) || ($.eventName=PutRolePolicy) || ($.eventName=PutUserPolicy) || ($.eventName=CreatePolicy) || ($.eventName=DeletePolicy) || ($.eventName=CreatePolicyVersion) || ($.eventName=DeletePolicyVersion) || ($.eventName=AttachRolePolicy) || ($.eventName=DetachRolePolicy) || ($.eventName=AttachUserPolicy) || ($.eventName=DetachUserPolicy) || ($.eventName=AttachGroupPolicy) || ($.eventName=DetachGroupPolicy)}"#,
        metric_name: "IAMPolicyEventCount",
    },
    CisFilter {
        id: "3.5",
        cis_v14_id: "4.5",
        name: "CloudTrail configuration changes",
        pattern: r#"{($.eventName=CreateTrail) || ($.eventName=UpdateTrail) || ($.eventName=DeleteTrail) || ($.eventName=StartLogging) || ($.eventName=StopLogging)}"#,
        metric_name: "CloudTrailConfigChanges",
    },
    CisFilter {
        id: "3.6",
        cis_v14_id: "4.6",
        name: "Management Console authentication failures",
        pattern: r#"{($.eventName=ConsoleLogin) && ($.errorMessage="Failed authentication")}"#,
        metric_name: "ConsoleSigninFailureCount",
    },
    CisFilter {
        id: "3.7",
        cis_v14_id: "4.7",
        name: "Disabling or scheduled deletion of customer managed keys",
        pattern: r#"{($.eventSource=kms.amazonaws.com) && (($.eventName=DisableKey) || ($.eventName=ScheduleKeyDeletion))}"#,
        metric_name: "DisableOrDeleteCMK",
    },
    CisFilter {
        id: "3.8",
        cis_v14_id: "4.8",
        name: "S3 bucket policy changes",
        pattern: r#"{($.eventSource=s3.amazonaws.com) && (($.eventName=PutBucketAcl) || ($.eventName=PutBucketPolicy) || ($.eventName=PutBucketCors) || ($.eventName=PutBucketLifecycle) || ($.eventName=PutBucketReplication) || ($.eventName=DeleteBucketPolicy) || ($.eventName=DeleteBucketCors) || ($.eventName=DeleteBucketLifecycle) || ($.eventName=DeleteBucketReplication))}"#,
        metric_name: "S3BucketPolicyChanges",
    },
    CisFilter {
        id: "3.9",
        cis_v14_id: "4.9",
        name: "AWS Config configuration changes",
        pattern: r#"{($.eventSource=config.amazonaws.com) && (($.eventName=StopConfigurationRecorder) || ($.eventName=DeleteDeliveryChannel) || ($.eventName=PutDeliveryChannel) || ($.eventName=PutConfigurationRecorder))}"#,
        metric_name: "AWSConfigChanges",
    },
    CisFilter {
        id: "3.10",
        cis_v14_id: "4.10",
        name: "Security group changes",
        pattern: r#"{($.eventName=AuthorizeSecurityGroupIngress) || ($.eventName=AuthorizeSecurityGroupEgress) || ($.eventName=RevokeSecurityGroupIngress) || ($.eventName=RevokeSecurityGroupEgress) || ($.eventName=CreateSecurityGroup) || ($.eventName=DeleteSecurityGroup)}"#,
        metric_name: "SecurityGroupEventCount",
    },
    CisFilter {
        id: "3.11",
        cis_v14_id: "4.11",
        name: "Network access control list (NACL) changes",
        pattern: r#"{($.eventName=CreateNetworkAcl) || ($.eventName=CreateNetworkAclEntry) || ($.eventName=DeleteNetworkAcl) || ($.eventName=DeleteNetworkAclEntry) || ($.eventName=ReplaceNetworkAclEntry) || ($.eventName=ReplaceNetworkAclAssociation)}"#,
        metric_name: "NACLChanges",
    },
    CisFilter {
        id: "3.12",
        cis_v14_id: "4.12",
        name: "Changes to network gateways",
        pattern: r#"{($.eventName=CreateCustomerGateway) || ($.eventName=DeleteCustomerGateway) || ($.eventName=AttachInternetGateway) || ($.eventName=CreateInternetGateway) || ($.eventName=DeleteInternetGateway) || ($.eventName=DetachInternetGateway)}"#,
        metric_name: "NetworkGatewayChanges",
    },
    CisFilter {
        id: "3.13",
        cis_v14_id: "4.13",
        name: "Route table changes",
        pattern: r#"{($.eventName=CreateRoute) || ($.eventName=CreateRouteTable) || ($.eventName=ReplaceRoute) || ($.eventName=ReplaceRouteTableAssociation) || ($.eventName=DeleteRouteTable) || ($.eventName=DeleteRoute) || ($.eventName=DisassociateRouteTable)}"#,
        metric_name: "RouteTableChanges",
    },
    CisFilter {
        id: "3.14",
        cis_v14_id: "4.14",
        name: "VPC changes",
        pattern: r#"{($.eventName=CreateVpc) || ($.eventName=DeleteVpc) || ($.eventName=ModifyVpcAttribute) || ($.eventName=AcceptVpcPeeringConnection) || ($.eventName=CreateVpcPeeringConnection) || ($.eventName=DeleteVpcPeeringConnection) || ($.eventName=RejectVpcPeeringConnection) || ($.eventName=AttachClassicLinkVpc) || ($.eventName=DetachClassicLinkVpc) || ($.eventName=DisableVpcClassicLink) || ($.eventName=EnableVpcClassicLink)}"#,
        metric_name: "VPCChanges",
    },
];

/// CIS v1.4.0+ texts that differ from [`CIS_FILTERS`] (4.1, 4.2, 4.3) or are new (4.15).
pub const CIS_V14_VARIANTS: &[CisFilter] = &[
    CisFilter {
        id: "4.1",
        cis_v14_id: "4.1",
        name: "Unauthorized API calls (CIS v1.4.0+ text)",
        pattern: r#"{ ($.errorCode ="*UnauthorizedOperation") || ($.errorCode ="AccessDenied*") && ($.sourceIPAddress!="delivery.logs.amazonaws.com") && ($.eventName!="HeadBucket") }"#,
        metric_name: "UnauthorizedAPICalls",
    },
    CisFilter {
        id: "4.2",
        cis_v14_id: "4.2",
        name: "Management Console sign-in without MFA (CIS v1.4.0+ text)",
        pattern: r#"{ ($.eventName = "ConsoleLogin") && ($.additionalEventData.MFAUsed != "Yes") }"#,
        metric_name: "ConsoleSigninWithoutMFA",
    },
    CisFilter {
        id: "4.3",
        cis_v14_id: "4.3",
        name: "Usage of the root user (CIS v1.4.0+ text)",
        pattern: r#"{ $.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS && $.eventType != "AwsServiceEvent" }"#,
        metric_name: "RootAccountUsage",
    },
    CisFilter {
        id: "4.15",
        cis_v14_id: "4.15",
        name: "AWS Organizations changes (CIS v1.4.0+ only)",
        pattern: r#"{ ($.eventSource = organizations.amazonaws.com) && (($.eventName = "AcceptHandshake") || ($.eventName = "AttachPolicy") || ($.eventName = "CreateAccount") || ($.eventName = "CreateOrganizationalUnit") || ($.eventName = "CreatePolicy") || ($.eventName = "DeclineHandshake") || ($.eventName = "DeleteOrganization") || ($.eventName = "DeleteOrganizationalUnit") || ($.eventName = "DeletePolicy") || ($.eventName = "DetachPolicy") || ($.eventName = "DisablePolicyType") || ($.eventName = "EnablePolicyType") || ($.eventName = "InviteAccountToOrganization") || ($.eventName = "LeaveOrganization") || ($.eventName = "MoveAccount") || ($.eventName = "RemoveAccountFromOrganization") || ($.eventName = "UpdatePolicy") || ($.eventName = "UpdateOrganizationalUnit")) }"#,
        metric_name: "OrganizationsChanges",
    },
];
