//! A YAML tree that remembers where every node came from.
//!
//! We build our own small tree from saphyr's event API instead of using
//! `saphyr::MarkedYamlOwned` for two reasons that matter to `rules check`:
//!
//! * saphyr's mappings are hash maps, so a key written twice silently keeps
//!   only its last value — in a rule that would hide a duplicated `role:` or
//!   `target:`. Our mappings are lists of pairs, and the checker reports the
//!   duplicate.
//! * we keep each scalar's text as written (`007`, `1.50`), so a number in a
//!   rule compares against an employee value by the string the author typed,
//!   while still knowing whether the scalar was a string, number, bool or null.
//!
//! A rules directory may be written by anyone who can commit to a ConfigMap,
//! so parsing works within a budget ([`MAX_FILE_BYTES`], [`MAX_DEPTH`],
//! [`MAX_COPIED_NODES`]): a hostile or mistaken file is a problem on a line,
//! never an engine out of memory or stack.

use std::borrow::Cow;
use std::collections::HashMap;
use std::rc::Rc;

use saphyr::{Scalar, ScalarStyle, Tag};
use saphyr_parser::{Event, Parser, ScanError, Span};

mod unclosed;

/// Largest rule file read, in bytes (1 MiB). Rule files are hand-written and
/// a few kilobytes; the limit bounds what one file can make us read and
/// hold, and matches what a Kubernetes ConfigMap can carry.
pub const MAX_FILE_BYTES: usize = 1 << 20;

/// Deepest nesting of lists and mappings in a rule file. The deepest honest
/// rule is a handful of `all`/`any`/`not` levels; the limit keeps every
/// recursive walk of the tree (checks, compilation, drop) far from the
/// stack's end, including on the engine's own thread.
pub(crate) const MAX_DEPTH: usize = 64;

/// Most nodes that anchors and aliases may copy in one file.
///
/// Aliases are kept, not refused, because one anchored target or app list
/// shared by several rules is a fair use; but each alias is a full copy of
/// its anchored node, and aliases of aliases multiply: ten levels of ten
/// aliases each, a file of a few hundred bytes, expand to 10^10 nodes.
/// Counting every copy (each anchored node is copied once to be remembered,
/// and once per alias) against a fixed budget stops that before it
/// allocates; 10,000 nodes is a shared target of a dozen nodes used by
/// several hundred rules, and under a megabyte.
pub(crate) const MAX_COPIED_NODES: usize = 10_000;

/// What a scalar resolved to under the YAML 1.2 core schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScalarType {
    /// `~`, `null` or an empty value.
    Null,
    /// `true` / `false`.
    Bool,
    /// An integer or a float.
    Number,
    /// Anything else, and every quoted scalar.
    Str,
}

/// The content of a node.
#[derive(Debug, Clone)]
pub(crate) enum NodeKind {
    /// A scalar: its text as written (shared, so an alias of a long scalar
    /// copies a pointer, not the text) and its resolved type.
    Scalar(Rc<str>, ScalarType),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in document order, duplicates kept.
    Map(Vec<(Node, Node)>),
}

/// A YAML node and the 1-based line where it starts.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// 1-based line of the node's first character.
    pub line: usize,
    /// What the node holds.
    pub kind: NodeKind,
}

impl Node {
    /// The text of a scalar of type string.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar(text, ScalarType::Str) => Some(text),
            _ => None,
        }
    }

    /// Whether this is a null scalar.
    pub(crate) fn is_null(&self) -> bool {
        matches!(self.kind, NodeKind::Scalar(_, ScalarType::Null))
    }

    /// Short description for "found …" in messages, naming scalar values.
    pub(crate) fn describe(&self) -> String {
        match &self.kind {
            NodeKind::Scalar(_, ScalarType::Null) => "null".to_string(),
            NodeKind::Scalar(text, ScalarType::Bool) => format!("a boolean ({text})"),
            NodeKind::Scalar(text, ScalarType::Number) => format!("a number ({text})"),
            NodeKind::Scalar(text, ScalarType::Str) => format!("a string ({text:?})"),
            NodeKind::Seq(_) => "a list".to_string(),
            NodeKind::Map(_) => "a mapping".to_string(),
        }
    }
}

/// Why a file gave no tree: a syntax error or a budget exceeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct YamlError {
    /// 1-based line to report; 0 for the whole file (its size).
    pub line: usize,
    /// The complete problem message.
    pub message: String,
}

/// The message for a rule file of `bytes` bytes, over [`MAX_FILE_BYTES`];
/// shared by the directory reader, which stops reading at the limit.
pub(crate) fn too_large(bytes: u64) -> String {
    format!(
        "the rule file is {bytes} bytes, over the limit of {MAX_FILE_BYTES} bytes (1 MiB) \
         for one rule file; split it into several files"
    )
}

/// Parses every document of `text` within the budget. An empty stream gives
/// no document. Stops at the first syntax error or exceeded limit.
pub(crate) fn parse(text: &str) -> Result<Vec<Node>, YamlError> {
    if text.len() > MAX_FILE_BYTES {
        return Err(YamlError {
            line: 0,
            message: too_large(text.len() as u64),
        });
    }
    let mut builder = Builder::default();
    // Pulling events (rather than `Parser::load`, which recurses once per
    // nesting level) lets the builder stop at the first exceeded limit.
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|err| syntax_error(text, &err))?;
        builder.event(event, span)?;
    }
    Ok(builder.docs)
}

/// A scanner error as a problem. When a flow collection or quoted string
/// begun before the error is never closed, the scanner notices only lines
/// later; the problem then points at where it began and keeps the
/// scanner's words as context.
fn syntax_error(text: &str, err: &ScanError) -> YamlError {
    let at = err.marker();
    // saphyr's columns are 0-based; people count from 1.
    let (line, column) = (at.line(), at.col() + 1);
    match unclosed::find(text, (line, column)) {
        Some(open) => YamlError {
            line: open.line,
            message: format!(
                "yaml syntax error: the {} opened at line {}, column {} is never closed \
                 (YAML: {} at line {line} column {column})",
                open.what,
                open.line,
                open.column,
                err.info()
            ),
        },
        None => YamlError {
            line,
            message: format!("yaml syntax error: {}", err.info()),
        },
    }
}

/// Size of a finished node: how many nodes it holds (itself included) and
/// how many collections deep it goes (0 for a scalar).
#[derive(Debug, Clone, Copy, Default)]
struct Extent {
    nodes: usize,
    height: usize,
}

impl Extent {
    /// The extent of a collection holding children of extent `inner`.
    fn around(inner: Extent) -> Extent {
        Extent {
            nodes: inner.nodes + 1,
            height: inner.height + 1,
        }
    }

    /// Adds a child: nodes add up, height is the tallest child's.
    fn add(&mut self, child: Extent) {
        self.nodes += child.nodes;
        self.height = self.height.max(child.height);
    }
}

/// An open collection while events stream in.
struct Frame {
    line: usize,
    anchor: usize,
    /// What the children hold so far.
    inner: Extent,
    content: Content,
}

/// The children of an open collection.
enum Content {
    Seq(Vec<Node>),
    Map {
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
    },
}

/// Turns parser events into [`Node`]s, within the budget.
#[derive(Default)]
struct Builder {
    docs: Vec<Node>,
    stack: Vec<Frame>,
    /// Each anchored node, remembered for its aliases, with its extent.
    anchors: HashMap<usize, (Node, Extent)>,
    /// Nodes copied so far by anchors and aliases (see [`MAX_COPIED_NODES`]).
    copied: usize,
}

impl Builder {
    /// Takes one parser event.
    fn event(&mut self, ev: Event<'_>, span: Span) -> Result<(), YamlError> {
        let line = span.start.line();
        match ev {
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart(_)
            | Event::DocumentEnd => Ok(()),
            Event::SequenceStart(anchor, _) => self.open(line, anchor, Content::Seq(Vec::new())),
            Event::MappingStart(anchor, _) => self.open(
                line,
                anchor,
                Content::Map {
                    entries: Vec::new(),
                    key: None,
                },
            ),
            Event::SequenceEnd | Event::MappingEnd => {
                // The parser balances start and end events.
                let Some(frame) = self.stack.pop() else {
                    return Ok(());
                };
                let kind = match frame.content {
                    Content::Seq(items) => NodeKind::Seq(items),
                    Content::Map { entries, .. } => NodeKind::Map(entries),
                };
                let node = Node {
                    line: frame.line,
                    kind,
                };
                self.insert(node, Extent::around(frame.inner), frame.anchor)
            }
            Event::Scalar(text, style, anchor, tag) => {
                let ty = classify(&text, style, tag.as_ref());
                let node = Node {
                    line,
                    kind: NodeKind::Scalar(Rc::from(text.as_ref()), ty),
                };
                let extent = Extent {
                    nodes: 1,
                    height: 0,
                };
                self.insert(node, extent, anchor)
            }
            Event::Alias(id) => {
                // An unknown anchor is a scanner error, so the fallback is never seen.
                let Some((node, extent)) = self.anchors.get(&id) else {
                    return Ok(());
                };
                spend(&mut self.copied, extent.nodes, line)?;
                if self.stack.len() + extent.height > MAX_DEPTH {
                    return Err(too_deep(line));
                }
                let (node, extent) = (node.clone(), *extent);
                self.insert(node, extent, 0)
            }
        }
    }

    /// Opens a collection, one level deeper.
    fn open(&mut self, line: usize, anchor: usize, content: Content) -> Result<(), YamlError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(too_deep(line));
        }
        self.stack.push(Frame {
            line,
            anchor,
            inner: Extent::default(),
            content,
        });
        Ok(())
    }

    /// Adds a finished node to its parent (or as a document root), and
    /// remembers it when anchored.
    fn insert(&mut self, node: Node, extent: Extent, anchor: usize) -> Result<(), YamlError> {
        if anchor > 0 {
            spend(&mut self.copied, extent.nodes, node.line)?;
            self.anchors.insert(anchor, (node.clone(), extent));
        }
        let Some(parent) = self.stack.last_mut() else {
            self.docs.push(node);
            return Ok(());
        };
        parent.inner.add(extent);
        match &mut parent.content {
            Content::Seq(items) => items.push(node),
            Content::Map { entries, key } => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
        Ok(())
    }
}

/// Counts into `copied` the `nodes` about to be copied for an anchor or alias at `line`,
/// refusing before the copy is made when the budget would be exceeded.
fn spend(copied: &mut usize, nodes: usize, line: usize) -> Result<(), YamlError> {
    *copied = copied.saturating_add(nodes);
    if *copied > MAX_COPIED_NODES {
        return Err(YamlError {
            line,
            message: format!(
                "YAML anchors and aliases copy more than {MAX_COPIED_NODES} nodes, the limit \
                 for one rule file: each alias is a full copy of its anchored node, so \
                 aliases of aliases multiply; keep anchors for small shared parts, such as \
                 one target used by several rules"
            ),
        });
    }
    Ok(())
}

/// The problem for a list or mapping nested deeper than [`MAX_DEPTH`].
fn too_deep(line: usize) -> YamlError {
    YamlError {
        line,
        message: format!(
            "lists and mappings are nested more than {MAX_DEPTH} levels deep, the limit for a \
             rule file"
        ),
    }
}

/// Resolves a scalar's type the way saphyr itself does (core schema, quoted = string).
fn classify(text: &str, style: ScalarStyle, tag: Option<&Cow<'_, Tag>>) -> ScalarType {
    match Scalar::parse_from_cow_and_metadata(Cow::Borrowed(text), style, tag) {
        Some(Scalar::Null) => ScalarType::Null,
        Some(Scalar::Boolean(_)) => ScalarType::Bool,
        Some(Scalar::Integer(_) | Scalar::FloatingPoint(_)) => ScalarType::Number,
        // A tag that does not fit its text (`!!int abc`): keep the text as a string.
        Some(Scalar::String(_)) | None => ScalarType::Str,
    }
}

#[cfg(test)]
pub(crate) mod tests;
