//! The Kafka clusters people really run: TLS with mutual authentication and hostname checks,
//! SCRAM over TLS, and every compression codec, against the real listeners of
//! `scripts/services.sh` (stunnel terminating TLS in front of tansu brokers, one of which runs
//! the SASL handshake). What must be refused — a wrong CA, an expired broker certificate, a
//! wrong password, a key that does not match its certificate — is refused with the reason and
//! the field named, moves no data, and shows in `/readyz`; secrets show nowhere.

use std::{path::Path, process::Command, time::Duration};

use crate::support::*;

/// The secure listeners and test certificates from `.test-services/env`.
struct Secure {
    tls_brokers: String,
    expired_brokers: String,
    sasl_brokers: String,
    ca: String,
    other_ca: String,
    cert: String,
    key: String,
    key_encrypted: String,
    key_password: String,
    scram_user: String,
    scram_password: String,
}

impl Secure {
    fn get(test: &str) -> Option<(Services, Secure)> {
        let s = Services::get(test)?;
        let v = |k: &str| std::env::var(k).ok();
        let secure = (|| {
            Some(Secure {
                tls_brokers: v("TRAILPIPE_TEST_TLS_BROKERS")?,
                expired_brokers: v("TRAILPIPE_TEST_TLS_EXPIRED_BROKERS")?,
                sasl_brokers: v("TRAILPIPE_TEST_SASL_SSL_BROKERS")?,
                ca: v("TRAILPIPE_TEST_TLS_CA")?,
                other_ca: v("TRAILPIPE_TEST_TLS_OTHER_CA")?,
                cert: v("TRAILPIPE_TEST_TLS_CLIENT_CERT")?,
                key: v("TRAILPIPE_TEST_TLS_CLIENT_KEY")?,
                key_encrypted: v("TRAILPIPE_TEST_TLS_CLIENT_KEY_ENCRYPTED")?,
                key_password: v("TRAILPIPE_TEST_TLS_KEY_PASSWORD")?,
                scram_user: v("TRAILPIPE_TEST_SCRAM_USER")?,
                scram_password: v("TRAILPIPE_TEST_SCRAM_PASSWORD")?,
            })
        })();
        match secure {
            Some(x) => Some((s, x)),
            None if std::env::var_os("TRAILPIPE_REQUIRE_SERVICES").is_some() => {
                panic!("{test}: the secure listeners are not in the environment (scripts/services.sh start)")
            }
            None => {
                eprintln!("skipping {test}: secure Kafka listeners not running (use `make test`)");
                None
            }
        }
    }

    /// A test client's properties for the mutual-TLS listener.
    fn tls_client(&self) -> Vec<(String, String)> {
        props(&[
            ("security.protocol", "SSL"),
            ("ssl.ca.location", &self.ca),
            ("ssl.certificate.location", &self.cert),
            ("ssl.key.location", &self.key),
        ])
    }

    /// A test client's properties for the SASL_SSL listener.
    fn sasl_client(&self, mechanism: &str) -> Vec<(String, String)> {
        props(&[
            ("security.protocol", "SASL_SSL"),
            ("ssl.ca.location", &self.ca),
            ("sasl.mechanism", mechanism),
            ("sasl.username", &self.scram_user),
            ("sasl.password", &self.scram_password),
        ])
    }
}

fn props(kv: &[(&str, &str)]) -> Vec<(String, String)> {
    kv.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A daemon configuration reading `topic` from `brokers` (security in `source_extra`) into
/// `bucket` on moto.
fn config(
    s: &Services,
    brokers: &str,
    topic: &str,
    group: &str,
    bucket: &str,
    port: u16,
    source_extra: &str,
) -> String {
    // The same moto, the given (secure) listener.
    let secure = Services {
        brokers: brokers.to_owned(),
        s3_endpoint: s.s3_endpoint.clone(),
    };
    let head = kafka_to_moto(
        &secure,
        topic,
        &format!("{topic}-dead"),
        group,
        port,
        source_extra,
    );
    format!(
        r#"{head}
[[trails]]
name = "secure-audit"
s3_bucket_name = "{bucket}"
is_multi_region_trail = true
home_region = "us-east-1"
delivery_interval_secs = 1
"#
    )
}

/// `trailpipe validate [--connect]` on `config`: (exit code, stderr).
fn validate(dir: &Path, config: &str, connect: bool, env: &[(&str, &str)]) -> (i32, String) {
    let path = dir.join(format!("{}.toml", unique("validate")));
    std::fs::write(&path, config).expect("write config");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trailpipe"));
    cmd.args(["validate", "--config"])
        .arg(&path)
        .envs(env.iter().copied());
    if connect {
        cmd.arg("--connect");
    }
    let out = cmd.output().expect("run trailpipe validate");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Waits for `/readyz` to show the Kafka connection in state `healthy`; returns its JSON.
fn wait_kafka_ready(port: u16, healthy: bool) -> serde_json::Value {
    let mut last = serde_json::Value::Null;
    let ok = wait_until(Duration::from_secs(30), || {
        if let Some((_, body)) = http_get(port, "/readyz") {
            last = serde_json::from_str(&body).unwrap_or_default();
            // Healthy means seen connected (librdkafka's statistics report brokers UP), not
            // merely no error yet.
            last["kafka"]["healthy"] == healthy
                && (!healthy || last["kafka"]["LatestConnectedTime"].is_number())
        } else {
            false
        }
    });
    assert!(ok, "/readyz never showed kafka healthy={healthy}: {last}");
    last
}

/// Everything an operator can see of a running daemon: its log, `/metrics`, `/readyz` and the
/// CloudTrail API's answers (through the real `aws` CLI).
fn observable(s: &Services, d: &Daemon, port: u16) -> String {
    let endpoint = format!("http://127.0.0.1:{port}");
    let mut seen = d.log_text();
    for path in ["/metrics", "/readyz"] {
        seen.push_str(&http_get(port, path).map(|(_, b)| b).unwrap_or_default());
    }
    for call in [
        &["cloudtrail", "describe-trails"][..],
        &["cloudtrail", "get-trail-status", "--name", "secure-audit"][..],
    ] {
        seen.push_str(&aws(s, Some(&endpoint), call).to_string());
    }
    seen
}

/// Produces `n` generated records to a new `partitions`-partition topic through a client with
/// `client` properties, runs the daemon with `source_extra` until the group committed them all,
/// and checks each record is delivered exactly once. Returns the daemon (still running) for
/// further checks.
#[allow(clippy::too_many_arguments)]
fn deliver_exactly_once(
    s: &Services,
    brokers: &str,
    client: &[(String, String)],
    name: &str,
    port: u16,
    source_extra: &str,
    env: &[(&str, &str)],
    dir: &Path,
) -> Daemon {
    let (topic, group) = (unique(name), unique(&format!("{name}-group")));
    let bucket = unique(name).to_lowercase();
    let s3 = s3_client();
    create_bucket(&s3, &bucket);
    create_topic_with(brokers, client, &topic, 2);
    create_topic_with(brokers, client, &format!("{topic}-dead"), 1);
    let messages = generated_messages(600, 14);
    produce_with(brokers, client, &topic, &messages);
    let cfg = config(s, brokers, &topic, &group, &bucket, port, source_extra);
    let (code, err) = validate(dir, &cfg, true, env);
    assert_eq!(
        code, 0,
        "validate --connect refused a working configuration: {err}"
    );
    let d = Daemon::start_with_env(dir, &cfg, env);
    let done = wait_until(Duration::from_secs(90), || {
        committed_by_partition_with(brokers, client, &group, &topic, 2)
            .iter()
            .sum::<i64>()
            >= messages.len() as i64
    });
    assert!(done, "{name}: not all committed; log:\n{}", d.log_text());
    assert_exactly_once(&s3, &bucket, &messages, name);
    d
}

/// Every management record of `messages` (what the trail selects) is in `bucket` once, and
/// nothing else is.
fn assert_exactly_once(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    messages: &[(String, Vec<u8>)],
    name: &str,
) {
    let mut delivered: Vec<String> = read_bucket(s3, bucket)
        .iter()
        .flat_map(|f| f.records.iter().map(|r| event_id(r)))
        .collect();
    let total = delivered.len();
    delivered.sort();
    delivered.dedup();
    let produced: std::collections::BTreeSet<String> = messages
        .iter()
        .filter(|(_, v)| is_management(v))
        .map(|(_, v)| event_id(std::str::from_utf8(v).expect("utf8")))
        .collect();
    let delivered: std::collections::BTreeSet<String> = delivered.into_iter().collect();
    assert!(!produced.is_empty());
    assert_eq!(
        (
            produced.difference(&delivered).count(),
            total - delivered.len(),
            delivered.difference(&produced).count()
        ),
        (0, 0, 0),
        "{name}: (lost, duplicated, unknown) of {} management records",
        produced.len()
    );
}

#[test]
fn mutual_tls_with_hostname_checks_delivers_exactly_once_and_hides_the_key_password() {
    let Some((s, x)) = Secure::get("mutual_tls") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let pw_file = dir.path().join("key-password");
    std::fs::write(&pw_file, format!("{}\n", x.key_password)).expect("password file");
    let port = free_port();
    // The encrypted client key, its password from a file; the CA from an ${ENV} path.
    let extra = format!(
        "[source.tls]\nca_file = \"${{TP_TEST_CA}}\"\ncert_file = \"{}\"\nkey_file = \"{}\"\nkey_password_file = \"{}\"\nverify_hostname = true\n",
        x.cert,
        x.key_encrypted,
        pw_file.display()
    );
    let env = [("TP_TEST_CA", x.ca.as_str())];
    let d = deliver_exactly_once(
        &s,
        &x.tls_brokers,
        &x.tls_client(),
        "mtls",
        port,
        &extra,
        &env,
        dir.path(),
    );
    let ready = wait_kafka_ready(port, true);
    assert!(ready["kafka"]["LatestConnectedTime"].is_number(), "{ready}");
    let seen = observable(&s, &d, port);
    assert!(
        !seen.contains(&x.key_password),
        "the TLS key password leaked into logs, metrics or API answers"
    );
    assert_eq!(d.terminate(Duration::from_secs(30)), Some(0));
}

#[test]
fn a_wrong_ca_or_an_expired_broker_certificate_is_refused_with_the_reason() {
    let Some((s, x)) = Secure::get("tls_refusals") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let tls = |ca: &str| {
        format!(
            "[source.tls]\nca_file = \"{ca}\"\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
            x.cert, x.key
        )
    };
    let (topic, group) = (unique("refused"), unique("refused-group"));
    let bucket = unique("refused").to_lowercase();
    let s3 = s3_client();
    create_bucket(&s3, &bucket);
    create_topic_with(&x.tls_brokers, &x.tls_client(), &topic, 1);
    produce_with(
        &x.tls_brokers,
        &x.tls_client(),
        &topic,
        &generated_messages(50, 3),
    );
    let (wrong_ca_port, expired_port) = (free_port(), free_port());
    let wrong_ca = config(
        &s,
        &x.tls_brokers,
        &topic,
        &group,
        &bucket,
        wrong_ca_port,
        &tls(&x.other_ca),
    );
    let expired = config(
        &s,
        &x.expired_brokers,
        &topic,
        &group,
        &bucket,
        expired_port,
        &tls(&x.ca),
    );

    // Offline checks pass (the files are fine); connecting says why it cannot.
    assert_eq!(validate(dir.path(), &wrong_ca, false, &[]).0, 0);
    let (code, err) = validate(dir.path(), &wrong_ca, true, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("source.brokers") && err.contains("(tls)") && err.contains("UnknownIssuer"),
        "{err}"
    );
    let (code, err) = validate(dir.path(), &expired, true, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("certificate expired"), "{err}");

    // A running daemon shows it in /readyz (503), the metric and its log, and moves nothing.
    for (cfg, port) in [(&wrong_ca, wrong_ca_port), (&expired, expired_port)] {
        let d = Daemon::start(dir.path(), cfg);
        wait_kafka_ready(port, false);
        // Several clients connect at start (the control topic's first): a "brokers are down"
        // may come first; the TLS cause replaces it as soon as a handshake fails.
        let mut ready = serde_json::Value::Null;
        let named = wait_until(Duration::from_secs(30), || {
            ready = http_get(port, "/readyz")
                .and_then(|(_, b)| serde_json::from_str(&b).ok())
                .unwrap_or_default();
            ready["kafka"]["LatestErrorKind"] == "tls"
        });
        assert!(named, "{ready}");
        let (status, _) = http_get(port, "/readyz").expect("readyz");
        assert_eq!(status, 503);
        let (_, metrics) = http_get(port, "/metrics").expect("metrics");
        assert!(
            metrics.contains("trailpipe_kafka_client_errors_total{kind=\"tls\"}"),
            "{metrics}"
        );
        assert!(
            d.log_text().contains("SSL handshake failed"),
            "{}",
            d.log_text()
        );
        d.terminate(Duration::from_secs(30));
    }
    assert!(
        read_bucket(&s3, &bucket).is_empty(),
        "records moved over a refused connection"
    );
    assert_eq!(
        committed_by_partition_with(&x.tls_brokers, &x.tls_client(), &group, &topic, 1),
        vec![0]
    );
}

#[test]
fn validate_names_the_field_of_unreadable_mismatched_or_locked_keys() {
    let Some((s, x)) = Secure::get("tls_files") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let key_dir = Path::new(&x.key).parent().expect("tls dir");
    let port = free_port();
    let cfg = |tls: &str| config(&s, &x.tls_brokers, "t", "g", "files-bucket", port, tls);
    let check = |tls: String, field: &str, needle: &str| {
        let (code, err) = validate(dir.path(), &cfg(&tls), false, &[]);
        assert_eq!(code, 2, "accepted: {tls}");
        assert!(
            err.contains(field) && err.contains(needle),
            "expected {field} and {needle:?} in: {err}"
        );
    };
    check(
        format!(
            "[source.tls]\nca_file = \"{}/absent-ca.pem\"\n",
            key_dir.display()
        ),
        "source.tls.ca_file",
        "cannot read",
    );
    // The server's key is not the client certificate's.
    check(
        format!(
            "[source.tls]\nca_file = \"{}\"\ncert_file = \"{}\"\nkey_file = \"{}/server.key\"\n",
            x.ca,
            x.cert,
            key_dir.display()
        ),
        "source.tls.key_file",
        "key values mismatch",
    );
    check(
        format!(
            "[source.tls]\nca_file = \"{}\"\ncert_file = \"{}\"\nkey_file = \"{}\"\nkey_password = \"not-the-password\"\n",
            x.ca, x.cert, x.key_encrypted
        ),
        "source.tls.key_file",
        "wrong key password",
    );
    check(
        "[source.sasl]\nmechanism = \"SCRAM-SHA-512\"\nusername = \"u\"\n".into(),
        "source.sasl.password",
        "",
    );
    let (code, err) = validate(
        dir.path(),
        &cfg(&format!(
            "[source.tls]\nca_file = \"{}\"\ncert_file = \"{}\"\nkey_file = \"{}\"\nkey_password = \"{}\"\n",
            x.ca, x.cert, x.key_encrypted, "${TP_KEY_PW}"
        )),
        false,
        &[("TP_KEY_PW", &x.key_password)],
    );
    assert_eq!(code, 0, "{err}");
}

#[test]
fn scram_over_tls_delivers_and_a_wrong_password_moves_nothing() {
    let Some((s, x)) = Secure::get("scram") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    for mechanism in ["SCRAM-SHA-256", "SCRAM-SHA-512"] {
        let port = free_port();
        let extra = format!(
            "[source.tls]\nca_file = \"{}\"\n[source.sasl]\nmechanism = \"{mechanism}\"\nusername = \"{}\"\npassword = \"${{TP_SCRAM_PASSWORD}}\"\n",
            x.ca, x.scram_user
        );
        let env = [("TP_SCRAM_PASSWORD", x.scram_password.as_str())];
        let d = deliver_exactly_once(
            &s,
            &x.sasl_brokers,
            &x.sasl_client(mechanism),
            &format!("scram{}", &mechanism[10..]),
            port,
            &extra,
            &env,
            dir.path(),
        );
        wait_kafka_ready(port, true);
        let seen = observable(&s, &d, port);
        assert!(
            !seen.contains(&x.scram_password),
            "the SASL password leaked into logs, metrics or API answers"
        );
        assert_eq!(d.terminate(Duration::from_secs(30)), Some(0));
    }

    // A wrong password: validate --connect says authentication failed; the daemon shows it in
    // /readyz and reads nothing.
    let client = x.sasl_client("SCRAM-SHA-512");
    let (topic, group) = (unique("badpw"), unique("badpw-group"));
    let bucket = unique("badpw").to_lowercase();
    let s3 = s3_client();
    create_bucket(&s3, &bucket);
    create_topic_with(&x.sasl_brokers, &client, &topic, 1);
    produce_with(&x.sasl_brokers, &client, &topic, &generated_messages(50, 5));
    let wrong = "definitely-Not-the-password-7";
    let port = free_port();
    let cfg = config(
        &s,
        &x.sasl_brokers,
        &topic,
        &group,
        &bucket,
        port,
        &format!(
            "[source.tls]\nca_file = \"{}\"\n[source.sasl]\nmechanism = \"SCRAM-SHA-512\"\nusername = \"{}\"\npassword = \"${{TP_SCRAM_PASSWORD}}\"\n",
            x.ca, x.scram_user
        ),
    );
    let env = [("TP_SCRAM_PASSWORD", wrong)];
    let (code, err) = validate(dir.path(), &cfg, true, &env);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("(authentication)"), "{err}");
    assert!(!err.contains(wrong), "validate printed the password: {err}");
    let d = Daemon::start_with_env(dir.path(), &cfg, &env);
    let ready = wait_kafka_ready(port, false);
    assert_eq!(
        ready["kafka"]["LatestErrorKind"], "authentication",
        "{ready}"
    );
    std::thread::sleep(Duration::from_secs(3));
    // Not the API: it answers only once a call's record is in Kafka, which refuses this daemon.
    let mut seen = d.log_text();
    for path in ["/metrics", "/readyz"] {
        seen.push_str(&http_get(port, path).map(|(_, b)| b).unwrap_or_default());
    }
    assert!(!seen.contains(wrong), "the wrong password leaked");
    d.terminate(Duration::from_secs(30));
    assert!(
        read_bucket(&s3, &bucket).is_empty(),
        "records moved without authentication"
    );
    assert_eq!(
        committed_by_partition_with(&x.sasl_brokers, &client, &group, &topic, 1),
        vec![0]
    );
}

#[test]
fn every_compression_codec_is_delivered_exactly_once() {
    let Some(s) = Services::get("codecs") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let group = unique("codecs-group");
    let bucket = unique("codecs").to_lowercase();
    let s3 = s3_client();
    create_bucket(&s3, &bucket);
    let mut topics = Vec::new();
    let mut all = Vec::new();
    for (i, codec) in ["gzip", "snappy", "lz4", "zstd"].into_iter().enumerate() {
        let topic = unique(&format!("codec-{codec}"));
        create_topic(&s.brokers, &topic, 2);
        let messages = generated_messages(400, 40 + i as u64);
        produce_with(
            &s.brokers,
            &props(&[("compression.type", codec)]),
            &topic,
            &messages,
        );
        all.extend(messages);
        topics.push(topic);
    }
    let dlq = unique("codecs-dead");
    create_topic(&s.brokers, &dlq, 1);
    let list = topics
        .iter()
        .map(|t| format!("\"{t}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let cfg = config(&s, &s.brokers, &topics[0], &group, &bucket, free_port(), "")
        .replacen(
            &format!("topics = [\"{}\"]", topics[0]),
            &format!("topics = [{list}]"),
            1,
        )
        .replacen(&format!("{}-dead", topics[0]), &dlq, 1);
    let d = Daemon::start(dir.path(), &cfg);
    let done = wait_until(Duration::from_secs(90), || {
        topics
            .iter()
            .map(|t| committed_total(&s.brokers, &group, t, 2))
            .sum::<i64>()
            >= all.len() as i64
    });
    assert!(done, "not all committed; log:\n{}", d.log_text());
    assert_exactly_once(&s3, &bucket, &all, "codecs");
    assert_eq!(d.terminate(Duration::from_secs(30)), Some(0));
}
