//! Compiled conditions and how they match an employee snapshot.
//!
//! Everything that can be decided at load time is: fields are resolved,
//! regexes built, `in` lists turned into hash sets, case-insensitive values
//! folded, dates parsed. Matching is then a walk over this tree with no
//! allocation except for folding the employee's value when a condition is
//! case-insensitive.
//!
//! Missing values (absent or `null`) follow CONTRACT §4: every positive test is
//! false on them, `is_not` and `not_in` are true ("not equal"), `missing` is
//! true, and `before`/`after` are false on a missing or unparsable date.

use std::borrow::Cow;
use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::date;
use super::field::{Field, Observed};
use super::regexes::Regex;
use crate::events::Fields;

/// A compiled condition tree.
#[derive(Debug, Clone)]
pub(crate) enum Condition {
    /// Every sub-condition holds (never empty: the loader refuses `all: []`).
    All(Vec<Condition>),
    /// At least one sub-condition holds (never empty).
    Any(Vec<Condition>),
    /// The sub-condition does not hold.
    Not(Box<Condition>),
    /// A test on one field.
    Leaf(Leaf),
}

impl Condition {
    /// Whether `employee` satisfies the condition.
    pub(crate) fn matches(&self, employee: &Fields<'_>) -> bool {
        match self {
            Condition::All(parts) => parts.iter().all(|c| c.matches(employee)),
            Condition::Any(parts) => parts.iter().any(|c| c.matches(employee)),
            Condition::Not(inner) => !inner.matches(employee),
            Condition::Leaf(leaf) => leaf.matches(employee),
        }
    }
}

/// The operators of CONTRACT §4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Is,
    IsNot,
    In,
    NotIn,
    Contains,
    StartsWith,
    EndsWith,
    Matches,
    Exists,
    Missing,
    Before,
    After,
}

/// What an operator takes besides the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operand {
    /// One `value`.
    Value,
    /// A `values` list.
    Values,
    /// Nothing.
    Nothing,
}

impl Op {
    /// Every operator with its name, in the order messages list them.
    pub(crate) const ALL: [(&'static str, Op); 12] = [
        ("is", Op::Is),
        ("is_not", Op::IsNot),
        ("in", Op::In),
        ("not_in", Op::NotIn),
        ("contains", Op::Contains),
        ("starts_with", Op::StartsWith),
        ("ends_with", Op::EndsWith),
        ("matches", Op::Matches),
        ("exists", Op::Exists),
        ("missing", Op::Missing),
        ("before", Op::Before),
        ("after", Op::After),
    ];

    /// The operator called `name`.
    pub(crate) fn parse(name: &str) -> Option<Op> {
        Op::ALL.iter().find(|(n, _)| *n == name).map(|(_, op)| *op)
    }

    /// The operator's name as written in rules.
    pub(crate) fn name(self) -> &'static str {
        Op::ALL
            .iter()
            .find(|(_, op)| *op == self)
            .map_or("?", |(n, _)| n)
    }

    /// What the operator takes.
    pub(crate) fn operand(self) -> Operand {
        match self {
            Op::In | Op::NotIn => Operand::Values,
            Op::Exists | Op::Missing => Operand::Nothing,
            _ => Operand::Value,
        }
    }

    /// Whether `case_insensitive: true` changes anything for this operator.
    pub(crate) fn compares_text(self) -> bool {
        !matches!(self, Op::Exists | Op::Missing | Op::Before | Op::After)
    }
}

/// The compiled test of a leaf; text operands are already folded when the
/// leaf is case-insensitive.
#[derive(Debug, Clone)]
pub(crate) enum Test {
    Is(String),
    IsNot(String),
    In(HashSet<String>),
    NotIn(HashSet<String>),
    Contains(String),
    StartsWith(String),
    EndsWith(String),
    /// Built with the leaf's case-insensitivity; matches the raw value.
    /// Shared by every leaf of the rule set with the same pattern.
    Matches(Regex),
    Exists,
    Missing,
    Before(DateTime<Utc>),
    After(DateTime<Utc>),
}

/// One field test: `{ field, op, value | values, case_insensitive }`.
#[derive(Debug, Clone)]
pub(crate) struct Leaf {
    /// Where the value comes from.
    pub field: Field,
    /// What is checked.
    pub test: Test,
    /// Fold both sides before comparing text.
    pub case_insensitive: bool,
}

/// Case folding for `case_insensitive`: upper- then lower-casing maps every
/// casing of a string (including `ß`/`SS`, `ſ`/`s`) to one form.
pub(crate) fn fold(text: &str) -> String {
    text.to_uppercase().to_lowercase()
}

impl Leaf {
    /// Whether `employee` satisfies this test.
    pub(crate) fn matches(&self, employee: &Fields<'_>) -> bool {
        let observed = self.field.observe(employee);
        let text = match (&self.test, observed) {
            (Test::Exists, observed) => return observed != Observed::Missing,
            (Test::Missing, observed) => return observed == Observed::Missing,
            (_, Observed::Text(text)) => Some(text),
            (_, Observed::Missing | Observed::Opaque) => None,
        };
        let Some(raw) = text else {
            // No comparable value: only the negative tests hold.
            return matches!(self.test, Test::IsNot(_) | Test::NotIn(_));
        };
        match &self.test {
            Test::Matches(regex) => return regex.is_match(raw.as_ref()),
            Test::Before(limit) => return date::parse(&raw).is_some_and(|d| d < *limit),
            Test::After(limit) => return date::parse(&raw).is_some_and(|d| d > *limit),
            _ => {}
        }
        let value: Cow<'_, str> = if self.case_insensitive {
            Cow::Owned(fold(&raw))
        } else {
            raw
        };
        let value = value.as_ref();
        match &self.test {
            Test::Is(want) => value == want,
            Test::IsNot(want) => value != want,
            Test::In(set) => set.contains(value),
            Test::NotIn(set) => !set.contains(value),
            Test::Contains(part) => value.contains(part.as_str()),
            Test::StartsWith(part) => value.starts_with(part.as_str()),
            Test::EndsWith(part) => value.ends_with(part.as_str()),
            // Handled above.
            Test::Matches(_) | Test::Exists | Test::Missing | Test::Before(_) | Test::After(_) => {
                false
            }
        }
    }
}
