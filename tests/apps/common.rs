//! Commands and catalogue entries the tests share.

use std::path::Path;

use chrono::{DateTime, Utc};
use provisioner::commands::{Account, Action, Cause, Command};
use provisioner::config::{AppConfig, Config, LeaverPolicy};
use provisioner::connector::{Applied, ConnectorError, Outcome};

/// Ada's account, as the engine would send it.
pub fn account(external_id: &str, email: &str) -> Account {
    Account {
        external_id: external_id.into(),
        user_name: email.into(),
        email: Some(email.into()),
        given_name: Some("Ada".into()),
        family_name: Some("Lovelace".into()),
        display_name: Some("Ada Lovelace".into()),
    }
}

fn command(app: &str, account: Account, generation: u64, action: Action) -> Command {
    Command {
        command_id: Command::id_for(app, &account.external_id, generation),
        app: app.into(),
        employee_id: account.external_id.clone().into(),
        generation,
        action,
        deprovision: None,
        role: None,
        account: account.into(),
        cause: Cause {
            event_id: format!("evt-{generation}").into(),
            event_type: "hr.employee.hired".into(),
            rules: vec!["Dev Team".into()],
            rules_version: "sha256:test".into(),
            effective: None,
        },
        issued_at: DateTime::parse_from_rfc3339("2026-11-26T09:00:00.012Z")
            .unwrap()
            .with_timezone(&Utc),
    }
}

/// `upsert` of `account` with `role`.
pub fn upsert(app: &str, account: Account, generation: u64, role: &str) -> Command {
    let mut cmd = command(app, account, generation, Action::Upsert);
    cmd.role = Some(role.into());
    cmd
}

/// `deprovision` of `account` by `policy`.
pub fn deprovision(app: &str, account: Account, generation: u64, policy: LeaverPolicy) -> Command {
    let mut cmd = command(app, account, generation, Action::Deprovision);
    cmd.deprovision = Some(policy);
    cmd.cause.event_type = "hr.employee.left".into();
    cmd.cause.rules.clear();
    cmd
}

/// The catalogue entry of `[apps.<name>]` in `toml` (validated as in production).
pub fn app_config(name: &str, toml: &str) -> AppConfig {
    let config = Config::parse(Path::new("test.toml"), toml).expect("test catalogue");
    config
        .apps
        .get(name)
        .cloned()
        .expect("app in test catalogue")
}

/// An `Applied` result.
pub fn applied(id: &str) -> Result<Applied, ConnectorError> {
    Ok(Applied {
        outcome: Outcome::Applied,
        app_account_id: Some(id.into()),
    })
}

/// An `Unchanged` result.
pub fn unchanged(id: Option<&str>) -> Result<Applied, ConnectorError> {
    Ok(Applied {
        outcome: Outcome::Unchanged,
        app_account_id: id.map(String::from),
    })
}
