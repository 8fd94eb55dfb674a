//! Who acts in every generated account: IAM users, role sessions, and the order the roles are
//! listed in (AssumeRole picks roles by index, so the order is part of the contract).

use crate::catalog::{BROWSER_AGENTS, CLI_AGENTS, SDK_AGENTS, TERRAFORM_AGENTS};

/// Services that assume a role of their own, in the order of the first entries of
/// [`Account::roles`](super::Account::roles).
pub(crate) const SERVICE_ROLE_CALLERS: &[&str] = &[
    "ec2.amazonaws.com",
    "lambda.amazonaws.com",
    "ecs-tasks.amazonaws.com",
    "config.amazonaws.com",
];
/// Indices into [`Account::roles`](super::Account::roles) that people and pipelines assume.
pub(crate) const HUMAN_ASSUMED_ROLES: &[usize] = &[4, 5];

/// IAM users: name, `Some(mfa)` for console users, user agent, source network, weight.
pub(super) type UserSpec = (&'static str, Option<bool>, &'static str, &'static str, u32);
pub(super) const USERS: &[UserSpec] = &[
    ("alice", Some(true), BROWSER_AGENTS[0], "203.0.113", 5),
    ("bob", Some(false), BROWSER_AGENTS[1], "198.51.100", 3),
    ("ci-deploy", None, CLI_AGENTS[0], "198.51.100", 8),
    ("terraform", None, TERRAFORM_AGENTS[0], "192.0.2", 6),
    ("backup-bot", None, SDK_AGENTS[2], "10.20.4", 4),
    ("federation-broker", None, SDK_AGENTS[1], "10.20.8", 1),
];

/// How a role's session is named.
#[derive(Clone, Copy)]
pub(super) enum Session {
    Named(&'static str),
    /// An EC2 instance id (instance-profile credentials).
    Instance,
    /// An ECS task id.
    Task,
}

/// A role and how its sessions behave.
pub(super) struct RoleSpec {
    /// Role name; a trailing `_` gets a random suffix, as Identity Center's roles have.
    pub(super) name: &'static str,
    /// IAM path between `role/` and the name.
    pub(super) path: &'static str,
    pub(super) session: Session,
    pub(super) agent: &'static str,
    /// Source network; empty for a service-linked role, whose calls come from the service.
    pub(super) net: &'static str,
    /// (console session, MFA, EC2 role delivery)
    pub(super) flags: (bool, bool, bool),
    pub(super) weight: u32,
}

const NONE: (bool, bool, bool) = (false, false, false);
const SSO: &str = "aws-reserved/sso.amazonaws.com/";
pub(super) const ROLES: &[RoleSpec] = &[
    // SERVICE_ROLE_CALLERS' roles, in that order.
    RoleSpec {
        name: "app-server-role",
        path: "",
        session: Session::Instance,
        agent: SDK_AGENTS[1],
        net: "10.0.12",
        flags: (false, false, true),
        weight: 14,
    },
    RoleSpec {
        name: "order-processor-role",
        path: "",
        session: Session::Named("order-processor"),
        agent: SDK_AGENTS[0],
        net: "203.0.113",
        flags: NONE,
        weight: 10,
    },
    RoleSpec {
        name: "ecs-task-role",
        path: "",
        session: Session::Task,
        agent: SDK_AGENTS[1],
        net: "10.0.40",
        flags: NONE,
        weight: 6,
    },
    RoleSpec {
        name: "AWSServiceRoleForConfig",
        path: "aws-service-role/config.amazonaws.com/",
        session: Session::Named("AWSConfig-Describe"),
        agent: "config.amazonaws.com",
        net: "",
        flags: NONE,
        weight: 2,
    },
    // HUMAN_ASSUMED_ROLES.
    RoleSpec {
        name: "OrganizationAccountAccessRole",
        path: "",
        session: Session::Named("ops-admin"),
        agent: CLI_AGENTS[1],
        net: "2001:db8:4f2a:1c00::",
        flags: (false, true, false),
        weight: 3,
    },
    RoleSpec {
        name: "github-actions-deploy",
        path: "",
        session: Session::Named("GitHubActions"),
        agent: TERRAFORM_AGENTS[0],
        net: "198.51.100",
        flags: NONE,
        weight: 6,
    },
    // Console sessions through IAM Identity Center.
    RoleSpec {
        name: "AWSReservedSSO_AdministratorAccess_",
        path: SSO,
        session: Session::Named("alice@example.com"),
        agent: BROWSER_AGENTS[2],
        net: "203.0.113",
        flags: (true, false, false),
        weight: 8,
    },
    RoleSpec {
        name: "AWSReservedSSO_ReadOnlyAccess_",
        path: SSO,
        session: Session::Named("carol@example.com"),
        agent: BROWSER_AGENTS[3],
        net: "192.0.2",
        flags: (true, false, false),
        weight: 5,
    },
];
