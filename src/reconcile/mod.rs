//! Reconciliation (issue #13, in progress): what the apps really hold,
//! compared with what the engine decided.
//!
//! This module is the domain half: the app-side read model ([`AppAccount`],
//! what a connector's listing returns) and the desired side
//! ([`DesiredAccount`], read from the engine's state). Classifying each pair
//! into a situation is a pure function of the two, so every case is tested
//! without an app.

mod account;
mod ignore;

use std::borrow::Cow;

pub use account::{AppAccount, DesiredAccount};
pub use ignore::{IgnoreError, IgnoreList};

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
