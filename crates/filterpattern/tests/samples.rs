//! Counts CIS matches over the real CloudTrail samples in `shared/samples` (skips when absent),
//! and checks that the one-pass scanner agrees with serde_json on every sample record.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;

use trailpipe_filterpattern::{
    CisFilter, FilterPattern, FilterSet, ValuePath, CIS_FILTERS, CIS_V14_VARIANTS,
};

fn sample_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/samples/cloudtrail/_normalized");
    dir.is_dir().then_some(dir)
}

fn records() -> Option<Vec<Vec<u8>>> {
    let dir = sample_dir()?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".ndjson.gz"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let gz = flate2::read::GzDecoder::new(std::fs::File::open(&f).ok()?);
        for line in BufReader::new(gz).split(b'\n') {
            let line = line.ok()?;
            if !line.is_empty() {
                out.push(line);
            }
        }
    }
    Some(out)
}

/// The sample records (or `None`, after saying the test skips), every CIS filter (v1.2+ and
/// the v1.4 variants), and their one-pass set.
fn samples_and_cis_set() -> Option<(Vec<Vec<u8>>, Vec<CisFilter>, FilterSet)> {
    let Some(records) = records() else {
        println!("SKIP: shared/samples/cloudtrail/_normalized not found");
        return None;
    };
    let all: Vec<CisFilter> = CIS_FILTERS
        .iter()
        .chain(CIS_V14_VARIANTS)
        .copied()
        .collect();
    let set = CisFilter::set(&all);
    Some((records, all, set))
}

#[test]
fn cis_match_counts_over_shared_samples() {
    let Some((records, all, set)) = samples_and_cis_set() else {
        return;
    };
    let mut counts = vec![0usize; all.len()];
    let mut hits = Vec::new();
    for r in &records {
        set.matches_into(r, &mut hits);
        for (c, h) in counts.iter_mut().zip(&hits) {
            *c += usize::from(*h);
        }
    }
    println!("{} records", records.len());
    for (f, c) in all.iter().zip(&counts) {
        println!("CIS {:<5} {:<60} {c:>6}", f.id, f.name);
    }
    // Sanity that can fail: the samples hold root activity, AccessDenied errors and console
    // sign-ins (PROFILE.md), so these filters must fire; 3.1 ⊆ 4.1-or-3.1 logic aside, the
    // v1.2 root filter and the v1.4 root filter are the same test.
    assert!(
        counts[0] > 0 && counts[2] > 0,
        "CIS 3.1 and 3.3 must match some samples"
    );
    let at = |id: &str| all.iter().position(|f| f.id == id).expect("id");
    assert_eq!(
        counts[at("3.3")],
        counts[at("4.3")],
        "3.3 and 4.3 are the same condition"
    );
}

#[test]
fn cis_set_agrees_with_patterns_one_by_one_on_samples() {
    let Some((records, all, set)) = samples_and_cis_set() else {
        return;
    };
    let patterns: Vec<FilterPattern> = all.iter().map(CisFilter::compile).collect();
    let mut hits = Vec::new();
    for r in &records {
        set.matches_into(r, &mut hits);
        let want: Vec<bool> = patterns.iter().map(|p| p.matches(r)).collect();
        assert_eq!(hits, want, "{}", String::from_utf8_lossy(r));
    }
}

/// Resolves a selector with serde_json (the oracle) as this crate defines it.
fn oracle<'v>(v: &'v serde_json::Value, path: &[&str]) -> Option<&'v serde_json::Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

#[test]
fn scanner_agrees_with_serde_json_on_samples() {
    let Some(records) = records() else {
        println!("SKIP: shared/samples/cloudtrail/_normalized not found");
        return;
    };
    let fields: &[&[&str]] = &[
        &["eventName"],
        &["errorCode"],
        &["userIdentity", "type"],
        &["userIdentity", "invokedBy"],
        &["additionalEventData", "MFAUsed"],
        &["responseElements", "ConsoleLogin"],
        &["requestParameters", "bucketName"],
        &["readOnly"],
    ];
    let always =
        FilterPattern::parse("{ $.eventVersion = \"*\" || $.eventVersion NOT EXISTS }").unwrap();
    for r in records.iter().step_by(7) {
        let v: serde_json::Value = serde_json::from_slice(r).expect("samples are JSON");
        assert!(
            always.matches(r),
            "scanner refused a record serde_json accepts"
        );
        for f in fields {
            let path = ValuePath::parse(&format!("$.{}", f.join("."))).unwrap();
            let got = always.extract(r, &path);
            let want = match oracle(&v, f) {
                Some(serde_json::Value::String(s)) => Some(s.clone()),
                Some(serde_json::Value::Bool(b)) => Some(b.to_string()),
                Some(serde_json::Value::Number(n)) => Some(n.to_string()),
                _ => None,
            };
            assert_eq!(got, want, "{f:?}");
        }
    }
}
