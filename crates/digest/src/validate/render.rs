//! The validation report as `aws cloudtrail validate-logs` prints it: a header, `valid` lines
//! on stdout (verbose only), `INVALID`/gap lines on stderr surrounded by blank lines, then the
//! summary with the same wording and tab-separated fields.

use std::fmt::Write as _;

use super::{DigestStatus, LogStatus, ValidationEvent, ValidationReport};
use crate::format::format_time;

/// What would go to stdout and stderr.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rendered {
    /// Header, verbose `valid` lines, summary.
    pub stdout: String,
    /// `INVALID` and gap lines.
    pub stderr: String,
}

fn digest_line(prefix: &str, bucket: &str, key: &str, status: &DigestStatus) -> String {
    let what = match status {
        DigestStatus::Valid => "valid".to_string(),
        DigestStatus::NotFound => "INVALID: not found".into(),
        DigestStatus::InvalidFormat => "INVALID: invalid format".into(),
        DigestStatus::SignatureFailed => "INVALID: signature verification failed".into(),
        DigestStatus::Moved => "INVALID: has been moved from its original location".into(),
        DigestStatus::PublicKeyNotFound {
            region,
            fingerprint,
        } => format!(
            "INVALID: public key not found in region {region} for fingerprint {fingerprint}"
        ),
        DigestStatus::KeyUnusable(fp) => {
            format!("INVALID: Unable to load PKCS #1 key with fingerprint {fp}")
        }
        DigestStatus::ChainMismatch => {
            "INVALID: does not match the next digest's previousDigestHashValue/Signature".into()
        }
    };
    format!("{prefix}Digest file\ts3://{bucket}/{key}\t{what}")
}

fn log_line(bucket: &str, key: &str, status: LogStatus) -> String {
    let what = match status {
        LogStatus::Valid => "valid",
        LogStatus::HashMismatch => "INVALID: hash value doesn't match",
        LogStatus::NotFound => "INVALID: not found",
        LogStatus::InvalidFormat => "INVALID: invalid format",
        LogStatus::TrailingData => "INVALID: unexpected data after end of compressed stream",
    };
    format!("Log file\ts3://{bucket}/{key}\t{what}")
}

/// Renders `report` like awscli (`verbose` = `--verbose`).
pub fn render(report: &ValidationReport, verbose: bool) -> Rendered {
    let mut out = Rendered::default();
    let _ = write!(
        out.stdout,
        "Validating log files for trail {} between {} and {}\n\n",
        report.trail_arn,
        format_time(report.start),
        format_time(report.end)
    );
    let mut double_spaced = true;
    let mut status = |out: &mut Rendered, line: String, is_error: bool| {
        if is_error {
            if double_spaced {
                let _ = write!(out.stderr, "{line}\n\n");
            } else {
                let _ = write!(out.stderr, "\n{line}\n\n");
            }
            double_spaced = true;
        } else if verbose {
            double_spaced = false;
            let _ = writeln!(out.stdout, "{line}");
        }
    };
    for ev in &report.events {
        match ev {
            ValidationEvent::Digest {
                bucket,
                key,
                backfill,
                status: s,
            } => {
                let prefix = if *backfill { "(backfill) " } else { "" };
                status(
                    &mut out,
                    digest_line(prefix, bucket, key, s),
                    *s != DigestStatus::Valid,
                );
            }
            ValidationEvent::Gap {
                backfill,
                next_end,
                last_start,
            } => status(
                &mut out,
                format!(
                    "{}No log files were delivered by CloudTrail between {} and {}",
                    if *backfill { "(backfill) " } else { "" },
                    format_time(*next_end),
                    format_time(*last_start)
                ),
                true,
            ),
            ValidationEvent::LogFile {
                bucket,
                key,
                status: s,
            } => status(&mut out, log_line(bucket, key, *s), *s != LogStatus::Valid),
            ValidationEvent::Listed { .. } | ValidationEvent::LogFilesQueued(_) => {}
        }
    }
    if !double_spaced {
        out.stdout.push('\n');
    }
    let s = &report.summary;
    let _ = writeln!(
        out.stdout,
        "Results requested for {} to {}",
        format_time(report.start),
        format_time(report.end)
    );
    let (valid, invalid) = (
        s.valid_digests + s.valid_backfill_digests,
        s.invalid_digests + s.invalid_backfill_digests,
    );
    if valid == 0 && invalid == 0 {
        out.stdout.push_str("No digests found\n");
        return out;
    }
    match (s.found_start, s.found_end) {
        (Some(a), Some(b)) => {
            let _ = writeln!(
                out.stdout,
                "Results found for {} to {}:",
                format_time(a),
                format_time(b)
            );
        }
        _ => out.stdout.push_str("No valid digests found in range\n"),
    }
    let mut ratio = |valid: usize, invalid: usize, name: &str| {
        let total = valid + invalid;
        if total > 0 {
            let _ = write!(out.stdout, "\n{valid}/{total} {name} files valid");
            if invalid > 0 {
                let _ = write!(out.stdout, ", {invalid}/{total} {name} files INVALID");
            }
        }
    };
    ratio(s.valid_digests, s.invalid_digests, "digest");
    ratio(
        s.valid_backfill_digests,
        s.invalid_backfill_digests,
        "backfill digest",
    );
    ratio(s.valid_logs, s.invalid_logs, "log");
    out.stdout.push('\n');
    out
}
