//! The real CloudTrail records of `../shared/samples` (feature `samples`), for tests and
//! benchmarks that measure or check against them. They are not part of the repository: callers
//! skip, with a message, when they are absent.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
};

/// Where the samples are looked for, in order: `TRAILPIPE_SAMPLES`, the `shared/` folder beside
/// the checkout, and `/work/shared` (the same folder, seen from a worktree elsewhere).
fn candidates() -> Vec<PathBuf> {
    let beside = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/samples/cloudtrail/_normalized");
    std::env::var_os("TRAILPIPE_SAMPLES")
        .map(PathBuf::from)
        .into_iter()
        .chain([beside, "/work/shared/samples/cloudtrail/_normalized".into()])
        .collect()
}

/// Every non-empty line of every `*.ndjson.gz` file of the samples folder, or `Err` with the
/// places looked at when there is none.
pub fn sample_records() -> Result<Vec<Vec<u8>>, String> {
    let looked = candidates();
    let Some(entries) = looked.iter().find_map(|d| std::fs::read_dir(d).ok()) else {
        return Err(format!("no CloudTrail samples at {looked:?}"));
    };
    let mut records = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.to_string_lossy().ends_with(".ndjson.gz") {
            continue;
        }
        let file = std::fs::File::open(&path).expect("open sample");
        records.extend(
            BufReader::new(flate2::read::MultiGzDecoder::new(file))
                .split(b'\n')
                .map(|l| l.expect("sample line"))
                .filter(|l| !l.is_empty()),
        );
    }
    Ok(records)
}
