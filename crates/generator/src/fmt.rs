//! Writing JSON fragments, identifiers and timestamps straight into the output buffer.
//!
//! Invariant: every string this crate writes comes from its own tables or from the alphabets
//! below, none of which contain `"`, `\` or control characters, so nothing needs escaping. (The
//! one pre-escaped policy document is written as a literal.) A unit test parses every generated
//! record to keep that true.

use crate::rng::{mix64, Rng};

/// A value that fills a `%s` slot of a [`fill`] template.
pub(crate) trait Piece {
    fn write_to(&self, out: &mut Vec<u8>);
}

impl Piece for str {
    fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }
}

impl Piece for String {
    fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }
}

impl Piece for [u8] {
    fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
}

impl Piece for Vec<u8> {
    fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
}

impl Piece for u64 {
    fn write_to(&self, out: &mut Vec<u8>) {
        push_u64(out, *self);
    }
}

impl<T: Piece + ?Sized> Piece for &T {
    fn write_to(&self, out: &mut Vec<u8>) {
        (**self).write_to(out);
    }
}

/// Appends `template` with each `%s` replaced by the next of `pieces`, so a JSON fragment reads
/// as one raw string: `fill(out, r#"{"userName":"%s"}"#, &[&name])`.
pub(crate) fn fill(out: &mut Vec<u8>, template: &str, pieces: &[&dyn Piece]) {
    let mut rest = template.as_bytes();
    let mut pieces = pieces.iter();
    let mut from = 0;
    while let Some(at) = memchr::memchr(b'%', &rest[from..]).map(|i| from + i) {
        if rest.get(at + 1) != Some(&b's') {
            from = at + 1; // a literal `%`, as in `%23`
            continue;
        }
        out.extend_from_slice(&rest[..at]);
        pieces
            .next()
            .expect("a piece for every %s in the template")
            .write_to(out);
        rest = &rest[at + 2..];
        from = 0;
    }
    out.extend_from_slice(rest);
    debug_assert!(pieces.next().is_none(), "more pieces than %s in {template}");
}

pub(crate) fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

const HEX: &[u8; 16] = b"0123456789abcdef";
/// Upper-case letters and digits, as in access key ids and S3 request ids.
pub(crate) const UPPER_ALNUM: &[u8; 36] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
/// The base-32 alphabet AWS uses after the `AKIA`/`ASIA`/`AIDA`/`AROA` prefix.
pub(crate) const KEY_CHARS: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// `digits` lower-case hex digits of random data.
pub(crate) fn push_rand_hex(out: &mut Vec<u8>, rng: &mut Rng, digits: usize) {
    let mut bits = 0u64;
    for i in 0..digits {
        if i % 16 == 0 {
            bits = rng.next_u64();
        }
        out.push(HEX[(bits & 0xf) as usize]);
        bits >>= 4;
    }
}

/// `n` random characters from `alphabet` (whose length must be a power of two up to 64).
pub(crate) fn push_rand_chars(out: &mut Vec<u8>, rng: &mut Rng, alphabet: &[u8], n: usize) {
    debug_assert!(alphabet.len().is_power_of_two() && alphabet.len() <= 64);
    let mask = alphabet.len() as u64 - 1;
    let mut bits = 0u64;
    for i in 0..n {
        if i % 10 == 0 {
            bits = rng.next_u64();
        }
        out.push(alphabet[(bits & mask) as usize]);
        bits >>= 6;
    }
}

/// Random standard base64 text of `n` characters ending in `=` padding when `padded`.
pub(crate) fn push_rand_base64(out: &mut Vec<u8>, rng: &mut Rng, n: usize, padded: bool) {
    push_rand_chars(out, rng, BASE64, n);
    if padded {
        out.push(b'=');
    }
}

/// A random v4 UUID in canonical lower-case form.
pub(crate) fn push_rand_uuid(out: &mut Vec<u8>, rng: &mut Rng) {
    let hi = (rng.next_u64() & !0xf000) | 0x4000;
    let lo = (rng.next_u64() >> 2) | 0x8000_0000_0000_0000;
    push_uuid(out, hi, lo);
}

/// A v4-shaped UUID that is unique for each `n` under one `key`: all 64 bits of the bijection
/// `mix64(n + key)` are spread over the UUID's 122 free bits, and random bits fill the rest.
pub(crate) fn push_unique_uuid(out: &mut Vec<u8>, rng: &mut Rng, key: u64, n: u64) {
    let f = mix64(n.wrapping_add(key));
    let hi = (f & !0xffff) | 0x4000 | ((f >> 4) & 0x0fff);
    let lo = 0x8000_0000_0000_0000 | ((f & 0xf) << 58) | (rng.next_u64() >> 6);
    push_uuid(out, hi, lo);
}

/// A 16-character S3-style request id (`[A-Z0-9]`), unique for each `n` under one `key`.
pub(crate) fn push_unique_s3_request_id(out: &mut Vec<u8>, rng: &mut Rng, key: u64, n: u64) {
    // 13 base-32 digits carry the 64 bits of the bijection; 3 random characters lead.
    let f = mix64(n.wrapping_add(key));
    let r = rng.next_u64();
    for i in 0..3 {
        out.push(UPPER_ALNUM[((r >> (i * 8)) % 36) as usize]);
    }
    for i in (0..13).rev() {
        out.push(UPPER_ALNUM[((f >> (i * 5)) & 31) as usize]);
    }
}

fn push_uuid(out: &mut Vec<u8>, hi: u64, lo: u64) {
    let v = (u128::from(hi) << 64) | u128::from(lo);
    for i in 0..32 {
        if matches!(i, 8 | 12 | 16 | 20) {
            out.push(b'-');
        }
        out.push(HEX[((v >> (124 - 4 * i)) & 0xf) as usize]);
    }
}

/// A calendar date and time of day in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl Civil {
    /// Converts seconds since the Unix epoch (Howard Hinnant's `civil_from_days`).
    pub(crate) fn from_unix(secs: i64) -> Self {
        let days = secs.div_euclid(86_400);
        let tod = secs.rem_euclid(86_400) as u32;
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Self {
            year,
            month,
            day,
            hour: tod / 3600,
            minute: tod / 60 % 60,
            second: tod % 60,
        }
    }
}

fn push_2(out: &mut Vec<u8>, v: u32) {
    out.push(b'0' + (v / 10) as u8);
    out.push(b'0' + (v % 10) as u8);
}

fn push_year(out: &mut Vec<u8>, year: i64) {
    // Four digits for the years CloudTrail can carry; anything else is still written in full.
    if (0..10_000).contains(&year) {
        push_2(out, (year / 100) as u32);
        push_2(out, (year % 100) as u32);
    } else {
        if year < 0 {
            out.push(b'-');
        }
        push_u64(out, year.unsigned_abs());
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ`, CloudTrail's `eventTime` form.
pub(crate) fn push_iso_time(out: &mut Vec<u8>, secs: i64) {
    let c = Civil::from_unix(secs);
    push_year(out, c.year);
    out.push(b'-');
    push_2(out, c.month);
    out.push(b'-');
    push_2(out, c.day);
    out.push(b'T');
    push_2(out, c.hour);
    out.push(b':');
    push_2(out, c.minute);
    out.push(b':');
    push_2(out, c.second);
    out.push(b'Z');
}

/// `YYYY/MM/DD`, as in log stream names and S3 key prefixes.
pub(crate) fn push_date_path(out: &mut Vec<u8>, secs: i64) {
    let c = Civil::from_unix(secs);
    push_year(out, c.year);
    out.push(b'/');
    push_2(out, c.month);
    out.push(b'/');
    push_2(out, c.day);
}

/// `Jan 1, 2026, 1:00:00 AM`: the form IAM and STS use in `responseElements` dates.
pub(crate) fn push_console_time(out: &mut Vec<u8>, secs: i64) {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let c = Civil::from_unix(secs);
    fill(
        out,
        "%s %s, ",
        &[&MONTHS[c.month as usize - 1], &u64::from(c.day)],
    );
    push_year(out, c.year);
    let hour12 = match c.hour % 12 {
        0 => 12,
        h => h,
    };
    fill(out, ", %s:", &[&u64::from(hour12)]);
    push_2(out, c.minute);
    out.push(b':');
    push_2(out, c.second);
    out.extend_from_slice(if c.hour < 12 { b" AM" } else { b" PM" });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_substitutes_pieces_in_order() {
        let mut v = Vec::new();
        fill(
            &mut v,
            r#"{"a":"%s","n":%s,"b":%s}"#,
            &[&"x", &42u64, &b"[]".as_slice()],
        );
        assert_eq!(v, br#"{"a":"x","n":42,"b":[]}"#);
        fill(&mut v, "%23 stays", &[]);
        assert!(v.ends_with(b"%23 stays"));
    }

    fn s(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut v = Vec::new();
        f(&mut v);
        String::from_utf8(v).expect("ascii")
    }

    #[test]
    fn iso_time_matches_known_instants() {
        assert_eq!(s(|o| push_iso_time(o, 0)), "1970-01-01T00:00:00Z");
        assert_eq!(
            s(|o| push_iso_time(o, 1_767_225_600)),
            "2026-01-01T00:00:00Z"
        );
        assert_eq!(s(|o| push_iso_time(o, 951_825_599)), "2000-02-29T11:59:59Z");
        assert_eq!(s(|o| push_iso_time(o, -1)), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn console_time_uses_twelve_hour_clock() {
        assert_eq!(
            s(|o| push_console_time(o, 1_767_225_600)),
            "Jan 1, 2026, 12:00:00 AM"
        );
        assert_eq!(
            s(|o| push_console_time(o, 1_767_225_600 + 13 * 3600 + 5)),
            "Jan 1, 2026, 1:00:05 PM"
        );
    }

    #[test]
    fn unique_ids_are_v4_shaped_and_distinct() {
        let mut rng = Rng::new(1);
        let mut ids: Vec<String> = (0..50_000)
            .map(|n| s(|o| push_unique_uuid(o, &mut rng, 99, n)))
            .collect();
        for id in &ids[..100] {
            assert_eq!(id.len(), 36);
            assert_eq!(&id[14..15], "4");
            assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
        }
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 50_000);
    }

    #[test]
    fn u64_formatting() {
        assert_eq!(s(|o| push_u64(o, 0)), "0");
        assert_eq!(s(|o| push_u64(o, u64::MAX)), "18446744073709551615");
    }
}
