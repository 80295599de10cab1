//! The findings topic's records (CONTRACT §2, `docs/schemas/reconcile-finding.schema.json`):
//! what `connector::findings::records` writes, for every situation and every
//! optional part of a finding, validates and is documented field by field.

use provisioner::connector::findings::records;
use provisioner::connector::react::Run;
use provisioner::reconcile::{AppAccount, Difference, Field, Finding, Report, Situation};
use serde_json::{json, Value};

use crate::{errors, read, schema};

fn account(app_id: &str) -> AppAccount {
    AppAccount {
        app_id: app_id.into(),
        external_id: Some("E1".into()),
        user_name: "ada@acme.test".into(),
        email: Some("ada@acme.test".into()),
        active: true,
        role: Some("admin".into()),
        given_name: Some("Ada".into()),
        family_name: Some("Lovelace".into()),
        display_name: Some("Ada Lovelace".into()),
    }
}

fn finding(situation: Situation) -> Finding {
    Finding {
        situation,
        user_name: "ada@acme.test".into(),
        employee_id: None,
        account: Some(account("u-1")),
        generation: None,
        differences: Vec::new(),
        candidates: Vec::new(),
        ignored_by: None,
    }
}

/// One finding of each situation, with each optional part somewhere.
fn sample() -> Report {
    let mut findings: Vec<Finding> = Situation::ALL.into_iter().map(finding).collect();
    findings[1].employee_id = Some("E1".into());
    findings[1].generation = Some(3);
    findings[1].differences = vec![Difference {
        field: Field::Role,
        want: Some("member".into()),
        have: None,
    }];
    findings[2].account = None;
    findings[2].employee_id = Some("E3".into());
    findings[3].candidates = vec!["E1".into(), "E2".into()];
    findings[4].ignored_by = Some("svc-*".into());
    Report {
        findings,
        ..Report::default()
    }
}

#[test]
fn finding_records_validate_and_are_documented() {
    let validator = schema("reconcile-finding.schema.json");
    let schema_json: Value =
        serde_json::from_str(&read("docs/schemas/reconcile-finding.schema.json")).expect("JSON");
    let documented = schema_json["properties"].as_object().expect("properties");
    let account_fields = documented["account"]["properties"]
        .as_object()
        .expect("account properties");
    let run = Run::start();
    let written = records("slack", &sample(), &run, chrono::Utc::now());
    assert_eq!(written.len(), Situation::ALL.len());
    for (key, bytes) in &written {
        let value: Value = serde_json::from_slice(bytes).expect("JSON");
        assert_eq!(
            errors(&validator, &value),
            Vec::<String>::new(),
            "{key}: {value}"
        );
        for field in value.as_object().expect("object").keys() {
            assert!(
                documented.contains_key(field),
                "`{field}` is not in the schema"
            );
        }
        if let Some(account) = value.get("account").and_then(Value::as_object) {
            for field in account.keys() {
                assert!(
                    account_fields.contains_key(field),
                    "`account.{field}` undocumented"
                );
            }
        }
    }
    let missing: Value = serde_json::from_slice(&written[2].1).expect("JSON");
    assert_eq!(written[2].0, "slack/missing/E3");
    let mut bad = missing.clone();
    bad["partial"] = json!(true);
    assert!(
        !validator.is_valid(&bad),
        "a partial finding is never written"
    );
    bad["partial"] = json!(false);
    bad["situation"] = json!("unlinked_inactive");
    assert!(!validator.is_valid(&bad), "only the six situations");
}
