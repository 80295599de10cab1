//! What the engine remembers about one employee.
//!
//! Just enough to decide the next event without looking anything up: the
//! merged snapshot, where in the employee's event order we are, and per app
//! the last desired account and its generation. [`codec`] turns it into the
//! compact bytes the `provisioning.state` changelog (and the in-memory store)
//! carry; the serde derives read the JSON of the first releases and write the
//! held commands.

pub mod codec;
mod wire;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::commands::{Account, Command};
use crate::events::{Fields, HrEvent, Key, Snapshot};
use crate::ids::{AppName, EmployeeId, RoleName, RulesVersion};

/// One employee's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmployeeState {
    /// The employee id (the record key).
    pub employee_id: EmployeeId,
    /// The snapshot with every applied event merged in. Shared with the hire
    /// it came from until a change is merged in (`Arc::make_mut`).
    pub snapshot: Arc<Snapshot>,
    /// False after `left`, until a new `hired`.
    pub employed: bool,
    /// `data.sequence` of the last applied event, if it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sequence: Option<i64>,
    /// `time` of the last applied event, if it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_time: Option<DateTime<Utc>>,
    /// Per app: the last desired state and its generation.
    #[serde(default)]
    pub apps: BTreeMap<AppName, AppState>,
    /// The rules version this state was last reconciled under; an employee
    /// whose version is not the current one is re-evaluated after a restore.
    #[serde(default)]
    pub rules_version: RulesVersion,
    /// Deprovisions held by the mass-deprovision guard, per app, waiting for
    /// an operator to release or discard them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub held: BTreeMap<AppName, Held>,
    /// When access ended for good, outside the dates: an immediate leave, a
    /// leave with no end date, or a rescinded hire. Nothing is granted after
    /// it until a new `hired` (CONTRACT §3, "Dates"). (A leave that ended on
    /// its end date needs no mark: that date is kept as it was once passed.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<DateTime<Utc>>,
    /// The next instant at which one of the employee's app windows opens or
    /// closes: the durable timer the engine fires (see `engine::timers`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<DateTime<Utc>>,
}

/// A deprovision the guard held instead of emitting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    /// The hold it belongs to (one per guarded batch or rules change).
    pub hold_id: String,
    /// When it was held.
    pub held_at: DateTime<Utc>,
    /// The command to emit on release. Its generation is not consumed until
    /// then: `apps` still shows the state before it.
    pub command: Command,
}

/// The last command's view of one app account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppState {
    /// Generation of the last command; the next one is `generation + 1`.
    pub generation: u64,
    /// What the last command asked for.
    pub desired: Desired,
}

/// The desired state of one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Desired {
    /// Exists, active, with this role.
    Active {
        /// The role.
        role: RoleName,
        /// The account fields (one `Arc` for all of an employee's apps).
        account: Arc<Account>,
    },
    /// Suspended or deleted; the account is kept so a later command can find it.
    Deprovisioned {
        /// The last known account.
        account: Arc<Account>,
    },
}

impl EmployeeState {
    /// A state for an employee we have never seen.
    pub fn new(employee_id: impl Into<EmployeeId>) -> EmployeeState {
        EmployeeState {
            employee_id: employee_id.into(),
            snapshot: Arc::default(),
            employed: false,
            last_sequence: None,
            last_time: None,
            apps: BTreeMap::new(),
            rules_version: RulesVersion::default(),
            held: BTreeMap::new(),
            ended: None,
            due: None,
        }
    }

    /// Whether `event` is not newer than the last event applied (CONTRACT §3):
    /// compare `sequence` when both have one, else `time` when both have one;
    /// when neither can be compared the event is taken as newer.
    pub fn is_stale(&self, event: &HrEvent) -> bool {
        match (event.sequence, self.last_sequence) {
            (Some(new), Some(last)) => new <= last,
            _ => match (event.time, self.last_time) {
                (Some(new), Some(last)) => new <= last,
                _ => false,
            },
        }
    }

    /// The account an app should see, derived from the snapshot; one `Arc`
    /// for every app that gets it.
    pub fn account(&self) -> Arc<Account> {
        account_of(&self.employee_id, &Fields::of(&self.snapshot))
    }

    /// The apps in which this employee holds an active account.
    pub fn active_apps(&self) -> impl Iterator<Item = (&AppName, &AppState)> {
        self.apps
            .iter()
            .filter(|(_, s)| matches!(s.desired, Desired::Active { .. }))
    }
}

/// [`EmployeeState::account`] from the snapshot's fields already looked up.
pub(crate) fn account_of(employee_id: &EmployeeId, fields: &Fields<'_>) -> Arc<Account> {
    let text = |key: Key| fields.text(key).map(str::trim).filter(|s| !s.is_empty());
    let email = text(Key::EMAIL);
    let given_name = text(Key::FIRST_NAME);
    let family_name = text(Key::LAST_NAME);
    let display_name = match (given_name, family_name) {
        (Some(g), Some(f)) => {
            let mut name = String::with_capacity(g.len() + 1 + f.len());
            name.push_str(g);
            name.push(' ');
            name.push_str(f);
            Some(name)
        }
        (Some(n), None) | (None, Some(n)) => Some(n.to_string()),
        (None, None) => None,
    };
    Arc::new(Account {
        external_id: employee_id.to_string(),
        user_name: email.unwrap_or(employee_id).to_string(),
        email: email.map(str::to_string),
        given_name: given_name.map(str::to_string),
        family_name: family_name.map(str::to_string),
        display_name,
    })
}
