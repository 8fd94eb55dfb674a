//! `[api]`: parsing, secret resolution and validation of the API credentials.

use crate::{ApiPolicy, Config, ConfigError};

const BASE: &str = r#"
[source]
kind = "file"
path = "events.ndjson"
dead_letter_path = "dead-letters.ndjson"

[storage]
kind = "local"
local_root = "out"

[integrity]
account_id = "210987654321"

[[trails]]
name = "management"
s3_bucket_name = "audit-logs"

[[trails]]
name = "data-events"
s3_bucket_name = "audit-logs"
API
"#;

const OPS_SECRET: &str = "ops-secret-from-env-0123456789";

fn env(name: &str) -> Option<String> {
    match name {
        "OPS_SECRET" => Some(OPS_SECRET.into()),
        "OPS_KEY_ID" => Some("AKIATRAILPIPEOPS0001".into()),
        "SHORT" => Some("abc".into()),
        "EMPTY" => Some(String::new()),
        _ => None,
    }
}

fn parse(api: &str) -> Result<Config, Vec<ConfigError>> {
    Config::parse_with_env(&BASE.replace("API", api), env)
}

fn config(api: &str) -> Config {
    parse(api).unwrap_or_else(|e| panic!("{api}: {e:?}"))
}

fn errors(api: &str) -> Vec<String> {
    match parse(api) {
        Ok(_) => Vec::new(),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

fn credential(extra: &str) -> String {
    format!(
        "[[api.credentials]]\nname = \"ops\"\naccess_key_id = \"AKIATRAILPIPEOPS0001\"\nsecret_access_key = \"${{OPS_SECRET}}\"\npolicy = \"admin\"\n{extra}"
    )
}

#[test]
fn without_an_api_section_nothing_is_configured() {
    let c = config("");
    assert!(!c.api.allow_unauthenticated);
    assert!(c.api.credentials.is_empty());
}

#[test]
fn credentials_parse_with_every_field() {
    let c = config(&format!(
        "[api]\nallow_unauthenticated = true\n{}\n{}",
        credential(""),
        "[[api.credentials]]\nname = \"siem\"\naccess_key_id = \"AKIATRAILPIPESIEM001\"\nsecret_access_key = \"siem-literal-secret-0123\"\npolicy = \"read\"\ntrails = [\"management\"]\naccount_id = \"123456789012\""
    ));
    assert!(c.api.allow_unauthenticated);
    let [ops, siem] = &c.api.credentials[..] else {
        panic!("{:?}", c.api.credentials)
    };
    assert_eq!(ops.name, "ops");
    assert_eq!(ops.policy, ApiPolicy::Admin);
    assert_eq!(ops.secret_access_key.as_ref().unwrap().expose(), OPS_SECRET);
    assert_eq!(ops.trails, None);
    assert_eq!(siem.policy, ApiPolicy::Read);
    assert_eq!(
        siem.trails.as_deref(),
        Some(&["management".to_string()][..])
    );
    // The account defaults to the one the API's trail ARNs carry.
    assert_eq!(c.api_account_id(ops), "210987654321");
    assert_eq!(c.api_account_id(siem), "123456789012");
}

#[test]
fn the_secret_comes_from_a_file_and_is_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("api-secret");
    std::fs::write(&path, "file-secret-0123456789abcdef\n").unwrap();
    let c = config(&format!(
        "[[api.credentials]]\nname = \"ops\"\naccess_key_id = \"${{OPS_KEY_ID}}\"\nsecret_access_key_file = \"{}\"\npolicy = \"admin\"",
        path.display()
    ));
    let ops = &c.api.credentials[0];
    assert_eq!(ops.access_key_id, "AKIATRAILPIPEOPS0001");
    assert_eq!(
        ops.secret_access_key.as_ref().unwrap().expose(),
        "file-secret-0123456789abcdef"
    );
    assert_eq!(ops.secret_access_key_file, None);
    let shown = format!("{c:?}");
    assert!(!shown.contains("file-secret"), "{shown}");
    assert!(!shown.contains(OPS_SECRET), "{shown}");
}

#[test]
fn secret_mistakes_name_the_field() {
    let e = errors(
        "[[api.credentials]]\nname = \"ops\"\naccess_key_id = \"AKIATRAILPIPEOPS0001\"\npolicy = \"admin\"",
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("api.credentials[0].secret_access_key: is required"),
        "{e:?}"
    );

    let e = errors(&credential("").replace("${OPS_SECRET}", "${EMPTY}"));
    assert_eq!(
        e,
        ["api.credentials[0].secret_access_key: must not be empty"]
    );

    let e = errors(&credential("").replace("${OPS_SECRET}", "${SHORT}"));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].contains("at least 16 characters"), "{e:?}");
    assert!(!e[0].contains("abc"), "{e:?}");

    let e = errors(&credential("").replace("${OPS_SECRET}", "${NOPE}"));
    assert_eq!(
        e,
        ["api.credentials[0].secret_access_key: refers to environment variable NOPE, which is not set"]
    );

    let e = errors(&credential("secret_access_key_file = \"/dev/null\""));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].contains("not both"), "{e:?}");

    let e = errors(
        "[[api.credentials]]\nname = \"ops\"\naccess_key_id = \"AKIATRAILPIPEOPS0001\"\nsecret_access_key_file = \"/nonexistent/secret\"\npolicy = \"admin\"",
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("api.credentials[0].secret_access_key_file: cannot read"),
        "{e:?}"
    );
}

#[test]
fn duplicate_access_key_ids_and_names_are_refused() {
    let second = credential("").replace("name = \"ops\"", "name = \"ops2\"");
    let e = errors(&format!("{}\n{second}", credential("")));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("api.credentials[1].access_key_id: \"AKIATRAILPIPEOPS0001\" is used by another credential"), "{e:?}");

    let second = credential("").replace("OPS0001", "OPS0002");
    let e = errors(&format!("{}\n{second}", credential("")));
    assert_eq!(
        e,
        ["api.credentials[1].name: \"ops\" is used by another credential"]
    );
}

#[test]
fn trails_must_be_configured_trails() {
    let e = errors(&credential("trails = [\"management\", \"mangement\"]"));
    assert_eq!(
        e,
        ["api.credentials[0].trails[1]: \"mangement\" is not a configured trail"]
    );
    let e = errors(&credential("trails = []"));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("api.credentials[0].trails: must name at least one trail"),
        "{e:?}"
    );
    assert!(errors(&credential("trails = [\"management\", \"data-events\"]")).is_empty());
}

#[test]
fn policy_names_and_account_ids_are_checked() {
    let e = errors(&credential("").replace("\"admin\"", "\"write\""));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].contains("policy = \"write\""), "{e:?}");
    assert!(
        e[0].contains("policy must be \"read\" or \"admin\", not \"write\""),
        "{e:?}"
    );

    let e = errors(&credential("account_id = \"1234\""));
    assert_eq!(e, ["api.credentials[0].account_id: must be 12 digits"]);

    let e = errors(&credential("").replace("\"AKIATRAILPIPEOPS0001\"", "\"AKIA/SLASH\""));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("api.credentials[0].access_key_id:"),
        "{e:?}"
    );

    let e = errors(&credential("").replace("name = \"ops\"", "name = \"ops team\""));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("api.credentials[0].name:"), "{e:?}");

    let e = errors(&credential("role = \"x\""));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].contains("unknown field `role`"), "{e:?}");
}

#[test]
fn the_api_shares_a_loopback_server_listener_and_is_not_served_beside_a_public_one() {
    let c = config("");
    assert_eq!(c.api.served_on(&c.server), Some(c.server.listen));
    let c = config("[server]\nlisten = \"0.0.0.0:9464\"\n");
    assert_eq!(
        c.api.served_on(&c.server),
        None,
        "/metrics made public exposes the API"
    );
    let c = config("[server]\nlisten = \"0.0.0.0:9464\"\n[api]\nlisten = \"0.0.0.0:9465\"\n");
    assert_eq!(
        c.api.served_on(&c.server),
        Some("0.0.0.0:9465".parse().expect("addr"))
    );
    assert_eq!(
        (c.api.max_connections, c.api.max_concurrent_lookups),
        (256, 4)
    );
    assert_eq!(
        (c.server.max_connections, c.server.header_read_timeout_secs),
        (64, 10)
    );
}

#[test]
fn tls_paths_expand_and_need_their_own_listener() {
    let c = config(
        "[api]\nlisten = \"127.0.0.1:9465\"\n[api.tls]\ncert_file = \"/etc/${OPS_KEY_ID}/cert.pem\"\nkey_file = \"/etc/key.pem\"\n",
    );
    let tls = c.api.tls.expect("tls");
    assert_eq!(
        tls.cert_file,
        std::path::Path::new("/etc/AKIATRAILPIPEOPS0001/cert.pem")
    );
    assert_eq!(tls.key_file, std::path::Path::new("/etc/key.pem"));
    let e = errors("[api.tls]\ncert_file = \"c.pem\"\nkey_file = \"k.pem\"\n");
    assert!(e.iter().any(|e| e.starts_with("api.tls")), "{e:?}");
    let e = errors("[api.tls]\ncert_file = \"${NOPE}/c.pem\"\nkey_file = \"k.pem\"\n");
    assert!(
        e.iter().any(|e| e.starts_with("api.tls.cert_file")),
        "{e:?}"
    );
}

#[test]
fn listener_limits_are_validated() {
    let e = errors(
        "[server]\nlisten = \"127.0.0.1:9464\"\nmax_connections = 0\nheader_read_timeout_secs = 0\n[api]\nlisten = \"127.0.0.1:9464\"\nmax_connections = 0\nmax_concurrent_lookups = 0\nmax_unverified_calls_per_sec = 0\n",
    );
    for field in [
        "server.max_connections",
        "server.header_read_timeout_secs",
        "api.listen",
        "api.max_connections",
        "api.max_concurrent_lookups",
        "api.max_unverified_calls_per_sec",
    ] {
        assert!(e.iter().any(|e| e.starts_with(field)), "{field}: {e:?}");
    }
}
