//! The typed security settings' mapping onto librdkafka properties, their validation and the
//! resolution of their secrets.

use std::collections::BTreeMap;

use crate::{Config, ConfigError, KafkaSource, SourceConfig};

const BASE: &str = r#"
[source]
kind = "kafka"
brokers = "b-1.example:9096"
topics = ["cloudtrail-events"]
group_id = "trailpipe"
dead_letter_topic = "cloudtrail-dead-letters"
SECURITY

[storage]
kind = "local"
local_root = "out"

[[trails]]
name = "management"
s3_bucket_name = "audit-logs"
"#;

fn env(name: &str) -> Option<String> {
    match name {
        "KAFKA_PASSWORD" => Some("hunter2-from-env".into()),
        "KAFKA_USER" => Some("svc-trailpipe".into()),
        "CREDS" => Some("/run/credentials/trailpipe.service".into()),
        _ => None,
    }
}

fn parse(security: &str) -> Result<Config, Vec<ConfigError>> {
    Config::parse_with_env(&BASE.replace("SECURITY", security), env)
}

fn kafka(security: &str) -> KafkaSource {
    match parse(security)
        .unwrap_or_else(|e| panic!("{security}: {e:?}"))
        .source
    {
        SourceConfig::Kafka(k) => *k,
        SourceConfig::File(_) => unreachable!(),
    }
}

fn props(security: &str) -> BTreeMap<String, String> {
    kafka(security).client_properties().into_iter().collect()
}

fn errors(security: &str) -> Vec<String> {
    match parse(security) {
        Ok(_) => Vec::new(),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn no_security_tables_set_no_security_properties() {
    let p = props("");
    assert!(p
        .keys()
        .all(|k| !k.starts_with("security.") && !k.starts_with("ssl.") && !k.starts_with("sasl.")));
}

#[test]
fn tls_with_mutual_authentication_maps_every_field() {
    let p = props(
        r#"[source.tls]
ca_file = "/etc/kafka/ca.pem"
cert_file = "/etc/kafka/client.pem"
key_file = "/etc/kafka/client.key"
key_password = "${KAFKA_PASSWORD}""#,
    );
    assert_eq!(p["security.protocol"], "SSL");
    assert_eq!(p["ssl.ca.location"], "/etc/kafka/ca.pem");
    assert_eq!(p["ssl.certificate.location"], "/etc/kafka/client.pem");
    assert_eq!(p["ssl.key.location"], "/etc/kafka/client.key");
    assert_eq!(p["ssl.key.password"], "hunter2-from-env");
    assert_eq!(p["ssl.endpoint.identification.algorithm"], "https");
    assert_eq!(p["enable.ssl.certificate.verification"], "true");
}

#[test]
fn tls_can_be_switched_off_and_hostname_checks_relaxed() {
    let p = props("[source.tls]\nenabled = false\nca_file = \"/x\"");
    assert!(!p.contains_key("security.protocol"));
    assert!(!p.contains_key("ssl.ca.location"));
    let p = props("[source.tls]\nverify_hostname = false");
    assert_eq!(p["ssl.endpoint.identification.algorithm"], "none");
}

#[test]
fn each_sasl_mechanism_maps_to_its_protocol_and_credentials() {
    for (mech, tls, protocol) in [
        ("PLAIN", true, "SASL_SSL"),
        ("SCRAM-SHA-256", true, "SASL_SSL"),
        ("SCRAM-SHA-512", true, "SASL_SSL"),
        ("SCRAM-SHA-512", false, "SASL_PLAINTEXT"),
    ] {
        let tls = if tls { "[source.tls]\n" } else { "" };
        let p = props(&format!(
            "{tls}[source.sasl]\nmechanism = \"{mech}\"\nusername = \"${{KAFKA_USER}}\"\npassword = \"${{KAFKA_PASSWORD}}\""
        ));
        assert_eq!(p["security.protocol"], protocol, "{mech}");
        assert_eq!(p["sasl.mechanism"], mech);
        assert_eq!(p["sasl.username"], "svc-trailpipe");
        assert_eq!(p["sasl.password"], "hunter2-from-env");
    }
}

#[test]
fn msk_iam_implies_sasl_ssl_with_oauthbearer() {
    let k = kafka("[source.aws_msk_iam]\nregion = \"eu-west-1\"");
    let p: BTreeMap<_, _> = k.client_properties().into_iter().collect();
    assert_eq!(p["security.protocol"], "SASL_SSL");
    assert_eq!(p["sasl.mechanism"], "OAUTHBEARER");
    assert_eq!(k.aws_msk_iam.as_ref().unwrap().region, "eu-west-1");
    assert!(!p.contains_key("sasl.password"));
}

#[test]
fn a_raw_property_wins_when_it_agrees_and_is_an_error_naming_both_when_not() {
    // Agreeing (case-insensitively, as librdkafka reads these enums): one value, the raw one.
    let p = props("[source.tls]\n[source.librdkafka]\n\"security.protocol\" = \"ssl\"");
    assert_eq!(p["security.protocol"], "ssl");
    // A raw key the typed tables do not set just passes through.
    let p = props("[source.tls]\n[source.librdkafka]\n\"ssl.cipher.suites\" = \"ECDHE-RSA-AES256-GCM-SHA384\"");
    assert_eq!(p["ssl.cipher.suites"], "ECDHE-RSA-AES256-GCM-SHA384");
    let e = errors("[source.tls]\n[source.librdkafka]\n\"security.protocol\" = \"PLAINTEXT\"");
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("source.librdkafka.\"security.protocol\""),
        "{e:?}"
    );
    assert!(e[0].contains("source.tls"), "{e:?}");
    // The alias sasl.mechanisms counts as sasl.mechanism.
    let e = errors(
        "[source.tls]\n[source.sasl]\nmechanism = \"SCRAM-SHA-512\"\nusername = \"u\"\npassword = \"${KAFKA_PASSWORD}\"\n[source.librdkafka]\n\"sasl.mechanisms\" = \"PLAIN\"",
    );
    assert!(
        e.iter()
            .any(|m| m.contains("sasl.mechanisms") && m.contains("source.sasl.mechanism")),
        "{e:?}"
    );
}

#[test]
fn a_disagreeing_raw_secret_is_not_printed() {
    let e = errors(
        "[source.tls]\n[source.sasl]\nmechanism = \"PLAIN\"\nusername = \"u\"\npassword = \"${KAFKA_PASSWORD}\"\n[source.librdkafka]\n\"sasl.password\" = \"other-secret-value\"",
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].contains("source.sasl.password"), "{e:?}");
    assert!(
        !e[0].contains("other-secret-value") && !e[0].contains("hunter2"),
        "{e:?}"
    );
}

#[test]
fn missing_credentials_and_conflicts_name_their_fields() {
    let e = errors("[source.tls]\n[source.sasl]\nmechanism = \"SCRAM-SHA-256\"");
    assert!(
        e.iter().any(|m| m.starts_with("source.sasl.username:")),
        "{e:?}"
    );
    assert!(
        e.iter().any(|m| m.starts_with("source.sasl.password:")),
        "{e:?}"
    );
    let e = errors("[source.tls]\ncert_file = \"/c.pem\"");
    assert!(
        e.iter().any(|m| m.starts_with("source.tls.key_file:")),
        "{e:?}"
    );
    let e = errors("[source.tls]\nkey_file = \"/k.pem\"");
    assert!(
        e.iter().any(|m| m.starts_with("source.tls.cert_file:")),
        "{e:?}"
    );
    let e = errors(
        "[source.sasl]\nmechanism = \"SCRAM-SHA-256\"\nusername = \"u\"\npassword = \"p\"\n[source.aws_msk_iam]\nregion = \"us-east-1\"",
    );
    assert!(e.iter().any(|m| m.starts_with("source.sasl:")), "{e:?}");
    let e = errors("[source.aws_msk_iam]\nregion = \"us-east-1\"\n[source.tls]\nenabled = false");
    assert!(
        e.iter().any(|m| m.starts_with("source.tls.enabled:")),
        "{e:?}"
    );
    let e = errors("[source.tls]\n[source.sasl]\nmechanism = \"OAUTHBEARER\"\n[source.librdkafka]\n\"sasl.oauthbearer.config\" = \"principal=x\"");
    assert!(
        e.iter()
            .any(|m| m.starts_with("source.sasl.mechanism:") && m.contains("[source.aws_msk_iam]")),
        "{e:?}"
    );
    let e = errors("[source.librdkafka]\n\"security.protocol\" = \"SASL_SSL\"\n\"sasl.mechanisms\" = \"OAUTHBEARER\"");
    assert!(
        e.iter()
            .any(|m| m.starts_with("source.librdkafka.\"sasl.mechanisms\":")),
        "{e:?}"
    );
    let e = errors("[source.sasl]\nmechanism = \"PLAIN\"\nusername = \"u\"\npassword = \"p\"");
    assert!(e.iter().any(|m| m.contains("clear text")), "{e:?}");
    let e = errors("[source.sasl]\nmechanism = \"GSSAPI\"");
    assert!(!e.is_empty(), "an unknown mechanism must be refused");
}

#[test]
fn secrets_come_from_files_and_the_environment_and_never_print() {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("kafka-password");
    std::fs::write(&pw, "file-secret-42\n").unwrap();
    let k = kafka(&format!(
        "[source.tls]\n[source.sasl]\nmechanism = \"SCRAM-SHA-512\"\nusername = \"u\"\npassword_file = \"{}\"\n[source.librdkafka]\n\"sasl.oauthbearer.extensions\" = \"x=${{KAFKA_PASSWORD}}\"",
        pw.display()
    ));
    let p: BTreeMap<_, _> = k.client_properties().into_iter().collect();
    assert_eq!(p["sasl.password"], "file-secret-42");
    assert_eq!(p["sasl.oauthbearer.extensions"], "x=hunter2-from-env");
    let shown = format!("{k:?}");
    assert!(!shown.contains("file-secret-42"), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");
    // Unset variables and unreadable files are errors naming the field, not the value.
    let e = errors("[source.tls]\n[source.sasl]\nmechanism = \"PLAIN\"\nusername = \"u\"\npassword = \"${NOT_SET}\"");
    assert!(
        e.iter()
            .any(|m| m.starts_with("source.sasl.password:") && m.contains("NOT_SET")),
        "{e:?}"
    );
    let e = errors(&format!(
        "[source.tls]\n[source.sasl]\nmechanism = \"PLAIN\"\nusername = \"u\"\npassword_file = \"{}\"",
        dir.path().join("absent").display()
    ));
    assert!(
        e.iter()
            .any(|m| m.starts_with("source.sasl.password_file:")),
        "{e:?}"
    );
}

#[test]
fn file_paths_expand_environment_references() {
    let k = kafka(
        "[source.tls]\nca_file = \"${CREDS}/ca.pem\"\ncert_file = \"${CREDS}/c.pem\"\nkey_file = \"${CREDS}/k.pem\"",
    );
    let p: BTreeMap<_, _> = k.client_properties().into_iter().collect();
    assert_eq!(
        p["ssl.ca.location"],
        "/run/credentials/trailpipe.service/ca.pem"
    );
    assert_eq!(
        p["ssl.key.location"],
        "/run/credentials/trailpipe.service/k.pem"
    );
    let c = Config::parse_with_env(
        &format!(
            "{}\n[integrity]\nsigning_key_pem = \"${{CREDS}}/signing.pem\"\n",
            BASE.replace("SECURITY", "")
        ),
        env,
    )
    .unwrap();
    assert_eq!(
        c.integrity.signing_key_pem.unwrap(),
        std::path::Path::new("/run/credentials/trailpipe.service/signing.pem")
    );
}

#[test]
fn each_property_names_the_field_that_set_it() {
    let k = kafka(
        "[source.tls]\nca_file = \"/ca.pem\"\nkey_file = \"/k.pem\"\ncert_file = \"/c.pem\"\n[source.librdkafka]\n\"ssl.key.location\" = \"/k.pem\"\n\"sasl.mechanisms\" = \"PLAIN\"",
    );
    assert_eq!(
        k.property_field("ssl.ca.location").as_deref(),
        Some("source.tls.ca_file")
    );
    assert_eq!(
        k.property_field("ssl.key.location").as_deref(),
        Some("source.librdkafka.\"ssl.key.location\"")
    );
    assert_eq!(
        k.property_field("sasl.mechanism").as_deref(),
        Some("source.librdkafka.\"sasl.mechanisms\"")
    );
    assert_eq!(k.property_field("ssl.crl.location"), None);
}
