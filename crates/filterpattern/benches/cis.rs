//! Throughput of the 14 CIS filters over real-shaped CloudTrail records (plain `std::time`).
//!
//! Records come from `shared/samples/cloudtrail/_normalized/*.ndjson.gz` when present, else a
//! few hand-written records are cycled. Prints records/s for 1,000,000 records, for the
//! one-pass `FilterSet` and for the 14 patterns evaluated one by one. `CIS_BENCH_RECORDS=n`
//! evaluates `n` records instead (e.g. a small run under `valgrind --tool=callgrind`).

use std::hint::black_box;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::time::Instant;

use trailpipe_filterpattern::{CisFilter, FilterPattern, CIS_FILTERS};

const DEFAULT_RECORDS: usize = 1_000_000;

fn load() -> (Vec<Vec<u8>>, &'static str) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/samples/cloudtrail/_normalized");
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        for f in files
            .iter()
            .filter(|p| p.to_string_lossy().ends_with(".ndjson.gz"))
        {
            let Ok(file) = std::fs::File::open(f) else {
                continue;
            };
            for line in BufReader::new(flate2::read::GzDecoder::new(file))
                .split(b'\n')
                .map_while(Result::ok)
            {
                if !line.is_empty() {
                    out.push(line);
                }
            }
        }
    }
    if !out.is_empty() {
        return (out, "shared samples");
    }
    let base = r#"{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::123456789012:user/alice","accountId":"123456789012","accessKeyId":"AKIAEXAMPLE","userName":"alice","sessionContext":{"sessionIssuer":{},"webIdFederationData":{},"attributes":{"creationDate":"2024-05-01T11:00:00Z","mfaAuthenticated":"false"}}},"eventTime":"2024-05-01T12:00:00Z","eventSource":"SOURCE","eventName":"NAME","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.7","userAgent":"aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64.amzn.2 prompt/off command/s3.cp","requestParameters":{"bucketName":"customer-data","Host":"customer-data.s3.us-east-1.amazonaws.com","key":"reports/2024/05/01/report.csv"},"responseElements":null,"additionalEventData":{"SignatureVersion":"SigV4","CipherSuite":"ECDHE-RSA-AES128-GCM-SHA256","bytesTransferredIn":0,"AuthenticationMethod":"AuthHeader","x-amz-id-2":"abcdefghijklmnopqrstuvwxyz0123456789","bytesTransferredOut":1534},"requestID":"0F1E2D3C4B5A6978","eventID":"7a8b9c0d-1e2f-3a4b-5c6d-7e8f9a0b1c2d","readOnly":true,"resources":[{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::customer-data/reports/2024/05/01/report.csv"},{"accountId":"123456789012","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::customer-data"}],"eventType":"AwsApiCall","managementEvent":false,"recipientAccountId":"123456789012","eventCategory":"Data"}"#;
    let out = [
        ("s3.amazonaws.com", "GetObject"),
        ("ec2.amazonaws.com", "CreateSecurityGroup"),
        ("iam.amazonaws.com", "PutRolePolicy"),
        ("kms.amazonaws.com", "Decrypt"),
    ]
    .iter()
    .map(|(s, n)| base.replace("SOURCE", s).replace("NAME", n).into_bytes())
    .collect();
    (out, "hand-written records")
}

fn main() {
    let total = std::env::var("CIS_BENCH_RECORDS").map_or(DEFAULT_RECORDS, |s| {
        s.parse().expect("CIS_BENCH_RECORDS is a number")
    });
    let (records, origin) = load();
    let avg = records.iter().map(Vec::len).sum::<usize>() / records.len();
    println!(
        "{} distinct records from {origin}, average {avg} bytes; evaluating {total} records",
        records.len()
    );

    let set = CisFilter::set(CIS_FILTERS);
    let mut hits = Vec::new();
    let mut matched = 0usize;
    let start = Instant::now();
    for r in records.iter().cycle().take(total) {
        set.matches_into(black_box(r), &mut hits);
        matched += hits.iter().filter(|h| **h).count();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "FilterSet (14 CIS filters, one pass): {:.0} records/s, {:.0} MB/s, {matched} matches",
        total as f64 / secs,
        (total * avg) as f64 / secs / 1e6
    );

    let scan_only = FilterPattern::parse("{ $.notAField NOT EXISTS }").expect("valid");
    let start = Instant::now();
    let mut matched = 0usize;
    for r in records.iter().cycle().take(total) {
        matched += usize::from(scan_only.matches(black_box(r)));
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "JSON validation pass alone (one NOT EXISTS): {:.0} records/s, {:.0} MB/s ({matched} valid)",
        total as f64 / secs,
        (total * avg) as f64 / secs / 1e6
    );

    let patterns: Vec<FilterPattern> = CIS_FILTERS.iter().map(CisFilter::compile).collect();
    let n = total / 10;
    let mut matched = 0usize;
    let start = Instant::now();
    for r in records.iter().cycle().take(n) {
        matched += patterns.iter().filter(|p| p.matches(black_box(r))).count();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "14 FilterPatterns one by one: {:.0} records/s ({n} records, {matched} matches)",
        n as f64 / secs
    );
}
