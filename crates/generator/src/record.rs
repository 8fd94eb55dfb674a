//! Assembling one record: the head every event shares, the API's body, then the tail, in the
//! key order of AWS's own examples (eventVersion, userIdentity, eventTime, ... eventCategory,
//! tlsDetails, sessionCredentialFromConsole).
//!
//! Invariant: all randomness comes from the generator's one [`Rng`], drawn in a fixed order, so
//! the bytes of record `n` depend only on the configuration and `n`.

use crate::api::{Api, Caller, Ctx, Host};
use crate::catalog::{EVENT_VERSIONS, TLS};
use crate::fmt::{
    fill, push_iso_time, push_rand_base64, push_rand_hex, push_rand_uuid,
    push_unique_s3_request_id, push_unique_uuid, Piece,
};
use crate::identity::Account;
use crate::rng::Rng;
use crate::Generator;

/// Share of API calls (management and data) that fail, per mille. Console sign-in failures
/// come on top and carry no `errorCode`, as in CloudTrail.
pub(crate) const ERROR_PER_MILLE: u64 = 51;
/// Share of calls a service makes itself when the API lists service callers, per mille.
const SERVICE_PER_MILLE: u64 = 350;
/// Share of records with `tlsDetails` (when the caller is not a service), per mille.
const TLS_PER_MILLE: u64 = 850;
/// Share of console sign-ins that fail, per mille.
const LOGIN_FAILURE_PER_MILLE: u64 = 150;

fn pick_version(rng: &mut Rng) -> &'static str {
    EVENT_VERSIONS[rng.weighted(EVENT_VERSIONS.iter().map(|v| v.1))].0
}

/// Accounts use their first region most, as most real accounts do.
fn pick_region(rng: &mut Rng, regions: &[&'static str]) -> &'static str {
    if rng.chance(400) {
        regions[0]
    } else {
        rng.choose(regions)
    }
}

/// `tlsDetails` with `clientProvidedHostHeader` = `host` filled with `pieces`.
fn tls_details(out: &mut Vec<u8>, rng: &mut Rng, version: &str, host: &str, pieces: &[&dyn Piece]) {
    let (tls, suite, key_exchange) = rng.choose(TLS);
    let head =
        r#","tlsDetails":{"tlsVersion":"%s","cipherSuite":"%s","clientProvidedHostHeader":""#;
    fill(out, head, &[&tls, &suite]);
    fill(out, host, pieces);
    out.push(b'"');
    // keyExchange is the newest tlsDetails field; only the newest records carry it.
    if version == "1.11" {
        fill(out, r#","keyExchange":"%s""#, &[&key_exchange]);
    }
    out.push(b'}');
}

/// `errorCode` and `errorMessage` in each service's own words.
fn write_error(
    out: &mut Vec<u8>,
    rng: &mut Rng,
    api: &Api,
    caller: Caller<'_>,
    region: &str,
    acct: &str,
) {
    let service = api.service();
    let code = match service {
        "ec2" => "Client.UnauthorizedOperation",
        "s3" | "iam" | "sts" => "AccessDenied",
        _ => "AccessDeniedException",
    };
    fill(out, r#","errorCode":"%s","errorMessage":""#, &[&code]);
    let principal = match caller {
        Caller::Principal(p) if service != "s3" => p,
        _ => {
            out.extend_from_slice(br#"Access Denied""#);
            return;
        }
    };
    if service == "ec2" {
        out.extend_from_slice(b"You are not authorized to perform this operation. ");
        if !api.read_only {
            out.extend_from_slice(b"Encoded authorization failure message: ");
            push_rand_base64(out, rng, 240, false);
            out.push(b'"');
            return;
        }
    }
    let action = api.action;
    fill(
        out,
        "User: %s is not authorized to perform: %s:%s",
        &[&principal.arn, &service, &action],
    );
    if service != "ec2" {
        let region = if api.global { "" } else { region };
        fill(
            out,
            " on resource: arn:aws:%s:%s:%s:*",
            &[&service, &region, &acct],
        );
    }
    if rng.chance(200) {
        out.extend_from_slice(br#" with an explicit deny in a service control policy""#);
    } else {
        let reason = r#" because no identity-based policy allows the %s:%s action""#;
        fill(out, reason, &[&service, &action]);
    }
}

impl Generator {
    /// Writes one `AwsApiCall` record of `api`; `data` marks a data event.
    pub(crate) fn write_api_call(
        &mut self,
        account: usize,
        api: &Api,
        data: bool,
        now: i64,
        out: &mut Vec<u8>,
    ) {
        let n = self.seq;
        let Generator {
            rng,
            accounts,
            regions,
            body,
            resources,
            request_id,
            event_id_key,
            request_id_key,
            ..
        } = self;
        let account: &Account = &accounts[account];
        let version = pick_version(rng);
        let error = rng.chance(ERROR_PER_MILLE);
        // A failed call is a person's mistake, except S3 log delivery, which fails on bucket
        // policies as often as anyone.
        let service_call = !api.callers.is_empty()
            && (!error || api.service() == "s3")
            && rng.chance(SERVICE_PER_MILLE);
        let caller = if service_call {
            Caller::Service(rng.choose(api.callers))
        } else {
            Caller::Principal(account.pick_principal(rng, api.read_only))
        };
        let region = if api.global {
            "us-east-1"
        } else {
            pick_region(rng, regions)
        };
        request_id.clear();
        if api.service() == "s3" {
            push_unique_s3_request_id(request_id, rng, *request_id_key, n);
        } else {
            push_unique_uuid(request_id, rng, *request_id_key, n);
        }
        body.clear();
        resources.clear();
        let mut ctx = Ctx {
            rng,
            account,
            regions,
            region,
            caller,
            error,
            now,
            request_id,
            resources,
            host: Host::Service,
            shared_event_id: false,
        };
        (api.body)(&mut ctx, body);
        let Ctx {
            rng,
            region,
            host,
            shared_event_id,
            resources,
            ..
        } = ctx;

        let (ip, agent, console, tls) = match caller {
            Caller::Principal(p) => (
                p.ip.as_str(),
                p.user_agent,
                p.console,
                !p.invoked_by_service,
            ),
            Caller::Service(s) => (s, s, false, false),
        };
        fill(out, r#"{"eventVersion":"%s","userIdentity":"#, &[&version]);
        match caller {
            Caller::Principal(p) => out.extend_from_slice(p.json.as_bytes()),
            Caller::Service(s) => fill(out, r#"{"type":"AWSService","invokedBy":"%s"}"#, &[&s]),
        }
        out.extend_from_slice(br#","eventTime":""#);
        push_iso_time(out, now);
        fill(
            out,
            r#"","eventSource":"%s","eventName":"%s","awsRegion":"%s","sourceIPAddress":"%s","userAgent":""#,
            &[&api.source, &api.name, &region, &ip],
        );
        // S3 logs SDK and CLI agents in brackets.
        if api.service() == "s3" && tls && !console {
            fill(out, r#"[%s]""#, &[&agent]);
        } else {
            fill(out, r#"%s""#, &[&agent]);
        }
        if error {
            write_error(out, rng, api, caller, region, &account.id);
        }
        out.extend_from_slice(body);
        fill(out, r#","requestID":"%s","eventID":""#, &[request_id]);
        push_unique_uuid(out, rng, *event_id_key, n);
        let read_only = if api.read_only { "true" } else { "false" };
        fill(out, r#"","readOnly":%s"#, &[&read_only]);
        if !resources.is_empty() {
            fill(out, r#","resources":[%s]"#, &[resources]);
        }
        out.extend_from_slice(br#","eventType":"AwsApiCall""#);
        if let Some(v) = api.api_version {
            fill(out, r#","apiVersion":"%s""#, &[&v]);
        }
        let management = if data { "false" } else { "true" };
        fill(
            out,
            r#","managementEvent":%s,"recipientAccountId":"%s""#,
            &[&management, &account.id],
        );
        if shared_event_id {
            out.extend_from_slice(br#","sharedEventID":""#);
            push_rand_uuid(out, rng);
            out.push(b'"');
        }
        let category = if data { "Data" } else { "Management" };
        fill(out, r#","eventCategory":"%s""#, &[&category]);
        if tls && rng.chance(TLS_PER_MILLE) {
            match host {
                Host::Bucket(b) => {
                    tls_details(out, rng, version, "%s.s3.%s.amazonaws.com", &[&b, &region])
                }
                Host::Service if api.global => tls_details(out, rng, version, "%s", &[&api.source]),
                Host::Service => {
                    let service = api.service();
                    tls_details(
                        out,
                        rng,
                        version,
                        "%s.%s.amazonaws.com",
                        &[&service, &region],
                    );
                }
            }
        }
        if console {
            out.extend_from_slice(br#","sessionCredentialFromConsole":"true""#);
        }
        out.push(b'}');
    }

    /// Writes one `ConsoleLogin` sign-in record (`AwsConsoleSignIn`, always `us-east-1`, no
    /// `requestID`; failures carry `errorMessage` but no `errorCode`).
    pub(crate) fn write_console_login(&mut self, account: usize, now: i64, out: &mut Vec<u8>) {
        let n = self.seq;
        let rng = &mut self.rng;
        let account = &self.accounts[account];
        let version = pick_version(rng);
        let login = &account.logins[rng.weighted(account.logins.iter().map(|l| l.weight))];
        let failed = rng.chance(LOGIN_FAILURE_PER_MILLE);
        // A third of failures are someone guessing user names from elsewhere.
        let unknown_user = failed && rng.chance(330);
        fill(out, r#"{"eventVersion":"%s","userIdentity":"#, &[&version]);
        if unknown_user {
            let hidden = r#"{"type":"IAMUser","accountId":"%s","accessKeyId":"","userName":"HIDDEN_DUE_TO_SECURITY_REASONS"}"#;
            fill(out, hidden, &[&account.id]);
        } else {
            out.extend_from_slice(login.json.as_bytes());
        }
        out.extend_from_slice(br#","eventTime":""#);
        push_iso_time(out, now);
        out.extend_from_slice(
            br#"","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","awsRegion":"us-east-1","sourceIPAddress":""#,
        );
        if unknown_user {
            fill(out, "192.0.2.%s", &[&rng.range(2, 250)]);
        } else {
            out.extend_from_slice(login.ip.as_bytes());
        }
        fill(out, r#"","userAgent":"%s""#, &[&login.user_agent]);
        if failed {
            out.extend_from_slice(br#","errorMessage":"Failed authentication""#);
        }
        let outcome = if failed { "Failure" } else { "Success" };
        fill(
            out,
            concat!(
                r#","requestParameters":null,"responseElements":{"ConsoleLogin":"%s"},"additionalEventData":{"#,
                r#""LoginTo":"https://console.aws.amazon.com/console/home?hashArgs=%23&isauthcode=true&state=hashArgsFromTB_us-east-1_"#
            ),
            &[&outcome],
        );
        push_rand_hex(out, rng, 16);
        out.extend_from_slice(br#"","MobileVersion":"No""#);
        match (&login.mfa_device, failed) {
            (Some(device), false) => {
                fill(out, r#","MFAIdentifier":"%s","MFAUsed":"Yes"}"#, &[device])
            }
            _ => out.extend_from_slice(br#","MFAUsed":"No"}"#),
        }
        out.extend_from_slice(br#","eventID":""#);
        push_unique_uuid(out, rng, self.event_id_key, n);
        fill(
            out,
            concat!(
                r#"","readOnly":false,"eventType":"AwsConsoleSignIn","managementEvent":true,"#,
                r#""recipientAccountId":"%s","eventCategory":"Management""#
            ),
            &[&account.id],
        );
        tls_details(out, rng, version, "signin.aws.amazon.com", &[]);
        out.push(b'}');
    }
}
