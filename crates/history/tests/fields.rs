//! The entry built from the event parser's fields (the pipeline's path, no second parse) is the
//! entry built from the record's bytes, for generated records and every real sample record the
//! event parser accepts.

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
    let records = match trailpipe_generator::sample_records() {
        Ok(records) => records,
        Err(why) => {
            println!("SKIP: {why}");
            return;
        }
    };
    let compared = agree(records.into_iter());
    println!("{compared} real records compared");
    assert!(compared > 10_000, "only {compared} real records compared");
}
