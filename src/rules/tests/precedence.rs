//! Role precedence across rules, and what `grants` returns.

use std::path::PathBuf;

use serde_json::json;

use super::{catalogue, emp, rules};
use crate::rules::{Grant, RuleSet};

const LAYERED: &str = r#"
- name: Everyone
  target: { field: email, op: ends_with, value: "@acme.test" }
  apps:
    zendesk: { role: end_user }
    slack: { role: member }
- name: Support
  target: { field: team, op: is, value: Support }
  apps:
    zendesk: { role: agent }
- name: Leads
  target: { field: job_title, op: contains, value: Lead }
  apps:
    zendesk: { role: light_agent }
    slack: { role: admin }
- name: Support too
  target: { field: team, op: is, value: Support }
  apps:
    zendesk: { role: agent }
"#;

fn grant(role: &str, rules: &[&str]) -> Grant {
    Grant {
        role: role.to_string(),
        rules: rules.iter().map(|r| r.to_string()).collect(),
    }
}

#[test]
fn most_privileged_role_wins_and_decider_is_listed_first() {
    let set = rules(LAYERED);
    let g = set.grants(&emp(json!({
        "email": "a@acme.test", "team": "Support", "job_title": "Team Lead"
    })));
    assert_eq!(
        g["zendesk"],
        grant("agent", &["Support", "Everyone", "Leads", "Support too"])
    );
    assert_eq!(g["slack"], grant("admin", &["Leads", "Everyone"]));
    assert_eq!(g.len(), 2);
}

#[test]
fn a_less_privileged_later_rule_does_not_downgrade() {
    let set = rules(LAYERED);
    let g = set.grants(&emp(json!({"email": "a@acme.test", "job_title": "Lead"})));
    assert_eq!(g["zendesk"], grant("light_agent", &["Leads", "Everyone"]));
}

#[test]
fn ties_go_to_the_earliest_rule_in_load_order() {
    let set = rules(LAYERED);
    let g = set.grants(&emp(json!({"team": "Support"})));
    assert_eq!(g["zendesk"], grant("agent", &["Support", "Support too"]));

    // Across files, load order is the order given.
    let a = (
        PathBuf::from("a.yaml"),
        "name: A\ntarget: { field: team, op: exists }\napps: { wiki: { role: reader } }\n"
            .to_string(),
    );
    let b = (
        PathBuf::from("b.yaml"),
        "name: B\ntarget: { field: team, op: exists }\napps: { wiki: { role: reader } }\n"
            .to_string(),
    );
    let e = emp(json!({"team": "x"}));
    let ab = RuleSet::from_sources(&[a.clone(), b.clone()], &catalogue()).unwrap();
    let ba = RuleSet::from_sources(&[b, a], &catalogue()).unwrap();
    assert_eq!(ab.grants(&e)["wiki"].rules, ["A", "B"]);
    assert_eq!(ba.grants(&e)["wiki"].rules, ["B", "A"]);
}

#[test]
fn provisioning_false_contributes_nothing() {
    let set = rules(
        r#"
- name: Readers
  target: { field: department, op: exists }
  apps:
    wiki: { role: reader }
- name: Editors (paused)
  target: { field: department, op: is, value: Engineering }
  apps:
    wiki: { provisioning: false, role: editor }
    slack: { provisioning: false, role: admin }
"#,
    );
    let g = set.grants(&emp(json!({"department": "Engineering"})));
    assert_eq!(g["wiki"], grant("reader", &["Readers"]));
    assert!(!g.contains_key("slack"), "{g:?}");
}

#[test]
fn no_match_no_apps() {
    let set = rules(LAYERED);
    assert!(set
        .grants(&emp(json!({"email": "x@other.test"})))
        .is_empty());
    assert!(set.grants(&emp(json!({}))).is_empty());
}

#[test]
fn precedence_follows_the_catalogue_order() {
    let yaml = r#"
- name: Low
  target: { field: team, op: exists }
  apps: { slack: { role: member } }
- name: High
  target: { field: team, op: exists }
  apps: { slack: { role: admin } }
"#;
    let e = emp(json!({"team": "x"}));
    let source = [(PathBuf::from("t.yaml"), yaml.to_string())];
    let normal = RuleSet::from_sources(&source, &catalogue()).unwrap();
    assert_eq!(normal.grants(&e)["slack"], grant("admin", &["High", "Low"]));
    // Reverse the slack roles: now `member` is the privileged one.
    let reversed = super::CATALOGUE.replace(r#"["member", "admin"]"#, r#"["admin", "member"]"#);
    let reversed = RuleSet::from_sources(&source, &super::catalogue_from(&reversed)).unwrap();
    assert_eq!(
        reversed.grants(&e)["slack"],
        grant("member", &["Low", "High"])
    );
}

#[test]
fn len_counts_rules_across_files_and_documents() {
    let set = rules(LAYERED);
    assert_eq!(set.len(), 4);
    assert!(!set.is_empty());
    let multi = rules(
        "name: A\ntarget: { field: id, op: exists }\napps: { wiki: { role: reader } }\n---\n- name: B\n  target: { field: id, op: exists }\n  apps: { wiki: { role: reader } }\n",
    );
    assert_eq!(multi.len(), 2);
}

#[test]
fn rule_set_is_shareable() {
    fn assert_traits<T: Clone + std::fmt::Debug + Send + Sync>() {}
    assert_traits::<RuleSet>();
}
