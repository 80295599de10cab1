//! The desired side of reconciliation (#13): each employee's account in
//! one app as the engine last decided it, read from the state changelog so
//! it works while the engine is down, like `held list`.

use std::collections::BTreeMap;

use super::state::{Desired, EmployeeState};
use super::{store, EngineError};
use crate::config::Config;
use crate::reconcile::DesiredAccount;

/// The account `state` holds in `app`, if the engine ever decided one.
///
/// A deprovision held by the guard is not decided yet: the state still shows
/// the account active, and so does this.
pub fn of_state(state: &EmployeeState, app: &str) -> Option<DesiredAccount> {
    let app_state = state.apps.get(app)?;
    let (role, account) = match &app_state.desired {
        Desired::Active { role, account } => (Some(role.to_string()), account),
        Desired::Deprovisioned { account } => (None, account),
    };
    Some(DesiredAccount {
        employee_id: state.employee_id.clone(),
        account: (**account).clone(),
        role,
        generation: app_state.generation,
        rules_version: state.rules_version.clone(),
    })
}

/// Every employee's account in each of `apps` (each present, maybe empty),
/// sorted by employee, from one read of `topics.state` to its end.
pub fn read_all(
    config: &Config,
    apps: &[String],
) -> Result<BTreeMap<String, Vec<DesiredAccount>>, EngineError> {
    let mut out: BTreeMap<String, Vec<DesiredAccount>> =
        apps.iter().map(|app| (app.clone(), Vec::new())).collect();
    store::each_state(
        config,
        |_| true,
        |state| {
            for (app, accounts) in out.iter_mut() {
                accounts.extend(of_state(&state, app));
            }
        },
    )?;
    for accounts in out.values_mut() {
        accounts.sort_by(|a, b| a.employee_id.cmp(&b.employee_id));
    }
    Ok(out)
}

/// Every employee's account in `app`, sorted by employee: [`read_all`] of
/// one app, what the connector's periodic reconciliation reads each run.
pub fn of_app(config: &Config, app: &str) -> Result<Vec<DesiredAccount>, EngineError> {
    let mut by_app = read_all(config, &[app.to_string()])?;
    Ok(by_app.remove(app).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::*;
    use crate::commands::Account;
    use crate::engine::state::AppState;

    fn account() -> Arc<Account> {
        Arc::new(Account {
            external_id: "E1".into(),
            user_name: "ada@acme.test".into(),
            email: Some("ada@acme.test".into()),
            given_name: None,
            family_name: None,
            display_name: None,
        })
    }

    #[test]
    fn an_active_account_has_its_role_and_a_deprovisioned_one_none() {
        let mut state = EmployeeState::new("E1");
        state.apps = BTreeMap::from([
            (
                "slack".into(),
                AppState {
                    generation: 3,
                    desired: Desired::Active {
                        role: "member".into(),
                        account: account(),
                    },
                },
            ),
            (
                "zendesk".into(),
                AppState {
                    generation: 2,
                    desired: Desired::Deprovisioned { account: account() },
                },
            ),
        ]);
        let slack = of_state(&state, "slack").unwrap();
        assert_eq!(
            (slack.role.as_deref(), slack.generation),
            (Some("member"), 3)
        );
        assert_eq!(slack.account.user_name, "ada@acme.test");
        let zendesk = of_state(&state, "zendesk").unwrap();
        assert_eq!((zendesk.role, zendesk.generation), (None, 2));
        assert_eq!(of_state(&state, "github"), None);
    }
}
