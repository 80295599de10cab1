//! The mass-deprovision guard (CONTRACT §4 "Safety").
//!
//! A bad rules change or a broken HR export can revoke half the company. The
//! guard looks at the *net* deprovisions of a change — per employee and app,
//! the last command is a deprovision — against what the rolling window
//! ([`super::window`]) already let through, and decides which to hold
//! instead of emitting. A batch of events is judged deprovision by
//! deprovision (those beyond a threshold are held, so a trickle and a flood
//! of the same leavers end the same way); a rules change is judged whole.
//! Pure: counts in, verdict out.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::commands::{Action, Command};
use crate::config::SafetyConfig;

/// How a change is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Each deprovision in turn: the ones beyond a threshold are held. For
    /// events, whose batch boundaries are accidents of timing.
    Each,
    /// The change as one unit: over a threshold, all its deprovisions (of
    /// that app, for the ratio) are held. For rules changes.
    Whole,
}

/// What the thresholds still allow, given the window's recent deprovisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    /// Deprovisions still allowed in all.
    total: u64,
    /// Deprovisions still allowed per app, for apps the ratio applies to.
    apps: BTreeMap<String, u64>,
    /// What the window already let through, in all.
    recent_total: u64,
}

impl Budget {
    /// The budget left by `recent` deprovisions per app (the window's), with
    /// `active` accounts per app now.
    ///
    /// `max_deprovisions` bounds the total. An app with at least
    /// `ratio_min_accounts` accounts at the window's start (now plus the
    /// recent deprovisions) may lose at most `max_deprovision_ratio` of them.
    pub fn new(
        recent: &BTreeMap<String, u64>,
        active: &HashMap<String, u64>,
        safety: &SafetyConfig,
    ) -> Budget {
        let recent_total: u64 = recent.values().sum();
        let mut apps = BTreeMap::new();
        let names: BTreeSet<&String> = recent.keys().chain(active.keys()).collect();
        for app in names {
            let gone = recent.get(app).copied().unwrap_or(0);
            let accounts = active.get(app).copied().unwrap_or(0) + gone;
            if accounts >= safety.ratio_min_accounts {
                let allowed = (safety.max_deprovision_ratio * accounts as f64).floor() as u64;
                apps.insert(app.clone(), allowed.saturating_sub(gone));
            }
        }
        Budget {
            total: safety.max_deprovisions.saturating_sub(recent_total),
            apps,
            recent_total,
        }
    }
}

/// Which deprovisions to hold, and why.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verdict {
    /// Positions (into the `apps` given to [`judge`]) of the held ones.
    pub hold: Vec<usize>,
    /// One human sentence per reason, for the log.
    pub reasons: Vec<String>,
}

/// Judges a change's net deprovisions — the app of each, in emission order —
/// against the budget.
pub fn judge(apps: &[&str], budget: &Budget, scope: Scope, safety: &SafetyConfig) -> Verdict {
    let mut verdict = Verdict::default();
    let mut over_total = false;
    let mut over_apps: BTreeSet<&str> = BTreeSet::new();
    match scope {
        Scope::Whole => {
            let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
            for app in apps {
                *counts.entry(app).or_insert(0) += 1;
            }
            over_total = apps.len() as u64 > budget.total;
            for (app, n) in counts {
                if budget.apps.get(app).is_some_and(|left| n > *left) {
                    over_apps.insert(app);
                }
            }
            for (i, app) in apps.iter().enumerate() {
                if over_total || over_apps.contains(app) {
                    verdict.hold.push(i);
                }
            }
        }
        Scope::Each => {
            let mut total = budget.total;
            let mut left = budget.apps.clone();
            for (i, app) in apps.iter().enumerate() {
                let app_left = left.get_mut(*app);
                let app_out = app_left.as_ref().is_some_and(|n| **n == 0);
                if total == 0 || app_out {
                    over_total |= total == 0;
                    if app_out {
                        over_apps.insert(app);
                    }
                    verdict.hold.push(i);
                    continue;
                }
                total -= 1;
                if let Some(n) = app_left {
                    *n -= 1;
                }
            }
        }
    }
    if over_total {
        verdict.reasons.push(format!(
            "{} deprovisions, after {} in the last safety.window_ms, exceed safety.max_deprovisions ({})",
            apps.len(),
            budget.recent_total,
            safety.max_deprovisions
        ));
    }
    for app in over_apps {
        verdict.reasons.push(format!(
            "{app} deprovisions exceed safety.max_deprovision_ratio ({}) of its accounts within safety.window_ms",
            safety.max_deprovision_ratio
        ));
    }
    verdict
}

/// The net deprovisions of a change: indexes into `commands` (in emission
/// order) of each employee-and-app's last command, where that is a deprovision.
pub fn net_deprovisions<C: std::borrow::Borrow<Command>>(commands: &[C]) -> Vec<usize> {
    let mut last: HashMap<(&str, &str), usize> = HashMap::new();
    for (i, c) in commands.iter().enumerate() {
        let c = c.borrow();
        last.insert((&c.employee_id, &c.app), i);
    }
    let mut net: Vec<usize> = last
        .into_values()
        .filter(|&i| commands[i].borrow().action == Action::Deprovision)
        .collect();
    net.sort_unstable();
    net
}

#[cfg(test)]
mod tests {
    use super::*;

    fn safety(max: u64, ratio: f64, min: u64) -> SafetyConfig {
        SafetyConfig {
            max_deprovisions: max,
            max_deprovision_ratio: ratio,
            ratio_min_accounts: min,
            ..SafetyConfig::default()
        }
    }

    fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
        pairs.iter().map(|(a, n)| (a.to_string(), *n)).collect()
    }

    fn active(pairs: &[(&str, u64)]) -> HashMap<String, u64> {
        pairs.iter().map(|(a, n)| (a.to_string(), *n)).collect()
    }

    /// `n` deprovisions of each app, apps interleaved.
    fn apps<'a>(pairs: &[(&'a str, usize)]) -> Vec<&'a str> {
        let mut out = Vec::new();
        for (app, n) in pairs {
            out.extend(std::iter::repeat_n(*app, *n));
        }
        out
    }

    fn whole(
        change: &[&str],
        recent: &[(&str, u64)],
        act: &[(&str, u64)],
        s: &SafetyConfig,
    ) -> Verdict {
        judge(
            change,
            &Budget::new(&counts(recent), &active(act), s),
            Scope::Whole,
            s,
        )
    }

    #[test]
    fn within_limits_holds_nothing() {
        let s = safety(50, 0.2, 20);
        let v = whole(&apps(&[("slack", 50)]), &[], &[("slack", 1000)], &s);
        assert_eq!(v, Verdict::default());
    }

    #[test]
    fn a_whole_change_over_the_count_holds_every_app() {
        let s = safety(50, 0.2, 20);
        let change = apps(&[("slack", 30), ("zendesk", 21)]);
        let v = whole(&change, &[], &[("slack", 10_000), ("zendesk", 10_000)], &s);
        assert_eq!(v.hold.len(), 51);
        assert!(v.reasons[0].contains("51 deprovisions"), "{:?}", v.reasons);
    }

    #[test]
    fn a_whole_change_over_the_ratio_holds_that_app_only() {
        let s = safety(50, 0.2, 20);
        let change = apps(&[("slack", 21), ("zendesk", 1)]);
        let v = whole(&change, &[], &[("slack", 79), ("zendesk", 100)], &s);
        // 79 active + 0 recent = 79 accounts: 15 allowed.
        assert_eq!(v.hold, (0..21).collect::<Vec<_>>());
        assert!(v.reasons[0].contains("slack"), "{:?}", v.reasons);
        let v = whole(&apps(&[("slack", 20)]), &[], &[("slack", 100)], &s);
        assert!(v.hold.is_empty(), "20 of 100 is within 0.2");
    }

    #[test]
    fn ratio_ignored_for_small_apps() {
        let s = safety(50, 0.2, 20);
        assert!(whole(&apps(&[("wiki", 2)]), &[], &[("wiki", 3)], &s)
            .hold
            .is_empty());
        let v = whole(&apps(&[("wiki", 5)]), &[], &[("wiki", 20)], &s);
        assert_eq!(v.hold.len(), 5, "20 accounts is enough for the ratio");
    }

    #[test]
    fn a_whole_change_counts_what_the_window_let_through() {
        let s = safety(50, 1.0, 20);
        let v = whole(
            &apps(&[("slack", 11)]),
            &[("slack", 40)],
            &[("slack", 500)],
            &s,
        );
        assert_eq!(v.hold.len(), 11, "40 recent + 11 > 50");
        assert!(v.reasons[0].contains("after 40"), "{:?}", v.reasons);
        let v = whole(
            &apps(&[("slack", 10)]),
            &[("slack", 40)],
            &[("slack", 500)],
            &s,
        );
        assert!(v.hold.is_empty());
    }

    #[test]
    fn each_deprovision_beyond_the_count_is_held_whatever_the_batches() {
        let s = safety(50, 1.0, 20);
        let act = active(&[("slack", 1000)]);
        // 200 leavers as one batch: the first 50 go, 150 are held.
        let flood = apps(&[("slack", 200)]);
        let v = judge(
            &flood,
            &Budget::new(&BTreeMap::new(), &act, &s),
            Scope::Each,
            &s,
        );
        assert_eq!(v.hold, (50..200).collect::<Vec<_>>());
        // The same 200 in batches of 4, each judged after the window took
        // the previous ones: the same 50 go.
        let mut recent = 0;
        let mut held = 0;
        for _ in 0..50 {
            let batch = apps(&[("slack", 4)]);
            let budget = Budget::new(&counts(&[("slack", recent)]), &act, &s);
            let v = judge(&batch, &budget, Scope::Each, &s);
            held += v.hold.len() as u64;
            recent += 4 - v.hold.len() as u64;
        }
        assert_eq!((recent, held), (50, 150));
    }

    #[test]
    fn each_deprovision_beyond_an_apps_ratio_is_held_for_that_app_only() {
        let s = safety(1000, 0.2, 20);
        let act = active(&[("slack", 90), ("zendesk", 100)]);
        // slack had 100 accounts at the window's start, 10 already went: 10 more may.
        let budget = Budget::new(&counts(&[("slack", 10)]), &act, &s);
        let change = apps(&[("slack", 12), ("zendesk", 3)]);
        let v = judge(&change, &budget, Scope::Each, &s);
        assert_eq!(v.hold, vec![10, 11]);
        assert!(v.reasons[0].contains("slack"), "{:?}", v.reasons);
    }
}
