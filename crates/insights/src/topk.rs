//! Bounded "top values" tallies for attributions (Space-Saving) and the string interner behind
//! them.
//!
//! Invariant: a [`TopK`] never holds more than the capacity it is given; when full, a new value
//! replaces the entry with the smallest count and inherits that count (Space-Saving, Metwally et
//! al. 2005), so a count is exact while a tally has seen at most `cap` distinct values and an
//! over-estimate by at most `total / cap` otherwise. Values are interned `Arc<str>`s, so the same
//! ARN or user agent is stored once however many tallies mention it.

use std::collections::HashSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Distinct values kept per attribute for one open minute.
pub(crate) const MINUTE_CAP: usize = 16;
/// Distinct values kept per attribute for one day of baseline.
pub(crate) const DAY_CAP: usize = 12;
/// Distinct values kept per attribute for the whole of one insight.
pub(crate) const INSIGHT_CAP: usize = 32;
/// Values reported per attribute (CloudTrail reports the top 5).
pub(crate) const REPORTED: usize = 5;

/// The three attributions CloudTrail reports, in its order.
pub(crate) const ATTRIBUTES: [&str; 3] = ["userIdentityArn", "userAgent", "errorCode"];

/// One tally of values and their counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct TopK {
    entries: Vec<(Arc<str>, u32)>,
}

impl TopK {
    /// Counts `n` occurrences of `value`, interning it if it is new to this tally.
    pub(crate) fn add_str(&mut self, value: &str, n: u32, cap: usize, interner: &mut Interner) {
        if let Some(e) = self.entries.iter_mut().find(|e| &*e.0 == value) {
            e.1 = e.1.saturating_add(n);
            return;
        }
        self.insert_new(interner.intern(value), n, cap);
    }

    /// Counts `n` occurrences of an already interned value.
    pub(crate) fn add_arc(&mut self, value: &Arc<str>, n: u32, cap: usize) {
        if let Some(e) = self
            .entries
            .iter_mut()
            .find(|e| Arc::ptr_eq(&e.0, value) || e.0 == *value)
        {
            e.1 = e.1.saturating_add(n);
            return;
        }
        self.insert_new(value.clone(), n, cap);
    }

    fn insert_new(&mut self, value: Arc<str>, n: u32, cap: usize) {
        if self.entries.len() < cap {
            self.entries.push((value, n));
        } else if let Some(min) = self.entries.iter_mut().min_by_key(|e| e.1) {
            // Space-Saving: the newcomer inherits the evicted count (an upper bound).
            *min = (value, min.1.saturating_add(n));
        }
    }

    /// Adds every entry of `other`.
    pub(crate) fn merge(&mut self, other: &TopK, cap: usize) {
        for (v, n) in &other.entries {
            self.add_arc(v, *n, cap);
        }
    }

    /// The `n` largest entries, count descending then value ascending (deterministic).
    pub(crate) fn top(&self, n: usize) -> Vec<(Arc<str>, u32)> {
        let mut v = self.entries.clone();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v.truncate(n);
        v
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Heap bytes held by this tally (not counting the shared strings).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<(Arc<str>, u32)>()
    }

    /// Replaces every value by the interner's copy (after a restore).
    pub(crate) fn reintern(&mut self, interner: &mut Interner) {
        for e in &mut self.entries {
            e.0 = interner.intern(&e.0);
        }
    }
}

/// One tally per attribute, in [`ATTRIBUTES`] order.
pub(crate) type Attrs = [TopK; 3];

/// Merges `from` into `into`, attribute by attribute.
pub(crate) fn merge_attrs(into: &mut Attrs, from: &Attrs, cap: usize) {
    for (a, b) in into.iter_mut().zip(from) {
        a.merge(b, cap);
    }
}

/// Shares one allocation per distinct string among all tallies.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    set: HashSet<Arc<str>>,
    /// Size after the last prune; the next prune runs when the set has doubled since.
    pruned_len: usize,
}

impl Interner {
    pub(crate) fn intern(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.set.get(s) {
            return a.clone();
        }
        if self.set.len() > 2 * self.pruned_len + 4096 {
            self.prune();
        }
        let a: Arc<str> = Arc::from(s);
        self.set.insert(a.clone());
        a
    }

    /// Drops strings no tally refers to any more.
    pub(crate) fn prune(&mut self) {
        self.set.retain(|a| Arc::strong_count(a) > 1);
        self.pruned_len = self.set.len();
    }

    /// Heap bytes of the interned strings.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.set.iter().map(|a| a.len() + 16).sum::<usize>()
            + self.set.capacity() * std::mem::size_of::<Arc<str>>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_below_capacity_and_bounded_above() {
        let mut i = Interner::default();
        let mut t = TopK::default();
        for (v, n) in [("a", 5), ("b", 3), ("a", 2), ("c", 1)] {
            t.add_str(v, n, 3, &mut i);
        }
        assert_eq!(
            t.top(5),
            vec![("a".into(), 7), ("b".into(), 3), ("c".into(), 1)]
        );
        t.add_str("d", 1, 3, &mut i);
        assert_eq!(t.entries.len(), 3);
        // "d" replaced "c" (count 1) and inherited its count.
        assert_eq!(t.top(1)[0].1, 7);
        assert!(t.top(5).iter().any(|e| &*e.0 == "d" && e.1 == 2));
    }

    #[test]
    fn interner_shares_and_prunes() {
        let mut i = Interner::default();
        let a = i.intern("x");
        let b = i.intern("x");
        assert!(Arc::ptr_eq(&a, &b));
        drop((a, b));
        i.prune();
        assert!(i.set.is_empty());
    }
}
