//! `trailpipe test-filter`: runs one filter pattern over NDJSON (plain or gzip, detected by its
//! magic bytes) and writes the matching lines unchanged — CloudWatch's TestMetricFilter, offline.
//!
//! Invariant: a matching line is written byte-for-byte as read (without its `\r\n`/`\n`, then
//! `\n`); blank lines are skipped and not counted.

use std::io::{BufRead, BufReader, Read, Write};

use trailpipe_filterpattern::{FilterPattern, ParseError};

/// Why a test run failed.
#[derive(Debug, thiserror::Error)]
pub enum TestFilterError {
    /// The pattern does not parse (carries the column).
    #[error("filter pattern: {0}")]
    Pattern(#[from] ParseError),
    /// Reading the input or writing the output failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// Filters `input` with `pattern`; returns `(matched, total)` non-blank lines.
pub fn test_filter(
    pattern: &str,
    mut input: impl BufRead,
    mut out: impl Write,
) -> Result<(u64, u64), TestFilterError> {
    let pattern = FilterPattern::parse(pattern)?;
    let gzip = input.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    let mut reader: Box<dyn BufRead + '_> = if gzip {
        Box::new(BufReader::new(flate2::bufread::MultiGzDecoder::new(input)))
    } else {
        Box::new(input)
    };
    let (mut matched, mut total) = (0u64, 0u64);
    let mut line = Vec::with_capacity(4096);
    loop {
        line.clear();
        if reader.by_ref().read_until(b'\n', &mut line)? == 0 {
            break;
        }
        let mut rec: &[u8] = &line;
        if let Some(r) = rec.strip_suffix(b"\n") {
            rec = r.strip_suffix(b"\r").unwrap_or(r);
        }
        if rec.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        total += 1;
        if pattern.matches(rec) {
            matched += 1;
            out.write_all(rec)?;
            out.write_all(b"\n")?;
        }
    }
    out.flush()?;
    Ok((matched, total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    const INPUT: &str = "{\"eventName\":\"ConsoleLogin\",\"errorMessage\":\"Failed authentication\"}\r\n\n{\"eventName\":\"GetObject\"}\n{\"eventName\":\"ConsoleLogin\"}";

    #[test]
    fn writes_matching_lines_unchanged_and_counts() {
        let mut out = Vec::new();
        let n = test_filter(
            "{ $.eventName = ConsoleLogin }",
            Cursor::new(INPUT),
            &mut out,
        )
        .unwrap();
        assert_eq!(n, (2, 3));
        assert_eq!(
            out,
            b"{\"eventName\":\"ConsoleLogin\",\"errorMessage\":\"Failed authentication\"}\n{\"eventName\":\"ConsoleLogin\"}\n"
        );
    }

    #[test]
    fn reads_gzip_input() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(INPUT.as_bytes()).unwrap();
        let gz = gz.finish().unwrap();
        let mut out = Vec::new();
        let n = test_filter("Failed", Cursor::new(gz), &mut out).unwrap();
        assert_eq!(n, (1, 3));
    }

    #[test]
    fn bad_pattern_reports_its_column() {
        let e = test_filter("{ $.a = }", Cursor::new(""), Vec::new()).unwrap_err();
        match e {
            TestFilterError::Pattern(p) => assert!(p.column > 1, "{p}"),
            other => panic!("{other}"),
        }
    }
}
