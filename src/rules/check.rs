//! Shape checks on the marked YAML tree: "is this a mapping with these
//! keys", "is this a string". Each reports what it finds wrong and returns
//! `None`, so callers can keep walking and collect every problem.

use super::problem::{list, Problems};
use super::yaml::{Node, NodeKind, ScalarType};

/// The string-keyed entries of a mapping, after unknown and duplicate keys
/// were reported. Keeps each key's line for messages about that key.
pub(crate) struct Entries<'n> {
    /// The mapping's own line (for "missing key" problems).
    pub line: usize,
    entries: Vec<(&'n str, &'n Node, &'n Node)>,
}

impl<'n> Entries<'n> {
    /// The value of `key`, if present.
    pub(crate) fn get(&self, key: &str) -> Option<&'n Node> {
        self.entry(key).map(|(_, value)| value)
    }

    /// The key node and value of `key`, if present.
    pub(crate) fn entry(&self, key: &str) -> Option<(&'n Node, &'n Node)> {
        self.entries
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, k, v)| (*k, *v))
    }

    /// Whether `key` is present.
    pub(crate) fn has(&self, key: &str) -> bool {
        self.entry(key).is_some()
    }

    /// All entries in document order: (key, key node, value).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&'n str, &'n Node, &'n Node)> + '_ {
        self.entries.iter().copied()
    }

    /// The value of a required `key`; reports it missing from `what` otherwise.
    pub(crate) fn require(&self, p: &mut Problems<'_>, key: &str, what: &str) -> Option<&'n Node> {
        let value = self.get(key);
        if value.is_none() {
            p.report(self.line, format!("missing required key `{key}` in {what}"));
        }
        value
    }
}

/// Reads `node` as a mapping with string keys.
///
/// Reports a non-mapping, non-string keys, keys given twice and — when
/// `allowed` is given — keys not in it (listing the valid ones). Bad keys are
/// left out of the result; the mapping is still returned so its good parts
/// can be checked too.
pub(crate) fn mapping<'n>(
    p: &mut Problems<'_>,
    node: &'n Node,
    what: &str,
    allowed: Option<&[&str]>,
) -> Option<Entries<'n>> {
    let NodeKind::Map(pairs) = &node.kind else {
        p.report(
            node.line,
            format!("{what} must be a mapping, found {}", node.describe()),
        );
        return None;
    };
    let mut entries: Vec<(&'n str, &'n Node, &'n Node)> = Vec::with_capacity(pairs.len());
    for (key, value) in pairs {
        let Some(name) = key.as_str() else {
            p.report(
                key.line,
                format!("keys of {what} must be strings, found {}", key.describe()),
            );
            continue;
        };
        if let Some((_, first, _)) = entries.iter().find(|(k, _, _)| *k == name) {
            p.report(
                key.line,
                format!(
                    "duplicate key `{name}` in {what} (first given at line {})",
                    first.line
                ),
            );
            continue;
        }
        if let Some(valid) = allowed {
            if !valid.contains(&name) {
                p.report(
                    key.line,
                    format!(
                        "unknown key `{name}` in {what}; valid keys: {}",
                        list(valid)
                    ),
                );
                continue;
            }
        }
        entries.push((name, key, value));
    }
    Some(Entries {
        line: node.line,
        entries,
    })
}

/// Reads `node` as a string; `what` names it in the message.
pub(crate) fn string<'n>(p: &mut Problems<'_>, node: &'n Node, what: &str) -> Option<&'n str> {
    let text = node.as_str();
    if text.is_none() {
        p.report(
            node.line,
            format!("{what} must be a string, found {}", node.describe()),
        );
    }
    text
}

/// Reads `node` as `true` or `false`.
pub(crate) fn boolean(p: &mut Problems<'_>, node: &Node, what: &str) -> Option<bool> {
    match &node.kind {
        NodeKind::Scalar(text, ScalarType::Bool) => Some(&**text == "true"),
        _ => {
            p.report(
                node.line,
                format!("{what} must be true or false, found {}", node.describe()),
            );
            None
        }
    }
}

/// Reads any non-null scalar as the text the author wrote, so `42` and
/// `true` compare as the strings "42" and "true" (CONTRACT §4).
pub(crate) fn scalar_text<'n>(p: &mut Problems<'_>, node: &'n Node, what: &str) -> Option<&'n str> {
    match &node.kind {
        NodeKind::Scalar(text, ty) if *ty != ScalarType::Null => Some(text),
        _ => {
            p.report(
                node.line,
                format!(
                    "{what} must be a string, number or boolean, found {}",
                    node.describe()
                ),
            );
            None
        }
    }
}

/// Reads `node` as a list.
pub(crate) fn sequence<'n>(p: &mut Problems<'_>, node: &'n Node, what: &str) -> Option<&'n [Node]> {
    match &node.kind {
        NodeKind::Seq(items) => Some(items),
        _ => {
            p.report(
                node.line,
                format!("{what} must be a list, found {}", node.describe()),
            );
            None
        }
    }
}
