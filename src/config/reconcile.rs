//! `[apps.<name>.reconcile]`: how reconciliation reads an app, which of
//! its accounts it leaves alone, and what it does about the others (issue
//! #13; report-only unless configured).
//!
//! What makes an ignore pattern unacceptable ([`PatternProblem`]) is decided
//! here, at the bottom layer, so that a bad pattern stops every process at
//! load with the key `apps.<name>.reconcile.ignore[N]`, and
//! `reconcile::IgnoreList` (which matches the patterns) refuses the same
//! patterns for the same reasons without a second copy of the rule.

use std::num::NonZeroU32;
use std::time::Duration;

use serde::Deserialize;

use super::{problem, Problem};

/// The largest `page_size`: a bigger page only makes one slow request out
/// of many quick ones (Zendesk caps its pages at 100 anyway).
pub const MAX_PAGE_SIZE: u32 = 1000;

/// The default `page_size`.
const DEFAULT_PAGE_SIZE: u32 = 100;

/// The default `max_suspensions`.
const DEFAULT_MAX_SUSPENSIONS: usize = 10;

/// The shortest `interval_ms`: each run reads the whole state changelog and
/// every account of the app, so anything quicker is a mistake.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// What to do about a `drifted` or `missing` account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CorrectionSetting {
    /// Only report it.
    #[default]
    Report,
    /// Re-assert the employee's last command through the app's command topic.
    Reapply,
}

/// What to do about an `orphan` account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrphanSetting {
    /// Only report it.
    #[default]
    Report,
    /// Suspend it (never delete), at most `max_suspensions` per run.
    Suspend,
}

/// `reconcile = { ... }` of an app.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReconcileConfig {
    /// Globs (`*` only, without case) matched against an account's user
    /// name and e-mail: service and break-glass accounts no employee owns,
    /// reported as `ignored` and never touched.
    pub ignore: Vec<String>,
    /// Accounts asked for per listing request; 1..=[`MAX_PAGE_SIZE`].
    pub page_size: u32,
    /// For `drifted` accounts.
    pub drifted: CorrectionSetting,
    /// For `missing` accounts.
    pub missing: CorrectionSetting,
    /// For `orphan` accounts.
    pub orphans: OrphanSetting,
    /// Orphans suspended in one run at most (with `orphans = "suspend"`):
    /// a guard of its own, so a broken listing cannot lock out a company.
    pub max_suspensions: usize,
    /// How long the connector waits between the end of one periodic run
    /// and the start of the next; `None` (the default) runs none, leaving
    /// reconciliation to `provisioner reconcile`.
    #[serde(rename = "interval_ms", deserialize_with = "super::millis::some")]
    pub interval: Option<Duration>,
}

impl Default for ReconcileConfig {
    fn default() -> Self {
        ReconcileConfig {
            ignore: Vec::new(),
            page_size: DEFAULT_PAGE_SIZE,
            drifted: CorrectionSetting::Report,
            missing: CorrectionSetting::Report,
            orphans: OrphanSetting::Report,
            max_suspensions: DEFAULT_MAX_SUSPENSIONS,
            interval: None,
        }
    }
}

impl ReconcileConfig {
    /// `page_size` as the listing takes it. Validated at load; a config
    /// built in code with 0 gets the default.
    pub fn page_size(&self) -> NonZeroU32 {
        NonZeroU32::new(self.page_size)
            .or(NonZeroU32::new(DEFAULT_PAGE_SIZE))
            .unwrap_or(NonZeroU32::MIN)
    }
}

/// Why an ignore pattern is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatternProblem {
    /// Empty or blank: almost certainly a mistake, never useful.
    Empty,
    /// Stars alone match every account, which would silence reconciliation
    /// for the whole app.
    MatchesEverything,
}

impl PatternProblem {
    /// What is wrong with `pattern`, if anything.
    pub fn of(pattern: &str) -> Option<PatternProblem> {
        if pattern.trim().is_empty() {
            Some(PatternProblem::Empty)
        } else if pattern.chars().all(|c| c == '*') {
            Some(PatternProblem::MatchesEverything)
        } else {
            None
        }
    }

    /// Why, for the operator, after the pattern's key and value.
    pub fn reason(self) -> &'static str {
        match self {
            PatternProblem::Empty => "is empty: write a pattern such as \"svc-*\" or remove it",
            PatternProblem::MatchesEverything => {
                "matches every account: it would hide the whole app from reconciliation"
            }
        }
    }
}

/// Checks an app's `reconcile` table; keys are relative to the app. An app
/// with no read API (`write_only`: a webhook) cannot be reconciled
/// periodically: said at load rather than skipped at every interval.
pub(super) fn validate(reconcile: &ReconcileConfig, write_only: bool) -> Result<(), Problem> {
    if let (Some(interval), true) = (reconcile.interval, write_only) {
        return Err(problem(
            "reconcile.interval_ms",
            super::millis::of(interval).to_string(),
            "a webhook app has no API to read its accounts from: it cannot be reconciled",
        ));
    }
    if !(1..=MAX_PAGE_SIZE).contains(&reconcile.page_size) {
        return Err(problem(
            "reconcile.page_size",
            reconcile.page_size.to_string(),
            format!("must be between 1 and {MAX_PAGE_SIZE}"),
        ));
    }
    if let Some(interval) = reconcile.interval.filter(|i| *i < MIN_INTERVAL) {
        return Err(problem(
            "reconcile.interval_ms",
            super::millis::of(interval).to_string(),
            format!(
                "must be at least {} (each run reads every account of the app); leave it out to run none",
                super::millis::of(MIN_INTERVAL)
            ),
        ));
    }
    for (index, pattern) in reconcile.ignore.iter().enumerate() {
        if let Some(why) = PatternProblem::of(pattern) {
            return Err(problem(
                format!("reconcile.ignore[{index}]"),
                format!("{pattern:?}"),
                why.reason(),
            ));
        }
    }
    Ok(())
}
