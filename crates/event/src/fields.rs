//! The fields of a record that routing, key layout and lookups need.
//!
//! Their strings are [`FieldStr`]s: values of up to 24 bytes (account ids, regions, event sources
//! and names, access key ids, error codes, ...) live inline, so extracting, cloning (the batcher's
//! file groups) and dropping them allocate nothing; only long ones (event ids, ARNs, user
//! agents) reach the heap.

/// A string field of a record (`compact_str`'s small-string type: inline up to 24 bytes).
pub type FieldStr = compact_str::CompactString;

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
    Other(FieldStr),
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
    pub resource_type: Option<FieldStr>,
    /// `resources[].ARN` (upper-case key in CloudTrail records).
    pub arn: Option<FieldStr>,
}

/// The subset of `userIdentity` that selectors, lookups and Insights use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserIdentity {
    /// `userIdentity.type` (`IAMUser`, `AssumedRole`, `Root`, ...).
    pub identity_type: Option<FieldStr>,
    /// `userIdentity.userName`.
    pub user_name: Option<FieldStr>,
    /// `userIdentity.arn`.
    pub arn: Option<FieldStr>,
    /// `userIdentity.accountId`.
    pub account_id: Option<FieldStr>,
    /// `userIdentity.accessKeyId`.
    pub access_key_id: Option<FieldStr>,
    /// `userIdentity.principalId`.
    pub principal_id: Option<FieldStr>,
    /// `userIdentity.invokedBy`.
    pub invoked_by: Option<FieldStr>,
}

/// Values extracted from one record. Required fields were validated by the parser: a record
/// without a usable `eventTime`, `eventID`, `awsRegion` or account never becomes an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingFields {
    /// `eventTime` as seconds since the Unix epoch (UTC).
    pub event_time: i64,
    /// `eventID`.
    pub event_id: FieldStr,
    /// `eventSource`, absent on Insights events.
    pub event_source: Option<FieldStr>,
    /// `eventName`, absent on Insights events.
    pub event_name: Option<FieldStr>,
    /// `awsRegion`; validated to be safe inside an S3 key (`[a-z0-9-]+`).
    pub aws_region: FieldStr,
    /// `recipientAccountId`, else `userIdentity.accountId`; validated to be 12 digits.
    pub account_id: FieldStr,
    /// `readOnly`; absent on some service events.
    pub read_only: Option<bool>,
    /// Whether `readOnly` was written as a JSON boolean, as CloudTrail writes it (the parser
    /// also accepts the strings `"true"` / `"false"`); false when it is absent.
    pub read_only_is_bool: bool,
    /// `eventCategory`, defaulted as CloudTrail does for old records (see the parser).
    pub event_category: EventCategory,
    /// `managementEvent`.
    pub management_event: Option<bool>,
    /// `eventType` (`AwsApiCall`, `AwsServiceEvent`, ...).
    pub event_type: Option<FieldStr>,
    /// `resources[]`.
    pub resources: Vec<Resource>,
    /// `userIdentity` subset.
    pub user_identity: UserIdentity,
    /// `errorCode`.
    pub error_code: Option<FieldStr>,
    /// `sharedEventID`.
    pub shared_event_id: Option<FieldStr>,
    /// `sessionCredentialFromConsole` (a string `"true"` in records; read as a boolean).
    pub session_credential_from_console: Option<bool>,
    /// `vpcEndpointId`.
    pub vpc_endpoint_id: Option<FieldStr>,
    /// `userAgent`.
    pub user_agent: Option<FieldStr>,
    /// `sourceIPAddress` (an address, or a service name such as `ec2.amazonaws.com`).
    pub source_ip_address: Option<FieldStr>,
}

impl RoutingFields {
    /// Whether the record is a management event (category `Management`).
    pub fn is_management(&self) -> bool {
        self.event_category == EventCategory::Management
    }
}
