//! Unit tests of the scanner internals (the public behaviour is tested under `tests/`).

use crate::scan::{unescape, Node, Selector, Step, Trie};

fn key(k: &str) -> Step {
    Step::Key(k.into())
}

#[test]
fn unescape_decodes_json_escapes_and_surrogate_pairs() {
    assert_eq!(
        unescape(br#"a\"b\\c\/d\n\u00e9\ud83d\ude00"#),
        "a\"b\\c/d\né\u{1F600}".as_bytes()
    );
    assert_eq!(unescape(br#"\ud83d"#), "\u{FFFD}".as_bytes());
}

#[test]
fn trie_scan_fills_only_named_slots_and_last_duplicate_wins() {
    let mut trie = Trie::new();
    let a = trie.insert(&Selector {
        steps: vec![key("a")],
    });
    let a1 = trie.insert(&Selector {
        steps: vec![key("a"), Step::Index(1)],
    });
    assert_eq!(
        trie.insert(&Selector {
            steps: vec![key("a")]
        }),
        a
    );
    let mut slots = [Node::Missing; 2];
    assert!(trie.scan(br#"{"a":[1,"x"],"b":{"a":2}}"#, &mut slots));
    assert_eq!(slots[a as usize], Node::Array);
    assert_eq!(
        slots[a1 as usize],
        Node::Str {
            raw: b"x",
            escaped: false
        }
    );
    assert!(trie.scan(br#"{"a":[1,"x"],"a":true}"#, &mut slots));
    assert_eq!(slots, [Node::Bool(true), Node::Missing]);
    assert!(!trie.scan(br#"{"a":[1,"x"]"#, &mut slots));
}

#[test]
fn string_scan_finds_stop_bytes_at_every_offset() {
    let mut trie = Trie::new();
    trie.insert(&Selector {
        steps: vec![key("k")],
    });
    for len in 0..40 {
        let body = "x".repeat(len);
        let mut slots = [Node::Missing];
        let ok = format!(r#"{{"k":"{body}\"y"}}"#);
        assert!(trie.scan(ok.as_bytes(), &mut slots), "{ok}");
        let bad = format!("{{\"k\":\"{body}\u{1}\"}}");
        assert!(
            !trie.scan(bad.as_bytes(), &mut slots),
            "control byte after {len}"
        );
        let open = format!("{{\"k\":\"{body}");
        assert!(
            !trie.scan(open.as_bytes(), &mut slots),
            "unterminated after {len}"
        );
    }
}
