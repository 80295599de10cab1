//! The rules version changes exactly with what decides grants.

use std::path::PathBuf;

use super::{catalogue_from, CATALOGUE};
use crate::rules::RuleSet;

const A: &str = "name: A\ntarget: { field: team, op: exists }\napps: { wiki: { role: reader } }\n";
const B: &str = "name: B\ntarget: { field: team, op: exists }\napps: { slack: { role: member } }\n";

fn version(files: &[(&str, &str)], catalogue_toml: &str) -> String {
    let sources: Vec<(PathBuf, String)> = files
        .iter()
        .map(|(name, text)| (PathBuf::from(name), text.to_string()))
        .collect();
    RuleSet::from_sources(&sources, &catalogue_from(catalogue_toml))
        .unwrap()
        .version()
        .to_string()
}

#[test]
fn has_the_sha256_shape() {
    let v = version(&[("a.yaml", A)], CATALOGUE);
    let hex = v.strip_prefix("sha256:").unwrap();
    assert_eq!(hex.len(), 64);
    assert!(hex
        .chars()
        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
}

#[test]
fn is_stable_for_the_same_inputs() {
    let files = [("a.yaml", A), ("b.yaml", B)];
    assert_eq!(version(&files, CATALOGUE), version(&files, CATALOGUE));
    // Only the file name counts, not the directory it was read from.
    assert_eq!(
        version(&[("/etc/rules/a.yaml", A)], CATALOGUE),
        version(&[("config/rules/a.yaml", A)], CATALOGUE)
    );
    // Connector settings do not decide grants.
    let tuned = CATALOGUE.replace("http://127.0.0.1:8080", "https://slack.example");
    assert_eq!(version(&files, CATALOGUE), version(&files, &tuned));
}

#[test]
fn changes_with_a_file() {
    let base = version(&[("a.yaml", A), ("b.yaml", B)], CATALOGUE);
    let edited = A.replace("team", "department");
    assert_ne!(
        base,
        version(&[("a.yaml", &edited), ("b.yaml", B)], CATALOGUE)
    );
    assert_ne!(base, version(&[("a.yaml", A)], CATALOGUE), "file removed");
    assert_ne!(
        base,
        version(&[("a.yaml", A), ("c.yaml", B)], CATALOGUE),
        "renamed"
    );
    assert_ne!(
        base,
        version(&[("b.yaml", B), ("a.yaml", A)], CATALOGUE),
        "reordered"
    );
    let comment = format!("# a comment\n{A}");
    assert_ne!(
        base,
        version(&[("a.yaml", &comment), ("b.yaml", B)], CATALOGUE)
    );
}

#[test]
fn changes_with_the_catalogue_roles_and_apps() {
    let files = [("a.yaml", A)];
    let base = version(&files, CATALOGUE);
    let reordered = CATALOGUE.replace(r#"["reader", "editor"]"#, r#"["editor", "reader"]"#);
    assert_ne!(
        base,
        version(&files, &reordered),
        "role order is precedence"
    );
    let more = CATALOGUE.replace(
        r#"["reader", "editor"]"#,
        r#"["reader", "editor", "owner"]"#,
    );
    assert_ne!(base, version(&files, &more), "a role added");
    let extra = format!(
        "{CATALOGUE}\n[apps.jira]\nconnector = \"scim\"\nbase_url = \"http://x\"\nroles = [\"user\"]\n"
    );
    assert_ne!(base, version(&files, &extra), "an app added");
}
