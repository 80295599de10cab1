//! Every operator, on present, missing and oddly typed values.

use serde_json::json;

use super::holds;

#[test]
fn is_and_is_not() {
    let c = "{ field: team, op: is, value: Development }";
    assert!(holds(c, json!({"team": "Development"})));
    assert!(!holds(c, json!({"team": "development"})));
    assert!(!holds(c, json!({"team": "Development "})));
    assert!(!holds(c, json!({})));
    assert!(!holds(c, json!({"team": null})));

    let c = "{ field: team, op: is_not, value: Development }";
    assert!(!holds(c, json!({"team": "Development"})));
    assert!(holds(c, json!({"team": "Support"})));
    // A missing value is "not equal".
    assert!(holds(c, json!({})));
    assert!(holds(c, json!({"team": null})));
}

#[test]
fn in_and_not_in() {
    let c = "{ field: location, op: in, values: [Barcelona, Madrid] }";
    assert!(holds(c, json!({"location": "Madrid"})));
    assert!(holds(c, json!({"location": "Barcelona"})));
    assert!(!holds(c, json!({"location": "Paris"})));
    assert!(!holds(c, json!({"location": "madrid"})));
    assert!(!holds(c, json!({})));

    let c = "{ field: location, op: not_in, values: [Barcelona, Madrid] }";
    assert!(!holds(c, json!({"location": "Madrid"})));
    assert!(holds(c, json!({"location": "Paris"})));
    assert!(holds(c, json!({})));
}

#[test]
fn contains_starts_with_ends_with() {
    let e = json!({"email": "ada@acme.test"});
    assert!(holds(
        "{ field: email, op: contains, value: '@acme' }",
        e.clone()
    ));
    assert!(!holds(
        "{ field: email, op: contains, value: '@other' }",
        e.clone()
    ));
    assert!(holds(
        "{ field: email, op: starts_with, value: ada }",
        e.clone()
    ));
    assert!(!holds(
        "{ field: email, op: starts_with, value: acme }",
        e.clone()
    ));
    assert!(holds(
        "{ field: email, op: ends_with, value: .test }",
        e.clone()
    ));
    assert!(!holds("{ field: email, op: ends_with, value: .com }", e));
    for op in ["contains", "starts_with", "ends_with"] {
        let c = format!("{{ field: email, op: {op}, value: a }}");
        assert!(!holds(&c, json!({})), "{op} on a missing field");
        assert!(!holds(&c, json!({"email": null})), "{op} on null");
    }
}

#[test]
fn matches_uses_the_regex_unanchored() {
    let c = "{ field: job_title, op: matches, value: '(?i)lead|manager' }";
    assert!(holds(c, json!({"job_title": "Team Lead"})));
    assert!(holds(c, json!({"job_title": "MANAGER"})));
    assert!(!holds(c, json!({"job_title": "Engineer"})));
    assert!(!holds(c, json!({})));
    let anchored = "{ field: id, op: matches, value: '^E[0-9]{4}$' }";
    assert!(holds(anchored, json!({"id": "E1001"})));
    assert!(!holds(anchored, json!({"id": "XE1001"})));
}

#[test]
fn exists_and_missing() {
    let exists = "{ field: manager_id, op: exists }";
    let missing = "{ field: manager_id, op: missing }";
    for (employee, present) in [
        (json!({"manager_id": "E0001"}), true),
        (json!({"manager_id": ""}), true),
        (json!({"manager_id": 0}), true),
        (json!({"manager_id": false}), true),
        (json!({"manager_id": []}), true),
        (json!({"manager_id": null}), false),
        (json!({}), false),
    ] {
        assert_eq!(holds(exists, employee.clone()), present, "{employee}");
        assert_eq!(holds(missing, employee.clone()), !present, "{employee}");
    }
}

#[test]
fn before_and_after_with_dates() {
    let before = "{ field: start_date, op: before, value: 2027-01-01 }";
    let after = "{ field: start_date, op: after, value: '2027-01-01' }";
    assert!(holds(before, json!({"start_date": "2026-12-01"})));
    assert!(!holds(after, json!({"start_date": "2026-12-01"})));
    assert!(holds(after, json!({"start_date": "2027-01-02"})));
    // The same day is neither before nor after.
    assert!(!holds(before, json!({"start_date": "2027-01-01"})));
    assert!(!holds(after, json!({"start_date": "2027-01-01"})));
    // Missing or unparsable employee values make both false.
    for bad in [
        json!({}),
        json!({"start_date": null}),
        json!({"start_date": "soon"}),
        json!({"start_date": 20270101}),
    ] {
        assert!(!holds(before, bad.clone()), "{bad}");
        assert!(!holds(after, bad.clone()), "{bad}");
    }
}

#[test]
fn before_and_after_with_datetimes() {
    let c = "{ field: end_date, op: before, value: '2026-12-01T12:00:00Z' }";
    assert!(
        holds(c, json!({"end_date": "2026-12-01"})),
        "midnight is before noon"
    );
    assert!(holds(c, json!({"end_date": "2026-12-01T11:59:59Z"})));
    assert!(!holds(c, json!({"end_date": "2026-12-01T12:00:00Z"})));
    // 13:00 in Madrid (+01:00) is 12:00 UTC: not before.
    assert!(!holds(c, json!({"end_date": "2026-12-01T13:00:00+01:00"})));
    assert!(holds(c, json!({"end_date": "2026-12-01T12:59:00+01:00"})));
    let after = "{ field: end_date, op: after, value: '2026-12-01' }";
    assert!(holds(after, json!({"end_date": "2026-12-01T00:00:01Z"})));
    assert!(!holds(after, json!({"end_date": "2026-11-30T23:59:59Z"})));
}

#[test]
fn case_insensitive_applies_to_every_text_operator() {
    let e = json!({"team": "SUPPORT", "email": "Ada@ACME.test", "location": "MADRID"});
    for c in [
        "{ field: team, op: is, value: support, case_insensitive: true }",
        "{ field: team, op: is_not, value: dev, case_insensitive: true }",
        "{ field: location, op: in, values: [Barcelona, Madrid], case_insensitive: true }",
        "{ field: email, op: contains, value: '@acme', case_insensitive: true }",
        "{ field: email, op: starts_with, value: ada, case_insensitive: true }",
        "{ field: email, op: ends_with, value: '.TEST', case_insensitive: true }",
        "{ field: email, op: matches, value: '^ada@acme', case_insensitive: true }",
    ] {
        assert!(holds(c, e.clone()), "{c}");
        let exact = c.replace(", case_insensitive: true", "");
        if !c.contains("is_not") {
            assert!(!holds(&exact, e.clone()), "{exact}");
        }
    }
    assert!(!holds(
        "{ field: team, op: is_not, value: support, case_insensitive: true }",
        e.clone()
    ));
    assert!(!holds(
        "{ field: location, op: not_in, values: [madrid], case_insensitive: true }",
        e
    ));
    assert!(holds(
        "{ field: team, op: is, value: STRASSE, case_insensitive: true }",
        json!({"team": "straße"})
    ));
    assert!(holds(
        "{ field: team, op: is, value: support, case_insensitive: false }",
        json!({"team": "support"})
    ));
}

#[test]
fn attributes_are_looked_up_by_name() {
    let c = "{ field: attributes.cost_center, op: is, value: RND }";
    assert!(holds(c, json!({"attributes": {"cost_center": "RND"}})));
    assert!(!holds(c, json!({"attributes": {"cost_center": "OPS"}})));
    assert!(!holds(c, json!({"attributes": {}})));
    assert!(!holds(c, json!({"attributes": null})));
    assert!(!holds(c, json!({"attributes": "RND"})));
    assert!(!holds(c, json!({"cost_center": "RND"})));
    let dotted = "{ field: attributes.a.b, op: exists }";
    assert!(holds(dotted, json!({"attributes": {"a.b": 1}})));
    assert!(!holds(dotted, json!({"attributes": {"a": {"b": 1}}})));
}

#[test]
fn numbers_and_bools_compare_by_their_string_form() {
    // Quoted and unquoted rule values alike.
    for c in [
        "{ field: attributes.remote, op: is, value: 'true' }",
        "{ field: attributes.remote, op: is, value: true }",
    ] {
        assert!(holds(c, json!({"attributes": {"remote": true}})), "{c}");
        assert!(holds(c, json!({"attributes": {"remote": "true"}})), "{c}");
        assert!(!holds(c, json!({"attributes": {"remote": false}})), "{c}");
    }
    let c = "{ field: attributes.level, op: in, values: [3, 4] }";
    assert!(holds(c, json!({"attributes": {"level": 3}})));
    assert!(holds(c, json!({"attributes": {"level": "4"}})));
    assert!(!holds(c, json!({"attributes": {"level": 5}})));
    // The rule's number is the text the author wrote.
    let c = "{ field: attributes.code, op: is, value: 007 }";
    assert!(holds(c, json!({"attributes": {"code": "007"}})));
    assert!(!holds(c, json!({"attributes": {"code": 7}})));
    let c = "{ field: attributes.ratio, op: starts_with, value: '1.' }";
    assert!(holds(c, json!({"attributes": {"ratio": 1.5}})));
}

#[test]
fn lists_and_objects_have_no_string_form() {
    let e = json!({"attributes": {"tags": ["a", "b"]}});
    assert!(!holds(
        "{ field: attributes.tags, op: contains, value: a }",
        e.clone()
    ));
    assert!(!holds(
        "{ field: attributes.tags, op: is, value: '[\"a\",\"b\"]' }",
        e.clone()
    ));
    assert!(holds(
        "{ field: attributes.tags, op: is_not, value: a }",
        e.clone()
    ));
    assert!(holds("{ field: attributes.tags, op: exists }", e));
}
