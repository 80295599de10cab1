//! Matching an app's accounts to employees, and the situation of each.
//!
//! **Matching.** An account links to the employee whose id is its
//! `external_id`; failing that, to the employee whose user name or e-mail
//! equals, without case, the account's user name or e-mail. An account whose
//! name matches several employees links to none of them: it is `disputed`,
//! with those employees as its candidates. Calling it an orphan would invite
//! suspending an account that most likely belongs to someone entitled, and
//! calling its candidates `missing` would invite creating a duplicate (the
//! most common complaint about provisioning products), so nobody acts on it.
//!
//! **Situations**, first match wins:
//! 1. `ignored`: the account matches the app's ignore list. Nothing else is
//!    said of it, and it is never touched; an employee it links to (or
//!    could) is not `missing`, since re-applying them would touch it.
//! 2. `disputed`: an account of several linking to one employee (every
//!    one of them), or one whose name matches several employees.
//! 3. An account linked to an employee who must be active: `drifted` when
//!    role, active flag, user name, e-mail or names differ, else `linked`.
//!    An account linked to an employee who must be deprovisioned: `orphan`
//!    while still active (a leaver), else `linked`.
//! 4. An account linked to nobody: `orphan` when active, else only counted
//!    (`unlinked_inactive`).
//! 5. An employee who must be active and whom no account claims: `missing`.
//!
//! **Compared fields.** Role and active flag always; user name and e-mail
//! without case; e-mail and names only where our account sets them (`None`
//! on our side is not managed). Names are compared only where the app
//! reports them too: an app without a field (Zendesk has one `name`, no
//! given or family name) would otherwise drift forever.

use super::matching::{distinct, Employees, Owner};
use super::{
    fold, AppAccount, DesiredAccount, Difference, Field, Finding, IgnoreList, Report, Situation,
};

/// The situation of every account of one app and of every employee who
/// should have one (see the module documentation). `desired` holds one
/// entry per employee (the engine keeps one state each; should an id come
/// twice, the higher generation counts); an account listed twice alike (a
/// page boundary moving under an offset listing) counts once, and one
/// listed twice with different contents is `disputed`. The result
/// does not depend on the order of either input.
pub fn classify(
    desired: &[DesiredAccount],
    accounts: &[AppAccount],
    ignore: &IgnoreList,
) -> Report {
    let employees = Employees::index(desired);
    let (accounts, conflicting) = distinct(accounts);
    let owners: Vec<Owner> = accounts.iter().map(|a| employees.owner(a)).collect();
    let ignored: Vec<Option<&str>> = accounts.iter().map(|a| ignore.matching(a)).collect();

    // Who is claimed by some account, and how many accounts that are not
    // ignored link to each employee.
    let mut claimed = vec![false; employees.list.len()];
    let mut links = vec![0usize; employees.list.len()];
    for (owner, ignored_by) in owners.iter().zip(&ignored) {
        match owner {
            Owner::One(e) => {
                claimed[*e] = true;
                links[*e] += usize::from(ignored_by.is_none());
            }
            Owner::Several(candidates) => candidates.iter().for_each(|&e| claimed[e] = true),
            Owner::Nobody => {}
        }
    }

    let mut report = Report::default();
    for ((account, owner), ignored_by) in accounts.iter().zip(&owners).zip(&ignored) {
        let mut finding = Finding {
            situation: Situation::Linked,
            user_name: account.user_name.clone(),
            employee_id: None,
            account: Some((*account).clone()),
            generation: None,
            differences: Vec::new(),
            candidates: Vec::new(),
            ignored_by: None,
        };
        match owner {
            Owner::One(e) => finding.employee_id = Some(employees.list[*e].employee_id.clone()),
            Owner::Several(candidates) => {
                finding.candidates = candidates
                    .iter()
                    .map(|&e| employees.list[e].employee_id.clone())
                    .collect()
            }
            Owner::Nobody => {}
        }
        match (owner, ignored_by) {
            (_, Some(pattern)) => {
                finding.situation = Situation::Ignored;
                finding.ignored_by = Some(pattern.to_string());
            }
            (_, None) if conflicting.contains(account.app_id.as_str()) => {
                finding.situation = Situation::Disputed;
            }
            (Owner::Several(_), None) => finding.situation = Situation::Disputed,
            (Owner::One(e), None) if links[*e] > 1 => finding.situation = Situation::Disputed,
            (Owner::One(e), None) => judge(employees.list[*e], account, &mut finding),
            (Owner::Nobody, None) if account.active => finding.situation = Situation::Orphan,
            (Owner::Nobody, None) => {
                report.counts.unlinked_inactive += 1;
                continue;
            }
        }
        report.push(finding);
    }
    for (desired, _) in employees
        .list
        .iter()
        .zip(&claimed)
        .filter(|(d, c)| d.role.is_some() && !**c)
    {
        report.push(Finding {
            situation: Situation::Missing,
            user_name: desired.account.user_name.clone(),
            employee_id: Some(desired.employee_id.clone()),
            account: None,
            generation: Some(desired.generation),
            differences: Vec::new(),
            candidates: Vec::new(),
            ignored_by: None,
        });
    }
    report.findings.sort_by_cached_key(Finding::sort_key);
    report
}

/// A linked account's situation, against what its one employee must have.
fn judge(desired: &DesiredAccount, account: &AppAccount, finding: &mut Finding) {
    match &desired.role {
        Some(role) => {
            finding.differences = differences(desired, role, account);
            if !finding.differences.is_empty() {
                finding.situation = Situation::Drifted;
                finding.generation = Some(desired.generation);
            }
        }
        None if account.active => {
            finding.situation = Situation::Orphan;
            finding.generation = Some(desired.generation);
        }
        None => {}
    }
}

/// The fields of an active employee's account that differ from the app's.
fn differences(desired: &DesiredAccount, role: &str, account: &AppAccount) -> Vec<Difference> {
    let want = &desired.account;
    let mut out = Vec::new();
    let mut differ = |field, want: Option<&str>, have: Option<&str>| {
        out.push(Difference {
            field,
            want: want.map(str::to_string),
            have: have.map(str::to_string),
        })
    };
    if account.role.as_deref() != Some(role) {
        differ(Field::Role, Some(role), account.role.as_deref());
    }
    if !account.active {
        differ(Field::Active, Some("true"), Some("false"));
    }
    if fold(&want.user_name) != fold(&account.user_name) {
        differ(
            Field::UserName,
            Some(&want.user_name),
            Some(&account.user_name),
        );
    }
    if let Some(email) = &want.email {
        if account.email.as_deref().map(fold) != Some(fold(email)) {
            differ(Field::Email, Some(email), account.email.as_deref());
        }
    }
    let names = [
        (Field::GivenName, &want.given_name, &account.given_name),
        (Field::FamilyName, &want.family_name, &account.family_name),
        (
            Field::DisplayName,
            &want.display_name,
            &account.display_name,
        ),
    ];
    for (field, want, have) in names {
        if let (Some(want), Some(have)) = (want, have) {
            if want != have {
                differ(field, Some(want), Some(have));
            }
        }
    }
    out
}
#[cfg(test)]
#[path = "classify_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "classify_props.rs"]
mod props;
