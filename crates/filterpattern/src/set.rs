//! Many patterns evaluated together: the selectors of all JSON patterns are merged into one
//! trie, so an event is scanned once per set instead of once per pattern.
//!
//! Invariant: `exprs[p]` is pattern `p`'s expression with every local slot renamed to its
//! shared slot, so each pattern sees exactly the nodes it would see alone — `FilterSet` results equal
//! `FilterPattern::matches` pattern by pattern (property-tested). A [`Prefilter`] first rules
//! out JSON patterns whose required texts the event lacks; when it rules out all of them
//! the event is not scanned at all.

use crate::json::{eval, Expr};
use crate::prefilter::Prefilter;
use crate::scan::{Node, Trie};
use crate::{Compiled, FilterPattern};

/// Slots kept on the stack when a set has at most this many distinct selectors.
const STACK_SLOTS: usize = 48;

/// A group of compiled patterns evaluated with one JSON pass per event.
#[derive(Debug, Clone)]
pub struct FilterSet {
    patterns: Vec<FilterPattern>,
    trie: Trie,
    /// Per pattern: its JSON expression rewritten onto the shared trie's slots.
    exprs: Vec<Option<Expr>>,
    /// Rules patterns out from the raw bytes; `None` when no pattern has a usable requirement.
    prefilter: Option<Prefilter>,
}

impl FilterSet {
    /// Builds a set; order is kept and results are reported in the same order.
    pub fn new(patterns: impl IntoIterator<Item = FilterPattern>) -> Self {
        let patterns: Vec<FilterPattern> = patterns.into_iter().collect();
        let mut trie = Trie::new();
        let exprs = patterns
            .iter()
            .map(|p| match &p.compiled {
                Compiled::Json(j) => {
                    let map: Vec<u32> = j.selectors.iter().map(|s| trie.insert(s)).collect();
                    Some(j.expr.remap(&map))
                }
                _ => None,
            })
            .collect::<Vec<_>>();
        let prefilter = Prefilter::new(&exprs);
        FilterSet {
            patterns,
            trie,
            exprs,
            prefilter,
        }
    }

    /// The patterns, in order.
    pub fn patterns(&self) -> &[FilterPattern] {
        &self.patterns
    }

    /// Number of patterns.
    pub fn len(&self) -> usize {
        self.patterns.len()
    }

    /// Whether the set has no patterns.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Evaluates every pattern on `event`; `out` is cleared and gets one entry per pattern.
    pub fn matches_into(&self, event: &[u8], out: &mut Vec<bool>) {
        out.clear();
        // `out` first holds which patterns the prefilter leaves possible.
        out.resize(self.patterns.len(), true);
        if let Some(pf) = &self.prefilter {
            pf.possible(event, out);
        }
        let n = self.trie.slot_count();
        let mut stack = [Node::Missing; STACK_SLOTS];
        let mut heap = Vec::new();
        let mut json_ok = None;
        for ((p, expr), hit) in self.patterns.iter().zip(&self.exprs).zip(out.iter_mut()) {
            if !*hit {
                continue;
            }
            *hit = match expr {
                Some(expr) => {
                    let ok = *json_ok.get_or_insert_with(|| {
                        let slots: &mut [Node<'_>] = if n <= STACK_SLOTS {
                            &mut stack[..n]
                        } else {
                            heap.resize(n, Node::Missing);
                            &mut heap
                        };
                        self.trie.scan(event, slots)
                    });
                    let slots: &[Node<'_>] = if n <= STACK_SLOTS { &stack[..n] } else { &heap };
                    ok && eval(expr, slots)
                }
                None => p.matches(event),
            };
        }
    }

    /// Evaluates every pattern on `event`, one `bool` per pattern in order.
    pub fn matches(&self, event: &[u8]) -> Vec<bool> {
        let mut out = Vec::with_capacity(self.patterns.len());
        self.matches_into(event, &mut out);
        out
    }
}
