//! `matches` regexes: the size limit per regex, sharing across a rule set,
//! and the budget of the whole set.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::json;

use super::{catalogue, emp, problems, rules};
use crate::rules::condition::{Condition, Test};
use crate::rules::regexes::{Regexes, MAX_RULE_SET_REGEX_BYTES};
use crate::rules::RuleSet;

/// A rule file whose target is `any` of one `matches` leaf per pattern,
/// each on its own line starting at line 4.
fn any_of(patterns: &[String]) -> String {
    let leaves: String = patterns
        .iter()
        .map(|p| format!("    - {{ field: id, op: matches, value: '{p}' }}\n"))
        .collect();
    format!("name: R\ntarget:\n  any:\n{leaves}apps: {{ slack: {{ role: member }} }}\n")
}

/// The regexes of a rule's `any` leaves, in order.
fn regexes_of(set: &RuleSet) -> Vec<Arc<regex_automata::meta::Regex>> {
    let Condition::Any(parts) = &set.rules[0].target else {
        panic!("not an `any`: {:?}", set.rules[0].target)
    };
    parts
        .iter()
        .map(|part| match part {
            Condition::Leaf(leaf) => match &leaf.test {
                Test::Matches(regex) => Arc::clone(regex),
                other => panic!("not a regex: {other:?}"),
            },
            other => panic!("not a leaf: {other:?}"),
        })
        .collect()
}

#[test]
fn a_regex_over_the_size_limit_is_a_problem_naming_it_and_the_limit() {
    let found = problems(&any_of(&[r"\w{100}".to_string()]));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].file, PathBuf::from("t.yaml"));
    assert_eq!(found[0].line, 4);
    assert!(
        found[0].message.starts_with(
            r#"regex "\\w{100}" compiles to more than 1048576 bytes (1 MiB), the limit for one regex"#
        ),
        "{found:?}"
    );
}

#[test]
fn a_regex_just_under_the_size_limit_is_built_and_matches() {
    // `\w{10}` compiles to about half a megabyte.
    let set = rules(&any_of(&[r"^\w{10}$".to_string()]));
    assert!(set
        .grants(&emp(json!({"id": "abcdefghij"})))
        .contains_key("slack"));
    assert!(set.grants(&emp(json!({"id": "abc"}))).is_empty());
}

#[test]
fn a_long_pattern_is_quoted_truncated() {
    let long = format!("({}", "a".repeat(500));
    let found = problems(&any_of(&[long]));
    assert_eq!(found.len(), 1, "{found:?}");
    let want = format!("invalid regex \"({}\"…: ", "a".repeat(59));
    assert!(found[0].message.starts_with(&want), "{found:?}");
    assert!(found[0].message.len() < 200, "{found:?}");
}

#[test]
fn identical_regexes_are_built_once_and_shared() {
    // A thousand copies of a half-megabyte regex: shared, they fit easily.
    let mut patterns = vec![r"\w{10}".to_string(); 1000];
    patterns.push("^x".to_string());
    let set = rules(&any_of(&patterns));
    let built = regexes_of(&set);
    assert_eq!(built.len(), 1001);
    assert!(built[1..1000].iter().all(|r| Arc::ptr_eq(r, &built[0])));
    assert!(!Arc::ptr_eq(&built[0], &built[1000]));
}

#[test]
fn sharing_tells_case_insensitive_apart() {
    let mut rx = Regexes::default();
    let plain = rx.build("^dev", false).unwrap();
    let folded = rx.build("^dev", true).unwrap();
    assert!(Arc::ptr_eq(&plain, &rx.build("^dev", false).unwrap()));
    assert!(!Arc::ptr_eq(&plain, &folded));
    assert!(folded.is_match("DEV-1") && !plain.is_match("DEV-1"));
}

#[test]
fn an_oversized_regex_repeated_is_refused_at_every_leaf_but_built_once() {
    let mut rx = Regexes::default();
    let first = rx.build(r"\w{100}", false).unwrap_err();
    // Had it been built again it would have charged the budget again.
    for _ in 0..100 {
        assert_eq!(rx.build(r"\w{100}", false).unwrap_err(), first);
    }
    assert!(rx.build(r"\w{10}", false).is_ok());
}

#[test]
fn the_rule_set_budget_refuses_from_the_first_distinct_regex_over_it() {
    // Distinct half-megabyte regexes: about 30 fit in 16 MiB, not 60.
    let patterns: Vec<String> = (0..60).map(|i| format!(r"\w{{10}}{i}")).collect();
    let found = problems(&any_of(&patterns));
    let first = found.first().expect("over the budget");
    assert!(
        (20..40).contains(&(first.line - 4)),
        "first refused at leaf {}: {found:?}",
        first.line - 4
    );
    let over = format!(
        r#"regex "\\w{{10}}{}" takes the rule set's regexes past {MAX_RULE_SET_REGEX_BYTES} bytes (16 MiB) compiled, the limit for one rule set"#,
        first.line - 4
    );
    assert!(first.message.starts_with(&over), "{found:?}");
    // Every later distinct regex is refused too, one problem per leaf.
    assert_eq!(found.len(), 60 - (first.line - 4), "{found:?}");
    assert!(found.windows(2).all(|w| w[1].line == w[0].line + 1));
}

#[test]
fn the_budget_spans_the_files_of_a_rule_set() {
    let file = |i: usize| {
        let patterns: Vec<String> = (0..10).map(|j| format!(r"\w{{10}}{i}_{j}")).collect();
        let text = any_of(&patterns).replacen("name: R", &format!("name: R{i}"), 1);
        (PathBuf::from(format!("{i}.yaml")), text)
    };
    // Each file alone is within the budget; six together are not.
    let sources: Vec<_> = (0..6).map(file).collect();
    assert!(RuleSet::from_sources(&sources[..1], &catalogue()).is_ok());
    let errors = RuleSet::from_sources(&sources, &catalogue()).unwrap_err();
    assert!(
        errors.0[0].file != Path::new("0.yaml")
            && errors.0[0].message.contains("the limit for one rule set"),
        "{errors}"
    );
}

#[test]
fn oversized_regexes_count_against_the_budget() {
    // Each distinct refused build counts as 1 MiB: the 17th is over budget
    // without being built.
    let patterns: Vec<String> = (0..20).map(|i| format!(r"\w{{100}}{i}")).collect();
    let found = problems(&any_of(&patterns));
    assert_eq!(found.len(), 20, "{found:?}");
    assert!(found[..16]
        .iter()
        .all(|p| p.message.contains("the limit for one regex")));
    assert!(found[16..]
        .iter()
        .all(|p| p.message.contains("the limit for one rule set")));
}
