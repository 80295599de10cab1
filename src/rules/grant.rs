//! Role precedence: what one employee ends up with in each app.
//!
//! Several rules may give one employee the same app. The most privileged
//! role wins — the highest index in the app's `roles`, which the catalogue
//! lists least privileged first (CONTRACT §4). Between rules giving the same
//! role, the earliest in load order decides, so the outcome never depends on
//! anything but the files' names and contents.

use std::collections::BTreeMap;

use super::rule::Rule;
use super::Snapshot;

/// What one employee gets in one app, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The role the employee must hold: the most privileged one given.
    pub role: String,
    /// Every matching rule that gives this app (with `provisioning: true`):
    /// the deciding rule first, then the others in load order. Shown by the
    /// preview and carried in commands as their cause.
    pub rules: Vec<String>,
}

/// One rule's offer of one app while precedence is decided.
struct Offer<'r> {
    rank: usize,
    role: &'r str,
    rule: &'r str,
}

/// Applies `rules` (in load order) to `employee` and resolves precedence.
pub(crate) fn decide<'r>(
    rules: impl Iterator<Item = &'r Rule>,
    employee: &Snapshot,
) -> BTreeMap<String, Grant> {
    let mut offers: BTreeMap<&'r str, Vec<Offer<'r>>> = BTreeMap::new();
    for rule in rules {
        if !rule.target.matches(employee) {
            continue;
        }
        for entry in rule.apps.iter().filter(|a| a.provisioning) {
            offers.entry(&entry.app).or_default().push(Offer {
                rank: entry.rank,
                role: &entry.role,
                rule: &rule.name,
            });
        }
    }
    offers
        .into_iter()
        .filter_map(|(app, offers)| Some((app.to_string(), resolve(&offers)?)))
        .collect()
}

/// Picks the deciding offer: highest rank, earliest on ties.
fn resolve(offers: &[Offer<'_>]) -> Option<Grant> {
    let mut decider = 0;
    for (i, offer) in offers.iter().enumerate() {
        if offer.rank > offers.get(decider)?.rank {
            decider = i;
        }
    }
    let winner = offers.get(decider)?;
    let mut rules = Vec::with_capacity(offers.len());
    rules.push(winner.rule.to_string());
    rules.extend(
        offers
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != decider)
            .map(|(_, o)| o.rule.to_string()),
    );
    Some(Grant {
        role: winner.role.to_string(),
        rules,
    })
}
