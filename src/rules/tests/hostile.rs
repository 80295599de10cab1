//! Hostile or careless rule files: each is a problem on a line, within
//! bounded memory, never a crash.

use std::path::PathBuf;

use serde_json::json;

use super::{catalogue, emp, problems, rules};
use crate::rules::yaml::tests::alias_bomb;
use crate::rules::RuleSet;

#[test]
fn the_alias_bomb_is_one_problem_at_its_line() {
    let found = problems(alias_bomb());
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].file, PathBuf::from("t.yaml"));
    assert_eq!(found[0].line, 7);
    assert!(
        found[0]
            .message
            .contains("anchors and aliases copy more than 10000 nodes"),
        "{found:?}"
    );
}

#[test]
fn a_shared_target_by_anchor_and_alias_still_loads() {
    let set = rules(
        r#"
- name: Developers in Slack
  target: &developers
    all:
      - { field: team, op: is, value: Development }
      - not: { field: employment_type, op: is, value: contractor }
  apps: { slack: { role: member } }
- name: Developers in Zendesk
  target: *developers
  apps: { zendesk: { role: light_agent } }
"#,
    );
    assert_eq!(set.len(), 2);
    let dev = emp(json!({"team": "Development", "employment_type": "employee"}));
    let grants = set.grants(&dev);
    assert_eq!(
        grants.keys().collect::<Vec<_>>(),
        ["slack", "zendesk"],
        "{grants:?}"
    );
    let contractor = emp(json!({"team": "Development", "employment_type": "contractor"}));
    assert!(set.grants(&contractor).is_empty());
}

#[test]
fn a_rule_file_over_the_limit_is_refused_unread_naming_its_size() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.yaml"),
        "name: A\ntarget: { field: id, op: exists }\napps: { slack: { role: member } }\n",
    )
    .unwrap();
    let huge = std::fs::File::create(dir.path().join("huge.yaml")).unwrap();
    // Sparse: 64 GiB on paper; reading it whole would exhaust memory.
    huge.set_len(64 << 30).unwrap();
    let errors = RuleSet::load_dir(dir.path(), &catalogue()).unwrap_err();
    assert_eq!(
        errors.to_string(),
        format!(
            "{}:0: the rule file is 68719476736 bytes, over the limit of 1048576 bytes (1 MiB) \
             for one rule file; split it into several files",
            dir.path().join("huge.yaml").display()
        )
    );
}

#[test]
fn a_rule_file_of_exactly_the_limit_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let rule = "name: A\ntarget: { field: id, op: exists }\napps: { slack: { role: member } }\n";
    let padding = crate::rules::MAX_RULE_FILE_BYTES - rule.len() - 1;
    let text = format!("{rule}#{}", "x".repeat(padding));
    assert_eq!(text.len(), crate::rules::MAX_RULE_FILE_BYTES);
    std::fs::write(dir.path().join("a.yaml"), text).unwrap();
    assert_eq!(
        RuleSet::load_dir(dir.path(), &catalogue()).unwrap().len(),
        1
    );
}

#[test]
fn too_deep_conditions_are_a_problem_at_their_line() {
    // `not` inside `not`, one mapping per line, deeper than 64 levels.
    let mut yaml = String::from("name: Deep\napps: { slack: { role: member } }\ntarget:\n");
    for level in 1..=70 {
        yaml.push_str(&format!("{}not:\n", "  ".repeat(level)));
    }
    yaml.push_str(&format!("{}{{ field: id, op: exists }}\n", "  ".repeat(71)));
    let found = problems(&yaml);
    assert_eq!(found.len(), 1, "{found:?}");
    // The top-level mapping is level 1; the 64th `not:` (line 67) opens level 65.
    assert_eq!(found[0].line, 67, "{found:?}");
    assert!(
        found[0].message.contains("nested more than 64 levels"),
        "{found:?}"
    );
}
