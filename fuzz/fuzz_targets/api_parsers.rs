//! Outside input: the public pieces of CloudTrail API request parsing — trail names/ARNs, the `Authorization` region, `X-Amz-Target`, and `EventSelectors`/`AdvancedEventSelectors`/`Tags` JSON with `SelectorsInfo::validate_shape`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trailpipe_api::{
    parse_trail_arn, region_from_authorization, resolve_trail, trail_arn, validate_trail_name,
    AdvancedEventSelector, EventSelector, Operation, SelectorsInfo, Tag, TrailInfo,
};

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    match control % 3 {
        0 => {
            let Ok(s) = std::str::from_utf8(rest) else {
                return;
            };
            let _ = parse_trail_arn(s);
            let _ = validate_trail_name(s);
            let _ = region_from_authorization(s);
            let _ = Operation::from_target(s);
            let trails = [TrailInfo {
                name: "management".into(),
                arn: trail_arn("aws", "us-east-1", "123456789012", "management"),
                home_region: "us-east-1".into(),
                ..TrailInfo::default()
            }];
            let _ = resolve_trail(&trails, s, "us-east-1");
        }
        1 => {
            if let Ok(basic) = serde_json::from_slice::<Vec<EventSelector>>(rest) {
                let info = SelectorsInfo::Basic(basic);
                if info.validate_shape().is_ok() {
                    let _ = serde_json::to_vec(&info_members(&info));
                }
            }
            if let Ok(advanced) = serde_json::from_slice::<Vec<AdvancedEventSelector>>(rest) {
                for s in &advanced {
                    for f in &s.field_selectors {
                        let _ = f.operators().count();
                    }
                }
                let info = SelectorsInfo::Advanced(advanced);
                if info.validate_shape().is_ok() {
                    let _ = serde_json::to_vec(&info_members(&info));
                }
            }
        }
        _ => {
            let _ = serde_json::from_slice::<Vec<Tag>>(rest);
        }
    }
});

fn info_members(info: &SelectorsInfo) -> serde_json::Value {
    match info {
        SelectorsInfo::Basic(s) => serde_json::to_value(s).unwrap_or_default(),
        SelectorsInfo::Advanced(s) => serde_json::to_value(s).unwrap_or_default(),
    }
}
