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

use std::borrow::Cow;
use std::collections::HashMap;

use saphyr::{Scalar, ScalarStyle, Tag};
use saphyr_parser::{Event, Parser, ScanError, Span, SpannedEventReceiver};

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
    /// A scalar: its text as written and its resolved type.
    Scalar(String, ScalarType),
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

/// Parses every document of `text`. An empty stream gives no document.
///
/// The error is saphyr's scanner error; its marker carries the line.
pub(crate) fn parse(text: &str) -> Result<Vec<Node>, ScanError> {
    let mut builder = Builder::default();
    Parser::new_from_str(text).load(&mut builder, true)?;
    Ok(builder.docs)
}

/// An open collection while events stream in.
enum Frame {
    Seq {
        line: usize,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        line: usize,
        anchor: usize,
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
    },
}

/// Turns parser events into [`Node`]s.
#[derive(Default)]
struct Builder {
    docs: Vec<Node>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
}

impl Builder {
    /// Adds a finished node to its parent (or as a document root).
    fn insert(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
    }
}

impl<'input> SpannedEventReceiver<'input> for Builder {
    fn on_event(&mut self, ev: Event<'input>, span: Span) {
        let line = span.start.line();
        match ev {
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart(_)
            | Event::DocumentEnd => {}
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Seq {
                line,
                anchor,
                items: Vec::new(),
            }),
            Event::MappingStart(anchor, _) => self.stack.push(Frame::Map {
                line,
                anchor,
                entries: Vec::new(),
                key: None,
            }),
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match self.stack.pop() {
                    Some(Frame::Seq {
                        line,
                        anchor,
                        items,
                    }) => (
                        Node {
                            line,
                            kind: NodeKind::Seq(items),
                        },
                        anchor,
                    ),
                    Some(Frame::Map {
                        line,
                        anchor,
                        entries,
                        ..
                    }) => (
                        Node {
                            line,
                            kind: NodeKind::Map(entries),
                        },
                        anchor,
                    ),
                    // The parser balances start and end events.
                    None => return,
                };
                self.insert(node, anchor);
            }
            Event::Scalar(text, style, anchor, tag) => {
                let ty = classify(&text, style, tag.as_ref());
                let node = Node {
                    line,
                    kind: NodeKind::Scalar(text.into_owned(), ty),
                };
                self.insert(node, anchor);
            }
            Event::Alias(id) => {
                // An unknown anchor is a scanner error, so the fallback is never seen.
                let node = self.anchors.get(&id).cloned().unwrap_or(Node {
                    line,
                    kind: NodeKind::Scalar(String::new(), ScalarType::Null),
                });
                self.insert(node, 0);
            }
        }
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
mod tests {
    use super::*;

    fn map(node: &Node) -> &[(Node, Node)] {
        match &node.kind {
            NodeKind::Map(entries) => entries,
            other => panic!("not a map: {other:?}"),
        }
    }

    #[test]
    fn lines_are_one_based_and_point_at_nodes() {
        let docs = parse("# comment\nname: x\napps:\n  zendesk: { role: agent }\n").unwrap();
        assert_eq!(docs.len(), 1);
        let entries = map(&docs[0]);
        assert_eq!(entries[0].0.line, 2);
        assert_eq!(entries[1].0.line, 3);
        let apps = map(&entries[1].1);
        assert_eq!(apps[0].0.line, 4);
        assert_eq!(map(&apps[0].1)[0].1.line, 4);
    }

    #[test]
    fn duplicate_keys_are_kept() {
        let docs = parse("a: 1\na: 2\n").unwrap();
        assert_eq!(map(&docs[0]).len(), 2);
    }

    #[test]
    fn scalars_keep_their_text_and_type() {
        let docs = parse("[007, '007', 1.50, true, ~, x, \"\"]").unwrap();
        let NodeKind::Seq(items) = &docs[0].kind else {
            panic!("not a list")
        };
        let got: Vec<(String, ScalarType)> = items
            .iter()
            .map(|n| match &n.kind {
                NodeKind::Scalar(t, ty) => (t.clone(), *ty),
                other => panic!("{other:?}"),
            })
            .collect();
        use ScalarType::*;
        let want = [
            ("007", Number),
            ("007", Str),
            ("1.50", Number),
            ("true", Bool),
            ("~", Null),
            ("x", Str),
            ("", Str),
        ];
        for ((t, ty), (wt, wty)) in got.iter().zip(want) {
            assert_eq!((t.as_str(), *ty), (wt, wty));
        }
    }

    #[test]
    fn aliases_copy_the_anchored_node() {
        let docs = parse("a: &x [1, 2]\nb: *x\n").unwrap();
        let entries = map(&docs[0]);
        assert!(matches!(&entries[1].1.kind, NodeKind::Seq(items) if items.len() == 2));
    }

    #[test]
    fn empty_stream_has_no_document() {
        assert!(parse("").unwrap().is_empty());
        assert!(parse("# only a comment\n").unwrap().is_empty());
    }

    #[test]
    fn syntax_error_carries_its_line() {
        let err = parse("a: 1\nb: [1, 2\nc: 3\n").unwrap_err();
        assert!(err.marker().line() >= 2, "{err}");
    }
}
