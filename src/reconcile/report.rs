//! What reconciliation says about one app: a finding per account (and per
//! missing account) with its situation, and the counts. Serialised as is
//! for `--format json` and the findings topic, so its names are snake_case
//! and stable.

use serde::Serialize;

use super::{fold, AppAccount};
use crate::ids::EmployeeId;

/// What reconciliation concluded about an account or an employee; the
/// names are the contract's (CONTRACT §11), and their order is the report's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Situation {
    /// Active, and no entitled employee owns it (a leaver's, or nobody's).
    Orphan,
    /// Linked to an active employee, but not as the engine decided.
    Drifted,
    /// An employee who must have an account has none.
    Missing,
    /// Whose account this is, is unclear: left to a person.
    Disputed,
    /// On the app's ignore list: never touched.
    Ignored,
    /// Linked and as decided: nothing to do.
    Linked,
}

impl Situation {
    /// Every situation, in report order.
    pub const ALL: [Situation; 6] = [
        Situation::Orphan,
        Situation::Drifted,
        Situation::Missing,
        Situation::Disputed,
        Situation::Ignored,
        Situation::Linked,
    ];

    /// The contract's name (as serialised).
    pub fn as_str(self) -> &'static str {
        match self {
            Situation::Orphan => "orphan",
            Situation::Drifted => "drifted",
            Situation::Missing => "missing",
            Situation::Disputed => "disputed",
            Situation::Ignored => "ignored",
            Situation::Linked => "linked",
        }
    }
}

impl From<Situation> for crate::metrics::Situation {
    fn from(situation: Situation) -> Self {
        use crate::metrics::Situation as Label;
        match situation {
            Situation::Orphan => Label::Orphan,
            Situation::Drifted => Label::Drifted,
            Situation::Missing => Label::Missing,
            Situation::Disputed => Label::Disputed,
            Situation::Ignored => Label::Ignored,
            Situation::Linked => Label::Linked,
        }
    }
}

/// An account field reconciliation compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// The granted role.
    Role,
    /// Whether the account can sign in.
    Active,
    /// The login.
    UserName,
    /// The primary e-mail.
    Email,
    /// First name.
    GivenName,
    /// Last name.
    FamilyName,
    /// Display name.
    DisplayName,
}

impl Field {
    /// The serialised name.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Role => "role",
            Field::Active => "active",
            Field::UserName => "user_name",
            Field::Email => "email",
            Field::GivenName => "given_name",
            Field::FamilyName => "family_name",
            Field::DisplayName => "display_name",
        }
    }
}

/// One field of a drifted account: what the engine decided and what the
/// app holds (`None`: absent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// The field.
    pub field: Field,
    /// The decided value.
    pub want: Option<String>,
    /// The app's value.
    pub have: Option<String>,
}

/// One account's (or, for `missing`, one employee's) situation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The situation.
    pub situation: Situation,
    /// The account's user name; for `missing`, the one it should have.
    pub user_name: String,
    /// The employee the account links to (or who is missing one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub employee_id: Option<EmployeeId>,
    /// The account as the app holds it; none when `missing`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<AppAccount>,
    /// The generation of the employee's last command, which a correction
    /// re-asserts (`drifted`, `missing`, a leaver's `orphan`), so that a
    /// command applied after the listing wins over it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<u64>,
    /// What differs, for `drifted`, in [`Field`] order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub differences: Vec<Difference>,
    /// For an account whose name matches several employees (`disputed`,
    /// or `ignored`): them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<EmployeeId>,
    /// For `ignored`: the pattern it matched, as configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored_by: Option<String>,
}

impl Finding {
    /// The column names of [`Finding::describe`].
    pub const HEADER: [&'static str; 4] = ["SITUATION", "ACCOUNT", "EMPLOYEE", "DETAIL"];

    /// The finding as a table row (cells unescaped: `text::columns` does it).
    pub fn describe(&self) -> [String; 4] {
        let employee = match (&self.employee_id, self.candidates.as_slice()) {
            (Some(id), _) => id.to_string(),
            (None, []) => "-".to_string(),
            (None, candidates) => candidates
                .iter()
                .map(EmployeeId::as_str)
                .collect::<Vec<_>>()
                .join(","),
        };
        let detail = match self.situation {
            Situation::Orphan if self.employee_id.is_some() => {
                "leaver's account still active".to_string()
            }
            Situation::Orphan => "active, owned by no employee".to_string(),
            Situation::Drifted => self
                .differences
                .iter()
                .map(|d| {
                    let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".into());
                    format!(
                        "{}: want {}, have {}",
                        d.field.as_str(),
                        show(&d.want),
                        show(&d.have)
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
            Situation::Missing => "no account in the app".to_string(),
            Situation::Disputed if self.candidates.is_empty() => {
                "one of several accounts of this employee".to_string()
            }
            Situation::Disputed => {
                format!("name matches {} employees", self.candidates.len())
            }
            Situation::Ignored => format!(
                "matches ignore pattern {}",
                self.ignored_by.as_deref().unwrap_or("?")
            ),
            Situation::Linked => "in order".to_string(),
        };
        [
            self.situation.as_str().to_string(),
            self.user_name.clone(),
            employee,
            detail,
        ]
    }

    /// The report's order: situation, user name without case (then with
    /// it), then the app's id and the employee id, so that equal names
    /// still sort the same way every run.
    pub(super) fn sort_key(&self) -> impl Ord {
        (
            self.situation,
            fold(&self.user_name).into_owned(),
            self.user_name.clone(),
            self.account.as_ref().map(|a| a.app_id.clone()),
            self.employee_id.clone(),
        )
    }
}

/// How many accounts (or missing employees) are in each situation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Active accounts no entitled employee owns.
    pub orphan: usize,
    /// Linked accounts not as decided.
    pub drifted: usize,
    /// Employees without the account they must have.
    pub missing: usize,
    /// Accounts whose owner is unclear.
    pub disputed: usize,
    /// Accounts on the ignore list.
    pub ignored: usize,
    /// Linked accounts as decided.
    pub linked: usize,
    /// Inactive accounts owned by nobody: harmless, so only counted.
    pub unlinked_inactive: usize,
}

impl Counts {
    /// The count of one situation.
    pub fn of(&self, situation: Situation) -> usize {
        let mut counts = *self;
        *counts.slot(situation)
    }

    /// Every situation with its count, as `provisioner_reconcile_accounts`
    /// takes them (zeros included).
    pub fn per_situation(&self) -> Vec<(crate::metrics::Situation, u64)> {
        Situation::ALL
            .iter()
            .map(|&s| (s.into(), self.of(s) as u64))
            .collect()
    }

    fn slot(&mut self, situation: Situation) -> &mut usize {
        match situation {
            Situation::Orphan => &mut self.orphan,
            Situation::Drifted => &mut self.drifted,
            Situation::Missing => &mut self.missing,
            Situation::Disputed => &mut self.disputed,
            Situation::Ignored => &mut self.ignored,
            Situation::Linked => &mut self.linked,
        }
    }
}

/// One app's reconciliation: every finding, in report order, and the counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// One per account (but inactive ones owned by nobody) and one per
    /// missing employee.
    pub findings: Vec<Finding>,
    /// Per situation.
    pub counts: Counts,
    /// Set by the caller when the listing failed midway: the accounts are
    /// only some of the app's, so orphans and missing ones are not to be
    /// acted on ([`plan`](super::plan()) takes no such action).
    pub partial: bool,
}

impl Report {
    pub(super) fn push(&mut self, finding: Finding) {
        *self.counts.slot(finding.situation) += 1;
        self.findings.push(finding);
    }
}
