//! Properties of `classify`, over small pools of ids and names so that
//! links, collisions and disputes are frequent.

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::*;
use crate::reconcile::test_fixtures::{employee, stray};

fn desired_side() -> impl Strategy<Value = Vec<DesiredAccount>> {
    let one = (
        prop::sample::select(vec!["a", "A", "b", "c"]),
        prop::option::of(prop::sample::select(vec!["a", "b", "d"])),
        prop::option::of(prop::sample::select(vec!["agent", "admin"])),
        0..3u64,
    );
    // One entry per employee, as the engine's state has it.
    prop::collection::btree_map(0..6u8, one, 0..6).prop_map(|rows| {
        rows.into_iter()
            .map(|(id, (user, email, role, generation))| {
                let mut d = employee(&format!("E{id}"), role);
                d.account.user_name = format!("{user}@acme.test");
                d.account.email = email.map(|e| format!("{e}@acme.test"));
                d.generation = generation;
                d
            })
            .collect()
    })
}

fn app_side() -> impl Strategy<Value = Vec<AppAccount>> {
    let one = (
        prop::option::of(0..8u8),
        prop::sample::select(vec!["a", "B", "c", "d", "svc-x", "Admin"]),
        prop::option::of(prop::sample::select(vec!["A", "b", "e"])),
        any::<bool>(),
        prop::option::of(prop::sample::select(vec!["agent", "admin"])),
    );
    prop::collection::vec(one, 0..8).prop_map(|rows| {
        rows.into_iter()
            .enumerate()
            .map(|(n, (external, user, email, active, role))| AppAccount {
                external_id: external.map(|id| format!("E{id}")),
                email: email.map(|e| format!("{e}@acme.test")),
                active,
                role: role.map(str::to_string),
                ..stray(&format!("u{n}"), &format!("{user}@acme.test"), active)
            })
            .collect()
    })
}

fn ignore_list() -> IgnoreList {
    IgnoreList::new(&["svc-*", "admin@*"]).expect("valid")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Every account is in exactly one finding, or else inactive, unowned
    /// and counted as such; the counts are the findings'.
    #[test]
    fn every_account_is_accounted_for_once(desired in desired_side(), accounts in app_side()) {
        let report = classify(&desired, &accounts, &ignore_list());
        let mut listed = BTreeSet::new();
        for f in report.findings.iter().filter_map(|f| f.account.as_ref()) {
            prop_assert!(listed.insert(f.app_id.clone()), "{} twice", f.app_id);
        }
        let unlisted: Vec<_> = accounts.iter().filter(|a| !listed.contains(&a.app_id)).collect();
        prop_assert_eq!(unlisted.len(), report.counts.unlinked_inactive);
        prop_assert!(unlisted.iter().all(|a| !a.active && ignore_list().matching(a).is_none()));
        for situation in Situation::ALL {
            let n = report.findings.iter().filter(|f| f.situation == situation).count();
            prop_assert_eq!(n, report.counts.of(situation), "{:?}", situation);
        }
    }

    /// Each employee who must be active is either missing or claimed by an
    /// account (linked, drifted, disputed or ignored), never both.
    #[test]
    fn missing_and_claimed_cover_the_active_employees(desired in desired_side(), accounts in app_side()) {
        let report = classify(&desired, &accounts, &ignore_list());
        let active: BTreeSet<&str> = desired.iter().filter(|d| d.role.is_some()).map(|d| d.employee_id.as_str()).collect();
        let missing: BTreeSet<&str> = report.findings.iter()
            .filter(|f| f.situation == Situation::Missing)
            .filter_map(|f| f.employee_id.as_deref())
            .collect();
        let claimed: BTreeSet<&str> = report.findings.iter()
            .filter(|f| f.account.is_some())
            .flat_map(|f| f.employee_id.iter().chain(&f.candidates))
            .map(|id| id.as_str())
            .filter(|id| active.contains(id))
            .collect();
        prop_assert!(missing.is_disjoint(&claimed));
        prop_assert_eq!(&missing | &claimed, active);
    }

    /// The report does not depend on the order of either input.
    #[test]
    fn classify_ignores_input_order(
        (desired, shuffled_desired) in desired_side().prop_flat_map(|d| (Just(d.clone()), Just(d).prop_shuffle())),
        (accounts, shuffled_accounts) in app_side().prop_flat_map(|a| (Just(a.clone()), Just(a).prop_shuffle())),
    ) {
        prop_assert_eq!(
            classify(&desired, &accounts, &ignore_list()),
            classify(&shuffled_desired, &shuffled_accounts, &ignore_list())
        );
    }
}
