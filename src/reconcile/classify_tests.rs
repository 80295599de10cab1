use super::*;
use crate::ids::EmployeeId;
use crate::reconcile::test_fixtures::{account_of, employee, stray};
use crate::reconcile::{Counts, Difference, Field};

fn no_ignore() -> IgnoreList {
    IgnoreList::default()
}

/// The only finding of a report, checking there is one.
fn only(report: &Report) -> &Finding {
    assert_eq!(report.findings.len(), 1, "{report:#?}");
    &report.findings[0]
}

#[test]
fn an_account_as_decided_is_linked_and_needs_nothing() {
    let ada = employee("E1", Some("agent"));
    let report = classify(
        std::slice::from_ref(&ada),
        &[account_of("u1", &ada)],
        &no_ignore(),
    );
    let f = only(&report);
    assert_eq!(f.situation, Situation::Linked);
    assert_eq!(f.employee_id.as_deref(), Some("E1"));
    assert_eq!(f.generation, None);
    assert_eq!(
        report.counts,
        Counts {
            linked: 1,
            ..Counts::default()
        }
    );
}

#[test]
fn drift_lists_each_differing_field_with_both_values() {
    let ada = employee("E1", Some("agent"));
    let mut held = account_of("u1", &ada);
    held.role = Some("admin".into());
    held.active = false;
    held.email = None;
    held.family_name = Some("Byron".into());
    let report = classify(&[ada], &[held], &no_ignore());
    let f = only(&report);
    assert_eq!(f.situation, Situation::Drifted);
    assert_eq!(f.generation, Some(7));
    let diff = |field, want: &str, have: Option<&str>| Difference {
        field,
        want: Some(want.into()),
        have: have.map(str::to_string),
    };
    assert_eq!(
        f.differences,
        vec![
            diff(Field::Role, "agent", Some("admin")),
            diff(Field::Active, "true", Some("false")),
            diff(Field::Email, "e1@acme.test", None),
            diff(Field::FamilyName, "Lovelace", Some("Byron")),
        ]
    );
    assert_eq!(
        f.describe()[3],
        "role: want agent, have admin; active: want true, have false; \
         email: want e1@acme.test, have (none); family_name: want Lovelace, have Byron"
    );
}

#[test]
fn an_unknown_role_in_the_app_is_drift() {
    let ada = employee("E1", Some("agent"));
    let mut held = account_of("u1", &ada);
    held.role = None;
    let f = classify(&[ada], &[held], &no_ignore()).findings.remove(0);
    assert_eq!(f.situation, Situation::Drifted);
    assert_eq!(f.differences[0].field, Field::Role);
    assert_eq!(f.differences[0].have, None);
}

#[test]
fn user_name_and_email_compare_without_case_names_with_it() {
    let ada = employee("E1", Some("agent"));
    let mut held = account_of("u1", &ada);
    held.user_name = "E1@ACME.test".into();
    held.email = Some("e1@Acme.Test".into());
    let report = classify(
        std::slice::from_ref(&ada),
        std::slice::from_ref(&held),
        &no_ignore(),
    );
    assert_eq!(only(&report).situation, Situation::Linked);

    held.display_name = Some("ada lovelace".into());
    let f = classify(&[ada], &[held], &no_ignore()).findings.remove(0);
    assert_eq!(f.situation, Situation::Drifted);
    assert_eq!(
        f.differences.iter().map(|d| d.field).collect::<Vec<_>>(),
        vec![Field::DisplayName]
    );
}

#[test]
fn fields_our_account_does_not_set_or_the_app_does_not_hold_are_not_compared() {
    let mut ada = employee("E1", Some("agent"));
    ada.account.email = None;
    ada.account.given_name = None;
    let mut held = account_of("u1", &ada);
    held.email = Some("personal@elsewhere.test".into());
    held.given_name = Some("Augusta".into());
    // Zendesk holds one name: no given or family name to compare.
    held.family_name = None;
    let report = classify(&[ada], &[held], &no_ignore());
    assert_eq!(only(&report).situation, Situation::Linked);
}

#[test]
fn a_changed_user_name_is_drift() {
    let ada = employee("E1", Some("agent"));
    let mut held = account_of("u1", &ada);
    held.user_name = "ada.old".into();
    let f = classify(&[ada], &[held], &no_ignore()).findings.remove(0);
    assert_eq!(f.situation, Situation::Drifted);
    assert_eq!(f.differences[0].field, Field::UserName);
}

#[test]
fn a_leaver_still_active_is_an_orphan_and_inactive_is_in_order() {
    let gone = employee("E1", None);
    let mut held = account_of("u1", &gone);
    held.active = true;
    held.role = Some("agent".into());
    let f = classify(
        std::slice::from_ref(&gone),
        std::slice::from_ref(&held),
        &no_ignore(),
    )
    .findings
    .remove(0);
    assert_eq!(f.situation, Situation::Orphan);
    assert_eq!(f.employee_id.as_deref(), Some("E1"));
    assert_eq!(f.generation, Some(7));
    assert_eq!(f.describe()[3], "leaver's account still active");

    held.active = false;
    let report = classify(&[gone], &[held], &no_ignore());
    assert_eq!(only(&report).situation, Situation::Linked);
    assert_eq!(report.counts.linked, 1);
}

#[test]
fn an_unlinked_active_account_is_an_orphan_an_inactive_one_only_counted() {
    let report = classify(
        &[],
        &[stray("u1", "intruder", true), stray("u2", "old", false)],
        &no_ignore(),
    );
    let f = only(&report);
    assert_eq!(f.situation, Situation::Orphan);
    assert_eq!(f.employee_id, None);
    assert_eq!(
        f.describe(),
        ["orphan", "intruder", "-", "active, owned by no employee"]
    );
    assert_eq!(report.counts.orphan, 1);
    assert_eq!(report.counts.unlinked_inactive, 1);
}

#[test]
fn an_active_employee_without_an_account_is_missing_a_leaver_is_not() {
    let report = classify(
        &[employee("E1", Some("agent")), employee("E2", None)],
        &[],
        &no_ignore(),
    );
    let f = only(&report);
    assert_eq!(f.situation, Situation::Missing);
    assert_eq!(f.employee_id.as_deref(), Some("E1"));
    assert_eq!(f.user_name, "e1@acme.test");
    assert_eq!(f.account, None);
    assert_eq!(f.generation, Some(7));
}

#[test]
fn external_id_links_first_then_user_name_or_email_without_case() {
    let ada = employee("E1", Some("agent"));
    let bob = employee("E2", Some("agent"));
    // External id E1 though its e-mail is Bob's: the id wins.
    let mut by_id = account_of("u1", &ada);
    by_id.email = Some("E2@acme.test".into());
    // No external id; Bob's e-mail as its user name, in capitals.
    let mut by_name = account_of("u2", &bob);
    by_name.external_id = None;
    by_name.user_name = "E2@ACME.TEST".into();
    by_name.email = None;
    let report = classify(&[ada, bob], &[by_id, by_name], &no_ignore());
    let links: Vec<_> = report
        .findings
        .iter()
        .map(|f| {
            (
                f.account.as_ref().map(|a| a.app_id.as_str()),
                f.employee_id.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        links,
        vec![(Some("u1"), Some("E1")), (Some("u2"), Some("E2"))]
    );
    assert_eq!(report.counts.missing, 0);
}

#[test]
fn an_unknown_external_id_falls_back_to_the_name() {
    let ada = employee("E1", Some("agent"));
    let mut held = account_of("u1", &ada);
    held.external_id = Some("X-99".into());
    let report = classify(&[ada], &[held], &no_ignore());
    assert_eq!(only(&report).employee_id.as_deref(), Some("E1"));
}

#[test]
fn several_accounts_of_one_employee_are_all_disputed() {
    let ada = employee("E1", Some("agent"));
    let made = account_of("u1", &ada);
    let by_hand = stray("u2", "e1@acme.test", false);
    let report = classify(&[ada], &[made, by_hand], &no_ignore());
    assert_eq!(report.findings.len(), 2);
    for f in &report.findings {
        assert_eq!(f.situation, Situation::Disputed);
        assert_eq!(f.employee_id.as_deref(), Some("E1"));
        assert_eq!(f.describe()[3], "one of several accounts of this employee");
    }
    assert_eq!(
        report.counts,
        Counts {
            disputed: 2,
            ..Counts::default()
        }
    );
}

/// Decided: an account whose name matches two employees links to neither;
/// it is disputed (never acted on), and neither candidate is missing (a
/// re-application could create a duplicate of it).
#[test]
fn a_name_matching_two_employees_is_disputed_and_hides_neither() {
    let mut ada = employee("E1", Some("agent"));
    let bob = employee("E2", Some("agent"));
    ada.account.user_name = "shared@acme.test".into();
    let mut held = stray("u1", "SHARED@acme.test", true);
    held.email = Some("e2@acme.test".into());
    let report = classify(&[ada, bob], &[held], &no_ignore());
    let f = only(&report);
    assert_eq!(f.situation, Situation::Disputed);
    assert_eq!(f.employee_id, None);
    assert_eq!(
        f.candidates,
        vec![EmployeeId::from("E1"), EmployeeId::from("E2")]
    );
    assert_eq!(
        f.describe()[2..],
        ["E1,E2".to_string(), "name matches 2 employees".into()]
    );
}

#[test]
fn ignored_accounts_are_only_ignored_and_untouched_owners_are_not_missing() {
    let ignore = IgnoreList::new(&["svc-*", "admin@*"]).expect("valid");
    let ada = employee("E1", Some("agent"));
    let mut admin = account_of("u1", &ada);
    admin.user_name = "Admin@acme.test".into();
    admin.role = Some("owner".into()); // would be drift
    let bot = stray("u2", "svc-backup", true); // would be an orphan
    let report = classify(&[ada], &[admin, bot], &ignore);
    let got: Vec<_> = report
        .findings
        .iter()
        .map(|f| (f.situation, f.user_name.as_str(), f.ignored_by.as_deref()))
        .collect();
    assert_eq!(
        got,
        vec![
            (Situation::Ignored, "Admin@acme.test", Some("admin@*")),
            (Situation::Ignored, "svc-backup", Some("svc-*")),
        ]
    );
    assert_eq!(
        report.counts,
        Counts {
            ignored: 2,
            ..Counts::default()
        }
    );
    assert_eq!(
        report.findings[1].describe()[3],
        "matches ignore pattern svc-*"
    );
}

#[test]
fn an_ignored_account_does_not_make_its_owners_other_account_disputed() {
    let ignore = IgnoreList::new(&["*-admin"]).expect("valid");
    let ada = employee("E1", Some("agent"));
    let mut admin = stray("u2", "e1-admin", true);
    admin.external_id = Some("E1".into());
    let report = classify(
        std::slice::from_ref(&ada),
        &[account_of("u1", &ada), admin],
        &ignore,
    );
    let got: Vec<_> = report.findings.iter().map(|f| f.situation).collect();
    assert_eq!(got, vec![Situation::Ignored, Situation::Linked]);
}

#[test]
fn an_account_listed_twice_counts_once_unless_the_copies_differ() {
    let ada = employee("E1", Some("agent"));
    let held = account_of("u1", &ada);
    let report = classify(
        std::slice::from_ref(&ada),
        &[held.clone(), held.clone()],
        &no_ignore(),
    );
    assert_eq!(only(&report).situation, Situation::Linked);

    let intruder = stray("u9", "intruder", true);
    let mut changed = intruder.clone();
    changed.active = false;
    let report = classify(&[], &[intruder, changed], &no_ignore());
    assert_eq!(
        report.counts,
        Counts {
            disputed: 2,
            ..Counts::default()
        }
    );
}

#[test]
fn of_two_entries_for_one_employee_the_newer_counts() {
    let mut old = employee("E1", Some("agent"));
    old.generation = 3;
    let gone = employee("E1", None);
    for desired in [[old.clone(), gone.clone()], [gone.clone(), old.clone()]] {
        let report = classify(&desired, &[], &no_ignore());
        assert_eq!(report, Report::default(), "a leaver is not missing");
    }
}

#[test]
fn findings_sort_by_situation_then_user_name() {
    let ada = employee("E1", Some("agent"));
    let gone = employee("E3", None);
    let report = classify(
        &[ada, employee("E2", Some("agent")), gone.clone()],
        &[
            stray("u1", "zed", true),
            stray("u2", "amy", true),
            account_of("u3", &gone),
            stray("u4", "E1@acme.test", true),
        ],
        &no_ignore(),
    );
    let got: Vec<_> = report
        .findings
        .iter()
        .map(|f| (f.situation, f.user_name.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (Situation::Orphan, "amy"),
            (Situation::Orphan, "zed"),
            (Situation::Drifted, "E1@acme.test"),
            (Situation::Missing, "e2@acme.test"),
            (Situation::Linked, "e3@acme.test"),
        ]
    );
}

#[test]
fn the_report_serialises_with_snake_case_names() {
    let gone = employee("E1", None);
    let mut held = account_of("u1", &gone);
    held.active = true;
    let report = classify(&[gone], &[held, stray("u2", "old", false)], &no_ignore());
    let json = serde_json::to_value(&report).expect("serialisable");
    assert_eq!(json["findings"][0]["situation"], "orphan");
    assert_eq!(json["findings"][0]["employee_id"], "E1");
    assert_eq!(json["findings"][0]["account"]["app_id"], "u1");
    assert_eq!(json["counts"]["orphan"], 1);
    assert_eq!(json["counts"]["unlinked_inactive"], 1);
    assert_eq!(json["partial"], false);
    assert!(json["findings"][0].get("differences").is_none());
}
