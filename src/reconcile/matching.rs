//! Linking an app's accounts to employees: by `external_id`, else by user
//! name or e-mail without case (see [`classify`](super::classify())).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use super::{fold, AppAccount, DesiredAccount};

/// Whom an account links to.
pub(super) enum Owner {
    Nobody,
    /// An index into [`Employees::list`].
    One(usize),
    /// Several employees by name: indices, ascending.
    Several(Vec<usize>),
}

/// The desired side, indexed for matching.
pub(super) struct Employees<'a> {
    /// One per employee, by id.
    pub(super) list: Vec<&'a DesiredAccount>,
    by_id: HashMap<&'a str, usize>,
    /// Folded user names and e-mails: the employees holding each.
    by_name: HashMap<Cow<'a, str>, Vec<usize>>,
}

impl<'a> Employees<'a> {
    pub(super) fn index(desired: &'a [DesiredAccount]) -> Self {
        let mut newest: HashMap<&str, &DesiredAccount> = HashMap::with_capacity(desired.len());
        for d in desired {
            let slot = newest.entry(d.employee_id.as_str()).or_insert(d);
            if d.generation > slot.generation {
                *slot = d;
            }
        }
        let mut list: Vec<&DesiredAccount> = newest.into_values().collect();
        list.sort_by(|a, b| a.employee_id.cmp(&b.employee_id));
        let mut by_id = HashMap::with_capacity(list.len());
        let mut by_name: HashMap<Cow<str>, Vec<usize>> = HashMap::with_capacity(2 * list.len());
        for (i, d) in list.iter().enumerate() {
            by_id.insert(d.employee_id.as_str(), i);
            for name in names(&d.account.user_name, d.account.email.as_deref()) {
                let holders = by_name.entry(name).or_default();
                if holders.last() != Some(&i) {
                    holders.push(i);
                }
            }
        }
        Employees {
            list,
            by_id,
            by_name,
        }
    }

    pub(super) fn owner(&self, account: &AppAccount) -> Owner {
        if let Some(&e) = account
            .external_id
            .as_deref()
            .and_then(|id| self.by_id.get(id))
        {
            return Owner::One(e);
        }
        let mut found: Vec<usize> = names(&account.user_name, account.email.as_deref())
            .filter_map(|name| self.by_name.get(&name))
            .flatten()
            .copied()
            .collect();
        found.sort_unstable();
        found.dedup();
        match found.as_slice() {
            [] => Owner::Nobody,
            [one] => Owner::One(*one),
            _ => Owner::Several(found),
        }
    }
}

/// The folded, non-empty user name and e-mail a match is made on.
fn names<'a>(user_name: &'a str, email: Option<&'a str>) -> impl Iterator<Item = Cow<'a, str>> {
    std::iter::once(user_name)
        .chain(email)
        .filter(|name| !name.is_empty())
        .map(fold)
}

/// The accounts with exact repeats left out, and the app ids listed twice
/// with different contents (the account changed between two pages): both
/// copies stay, and are `disputed`, since which one is true is unknown.
pub(super) fn distinct(accounts: &[AppAccount]) -> (Vec<&AppAccount>, HashSet<&str>) {
    let mut sorted: Vec<&AppAccount> = accounts.iter().collect();
    sorted.sort_by(|a, b| a.app_id.cmp(&b.app_id));
    let mut out: Vec<&AppAccount> = Vec::with_capacity(sorted.len());
    let mut conflicting = HashSet::new();
    let mut same_id_from = 0;
    for account in sorted {
        if out
            .get(same_id_from)
            .is_some_and(|first| first.app_id != account.app_id)
        {
            same_id_from = out.len();
        }
        if !out[same_id_from..].contains(&account) {
            if out.len() > same_id_from {
                conflicting.insert(account.app_id.as_str());
            }
            out.push(account);
        }
    }
    (out, conflicting)
}
