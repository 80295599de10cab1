//! The two sides reconciliation compares.

use serde::{Deserialize, Serialize};

use crate::commands::Account;
use crate::ids::{EmployeeId, RulesVersion};

/// One account as an app holds it, read through the app's listing API
/// (SCIM `GET /Users`, Zendesk's users list). Only what provisioning
/// manages is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppAccount {
    /// The app's own id of the account (SCIM `id`, Zendesk user id).
    pub app_id: String,
    /// The app's `externalId` (our employee id when we made it), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// The login (SCIM `userName`; Zendesk: the e-mail).
    pub user_name: String,
    /// The primary e-mail, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether the account can sign in (SCIM `active`; Zendesk: not suspended).
    pub active: bool,
    /// Our role name for the account's role (SCIM `roles` primary value;
    /// Zendesk mapped back through `role_map`), if it has one we know.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// First name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// Last name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// One employee's account in one app as the engine last decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredAccount {
    /// The employee.
    pub employee_id: EmployeeId,
    /// The account fields the last command set (or last knew).
    pub account: Account,
    /// The granted role when the account must be active; `None` when it
    /// must be deprovisioned (the employee left, or lost the app).
    pub role: Option<String>,
    /// The generation of the last command: a correction re-asserts it.
    pub generation: u64,
    /// The rules version that decision was made under, which a re-assert's
    /// cause repeats.
    pub rules_version: RulesVersion,
}
