//! EventBridge's rule states and which CloudTrail records each admits.

use trailpipe_event::RoutingFields;

/// A rule's state, spelled as EventBridge's `State` (`ENABLED`, `DISABLED`,
/// `ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RuleState {
    /// Matches every record except read-only management API calls.
    #[default]
    Enabled,
    /// Matches every record, read-only management events included.
    EnabledWithAllCloudTrailManagementEvents,
    /// Matches nothing.
    Disabled,
}

impl RuleState {
    /// EventBridge's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "ENABLED",
            Self::EnabledWithAllCloudTrailManagementEvents => {
                "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"
            }
            Self::Disabled => "DISABLED",
        }
    }

    /// Reads EventBridge's spelling.
    pub fn from_name(s: &str) -> Option<Self> {
        [
            Self::Enabled,
            Self::EnabledWithAllCloudTrailManagementEvents,
            Self::Disabled,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }

    /// Whether a rule in this state sees the record at all. EventBridge withholds read-only
    /// management events from `ENABLED` rules; its guide ("Receiving read-only management
    /// events from AWS services") adds that read-only events whose names do not start with
    /// `Describe`, `Get` or `List` are delivered anyway — so exactly read-only management API
    /// calls with those prefixes are withheld.
    pub fn admits(self, f: &RoutingFields) -> bool {
        match self {
            Self::Disabled => false,
            Self::EnabledWithAllCloudTrailManagementEvents => true,
            Self::Enabled => !is_withheld_read_only(f),
        }
    }
}

fn is_withheld_read_only(f: &RoutingFields) -> bool {
    f.is_management()
        && f.read_only == Some(true)
        && matches!(f.event_type.as_deref(), None | Some("AwsApiCall"))
        && f.event_name
            .as_deref()
            .is_some_and(|n| ["Describe", "Get", "List"].iter().any(|p| n.starts_with(p)))
}
