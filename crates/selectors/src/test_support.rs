//! Builders for realistic [`RoutingFields`] in tests.
//!
//! The default record is an IAM user's `ec2:RunInstances` write call in `us-east-1`; each method
//! changes one field so a test states only what it is about.

use trailpipe_event::{EventCategory, Resource, RoutingFields, UserIdentity};

/// A builder starting from a default management write event.
pub(crate) fn record() -> RecordBuilder {
    RecordBuilder(RoutingFields {
        event_time: 1_689_802_421,
        event_id: "eae87c48-d421-4626-94f5-0e9f1c0a1a1b".into(),
        event_source: Some("ec2.amazonaws.com".into()),
        event_name: Some("RunInstances".into()),
        aws_region: "us-east-1".into(),
        account_id: "123456789012".into(),
        read_only: Some(false),
        read_only_is_bool: true,
        event_category: EventCategory::Management,
        management_event: Some(true),
        event_type: Some("AwsApiCall".into()),
        resources: Vec::new(),
        user_identity: UserIdentity {
            identity_type: Some("IAMUser".into()),
            user_name: Some("Mary_Major".into()),
            arn: Some("arn:aws:iam::123456789012:user/Mary_Major".into()),
            account_id: Some("123456789012".into()),
            ..UserIdentity::default()
        },
        error_code: None,
        shared_event_id: None,
        session_credential_from_console: None,
        vpc_endpoint_id: None,
        user_agent: Some("aws-cli/2.13.5".into()),
        source_ip_address: Some("203.0.113.10".into()),
    })
}

/// An S3 `PutObject` data event on `bucket/key` with CloudTrail's two resources (object and
/// bucket).
pub(crate) fn s3_put(bucket: &str, key: &str) -> RecordBuilder {
    record()
        .data()
        .source("s3.amazonaws.com")
        .name("PutObject")
        .resource("AWS::S3::Object", &format!("arn:aws:s3:::{bucket}/{key}"))
        .resource("AWS::S3::Bucket", &format!("arn:aws:s3:::{bucket}"))
}

/// A Lambda `Invoke` data event on function `name`.
pub(crate) fn lambda_invoke(name: &str) -> RecordBuilder {
    record()
        .data()
        .source("lambda.amazonaws.com")
        .name("Invoke")
        .resource(
            "AWS::Lambda::Function",
            &format!("arn:aws:lambda:us-east-1:123456789012:function:{name}"),
        )
}

/// Sets fields of the record under construction.
pub(crate) struct RecordBuilder(RoutingFields);

impl RecordBuilder {
    pub(crate) fn build(self) -> RoutingFields {
        self.0
    }
    pub(crate) fn source(mut self, s: &str) -> Self {
        self.0.event_source = Some(s.into());
        self
    }
    pub(crate) fn no_source(mut self) -> Self {
        self.0.event_source = None;
        self
    }
    pub(crate) fn name(mut self, s: &str) -> Self {
        self.0.event_name = Some(s.into());
        self
    }
    pub(crate) fn region(mut self, s: &str) -> Self {
        self.0.aws_region = s.into();
        self
    }
    pub(crate) fn read_only(mut self, r: Option<bool>) -> Self {
        self.0.read_only = r;
        self
    }
    pub(crate) fn category(mut self, c: EventCategory) -> Self {
        self.0.management_event = Some(c == EventCategory::Management);
        self.0.event_category = c;
        self
    }
    pub(crate) fn data(self) -> Self {
        self.category(EventCategory::Data).read_only(Some(false))
    }
    pub(crate) fn event_type(mut self, s: &str) -> Self {
        self.0.event_type = Some(s.into());
        self
    }
    pub(crate) fn resource(mut self, resource_type: &str, arn: &str) -> Self {
        self.0.resources.push(Resource {
            resource_type: Some(resource_type.into()),
            arn: Some(arn.into()),
        });
        self
    }
    pub(crate) fn raw_resource(mut self, r: Resource) -> Self {
        self.0.resources.push(r);
        self
    }
    pub(crate) fn user_arn(mut self, arn: Option<&str>) -> Self {
        self.0.user_identity.arn = arn.map(Into::into);
        self
    }
    pub(crate) fn error_code(mut self, c: &str) -> Self {
        self.0.error_code = Some(c.into());
        self
    }
    pub(crate) fn console(mut self, c: Option<bool>) -> Self {
        self.0.session_credential_from_console = c;
        self
    }
    pub(crate) fn vpce(mut self, id: &str) -> Self {
        self.0.vpc_endpoint_id = Some(id.into());
        self
    }
}
