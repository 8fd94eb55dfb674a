//! One-pass JSON scanner that resolves only the selectors a pattern uses.
//!
//! The selectors of a pattern (or of a whole [`crate::FilterSet`]) are merged into a [`Trie`];
//! [`Trie::scan`] walks the event once, validating JSON syntax as it goes, descends only into
//! members and elements the trie names, and records what each selector points at in a slot.
//! Nothing is allocated unless a looked-up key or string value contains escapes.
//!
//! Invariants: a scan that returns `true` saw exactly one well-formed JSON value (RFC 8259
//! grammar, nesting ≤ [`MAX_DEPTH`]) and nothing but whitespace after it; every slot then
//! holds the *last* occurrence of its selector (duplicate keys: last wins) or `Missing`.
//! Not checked: UTF-8 validity of string contents (the bytes are compared as they are).

use std::borrow::Cow;
use std::fmt;

use crate::literal::Scalar;

/// Deepest object/array nesting accepted; deeper events are treated as not JSON.
pub const MAX_DEPTH: u32 = 128;

/// One step of a selector: `.name` or `[index]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    Key(Box<str>),
    Index(u32),
}

/// A JSON property selector such as `$.userIdentity.type` or `$.users[0].email`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Selector {
    pub(crate) steps: Vec<Step>,
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("$")?;
        for step in &self.steps {
            match step {
                Step::Key(k) => write!(f, ".{k}")?,
                Step::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

/// What a selector resolved to in one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Node<'r> {
    Missing,
    Null,
    Bool(bool),
    Number(&'r [u8]),
    /// Raw string contents between the quotes; `escaped` when it contains a backslash.
    Str {
        raw: &'r [u8],
        escaped: bool,
    },
    Object,
    Array,
}

impl<'r> Node<'r> {
    /// The scalar view used by comparisons; `None` for missing fields, objects and arrays.
    pub(crate) fn scalar(&self) -> Option<Scalar<'r>> {
        match *self {
            Node::Missing | Node::Object | Node::Array => None,
            Node::Null => Some(Scalar::Null),
            Node::Bool(b) => Some(Scalar::Bool(b)),
            Node::Number(raw) => Some(Scalar::Number(raw)),
            Node::Str {
                raw,
                escaped: false,
            } => Some(Scalar::Text(Cow::Borrowed(raw))),
            Node::Str { raw, escaped: true } => Some(Scalar::Text(Cow::Owned(unescape(raw)))),
        }
    }
}

#[derive(Debug, Clone, Default)]
struct TrieNode {
    slot: Option<u32>,
    keys: Vec<(Box<[u8]>, u32)>,
    /// (length, first byte) of each entry of `keys`, checked before comparing whole keys.
    key_heads: Vec<(usize, u8)>,
    indices: Vec<(u32, u32)>,
    /// Slots strictly below this node, cleared when the node is (re)visited.
    below: Vec<u32>,
}

/// The merged selectors of one or more patterns; node 0 is `$`.
#[derive(Debug, Clone)]
pub(crate) struct Trie {
    nodes: Vec<TrieNode>,
    slots: u32,
}

impl Trie {
    pub(crate) fn new() -> Self {
        Trie {
            nodes: vec![TrieNode::default()],
            slots: 0,
        }
    }

    /// Number of slots a scan fills.
    pub(crate) fn slot_count(&self) -> usize {
        self.slots as usize
    }

    /// Adds a selector (idempotent) and returns its slot.
    pub(crate) fn insert(&mut self, selector: &Selector) -> u32 {
        let mut path = vec![0u32];
        let mut at = 0u32;
        for step in &selector.steps {
            let next = self.nodes.len() as u32;
            let node = &mut self.nodes[at as usize];
            let found = match step {
                Step::Key(k) => node
                    .keys
                    .iter()
                    .find(|(key, _)| **key == *k.as_bytes())
                    .map(|e| e.1),
                Step::Index(i) => node.indices.iter().find(|(idx, _)| idx == i).map(|e| e.1),
            };
            at = match found {
                Some(child) => child,
                None => {
                    match step {
                        Step::Key(k) => {
                            node.keys.push((k.as_bytes().into(), next));
                            node.key_heads.push((k.len(), k.as_bytes()[0]));
                        }
                        Step::Index(i) => node.indices.push((*i, next)),
                    }
                    self.nodes.push(TrieNode::default());
                    next
                }
            };
            path.push(at);
        }
        if let Some(slot) = self.nodes[at as usize].slot {
            return slot;
        }
        let slot = self.slots;
        self.slots += 1;
        self.nodes[at as usize].slot = Some(slot);
        for ancestor in &path[..path.len() - 1] {
            self.nodes[*ancestor as usize].below.push(slot);
        }
        slot
    }

    /// Scans `event`, filling `slots` (length [`Trie::slot_count`]). Returns false when the
    /// event is not a single well-formed JSON value; slots are then meaningless.
    pub(crate) fn scan<'r>(&self, event: &'r [u8], slots: &mut [Node<'r>]) -> bool {
        slots.fill(Node::Missing);
        let mut scan = Scan {
            b: event,
            pos: 0,
            trie: self,
            slots,
            depth: 0,
        };
        scan.value(Some(0)).is_ok() && {
            scan.ws();
            scan.pos == event.len()
        }
    }
}

struct Invalid;

struct Scan<'r, 't, 's> {
    b: &'r [u8],
    pos: usize,
    trie: &'t Trie,
    slots: &'s mut [Node<'r>],
    depth: u32,
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// High bit set in each byte of `w` that is zero (the lowest flagged byte is always exact).
#[inline]
fn zero_bytes(w: u64) -> u64 {
    w.wrapping_sub(LO) & !w & HI
}

impl<'r> Scan<'r, '_, '_> {
    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.pos) {
            self.pos += 1;
        }
    }

    #[inline]
    fn expect(&mut self, c: u8) -> Result<(), Invalid> {
        self.ws();
        if self.b.get(self.pos) == Some(&c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(Invalid)
        }
    }

    fn value(&mut self, node: Option<u32>) -> Result<(), Invalid> {
        let Some(node) = node else {
            self.pos = skip_value(self.b, self.pos, self.depth)?;
            return Ok(());
        };
        self.ws();
        let tn = &self.trie.nodes[node as usize];
        for s in &tn.below {
            self.slots[*s as usize] = Node::Missing;
        }
        let tn = Some(tn);
        let v = match self.b.get(self.pos).copied().ok_or(Invalid)? {
            b'{' => {
                self.object(tn)?;
                Node::Object
            }
            b'[' => {
                self.array(tn)?;
                Node::Array
            }
            b'"' => {
                let (raw, escaped) = self.string()?;
                Node::Str { raw, escaped }
            }
            b't' => self.word(b"true", Node::Bool(true))?,
            b'f' => self.word(b"false", Node::Bool(false))?,
            b'n' => self.word(b"null", Node::Null)?,
            b'-' | b'0'..=b'9' => {
                let start = self.pos;
                self.pos = skip_number(self.b, self.pos)?;
                Node::Number(&self.b[start..self.pos])
            }
            _ => return Err(Invalid),
        };
        if let Some(slot) = tn.and_then(|t| t.slot) {
            self.slots[slot as usize] = v;
        }
        Ok(())
    }

    fn word(&mut self, w: &[u8], v: Node<'r>) -> Result<Node<'r>, Invalid> {
        if self.b[self.pos..].starts_with(w) {
            self.pos += w.len();
            Ok(v)
        } else {
            Err(Invalid)
        }
    }

    fn enter(&mut self) -> Result<(), Invalid> {
        self.depth += 1;
        self.pos += 1;
        if self.depth > MAX_DEPTH {
            Err(Invalid)
        } else {
            Ok(())
        }
    }

    fn object(&mut self, tn: Option<&TrieNode>) -> Result<(), Invalid> {
        let Some(tn) = tn.filter(|t| !t.keys.is_empty()) else {
            self.pos = skip_value(self.b, self.pos, self.depth)?;
            return Ok(());
        };
        self.enter()?;
        let tn = Some(tn);
        self.ws();
        if self.b.get(self.pos) == Some(&b'}') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(());
        }
        loop {
            self.ws();
            if self.b.get(self.pos) != Some(&b'"') {
                return Err(Invalid);
            }
            let (key, escaped) = self.string()?;
            let child = tn.and_then(|t| lookup_key(t, key, escaped));
            self.expect(b':')?;
            match child {
                Some(_) => self.value(child)?,
                None => self.pos = skip_value(self.b, self.pos, self.depth)?,
            }
            self.ws();
            match self.b.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(());
                }
                _ => return Err(Invalid),
            }
        }
    }

    fn array(&mut self, tn: Option<&TrieNode>) -> Result<(), Invalid> {
        let Some(tn) = tn.filter(|t| !t.indices.is_empty()) else {
            self.pos = skip_value(self.b, self.pos, self.depth)?;
            return Ok(());
        };
        self.enter()?;
        let tn = Some(tn);
        self.ws();
        if self.b.get(self.pos) == Some(&b']') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(());
        }
        let mut index = 0u32;
        loop {
            let child = tn.and_then(|t| t.indices.iter().find(|(i, _)| *i == index).map(|e| e.1));
            self.value(child)?;
            index = index.saturating_add(1);
            self.ws();
            match self.b.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(());
                }
                _ => return Err(Invalid),
            }
        }
    }

    /// Reads a string (cursor on the opening quote); returns the raw contents.
    #[inline]
    fn string(&mut self) -> Result<(&'r [u8], bool), Invalid> {
        let start = self.pos + 1;
        let (end, escaped) = skip_string(self.b, self.pos)?;
        self.pos = end;
        Ok((&self.b[start..end - 1], escaped))
    }
}

/// Index of the first byte at or after `pos` that is not JSON whitespace.
#[inline(always)]
fn skip_ws(b: &[u8], mut pos: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = b.get(pos) {
        pos += 1;
    }
    pos
}

/// Validates the string whose opening quote is at `pos`; returns the index just past its
/// closing quote and whether it contains escapes.
#[inline(always)]
fn skip_string(b: &[u8], mut pos: usize) -> Result<(usize, bool), Invalid> {
    pos += 1;
    let mut escaped = false;
    loop {
        pos = find_stop(b, pos);
        match b.get(pos).copied().ok_or(Invalid)? {
            b'"' => return Ok((pos + 1, escaped)),
            b'\\' => {
                escaped = true;
                match b.get(pos + 1).copied().ok_or(Invalid)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => pos += 2,
                    b'u' => {
                        let hex = b.get(pos + 2..pos + 6).ok_or(Invalid)?;
                        if !hex.iter().all(u8::is_ascii_hexdigit) {
                            return Err(Invalid);
                        }
                        pos += 6;
                    }
                    _ => return Err(Invalid),
                }
            }
            // `find_stop` only stops at a quote, a backslash or a control byte.
            _ => return Err(Invalid),
        }
    }
}

/// Index of the first `"`, `\\` or control byte at or after `pos`, or `b.len()`.
#[inline(always)]
fn find_stop(b: &[u8], pos: usize) -> usize {
    let pos = skip_plain(b, pos);
    if SKIP_PLAIN_STOPS_ONLY_ON_HIT && pos + 16 <= b.len() {
        return pos;
    }
    find_stop_tail(b, pos)
}

/// [`find_stop`] past what [`skip_plain`] covers: the last bytes of the event (x86_64), or
/// everything (elsewhere). Out of line so that the common path stays small.
#[cfg_attr(target_arch = "x86_64", cold)]
#[inline(never)]
fn find_stop_tail(b: &[u8], mut pos: usize) -> usize {
    // Eight bytes at a time until a quote, backslash or control byte shows up.
    while let Some(chunk) = b.get(pos..pos + 8) {
        let w = u64::from_le_bytes(chunk.try_into().expect("slice of length 8"));
        let hits = zero_bytes(w ^ (LO * u64::from(b'"')))
            | zero_bytes(w ^ (LO * u64::from(b'\\')))
            | (w.wrapping_sub(LO * 0x20) & !w & HI);
        if hits != 0 {
            return pos + (hits.trailing_zeros() / 8) as usize;
        }
        pos += 8;
    }
    while let Some(&c) = b.get(pos) {
        if c == b'"' || c == b'\\' || c < 0x20 {
            break;
        }
        pos += 1;
    }
    pos
}

/// Validates the number starting at `pos` (a `-` or a digit); returns the index after it.
#[inline]
fn skip_number(b: &[u8], mut pos: usize) -> Result<usize, Invalid> {
    let digits = |pos: &mut usize| {
        let start = *pos;
        while b.get(*pos).is_some_and(u8::is_ascii_digit) {
            *pos += 1;
        }
        *pos - start
    };
    if b.get(pos) == Some(&b'-') {
        pos += 1;
    }
    match b.get(pos) {
        Some(b'0') => pos += 1,
        Some(b'1'..=b'9') => {
            digits(&mut pos);
        }
        _ => return Err(Invalid),
    }
    if b.get(pos) == Some(&b'.') {
        pos += 1;
        if digits(&mut pos) == 0 {
            return Err(Invalid);
        }
    }
    if let Some(b'e' | b'E') = b.get(pos) {
        pos += 1;
        if let Some(b'+' | b'-') = b.get(pos) {
            pos += 1;
        }
        if digits(&mut pos) == 0 {
            return Err(Invalid);
        }
    }
    Ok(pos)
}

/// Validates one JSON value that no selector looks into, starting at `pos` (whitespace
/// allowed before it), inside `depth` open containers; returns the index just after it.
/// Iterative, and accepts exactly what the trie-guided `Scan::value` accepts (same grammar,
/// same [`MAX_DEPTH`]).
fn skip_value(b: &[u8], mut pos: usize, depth: u32) -> Result<usize, Invalid> {
    // Bit `i` tells whether the container opened `i` levels up is an array; at most
    // `MAX_DEPTH` (= 128) levels are ever open.
    let mut arrays: u128 = 0;
    let mut open: u32 = 0;
    'value: loop {
        pos = skip_ws(b, pos);
        match b.get(pos).copied().ok_or(Invalid)? {
            b'"' => pos = skip_string(b, pos)?.0,
            b'{' => {
                open += 1;
                if depth + open > MAX_DEPTH {
                    return Err(Invalid);
                }
                arrays <<= 1;
                pos = skip_ws(b, pos + 1);
                match b.get(pos) {
                    Some(b'}') => {
                        pos += 1;
                        open -= 1;
                        arrays >>= 1;
                    }
                    Some(b'"') => {
                        pos = skip_ws(b, skip_string(b, pos)?.0);
                        if b.get(pos) != Some(&b':') {
                            return Err(Invalid);
                        }
                        pos += 1;
                        continue 'value;
                    }
                    _ => return Err(Invalid),
                }
            }
            b'[' => {
                open += 1;
                if depth + open > MAX_DEPTH {
                    return Err(Invalid);
                }
                arrays = (arrays << 1) | 1;
                pos = skip_ws(b, pos + 1);
                if b.get(pos) == Some(&b']') {
                    pos += 1;
                    open -= 1;
                    arrays >>= 1;
                } else {
                    continue 'value;
                }
            }
            b't' => pos = skip_word(b, pos, b"true")?,
            b'f' => pos = skip_word(b, pos, b"false")?,
            b'n' => pos = skip_word(b, pos, b"null")?,
            b'-' | b'0'..=b'9' => pos = skip_number(b, pos)?,
            _ => return Err(Invalid),
        }
        // A value is complete: close containers until one continues with `,`.
        loop {
            if open == 0 {
                return Ok(pos);
            }
            pos = skip_ws(b, pos);
            let in_array = arrays & 1 == 1;
            match b.get(pos) {
                Some(b',') => {
                    pos += 1;
                    if !in_array {
                        pos = skip_ws(b, pos);
                        if b.get(pos) != Some(&b'"') {
                            return Err(Invalid);
                        }
                        pos = skip_ws(b, skip_string(b, pos)?.0);
                        if b.get(pos) != Some(&b':') {
                            return Err(Invalid);
                        }
                        pos += 1;
                    }
                    continue 'value;
                }
                Some(b'}') if !in_array => {}
                Some(b']') if in_array => {}
                _ => return Err(Invalid),
            }
            pos += 1;
            open -= 1;
            arrays >>= 1;
        }
    }
}

#[inline]
fn skip_word(b: &[u8], pos: usize, w: &[u8]) -> Result<usize, Invalid> {
    if b[pos..].starts_with(w) {
        Ok(pos + w.len())
    } else {
        Err(Invalid)
    }
}

/// Whether [`skip_plain`] returning a position with 16 bytes left means it found a stop byte
/// there (true for the SSE2 version; the fallback returns its input).
const SKIP_PLAIN_STOPS_ONLY_ON_HIT: bool = cfg!(target_arch = "x86_64");

/// Advances over string bytes that are not `"`, `\\` or control bytes, 16 at a time (SSE2);
/// stops at the first such byte or when fewer than 16 bytes remain.
#[cfg(target_arch = "x86_64")]
#[inline]
fn skip_plain(b: &[u8], mut pos: usize) -> usize {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    // SAFETY: SSE2 is part of the x86_64 baseline; every load reads 16 bytes inside `b`
    // (`pos + 16 <= b.len()` is checked before it).
    unsafe {
        let quote = _mm_set1_epi8(b'"' as i8);
        let backslash = _mm_set1_epi8(b'\\' as i8);
        let ctl = _mm_set1_epi8(0x1f);
        while pos + 16 <= b.len() {
            let x = _mm_loadu_si128(b.as_ptr().add(pos).cast::<__m128i>());
            let hits = _mm_or_si128(
                _mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, backslash)),
                _mm_cmpeq_epi8(_mm_max_epu8(x, ctl), ctl),
            );
            let mask = _mm_movemask_epi8(hits) as u32;
            if mask != 0 {
                return pos + mask.trailing_zeros() as usize;
            }
            pos += 16;
        }
    }
    pos
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn skip_plain(_b: &[u8], pos: usize) -> usize {
    pos
}

#[inline]
fn lookup_key(t: &TrieNode, key: &[u8], escaped: bool) -> Option<u32> {
    if escaped {
        let key = unescape(key);
        return t.keys.iter().find(|(k, _)| **k == *key).map(|e| e.1);
    }
    let first = *key.first()?;
    let len = key.len();
    for (i, (l, f)) in t.key_heads.iter().enumerate() {
        if *l == len && *f == first && same_bytes(&t.keys[i].0, key) {
            return Some(t.keys[i].1);
        }
    }
    None
}

/// `a == b` for equally long short keys without a `memcmp` call: eight bytes at a time.
#[inline(always)]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        if x != y {
            return false;
        }
    }
    ca.remainder() == cb.remainder()
}

/// Decodes JSON string escapes (input already validated by the scanner). Lone surrogates
/// become U+FFFD.
pub(crate) fn unescape(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    let hex4 = |at: usize| -> Option<u32> {
        let s = std::str::from_utf8(raw.get(at..at + 4)?).ok()?;
        u32::from_str_radix(s, 16).ok()
    };
    while i < raw.len() {
        if raw[i] != b'\\' || i + 1 >= raw.len() {
            out.push(raw[i]);
            i += 1;
            continue;
        }
        let c = raw[i + 1];
        i += 2;
        let ch = match c {
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let Some(hi) = hex4(i) else {
                    out.extend_from_slice(b"\\u");
                    continue;
                };
                i += 4;
                let code = if (0xD800..0xDC00).contains(&hi)
                    && raw.get(i..i + 2) == Some(b"\\u")
                    && hex4(i + 2).is_some_and(|lo| (0xDC00..0xE000).contains(&lo))
                {
                    let lo = hex4(i + 2).expect("checked above");
                    i += 6;
                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                } else {
                    hi
                };
                char::from_u32(code).unwrap_or('\u{FFFD}')
            }
            other => other as char,
        };
        let mut buf = [0u8; 4];
        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
    }
    out
}
