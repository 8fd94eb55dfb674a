//! JSON patterns `{ $.a.b[0] = "x" && ($.c > 5 || $.d NOT EXISTS) }`: parser and evaluator.
//!
//! Invariants: `&&` binds tighter than `||`, parentheses group (documented order
//! `( ) > && > ||`); every condition refers to a slot of the pattern's own [`Trie`], whose
//! slot `i` is `selectors[i]`. An event that is not JSON matches no JSON pattern.

use crate::cursor::Cursor;
use crate::literal::{compare, parse_literal, Literal, Op};
use crate::scan::{unescape, Node, Selector, Step, Trie};
use crate::ParseError;

/// A boolean expression over conditions.
#[derive(Debug, Clone)]
pub(crate) enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Cond(Cond),
}

/// `selector <test>`.
#[derive(Debug, Clone)]
pub(crate) struct Cond {
    pub(crate) slot: u32,
    pub(crate) test: Test,
}

/// What a condition checks about the selected node.
#[derive(Debug, Clone)]
pub(crate) enum Test {
    Compare(Op, Literal),
    /// `= "text"` / `!= "text"` without wildcards (fast path of `Compare`; `negate` for `!=`).
    Exact {
        negate: bool,
        text: Box<[u8]>,
    },
    /// Several `= "text"` on one selector joined by `||` (CIS event-name lists).
    AnyOf(Vec<Box<[u8]>>),
    IsNull,
    NotExists,
    IsTrue,
    IsFalse,
}

/// A parsed JSON pattern with its own selector trie.
#[derive(Debug, Clone)]
pub(crate) struct JsonPattern {
    pub(crate) expr: Expr,
    pub(crate) selectors: Vec<Selector>,
    pub(crate) trie: Trie,
}

impl JsonPattern {
    /// Parses a pattern whose first non-blank character (at `open`) is `{`.
    pub(crate) fn parse(src: &str, open: usize, regexes: &mut usize) -> Result<Self, ParseError> {
        let mut parser = Parser {
            cur: Cursor::new(src, open + 1),
            trie: Trie::new(),
            selectors: Vec::new(),
            regexes,
        };
        let expr = parser.or()?;
        let cur = &mut parser.cur;
        cur.skip_ws();
        if !cur.eat("}") {
            return Err(cur.err(format!(
                "expected `&&`, `||` or `}}`, found {}",
                cur.found()
            )));
        }
        cur.skip_ws();
        if !cur.at_end() {
            return Err(cur.err(format!("unexpected {} after the closing `}}`", cur.found())));
        }
        Ok(JsonPattern {
            expr: expr.simplify(),
            selectors: parser.selectors,
            trie: parser.trie,
        })
    }

    /// Evaluates against an event; false when the event is not JSON (D12).
    pub(crate) fn matches(&self, event: &[u8]) -> bool {
        let n = self.trie.slot_count();
        let mut stack = [Node::Missing; 16];
        let mut heap = Vec::new();
        let slots: &mut [Node<'_>] = if n <= stack.len() {
            &mut stack[..n]
        } else {
            heap.resize(n, Node::Missing);
            &mut heap
        };
        self.trie.scan(event, slots) && eval(&self.expr, slots)
    }
}

impl Expr {
    /// The same expression with slot `s` renamed to `map[s]` (for shared tries).
    pub(crate) fn remap(&self, map: &[u32]) -> Expr {
        match self {
            Expr::And(v) => Expr::And(v.iter().map(|e| e.remap(map)).collect()),
            Expr::Or(v) => Expr::Or(v.iter().map(|e| e.remap(map)).collect()),
            Expr::Cond(c) => Expr::Cond(Cond {
                slot: map[c.slot as usize],
                test: c.test.clone(),
            }),
        }
    }

    /// Flattens nested `&&`/`||` and merges `||`-joined exact equalities on one selector into
    /// [`Test::AnyOf`]. Pure boolean rewriting: the result evaluates identically.
    fn simplify(self) -> Expr {
        match self {
            Expr::Cond(c) => Expr::Cond(c),
            Expr::And(v) => {
                let mut out = Vec::new();
                for e in v.into_iter().map(Expr::simplify) {
                    match e {
                        Expr::And(inner) => out.extend(inner),
                        e => out.push(e),
                    }
                }
                Expr::And(out)
            }
            Expr::Or(v) => {
                let mut flat = Vec::new();
                for e in v.into_iter().map(Expr::simplify) {
                    match e {
                        Expr::Or(inner) => flat.extend(inner),
                        e => flat.push(e),
                    }
                }
                let mut out: Vec<Expr> = Vec::new();
                for e in flat {
                    if let Expr::Cond(Cond {
                        slot,
                        test:
                            Test::Exact {
                                negate: false,
                                text,
                            },
                    }) = &e
                    {
                        let merged = out.iter_mut().find_map(|o| match o {
                            Expr::Cond(Cond {
                                slot: s,
                                test: Test::AnyOf(texts),
                            }) if s == slot => Some(texts),
                            _ => None,
                        });
                        if let Some(texts) = merged {
                            texts.push(text.clone());
                        } else {
                            out.push(Expr::Cond(Cond {
                                slot: *slot,
                                test: Test::AnyOf(vec![text.clone()]),
                            }));
                        }
                    } else {
                        out.push(e);
                    }
                }
                if out.len() == 1 {
                    out.remove(0)
                } else {
                    Expr::Or(out)
                }
            }
        }
    }
}

/// Whether the node's text equals `text`: `None` for missing/object/array, `Some(false)` for null.
#[inline]
fn text_eq(n: Node<'_>, text: &[u8]) -> Option<bool> {
    Some(match n {
        Node::Str {
            raw,
            escaped: false,
        }
        | Node::Number(raw) => raw == text,
        Node::Str { raw, escaped: true } => unescape(raw) == text,
        Node::Bool(true) => text == b"true",
        Node::Bool(false) => text == b"false",
        Node::Null => false,
        Node::Missing | Node::Object | Node::Array => return None,
    })
}

/// Evaluates `expr` with `slots[s]` giving what each selector resolved to.
pub(crate) fn eval(expr: &Expr, slots: &[Node<'_>]) -> bool {
    match expr {
        Expr::And(all) => all.iter().all(|e| eval(e, slots)),
        Expr::Or(any) => any.iter().any(|e| eval(e, slots)),
        Expr::Cond(Cond { slot, test }) => {
            let n = slots[*slot as usize];
            match test {
                Test::Exact { negate, text } => text_eq(n, text).is_some_and(|eq| eq != *negate),
                Test::AnyOf(texts) => texts.iter().any(|t| text_eq(n, t) == Some(true)),
                Test::Compare(op, lit) => compare(n.scalar().as_ref(), *op, lit),
                Test::IsNull => n == Node::Null,
                Test::NotExists => n == Node::Missing,
                Test::IsTrue => n == Node::Bool(true),
                Test::IsFalse => n == Node::Bool(false),
            }
        }
    }
}

struct Parser<'a, 'c> {
    cur: Cursor<'a>,
    trie: Trie,
    selectors: Vec<Selector>,
    regexes: &'c mut usize,
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

impl Parser<'_, '_> {
    fn or(&mut self) -> Result<Expr, ParseError> {
        let mut items = vec![self.and()?];
        loop {
            self.cur.skip_ws();
            if self.cur.eat("||") {
                items.push(self.and()?);
            } else {
                break;
            }
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::Or(items)
        })
    }

    fn and(&mut self) -> Result<Expr, ParseError> {
        let mut items = vec![self.primary()?];
        loop {
            self.cur.skip_ws();
            if self.cur.eat("&&") {
                items.push(self.primary()?);
            } else {
                break;
            }
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::And(items)
        })
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        self.cur.skip_ws();
        match self.cur.peek() {
            Some('(') => {
                self.cur.bump();
                let inner = self.or()?;
                self.cur.skip_ws();
                if !self.cur.eat(")") {
                    let found = self.cur.found();
                    return Err(self
                        .cur
                        .err(format!("expected `)`, `&&` or `||`, found {found}")));
                }
                Ok(inner)
            }
            Some('$') => self.condition(),
            _ => {
                let found = self.cur.found();
                Err(self
                    .cur
                    .err(format!("expected a `$` selector or `(`, found {found}")))
            }
        }
    }

    fn condition(&mut self) -> Result<Expr, ParseError> {
        let selector = parse_selector(&mut self.cur)?;
        let slot = self.trie.insert(&selector);
        if slot as usize == self.selectors.len() {
            self.selectors.push(selector);
        }
        self.cur.skip_ws();
        let kw = self.cur.pos;
        let test = if self.keyword("IS") {
            self.cur.skip_ws();
            if self.keyword("NULL") {
                Test::IsNull
            } else if self.keyword("TRUE") {
                Test::IsTrue
            } else if self.keyword("FALSE") {
                Test::IsFalse
            } else {
                let found = self.cur.found();
                return Err(self.cur.err(format!(
                    "expected NULL, TRUE or FALSE after IS, found {found} (IS NOT is not supported)"
                )));
            }
        } else if self.keyword("NOT") {
            self.cur.skip_ws();
            if !self.keyword("EXISTS") {
                let found = self.cur.found();
                return Err(self
                    .cur
                    .err(format!("expected EXISTS after NOT, found {found}")));
            }
            Test::NotExists
        } else if self.keyword("EXISTS") {
            return Err(self
                .cur
                .err_at(kw, "EXISTS is not supported; use `= \"*\"`"));
        } else {
            let Some(op) = Op::parse(&mut self.cur) else {
                let found = self.cur.found();
                return Err(self.cur.err(format!(
                    "expected an operator (=, !=, <, >, <=, >=), IS or NOT EXISTS after the selector, found {found}"
                )));
            };
            self.cur.skip_ws();
            match parse_literal(&mut self.cur, op, self.regexes)? {
                Literal::Text(glob) if matches!(op, Op::Eq | Op::Ne) && glob.exact().is_some() => {
                    let text = glob.exact().expect("checked").into();
                    Test::Exact {
                        negate: op == Op::Ne,
                        text,
                    }
                }
                lit => Test::Compare(op, lit),
            }
        };
        Ok(Expr::Cond(Cond { slot, test }))
    }

    /// Eats an upper-case keyword when it is followed by a non-name character.
    fn keyword(&mut self, kw: &str) -> bool {
        let rest = self.cur.rest();
        if rest.starts_with(kw) && !rest[kw.len()..].chars().next().is_some_and(is_name_char) {
            self.cur.pos += kw.len();
            true
        } else {
            false
        }
    }
}

/// Parses `$` followed by `.name` / `[index]` steps at the cursor.
pub(crate) fn parse_selector(cur: &mut Cursor<'_>) -> Result<Selector, ParseError> {
    if !cur.eat("$") {
        return Err(cur.err(format!("expected a `$` selector, found {}", cur.found())));
    }
    let mut steps = Vec::new();
    loop {
        let at = cur.pos;
        match cur.peek() {
            Some('.') => {
                cur.bump();
                if cur.peek() == Some('*') {
                    return Err(cur.err("wildcard selectors (`.*`) are not supported"));
                }
                let start = cur.pos;
                while cur.peek().is_some_and(is_name_char) {
                    cur.bump();
                }
                if cur.pos == start {
                    return Err(cur.err(format!(
                        "expected a property name (letters, digits, `_`, `-`) after `.`, found {}",
                        cur.found()
                    )));
                }
                steps.push(Step::Key(cur.src[start..cur.pos].into()));
            }
            Some('[') => {
                cur.bump();
                if cur.peek() == Some('*') {
                    return Err(cur.err("array wildcards (`[*]`) are not supported"));
                }
                let start = cur.pos;
                while cur.peek().is_some_and(|c| c.is_ascii_digit()) {
                    cur.bump();
                }
                let digits = &cur.src[start..cur.pos];
                if digits.is_empty() {
                    return Err(cur.err(format!("expected an array index, found {}", cur.found())));
                }
                let index: u32 = digits
                    .parse()
                    .map_err(|_| cur.err_at(start, "array index is too large"))?;
                if !cur.eat("]") {
                    return Err(cur.err(format!("expected `]`, found {}", cur.found())));
                }
                steps.push(Step::Index(index));
            }
            _ if steps.is_empty() => {
                return Err(cur.err_at(
                    at,
                    format!("expected `.` or `[` after `$`, found {}", cur.found()),
                ))
            }
            _ => return Ok(Selector { steps }),
        }
    }
}
