//! `rules check` through the library: `RuleSet::load_dir` on fixture
//! directories (tests/fixtures/rules/<case>/), one per kind of problem, each
//! pinned to its exact file and line; and the repository's own rules.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use provisioner::config::{AppConfig, Config};
use provisioner::rules::{RuleErrors, RuleProblem, RuleSet};
use serde_json::json;

mod support;

/// The catalogue the fixtures are written against.
fn catalogue() -> BTreeMap<String, AppConfig> {
    let toml = r#"
[apps.slack]
connector = "scim"
base_url = "http://127.0.0.1:8080"
roles = ["member", "admin"]

[apps.zendesk]
connector = "zendesk"
base_url = "https://acme.zendesk.com"
roles = ["end_user", "light_agent", "agent", "admin"]

[apps.wiki]
connector = "webhook"
base_url = "http://127.0.0.1:8090/provision"
roles = ["reader", "editor"]
"#;
    Config::parse(Path::new("catalogue.toml"), toml)
        .expect("test catalogue is valid")
        .apps
}

fn fixture(case: &str) -> PathBuf {
    support::root().join("tests/fixtures/rules").join(case)
}

fn errors(case: &str) -> RuleErrors {
    match RuleSet::load_dir(&fixture(case), &catalogue()) {
        Ok(set) => panic!("{case}: expected problems, loaded {} rules", set.len()),
        Err(e) => e,
    }
}

/// Asserts one problem, in `file` of the case, at `line`, containing `fragments`.
fn single(case: &str, file: &str, line: usize, fragments: &[&str]) -> RuleProblem {
    let errors = errors(case);
    assert_eq!(errors.0.len(), 1, "{case}: expected one problem:\n{errors}");
    let problem = errors.0[0].clone();
    assert_eq!(problem.file, fixture(case).join(file), "{problem}");
    assert_eq!(problem.line, line, "{problem}");
    for fragment in fragments {
        assert!(
            problem.message.contains(fragment),
            "{problem}\nlacks {fragment:?}"
        );
    }
    // The Display form is what `rules check` prints.
    let shown = errors.to_string();
    let prefix = format!("{}:{line}: ", fixture(case).join(file).display());
    assert!(shown.starts_with(&prefix), "{shown}");
    problem
}

#[test]
fn yaml_syntax_error() {
    // The flow mapping opened on line 4 is found unclosed on line 5; the
    // problem points at where it opened and keeps the scanner's words.
    single(
        "yaml_syntax",
        "broken.yaml",
        4,
        &[
            "yaml syntax error",
            "the flow mapping opened at line 4, column 3 is never closed",
            "did not find expected ',' or '}' at line 5",
        ],
    );
}

#[test]
fn unknown_key() {
    single(
        "unknown_key",
        "rules.yaml",
        3,
        &[
            "unknown key `owner`",
            "valid keys: name, description, target, apps",
        ],
    );
}

#[test]
fn unknown_operator() {
    single(
        "unknown_operator",
        "rules.yaml",
        10,
        &[
            "unknown operator \"equals\"",
            "is, is_not, in, not_in, contains",
        ],
    );
}

#[test]
fn bad_regex() {
    single(
        "bad_regex",
        "rules.yaml",
        7,
        &["invalid regex \"(lead|manager\"", "unclosed group"],
    );
}

#[test]
fn unknown_app() {
    single(
        "unknown_app",
        "rules.yaml",
        5,
        &["unknown app \"jira\"", "slack, wiki, zendesk"],
    );
}

#[test]
fn unknown_role() {
    single(
        "unknown_role",
        "rules.yaml",
        6,
        &[
            "app \"zendesk\" has no role \"owner\"",
            "end_user, light_agent, agent, admin",
        ],
    );
}

#[test]
fn duplicate_name_points_at_the_second_and_names_the_first() {
    let first = fixture("duplicate_name").join("a.yaml");
    single(
        "duplicate_name",
        "b.yaml",
        6,
        &[
            "duplicate rule name \"Everyone\"",
            &format!("first defined at {}:1", first.display()),
        ],
    );
}

#[test]
fn several_problems_in_one_file_are_all_reported() {
    let errors = errors("several_problems");
    let file = fixture("several_problems").join("rules.yaml");
    let expected: [(usize, &str); 11] = [
        (2, "unknown key `owner`"),
        (5, "unknown field \"colour\""),
        (6, "unknown operator \"equals\""),
        (7, "invalid regex \"[unclosed\""),
        (8, "`in` takes `values` (a list), not `value`"),
        (9, "`exists` takes no value"),
        (10, "invalid date \"2026-02-30\""),
        (12, "unknown app \"jira\""),
        (13, "has no role \"owner\""),
        (14, "duplicate rule name \"Many mistakes\""),
        (17, "`provisioning` must be true or false"),
    ];
    assert_eq!(errors.0.len(), expected.len(), "{errors}");
    for (problem, (line, fragment)) in errors.0.iter().zip(expected) {
        assert_eq!(problem.file, file, "{problem}");
        assert_eq!(problem.line, line, "{problem}");
        assert!(
            problem.message.contains(fragment),
            "{problem}\nlacks {fragment:?}"
        );
    }
    assert_eq!(errors.to_string().lines().count(), expected.len());
}

#[test]
fn a_directory_without_rule_files_is_refused() {
    let errors = errors("no_rule_files");
    assert_eq!(errors.0.len(), 1, "{errors}");
    assert_eq!(errors.0[0].file, fixture("no_rule_files"));
    assert_eq!(errors.0[0].line, 0);
    assert!(errors.0[0].message.contains("no rule files"), "{errors}");
}

#[test]
fn a_missing_directory_is_refused() {
    let errors = errors("does_not_exist");
    assert_eq!(errors.0.len(), 1, "{errors}");
    assert_eq!(errors.0[0].line, 0);
    assert!(
        errors.0[0]
            .message
            .starts_with("cannot read the rules directory"),
        "{errors}"
    );
}

#[test]
fn only_visible_yaml_files_load_in_name_order() {
    // `.hidden.yaml` is broken YAML and `notes.txt` is not a rule file: both skipped.
    let set = RuleSet::load_dir(&fixture("valid"), &catalogue()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(set.len(), 2);
    let dev = set.grants(
        &json!({"team": "Development"})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    );
    assert_eq!(dev["zendesk"].role, "light_agent");
}

#[test]
fn the_repository_rules_load_with_the_repository_catalogue() {
    let root = support::root();
    let config =
        Config::load(&root.join("config/provisioner.toml")).unwrap_or_else(|e| panic!("{e}"));
    let set = RuleSet::load_dir(&root.join(&config.rules.path), &config.apps)
        .unwrap_or_else(|e| panic!("config/rules must load cleanly:\n{e}"));
    assert_eq!(set.len(), 5);
    assert!(set.version().starts_with("sha256:"));

    // Ada of CONTRACT §3 gets what the CONTRACT §1 preview shows, and more.
    let ada = json!({
        "id": "E1001", "email": "ada@acme.test", "team": "Development",
        "department": "Engineering", "location": "Barcelona", "job_title": "Engineer",
        "employment_type": "full_time", "start_date": "2026-12-01", "end_date": null,
        "attributes": { "cost_center": "RND" }
    });
    let grants = set.grants(ada.as_object().unwrap_or(&Default::default()));
    assert_eq!(grants["zendesk"].role, "light_agent");
    assert_eq!(grants["zendesk"].rules, ["Dev Team"]);
    assert_eq!(grants["slack"].role, "member");
    assert_eq!(
        grants["wiki"].role, "reader",
        "the paused editor rule gives nothing"
    );
    assert_eq!(grants["wiki"].rules, ["Everyone on the wiki"]);
}
