use super::*;

fn t(s: &str) -> OffsetDateTime {
    parse_time(s).expect("test time parses")
}

fn layout<'a>() -> KeyLayout<'a> {
    KeyLayout {
        prefix: None,
        organization_id: None,
        account_id: "111122223333",
        source_region: "us-east-2",
        trail_name: "your-trail-name",
        home_region: "us-east-2",
    }
}

#[test]
fn digest_key_matches_the_aws_example_and_awscli_offsets() {
    let key = layout().digest_key(t("2015-08-17T15:01:31Z"), false);
    assert_eq!(
        key,
        "AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/17/111122223333_CloudTrail-Digest_us-east-2_your-trail-name_us-east-2_20150817T150131Z.json.gz"
    );
    // awscli: key[-24:-8] for normal keys, key[-33:-17] for backfill keys.
    assert_eq!(&key[key.len() - 24..key.len() - 8], "20150817T150131Z");
    let bf = layout().digest_key(t("2015-08-17T15:01:31Z"), true);
    assert!(bf.ends_with("_20150817T150131Z_backfill.json.gz"));
    assert_eq!(&bf[bf.len() - 33..bf.len() - 17], "20150817T150131Z");
    assert_eq!(
        layout().parse_digest_key(&key),
        Some((t("2015-08-17T15:01:31Z"), false))
    );
    assert_eq!(
        layout().parse_digest_key(&bf),
        Some((t("2015-08-17T15:01:31Z"), true))
    );
}

#[test]
fn prefixed_organization_keys_and_foreign_keys() {
    let l = KeyLayout {
        prefix: Some("pfx"),
        organization_id: Some("o-abc123"),
        ..layout()
    };
    let key = l.digest_key(t("2024-02-29T23:59:59Z"), false);
    assert!(key.starts_with(
        "pfx/AWSLogs/o-abc123/111122223333/CloudTrail-Digest/us-east-2/2024/02/29/111122223333_CloudTrail-Digest_us-east-2_your-trail-name_us-east-2_"
    ));
    assert_eq!(
        l.log_folder(t("2024-02-29T00:00:00Z").date()),
        "pfx/AWSLogs/o-abc123/111122223333/CloudTrail/us-east-2/2024/02/29/"
    );
    // Another trail sharing the prefix is not ours; neither is a malformed timestamp.
    let other = KeyLayout {
        trail_name: "other",
        ..l
    };
    assert_eq!(
        l.parse_digest_key(&other.digest_key(t("2024-02-29T23:59:59Z"), false)),
        None
    );
    assert_eq!(l.parse_digest_key(&key.replace("235959Z", "23595Z")), None);
    assert_eq!(layout().parse_digest_key(&key), None);
}

#[test]
fn digest_json_has_every_field_with_exact_names_and_nulls() {
    let d = DigestFile {
        aws_account_id: "111122223333".into(),
        digest_start_time: "2015-08-17T14:01:31Z".into(),
        digest_end_time: "2015-08-17T15:01:31Z".into(),
        digest_s3_bucket: "b".into(),
        digest_s3_object: "k".into(),
        digest_public_key_fingerprint: "fp".into(),
        digest_signature_algorithm: SIGNATURE_ALGORITHM.into(),
        newest_event_time: None,
        oldest_event_time: None,
        previous_digest_s3_bucket: None,
        previous_digest_s3_object: None,
        previous_digest_hash_value: None,
        previous_digest_hash_algorithm: None,
        previous_digest_signature: None,
        log_files: vec![],
    };
    let v: serde_json::Value = serde_json::from_slice(&d.to_json()).expect("json");
    let obj = v.as_object().expect("object");
    let mut names: Vec<&str> = obj.keys().map(String::as_str).collect();
    names.sort_unstable();
    let mut expected = vec![
        "awsAccountId",
        "digestStartTime",
        "digestEndTime",
        "digestS3Bucket",
        "digestS3Object",
        "digestPublicKeyFingerprint",
        "digestSignatureAlgorithm",
        "newestEventTime",
        "oldestEventTime",
        "previousDigestS3Bucket",
        "previousDigestS3Object",
        "previousDigestHashValue",
        "previousDigestHashAlgorithm",
        "previousDigestSignature",
        "logFiles",
    ];
    expected.sort_unstable();
    assert_eq!(names, expected);
    for n in [
        "newestEventTime",
        "oldestEventTime",
        "previousDigestS3Bucket",
        "previousDigestS3Object",
        "previousDigestHashValue",
        "previousDigestHashAlgorithm",
        "previousDigestSignature",
    ] {
        assert!(obj[n].is_null(), "{n} must be JSON null");
    }
    assert_eq!(obj["logFiles"], serde_json::json!([]));

    let entry = |o: &str, n: &str| LogFileEntry {
        s3_bucket: "b".into(),
        s3_object: "x".into(),
        hash_value: "00".into(),
        hash_algorithm: HASH_ALGORITHM.into(),
        newest_event_time: Some(n.into()),
        oldest_event_time: Some(o.into()),
    };
    let mut d2 = d;
    d2.log_files = vec![
        entry("2015-08-17T14:42:27Z", "2015-08-17T14:52:27Z"),
        entry("2015-08-17T13:00:00Z", "2015-08-17T14:00:00Z"),
    ];
    d2.set_event_times_from_files();
    assert_eq!(
        d2.oldest_event_time.as_deref(),
        Some("2015-08-17T13:00:00Z")
    );
    assert_eq!(
        d2.newest_event_time.as_deref(),
        Some("2015-08-17T14:52:27Z")
    );
    let v: serde_json::Value = serde_json::from_slice(&d2.to_json()).expect("json");
    let f = v["logFiles"][0].as_object().expect("entry");
    let mut names: Vec<&str> = f.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "hashAlgorithm",
            "hashValue",
            "newestEventTime",
            "oldestEventTime",
            "s3Bucket",
            "s3Object"
        ]
    );
}

#[test]
fn string_to_sign_uses_json_values_and_literal_null() {
    assert_eq!(
        string_to_sign(
            "2015-08-12T04:01:31Z",
            "S3-bucket-name",
            "AWSLogs/k.json.gz",
            "4ff0",
            None
        ),
        "2015-08-12T04:01:31Z\nS3-bucket-name/AWSLogs/k.json.gz\n4ff0\nnull"
    );
    assert_eq!(
        string_to_sign("E", "b", "k", "h", Some("6e85")),
        "E\nb/k\nh\n6e85"
    );
}

#[test]
fn times_format_with_second_precision() {
    let x = t("2015-08-17T14:01:31Z") + time::Duration::milliseconds(999);
    assert_eq!(format_time(x), "2015-08-17T14:01:31Z");
    assert_eq!(format_key_timestamp(x), "20150817T140131Z");
    assert_eq!(
        parse_time("2015-08-17T14:01:31.250Z")
            .map(format_time)
            .as_deref(),
        Some("2015-08-17T14:01:31Z")
    );
    assert_eq!(parse_time("yesterday"), None);
}

#[test]
fn gzip_is_one_member_and_trailing_data_is_refused() {
    let body = br#"{"Records":[]}"#;
    let gz = gzip(body);
    assert_eq!(gunzip_single(&gz).expect("round trip"), body);
    assert_eq!(gunzip_sha256_hex(&gz).expect("hash"), sha256_hex(body));
    let mut two = gz.clone();
    two.extend_from_slice(&gzip(body));
    assert_eq!(gunzip_single(&two), Err(GunzipError::TrailingData));
    let mut junk = gz.clone();
    junk.push(0);
    assert_eq!(gunzip_sha256_hex(&junk), Err(GunzipError::TrailingData));
    assert!(matches!(
        gunzip_single(b"not gzip"),
        Err(GunzipError::Invalid(_))
    ));
    assert!(matches!(
        gunzip_single(&gz[..gz.len() - 4]),
        Err(GunzipError::Invalid(_))
    ));
    // Known vector: SHA-256 of the empty string.
    assert_eq!(
        sha256_hex(b""),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}
