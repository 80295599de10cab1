//! App error messages without personal data.
//!
//! An app's error often repeats what it was sent ("user Ada Lovelace
//! <ada@…> already exists"). Such messages reach logs, result records,
//! dead-letter headers and `/readyz`, so before they go anywhere the
//! command's own names and addresses are replaced by `***`, and any other
//! address by `***@***` ([`crate::pii::redact`]; a response body is also
//! masked where the message is built, in `http`, before it is cut).

use crate::commands::Command;
use crate::connector::ConnectorError;
use crate::pii;

/// An app's error without the command's personal data. Apps echo names and
/// addresses back ("user Ada Lovelace <ada@…> already exists"); e-mails are
/// masked where error messages are built and again here, names only the
/// command can tell (also when the excerpt cut one short).
pub fn scrub(cmd: &Command, error: ConnectorError) -> ConnectorError {
    let a = &cmd.account;
    let personal: Vec<&str> = [
        Some(a.user_name.as_str()).filter(|u| *u != a.external_id),
        a.email.as_deref(),
        a.display_name.as_deref(),
        a.given_name.as_deref(),
        a.family_name.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect();
    let clean = |message: String| pii::redact(&message, &personal);
    match error {
        ConnectorError::Transient {
            message,
            retry_after,
        } => ConnectorError::Transient {
            message: clean(message),
            retry_after,
        },
        ConnectorError::Permanent { message } => ConnectorError::Permanent {
            message: clean(message),
        },
        ConnectorError::Unavailable { message } => ConnectorError::Unavailable {
            message: clean(message),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_errors_lose_the_commands_names_and_addresses() {
        let cmd: Command = serde_json::from_value(serde_json::json!({
            "command_id": "wiki:E1:1", "app": "wiki", "employee_id": "E1", "generation": 1,
            "action": "upsert", "role": "reader",
            "account": {"external_id": "E1", "user_name": "ada@acme.test", "email": "ada@acme.test",
                        "given_name": "Ada", "family_name": "Lovelace", "display_name": "Ada Lovelace"},
            "cause": {"event_id": "e1", "event_type": "hr.employee.hired", "rules": [], "rules_version": "v"},
            "issued_at": "2026-11-26T09:00:00Z"
        }))
        .expect("command");
        let error = ConnectorError::Permanent {
            message: "HTTP 409: Ada Lovelace (ada@acme.test) exists; Lovelace, Ada; id E1".into(),
        };
        let ConnectorError::Permanent { message } = scrub(&cmd, error) else {
            panic!("kind kept");
        };
        assert_eq!(message, "HTTP 409: *** (***) exists; ***, ***; id E1");
    }
}
