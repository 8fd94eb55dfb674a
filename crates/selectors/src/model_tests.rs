//! Property tests: [`TrailSelector::matches`] against a deliberately naive model
//! ([`model::model`]) over random records and random valid selectors ([`strategies`]).
//!
//! The model works on the config types as written; the implementation compiles, sorts, reorders
//! and binary-searches. They must agree on every input.

mod model;
mod strategies;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use trailpipe_event::EventCategory;

use crate::*;
use model::model;
use strategies::{advanced_selector, event_selector, region_scope, routing_fields, trail};

proptest! {
    #![proptest_config(Config::with_cases(2000))]

    #[test]
    fn matches_agrees_with_the_naive_model(
        (scope, basic, advanced) in trail(),
        records in vec(routing_fields(), 1..8),
    ) {
        let t = TrailSelector::new(scope.clone(), &basic, &advanced);
        let t = match t {
            Ok(t) => t,
            Err(e) => return Err(TestCaseError::fail(format!("valid trail refused: {e:?}"))),
        };
        for f in &records {
            prop_assert_eq!(t.matches(f), model(&scope, &basic, &advanced, f), "record {:?}", f);
        }
    }

    #[test]
    fn every_basic_and_advanced_mix_is_refused(
        scope in region_scope(),
        basic in vec(event_selector(), 1..=5),
        advanced in vec(advanced_selector(), 1..=3),
    ) {
        let e = TrailSelector::new(scope, &basic, &advanced).err().unwrap_or_default();
        prop_assert!(e.iter().any(|e| e.kind == SelectorErrorKind::BothSelectorKinds));
    }

    #[test]
    fn error_paths_are_relative_to_the_trail(
        (scope, basic, mut advanced) in trail(),
        bad_field in select(vec!["eventNmae", "", "requestParameters", "resources.arn"]),
    ) {
        if let Some(s) = advanced.first_mut() {
            s.field_selectors.push(FieldSelector {
                field: bad_field.into(),
                not_equals: Some(vec!["x".into()]),
                ..FieldSelector::default()
            });
            let e = TrailSelector::new(scope, &basic, &advanced).err().unwrap_or_default();
            let path = format!("advanced_event_selectors[0].field_selectors[{}].field",
                advanced[0].field_selectors.len() - 1);
            prop_assert!(e.iter().any(|e| e.path == path), "{:?}", e);
            for e in &e {
                prop_assert!(e.path.starts_with("advanced_event_selectors"), "{}", e);
            }
        }
    }
}

/// Guards against a vacuous property: the generators must produce both outcomes often.
#[test]
fn generated_cases_both_match_and_do_not_match() {
    let mut runner = TestRunner::deterministic();
    let strategy = (trail(), routing_fields());
    let (mut yes, mut no, mut data_yes, mut advanced_yes) = (0, 0, 0, 0);
    for _ in 0..3000 {
        let ((scope, basic, advanced), f) = strategy
            .new_tree(&mut runner)
            .expect("strategy generates")
            .current();
        if model(&scope, &basic, &advanced, &f) {
            yes += 1;
            data_yes += usize::from(f.event_category == EventCategory::Data);
            advanced_yes += usize::from(!advanced.is_empty());
        } else {
            no += 1;
        }
    }
    assert!(yes > 300 && no > 300, "yes {yes} no {no}");
    assert!(
        data_yes > 50 && advanced_yes > 50,
        "data {data_yes} advanced {advanced_yes}"
    );
}
