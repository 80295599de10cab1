//! Reconciliation (issue #13, in progress): what the apps really hold,
//! compared with what the engine decided.
//!
//! This module is the domain half: the app-side read model ([`AppAccount`],
//! what a connector's listing returns) and the desired side
//! ([`DesiredAccount`], read from the engine's state). Classifying each pair
//! into a situation ([`classify`]) and choosing what to do about it
//! ([`plan`]) are pure functions of the two, so every case is tested
//! without an app.

mod account;
mod classify;
mod ignore;
mod matching;
pub mod output;
mod plan;
mod report;
#[cfg(test)]
mod test_fixtures;

use std::borrow::Cow;

pub use account::{AppAccount, DesiredAccount};
pub use classify::classify;
pub use ignore::{IgnoreError, IgnoreList};
pub use plan::{plan, Action, Correction, OrphanReaction, Plan, Policy, Reported, Why};
pub use report::{Counts, Difference, Field, Finding, Report, Situation};

/// `text` without case, for the comparisons reconciliation makes without
/// case (user names, e-mails, ignore patterns): one folding for all of them,
/// so a name that matches in one place matches in the others.
fn fold(text: &str) -> Cow<'_, str> {
    if text
        .bytes()
        .any(|b| b.is_ascii_uppercase() || !b.is_ascii())
    {
        Cow::Owned(text.to_lowercase())
    } else {
        Cow::Borrowed(text)
    }
}
