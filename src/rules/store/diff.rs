//! Which rules differ between two revisions (`rules diff A B`): rules are
//! matched by name and compared by their YAML content, so moving a rule to
//! another file, reformatting it or editing a comment is not a change, while
//! any value it holds is.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::super::yaml::{self, Node, NodeKind};
use super::Revision;

/// The rules added, removed and changed from one revision to another, each
/// list sorted by rule name.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct RuleChanges {
    /// Rules only in the newer revision.
    pub added: Vec<String>,
    /// Rules only in the older revision.
    pub removed: Vec<String>,
    /// Rules in both whose content differs.
    pub changed: Vec<String>,
}

impl RuleChanges {
    /// Every rule of `revision`, as added (a first publish).
    pub fn all_added(revision: &Revision) -> RuleChanges {
        RuleChanges {
            added: rules_of(revision).into_keys().collect(),
            ..RuleChanges::default()
        }
    }

    /// Whether no rule differs.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// The rule changes from `old` to `new`.
pub fn diff_rules(old: &Revision, new: &Revision) -> RuleChanges {
    let (before, after) = (rules_of(old), rules_of(new));
    let mut changes = RuleChanges::default();
    for (name, content) in &after {
        match before.get(name) {
            None => changes.added.push(name.clone()),
            Some(was) if was != content => changes.changed.push(name.clone()),
            Some(_) => {}
        }
    }
    changes.removed = before
        .keys()
        .filter(|name| !after.contains_key(*name))
        .cloned()
        .collect();
    changes
}

/// Each named rule of a revision → its content in a canonical form (a
/// stored revision was valid when published, so every rule has a name; a
/// file that no longer parses contributes nothing).
fn rules_of(revision: &Revision) -> BTreeMap<String, String> {
    let mut rules = BTreeMap::new();
    for file in &revision.files {
        let Ok(documents) = yaml::parse(&file.text) else {
            continue;
        };
        for document in &documents {
            let items = match &document.kind {
                NodeKind::Seq(items) => items.as_slice(),
                NodeKind::Map(_) => std::slice::from_ref(document),
                NodeKind::Scalar(..) => continue,
            };
            for item in items {
                if let Some(name) = name_of(item) {
                    let mut content = String::new();
                    canonical(item, &mut content);
                    rules.insert(name.to_string(), content);
                }
            }
        }
    }
    rules
}

/// The `name` of a rule mapping.
fn name_of(rule: &Node) -> Option<&str> {
    let NodeKind::Map(entries) = &rule.kind else {
        return None;
    };
    entries
        .iter()
        .find(|(k, _)| k.as_str() == Some("name"))
        .and_then(|(_, v)| v.as_str())
}

/// A node's content without its lines: scalars with their type, sequences
/// and mappings in order.
fn canonical(node: &Node, out: &mut String) {
    match &node.kind {
        NodeKind::Scalar(text, kind) => {
            let _ = write!(out, "{kind:?}{text:?}");
        }
        NodeKind::Seq(items) => {
            out.push('[');
            for item in items {
                canonical(item, out);
                out.push(',');
            }
            out.push(']');
        }
        NodeKind::Map(entries) => {
            out.push('{');
            for (key, value) in entries {
                canonical(key, out);
                out.push(':');
                canonical(value, out);
                out.push(',');
            }
            out.push('}');
        }
    }
}
