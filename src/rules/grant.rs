//! Role precedence: what one employee ends up with in each app.
//!
//! Several rules may give one employee the same app. The most privileged
//! role wins — the highest index in the app's `roles`, which the catalogue
//! lists least privileged first (CONTRACT §4). Between rules giving the same
//! role, the earliest in load order decides, so the outcome never depends on
//! anything but the files' names and contents.
//!
//! The engine decides this for every event, so [`Granted`] borrows every
//! name from the rule set and keeps the offers in one vector sorted by app:
//! no map and no string is made per decision (#15). [`Grant`] is the owned
//! form the preview and the tests compare.

use super::rule::Rule;
use crate::events::Fields;
use crate::ids::{AppName, RoleName, RuleName};

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

/// One rule's offer of one app.
#[derive(Debug, Clone, Copy)]
struct Offer<'r> {
    app: &'r AppName,
    /// The rule's place in load order, then the entry's in the rule.
    order: (usize, usize),
    rank: usize,
    role: &'r RoleName,
    rule: &'r RuleName,
}

/// What the rules give one employee: every matching rule's offers, grouped
/// by app in name order, each group in load order.
#[derive(Debug, Default)]
pub(crate) struct Granted<'r> {
    offers: Vec<Offer<'r>>,
}

impl<'r> Granted<'r> {
    /// Applies `rules`, each with its place in load order (in any order),
    /// to `employee`.
    pub(crate) fn decide(
        rules: impl Iterator<Item = (usize, &'r Rule)>,
        employee: &Fields<'_>,
    ) -> Self {
        let mut offers = Vec::new();
        for (place, rule) in rules {
            if !rule.target.matches(employee) {
                continue;
            }
            for (i, entry) in rule.apps.iter().enumerate() {
                if !entry.provisioning {
                    continue;
                }
                offers.push(Offer {
                    app: &entry.app,
                    order: (place, i),
                    rank: entry.rank,
                    role: &entry.role,
                    rule: &rule.name,
                });
            }
        }
        // By app, each app's offers in load order.
        offers.sort_unstable_by(|a, b| a.app.cmp(b.app).then(a.order.cmp(&b.order)));
        Granted { offers }
    }

    /// At least the number of apps granted (the number of offers).
    pub(crate) fn most_apps(&self) -> usize {
        self.offers.len()
    }

    /// Each granted app's grant, in app-name order.
    pub(crate) fn apps(&self) -> impl Iterator<Item = AppGrant<'_, 'r>> {
        self.offers
            .chunk_by(|a, b| a.app == b.app)
            .filter_map(AppGrant::resolve)
    }
}

/// One app's grant: its offers and the one that decides.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AppGrant<'g, 'r> {
    offers: &'g [Offer<'r>],
    /// Index of the deciding offer in `offers`.
    at: usize,
    decider: Offer<'r>,
}

impl<'g, 'r> AppGrant<'g, 'r> {
    /// Picks the deciding offer: highest rank, earliest on ties; `None`
    /// for no offer.
    fn resolve(offers: &'g [Offer<'r>]) -> Option<Self> {
        let mut at = 0;
        let mut decider = *offers.first()?;
        for (i, offer) in offers.iter().enumerate().skip(1) {
            if offer.rank > decider.rank {
                (at, decider) = (i, *offer);
            }
        }
        Some(AppGrant {
            offers,
            at,
            decider,
        })
    }

    /// The app (the rule set's name for it).
    pub(crate) fn app(&self) -> &'r AppName {
        self.decider.app
    }

    /// The role the employee must hold.
    pub(crate) fn role(&self) -> &'r RoleName {
        self.decider.role
    }

    /// The rules giving the app: the deciding rule first, then the others
    /// in load order.
    pub(crate) fn rules(&self) -> impl Iterator<Item = &'r RuleName> + 'g {
        let at = self.at;
        std::iter::once(self.decider.rule).chain(
            self.offers
                .iter()
                .enumerate()
                .filter(move |(i, _)| *i != at)
                .map(|(_, o)| o.rule),
        )
    }

    /// The owned form.
    pub(crate) fn to_grant(self) -> Grant {
        Grant {
            role: self.role().to_string(),
            rules: self.rules().map(RuleName::to_string).collect(),
        }
    }
}
