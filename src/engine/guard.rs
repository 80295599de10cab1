//! The mass-deprovision guard (SPEC §4 "Safety").
//!
//! A bad rules change or a broken HR export can revoke half the company in
//! one go. The guard looks at the *net* deprovisions of one batch or one rules
//! change — per employee and app, the last command is a deprovision — and
//! decides which to hold instead of emitting. Pure: counts in, verdict out.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::commands::{Action, Command};
use crate::config::SafetyConfig;

/// Which apps' deprovisions to hold, and why.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verdict {
    /// Apps whose net deprovisions in this change are held.
    pub hold: BTreeSet<String>,
    /// One human sentence per reason, for the log.
    pub reasons: Vec<String>,
}

/// Decides what to hold, given the net deprovisions per app of one change and
/// the active accounts per app before it.
///
/// More than `max_deprovisions` in all holds every app's deprovisions; an
/// app losing more than `max_deprovision_ratio` of its accounts is held on its
/// own, when it has at least `ratio_min_accounts` accounts.
pub fn assess(
    deprovisions: &BTreeMap<String, u64>,
    active: &HashMap<String, u64>,
    safety: &SafetyConfig,
) -> Verdict {
    let mut verdict = Verdict::default();
    let total: u64 = deprovisions.values().sum();
    if total > safety.max_deprovisions {
        verdict.hold = deprovisions.keys().cloned().collect();
        verdict.reasons.push(format!(
            "{total} deprovisions exceed safety.max_deprovisions ({})",
            safety.max_deprovisions
        ));
        return verdict;
    }
    for (app, &count) in deprovisions {
        let accounts = active.get(app).copied().unwrap_or(0);
        if accounts >= safety.ratio_min_accounts
            && count as f64 > safety.max_deprovision_ratio * accounts as f64
        {
            verdict.hold.insert(app.clone());
            verdict.reasons.push(format!(
                "{count} of {accounts} {app} accounts exceed safety.max_deprovision_ratio ({})",
                safety.max_deprovision_ratio
            ));
        }
    }
    verdict
}

/// The net deprovisions of a change: indexes into `commands` (in emission
/// order) of each employee-and-app's last command, where that is a deprovision.
pub fn net_deprovisions(commands: &[Command]) -> Vec<usize> {
    let mut last: HashMap<(&str, &str), usize> = HashMap::new();
    for (i, c) in commands.iter().enumerate() {
        last.insert((&c.employee_id, &c.app), i);
    }
    let mut net: Vec<usize> = last
        .into_values()
        .filter(|&i| commands[i].action == Action::Deprovision)
        .collect();
    net.sort_unstable();
    net
}

/// Counts net deprovisions per app.
pub fn count_by_app(commands: &[Command], net: &[usize]) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for &i in net {
        *counts.entry(commands[i].app.clone()).or_insert(0) += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn safety(max: u64, ratio: f64, min: u64) -> SafetyConfig {
        SafetyConfig {
            max_deprovisions: max,
            max_deprovision_ratio: ratio,
            ratio_min_accounts: min,
        }
    }

    fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
        pairs.iter().map(|(a, n)| (a.to_string(), *n)).collect()
    }

    fn active(pairs: &[(&str, u64)]) -> HashMap<String, u64> {
        pairs.iter().map(|(a, n)| (a.to_string(), *n)).collect()
    }

    #[test]
    fn within_limits_holds_nothing() {
        let v = assess(
            &counts(&[("slack", 50)]),
            &active(&[("slack", 1000)]),
            &safety(50, 0.2, 20),
        );
        assert_eq!(v, Verdict::default());
    }

    #[test]
    fn over_the_count_holds_every_app() {
        let v = assess(
            &counts(&[("slack", 30), ("zendesk", 21)]),
            &active(&[("slack", 10_000), ("zendesk", 10_000)]),
            &safety(50, 0.2, 20),
        );
        assert_eq!(v.hold.len(), 2);
        assert!(v.reasons[0].contains("51 deprovisions"), "{:?}", v.reasons);
    }

    #[test]
    fn over_the_ratio_holds_that_app_only() {
        let v = assess(
            &counts(&[("slack", 21), ("zendesk", 1)]),
            &active(&[("slack", 100), ("zendesk", 100)]),
            &safety(50, 0.2, 20),
        );
        assert_eq!(v.hold, BTreeSet::from(["slack".to_string()]));
        assert!(v.reasons[0].contains("21 of 100 slack"), "{:?}", v.reasons);
    }

    #[test]
    fn ratio_ignored_for_small_apps() {
        let v = assess(
            &counts(&[("wiki", 2)]),
            &active(&[("wiki", 3)]),
            &safety(50, 0.2, 20),
        );
        assert!(v.hold.is_empty());
        let v = assess(
            &counts(&[("wiki", 5)]),
            &active(&[("wiki", 20)]),
            &safety(50, 0.2, 20),
        );
        assert!(
            v.hold.contains("wiki"),
            "20 accounts is enough for the ratio"
        );
    }
}
