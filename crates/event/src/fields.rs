//! The fields of a record that routing, key layout and lookups need.

/// `eventCategory`, with CloudTrail's defaults applied for records older than eventVersion 1.07.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventCategory {
    /// API calls, console actions and sign-ins, service events on resources' configuration.
    Management,
    /// Resource operations (S3 object, Lambda invoke, ...).
    Data,
    /// VPC endpoint network activity.
    NetworkActivity,
    /// CloudTrail Insights events.
    Insight,
    /// A category this version of trailpipe does not know; kept verbatim.
    Other(Box<str>),
}

impl EventCategory {
    /// The category as CloudTrail spells it in `eventCategory`.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Management => "Management",
            Self::Data => "Data",
            Self::NetworkActivity => "NetworkActivity",
            Self::Insight => "Insight",
            Self::Other(s) => s,
        }
    }

    /// Reads CloudTrail's spelling; unknown values are kept as [`EventCategory::Other`].
    pub fn from_name(s: &str) -> Self {
        match s {
            "Management" => Self::Management,
            "Data" => Self::Data,
            "NetworkActivity" => Self::NetworkActivity,
            "Insight" => Self::Insight,
            other => Self::Other(other.into()),
        }
    }
}

/// One entry of the record's `resources` array.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resource {
    /// `resources[].type`, e.g. `AWS::S3::Object`.
    pub resource_type: Option<Box<str>>,
    /// `resources[].ARN` (upper-case key in CloudTrail records).
    pub arn: Option<Box<str>>,
}

/// The subset of `userIdentity` that selectors, lookups and Insights use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserIdentity {
    /// `userIdentity.type` (`IAMUser`, `AssumedRole`, `Root`, ...).
    pub identity_type: Option<Box<str>>,
    /// `userIdentity.userName`.
    pub user_name: Option<Box<str>>,
    /// `userIdentity.arn`.
    pub arn: Option<Box<str>>,
    /// `userIdentity.accountId`.
    pub account_id: Option<Box<str>>,
    /// `userIdentity.accessKeyId`.
    pub access_key_id: Option<Box<str>>,
    /// `userIdentity.principalId`.
    pub principal_id: Option<Box<str>>,
    /// `userIdentity.invokedBy`.
    pub invoked_by: Option<Box<str>>,
}

/// Values extracted from one record. Required fields were validated by the parser: a record
/// without a usable `eventTime`, `eventID`, `awsRegion` or account never becomes an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingFields {
    /// `eventTime` as seconds since the Unix epoch (UTC).
    pub event_time: i64,
    /// `eventID`.
    pub event_id: Box<str>,
    /// `eventSource`, absent on Insights events.
    pub event_source: Option<Box<str>>,
    /// `eventName`, absent on Insights events.
    pub event_name: Option<Box<str>>,
    /// `awsRegion`; validated to be safe inside an S3 key (`[a-z0-9-]+`).
    pub aws_region: Box<str>,
    /// `recipientAccountId`, else `userIdentity.accountId`; validated to be 12 digits.
    pub account_id: Box<str>,
    /// `readOnly`; absent on some service events.
    pub read_only: Option<bool>,
    /// `eventCategory`, defaulted as CloudTrail does for old records (see the parser).
    pub event_category: EventCategory,
    /// `managementEvent`.
    pub management_event: Option<bool>,
    /// `eventType` (`AwsApiCall`, `AwsServiceEvent`, ...).
    pub event_type: Option<Box<str>>,
    /// `resources[]`.
    pub resources: Vec<Resource>,
    /// `userIdentity` subset.
    pub user_identity: UserIdentity,
    /// `errorCode`.
    pub error_code: Option<Box<str>>,
    /// `sharedEventID`.
    pub shared_event_id: Option<Box<str>>,
    /// `sessionCredentialFromConsole` (a string `"true"` in records; read as a boolean).
    pub session_credential_from_console: Option<bool>,
    /// `vpcEndpointId`.
    pub vpc_endpoint_id: Option<Box<str>>,
    /// `userAgent`.
    pub user_agent: Option<Box<str>>,
}

impl RoutingFields {
    /// Whether the record is a management event (category `Management`).
    pub fn is_management(&self) -> bool {
        self.event_category == EventCategory::Management
    }
}
