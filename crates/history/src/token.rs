//! NextToken: the position (eventTime, eventID) of the last event returned, bound to the
//! request's parameters by a hash.
//!
//! Stability: positions are total-ordered (newest first, then eventID) and an event's position
//! never changes, so the next page starts strictly after the last event shown no matter what
//! was written since: nothing is lost or repeated. Events written after the first page that
//! sort after the position (older, or equal time with a greater eventID) do show up later;
//! newer ones do not.
//!
//! Format: base64url(`2 | check[16] | time i64 BE | eventID`), where `check` is the first 16
//! bytes of HMAC-SHA-256 under the store's secret token key (made once, kept in the store) of
//! (fingerprint | time | eventID). A token used with other parameters, edited, truncated, or
//! forged by someone without the key fails the check: `InvalidNextTokenException`.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use hmac::{KeyInit, Mac};

use crate::LookupError;

const VERSION: u8 = 2;
const CHECK_LEN: usize = 16;

/// The secret that authenticates NextTokens (see [`crate::HistoryStore`], which keeps it).
pub(crate) type TokenKey = [u8; 32];

/// Where the next page starts (exclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub(crate) time: i64,
    pub(crate) event_id: Vec<u8>,
}

fn check(key: &TokenKey, fingerprint: &[u8], time: i64, event_id: &[u8]) -> [u8; CHECK_LEN] {
    let mut h = <hmac::Hmac<sha2_11::Sha256> as KeyInit>::new_from_slice(key)
        .expect("HMAC takes any key length");
    h.update(&(fingerprint.len() as u64).to_be_bytes());
    h.update(fingerprint);
    h.update(&time.to_be_bytes());
    h.update(event_id);
    let d = h.finalize().into_bytes();
    let mut out = [0; CHECK_LEN];
    out.copy_from_slice(&d[..CHECK_LEN]);
    out
}

/// Encodes the position after which the next page starts.
pub(crate) fn encode(key: &TokenKey, fingerprint: &[u8], c: &Cursor) -> String {
    let mut b = Vec::with_capacity(1 + CHECK_LEN + 8 + c.event_id.len());
    b.push(VERSION);
    b.extend_from_slice(&check(key, fingerprint, c.time, &c.event_id));
    b.extend_from_slice(&c.time.to_be_bytes());
    b.extend_from_slice(&c.event_id);
    URL_SAFE_NO_PAD.encode(b)
}

/// Decodes a token issued for a request with this fingerprint.
pub(crate) fn decode(
    key: &TokenKey,
    fingerprint: &[u8],
    token: &str,
) -> Result<Cursor, LookupError> {
    let bad = || {
        LookupError::InvalidNextToken(
            "The NextToken is not valid, or was issued for a request with other parameters.".into(),
        )
    };
    let b = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let (&version, rest) = b.split_first().ok_or_else(bad)?;
    if version != VERSION {
        return Err(bad());
    }
    let (sum, rest) = rest.split_first_chunk::<CHECK_LEN>().ok_or_else(bad)?;
    let (time, event_id) = rest.split_first_chunk::<8>().ok_or_else(bad)?;
    let time = i64::from_be_bytes(*time);
    // Compared in full; a timing difference here reveals nothing a client could use to forge
    // a check without the key.
    if *sum != check(key, fingerprint, time, event_id) {
        return Err(bad());
    }
    Ok(Cursor {
        time,
        event_id: event_id.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_other_parameters_and_edits() {
        let c = Cursor {
            time: 1_767_225_600,
            event_id: b"abc-123".to_vec(),
        };
        let k = [7; 32];
        let t = encode(&k, b"params", &c);
        assert_eq!(decode(&k, b"params", &t).expect("valid"), c);
        assert!(decode(&k, b"other", &t).is_err());
        let mut edited = t.clone().into_bytes();
        let last = edited.len() - 1;
        edited[last] = if edited[last] == b'A' { b'B' } else { b'A' };
        assert!(decode(&k, b"params", std::str::from_utf8(&edited).expect("ascii")).is_err());
        assert!(decode(&k, b"params", "").is_err());
        assert!(decode(&k, b"params", "!!!").is_err());
        assert!(decode(&k, b"params", &t[..10]).is_err());
        // Someone who knows the format but not the key cannot make a token: one made under
        // another key (all zeros, say) is refused.
        let forged = encode(&[0; 32], b"params", &c);
        assert!(decode(&k, b"params", &forged).is_err());
    }
}
