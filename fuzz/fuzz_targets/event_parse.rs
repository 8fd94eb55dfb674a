//! Outside input: a Kafka message or file-source line/file (one CloudTrail record or a `{"Records":[...]}` envelope) through `trailpipe_event::parse_message`.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use trailpipe_event::{parse_message, ParseLimits};

fuzz_target!(|data: &[u8]| {
    // First byte picks the limits: the daemon's defaults, or small ones so that the record-size
    // and envelope-count refusals are reached with small inputs.
    let (limits, body) = match data.split_first() {
        Some((&b, rest)) if b & 1 == 1 => (
            ParseLimits {
                max_record_bytes: 1 + usize::from(b >> 1) * 4,
                max_message_bytes: 64 + usize::from(b) * 16,
                max_envelope_records: usize::from(b >> 4),
            },
            rest,
        ),
        Some((_, rest)) => (ParseLimits::default(), rest),
        None => (ParseLimits::default(), data),
    };
    let message = Bytes::copy_from_slice(body);
    let mut out = Vec::new();
    parse_message(&message, &limits, &mut out);
    // Touch what the pipeline reads next (no result is asserted).
    for p in &out {
        match p {
            Ok(e) => {
                let _ = e.fields.is_management();
                let _ = e.fields.event_category.as_str();
            }
            Err(r) => {
                let _ = r.reason.code();
                let _ = r.reason.to_string();
            }
        }
    }
});
