//! What to do about a report, per the app's policy: still pure, so what a
//! run would do (`--dry-run`) and what it does are the same list.
//!
//! Report-only unless configured. Nothing is ever deleted; `disputed` and
//! `ignored` accounts are never acted on; a partial scan (the listing failed
//! midway) acts on no orphan and no missing account, since an account not
//! yet read looks missing and its owner's other account looks orphaned.
//! Drifted accounts were read whole, so their correction still stands.

use serde::Serialize;

use super::{Finding, Report, Situation};
use crate::config::{CorrectionSetting, OrphanSetting, ReconcileConfig};
use crate::ids::EmployeeId;

/// What to do about a drifted or missing account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Correction {
    /// Only report it.
    #[default]
    Report,
    /// Re-apply the employee's desired account through the normal apply path.
    Reapply,
}

/// What to do about an orphan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OrphanReaction {
    /// Only report it.
    #[default]
    Report,
    /// Suspend (never delete) at most `max_per_run` orphans per run: a
    /// guard of its own, so a broken listing or matching rule cannot lock
    /// out a whole company at once. The rest are reported `over_guard`.
    Suspend {
        /// Suspensions allowed in one run.
        max_per_run: usize,
    },
}

/// One app's reactions; the default only reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Policy {
    /// For `drifted` accounts.
    pub drifted: Correction,
    /// For `missing` accounts.
    pub missing: Correction,
    /// For `orphan` accounts.
    pub orphans: OrphanReaction,
}

impl From<CorrectionSetting> for Correction {
    fn from(setting: CorrectionSetting) -> Self {
        match setting {
            CorrectionSetting::Report => Correction::Report,
            CorrectionSetting::Reapply => Correction::Reapply,
        }
    }
}

impl From<&ReconcileConfig> for Policy {
    /// `apps.<name>.reconcile.{drifted,missing,orphans,max_suspensions}`.
    fn from(config: &ReconcileConfig) -> Self {
        Policy {
            drifted: config.drifted.into(),
            missing: config.missing.into(),
            orphans: match config.orphans {
                OrphanSetting::Report => OrphanReaction::Report,
                OrphanSetting::Suspend => OrphanReaction::Suspend {
                    max_per_run: config.max_suspensions,
                },
            },
        }
    }
}

/// A correction to make.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Re-assert the employee's command of `generation` (drifted, missing);
    /// ordered with the employee's commands, a newer one wins.
    Reapply {
        /// `drifted` or `missing`.
        situation: Situation,
        /// The employee.
        employee_id: EmployeeId,
        /// The generation re-asserted.
        generation: u64,
        /// The account's user name, for the operator.
        user_name: String,
    },
    /// Suspend an orphan.
    Suspend {
        /// The app's id of the account.
        app_id: String,
        /// Its user name, for the operator.
        user_name: String,
        /// The leaver it belongs to, if linked.
        #[serde(skip_serializing_if = "Option::is_none")]
        employee_id: Option<EmployeeId>,
        /// The leaver's last generation, which the suspension re-asserts.
        #[serde(skip_serializing_if = "Option::is_none")]
        generation: Option<u64>,
    },
}

/// Why a finding gets no action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Why {
    /// The app's policy for the situation is to report.
    Policy,
    /// Orphans beyond the run's `max_per_run` suspensions.
    OverGuard,
    /// The listing failed midway: no action on orphans or missing accounts.
    PartialScan,
    /// Disputed: whose account it is, a person decides.
    NeedsAPerson,
}

/// A finding left as it is, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reported {
    /// The situation.
    pub situation: Situation,
    /// The account's user name.
    pub user_name: String,
    /// The app's id of the account, if there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    /// The employee, when linked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub employee_id: Option<EmployeeId>,
    /// Why no action.
    pub why: Why,
}

/// A run's actions and the findings it leaves to people; `linked` and
/// `ignored` findings appear in neither.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Re-applications in report order, then suspensions.
    pub actions: Vec<Action>,
    /// Everything else worth a look, in report order, then orphans.
    pub reported: Vec<Reported>,
}

impl Plan {
    fn report(&mut self, finding: &Finding, why: Why) {
        self.reported.push(Reported {
            situation: finding.situation,
            user_name: finding.user_name.clone(),
            app_id: finding.account.as_ref().map(|a| a.app_id.clone()),
            employee_id: finding.employee_id.clone(),
            why,
        });
    }

    fn correct(&mut self, finding: &Finding, correction: Correction, partial: bool) {
        match (correction, &finding.employee_id, finding.generation) {
            _ if partial => self.report(finding, Why::PartialScan),
            (Correction::Report, _, _) => self.report(finding, Why::Policy),
            (Correction::Reapply, Some(employee_id), Some(generation)) => {
                self.actions.push(Action::Reapply {
                    situation: finding.situation,
                    employee_id: employee_id.clone(),
                    generation,
                    user_name: finding.user_name.clone(),
                })
            }
            // `classify` gives every drifted and missing finding both; a
            // finding without them is not re-applied blindly.
            (Correction::Reapply, _, _) => self.report(finding, Why::NeedsAPerson),
        }
    }
}

/// The run's actions for `report` under `policy`. Orphans are suspended
/// leavers first (their owner is certain), then the others, each in report
/// order, up to the guard.
pub fn plan(report: &Report, policy: &Policy) -> Plan {
    let mut plan = Plan::default();
    let mut orphans = Vec::new();
    for finding in &report.findings {
        match finding.situation {
            Situation::Linked | Situation::Ignored => {}
            Situation::Disputed => plan.report(finding, Why::NeedsAPerson),
            Situation::Drifted => plan.correct(finding, policy.drifted, false),
            Situation::Missing => plan.correct(finding, policy.missing, report.partial),
            Situation::Orphan if report.partial => plan.report(finding, Why::PartialScan),
            Situation::Orphan => orphans.push(finding),
        }
    }
    let max = match policy.orphans {
        OrphanReaction::Report => {
            orphans.iter().for_each(|f| plan.report(f, Why::Policy));
            return plan;
        }
        OrphanReaction::Suspend { max_per_run } => max_per_run,
    };
    orphans.sort_by_key(|f| f.employee_id.is_none()); // stable: report order within
    for (n, finding) in orphans.into_iter().enumerate() {
        match &finding.account {
            Some(account) if n < max => plan.actions.push(Action::Suspend {
                app_id: account.app_id.clone(),
                user_name: finding.user_name.clone(),
                employee_id: finding.employee_id.clone(),
                generation: finding.generation,
            }),
            Some(_) => plan.report(finding, Why::OverGuard),
            // Every orphan is an account; nothing to suspend otherwise.
            None => plan.report(finding, Why::NeedsAPerson),
        }
    }
    plan
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
