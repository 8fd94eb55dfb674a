//! Literal prefilter of a [`crate::FilterSet`]: one cheap pass over an event's raw bytes
//! proves most JSON patterns false before the validating scan runs.
//!
//! Every JSON pattern gets a *requirement*: clauses of needles such that, if the pattern
//! matches an event, each clause has a needle present in the event. Needles are texts a
//! string value must equal, start with, end with or contain (from `= "text"`, `= "a*"`, …
//! and `||`-lists of them). The prefilter looks at every run of bytes between two
//! consecutive `"` bytes of the event (string contents and the gaps between strings alike).
//!
//! Why a needle of a matching pattern is always seen (soundness): a needle is only derived
//! when its text cannot come out of a JSON escape other than `\u` (no `"`, `\`, `/`, control
//! bytes) and cannot be the text of a number or boolean (D7: string literals also match
//! those, unquoted); and the prefilter gives up (everything possible) on any event holding
//! the bytes `\u`. Then a string whose decoded text equals / starts with / ends with /
//! contains the needle holds it verbatim in its raw bytes, at the same end, and since the
//! needle has no `"` it lies inside one run between consecutive quotes — the run starting
//! at the opening quote (equals, starts with), ending at the closing quote (equals, ends
//! with), or somewhere (contains). An event that is not JSON matches no JSON pattern anyway.
//! `FilterSet` results stay equal to `FilterPattern::matches` (property-tested).

use memchr::memmem;

use crate::json::{Expr, Test};
use crate::literal::{parse_number, Literal, Op};

/// Needle kinds, by how the value must relate to the needle text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Exact,
    Prefix,
    Suffix,
    Contains,
}

/// Most needles one prefilter tracks (bits of [`Present`]); a set needing more has none.
const MAX_NEEDLES: usize = 256;

/// Which needles an event holds, one bit per needle id.
pub(crate) type Present = [u64; MAX_NEEDLES / 64];

/// The needles of a set and each JSON pattern's requirement over them.
#[derive(Debug, Clone)]
pub(crate) struct Prefilter {
    needles: Vec<(Kind, Box<[u8]>)>,
    /// Per first byte: bit `len % 64` set when an exact needle of length `len` starts with
    /// that byte; all bits when a prefix needle does. A run of length `n` is a candidate when
    /// bit `n % 64` of its first byte's entry is set.
    heads: Box<[u64; 256]>,
    /// Per last byte: the length of the shortest suffix needle ending with it (`usize::MAX`
    /// when none does).
    tails: Box<[usize; 256]>,
    /// Per first byte: the exact and prefix needles starting with it, as (length, id)
    /// sorted by length.
    by_first: Box<[Vec<(usize, u32)>]>,
    /// Ids of the suffix needles.
    suffix: Vec<u32>,
    /// `Contains` needles, searched in the whole event.
    contains: Vec<(u32, memmem::Finder<'static>)>,
    /// Per pattern: `None` when it has no requirement (always possible), else its clauses.
    /// Each clause is a bit mask of needle ids (`words` words).
    reqs: Vec<Option<Vec<Present>>>,
    /// Words of [`Present`] in use (needles / 64, rounded up).
    words: usize,
}

/// A requirement under construction: `None` = none known; `Some(clauses)`.
type Req = Option<Vec<Vec<(Kind, Box<[u8]>)>>>;

/// Whether `text` can be required verbatim between quotes (see the module docs).
fn usable(text: &[u8]) -> bool {
    !text.is_empty()
        && !text
            .iter()
            .any(|&c| c == b'"' || c == b'\\' || c == b'/' || c < 0x20)
        // Number text: digits, signs, `.`, `e`/`E` only. Boolean text: inside `true`/`false`.
        && !text.iter().all(|c| b"0123456789+-.eE".contains(c))
        && memmem::find(b"true", text).is_none()
        && memmem::find(b"false", text).is_none()
}

/// The needle of an exact `= "text"`, if usable.
fn exact_needle(text: &[u8]) -> Option<(Kind, Box<[u8]>)> {
    // `parse_number` covers JSON number syntax; `usable` rejects it and booleans anyway.
    (usable(text) && parse_number(text).is_none()).then(|| (Kind::Exact, text.into()))
}

fn requirement(expr: &Expr) -> Req {
    match expr {
        Expr::And(all) => {
            let clauses: Vec<_> = all.iter().filter_map(requirement).flatten().collect();
            (!clauses.is_empty()).then_some(clauses)
        }
        Expr::Or(any) => {
            let mut clause = Vec::new();
            for e in any {
                // One clause of each alternative: the one whose shortest needle is longest.
                let best = requirement(e)?
                    .into_iter()
                    .max_by_key(|c| c.iter().map(|n| n.1.len()).min().unwrap_or(0))?;
                clause.extend(best);
            }
            Some(vec![clause])
        }
        Expr::Cond(c) => {
            let clause = match &c.test {
                Test::Exact {
                    negate: false,
                    text,
                } => vec![exact_needle(text)?],
                Test::AnyOf(texts) => texts
                    .iter()
                    .map(|t| exact_needle(t))
                    .collect::<Option<Vec<_>>>()?,
                Test::Compare(Op::Eq, Literal::Text(glob)) => {
                    let parts = glob.parts();
                    if let [exact] = parts {
                        vec![exact_needle(exact)?]
                    } else {
                        let last = parts.len() - 1;
                        let (i, part) = parts
                            .iter()
                            .enumerate()
                            .filter(|(_, p)| usable(p))
                            .max_by_key(|(_, p)| p.len())?;
                        let kind = match i {
                            0 => Kind::Prefix,
                            _ if i == last => Kind::Suffix,
                            _ => Kind::Contains,
                        };
                        vec![(kind, part.as_slice().into())]
                    }
                }
                _ => return None,
            };
            Some(vec![clause])
        }
    }
}

impl Prefilter {
    /// Builds the prefilter of a set from each pattern's expression (`None`: not JSON).
    /// Returns `None` unless every JSON pattern has a requirement (and there is one), or
    /// when there are too many needles.
    pub(crate) fn new(exprs: &[Option<Expr>]) -> Option<Prefilter> {
        let mut needles: Vec<(Kind, Box<[u8]>)> = Vec::new();
        let mut id_of = |n: (Kind, Box<[u8]>)| -> u32 {
            match needles.iter().position(|m| *m == n) {
                Some(i) => i as u32,
                None => {
                    needles.push(n);
                    (needles.len() - 1) as u32
                }
            }
        };
        let ids: Vec<Option<Vec<Vec<u32>>>> = exprs
            .iter()
            .map(|e| {
                let clauses = requirement(e.as_ref()?)?;
                Some(
                    clauses
                        .into_iter()
                        .map(|c| {
                            let mut ids: Vec<u32> = c.into_iter().map(&mut id_of).collect();
                            ids.sort_unstable();
                            ids.dedup();
                            ids
                        })
                        .collect(),
                )
            })
            .collect();
        // A JSON pattern without requirement needs the scan of every event anyway; then the
        // prefilter would only save evaluations, not worth its pass.
        let unbounded = exprs
            .iter()
            .zip(&ids)
            .any(|(e, r)| e.is_some() && r.is_none());
        if unbounded || ids.iter().all(Option::is_none) || needles.len() > MAX_NEEDLES {
            return None;
        }
        let reqs = ids
            .into_iter()
            .map(|clauses| {
                let to_mask = |ids: Vec<u32>| {
                    let mut mask: Present = [0; MAX_NEEDLES / 64];
                    ids.into_iter().for_each(|id| set(&mut mask, id));
                    mask
                };
                Some(clauses?.into_iter().map(to_mask).collect())
            })
            .collect();
        let mut pf = Prefilter {
            needles: Vec::new(),
            heads: Box::new([0; 256]),
            tails: Box::new([usize::MAX; 256]),
            by_first: vec![Vec::new(); 256].into_boxed_slice(),
            suffix: Vec::new(),
            contains: Vec::new(),
            reqs,
            words: needles.len().div_ceil(64),
        };
        for (id, (kind, text)) in needles.iter().enumerate() {
            let id = id as u32;
            let (first, last) = (text[0] as usize, text[text.len() - 1] as usize);
            match kind {
                Kind::Exact | Kind::Prefix => {
                    pf.heads[first] |= if *kind == Kind::Exact {
                        1 << (text.len() % 64)
                    } else {
                        !0
                    };
                    pf.by_first[first].push((text.len(), id));
                }
                Kind::Suffix => {
                    pf.tails[last] = pf.tails[last].min(text.len());
                    pf.suffix.push(id);
                }
                Kind::Contains => pf
                    .contains
                    .push((id, memmem::Finder::new(text).into_owned())),
            }
        }
        for list in pf.by_first.iter_mut() {
            list.sort_unstable();
        }
        pf.needles = needles;
        Some(pf)
    }

    /// Which patterns `event` may match: `possible[p]` is false only when pattern `p` cannot
    /// match. Returns `false` when the prefilter cannot judge this event (all possible).
    pub(crate) fn possible(&self, event: &[u8], possible: &mut [bool]) -> bool {
        let mut present: Present = [0; MAX_NEEDLES / 64];
        if !self.mark(event, &mut present) {
            return false;
        }
        for (p, req) in possible.iter_mut().zip(&self.reqs) {
            *p = self.meets(req, &present);
        }
        true
    }

    /// Whether `present` holds a needle of every clause of `req` (always, without one).
    #[inline]
    fn meets(&self, req: &Option<Vec<Present>>, present: &Present) -> bool {
        let Some(clauses) = req else { return true };
        clauses.iter().all(|clause| {
            clause[..self.words]
                .iter()
                .zip(&present[..self.words])
                .any(|(c, p)| c & p != 0)
        })
    }

    /// Sets the bit of every needle found; `false` when the event holds `\u`.
    fn mark(&self, event: &[u8], present: &mut Present) -> bool {
        // Position of the previous `"`; before the first one, the run from the start is
        // checked too (harmless: extra needles found only make more patterns possible).
        let mut prev = usize::MAX;
        let mut base = 0;
        while base < event.len() {
            let (quotes, backslashes, width) = masks(event, base);
            let mut bs = backslashes;
            while bs != 0 {
                let at = base + bs.trailing_zeros() as usize;
                bs &= bs - 1;
                if event.get(at + 1) == Some(&b'u') {
                    return false;
                }
            }
            let mut qs = quotes;
            while qs != 0 {
                let at = base + qs.trailing_zeros() as usize;
                qs &= qs - 1;
                let start = prev.wrapping_add(1);
                prev = at;
                if at > start {
                    // Most runs fail both table tests; only candidates go out of line.
                    let len = at - start;
                    let head = self.heads[event[start] as usize] >> (len % 64) & 1;
                    if head != 0 || len >= self.tails[event[at - 1] as usize] {
                        self.run(&event[start..at], present);
                    }
                }
            }
            base += width;
        }
        for (id, finder) in &self.contains {
            if finder.find(event).is_some() {
                set(present, *id);
            }
        }
        true
    }

    /// Checks one run of bytes between consecutive quotes against the needles.
    #[inline(never)]
    fn run(&self, run: &[u8], present: &mut Present) {
        let (Some(&first), Some(&last)) = (run.first(), run.last()) else {
            return;
        };
        let len = run.len();
        // One test per table: a needle's first byte and length (exact), first byte (prefix),
        // last byte and minimum length (suffix).
        if self.heads[first as usize] >> (len % 64) & 1 != 0 {
            self.heads_slow(run, present);
        }
        if len >= self.tails[last as usize] {
            for &id in &self.suffix {
                if run.ends_with(&self.needles[id as usize].1) {
                    set(present, id);
                }
            }
        }
    }

    /// The exact and prefix needles starting with `run`'s first byte, compared in full.
    fn heads_slow(&self, run: &[u8], present: &mut Present) {
        for &(len, id) in &self.by_first[run[0] as usize] {
            if len > run.len() {
                break;
            }
            let (kind, text) = &self.needles[id as usize];
            let hit = match kind {
                Kind::Exact => text.len() == run.len() && **text == *run,
                _ => run.starts_with(text),
            };
            if hit {
                set(present, id);
            }
        }
    }
}

#[inline(always)]
fn set(present: &mut Present, id: u32) {
    present[id as usize / 64] |= 1 << (id % 64);
}

/// Bit masks of the `"` and `\` bytes among the (up to) 64 bytes of `b` from `base`, and
/// how many bytes they cover.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn masks(b: &[u8], base: usize) -> (u64, u64, usize) {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
    };
    if base + 64 > b.len() {
        // The last bytes: the same on a zero-padded copy (zero is neither `"` nor `\\`).
        let mut tail = [0u8; 64];
        let n = b.len() - base;
        tail[..n].copy_from_slice(&b[base..]);
        let (q, s, _) = masks(&tail, 0);
        return (q, s, n);
    }
    // SAFETY: SSE2 is part of the x86_64 baseline; the four 16-byte loads read
    // `b[base..base + 64]`, inside `b` (checked above).
    unsafe {
        let quote = _mm_set1_epi8(b'"' as i8);
        let backslash = _mm_set1_epi8(b'\\' as i8);
        let (mut q, mut s) = (0u64, 0u64);
        for i in 0..4 {
            let x = _mm_loadu_si128(b.as_ptr().add(base + 16 * i).cast::<__m128i>());
            q |= u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(x, quote)) as u16) << (16 * i);
            s |= u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(x, backslash)) as u16) << (16 * i);
        }
        (q, s, 64)
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn masks(b: &[u8], base: usize) -> (u64, u64, usize) {
    masks_scalar(b, base)
}

#[cfg(not(target_arch = "x86_64"))]
fn masks_scalar(b: &[u8], base: usize) -> (u64, u64, usize) {
    let chunk = &b[base..b.len().min(base + 64)];
    let (mut q, mut s) = (0u64, 0u64);
    for (i, &c) in chunk.iter().enumerate() {
        q |= u64::from(c == b'"') << i;
        s |= u64::from(c == b'\\') << i;
    }
    (q, s, chunk.len())
}
