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

use std::collections::HashMap;
use std::fmt;

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Deepest nesting of mappings and sequences a manifest may use.
pub const MAX_DEPTH: usize = 64;
/// Most nodes one document may hold after aliases are expanded.
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

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.span.line, self.span.col, self.message)
    }
}

impl Node {
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
        for raw in pointer.split('/').skip(1) {
            let token = raw.replace("~1", "/").replace("~0", "~");
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
            let key = pointer[cut + 1..].replace("~1", "/").replace("~0", "~");
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

enum Frame {
    Sequence {
        span: Span,
        anchor: usize,
        items: Vec<Node>,
        size: usize,
    },
    Mapping {
        span: Span,
        anchor: usize,
        entries: Vec<Entry>,
        pending_key: Option<(String, Span)>,
        /// Keys so far and the line each was written on, to refuse duplicates.
        seen: HashMap<String, usize>,
        size: usize,
    },
}

struct Builder<'a> {
    parser: Parser<std::str::Chars<'a>>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    nodes: usize,
    root: Option<Node>,
    documents: usize,
}

fn error(span: Span, message: impl Into<String>) -> YamlError {
    YamlError {
        span,
        message: message.into(),
        help: None,
    }
}

impl<'a> Builder<'a> {
    fn new(text: &'a str) -> Self {
        Builder {
            parser: Parser::new_from_str(text),
            stack: Vec::new(),
            anchors: HashMap::new(),
            nodes: 0,
            root: None,
            documents: 0,
        }
    }

    #[allow(clippy::too_many_lines)] // one arm per parser event
    fn run(mut self) -> Result<Node, YamlError> {
        loop {
            let (event, mark) = self.parser.next_token().map_err(|e| {
                let mark = e.marker();
                error(
                    Span::at(*mark, 1),
                    format!("YAML syntax error: {}", e.info()),
                )
            })?;
            match event {
                Event::StreamEnd => break,
                Event::DocumentStart => {
                    self.documents += 1;
                    if self.documents > 1 {
                        return Err(YamlError {
                            span: Span::at(mark, 3),
                            message: "a manifest holds one YAML document, this is a second one"
                                .to_owned(),
                            help: Some(
                                "put each tenant in its own file and remove the `---` separator"
                                    .to_owned(),
                            ),
                        });
                    }
                }
                Event::Alias(id) => {
                    let Some(target) = self.anchors.get(&id) else {
                        return Err(error(Span::at(mark, 1), "alias to an unknown anchor"));
                    };
                    let mut node = target.clone();
                    node.span = Span::at(mark, 1);
                    self.count(node.size, mark)?;
                    self.push(node, mark)?;
                }
                Event::Scalar(text, style, anchor, tag) => {
                    let span = scalar_span(mark, &text, style);
                    let value = resolve_scalar(text, style, tag.as_ref(), span)?;
                    self.count(1, mark)?;
                    let node = Node {
                        span,
                        value,
                        size: 1,
                    };
                    if anchor != 0 {
                        self.anchors.insert(anchor, node.clone());
                    }
                    self.push(node, mark)?;
                }
                Event::SequenceStart(anchor, ref tag) | Event::MappingStart(anchor, ref tag) => {
                    let is_map = matches!(event, Event::MappingStart(..));
                    check_collection_tag(tag.as_ref(), is_map, mark)?;
                    if self.stack.len() >= MAX_DEPTH {
                        return Err(error(
                            Span::at(mark, 1),
                            format!("nesting deeper than {MAX_DEPTH} levels"),
                        ));
                    }
                    self.count(1, mark)?;
                    let span = Span::at(mark, 1);
                    self.stack.push(if is_map {
                        Frame::Mapping {
                            span,
                            anchor,
                            entries: Vec::new(),
                            pending_key: None,
                            seen: HashMap::new(),
                            size: 1,
                        }
                    } else {
                        Frame::Sequence {
                            span,
                            anchor,
                            items: Vec::new(),
                            size: 1,
                        }
                    });
                }
                Event::SequenceEnd | Event::MappingEnd => {
                    let node = match self.stack.pop() {
                        Some(Frame::Sequence {
                            span,
                            anchor,
                            items,
                            size,
                        }) => self.finish(span, anchor, NodeValue::Sequence(items), size),
                        Some(Frame::Mapping {
                            span,
                            anchor,
                            entries,
                            size,
                            ..
                        }) => self.finish(span, anchor, NodeValue::Mapping(entries), size),
                        None => return Err(error(Span::at(mark, 1), "unbalanced YAML structure")),
                    };
                    self.push(node, mark)?;
                }
                Event::Nothing | Event::StreamStart | Event::DocumentEnd => {}
            }
        }
        Ok(self.root.unwrap_or(Node {
            span: Span::new(1, 1, 1),
            value: NodeValue::Null,
            size: 1,
        }))
    }

    fn finish(&mut self, span: Span, anchor: usize, value: NodeValue, size: usize) -> Node {
        // A block mapping's start mark lies after its first key: point at the key.
        let span = match &value {
            NodeValue::Mapping(entries) => entries.first().map_or(span, |e| span.min(e.key_span)),
            _ => span,
        };
        let node = Node { span, value, size };
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        node
    }

    fn count(&mut self, added: usize, mark: Marker) -> Result<(), YamlError> {
        self.nodes = self.nodes.saturating_add(added);
        if self.nodes > MAX_NODES {
            return Err(YamlError {
                span: Span::at(mark, 1),
                message: format!(
                    "this document expands to more than {MAX_NODES} values (aliases are expanded)"
                ),
                help: Some(
                    "a manifest this large is almost certainly an alias bomb; write values out instead of aliasing them"
                        .to_owned(),
                ),
            });
        }
        Ok(())
    }

    fn push(&mut self, node: Node, mark: Marker) -> Result<(), YamlError> {
        match self.stack.last_mut() {
            None => {
                self.root = Some(node);
                Ok(())
            }
            Some(Frame::Sequence { items, size, .. }) => {
                *size += node.size;
                items.push(node);
                Ok(())
            }
            Some(Frame::Mapping {
                entries,
                pending_key,
                seen,
                size,
                ..
            }) => {
                *size += node.size;
                if let Some((key, key_span)) = pending_key.take() {
                    entries.push(Entry {
                        key,
                        key_span,
                        value: node,
                    });
                    return Ok(());
                }
                let key = match node.value {
                    NodeValue::String(s) => s,
                    NodeValue::Bool(b) => b.to_string(),
                    NodeValue::Number(n) => n.to_string(),
                    NodeValue::Null => {
                        return Err(error(node.span, "a mapping key is empty or null"));
                    }
                    NodeValue::Sequence(_) | NodeValue::Mapping(_) => {
                        return Err(error(
                            Span::at(mark, 1).min(node.span),
                            "mapping keys must be plain strings, not sequences or mappings",
                        ));
                    }
                };
                if let Some(first_line) = seen.insert(key.clone(), node.span.line) {
                    return Err(YamlError {
                        span: node.span,
                        message: format!(
                            "duplicate key `{key}` (first written at line {first_line})"
                        ),
                        help: Some("remove one of the two entries".to_owned()),
                    });
                }
                *pending_key = Some((key, node.span));
                Ok(())
            }
        }
    }
}

/// Whether `text` written as a plain scalar would read back as something other than
/// that string (a number, boolean or null), so it must be quoted.
#[must_use]
pub fn needs_quotes(text: &str) -> bool {
    !matches!(resolve_plain(text.to_owned(), Span::default()), Ok(NodeValue::String(s)) if s == text)
        || text.trim() != text
        || text.contains(|c: char| ":#{}[],&*!|>'\"%@`".contains(c) || c.is_control())
}

fn scalar_span(mark: Marker, text: &str, style: TScalarStyle) -> Span {
    let len = match style {
        TScalarStyle::Plain => text.lines().next().map_or(1, |l| l.chars().count()),
        TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted => {
            text.lines().next().map_or(0, |l| l.chars().count()) + 2
        }
        _ => 1,
    };
    Span::at(mark, len)
}

fn check_collection_tag(tag: Option<&Tag>, is_map: bool, mark: Marker) -> Result<(), YamlError> {
    let Some(tag) = tag else { return Ok(()) };
    let expected = if is_map { "map" } else { "seq" };
    if tag.handle == "tag:yaml.org,2002:" && tag.suffix == expected {
        return Ok(());
    }
    Err(unsupported_tag(tag, Span::at(mark, 1)))
}

fn unsupported_tag(tag: &Tag, span: Span) -> YamlError {
    YamlError {
        span,
        message: format!("unsupported YAML tag `{}{}`", tag.handle, tag.suffix),
        help: Some("manifests use plain values; remove the tag".to_owned()),
    }
}

/// Resolves one scalar with the YAML 1.2 core schema, honouring the core tags.
fn resolve_scalar(
    text: String,
    style: TScalarStyle,
    tag: Option<&Tag>,
    span: Span,
) -> Result<NodeValue, YamlError> {
    if let Some(tag) = tag {
        if tag.handle != "tag:yaml.org,2002:" {
            return Err(unsupported_tag(tag, span));
        }
        return match tag.suffix.as_str() {
            "str" => Ok(NodeValue::String(text)),
            "null" | "bool" | "int" | "float" => {
                let value = resolve_plain(text.clone(), span)?;
                let fits = matches!(
                    (tag.suffix.as_str(), &value),
                    ("null", NodeValue::Null)
                        | ("bool", NodeValue::Bool(_))
                        | ("float", NodeValue::Number(_))
                ) || (tag.suffix == "int"
                    && matches!(&value, NodeValue::Number(n) if !n.is_f64()));
                if fits {
                    Ok(value)
                } else {
                    Err(error(
                        span,
                        format!("`{text}` is not a valid `!!{}` value", tag.suffix),
                    ))
                }
            }
            _ => Err(unsupported_tag(tag, span)),
        };
    }
    if style == TScalarStyle::Plain {
        resolve_plain(text, span)
    } else {
        Ok(NodeValue::String(text))
    }
}

fn resolve_plain(text: String, span: Span) -> Result<NodeValue, YamlError> {
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return Ok(NodeValue::Null),
        "true" | "True" | "TRUE" => return Ok(NodeValue::Bool(true)),
        "false" | "False" | "FALSE" => return Ok(NodeValue::Bool(false)),
        _ => {}
    }
    match resolve_int(&text) {
        Int::Fits(number) => return Ok(NodeValue::Number(number)),
        Int::TooBig => return Err(error(span, format!("the number `{text}` is out of range"))),
        Int::Not => {}
    }
    if is_float(&text) {
        return match text.parse::<f64>().ok().and_then(Number::from_f64) {
            Some(n) => Ok(NodeValue::Number(n)),
            None => Err(error(span, format!("the number `{text}` is out of range"))),
        };
    }
    Ok(NodeValue::String(text))
}

enum Int {
    Not,
    Fits(Number),
    TooBig,
}

fn resolve_int(text: &str) -> Int {
    let (digits, radix) = if let Some(hex) = text.strip_prefix("0x") {
        (hex, 16)
    } else if let Some(oct) = text.strip_prefix("0o") {
        (oct, 8)
    } else {
        (text, 10)
    };
    let body = if radix == 10 {
        digits.strip_prefix(['-', '+']).unwrap_or(digits)
    } else {
        digits
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return Int::Not;
    }
    if let Ok(v) = i64::from_str_radix(digits, radix) {
        return Int::Fits(Number::from(v));
    }
    match u64::from_str_radix(digits.trim_start_matches('+'), radix) {
        Ok(v) => Int::Fits(Number::from(v)),
        Err(_) => Int::TooBig,
    }
}

fn is_float(text: &str) -> bool {
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(cut) => (&body[..cut], Some(&body[cut + 1..])),
        None => (body, None),
    };
    let (int, frac) = match mantissa.find('.') {
        Some(cut) => (&mantissa[..cut], Some(&mantissa[cut + 1..])),
        None => (mantissa, None),
    };
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    let mantissa_ok = match frac {
        Some(f) => digits(int) && digits(f) && !(int.is_empty() && f.is_empty()),
        None => !int.is_empty() && digits(int),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exponent_ok && (frac.is_some() || exponent.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
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
        assert!(err.message.contains("expands to more than"), "{err}");
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
