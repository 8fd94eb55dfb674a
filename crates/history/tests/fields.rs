//! The entry built from the event parser's fields (the pipeline's path, no second parse) is the
//! entry built from the record's bytes, for generated records and every real sample record the
//! event parser accepts.

use std::io::BufRead;

use bytes::Bytes;
use trailpipe_event::{parse_message, ParseLimits};
use trailpipe_generator::{Generator, GeneratorConfig};
use trailpipe_history::{entry_from_fields, extract};

/// Asserts both paths agree on every record of `records`; returns how many were compared.
fn agree(records: impl Iterator<Item = Vec<u8>>) -> usize {
    let limits = ParseLimits::default();
    let mut compared = 0;
    let mut parsed = Vec::new();
    for raw in records {
        parsed.clear();
        parse_message(&Bytes::from(raw), &limits, &mut parsed);
        for event in parsed.iter().flatten() {
            let from_bytes = extract(&event.raw);
            let from_fields = entry_from_fields(&event.fields, &event.raw);
            assert_eq!(
                from_fields,
                from_bytes,
                "{}",
                String::from_utf8_lossy(&event.raw)
            );
            compared += 1;
        }
    }
    compared
}

#[test]
fn generated_records_give_the_same_entry_from_fields_and_from_bytes() {
    let mut g = Generator::new(GeneratorConfig {
        accounts: 4,
        regions: 4,
        seed: 17,
        start_time: 1_700_000_000,
        events_per_second: 50.0,
    });
    let n = agree((0..20_000).map(|_| g.next_record().into_bytes()));
    assert_eq!(n, 20_000);
}

#[test]
fn real_records_give_the_same_entry_from_fields_and_from_bytes() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/samples/cloudtrail/_normalized");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        println!("SKIP: shared/samples/cloudtrail/_normalized not found");
        return;
    };
    let mut compared = 0;
    for e in entries.flatten() {
        let path = e.path();
        if !path.to_string_lossy().ends_with(".ndjson.gz") {
            continue;
        }
        let file = std::fs::File::open(&path).expect("sample file");
        let lines = std::io::BufReader::new(flate2::read::GzDecoder::new(file))
            .split(b'\n')
            .map(|l| l.expect("sample line"))
            .filter(|l| !l.is_empty());
        compared += agree(lines);
    }
    println!("{compared} real records compared");
    assert!(compared > 10_000, "only {compared} real records compared");
}
