//! The S3 key of a log file:
//! `[prefix/]AWSLogs/[o-org/]<acct>/CloudTrail/<region>/YYYY/MM/DD/<acct>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<unique>.json.gz`.

use sha2::{Digest, Sha256};

/// Length of the unique part of a log file name (CloudTrail uses 16 characters).
pub const UNIQUE_LEN: usize = 16;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Derives the 16-character `[A-Za-z0-9]` unique part of a log file name from the input that
/// produced the file: the trail, the source (Kafka topic or file), its partition, and the first
/// offset of the segment the file belongs to. Same input, same name: a replay after a crash
/// targets the object the first attempt wrote, and a conditional put detects it.
pub fn unique_string(trail: &str, source: &str, partition: i32, first_offset: i64) -> String {
    let mut h = Sha256::new();
    // Length-prefix the strings so ("ab","c") and ("a","bc") cannot collide.
    for part in [trail.as_bytes(), source.as_bytes()] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.update(partition.to_be_bytes());
    h.update(first_offset.to_be_bytes());
    let digest = h.finalize();
    // 16 base-62 digits from the first 12 bytes (96 bits > 62^16 ≈ 2^95.3), taken as one integer.
    let mut n = u128::from_be_bytes({
        let mut b = [0u8; 16];
        b[4..].copy_from_slice(&digest[..12]);
        b
    });
    let mut out = [0u8; UNIQUE_LEN];
    for c in out.iter_mut().rev() {
        *c = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    out.iter().map(|&b| b as char).collect()
}

/// Formats an epoch-seconds time as the file name's `YYYYMMDDTHHmmZ`.
pub fn format_file_timestamp(epoch_secs: i64) -> String {
    let t = utc(epoch_secs);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}Z",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute()
    )
}

fn utc(epoch_secs: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(epoch_secs)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// What a log file's key is made of.
#[derive(Debug, Clone, Copy)]
pub struct KeyParts<'a> {
    /// The trail's `s3_key_prefix`, without a trailing `/` (validated by config).
    pub prefix: Option<&'a str>,
    /// Organization id (`o-...`) for organization trails.
    pub organization_id: Option<&'a str>,
    /// The 12-digit account the records belong to.
    pub account_id: &'a str,
    /// The records' `awsRegion`.
    pub region: &'a str,
    /// The file's time (folder date and `YYYYMMDDTHHmmZ`), epoch seconds UTC.
    pub timestamp: i64,
    /// The 16-character unique part, from [`unique_string`].
    pub unique: &'a str,
}

/// Builds the S3 key of a log file exactly as CloudTrail lays it out (reference §2.1).
pub fn log_file_key(p: &KeyParts<'_>) -> String {
    key_in_folder(p, "CloudTrail")
}

/// Builds the S3 key of an Insights log file: as [`log_file_key`], with `CloudTrail-Insight` as
/// the folder and in the file name (reference §2.1).
pub fn insight_file_key(p: &KeyParts<'_>) -> String {
    key_in_folder(p, "CloudTrail-Insight")
}

fn key_in_folder(p: &KeyParts<'_>, folder: &str) -> String {
    let t = utc(p.timestamp);
    let mut key = String::with_capacity(160);
    if let Some(prefix) = p.prefix.filter(|s| !s.is_empty()) {
        key.push_str(prefix);
        key.push('/');
    }
    key.push_str("AWSLogs/");
    if let Some(org) = p.organization_id {
        key.push_str(org);
        key.push('/');
    }
    key.push_str(&format!(
        "{acct}/{folder}/{region}/{y:04}/{m:02}/{d:02}/{acct}_{folder}_{region}_{ts}_{unique}.json.gz",
        acct = p.account_id,
        region = p.region,
        y = t.year(),
        m = t.month() as u8,
        d = t.day(),
        ts = format_file_timestamp(p.timestamp),
        unique = p.unique,
    ));
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insight_key_matches_cloudtrail_insight_layout() {
        // Reference §2.1, the real example from an organization trail.
        let key = insight_file_key(&KeyParts {
            prefix: Some("o-fxozgwu6rc"),
            organization_id: Some("o-fxozgwu6rc"),
            account_id: "123456789015",
            region: "ca-central-1",
            timestamp: 1_600_838_200, // 2020-09-23T05:16:40Z
            unique: "KL5e9VCV2SS7IqzB",
        });
        assert_eq!(
            key,
            "o-fxozgwu6rc/AWSLogs/o-fxozgwu6rc/123456789015/CloudTrail-Insight/ca-central-1/2020/09/23/123456789015_CloudTrail-Insight_ca-central-1_20200923T0516Z_KL5e9VCV2SS7IqzB.json.gz"
        );
    }

    #[test]
    fn key_matches_cloudtrail_layout_and_cpl_regex() {
        let unique = unique_string("management", "cloudtrail-events", 3, 1_234);
        let key = log_file_key(&KeyParts {
            prefix: Some("prod"),
            organization_id: None,
            account_id: "111122223333",
            region: "us-east-2",
            timestamp: 1_438_395_000, // 2015-08-01T02:10:00Z
            unique: &unique,
        });
        assert_eq!(
            key,
            format!("prod/AWSLogs/111122223333/CloudTrail/us-east-2/2015/08/01/111122223333_CloudTrail_us-east-2_20150801T0210Z_{unique}.json.gz")
        );
        let name = key.rsplit('/').next().expect("has a name");
        // The CloudTrail Processing Library's regex: .+_CloudTrail_[\w\-]+_\d{8}T\d{4}Z_[\w]+\.json\.gz
        let parts: Vec<&str> = name.trim_end_matches(".json.gz").split('_').collect();
        assert_eq!(parts.len(), 5);
        assert_eq!(parts[3].len(), 14);
        assert!(parts[4].chars().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn organization_path_and_no_prefix() {
        let key = log_file_key(&KeyParts {
            prefix: None,
            organization_id: Some("o-abc123"),
            account_id: "111122223333",
            region: "eu-west-1",
            timestamp: 0,
            unique: "AAAAAAAAAAAAAAAA",
        });
        assert!(key.starts_with("AWSLogs/o-abc123/111122223333/CloudTrail/eu-west-1/1970/01/01/"));
    }

    #[test]
    fn unique_string_is_deterministic_and_input_sensitive() {
        let a = unique_string("t", "topic", 0, 42);
        assert_eq!(a.len(), UNIQUE_LEN);
        assert_eq!(a, unique_string("t", "topic", 0, 42));
        assert_ne!(a, unique_string("t", "topic", 0, 43));
        assert_ne!(a, unique_string("t", "topic", 1, 42));
        assert_ne!(a, unique_string("t2", "topic", 0, 42));
        assert_ne!(
            unique_string("ab", "c", 0, 0),
            unique_string("a", "bc", 0, 0)
        );
    }

    proptest::proptest! {
        #[test]
        fn unique_strings_are_always_16_alphanumerics(t in ".{0,20}", s in ".{0,20}", p in 0i32..1000, o in 0i64..i64::MAX) {
            let u = unique_string(&t, &s, p, o);
            proptest::prop_assert_eq!(u.len(), UNIQUE_LEN);
            proptest::prop_assert!(u.bytes().all(|b| b.is_ascii_alphanumeric()));
        }
    }
}
