//! The accounts of a generated stream and the principals acting in them.
//!
//! Everything here is decided once, from the seed, when the generator is built: each principal's
//! `userIdentity` object is rendered to JSON then, so a record copies it instead of assembling
//! it. A session keeps its access key, source IP and user agent for the whole stream, as a real
//! session does for its lifetime.

mod cast;

pub(crate) use cast::{HUMAN_ASSUMED_ROLES, SERVICE_ROLE_CALLERS};

use crate::catalog::{BROWSER_AGENTS, CLI_AGENTS};
use crate::fmt::{fill, push_iso_time, push_rand_chars, push_rand_hex, push_rand_uuid, KEY_CHARS};
use crate::rng::Rng;
use cast::{Session, ROLES, USERS};

/// One identity that makes API calls in an account.
#[derive(Debug)]
pub(crate) struct Principal {
    /// The whole `userIdentity` object (`IAMUser`, `AssumedRole`, `FederatedUser` or `Root`;
    /// `AWSService` callers are not an account's principals).
    pub json: String,
    pub arn: String,
    pub ip: String,
    pub user_agent: &'static str,
    /// Session credentials from the console: records carry `sessionCredentialFromConsole`.
    pub console: bool,
    /// A service calls on the principal's behalf (`invokedBy` is set): no `tlsDetails`.
    pub invoked_by_service: bool,
    /// Its policies allow only reads, so it never makes mutating calls.
    pub read_only: bool,
    /// Share of the account's calls this principal makes.
    pub weight: u32,
}

/// An IAM role that `AssumeRole` can target.
#[derive(Debug)]
pub(crate) struct Role {
    pub name: String,
    pub arn: String,
    /// `AROA...`, the role's unique id.
    pub role_id: String,
    /// The session name its callers use.
    pub session: String,
}

/// An identity signing in to the console.
#[derive(Debug)]
pub(crate) struct Login {
    /// `userIdentity` as sign-in records show it (empty `accessKeyId`, no session).
    pub json: String,
    pub ip: String,
    pub user_agent: &'static str,
    /// The MFA device's ARN when the identity signs in with MFA.
    pub mfa_device: Option<String>,
    pub weight: u32,
}

#[derive(Debug)]
pub(crate) struct Account {
    pub id: String,
    pub principals: Vec<Principal>,
    pub roles: Vec<Role>,
    pub logins: Vec<Login>,
    pub users: Vec<&'static str>,
    pub kms_keys: Vec<String>,
    pub vpc_id: String,
    pub subnet_id: String,
}

fn aws_id(rng: &mut Rng, prefix: &str, len: usize) -> String {
    let mut v = prefix.as_bytes().to_vec();
    push_rand_chars(&mut v, rng, KEY_CHARS, len);
    into_string(v)
}

fn hex(rng: &mut Rng, digits: usize) -> String {
    let mut v = Vec::new();
    push_rand_hex(&mut v, rng, digits);
    into_string(v)
}

fn ip_in(rng: &mut Rng, net: &str) -> String {
    if net.ends_with("::") {
        format!("{net}{:x}", rng.range(0x10, 0xfff))
    } else {
        format!("{net}.{}", rng.range(2, 250))
    }
}

/// `"attributes":{"creationDate":...,"mfaAuthenticated":"true"|"false"}`.
fn session_attributes(out: &mut Vec<u8>, creation: i64, mfa: bool) {
    out.extend_from_slice(br#""attributes":{"creationDate":""#);
    push_iso_time(out, creation);
    let mfa = if mfa { "true" } else { "false" };
    fill(out, r#"","mfaAuthenticated":"%s"}"#, &[&mfa]);
}

/// The empty issuer of sessions that are not role sessions (console users, root).
const NO_ISSUER: &[u8] = br#","sessionContext":{"sessionIssuer":{},"webIdFederationData":{},"#;

fn into_string(v: Vec<u8>) -> String {
    String::from_utf8(v).expect("identity JSON is built from ASCII pieces")
}

/// Builds one account's principals; `start` is the stream's first `eventTime`.
struct Builder<'a> {
    rng: &'a mut Rng,
    id: &'a str,
    start: i64,
    principals: Vec<Principal>,
    logins: Vec<Login>,
}

impl Builder<'_> {
    fn principal(
        &mut self,
        json: Vec<u8>,
        arn: String,
        ip: String,
        agent: &'static str,
    ) -> &mut Principal {
        self.principals.push(Principal {
            json: into_string(json),
            arn,
            ip,
            user_agent: agent,
            console: false,
            invoked_by_service: false,
            read_only: false,
            weight: 1,
        });
        self.principals.last_mut().expect("just pushed")
    }

    /// IAM users; console users also sign in. Returns the federation broker's (id, arn).
    fn users(&mut self) -> (String, String) {
        let id = self.id;
        let mut broker = (String::new(), String::new());
        for &(name, console_mfa, agent, net, weight) in USERS {
            let principal_id = aws_id(self.rng, "AIDA", 17);
            let arn = format!("arn:aws:iam::{id}:user/{name}");
            let ip = ip_in(self.rng, net);
            let head = r#"{"type":"IAMUser","principalId":"%s","arn":"%s","accountId":"%s","accessKeyId":"%s","userName":"%s""#;
            let mut j = Vec::with_capacity(400);
            if let Some(mfa) = console_mfa {
                let key = aws_id(self.rng, "ASIA", 16);
                fill(&mut j, head, &[&principal_id, &arn, &id, &key, &name]);
                j.extend_from_slice(NO_ISSUER);
                session_attributes(&mut j, self.start - self.rng.range(60, 7200) as i64, mfa);
                j.extend_from_slice(b"}}");
                let mut login = Vec::with_capacity(200);
                fill(&mut login, head, &[&principal_id, &arn, &id, &"", &name]);
                login.push(b'}');
                self.logins.push(Login {
                    json: into_string(login),
                    ip: ip.clone(),
                    user_agent: agent,
                    mfa_device: mfa.then(|| format!("arn:aws:iam::{id}:mfa/{name}-phone")),
                    weight: 10,
                });
            } else {
                let key = aws_id(self.rng, "AKIA", 16);
                fill(&mut j, head, &[&principal_id, &arn, &id, &key, &name]);
                j.push(b'}');
            }
            if name == "federation-broker" {
                broker = (principal_id, arn.clone());
            }
            let p = self.principal(j, arn, ip, agent);
            p.console = console_mfa.is_some();
            p.weight = weight;
        }
        broker
    }

    /// One session per role in [`ROLES`].
    fn roles(&mut self) -> Vec<Role> {
        let id = self.id;
        let mut roles = Vec::new();
        for spec in ROLES {
            let name = match spec.name.strip_suffix('_') {
                Some(_) => format!("{}{}", spec.name, hex(self.rng, 16)),
                None => spec.name.to_string(),
            };
            let session = match spec.session {
                Session::Named(s) => s.to_string(),
                Session::Instance => format!("i-0{}", hex(self.rng, 16)),
                Session::Task => hex(self.rng, 32),
            };
            let (console, mfa, ec2) = spec.flags;
            let role_id = aws_id(self.rng, "AROA", 17);
            let role_arn = format!("arn:aws:iam::{id}:role/{}{name}", spec.path);
            let arn = format!("arn:aws:sts::{id}:assumed-role/{name}/{session}");
            let service_linked = spec.net.is_empty();
            let ip = if service_linked {
                spec.agent.to_string()
            } else {
                ip_in(self.rng, spec.net)
            };
            let key = aws_id(self.rng, "ASIA", 16);
            let mut j = Vec::with_capacity(700);
            fill(
                &mut j,
                concat!(
                    r#"{"type":"AssumedRole","principalId":"%s:%s","arn":"%s","accountId":"%s","accessKeyId":"%s","#,
                    r#""sessionContext":{"sessionIssuer":{"type":"Role","principalId":"%s","arn":"%s","#,
                    r#""accountId":"%s","userName":"%s"},"webIdFederationData":{},"#
                ),
                &[
                    &role_id, &session, &arn, &id, &key, &role_id, &role_arn, &id, &name,
                ],
            );
            session_attributes(
                &mut j,
                self.start - self.rng.range(60, 3 * 3600) as i64,
                mfa,
            );
            if ec2 {
                j.extend_from_slice(br#","ec2RoleDelivery":"2.0""#);
            }
            j.push(b'}');
            if service_linked {
                fill(&mut j, r#","invokedBy":"%s""#, &[&spec.agent]);
            }
            j.push(b'}');
            let p = self.principal(j, arn, ip, spec.agent);
            p.console = console;
            p.invoked_by_service = service_linked;
            p.read_only = service_linked || name.contains("ReadOnly");
            p.weight = spec.weight;
            roles.push(Role {
                name,
                arn: role_arn,
                role_id,
                session,
            });
        }
        roles
    }

    /// `dave`, federated through the broker user's `GetFederationToken`.
    fn federated_user(&mut self, broker: &(String, String)) {
        let id = self.id;
        let arn = format!("arn:aws:sts::{id}:federated-user/dave");
        let key = aws_id(self.rng, "ASIA", 16);
        let mut j = Vec::with_capacity(600);
        fill(
            &mut j,
            concat!(
                r#"{"type":"FederatedUser","principalId":"%s:dave","arn":"%s","accountId":"%s","accessKeyId":"%s","#,
                r#""sessionContext":{"sessionIssuer":{"type":"IAMUser","principalId":"%s","arn":"%s","#,
                r#""accountId":"%s","userName":"federation-broker"},"webIdFederationData":{},"#
            ),
            &[&id, &arn, &id, &key, &broker.0, &broker.1, &id],
        );
        session_attributes(&mut j, self.start - self.rng.range(60, 3600) as i64, false);
        j.extend_from_slice(b"}}");
        let ip = ip_in(self.rng, "198.51.100");
        self.principal(j, arn, ip, CLI_AGENTS[0]).weight = 4;
    }

    /// The root user: a rare console session with MFA, and its sign-ins.
    fn root(&mut self) {
        let id = self.id;
        let arn = format!("arn:aws:iam::{id}:root");
        let ip = ip_in(self.rng, "203.0.113");
        let head =
            r#"{"type":"Root","principalId":"%s","arn":"%s","accountId":"%s","accessKeyId":"%s""#;
        let key = aws_id(self.rng, "ASIA", 16);
        let mut j = Vec::with_capacity(400);
        fill(&mut j, head, &[&id, &arn, &id, &key]);
        j.extend_from_slice(NO_ISSUER);
        session_attributes(&mut j, self.start - self.rng.range(60, 1800) as i64, true);
        j.extend_from_slice(b"}}");
        let mut login = Vec::with_capacity(200);
        fill(&mut login, head, &[&id, &arn, &id, &""]);
        login.push(b'}');
        self.logins.push(Login {
            json: into_string(login),
            ip: ip.clone(),
            user_agent: BROWSER_AGENTS[0],
            mfa_device: Some(format!("arn:aws:iam::{id}:mfa/root-account-mfa-device")),
            weight: 5,
        });
        let p = self.principal(j, arn, ip, BROWSER_AGENTS[0]);
        p.console = true;
        p.weight = 2;
    }
}

impl Account {
    pub(crate) fn new(rng: &mut Rng, id: String, start_time: i64) -> Self {
        let mut b = Builder {
            rng,
            id: &id,
            start: start_time,
            principals: Vec::new(),
            logins: Vec::new(),
        };
        let broker = b.users();
        let roles = b.roles();
        b.federated_user(&broker);
        b.root();
        let Builder {
            rng,
            principals,
            logins,
            ..
        } = b;
        let kms_keys = (0..3)
            .map(|_| {
                let mut v = Vec::new();
                push_rand_uuid(&mut v, rng);
                into_string(v)
            })
            .collect();
        Self {
            vpc_id: format!("vpc-0{}", hex(rng, 16)),
            subnet_id: format!("subnet-0{}", hex(rng, 16)),
            principals,
            roles,
            logins,
            users: USERS.iter().map(|u| u.0).collect(),
            kms_keys,
            id,
        }
    }

    /// Picks who makes an API call, by the principals' weights; read-only principals only
    /// for reads.
    pub(crate) fn pick_principal(&self, rng: &mut Rng, read_only_call: bool) -> &Principal {
        let weights = self.principals.iter().map(|p| {
            if read_only_call || !p.read_only {
                p.weight
            } else {
                0
            }
        });
        &self.principals[rng.weighted(weights)]
    }
}

/// Distinct 12-digit account ids derived from the seed.
pub(crate) fn account_ids(rng: &mut Rng, n: usize) -> Vec<String> {
    let mut ids: Vec<u64> = Vec::with_capacity(n);
    while ids.len() < n {
        let id = rng.range(100_000_000_000, 999_999_999_999);
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids.iter().map(|id| id.to_string()).collect()
}
