//! The body of a log file: one gzip member of `{"Records":[r1,r2,...]}`, compressed and hashed in
//! a single pass over the records' original bytes.

use std::io::Write;

use flate2::{write::GzEncoder, Compression};
use sha2::{Digest, Sha256};

/// Default gzip level: zlib's 6, the ratio/speed balance CloudTrail-sized files are measured at.
pub const DEFAULT_COMPRESSION_LEVEL: u32 = 6;

/// A finished log file body.
#[derive(Debug, Clone)]
pub struct LogFileBody {
    /// The gzip bytes to upload (a single member; header mtime 0, so the output is deterministic).
    pub gzip: Vec<u8>,
    /// SHA-256 of the uncompressed JSON (digest files list it).
    pub sha256: [u8; 32],
    /// Length of the uncompressed JSON.
    pub uncompressed_len: u64,
    /// Number of records.
    pub records: usize,
}

impl LogFileBody {
    /// Lowercase hex of [`LogFileBody::sha256`], as digests and `validate-logs` expect.
    pub fn sha256_hex(&self) -> String {
        self.sha256.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Bytes gathered before they are hashed and handed to the compressor.
///
/// flate2's zlib-rs backend zero-fills the whole spare output buffer (32 KiB) on every call into
/// the compressor, so feeding it a record at a time (plus a one-byte comma) cost two 32 KiB
/// memsets per ~1.4 KB record — more than the SHA-256 of it. Chunks of this size make that
/// cost one memset per 64 KiB of input, for one extra copy of each record into the chunk.
const CHUNK_BYTES: usize = 64 * 1024;

/// Builds a log file body record by record.
pub struct LogFileWriter {
    gz: GzEncoder<Vec<u8>>,
    hash: Sha256,
    chunk: Vec<u8>,
    len: u64,
    records: usize,
}

impl LogFileWriter {
    /// Starts a body, sized for about `capacity_hint` uncompressed bytes.
    pub fn new(level: u32, capacity_hint: usize) -> Self {
        let gz = GzEncoder::new(
            Vec::with_capacity(capacity_hint / 8 + 64),
            Compression::new(level),
        );
        let mut w = Self {
            gz,
            hash: Sha256::new(),
            chunk: Vec::with_capacity(CHUNK_BYTES.min(capacity_hint.max(64))),
            len: 0,
            records: 0,
        };
        w.write(b"{\"Records\":[");
        w
    }

    fn write(&mut self, bytes: &[u8]) {
        self.len += bytes.len() as u64;
        if self.chunk.len() + bytes.len() > CHUNK_BYTES {
            self.drain();
        }
        if bytes.len() >= CHUNK_BYTES {
            self.consume(bytes);
        } else {
            self.chunk.extend_from_slice(bytes);
        }
    }

    /// Hashes and compresses the gathered chunk.
    fn drain(&mut self) {
        let chunk = std::mem::take(&mut self.chunk);
        self.consume(&chunk);
        self.chunk = chunk;
        self.chunk.clear();
    }

    fn consume(&mut self, bytes: &[u8]) {
        self.hash.update(bytes);
        // Writing into a Vec cannot fail.
        self.gz.write_all(bytes).expect("gzip into memory");
    }

    /// Appends one record's original bytes.
    pub fn push(&mut self, record: &[u8]) {
        if self.records > 0 {
            self.write(b",");
        }
        self.write(record);
        self.records += 1;
    }

    /// Closes the JSON and the gzip member.
    pub fn finish(mut self) -> LogFileBody {
        self.write(b"]}");
        self.drain();
        let gzip = self.gz.finish().expect("gzip into memory");
        LogFileBody {
            gzip,
            sha256: self.hash.finalize().into(),
            uncompressed_len: self.len,
            records: self.records,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gunzip_single_member(data: &[u8]) -> Vec<u8> {
        // flate2's GzDecoder reads exactly one member; anything after it must be absent.
        let mut d = flate2::read::GzDecoder::new(data);
        let mut out = Vec::new();
        d.read_to_end(&mut out).expect("valid gzip");
        let mut rest = Vec::new();
        d.into_inner().read_to_end(&mut rest).expect("read rest");
        assert!(rest.is_empty(), "trailing data after the gzip member");
        out
    }

    #[test]
    fn body_is_one_member_with_records_unchanged_and_hash_of_plaintext() {
        let recs: [&[u8]; 3] = [
            br#"{"b":1,"a":2.50}"#,
            br#"{"x":"a&b<c"}"#,
            b"{\n \"y\": []}",
        ];
        let mut w = LogFileWriter::new(DEFAULT_COMPRESSION_LEVEL, 1024);
        for r in recs {
            w.push(r);
        }
        let body = w.finish();
        let plain = gunzip_single_member(&body.gzip);
        assert_eq!(
            plain,
            b"{\"Records\":[{\"b\":1,\"a\":2.50},{\"x\":\"a&b<c\"},{\n \"y\": []}]}"
        );
        assert_eq!(body.sha256_hex(), format!("{:x}", Sha256::digest(&plain)));
        assert_eq!(body.uncompressed_len as usize, plain.len());
        assert_eq!(body.records, 3);
        let v: serde_json::Value = serde_json::from_slice(&plain).expect("valid JSON");
        assert_eq!(v["Records"].as_array().map(Vec::len), Some(3));
    }

    #[test]
    fn records_across_chunk_boundaries_and_larger_than_a_chunk_arrive_whole() {
        // Sizes straddle the 64 KiB chunk: small ones fill it, some end exactly on its edge,
        // two are larger than a chunk (written straight through after the gathered bytes).
        let sizes = [
            10,
            CHUNK_BYTES - 13,
            1,
            CHUNK_BYTES,
            3 * CHUNK_BYTES + 5,
            700,
            0,
            2,
        ];
        let recs: Vec<Vec<u8>> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                let body: String = (0..n)
                    .map(|j| char::from(b'a' + ((i + j) % 26) as u8))
                    .collect();
                format!("{{\"p\":\"{body}\"}}").into_bytes()
            })
            .collect();
        let mut w = LogFileWriter::new(DEFAULT_COMPRESSION_LEVEL, 0);
        let mut expected = b"{\"Records\":[".to_vec();
        for (i, r) in recs.iter().enumerate() {
            w.push(r);
            if i > 0 {
                expected.push(b',');
            }
            expected.extend_from_slice(r);
        }
        expected.extend_from_slice(b"]}");
        let body = w.finish();
        assert_eq!(gunzip_single_member(&body.gzip), expected);
        assert_eq!(
            body.sha256_hex(),
            format!("{:x}", Sha256::digest(&expected))
        );
        assert_eq!(body.uncompressed_len as usize, expected.len());
        assert_eq!(body.records, recs.len());
    }

    #[test]
    fn same_records_give_byte_identical_bodies() {
        let build = || {
            let mut w = LogFileWriter::new(DEFAULT_COMPRESSION_LEVEL, 0);
            for i in 0..500 {
                w.push(format!("{{\"eventID\":\"{i}\"}}").as_bytes());
            }
            w.finish().gzip
        };
        assert_eq!(build(), build());
    }
}
