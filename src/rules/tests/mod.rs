//! Unit tests of the rules module, one file per concern; shared helpers here.

mod combinators;
mod hostile;
mod operators;
mod precedence;
mod problems;
mod props;
mod regexes;
mod version;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::compile_condition;
use super::condition::Condition;
use super::problem::{Problems, RuleProblem};
use super::regexes::Regexes;
use super::{RuleSet, Snapshot};
use crate::config::{AppConfig, Config};

/// A catalogue like the example configuration's.
pub(crate) const CATALOGUE: &str = r#"
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

/// The test catalogue.
pub(crate) fn catalogue() -> BTreeMap<String, AppConfig> {
    catalogue_from(CATALOGUE)
}

/// A catalogue from TOML text.
pub(crate) fn catalogue_from(toml: &str) -> BTreeMap<String, AppConfig> {
    Config::parse(Path::new("test.toml"), toml).unwrap().apps
}

/// A rule set from one file's text; panics with the problems if invalid.
pub(crate) fn rules(yaml: &str) -> RuleSet {
    RuleSet::from_sources(&[(PathBuf::from("t.yaml"), yaml.to_string())], &catalogue())
        .unwrap_or_else(|e| panic!("rules invalid:\n{e}"))
}

/// The problems of one file's text; panics if it is valid.
pub(crate) fn problems(yaml: &str) -> Vec<RuleProblem> {
    match RuleSet::from_sources(&[(PathBuf::from("t.yaml"), yaml.to_string())], &catalogue()) {
        Ok(_) => panic!("expected problems in:\n{yaml}"),
        Err(e) => e.0,
    }
}

/// A snapshot from a JSON object.
pub(crate) fn emp(value: Value) -> Snapshot {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

/// Compiles a condition written in YAML (flow or block).
pub(crate) fn cond(yaml: &str) -> Condition {
    let docs = super::yaml::parse(yaml).unwrap();
    let file = PathBuf::from("c.yaml");
    let mut p = Problems::new(&file);
    let compiled = compile_condition::compile(&mut p, &mut Regexes::default(), &docs[0]);
    let found = p.into_vec();
    assert!(found.is_empty(), "condition problems: {found:?}");
    compiled.unwrap()
}

/// Whether the YAML condition matches the JSON employee.
pub(crate) fn holds(condition: &str, employee: Value) -> bool {
    cond(condition).matches(&crate::events::Fields::of(&emp(employee)))
}
