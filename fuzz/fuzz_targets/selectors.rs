//! Outside input: a trail's event selectors (basic or advanced, as the config and PutEventSelectors carry them) compiled by `trailpipe_selectors::TrailSelector::new` and matched against records parsed from the same input.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use serde::Deserialize;
use trailpipe_event::{parse_message, ParseLimits};
use trailpipe_fuzz::split_nul;
use trailpipe_selectors::{AdvancedEventSelector, EventSelector, RegionScope, TrailSelector};

#[derive(Deserialize)]
struct Input {
    scope: RegionScope,
    #[serde(default)]
    event_selectors: Vec<EventSelector>,
    #[serde(default)]
    advanced_event_selectors: Vec<AdvancedEventSelector>,
}

fuzz_target!(|data: &[u8]| {
    // Layout: selectors JSON, NUL, a record or envelope to match.
    let parts = split_nul(data, 2);
    let Ok(input) = serde_json::from_slice::<Input>(parts[0]) else {
        return;
    };
    let Ok(selector) = TrailSelector::new(
        input.scope,
        &input.event_selectors,
        &input.advanced_event_selectors,
    ) else {
        return;
    };
    let mut records = Vec::new();
    parse_message(
        &Bytes::copy_from_slice(parts[1]),
        &ParseLimits::default(),
        &mut records,
    );
    for event in records.iter().flatten() {
        let _ = selector.matches(&event.fields);
        let _ = trailpipe_selectors::is_global_service_event(&event.fields);
    }
    let _ = selector.region_scope();
});
