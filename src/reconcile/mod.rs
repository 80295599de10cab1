//! Reconciliation (issue #13, in progress): what the apps really hold,
//! compared with what the engine decided.
//!
//! This module is the domain half: the app-side read model ([`AppAccount`],
//! what a connector's listing returns) and the desired side
//! ([`DesiredAccount`], read from the engine's state). Classifying each pair
//! into a situation is a pure function of the two, so every case is tested
//! without an app.

mod account;

pub use account::{AppAccount, DesiredAccount};
