//! Outside input: the TOML configuration file through `trailpipe_config::Config::parse_with_env` (with and without `${ENV}` values), then each trail's compiled selector and Insights configuration.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trailpipe_config::{Config, SourceConfig};

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    // Environment: nothing set, or every variable set to a value derived from its name (so
    // that expansion results vary with the input).
    let parsed = if control & 1 == 0 {
        Config::parse_with_env(text, |_| None)
    } else {
        Config::parse_with_env(text, |name| Some(format!("v-{name}-{}", name.len())))
    };
    let Ok(config) = parsed else {
        return;
    };
    for t in &config.trails {
        let _ = config.trail_selector(t);
        let _ = config.insight_config(t);
        let _ = t.key_prefix();
        let _ = t.key_organization_id();
    }
    let _ = config.source.parse_limits();
    if let SourceConfig::Kafka(k) = &config.source {
        let _ = k.parse_limits();
    }
    let _ = config.api.served_on(&config.server);
});
