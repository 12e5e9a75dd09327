//! The event-driven tree builder: parser events to [`Node`]s with spans, with the duplicate-key, depth and alias-expansion limits.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use super::scalar::{resolve_scalar, unsupported_tag};
use super::{Entry, MAX_DEPTH, MAX_NODES, Node, NodeValue, Span, YamlError};

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

pub(super) struct Builder<'a> {
    parser: Parser<std::str::Chars<'a>>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    nodes: usize,
    root: Option<Node>,
    documents: usize,
}

impl<'a> Builder<'a> {
    pub(super) fn new(text: &'a str) -> Self {
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
    pub(super) fn run(mut self) -> Result<Node, YamlError> {
        loop {
            let (event, mark) = self.parser.next_token().map_err(|e| {
                let mark = e.marker();
                YamlError::new(
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
                        return Err(YamlError::new(
                            Span::at(mark, 1),
                            "alias to an unknown anchor",
                        ));
                    };
                    let mut node = target.clone();
                    node.span = Span::at(mark, 1);
                    self.count(node.size, mark)?;
                    self.push(node, mark)?;
                }
                Event::Scalar(text, style, anchor, tag) => {
                    let span = scalar_span(mark, &text, style);
                    let value = resolve_scalar(text, style, tag.as_ref(), span)?;
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
                        return Err(YamlError::new(
                            Span::at(mark, 1),
                            format!("nesting deeper than {MAX_DEPTH} levels"),
                        ));
                    }
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
                        None => {
                            return Err(YamlError::new(
                                Span::at(mark, 1),
                                "unbalanced YAML structure",
                            ));
                        }
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

    /// Counts the `added` values an alias copies. Only copies count: values written
    /// out are bounded by the file's size cap, so a machine-written file as large as
    /// `tenants.lock` of 100,000 tenants (over a million values) loads, while an alias
    /// bomb (aliases of aliases, each doubling) is refused after 100,000 copies.
    fn count(&mut self, added: usize, mark: Marker) -> Result<(), YamlError> {
        self.nodes = self.nodes.saturating_add(added);
        if self.nodes > MAX_NODES {
            return Err(YamlError {
                span: Span::at(mark, 1),
                message: format!(
                    "this document's aliases expand to more than {MAX_NODES} values"
                ),
                help: Some(
                    "this many aliased values is almost certainly an alias bomb; write values out instead of aliasing them"
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
                        return Err(YamlError::new(node.span, "a mapping key is empty or null"));
                    }
                    NodeValue::Sequence(_) | NodeValue::Mapping(_) => {
                        return Err(YamlError::new(
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
