//! The notification body CloudTrail publishes when log files land (reference §4), and how many
//! keys go into one message.
//!
//! The body is compact JSON, exactly `{"s3Bucket":"<bucket>","s3ObjectKey":["<key>",...]}` —
//! `s3ObjectKey` is always an array, keys are full object keys (with the trail's prefix).
//! Invariant kept by [`split`]: keys keep their order, each key is in exactly one message, and
//! every message respects both the key-count and the byte limit.

use crate::NotifyError;

/// The smallest `max_message_bytes` accepted: room for one maximal S3 key (1,024 bytes, each
/// JSON-escaped to at most 6) beside a maximal bucket name.
pub(crate) const MIN_MESSAGE_BYTES: usize = 8_192;

const KEYS_END: &str = "]}";

/// JSON string literal for `s` (quotes and escapes included).
fn json_str(s: &str) -> String {
    serde_json::to_string(s).expect("serializing a str to JSON cannot fail")
}

/// Bytes of a message for `bucket` with no keys.
pub(crate) fn overhead(bucket: &str) -> usize {
    head(bucket).len() + KEYS_END.len()
}

/// Bytes one more key adds to a message, counting its separating comma.
pub(crate) fn key_cost(key: &str) -> usize {
    json_str(key).len() + 1
}

fn head(bucket: &str) -> String {
    format!("{{\"s3Bucket\":{},\"s3ObjectKey\":[", json_str(bucket))
}

/// The exact CloudTrail notification for `keys` of `bucket`, in the given order.
pub fn notification_message(bucket: &str, keys: &[String]) -> String {
    let mut body = head(bucket);
    for (i, k) in keys.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&json_str(k));
    }
    body.push_str(KEYS_END);
    body
}

/// One message ready to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Message {
    /// The JSON body.
    pub(crate) body: String,
    /// How many keys it names.
    pub(crate) keys: usize,
}

/// Splits `keys` into as few consecutive messages as the limits allow.
pub(crate) fn split(
    bucket: &str,
    keys: &[String],
    max_keys: usize,
    max_bytes: usize,
) -> Result<Vec<Message>, NotifyError> {
    let max_keys = max_keys.max(1);
    let head = head(bucket);
    let mut out = Vec::new();
    let mut body = head.clone();
    let mut count = 0usize;
    for key in keys {
        let enc = json_str(key);
        let sep = usize::from(count > 0);
        if count > 0
            && (count == max_keys || body.len() + sep + enc.len() + KEYS_END.len() > max_bytes)
        {
            body.push_str(KEYS_END);
            out.push(Message {
                body: std::mem::replace(&mut body, head.clone()),
                keys: count,
            });
            count = 0;
        }
        if count == 0 && body.len() + enc.len() + KEYS_END.len() > max_bytes {
            return Err(NotifyError::KeyTooLarge {
                bucket: bucket.to_string(),
                key: key.clone(),
                max_message_bytes: max_bytes,
            });
        }
        if count > 0 {
            body.push(',');
        }
        body.push_str(&enc);
        count += 1;
    }
    if count > 0 {
        body.push_str(KEYS_END);
        out.push(Message { body, keys: count });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("AWSLogs/123456789012/CloudTrail/us-east-1/2024/05/01/123456789012_CloudTrail_us-east-1_20240501T1200Z_{i:016}.json.gz"))
            .collect()
    }

    #[test]
    fn message_matches_cloudtrail_shape_exactly() {
        let k = vec!["AWSLogs/1/CloudTrail/us-east-2/2016/08/11/a.json.gz".to_string()];
        assert_eq!(
            notification_message("your-bucket-name", &k),
            r#"{"s3Bucket":"your-bucket-name","s3ObjectKey":["AWSLogs/1/CloudTrail/us-east-2/2016/08/11/a.json.gz"]}"#
        );
        let two = vec!["a".to_string(), "b".to_string()];
        assert_eq!(
            notification_message("b", &two),
            r#"{"s3Bucket":"b","s3ObjectKey":["a","b"]}"#
        );
    }

    #[test]
    fn keys_needing_escapes_stay_valid_json() {
        let k = vec!["pre\"fix/\\x\u{1}/é.json.gz".to_string()];
        let body = notification_message("bkt", &k);
        let v: serde_json::Value = serde_json::from_str(&body).expect("valid JSON");
        assert_eq!(v["s3ObjectKey"][0], k[0].as_str());
        assert_eq!(v["s3Bucket"], "bkt");
    }

    #[test]
    fn split_respects_key_count_and_keeps_order() {
        let k = keys(250);
        let msgs = split("bkt", &k, 100, 262_144).expect("fits");
        assert_eq!(
            msgs.iter().map(|m| m.keys).collect::<Vec<_>>(),
            [100, 100, 50]
        );
        let mut seen = Vec::new();
        for m in &msgs {
            let v: serde_json::Value = serde_json::from_str(&m.body).expect("valid JSON");
            for x in v["s3ObjectKey"].as_array().expect("array") {
                seen.push(x.as_str().expect("string").to_string());
            }
        }
        assert_eq!(seen, k);
    }

    #[test]
    fn split_respects_byte_limit_and_fills_messages() {
        let k = keys(5_000);
        let limit = 20_000;
        let msgs = split("bkt", &k, usize::MAX, limit).expect("fits");
        assert!(msgs.len() > 1);
        for (i, m) in msgs.iter().enumerate() {
            assert!(
                m.body.len() <= limit,
                "message {i} has {} bytes",
                m.body.len()
            );
            if i + 1 < msgs.len() {
                // Not needlessly small: the next key would not have fit.
                assert!(m.body.len() + key_cost(&k[0]) > limit);
            }
        }
        assert_eq!(msgs.iter().map(|m| m.keys).sum::<usize>(), 5_000);
    }

    #[test]
    fn overhead_and_cost_bound_the_exact_size() {
        let k = keys(7);
        let exact = notification_message("bkt", &k).len();
        let estimate = overhead("bkt") + k.iter().map(|x| key_cost(x)).sum::<usize>();
        assert_eq!(estimate, exact + 1, "one comma too many, never too few");
    }

    #[test]
    fn a_key_larger_than_a_message_is_an_error() {
        let k = vec!["x".repeat(300)];
        assert!(matches!(
            split("bkt", &k, 10, 200),
            Err(NotifyError::KeyTooLarge { .. })
        ));
        assert!(split("bkt", &[], 10, 200).expect("empty").is_empty());
    }
}
