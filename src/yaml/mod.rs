//! Position-keeping YAML loading: one document into a [`Node`] tree whose every value knows its line and column.
//!
//! serde-based YAML crates forget where a value came from; tenantops needs the position
//! of every key and value to point diagnostics into the user's file. This module drives
//! `yaml-rust2`'s event parser itself and builds a small tree with spans, refusing what a
//! manifest never needs and what makes loaders misbehave: duplicate keys, non-scalar
//! keys, unknown tags, several documents, nesting deeper than [`MAX_DEPTH`], and alias
//! expansion beyond [`MAX_NODES`] (the "billion laughs" bomb).
//!
//! Scalars are resolved with the YAML 1.2 core schema (`yes` is a string, not `true`).

use std::fmt;

use serde_json::{Map, Number, Value};
use yaml_rust2::scanner::Marker;

mod builder;
mod scalar;

use builder::Builder;
pub use scalar::needs_quotes;

/// Deepest nesting of mappings and sequences a manifest may use.
pub const MAX_DEPTH: usize = 64;
/// Most values one document's aliases may copy (values written out are bounded by
/// the size cap of the file instead).
pub const MAX_NODES: usize = 100_000;

/// A position in a source file: 1-based line, 1-based column in characters, and the
/// length in characters of the token to underline (at least 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Span {
    pub line: usize,
    pub col: usize,
    pub len: usize,
}

impl Span {
    #[must_use]
    pub fn new(line: usize, col: usize, len: usize) -> Self {
        Span {
            line: line.max(1),
            col: col.max(1),
            len: len.max(1),
        }
    }

    fn at(mark: Marker, len: usize) -> Self {
        Span::new(mark.line(), mark.col() + 1, len)
    }
}

/// One YAML value with where it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub span: Span,
    pub value: NodeValue,
    /// Nodes in this subtree, itself included (aliases counted as expanded).
    size: usize,
}

/// The shape of a [`Node`].
#[derive(Clone, Debug, PartialEq)]
pub enum NodeValue {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Sequence(Vec<Node>),
    Mapping(Vec<Entry>),
}

/// A mapping entry: its key (always a string here) with the key's span, and its value.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_span: Span,
    pub value: Node,
}

/// Why a document could not be loaded, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YamlError {
    pub span: Span,
    pub message: String,
    pub help: Option<String>,
}

impl YamlError {
    /// A problem at `span`, without help.
    pub(crate) fn new(span: Span, message: impl Into<String>) -> Self {
        YamlError {
            span,
            message: message.into(),
            help: None,
        }
    }
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.span.line, self.span.col, self.message)
    }
}

/// The unescaped tokens of a JSON pointer (`/a~1b/0` → `a/b`, `0`).
pub fn pointer_tokens(pointer: &str) -> impl Iterator<Item = String> + '_ {
    pointer
        .split('/')
        .skip(1)
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
}

/// `key` escaped as one JSON pointer token (`a/b` → `a~1b`).
#[must_use]
pub fn pointer_token(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

impl Node {
    /// A null at the start of a document: the tree of a text that does not parse.
    #[must_use]
    pub fn null() -> Node {
        Node {
            span: Span::new(1, 1, 0),
            value: NodeValue::Null,
            size: 1,
        }
    }

    /// The kind of value, as a user would name it in a message.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self.value {
            NodeValue::Null => "null",
            NodeValue::Bool(_) => "a boolean",
            NodeValue::Number(_) => "a number",
            NodeValue::String(_) => "a string",
            NodeValue::Sequence(_) => "a sequence",
            NodeValue::Mapping(_) => "a mapping",
        }
    }

    /// The value at `pointer` (a JSON pointer such as `/overrides/desired_count`).
    #[must_use]
    pub fn at_pointer(&self, pointer: &str) -> Option<&Node> {
        let mut node = self;
        for token in pointer_tokens(pointer) {
            node = match &node.value {
                NodeValue::Mapping(entries) => &entries.iter().find(|e| e.key == token)?.value,
                NodeValue::Sequence(items) => items.get(token.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(node)
    }

    /// The mapping entry named `key` at `pointer`, for pointing at a key rather than its value.
    #[must_use]
    pub fn entry_at(&self, pointer: &str, key: &str) -> Option<&Entry> {
        match &self.at_pointer(pointer)?.value {
            NodeValue::Mapping(entries) => entries.iter().find(|e| e.key == key),
            _ => None,
        }
    }

    /// The best span for a diagnostic about `pointer`: the value if it exists, else the
    /// deepest existing ancestor.
    #[must_use]
    pub fn span_of(&self, pointer: &str) -> Span {
        let mut current = pointer;
        loop {
            if let Some(node) = self.at_pointer(current) {
                return node.span;
            }
            match current.rfind('/') {
                Some(cut) => current = &current[..cut],
                None => return self.span,
            }
        }
    }

    /// The span of the key holding `pointer`'s value (falls back to [`Node::span_of`]).
    #[must_use]
    pub fn key_span_of(&self, pointer: &str) -> Span {
        if let Some(cut) = pointer.rfind('/') {
            let key = pointer_tokens(&pointer[cut..]).next().unwrap_or_default();
            if let Some(entry) = self.entry_at(&pointer[..cut], &key) {
                return entry.key_span;
            }
        }
        self.span_of(pointer)
    }

    /// This node as a JSON value (what the JSON Schemas and serde see).
    #[must_use]
    pub fn to_json(&self) -> Value {
        match &self.value {
            NodeValue::Null => Value::Null,
            NodeValue::Bool(b) => Value::Bool(*b),
            NodeValue::Number(n) => Value::Number(n.clone()),
            NodeValue::String(s) => Value::String(s.clone()),
            NodeValue::Sequence(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeValue::Mapping(entries) => {
                let mut map = Map::with_capacity(entries.len());
                for entry in entries {
                    map.insert(entry.key.clone(), entry.value.to_json());
                }
                Value::Object(map)
            }
        }
    }
}

/// Parses `text` as a single YAML document. An empty document (nothing but comments)
/// loads as a null node at line 1.
///
/// # Errors
/// Returns the first syntax or structure problem, located.
pub fn parse(text: &str) -> Result<Node, YamlError> {
    if let Some(e) = unprintable(text) {
        return Err(e);
    }
    // yaml-rust2 is not known to panic on any input, but a manifest must never crash
    // the tool: a panic inside the parser becomes an ordinary located error.
    let outcome = std::panic::catch_unwind(|| Builder::new(text).run());
    outcome.unwrap_or_else(|_| {
        Err(YamlError {
            span: Span::new(1, 1, 1),
            message: "the YAML parser failed on this file".to_owned(),
            help: Some("simplify the file; this is a bug worth reporting".to_owned()),
        })
    })
}

/// The first character YAML does not allow in a stream (YAML 1.2.2 §5.1,
/// `c-printable`: tab, line feed, carriage return, and printable characters; no other
/// C0 or C1 control, no DEL, no U+FFFE/U+FFFF). yaml-rust2 ends the document at a NUL
/// without an error, so a manifest with one was read up to it and the rest ignored.
fn unprintable(text: &str) -> Option<YamlError> {
    let allowed = |c: char| {
        matches!(c, '\t' | '\n' | '\r' | '\u{85}')
            || (' '..='~').contains(&c)
            || ('\u{a0}'..='\u{fffd}').contains(&c)
            || c >= '\u{10000}'
    };
    if text
        .bytes()
        .all(|b| (0x20..0x7f).contains(&b) || b == b'\n' || b == b'\t' || b == b'\r')
    {
        return None;
    }
    let (line, col, c) = text.lines().enumerate().find_map(|(i, line)| {
        line.chars()
            .position(|c| !allowed(c))
            .map(|col| (i + 1, col + 1, line.chars().nth(col).unwrap_or_default()))
    })?;
    let what = if c == '\0' {
        "a NUL character (U+0000)".to_owned()
    } else {
        format!("the control character U+{:04X}", u32::from(c))
    };
    Some(YamlError {
        span: Span::new(line, col, 1),
        message: format!("the file holds {what}, which YAML does not allow"),
        help: Some(
            "remove it (a bad copy or an encoding slip puts such characters in); YAML would read the file only up to it".to_owned(),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_yaml_does_not_allow_are_located_not_read_past() {
        let e = parse("id: wayne\nname: W\0ayne\ntier: basic\n").expect_err("NUL");
        assert_eq!((e.span.line, e.span.col), (2, 8), "{}", e.message);
        assert!(e.message.contains("NUL"), "{}", e.message);
        let e = parse("id: a\x1b[31m\n").expect_err("ESC");
        assert!(e.message.contains("U+001B"), "{}", e.message);
        // Tabs, CRLF, a BOM and non-ASCII letters are fine.
        parse("\u{feff}id: a\r\nname: Ünïcødé\t# x\r\n").expect("printable");
    }

    #[test]
    fn ids_need_quotes_only_when_yaml_would_read_them_as_something_else() {
        for (text, quote) in [
            ("acme", false),
            ("t-00006", false),
            ("a1e3", false),
            ("nullish", false),
            ("null", true),
            ("true", true),
            ("false", true),
            ("Null", true),
            ("1e3", true),
            ("0x1f", true),
            ("-1", true),
            ("a b", false),
            ("a:b", true),
            ("", true),
        ] {
            assert_eq!(needs_quotes(text), quote, "{text:?}");
        }
    }
    use std::fmt::Write as _;

    fn json(text: &str) -> Value {
        parse(text).unwrap().to_json()
    }

    #[test]
    fn core_schema_scalars() {
        assert_eq!(
            json("a: yes\nb: true\nc: 010\nd: 1.5\ne: ~\nf: '1'\ng: 0x1f\nh: 1e3\ni: .5\n"),
            serde_json::json!({"a":"yes","b":true,"c":10,"d":1.5,"e":null,"f":"1","g":31,"h":1000.0,"i":0.5})
        );
    }

    #[test]
    fn spans_point_at_values() {
        let node = parse("id: acme\ntier:  premium\n").unwrap();
        assert_eq!(node.span_of("/tier"), Span::new(2, 8, 7));
        assert_eq!(node.key_span_of("/tier"), Span::new(2, 1, 4));
        assert_eq!(node.span_of("/missing/deeper"), node.span);
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let err = parse("id: a\ntier: b\nid: c\n").unwrap_err();
        assert_eq!(err.span, Span::new(3, 1, 2));
        assert!(err.message.contains("duplicate key `id`"), "{err}");
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            let _ = writeln!(
                text,
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]"
            );
        }
        let err = parse(&text).unwrap_err();
        assert!(err.message.contains("aliases expand to more than"), "{err}");
    }

    #[test]
    fn small_aliases_expand() {
        assert_eq!(
            json("a: &x {k: 1}\nb: *x\n"),
            serde_json::json!({"a":{"k":1},"b":{"k":1}})
        );
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = "[".repeat(200) + &"]".repeat(200);
        assert!(parse(&text).unwrap_err().message.contains("nesting deeper"));
    }

    #[test]
    fn second_document_is_refused() {
        let err = parse("a: 1\n---\na: 2\n").unwrap_err();
        assert_eq!(err.span.line, 2);
    }

    #[test]
    fn custom_tags_are_refused() {
        assert!(parse("a: !!binary aGk=\n").is_err());
        assert!(parse("a: !custom x\n").is_err());
        assert_eq!(json("a: !!str 10\n"), serde_json::json!({"a":"10"}));
    }

    #[test]
    fn huge_integers_are_located_errors() {
        let err = parse("a: 123456789012345678901234567890\n").unwrap_err();
        assert_eq!(err.span.line, 1);
        assert!(err.message.contains("out of range"));
    }

    #[test]
    fn empty_document_is_null() {
        assert_eq!(json("# nothing\n"), Value::Null);
    }
}
