//! From a YAML `target` to a compiled [`Condition`], reporting every problem.
//!
//! A condition is a mapping holding exactly one of `all: [...]`, `any: [...]`,
//! `not: {...}`, or a leaf `{ field, op, value | values, case_insensitive }`.

use std::collections::HashSet;

use super::check::{self, Entries};
use super::condition::{fold, Condition, Leaf, Op, Operand, Test};
use super::date;
use super::field::Field;
use super::problem::{list, Problems};
use super::regexes::Regexes;
use super::yaml::Node;

/// The combinator keys.
const COMBINATORS: [&str; 3] = ["all", "any", "not"];
/// The keys of a leaf.
const LEAF_KEYS: [&str; 5] = ["field", "op", "value", "values", "case_insensitive"];
/// Every key a condition mapping may hold.
const CONDITION_KEYS: [&str; 8] = [
    "all",
    "any",
    "not",
    "field",
    "op",
    "value",
    "values",
    "case_insensitive",
];

/// Compiles one condition; `None` when it had a problem (already reported).
/// Its regexes come from (and are shared through) the rule set's `rx`.
pub(crate) fn compile(p: &mut Problems<'_>, rx: &mut Regexes, node: &Node) -> Option<Condition> {
    let before = p.count();
    let entries = check::mapping(p, node, "a condition", Some(&CONDITION_KEYS))?;
    let combinators: Vec<&str> = COMBINATORS
        .iter()
        .copied()
        .filter(|k| entries.has(k))
        .collect();
    let leaf_keys: Vec<&str> = LEAF_KEYS
        .iter()
        .copied()
        .filter(|k| entries.has(k))
        .collect();
    let compiled = match (combinators.as_slice(), leaf_keys.is_empty()) {
        ([combinator], true) => combinator_of(p, rx, &entries, combinator),
        ([], false) => leaf(p, rx, &entries).map(Condition::Leaf),
        ([], true) => {
            p.report(
                node.line,
                "a condition needs one of `all`, `any`, `not`, or `field` and `op`",
            );
            None
        }
        _ => {
            let found: Vec<&str> = combinators.iter().chain(&leaf_keys).copied().collect();
            p.report(
                node.line,
                format!(
                    "a condition holds exactly one of `all`, `any`, `not` or a field test, found: {}",
                    list(&found)
                ),
            );
            // Still look inside, to report problems nested deeper.
            for combinator in &combinators {
                let _ = combinator_of(p, rx, &entries, combinator);
            }
            None
        }
    };
    compiled.filter(|_| p.count() == before)
}

/// `all` / `any` (a non-empty list) or `not` (one condition).
fn combinator_of(
    p: &mut Problems<'_>,
    rx: &mut Regexes,
    entries: &Entries<'_>,
    key: &str,
) -> Option<Condition> {
    let (key_node, value) = entries.entry(key)?;
    if key == "not" {
        return compile(p, rx, value).map(|c| Condition::Not(Box::new(c)));
    }
    let items = check::sequence(p, value, &format!("`{key}`"))?;
    if items.is_empty() {
        p.report(
            key_node.line,
            format!("`{key}` needs at least one condition, found an empty list"),
        );
        return None;
    }
    // Compile every item, even after a bad one, to report all problems.
    let parts: Vec<Option<Condition>> = items.iter().map(|item| compile(p, rx, item)).collect();
    let parts: Vec<Condition> = parts.into_iter().collect::<Option<_>>()?;
    Some(if key == "all" {
        Condition::All(parts)
    } else {
        Condition::Any(parts)
    })
}

/// `{ field, op, value | values, case_insensitive }`.
fn leaf(p: &mut Problems<'_>, rx: &mut Regexes, entries: &Entries<'_>) -> Option<Leaf> {
    let before = p.count();
    let field = entries.require(p, "field", "a condition").and_then(|node| {
        let name = check::string(p, node, "`field`")?;
        Field::parse(name)
            .map_err(|message| p.report(node.line, message))
            .ok()
    });
    let op = entries.require(p, "op", "a condition").and_then(|node| {
        let name = check::string(p, node, "`op`")?;
        let op = Op::parse(name);
        if op.is_none() {
            let valid: Vec<&str> = Op::ALL.iter().map(|(n, _)| *n).collect();
            p.report(
                node.line,
                format!(
                    "unknown operator {name:?}; valid operators: {}",
                    list(&valid)
                ),
            );
        }
        op
    });
    let case_insensitive = match entries.get("case_insensitive") {
        Some(node) => check::boolean(p, node, "`case_insensitive`"),
        None => Some(false),
    };
    // Without a known operator the operand cannot be judged.
    let op = op?;
    let case_insensitive = case_insensitive?;
    if case_insensitive && !op.compares_text() {
        if let Some((key, _)) = entries.entry("case_insensitive") {
            p.report(
                key.line,
                format!(
                    "`case_insensitive` has no meaning for `{}`; remove it",
                    op.name()
                ),
            );
        }
    }
    let test = test(p, rx, entries, op, case_insensitive);
    let field = field?;
    let test = test?;
    (p.count() == before).then_some(Leaf {
        field,
        test,
        case_insensitive,
    })
}

/// Checks the operand the operator takes and builds its test.
fn test(
    p: &mut Problems<'_>,
    rx: &mut Regexes,
    entries: &Entries<'_>,
    op: Op,
    ci: bool,
) -> Option<Test> {
    let name = op.name();
    match op.operand() {
        Operand::Nothing => {
            for key in ["value", "values"] {
                if let Some((key_node, _)) = entries.entry(key) {
                    p.report(
                        key_node.line,
                        format!("`{name}` takes no value; remove `{key}`"),
                    );
                }
            }
            Some(if op == Op::Exists {
                Test::Exists
            } else {
                Test::Missing
            })
        }
        Operand::Values => {
            let node = operand(
                p,
                entries,
                ["values", "value"],
                format!("`{name}` takes `values` (a list), not `value`"),
                format!("`{name}` needs `values` (a list)"),
            )?;
            values_test(p, node, op, ci)
        }
        Operand::Value => {
            let node = operand(
                p,
                entries,
                ["value", "values"],
                format!("`{name}` takes one `value`, not `values`"),
                format!("`{name}` needs a `value`"),
            )?;
            let text = check::scalar_text(p, node, "`value`")?;
            value_test(p, rx, node.line, op, text, ci)
        }
    }
}

/// The operand node under `wanted`, reporting the `other` key given instead
/// (`wrong`) or, when neither is, the operand missing (`missing`).
fn operand<'n>(
    p: &mut Problems<'_>,
    entries: &Entries<'n>,
    [wanted, other]: [&str; 2],
    wrong: String,
    missing: String,
) -> Option<&'n Node> {
    let given_other = entries.entry(other);
    if let Some((key_node, _)) = given_other {
        p.report(key_node.line, wrong);
    }
    let node = entries.get(wanted);
    if node.is_none() && given_other.is_none() {
        p.report(entries.line, missing);
    }
    node
}

/// Builds the test of an operator taking a list of values.
fn values_test(p: &mut Problems<'_>, node: &Node, op: Op, ci: bool) -> Option<Test> {
    let items = check::sequence(p, node, "`values`")?;
    if items.is_empty() {
        p.report(
            node.line,
            format!(
                "`values` of `{}` is empty; give at least one value",
                op.name()
            ),
        );
        return None;
    }
    let texts: Vec<Option<&str>> = items
        .iter()
        .map(|item| check::scalar_text(p, item, "an item of `values`"))
        .collect();
    let set: HashSet<String> = texts
        .into_iter()
        .map(|t| t.map(|t| if ci { fold(t) } else { t.to_string() }))
        .collect::<Option<_>>()?;
    Some(if op == Op::In {
        Test::In(set)
    } else {
        Test::NotIn(set)
    })
}

/// Builds the test of an operator taking one value.
fn value_test(
    p: &mut Problems<'_>,
    rx: &mut Regexes,
    line: usize,
    op: Op,
    text: &str,
    ci: bool,
) -> Option<Test> {
    let folded = || if ci { fold(text) } else { text.to_string() };
    match op {
        Op::Is => Some(Test::Is(folded())),
        Op::IsNot => Some(Test::IsNot(folded())),
        Op::Contains => Some(Test::Contains(folded())),
        Op::StartsWith => Some(Test::StartsWith(folded())),
        Op::EndsWith => Some(Test::EndsWith(folded())),
        Op::Matches => rx
            .build(text, ci)
            .map(Test::Matches)
            .map_err(|message| p.report(line, message))
            .ok(),
        Op::Before | Op::After => match date::parse(text) {
            Some(at) if op == Op::Before => Some(Test::Before(at)),
            Some(at) => Some(Test::After(at)),
            None => {
                p.report(
                    line,
                    format!(
                        "invalid date {text:?} for `{}`; expected YYYY-MM-DD or an RFC 3339 date-time",
                        op.name()
                    ),
                );
                None
            }
        },
        // Operators without a single value never reach here.
        Op::In | Op::NotIn | Op::Exists | Op::Missing => None,
    }
}
