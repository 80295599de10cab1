//! What `rules check` reports: the line of the offending node and a
//! specific message, for every kind of mistake, all at once.

use std::path::PathBuf;

use super::{catalogue, problems, rules};
use crate::rules::RuleSet;

/// Asserts exactly one problem, at `line`, whose message contains every fragment.
fn one(yaml: &str, line: usize, fragments: &[&str]) {
    let found = problems(yaml);
    assert_eq!(found.len(), 1, "expected one problem, got {found:#?}");
    assert_eq!(found[0].line, line, "{found:#?}");
    for fragment in fragments {
        assert!(
            found[0].message.contains(fragment),
            "{:?} lacks {fragment:?}",
            found[0].message
        );
    }
    let first = found[0].message.chars().next().unwrap();
    assert!(
        !first.is_uppercase(),
        "messages start lowercase: {:?}",
        found[0].message
    );
}

/// A valid rule with `target` replaced by the given (single-line) condition.
fn with_target(condition: &str) -> String {
    format!("name: R\ntarget: {condition}\napps: {{ wiki: {{ role: reader }} }}\n")
}

#[test]
fn a_valid_rule_has_no_problem() {
    rules(&with_target("{ field: team, op: is, value: x }"));
}

#[test]
fn missing_required_keys() {
    one(
        "name: R\napps: { wiki: { role: reader } }\n",
        1,
        &["missing required key `target`"],
    );
    one(
        "target: { field: id, op: exists }\napps: { wiki: { role: reader } }\n",
        1,
        &["`name`"],
    );
    one(
        "name: R\ntarget: { field: id, op: exists }\n",
        1,
        &["`apps`"],
    );
    one(
        &with_target("{ op: exists }"),
        2,
        &["missing required key `field`"],
    );
    one(
        &with_target("{ field: id }"),
        2,
        &["missing required key `op`"],
    );
    one(
        "name: R\ntarget: { field: id, op: exists }\napps: { wiki: { provisioning: true } }\n",
        3,
        &["missing required key `role` in app `wiki`"],
    );
}

#[test]
fn wrong_types() {
    one(
        "name: [R]\ntarget: { field: id, op: exists }\napps: { wiki: { role: reader } }\n",
        1,
        &["`name` must be a string, found a list"],
    );
    one("name: R\ndescription: 3\ntarget: { field: id, op: exists }\napps: { wiki: { role: reader } }\n", 2, &["`description` must be a string, found a number (3)"]);
    one("name: R\ntarget: { field: id, op: exists }\napps: { wiki: { role: reader, provisioning: \"yes\" } }\n", 3, &["`provisioning` must be true or false", "\"yes\""]);
    one(
        "name: R\ntarget: { field: id, op: exists }\napps: [wiki]\n",
        3,
        &["`apps` must be a mapping, found a list"],
    );
    one(
        &with_target("[{ field: id, op: exists }]"),
        2,
        &["a condition must be a mapping, found a list"],
    );
    one(
        &with_target("{ field: id, op: is, value: ~ }"),
        2,
        &["`value` must be a string, number or boolean, found null"],
    );
    one(
        &with_target("{ field: id, op: is, value: x, case_insensitive: maybe }"),
        2,
        &["`case_insensitive` must be true or false", "\"maybe\""],
    );
    one(
        &with_target("{ all: { field: id, op: exists } }"),
        2,
        &["`all` must be a list, found a mapping"],
    );
    one(
        &with_target("{ field: id, op: in, values: x }"),
        2,
        &["`values` must be a list, found a string (\"x\")"],
    );
    one(
        "just a string\n",
        1,
        &["a rule file holds a rule (a mapping) or a list of rules, found a string"],
    );
    one(
        "- just a string\n",
        1,
        &["a rule must be a mapping, found a string (\"just a string\")"],
    );
}

#[test]
fn operands_must_fit_the_operator() {
    one(
        &with_target("{ field: location, op: in, value: Madrid }"),
        2,
        &["`in` takes `values` (a list), not `value`"],
    );
    one(
        &with_target("{ field: location, op: not_in }"),
        2,
        &["`not_in` needs `values`"],
    );
    one(
        &with_target("{ field: location, op: in, values: [] }"),
        2,
        &["`values` of `in` is empty"],
    );
    one(
        &with_target("{ field: team, op: is, values: [a] }"),
        2,
        &["`is` takes one `value`, not `values`"],
    );
    one(
        &with_target("{ field: team, op: contains }"),
        2,
        &["`contains` needs a `value`"],
    );
    one(
        &with_target("{ field: team, op: exists, value: x }"),
        2,
        &["`exists` takes no value; remove `value`"],
    );
    one(
        &with_target("{ field: team, op: missing, values: [x] }"),
        2,
        &["`missing` takes no value"],
    );
    one(
        &with_target(
            "{ field: start_date, op: before, value: 2027-01-01, case_insensitive: true }",
        ),
        2,
        &["`case_insensitive` has no meaning for `before`"],
    );
}

#[test]
fn bad_dates_name_the_value() {
    one(
        &with_target("{ field: start_date, op: before, value: 2026-13-01 }"),
        2,
        &["invalid date \"2026-13-01\" for `before`", "YYYY-MM-DD"],
    );
    one(
        &with_target("{ field: start_date, op: after, value: '2026-12-01 10:00' }"),
        2,
        &["invalid date \"2026-12-01 10:00\" for `after`"],
    );
}

#[test]
fn unknown_fields_operators_and_keys_list_the_valid_ones() {
    one(
        &with_target("{ field: colour, op: exists }"),
        2,
        &[
            "unknown field \"colour\"",
            "employment_type",
            "attributes.<name>",
        ],
    );
    one(
        &with_target("{ field: team, op: equals, value: x }"),
        2,
        &[
            "unknown operator \"equals\"",
            "is_not",
            "starts_with",
            "after",
        ],
    );
    one(
        &with_target("{ field: team, op: is, value: x, casesensitive: true }"),
        2,
        &[
            "unknown key `casesensitive` in a condition",
            "case_insensitive",
        ],
    );
    one(
        "name: R\nowner: me\ntarget: { field: id, op: exists }\napps: { wiki: { role: reader } }\n",
        2,
        &[
            "unknown key `owner` in a rule",
            "name, description, target, apps",
        ],
    );
    one(
        "name: R\ntarget: { field: id, op: exists }\napps:\n  wiki: { role: reader, seats: 3 }\n",
        4,
        &["unknown key `seats` in app `wiki`", "provisioning, role"],
    );
}

#[test]
fn invalid_regex_gives_the_regex_error_on_one_line() {
    let found = problems(&with_target(
        "{ field: team, op: matches, value: '(unclosed' }",
    ));
    assert_eq!(found.len(), 1, "{found:?}");
    let p = &found[0];
    assert_eq!(p.line, 2);
    assert!(
        p.message.starts_with("invalid regex \"(unclosed\": "),
        "{}",
        p.message
    );
    assert!(p.message.contains("unclosed group"), "{}", p.message);
    assert!(!p.message.contains('\n'), "{}", p.message);
}

#[test]
fn condition_shape() {
    one(
        &with_target("{ all: [{ field: id, op: exists }], field: id }"),
        2,
        &["exactly one of", "all, field"],
    );
    one(
        &with_target("{ all: [] }"),
        2,
        &["`all` needs at least one condition"],
    );
    one(
        &with_target("{ any: [] }"),
        2,
        &["`any` needs at least one condition"],
    );
    one(&with_target("{}"), 2, &["a condition needs one of"]);
}

#[test]
fn duplicate_keys_point_at_the_second() {
    one("name: R\ntarget: { field: id, op: exists }\napps:\n  wiki: { role: reader }\n  wiki: { role: editor }\n", 5, &["duplicate key `wiki` in `apps` (first given at line 4)"]);
    one(
        "name: R\nname: S\ntarget: { field: id, op: exists }\napps: { wiki: { role: reader } }\n",
        2,
        &["duplicate key `name`"],
    );
}

#[test]
fn catalogue_problems() {
    one(
        "name: R\ntarget: { field: id, op: exists }\napps:\n  jira: { role: user }\n",
        4,
        &["unknown app \"jira\"", "slack, wiki, zendesk"],
    );
    one(
        "name: R\ntarget: { field: id, op: exists }\napps:\n  zendesk:\n    role: superuser\n",
        5,
        &[
            "app \"zendesk\" has no role \"superuser\"",
            "end_user, light_agent, agent, admin",
        ],
    );
    one(
        "name: R\ntarget: { field: id, op: exists }\napps: {}\n",
        3,
        &["`apps` is empty"],
    );
}

#[test]
fn empty_files_and_syntax_errors() {
    for text in ["", "# nothing yet\n", "---\n", "[]\n"] {
        one(text, 0, &["the file holds no rule"]);
    }
    let found = problems("name: R\ntarget: { field: id, op: exists\napps: x\n");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].message.starts_with("yaml syntax error: "),
        "{found:?}"
    );
    assert!(found[0].line >= 2, "{found:?}");
}

#[test]
fn every_problem_is_reported_at_once_in_line_order() {
    let yaml = r#"- name: A
  colour: red
  target: { field: colour, op: is, value: x }
  apps: { jira: { role: user } }
- name: A
  target:
    all:
      - { field: team, op: equals, value: x }
      - { field: team, op: matches, value: "(" }
  apps: { zendesk: { role: boss } }
"#;
    let found = problems(yaml);
    let lines: Vec<usize> = found.iter().map(|p| p.line).collect();
    assert_eq!(lines, [2, 3, 4, 5, 8, 9, 10], "{found:#?}");
    assert!(found[3]
        .message
        .contains("duplicate rule name \"A\"; first defined at t.yaml:1"));
}

#[test]
fn duplicate_names_across_files_name_the_first_file() {
    let rule = "name: Same\ntarget: { field: id, op: exists }\napps: { wiki: { role: reader } }\n";
    let sources = [
        (PathBuf::from("dir/a.yaml"), rule.to_string()),
        (PathBuf::from("dir/b.yaml"), format!("# b\n{rule}")),
    ];
    let err = RuleSet::from_sources(&sources, &catalogue()).unwrap_err();
    assert_eq!(err.0.len(), 1, "{err}");
    assert_eq!(
        err.to_string(),
        "dir/b.yaml:2: duplicate rule name \"Same\"; first defined at dir/a.yaml:1"
    );
}

#[test]
fn no_sources_is_a_problem() {
    let err = RuleSet::from_sources(&[], &catalogue()).unwrap_err();
    assert_eq!(err.0[0].line, 0);
    assert!(err.0[0].message.contains("no rule files"));
}
