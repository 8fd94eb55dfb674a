//! Trail features end to end, driven through the real aws CLI where users would: SNS
//! notifications (read back from an SQS queue subscribed to the topic), SSE-KMS and an
//! organization trail's key layout, and the lifecycle API (stop-logging, start-logging,
//! put-event-selectors, tags) changing what the running daemon delivers.

use std::{collections::BTreeSet, time::Duration};

use std::sync::LazyLock;

use crate::support::*;

static PORT: LazyLock<u16> = LazyLock::new(free_port);
const ORG: &str = "o-abcdefghij";

fn ids(records: &[(String, Vec<u8>)]) -> BTreeSet<String> {
    records
        .iter()
        .map(|(_, v)| event_id(std::str::from_utf8(v).expect("utf8")))
        .collect()
}

#[test]
fn sns_kms_organization_layout_and_lifecycle_through_the_aws_cli() {
    let Some(s) = Services::get("trail_features") else {
        return;
    };
    let (topic, dlq, group, bucket, s3) = fresh(&s, "features", 2);
    let (sns_topic, queue_url) = sns_topic_with_queue(&s, "files");
    let kms_key = aws(&s, None, &["kms", "create-key"])["KeyMetadata"]["KeyId"]
        .as_str()
        .expect("KeyId")
        .to_string();

    let dir = tempfile::tempdir().expect("tempdir");
    let head = kafka_to_moto(&s, &topic, &dlq, &group, *PORT, "");
    let cfg = format!(
        r#"{head}
[state]
dir = "{state}"

[[api.credentials]]
name = "ops"
access_key_id = "{ADMIN_KEY_ID}"
secret_access_key = "${{TP_TEST_API_SECRET}}"
policy = "admin"

[[trails]]
name = "main"
s3_bucket_name = "{bucket}"
s3_key_prefix = "main"
is_multi_region_trail = true
delivery_interval_secs = 1
sns_topic_arn = "{sns_topic}"

[[trails]]
name = "org"
s3_bucket_name = "{bucket}"
s3_key_prefix = "org"
is_multi_region_trail = true
delivery_interval_secs = 1
is_organization_trail = true
organization_id = "{ORG}"
kms_key_id = "{kms_key}"
"#,
        state = dir.path().join("state").display()
    );
    let daemon = Daemon::start_with_env(dir.path(), &cfg, &[("TP_TEST_API_SECRET", ADMIN_SECRET)]);
    let ct = format!("http://127.0.0.1:{}", *PORT);
    // Everything in the topic (the API's self-records included) is committed.
    let settle = || {
        let end = end_offsets_total(&s.brokers, &topic, 2);
        assert!(
            wait_until(Duration::from_secs(90), || committed_total(
                &s.brokers, &group, &topic, 2
            ) >= end),
            "not committed\n{}",
            daemon.log_text()
        );
    };
    let send = |batch: &[(String, Vec<u8>)]| {
        produce(&s.brokers, &topic, batch);
        settle();
    };
    let management = |batch: &[(String, Vec<u8>)]| -> Vec<(String, Vec<u8>)> {
        batch
            .iter()
            .filter(|(_, v)| is_management(v))
            .cloned()
            .collect()
    };
    let delivered = |prefix: &str| -> BTreeSet<String> {
        read_bucket(&s3, &bucket)
            .iter()
            .filter(|f| f.key.starts_with(prefix))
            .flat_map(|f| f.records.iter().map(|r| event_id(r)))
            .collect()
    };

    // 1. Both trails log management events: main with SNS, org under the o-id with SSE-KMS.
    let b1 = generated_messages(1_500, 31);
    send(&b1);
    assert_eq!(
        delivered("main/"),
        ids(&management(&b1)),
        "main trail, batch 1"
    );
    let files = read_bucket(&s3, &bucket);
    for f in files.iter().filter(|f| f.key.starts_with("org/")) {
        assert!(
            f.key.starts_with(&format!("org/AWSLogs/{ORG}/")),
            "{}",
            f.key
        );
        let rest = &f.key[format!("org/AWSLogs/{ORG}/").len()..];
        check_key(&format!("AWSLogs/{rest}"), None);
        assert_eq!(f.sse.as_deref(), Some("aws:kms"), "{}: SSE-KMS", f.key);
    }
    let accounts: BTreeSet<&str> = files
        .iter()
        .filter(|f| f.key.starts_with("org/"))
        .map(|f| f.key.split('/').nth(3).expect("account"))
        .collect();
    assert!(
        accounts.len() >= 3,
        "organization trail covers {} accounts",
        accounts.len()
    );
    // SNS: one notification per delivered main file (batched), exact JSON, keys that exist.
    let main_keys: BTreeSet<String> = files
        .iter()
        .filter(|f| f.key.starts_with("main/"))
        .map(|f| f.key.clone())
        .collect();
    let mut notified = BTreeSet::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while notified.len() < main_keys.len() && std::time::Instant::now() < deadline {
        for msg in receive_sns_messages(&s, &queue_url) {
            let obj = msg.as_object().expect("object");
            assert_eq!(
                obj.keys().collect::<Vec<_>>(),
                ["s3Bucket", "s3ObjectKey"],
                "{msg}"
            );
            assert_eq!(msg["s3Bucket"], bucket.as_str());
            for k in msg["s3ObjectKey"].as_array().expect("keys") {
                notified.insert(k.as_str().expect("key").to_string());
            }
        }
    }
    assert_eq!(
        notified, main_keys,
        "every delivered file notified, nothing else"
    );

    // 2. stop-logging main: its records stop; the org trail still gets everything.
    admin_aws(&s, &ct, &["cloudtrail", "stop-logging", "--name", "main"]);
    let st = admin_aws(
        &s,
        &ct,
        &["cloudtrail", "get-trail-status", "--name", "main"],
    );
    assert_eq!(st["IsLogging"], false);
    // The notifications just received are in the trail's status, as CloudTrail reports them.
    assert!(
        st["LatestNotificationTime"]
            .as_f64()
            .is_some_and(|t| t > 0.0),
        "{st}"
    );
    assert!(st.get("LatestNotificationError").is_none(), "{st}");
    std::thread::sleep(Duration::from_secs(3));
    let b2 = generated_messages(800, 32);
    send(&b2);
    let main_now = delivered("main/");
    assert!(
        ids(&b2).is_disjoint(&main_now),
        "a stopped trail received records"
    );
    assert!(
        ids(&management(&b2)).is_subset(&delivered("org/")),
        "other trails lost records while main was stopped"
    );

    // 3. put-event-selectors (read-only management events) and start-logging again.
    admin_aws(
        &s,
        &ct,
        &[
            "cloudtrail",
            "put-event-selectors",
            "--trail-name",
            "main",
            "--event-selectors",
            r#"[{"ReadWriteType":"ReadOnly","IncludeManagementEvents":true}]"#,
        ],
    );
    admin_aws(&s, &ct, &["cloudtrail", "start-logging", "--name", "main"]);
    let sel = admin_aws(
        &s,
        &ct,
        &["cloudtrail", "get-event-selectors", "--trail-name", "main"],
    );
    assert_eq!(
        sel["EventSelectors"][0]["ReadWriteType"], "ReadOnly",
        "{sel}"
    );
    assert_eq!(
        admin_aws(
            &s,
            &ct,
            &["cloudtrail", "get-trail-status", "--name", "main"]
        )["IsLogging"],
        true
    );
    std::thread::sleep(Duration::from_secs(3));
    let b3 = generated_messages(800, 33);
    send(&b3);
    let read_only: BTreeSet<String> = management(&b3)
        .iter()
        .filter(|(_, v)| {
            serde_json::from_slice::<serde_json::Value>(v).expect("json")["readOnly"] == true
        })
        .map(|(_, v)| event_id(std::str::from_utf8(v).expect("utf8")))
        .collect();
    let main_b3: BTreeSet<String> = delivered("main/")
        .intersection(&ids(&b3))
        .cloned()
        .collect();
    assert_eq!(
        main_b3, read_only,
        "after put-event-selectors main logs read-only events only"
    );

    // 4. Tags persist and list.
    let arn = admin_aws(&s, &ct, &["cloudtrail", "describe-trails"])["trailList"]
        .as_array()
        .expect("trailList")
        .iter()
        .find(|t| t["Name"] == "main")
        .expect("main")["TrailARN"]
        .as_str()
        .expect("arn")
        .to_string();
    admin_aws(
        &s,
        &ct,
        &[
            "cloudtrail",
            "add-tags",
            "--resource-id",
            &arn,
            "--tags-list",
            "Key=team,Value=security",
        ],
    );
    let tags = admin_aws(
        &s,
        &ct,
        &["cloudtrail", "list-tags", "--resource-id-list", &arn],
    );
    assert_eq!(
        tags["ResourceTagList"][0]["TagsList"][0]["Key"], "team",
        "{tags}"
    );

    // 5. trailpipe recorded its own API calls, each once, in the organization trail's files,
    //    with the caller's identity.
    settle();
    let self_records = || -> Vec<(String, String)> {
        read_bucket(&s3, &bucket)
            .iter()
            .filter(|f| f.key.starts_with("org/"))
            .flat_map(|f| f.records.clone())
            .filter_map(|r| {
                let v: serde_json::Value = serde_json::from_str(&r).expect("json");
                (v["userIdentity"]["accessKeyId"] == ADMIN_KEY_ID).then(|| {
                    assert_eq!(v["eventSource"], "cloudtrail.amazonaws.com", "{v}");
                    assert_eq!(v["userIdentity"]["userName"], "ops", "{v}");
                    (
                        v["eventName"].as_str().expect("eventName").to_owned(),
                        v["eventID"].as_str().expect("eventID").to_owned(),
                    )
                })
            })
            .collect()
    };
    let mut calls = self_records();
    // Every offset is committed by now, so every self-record should be in the files. Under a
    // loaded test run the last call's record has been seen to arrive later (see issue 16's
    // note): wait for it, and say so, rather than fail the lifecycle checks above.
    if calls.len() < 9 {
        let first = calls.len();
        wait_until(Duration::from_secs(30), || {
            calls = self_records();
            calls.len() >= 9
        });
        eprintln!(
            "trail_features: {first} of 9 self-records in the files once everything was committed, {} after waiting\n{}",
            calls.len(),
            daemon.log_text()
        );
    }
    let event_ids: BTreeSet<&String> = calls.iter().map(|(_, id)| id).collect();
    assert_eq!(
        event_ids.len(),
        calls.len(),
        "a self-record delivered twice"
    );
    let mut names: Vec<String> = calls.drain(..).map(|(n, _)| n).collect();
    names.sort();
    let mut expected = vec![
        "StopLogging",
        "GetTrailStatus",
        "PutEventSelectors",
        "StartLogging",
        "GetEventSelectors",
        "GetTrailStatus",
        "DescribeTrails",
        "AddTags",
        "ListTags",
    ];
    expected.sort();
    assert_eq!(
        names,
        expected,
        "the API's self-records\n{}",
        daemon.log_text()
    );
    assert_eq!(daemon.terminate(Duration::from_secs(30)), Some(0));

    // The changes live in the group's control topic, not on this disk: a replica started with
    // an empty state directory knows the tag and the selectors put through the first one.
    let empty = tempfile::tempdir().expect("tempdir");
    let state = |d: &std::path::Path| d.join("state").display().to_string();
    let cfg = cfg.replace(&state(dir.path()), &state(empty.path()));
    let daemon =
        Daemon::start_with_env(empty.path(), &cfg, &[("TP_TEST_API_SECRET", ADMIN_SECRET)]);
    assert!(wait_until(Duration::from_secs(30), || http_get(
        *PORT, "/healthz"
    )
    .is_some()));
    let tags = admin_aws(
        &s,
        &ct,
        &["cloudtrail", "list-tags", "--resource-id-list", &arn],
    );
    assert_eq!(
        tags["ResourceTagList"][0]["TagsList"][0]["Value"],
        "security",
        "{tags}\n{}",
        daemon.log_text()
    );
    assert_eq!(daemon.terminate(Duration::from_secs(30)), Some(0));
}

const ADMIN_KEY_ID: &str = "AKIATRAILPIPEOPS0001";
const ADMIN_SECRET: &str = "trail-features-admin-secret-0123";

/// `aws` against the daemon's CloudTrail API at `endpoint`, signed with the admin credential the
/// test configures.
fn admin_aws(s: &Services, endpoint: &str, args: &[&str]) -> serde_json::Value {
    aws_with_env(
        s,
        Some(endpoint),
        &[
            ("AWS_ACCESS_KEY_ID", ADMIN_KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", ADMIN_SECRET),
        ],
        args,
    )
}
