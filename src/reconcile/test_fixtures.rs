//! Employees and accounts for the reconciliation tests.

use super::{AppAccount, DesiredAccount};
use crate::commands::Account;

/// An employee who must have `role` (or be deprovisioned: `None`), with
/// user name and e-mail `<id>@acme.test` and names "Ada Lovelace".
pub fn employee(id: &str, role: Option<&str>) -> DesiredAccount {
    let email = format!("{}@acme.test", id.to_lowercase());
    DesiredAccount {
        employee_id: id.into(),
        account: Account {
            external_id: id.into(),
            user_name: email.clone(),
            email: Some(email),
            given_name: Some("Ada".into()),
            family_name: Some("Lovelace".into()),
            display_name: Some("Ada Lovelace".into()),
        },
        role: role.map(str::to_string),
        generation: 7,
        rules_version: "sha256:0".into(),
    }
}

/// The account the app holds when it is exactly as `desired` says.
pub fn account_of(app_id: &str, desired: &DesiredAccount) -> AppAccount {
    AppAccount {
        app_id: app_id.into(),
        external_id: Some(desired.employee_id.to_string()),
        user_name: desired.account.user_name.clone(),
        email: desired.account.email.clone(),
        active: desired.role.is_some(),
        role: desired.role.clone(),
        given_name: desired.account.given_name.clone(),
        family_name: desired.account.family_name.clone(),
        display_name: desired.account.display_name.clone(),
    }
}

/// An account nobody made: no external id, no names.
pub fn stray(app_id: &str, user_name: &str, active: bool) -> AppAccount {
    AppAccount {
        app_id: app_id.into(),
        external_id: None,
        user_name: user_name.into(),
        email: None,
        active,
        role: None,
        given_name: None,
        family_name: None,
        display_name: None,
    }
}
