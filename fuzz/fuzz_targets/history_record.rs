//! Outside input: one record as event history reads it (`trailpipe_history::extract`, `LookupEvent::from_record`, attribute matching, `parse_event_time`, `arn_short_name`, `render` of the lookup table/JSON).
#![no_main]

use libfuzzer_sys::fuzz_target;
use trailpipe_history::{
    arn_short_name, extract, parse_event_time, render, AttributeKey, LookupEvent, LookupResponse,
    OutputFormat,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = parse_event_time(s);
        let _ = arn_short_name(s);
    }
    let Ok(entry) = extract(data) else {
        return;
    };
    let values = entry.attribute_values();
    for (key, value) in &values {
        let _ = entry.matches(*key, value);
    }
    for key in AttributeKey::ALL {
        let _ = entry.matches(key, "true");
    }
    for r in &entry.resources {
        if let Some(name) = &r.resource_name {
            let _ = arn_short_name(name);
        }
    }
    if let Some(event) = LookupEvent::from_record(data) {
        let response = LookupResponse {
            events: vec![event],
            next_token: Some("token".into()),
        };
        let _ = render(&response, OutputFormat::Table);
        let _ = render(&response, OutputFormat::Json);
    }
});
