//! `all`, `any`, `not` and their nesting.

use serde_json::json;

use super::holds;

#[test]
fn all_needs_every_part() {
    let c =
        "all: [{ field: team, op: is, value: Dev }, { field: location, op: is, value: Madrid }]";
    assert!(holds(c, json!({"team": "Dev", "location": "Madrid"})));
    assert!(!holds(c, json!({"team": "Dev", "location": "Paris"})));
    assert!(!holds(c, json!({"team": "Ops", "location": "Madrid"})));
    assert!(!holds(c, json!({})));
}

#[test]
fn any_needs_one_part() {
    let c =
        "any: [{ field: team, op: is, value: Dev }, { field: location, op: is, value: Madrid }]";
    assert!(holds(c, json!({"team": "Dev", "location": "Paris"})));
    assert!(holds(c, json!({"team": "Ops", "location": "Madrid"})));
    assert!(!holds(c, json!({"team": "Ops", "location": "Paris"})));
    assert!(!holds(c, json!({})));
}

#[test]
fn not_negates() {
    let c = "not: { field: employment_type, op: is, value: contractor }";
    assert!(!holds(c, json!({"employment_type": "contractor"})));
    assert!(holds(c, json!({"employment_type": "full_time"})));
    assert!(holds(c, json!({})));
    let double = "not: { not: { field: team, op: exists } }";
    assert!(holds(double, json!({"team": "x"})));
    assert!(!holds(double, json!({})));
}

/// The CONTRACT §4 example, nested three deep.
const DEV_TEAM: &str = r#"
all:
  - { field: team, op: is, value: Development }
  - any:
      - { field: location, op: in, values: [Barcelona, Madrid] }
      - { field: attributes.remote, op: is, value: "true" }
  - not: { field: employment_type, op: is, value: contractor }
"#;

#[test]
fn nesting_follows_the_tree() {
    let dev = |location: &str, remote: bool, kind: &str| {
        json!({
            "team": "Development", "location": location,
            "employment_type": kind, "attributes": {"remote": remote}
        })
    };
    assert!(holds(DEV_TEAM, dev("Madrid", false, "full_time")));
    assert!(holds(DEV_TEAM, dev("Paris", true, "full_time")));
    assert!(!holds(DEV_TEAM, dev("Paris", false, "full_time")));
    assert!(!holds(DEV_TEAM, dev("Madrid", true, "contractor")));
    assert!(!holds(
        DEV_TEAM,
        json!({"team": "Support", "location": "Madrid"})
    ));
    // The employment type may be absent: `not is` then holds.
    assert!(holds(
        DEV_TEAM,
        json!({"team": "Development", "location": "Barcelona"})
    ));
}

#[test]
fn deep_nesting_in_block_style() {
    let c = r#"
any:
  - all:
      - { field: department, op: is, value: Engineering }
      - not:
          any:
            - { field: job_title, op: contains, value: Intern }
            - { field: end_date, op: exists }
  - { field: attributes.vip, op: is, value: yes }
"#;
    assert!(holds(
        c,
        json!({"department": "Engineering", "job_title": "Engineer"})
    ));
    assert!(!holds(
        c,
        json!({"department": "Engineering", "job_title": "Intern"})
    ));
    assert!(!holds(
        c,
        json!({"department": "Engineering", "end_date": "2027-01-01"})
    ));
    assert!(holds(c, json!({"attributes": {"vip": "yes"}})));
}
