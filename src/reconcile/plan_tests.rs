use super::*;
use crate::reconcile::test_fixtures::{account_of, employee, stray};
use crate::reconcile::{classify, IgnoreList};

/// A report with one finding of each situation: E1 drifted, E2 missing,
/// E3 a leaver still active, `intruder` and `zed` unowned orphans, two
/// accounts of E4 disputed, `svc-bot` ignored, E5 linked.
fn mixed() -> Report {
    let ada = employee("E1", Some("agent"));
    let mut drifted = account_of("u1", &ada);
    drifted.role = Some("admin".into());
    let gone = employee("E3", None);
    let mut leaver = account_of("u3", &gone);
    leaver.active = true;
    let twice = employee("E4", Some("agent"));
    let fine = employee("E5", Some("agent"));
    classify(
        &[
            ada,
            employee("E2", Some("agent")),
            gone,
            twice.clone(),
            fine.clone(),
        ],
        &[
            drifted,
            leaver,
            stray("u4", "intruder", true),
            stray("u5", "zed", true),
            account_of("u6", &twice),
            account_of("u7", &twice),
            stray("u8", "svc-bot", true),
            account_of("u9", &fine),
        ],
        &IgnoreList::new(&["svc-*"]).expect("valid"),
    )
}

fn why(plan: &Plan) -> Vec<(Situation, &str, Why)> {
    plan.reported
        .iter()
        .map(|r| (r.situation, r.user_name.as_str(), r.why))
        .collect()
}

#[test]
fn the_default_policy_only_reports_and_never_mentions_linked_or_ignored() {
    let plan = plan(&mixed(), &Policy::default());
    assert_eq!(plan.actions, vec![]);
    assert_eq!(
        why(&plan),
        vec![
            (Situation::Drifted, "e1@acme.test", Why::Policy),
            (Situation::Missing, "e2@acme.test", Why::Policy),
            (Situation::Disputed, "e4@acme.test", Why::NeedsAPerson),
            (Situation::Disputed, "e4@acme.test", Why::NeedsAPerson),
            (Situation::Orphan, "e3@acme.test", Why::Policy),
            (Situation::Orphan, "intruder", Why::Policy),
            (Situation::Orphan, "zed", Why::Policy),
        ]
    );
}

#[test]
fn reapply_carries_the_employee_and_the_generation_it_reasserts() {
    let policy = Policy {
        drifted: Correction::Reapply,
        missing: Correction::Reapply,
        orphans: OrphanReaction::Report,
    };
    let plan = plan(&mixed(), &policy);
    let reapply = |situation, id: &str, user: &str| Action::Reapply {
        situation,
        employee_id: id.into(),
        generation: 7,
        user_name: user.into(),
    };
    assert_eq!(
        plan.actions,
        vec![
            reapply(Situation::Drifted, "E1", "e1@acme.test"),
            reapply(Situation::Missing, "E2", "e2@acme.test"),
        ]
    );
}

#[test]
fn suspensions_stop_at_the_guard_leavers_first_the_rest_over_the_guard() {
    let policy = Policy {
        orphans: OrphanReaction::Suspend { max_per_run: 2 },
        ..Policy::default()
    };
    let plan = plan(&mixed(), &policy);
    assert_eq!(
        plan.actions,
        vec![
            Action::Suspend {
                app_id: "u3".into(),
                user_name: "e3@acme.test".into(),
                employee_id: Some("E3".into()),
                generation: Some(7),
            },
            Action::Suspend {
                app_id: "u4".into(),
                user_name: "intruder".into(),
                employee_id: None,
                generation: None,
            },
        ]
    );
    assert_eq!(
        why(&plan).last(),
        Some(&(Situation::Orphan, "zed", Why::OverGuard))
    );
    let none = Policy {
        orphans: OrphanReaction::Suspend { max_per_run: 0 },
        ..Policy::default()
    };
    let plan = super::plan(&mixed(), &none);
    assert_eq!(plan.actions, vec![]);
    assert_eq!(
        why(&plan).iter().filter(|r| r.2 == Why::OverGuard).count(),
        3
    );
}

#[test]
fn a_partial_scan_acts_on_no_orphan_and_no_missing_account() {
    let mut report = mixed();
    report.partial = true;
    let eager = Policy {
        drifted: Correction::Reapply,
        missing: Correction::Reapply,
        orphans: OrphanReaction::Suspend { max_per_run: 100 },
    };
    let plan = plan(&report, &eager);
    // The drifted account was read whole: its correction stands.
    assert_eq!(plan.actions.len(), 1);
    assert!(matches!(
        &plan.actions[0],
        Action::Reapply {
            situation: Situation::Drifted,
            ..
        }
    ));
    let partial: Vec<_> = why(&plan)
        .into_iter()
        .filter(|r| r.2 == Why::PartialScan)
        .map(|r| (r.0, r.1))
        .collect();
    assert_eq!(
        partial,
        vec![
            (Situation::Orphan, "e3@acme.test"),
            (Situation::Orphan, "intruder"),
            (Situation::Orphan, "zed"),
            (Situation::Missing, "e2@acme.test"),
        ]
    );
}

#[test]
fn disputed_and_ignored_are_never_acted_on_whatever_the_policy() {
    let eager = Policy {
        drifted: Correction::Reapply,
        missing: Correction::Reapply,
        orphans: OrphanReaction::Suspend { max_per_run: 100 },
    };
    let plan = plan(&mixed(), &eager);
    for action in &plan.actions {
        let (Action::Reapply { user_name, .. } | Action::Suspend { user_name, .. }) = action;
        assert!(!["e4@acme.test", "svc-bot", "e5@acme.test"].contains(&user_name.as_str()));
    }
    assert_eq!(plan.actions.len(), 5);
}

#[test]
fn the_plan_serialises_with_snake_case_names() {
    let policy = Policy {
        drifted: Correction::Reapply,
        orphans: OrphanReaction::Suspend { max_per_run: 1 },
        ..Policy::default()
    };
    let json = serde_json::to_value(plan(&mixed(), &policy)).expect("serialisable");
    assert_eq!(json["actions"][0]["action"], "reapply");
    assert_eq!(json["actions"][0]["situation"], "drifted");
    assert_eq!(json["actions"][1]["action"], "suspend");
    assert_eq!(json["reported"][0]["why"], "policy");
    assert_eq!(json["reported"].as_array().map(Vec::len), Some(5));
    assert!(json["reported"]
        .as_array()
        .is_some_and(|r| r.iter().any(|r| r["why"] == "over_guard")));
}

#[test]
fn the_apps_reconcile_keys_map_to_the_policy() {
    use crate::config::{CorrectionSetting, OrphanSetting, ReconcileConfig};
    assert_eq!(Policy::from(&ReconcileConfig::default()), Policy::default());
    let config = ReconcileConfig {
        drifted: CorrectionSetting::Reapply,
        orphans: OrphanSetting::Suspend,
        max_suspensions: 3,
        ..ReconcileConfig::default()
    };
    assert_eq!(
        Policy::from(&config),
        Policy {
            drifted: Correction::Reapply,
            missing: Correction::Report,
            orphans: OrphanReaction::Suspend { max_per_run: 3 },
        }
    );
}
