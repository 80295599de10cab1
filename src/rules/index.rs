//! Which rules can match an employee, without testing them all.
//!
//! Most rules require one field to equal a value ("team is Development"),
//! and most employees match a handful of a hundred rules. At load time each
//! rule is filed under one such required equality — the target itself, or
//! the first part of a top-level `all` — when it has one; matching then
//! tests only the rules filed under the employee's own values, plus the
//! rules with no such condition. The result is exactly the rules a full scan
//! would find, in load order: an equality that must hold for the rule to
//! match cannot exclude a rule that matches.

use std::collections::HashMap;

use super::condition::{Condition, Leaf, Test};
use super::field::{Field, Observed};
use super::rule::Rule;
use crate::events::Fields;

/// Rules by one required equality each, as indexes into the rule list.
#[derive(Debug, Clone, Default)]
pub(crate) struct Index {
    /// Rules with no indexable condition: always tested.
    always: Vec<usize>,
    /// Per field: value → rules requiring the field to equal it.
    by_field: Vec<(Field, HashMap<String, Vec<usize>>)>,
}

impl Index {
    /// Files every rule under its first required equality.
    pub(crate) fn build(rules: &[Rule]) -> Index {
        let mut index = Index::default();
        for (i, rule) in rules.iter().enumerate() {
            let Some((field, values)) = required_equality(&rule.target) else {
                index.always.push(i);
                continue;
            };
            let slot = match index.by_field.iter().position(|(f, _)| f == field) {
                Some(slot) => slot,
                None => {
                    index.by_field.push((field.clone(), HashMap::new()));
                    index.by_field.len() - 1
                }
            };
            for value in values {
                index.by_field[slot]
                    .1
                    .entry(value.to_string())
                    .or_default()
                    .push(i);
            }
        }
        index
    }

    /// The rules that may match `employee`, each once, in no particular
    /// order (a rule is filed under one field, and one employee value finds
    /// it at most once); nothing is allocated.
    pub(crate) fn candidates<'a>(
        &'a self,
        employee: &'a Fields<'a>,
    ) -> impl Iterator<Item = usize> + 'a {
        let filed = self.by_field.iter().flat_map(move |(field, by_value)| {
            let rules = match field.observe(employee) {
                Observed::Text(value) => by_value.get(value.as_ref()),
                Observed::Missing | Observed::Opaque => None,
            };
            rules.map_or(&[][..], Vec::as_slice)
        });
        self.always.iter().chain(filed).copied()
    }
}

/// A field and the values one of which it must equal (exactly, not folded)
/// for `condition` to hold.
fn required_equality(condition: &Condition) -> Option<(&Field, Vec<&str>)> {
    match condition {
        Condition::Leaf(leaf) => equality(leaf),
        Condition::All(parts) => parts.iter().find_map(|part| match part {
            Condition::Leaf(leaf) => equality(leaf),
            _ => None,
        }),
        Condition::Any(_) | Condition::Not(_) => None,
    }
}

fn equality(leaf: &Leaf) -> Option<(&Field, Vec<&str>)> {
    if leaf.case_insensitive {
        return None;
    }
    match &leaf.test {
        Test::Is(value) => Some((&leaf.field, vec![value.as_str()])),
        Test::In(values) => Some((&leaf.field, values.iter().map(String::as_str).collect())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::tests::{catalogue, emp};
    use crate::rules::RuleSet;
    use serde_json::json;
    use std::path::PathBuf;

    const RULES: &str = r#"
- name: Dev
  target: { field: team, op: is, value: Development }
  apps: { slack: { role: member } }
- name: Folded
  target: { field: team, op: is, value: SUPPORT, case_insensitive: true }
  apps: { slack: { role: member } }
- name: Offices
  target:
    all:
      - { field: location, op: in, values: [Madrid, "42"] }
      - { field: team, op: is_not, value: Sales }
  apps: { slack: { role: admin } }
- name: Anyone remote
  target: { any: [ { field: attributes.remote, op: is, value: "true" } ] }
  apps: { wiki: { role: reader } }
"#;

    fn rules_for(employee: serde_json::Value) -> Vec<String> {
        let set = RuleSet::from_sources(&[(PathBuf::from("r.yaml"), RULES.into())], &catalogue())
            .unwrap();
        let e = emp(employee);
        assert_eq!(set.grants(&e), set.grants_scanning_all(&e));
        let mut names: Vec<String> = set.grants(&e).into_values().flat_map(|g| g.rules).collect();
        names.sort();
        names
    }

    #[test]
    fn finds_rules_by_value_folded_rules_and_numbers_in_string_form() {
        assert_eq!(rules_for(json!({"team": "Development"})), ["Dev"]);
        assert_eq!(rules_for(json!({"team": "support"})), ["Folded"]);
        assert_eq!(
            rules_for(json!({"team": "Development", "location": 42})),
            ["Dev", "Offices"]
        );
        assert_eq!(
            rules_for(json!({"team": "Sales", "location": "Madrid"})),
            Vec::<String>::new()
        );
        assert_eq!(
            rules_for(json!({"attributes": {"remote": true}})),
            ["Anyone remote"]
        );
    }
}
