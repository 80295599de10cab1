//! Properties of matching and precedence over generated conditions,
//! snapshots and rule sets.

use std::path::PathBuf;

use proptest::prelude::*;
use serde_json::{json, Map, Value};

use super::{catalogue, cond, emp};
use crate::events::Fields;
use crate::rules::{RuleSet, Snapshot};

const FIELDS: [&str; 5] = [
    "team",
    "location",
    "start_date",
    "attributes.remote",
    "manager_id",
];
const TEXT_OPS: [&str; 8] = [
    "is",
    "is_not",
    "in",
    "not_in",
    "contains",
    "starts_with",
    "ends_with",
    "matches",
];
const OTHER_OPS: [&str; 4] = ["exists", "missing", "before", "after"];
const DATES: [&str; 4] = [
    "2026-12-01",
    "2027-01-01",
    "2026-12-01T10:00:00Z",
    "2026-11-30T23:00:00-02:00",
];

/// Values drawn from a small pool so rules and employees often collide.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("Dev".to_string()),
        Just("dev".to_string()),
        Just("DEV".to_string()),
        Just("Madrid".to_string()),
        Just(String::new()),
        Just("true".to_string()),
        Just("42".to_string()),
        Just("Straße".to_string()),
        prop::sample::select(DATES.to_vec()).prop_map(str::to_string),
        "[a-zA-Z0-9 ßÉé]{0,6}",
    ]
}

/// A JSON value an HR system might send for a field (or `None`: absent).
fn field_value() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        Just(Some(Value::Null)),
        text().prop_map(|t| Some(Value::String(t))),
        Just(Some(json!(42))),
        Just(Some(json!(3.5))),
        any::<bool>().prop_map(|b| Some(json!(b))),
        Just(Some(json!(["Dev"]))),
    ]
}

/// A snapshot with any subset of the tested fields.
fn snapshot() -> impl Strategy<Value = Snapshot> {
    prop::collection::vec(field_value(), FIELDS.len()).prop_map(|values| {
        let mut employee = Map::new();
        let mut attributes = Map::new();
        for (field, value) in FIELDS.iter().zip(values) {
            let Some(value) = value else { continue };
            match field.strip_prefix("attributes.") {
                Some(name) => {
                    attributes.insert(name.to_string(), value);
                }
                None => {
                    employee.insert(field.to_string(), value);
                }
            }
        }
        employee.insert("attributes".into(), Value::Object(attributes));
        employee
    })
}

/// YAML text of a valid leaf condition.
fn leaf() -> impl Strategy<Value = String> {
    let field = prop::sample::select(FIELDS.to_vec());
    let text_leaf = (
        field.clone(),
        prop::sample::select(TEXT_OPS.to_vec()),
        text(),
        any::<bool>(),
    )
        .prop_map(|(field, op, value, ci)| {
            let operand = match op {
                "in" | "not_in" => format!("values: [{}, \"x\"]", quote(&value)),
                "matches" => format!("value: {}", quote(&format!("^{}", regex::escape(&value)))),
                _ => format!("value: {}", quote(&value)),
            };
            format!("{{ field: {field}, op: {op}, {operand}, case_insensitive: {ci} }}")
        });
    let other_leaf = (
        field,
        prop::sample::select(OTHER_OPS.to_vec()),
        prop::sample::select(DATES.to_vec()),
    )
        .prop_map(|(field, op, date)| match op {
            "exists" | "missing" => format!("{{ field: {field}, op: {op} }}"),
            _ => format!("{{ field: {field}, op: {op}, value: {} }}", quote(date)),
        });
    prop_oneof![3 => text_leaf, 1 => other_leaf]
}

/// A YAML double-quoted scalar (JSON string syntax is valid YAML).
fn quote(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

/// Flips the case of each character as told (repeating the pattern).
fn recase(text: &str, upper: &[bool]) -> String {
    text.chars()
        .zip(upper.iter().cycle())
        .map(|(c, up)| {
            if *up {
                c.to_uppercase().collect::<String>()
            } else {
                c.to_lowercase().collect::<String>()
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn not_negates_any_leaf(c in leaf(), e in snapshot()) {
        let plain = cond(&c).matches(&Fields::of(&e));
        prop_assert_eq!(cond(&format!("not: {c}")).matches(&Fields::of(&e)), !plain);
        prop_assert_eq!(cond(&format!("all: [{c}]")).matches(&Fields::of(&e)), plain);
        prop_assert_eq!(cond(&format!("any: [{c}]")).matches(&Fields::of(&e)), plain);
    }

    #[test]
    fn de_morgan_holds(a in leaf(), b in leaf(), e in snapshot()) {
        let (x, y) = (cond(&a).matches(&Fields::of(&e)), cond(&b).matches(&Fields::of(&e)));
        prop_assert_eq!(cond(&format!("all: [{a}, {b}]")).matches(&Fields::of(&e)), x && y);
        prop_assert_eq!(cond(&format!("any: [{a}, {b}]")).matches(&Fields::of(&e)), x || y);
        prop_assert_eq!(
            cond(&format!("not: {{ all: [{a}, {b}] }}")).matches(&Fields::of(&e)),
            cond(&format!("any: [{{ not: {a} }}, {{ not: {b} }}]")).matches(&Fields::of(&e))
        );
    }

    #[test]
    fn in_one_value_is_is(
        field in prop::sample::select(FIELDS.to_vec()),
        v in text(), ci in any::<bool>(), e in snapshot()
    ) {
        let leaf = |op: &str, operand: String| {
            cond(&format!("{{ field: {field}, op: {op}, {operand}, case_insensitive: {ci} }}"))
        };
        let is = leaf("is", format!("value: {}", quote(&v))).matches(&Fields::of(&e));
        let is_not = leaf("is_not", format!("value: {}", quote(&v))).matches(&Fields::of(&e));
        prop_assert_eq!(leaf("in", format!("values: [{}]", quote(&v))).matches(&Fields::of(&e)), is);
        prop_assert_eq!(leaf("not_in", format!("values: [{}]", quote(&v))).matches(&Fields::of(&e)), !is);
        prop_assert_eq!(is_not, !is);
    }

    #[test]
    fn case_insensitive_is_matches_any_casing(
        v in "[a-zA-Zß0-9ÉéİıΣσς -]{0,10}",
        upper in prop::collection::vec(any::<bool>(), 1..8)
    ) {
        let employee = emp(json!({"team": recase(&v, &upper)}));
        let c = cond(&format!("{{ field: team, op: is, value: {}, case_insensitive: true }}", quote(&v)));
        prop_assert!(c.matches(&Fields::of(&employee)), "{:?} vs {:?}", v, employee);
        let c = cond(&format!("{{ field: team, op: in, values: [{}], case_insensitive: true }}", quote(&recase(&v, &[true]))));
        prop_assert!(c.matches(&Fields::of(&employee)));
    }

    #[test]
    fn granted_role_is_the_max_rank_of_matching_rules(
        offers in prop::collection::vec((0..3usize, 0..4usize, any::<bool>()), 1..8),
        team in 0..3usize
    ) {
        const TEAMS: [&str; 3] = ["A", "B", "C"];
        const ROLES: [&str; 4] = ["end_user", "light_agent", "agent", "admin"];
        let yaml: String = offers.iter().enumerate().map(|(i, (t, r, provisioning))| format!(
            "- name: R{i}\n  target: {{ field: team, op: is, value: {} }}\n  apps:\n    zendesk: {{ provisioning: {provisioning}, role: {} }}\n",
            TEAMS[*t], ROLES[*r]
        )).collect();
        let set = RuleSet::from_sources(&[(PathBuf::from("p.yaml"), yaml)], &catalogue()).unwrap();
        let grants = set.grants(&emp(json!({"team": TEAMS[team]})));
        let matching: Vec<(usize, usize)> = offers.iter().enumerate()
            .filter(|(_, (t, _, provisioning))| *t == team && *provisioning)
            .map(|(i, (_, r, _))| (i, *r))
            .collect();
        match matching.iter().map(|(_, r)| *r).max() {
            None => prop_assert!(grants.is_empty()),
            Some(best) => {
                let grant = &grants["zendesk"];
                prop_assert_eq!(&grant.role, ROLES[best]);
                let decider = matching.iter().find(|(_, r)| *r == best).map(|(i, _)| *i).unwrap();
                let mut expected = vec![format!("R{decider}")];
                expected.extend(matching.iter().filter(|(i, _)| *i != decider).map(|(i, _)| format!("R{i}")));
                prop_assert_eq!(&grant.rules, &expected);
            }
        }
    }

    #[test]
    fn grants_are_deterministic(leaves in prop::collection::vec(leaf(), 1..5), e in snapshot()) {
        let yaml: String = leaves.iter().enumerate().map(|(i, c)| format!(
            "- name: R{i}\n  target: {c}\n  apps:\n    slack: {{ role: {} }}\n    wiki: {{ role: reader }}\n",
            if i % 2 == 0 { "member" } else { "admin" }
        )).collect();
        let sources = [(PathBuf::from("d.yaml"), yaml)];
        let one = RuleSet::from_sources(&sources, &catalogue()).unwrap();
        let two = RuleSet::from_sources(&sources, &catalogue()).unwrap();
        prop_assert_eq!(one.version(), two.version());
        let first = one.grants(&e);
        prop_assert_eq!(&first, &one.grants(&e));
        prop_assert_eq!(&first, &two.grants(&e));
        prop_assert_eq!(&first, &one.clone().grants(&e));
    }

    #[test]
    fn the_index_finds_exactly_what_a_full_scan_finds(
        targets in prop::collection::vec(prop_oneof![
            3 => leaf(),
            2 => (leaf(), leaf()).prop_map(|(a, b)| format!("{{ all: [{a}, {b}] }}")),
            1 => (leaf(), leaf()).prop_map(|(a, b)| format!("{{ any: [{a}, {b}] }}")),
            1 => leaf().prop_map(|a| format!("{{ not: {a} }}")),
        ], 1..12),
        e in snapshot()
    ) {
        let yaml: String = targets.iter().enumerate().map(|(i, c)| format!(
            "- name: R{i}\n  target: {c}\n  apps:\n    slack: {{ role: {} }}\n",
            if i % 3 == 0 { "admin" } else { "member" }
        )).collect();
        let set = RuleSet::from_sources(&[(PathBuf::from("i.yaml"), yaml)], &catalogue()).unwrap();
        prop_assert_eq!(set.grants(&e), set.grants_scanning_all(&e));
    }
}
