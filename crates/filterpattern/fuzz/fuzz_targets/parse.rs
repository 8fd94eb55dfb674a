//! Fuzzes the filter-pattern parser and evaluator: any input splits into a pattern and an
//! event; parsing must not panic, errors must point inside the pattern, and a parsed pattern
//! must evaluate and extract without panicking and print back verbatim.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trailpipe_filterpattern::{FilterPattern, FilterSet, ValuePath};

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|b| *b == 0).unwrap_or(data.len());
    let (pattern, event) = data.split_at(split);
    let Ok(pattern) = std::str::from_utf8(pattern) else { return };
    match FilterPattern::parse(pattern) {
        Ok(p) => {
            let hit = p.matches(event);
            assert_eq!(p.to_string(), pattern);
            assert_eq!(FilterSet::new([p.clone()]).matches(event), vec![hit]);
            for path in ["$.a", "$.a[0].b", "$w1"] {
                let _ = p.extract(event, &ValuePath::parse(path).expect("valid path"));
            }
        }
        Err(e) => assert!(e.column >= 1 && e.column <= pattern.chars().count() + 1),
    }
});
